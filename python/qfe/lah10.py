"""LaH10 structures: the Fm-3m clathrate and homogeneously strained variants.

Fm-3m LaH10 (conventional cubic cell, 4 La + 40 H, lattice parameter ``a`` in A):

- La at Wyckoff 4b (1/2, 1/2, 1/2): an fcc La sublattice;
- H at 8c (1/4, 1/4, 1/4): the tetrahedral holes of the La fcc lattice;
- H at 32f (x, x, x), x ~ 0.12: eight H at (+-x, +-x, +-x) around each 4a site (the octahedral
  holes of the La lattice) form small H8 cubes of edge 2 x a.

Each La sits in an H32 cage (a chamfered cube: 6 quadrilaterals, 12 hexagons).  The 6
quadrilaterals are the faces of the 6 H8 cubes around the La that point towards it; the 8
remaining cage atoms are the 8c H.  With La at 4b the distances are

    H-H (cube edge)          2 x a
    H(8c)-H(32f)             sqrt(3) (1/4 - x) a
    La-H(32f)                a sqrt(2 x^2 + (1/2 - x)^2)
    La-H(8c)                 sqrt(3) a / 4

(:func:`lah10_distances`).  Putting La at 4a instead describes the same crystal with
32f x' = 1/2 - x (shift of the origin by (1/2, 1/2, 1/2)).
"""

from __future__ import annotations

import numpy as np

__all__ = ["lah10_fm3m", "lah10_distances", "strained"]


def lah10_fm3m(a: float = 5.10, x: float = 0.12, supercell=(1, 1, 1), primitive: bool = False):
    """``ase.Atoms`` of Fm-3m LaH10: conventional cell of edge ``a`` (A), 32f coordinate ``x``
    (La at 4b, see the module doc), repeated ``supercell`` times; La first, then H.
    ``primitive=True``: the 11-atom primitive cell (vectors a/2 (0,1,1), (1,0,1), (1,1,0)).

    Raises ValueError for a non-positive ``a`` or an ``x`` outside (0, 1/4) (at x = 1/4 the
    32f atoms merge with the 8c atoms; x >= 1/4 is not the clathrate)."""
    from ase import Atoms

    if not a > 0:
        raise ValueError(f"lattice parameter a must be > 0 A, got {a!r}")
    if not 0.0 < x < 0.25:
        raise ValueError(f"32f coordinate x must lie in (0, 0.25), got {x!r}")
    signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)])
    if primitive:
        cell = 0.5 * a * (1 - np.eye(3))
        xyz = a * np.vstack([[0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75],
                             x * signs])
        prim = Atoms(["La"] + ["H"] * 10, positions=xyz, cell=cell, pbc=True)
        prim.wrap()
        return prim.repeat(tuple(int(n) for n in supercell))
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    la = fcc + 0.5
    h8c = np.array([[0.25, 0.25, 0.25], [0.75, 0.75, 0.75], [0.25, 0.75, 0.75],
                    [0.75, 0.25, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.25],
                    [0.75, 0.75, 0.25], [0.25, 0.25, 0.75]])
    h32f = (fcc[:, None, :] + x * signs[None, :, :]).reshape(-1, 3)
    frac = np.mod(np.vstack([la, h8c, h32f]), 1.0)
    atoms = Atoms(["La"] * 4 + ["H"] * 40, scaled_positions=frac, cell=np.eye(3) * a, pbc=True)
    return atoms.repeat(tuple(int(n) for n in supercell))


def lah10_distances(a: float, x: float) -> dict:
    """Nearest-neighbour distances (A) of ideal Fm-3m LaH10 (La at 4b, 32f at (x, x, x))."""
    return {"H-H cube edge (32f-32f)": 2 * x * a,
            "H-H 8c-32f": np.sqrt(3) * (0.25 - x) * a,
            "La-H 32f": a * np.sqrt(2 * x * x + (0.5 - x) ** 2),
            "La-H 8c": np.sqrt(3) * a / 4,
            "La-La": a / np.sqrt(2)}


def strained(atoms, deformation):
    """Copy of ``atoms`` with cell and positions mapped by the deformation gradient F (3 x 3):
    r -> F r (every atom follows the cell: fractional coordinates unchanged)."""
    f = np.asarray(deformation, float)
    if f.shape != (3, 3) or not np.linalg.det(f) > 0:
        raise ValueError(f"deformation must be a 3x3 matrix with positive determinant, got {f!r}")
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ f.T, scale_atoms=True)
    return out
