"""Space group, Wyckoff positions and their free coordinates with spglib.

``analyze_symmetry`` finds the space group of a structure within a distance tolerance
``symprec`` (A), standardises the cell (spglib's conventional, idealised cell in the default
setting of the group's Hall number) and describes every Wyckoff orbit:

- letter, multiplicity (conventional cell), site-symmetry symbol (from spglib);
- free coordinates: the site-symmetry operations (R, t) of an orbit member p fix the affine
  subspace {x : (R - I) x = (R - I) p}; its dimension is the number of free parameters.  The
  representative is the orbit member (or lattice translate) whose subspace passes closest to
  the origin, its free coordinates are named after the pivot columns of the subspace basis in
  reduced row-echelon form (x, y, z), and their values are taken in [-1/2, 1/2) choosing among
  the orbit members on the same subspace the one of smallest magnitude.  For 16c of I-43d this
  gives (x, x, x) with x of the ITA representative up to the origin/enantiomorph choices of the
  standard setting (x and -x describe the same structure).

Free coordinates are least-squares estimates from *all* input atoms of the orbit: each atom is
brought onto the representative by its closest space-group image (in the standardised setting,
x_std = P x + p from spglib's transformation), the displacements are averaged and projected on
the free subspace.  For a noisy (thermal, averaged or quenched) configuration the statistical
error of x is then ~ sigma / (a sqrt(3 n_atoms)) rather than that of a single atom; the rms
deviation of the atoms from the symmetric sites is reported too.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["WyckoffOrbit", "SymmetryResult", "analyze_symmetry", "average_structure"]

# the 27 lattice translations with components in {-1, 0, 1} (fractional)
_NEIGHBOUR_SHIFTS = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T


@dataclasses.dataclass
class WyckoffOrbit:
    species: str
    letter: str
    multiplicity: int
    site_symmetry: str
    representative: np.ndarray         # fractional, standardised cell
    free_coordinates: dict             # name -> value (fractional)
    input_atoms: list                  # indices of the input atoms in this orbit
    rms_deviation: float = 0.0         # rms distance (A) of the input atoms from the ideal sites

    @property
    def label(self) -> str:
        return f"{self.multiplicity}{self.letter}"

    def as_dict(self) -> dict:
        return {"species": self.species, "wyckoff": self.label, "site_symmetry": self.site_symmetry,
                "representative": [float(v) for v in self.representative],
                "free_coordinates": {k: float(v) for k, v in self.free_coordinates.items()},
                "n_input_atoms": len(self.input_atoms),
                "rms_deviation_A": self.rms_deviation}


@dataclasses.dataclass
class SymmetryResult:
    number: int
    international: str
    hall_number: int
    pointgroup: str
    symprec: float
    orbits: list
    std_lattice: np.ndarray
    std_positions: np.ndarray
    std_species: list
    n_input_atoms: int

    def as_dict(self) -> dict:
        return {"space_group_number": self.number, "international": self.international,
                "hall_number": self.hall_number, "pointgroup": self.pointgroup,
                "symprec_A": self.symprec, "n_input_atoms": self.n_input_atoms,
                "wyckoff_orbits": [o.as_dict() for o in self.orbits],
                "standardized_cell": {"lattice_A": self.std_lattice.tolist(),
                                      "fractional_positions": self.std_positions.tolist(),
                                      "species": list(self.std_species)}}

    def summary(self, max_orbits: int = 30) -> str:
        lines = [f"space group {self.international} (No. {self.number}), point group "
                 f"{self.pointgroup}, symprec {self.symprec:g} A"]
        a = self.std_lattice
        lengths = np.linalg.norm(a, axis=1)
        lines.append("standardised cell: a, b, c = "
                     + ", ".join(f"{x:.5f}" for x in lengths) + " A")
        for o in self.orbits[:max_orbits]:
            free = (", ".join(f"{k} = {v:.5f}" for k, v in o.free_coordinates.items())
                    or "no free parameters")
            rep = ", ".join(f"{v:.5f}" for v in o.representative)
            lines.append(f"  {o.species:>3s} {o.label:>4s} ({o.site_symmetry}) at ({rep}): {free}"
                         f"  [rms deviation {o.rms_deviation:.3g} A]")
        if len(self.orbits) > max_orbits:
            lines.append(f"  ... {len(self.orbits) - max_orbits} more orbits (see the JSON output)")
        return "\n".join(lines)

    def standardized_atoms(self):
        import ase

        return ase.Atoms(symbols=self.std_species, scaled_positions=self.std_positions,
                         cell=self.std_lattice, pbc=True)


def average_structure(traj, frames=None):
    """ase.Atoms at the time-averaged (unwrapped) positions and mean cell of ``frames``.

    Meaningful for solids whose atoms stay on their sites (check the reordered MSD first).
    """
    import ase

    from qfe.analysis.msd import unwrap

    fidx = np.arange(traj.n_frames)[frames if frames is not None else slice(None)]
    pos = unwrap(traj)[fidx]
    cell = traj.cells[fidx].mean(axis=0)
    frac = np.linalg.solve(traj.cells[fidx].transpose(0, 2, 1),
                           (pos - traj.origins[fidx][:, None, :]).transpose(0, 2, 1)
                           ).transpose(0, 2, 1)
    mean_frac = frac.mean(axis=0)
    species = traj.species()
    kw = {"symbols": list(species)} if traj.symbols is not None else {"numbers": traj.types}
    atoms = ase.Atoms(scaled_positions=mean_frac - np.floor(mean_frac), cell=cell, pbc=traj.pbc,
                      **kw)
    return atoms


def _spglib_cell(structure):
    import ase

    if isinstance(structure, ase.Atoms):
        lattice = np.array(structure.cell[:])
        frac = structure.get_scaled_positions(wrap=True)
        labels = structure.get_chemical_symbols()
    else:
        lattice, frac, labels = structure
        lattice, frac = np.asarray(lattice, float), np.asarray(frac, float)
        labels = [str(x) for x in labels]
    if len(frac) == 0:
        raise ValueError("structure has no atoms")
    kinds = sorted(set(labels))
    numbers = np.array([kinds.index(x) + 1 for x in labels])
    return lattice, frac, numbers, kinds


def _site_ops(p, rotations, translations, tol):
    ops = []
    for r, t in zip(rotations, translations):
        d = r @ p + t - p
        if np.all(np.abs(d - np.round(d)) < tol):
            ops.append(r)
    return ops


def _free_basis(ops):
    """Orthonormal-free basis (3, k) of the directions fixed by all site operations, in RREF
    form (pivot entries 1), and the pivot indices."""
    a = np.vstack([r - np.eye(3) for r in ops]) if ops else np.zeros((1, 3))
    _, s, vt = np.linalg.svd(a)
    rank = int(np.sum(s > 1e-8))
    null = vt[rank:]                     # (k, 3)
    if len(null) == 0:
        return np.zeros((3, 0)), []
    # reduced row echelon form of the k x 3 basis
    m = null.copy()
    pivots, row = [], 0
    for col in range(3):
        if row >= len(m):
            break
        piv = row + int(np.argmax(np.abs(m[row:, col])))
        if abs(m[piv, col]) < 1e-8:
            continue
        m[[row, piv]] = m[[piv, row]]
        m[row] /= m[row, col]
        for r in range(len(m)):
            if r != row:
                m[r] -= m[r, col] * m[row]
        pivots.append(col)
        row += 1
    m[np.abs(m) < 1e-10] = 0.0
    return m.T, pivots


def analyze_symmetry(structure, symprec: float = 1e-3,
                     angle_tolerance: float = -1.0) -> SymmetryResult:
    """Space group and Wyckoff orbits of ``structure`` (ase.Atoms, or (lattice, fractional
    positions, species labels)) within ``symprec`` (A)."""
    import spglib

    if not symprec > 0:
        raise ValueError(f"symprec must be > 0 A, got {symprec}")
    lattice, frac, numbers, kinds = _spglib_cell(structure)
    with warnings.catch_warnings():
        # spglib 2.x warns about its legacy error handling on every call; errors are handled here
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            ds = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec,
                                             angle_tolerance=angle_tolerance)
        except Exception as exc:           # raised when spglib's new error handling is on
            raise ValueError(f"spglib failed to find the symmetry (symprec={symprec}): "
                             f"{exc}") from None
        if ds is None:
            raise ValueError(f"spglib failed to find the symmetry (symprec={symprec}): "
                             f"{spglib.get_error_message()}")
        ops = spglib.get_symmetry_from_database(ds.hall_number)
    rots, trans = ops["rotations"], ops["translations"]
    std_pos = np.asarray(ds.std_positions) % 1.0
    std_pos[np.abs(std_pos - 1.0) < 1e-12] = 0.0
    std_types = np.asarray(ds.std_types)
    tol = 1e-5
    std_lattice = np.asarray(ds.std_lattice)
    # input atoms in the standardised setting: x_std = P x + p (mod 1)
    xs_input = frac @ np.asarray(ds.transformation_matrix).T + np.asarray(ds.origin_shift)
    # which input orbit each standardised atom belongs to
    prim_to_input = {}
    for i, p in enumerate(ds.mapping_to_primitive):
        prim_to_input.setdefault(int(p), i)
    orbit_of_std = np.array([ds.crystallographic_orbits[prim_to_input[int(p)]]
                             for p in ds.std_mapping_to_primitive])
    orbits = []
    for rep_input in dict.fromkeys(ds.crystallographic_orbits.tolist()):
        members = np.flatnonzero(orbit_of_std == rep_input)
        best = None
        for m in members:
            p = std_pos[m]
            basis, pivots = _free_basis(_site_ops(p, rots, trans, tol))
            proj = basis @ np.linalg.pinv(basis) if basis.shape[1] else np.zeros((3, 3))
            for shift in _NEIGHBOUR_SHIFTS:
                q = p + shift
                resid = float(np.linalg.norm(q - proj @ q))
                key = (round(resid, 6), -int(np.sum(basis > 0)), int(np.sum(q < -1e-9)),
                       round(float(np.abs(q).sum()), 6))
                if best is None or key < best[0]:
                    best = (key, q, basis, pivots)
        _, q, basis, pivots = best
        free = {}
        if pivots:
            # orbit members lying on the same affine subspace: choose the smallest free values
            on_line = []
            proj = basis @ np.linalg.pinv(basis)
            anchor = q - proj @ q
            for m in members:
                for shift in _NEIGHBOUR_SHIFTS:
                    r = std_pos[m] + shift
                    if np.linalg.norm((r - anchor) - proj @ (r - anchor)) < 1e-6:
                        on_line.append(r)
            vals = np.array([[r[k] for k in pivots] for r in on_line])
            vals = (vals + 0.5) % 1.0 - 0.5
            pick = int(np.argmin(np.abs(vals).sum(axis=1) + 1e-9 * (vals < 0).sum(axis=1)))
            coeff = vals[pick]
            q = anchor + basis @ coeff - basis @ np.array([anchor[k] for k in pivots])
        input_atoms = np.flatnonzero(ds.crystallographic_orbits == rep_input).tolist()
        # least-squares estimate from all input atoms of the orbit: map each onto the
        # representative with the closest space-group image, average, keep the allowed part
        disp = []
        for i in input_atoms:
            cand = xs_input[i] @ rots.transpose(0, 2, 1) + trans - q        # (n_ops, 3)
            cand -= np.round(cand)
            dist = np.linalg.norm(cand @ std_lattice, axis=1)
            disp.append(cand[int(np.argmin(dist))])
        disp = np.array(disp)
        proj = basis @ np.linalg.pinv(basis) if basis.shape[1] else np.zeros((3, 3))
        mean_shift = proj @ disp.mean(axis=0)
        q = q + mean_shift
        resid = (disp - mean_shift) @ std_lattice
        rms = float(np.sqrt(np.mean(np.sum(resid ** 2, axis=1))))
        free = {"xyz"[k]: float(q[k]) for k in pivots}
        orbits.append(WyckoffOrbit(species=kinds[numbers[rep_input] - 1],
                                   letter=ds.wyckoffs[rep_input],
                                   multiplicity=int(len(members)),
                                   site_symmetry=ds.site_symmetry_symbols[rep_input],
                                   representative=np.where(np.abs(q) < 1e-12, 0.0, q),
                                   free_coordinates=free, input_atoms=input_atoms,
                                   rms_deviation=rms))
    orbits.sort(key=lambda o: (o.species, o.letter))
    return SymmetryResult(number=int(ds.number), international=str(ds.international),
                          hall_number=int(ds.hall_number), pointgroup=str(ds.pointgroup),
                          symprec=float(symprec), orbits=orbits,
                          std_lattice=np.asarray(ds.std_lattice), std_positions=std_pos,
                          std_species=[kinds[t - 1] for t in std_types],
                          n_input_atoms=len(frac))
