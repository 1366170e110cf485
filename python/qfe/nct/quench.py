"""Structures from a trained NCT density matrix: quenched samples and the mean structure, with
their symmetry (issue 17, item 4).

- :func:`quench` -- local minimum of a :class:`qfe.potentials.Potential` at fixed cell from
  given positions (scipy L-BFGS on the JAX energy and forces; stops at max |F| <= fmax).
- :func:`nct_samples` -- Cartesian configurations drawn exactly from |Psi_n|^2 of a trained
  state (ase.Atoms).
- :func:`quench_samples` -- draws samples, quenches each and analyses its symmetry with
  spglib (:func:`qfe.analysis.symmetry.analyze_symmetry`): which local minima the quantum
  crystal visits.
- :func:`mean_structure` -- the quantum mean positions <x> over samples (the structure a
  diffraction experiment refines), with its symmetry; for cI16 its Wyckoff x(16c) is the
  quantum x to compare with the static-lattice x of :func:`quench` from the ideal sites.

Units: A, eV, eV/A.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import qfe._jax


def quench(potential, positions, cell=None, fmax: float = 1e-3, max_steps: int = 2000):
    """Relax ``positions`` (N, 3) A to a local minimum at fixed ``cell`` (default: the
    potential's).  Returns (positions (N, 3), energy eV, largest force eV/A)."""
    import jax
    import jax.numpy as jnp
    from scipy.optimize import minimize

    if not fmax > 0:
        raise ValueError(f"fmax must be > 0 eV/A, got {fmax}")
    x0 = np.asarray(positions, dtype=float)
    n = x0.shape[0]
    if x0.shape != (n, 3):
        raise ValueError(f"positions must have shape (N, 3), got {x0.shape}")
    c = None if cell is None else jnp.asarray(cell)
    state = {}

    def build():
        state["f"] = jax.jit(jax.value_and_grad(lambda x: potential.energy(x.reshape(n, 3), c)))

    build()

    def fun(flat):
        if potential.prepare(flat.reshape(n, 3), None if cell is None else np.asarray(cell)):
            build()
        e, g = state["f"](jnp.asarray(flat))
        return float(e), np.asarray(g, dtype=float)

    # L-BFGS stops on the projected gradient's max component; fmax is on |F| per atom, so
    # ask for fmax / sqrt(3) per component and check afterwards
    res = minimize(fun, x0.reshape(-1), jac=True, method="L-BFGS-B",
                   options={"maxiter": int(max_steps), "gtol": fmax / np.sqrt(3.0),
                            "ftol": 0.0, "maxcor": 30})
    x = res.x.reshape(n, 3)
    e, g = fun(res.x)
    largest = float(np.max(np.linalg.norm(g.reshape(n, 3), axis=-1)))
    return x, e, largest


def _atoms(system, x):
    import ase

    return ase.Atoms(symbols=system.symbols, positions=np.asarray(x).reshape(-1, 3),
                     cell=system.cell, pbc=True)


def _sample_positions(trainer, state, n_samples: int, key) -> np.ndarray:
    """Cartesian positions (n_samples, d) drawn exactly from the trained density matrix."""
    import jax

    system = trainer.system
    out = []
    sampler_state = state.sampler_state
    while sum(len(x) for x in out) < n_samples:
        key, k = jax.random.split(key)
        batch, sampler_state, _ = trainer._sample(k, state.params, sampler_state)
        out.append(np.asarray(system.positions(np.asarray(batch["q"]))))
    return np.concatenate(out)[:n_samples]


def nct_samples(trainer, state, n_samples: int, key=None) -> list:
    """``n_samples`` configurations (ase.Atoms) drawn from the trained density matrix."""
    import jax

    system = trainer.system
    if system.cell is None or system.symbols is None:
        raise ValueError("nct_samples needs a crystal system (cell and symbols)")
    key = jax.random.fold_in(state.key, 31337) if key is None else key
    return [_atoms(system, x) for x in _sample_positions(trainer, state, n_samples, key)]


@dataclass
class QuenchResult:
    """Quenched NCT samples: energies (eV/atom), space groups and free Wyckoff coordinates."""

    energies: list                       # eV/atom per quenched sample
    max_forces: list                     # eV/A left after the quench
    space_groups: list                   # international symbols per sample
    free_coordinates: list               # per sample: {"Li 16c x": value, ...}
    structures: list = field(default_factory=list)     # ase.Atoms per sample

    def counts(self) -> dict:
        out: dict = {}
        for sg in self.space_groups:
            out[sg] = out.get(sg, 0) + 1
        return out

    def summary(self) -> str:
        lines = [f"{len(self.energies)} quenched NCT samples: "
                 + ", ".join(f"{sg} x {k}" for sg, k in self.counts().items())]
        for i, (e, sg, fc) in enumerate(zip(self.energies, self.space_groups,
                                            self.free_coordinates)):
            coords = ", ".join(f"{k} = {v:.5f}" for k, v in fc.items())
            lines.append(f"  {i:3d}  E = {1e3 * e:12.4f} meV/atom  {sg:<10} {coords}")
        return "\n".join(lines)


def _free_coordinates(sym) -> dict:
    out = {}
    for orbit in sym.orbits:
        for name, value in orbit.free_coordinates.items():
            out[f"{orbit.species} {orbit.multiplicity}{orbit.letter} {name}"] = float(value)
    return out


def quench_samples(trainer, state, potential, n_samples: int = 8, fmax: float = 1e-3,
                   symprec: float = 1e-3, key=None) -> QuenchResult:
    """Draw ``n_samples`` configurations from the trained state, quench each to its local
    minimum at the system's cell and find its symmetry within ``symprec`` (A)."""
    from qfe.analysis.symmetry import analyze_symmetry

    energies, forces, groups, coords, structures = [], [], [], [], []
    for atoms in nct_samples(trainer, state, n_samples, key):
        x, e, f = quench(potential, atoms.get_positions(), atoms.get_cell()[:], fmax=fmax)
        q = atoms.copy()
        q.set_positions(x)
        sym = analyze_symmetry(q, symprec=symprec)
        energies.append(e / len(q))
        forces.append(f)
        groups.append(sym.international)
        coords.append(_free_coordinates(sym))
        structures.append(q)
    return QuenchResult(energies, forces, groups, coords, structures)


def mean_structure(trainer, state, n_batches: int = 4, key=None):
    """ase.Atoms at the quantum mean positions <x> over ``n_batches`` exact-sample batches,
    and the standard error of each coordinate (N, 3) A."""
    import jax

    key = jax.random.fold_in(state.key, 4241) if key is None else key
    xs = _sample_positions(trainer, state, int(n_batches) * trainer.config.batch_size, key)
    err = xs.std(axis=0, ddof=1) / np.sqrt(xs.shape[0])
    return _atoms(trainer.system, xs.mean(axis=0)), err.reshape(-1, 3)
