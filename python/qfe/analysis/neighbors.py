"""Periodic geometry: fractional coordinates, minimum image and neighbour search in any cell.

Cells are (3, 3) arrays whose rows are the lattice vectors (A).  Neighbour search uses
``scipy.spatial.cKDTree``: with its periodic ``boxsize`` for orthogonal cells when the cutoff is
below half the box, otherwise on explicit periodic images ("ghosts") of the second point set,
which handles triclinic cells and cutoffs longer than the box.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "fractional",
    "perpendicular_widths",
    "is_orthogonal",
    "check_cell",
    "minimum_image",
    "periodic_images",
    "pairs_within",
]


def fractional(positions: np.ndarray, cell: np.ndarray, origin=None) -> np.ndarray:
    """Fractional coordinates s with positions = origin + s @ cell."""
    x = positions if origin is None else positions - origin
    return np.linalg.solve(cell.T, x.reshape(-1, 3).T).T.reshape(x.shape)


def perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell (A): V / |b x c|, V / |c x a|, V / |a x b|."""
    vol = abs(np.linalg.det(cell))
    a, b, c = cell
    return vol / np.linalg.norm([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=1)


def is_orthogonal(cell: np.ndarray, tol: float = 1e-10) -> bool:
    off = cell - np.diag(np.diag(cell))
    return bool(np.all(np.abs(off) <= tol * np.abs(np.diag(cell)).max()))


def check_cell(cell, pbc=True):
    """Validated (3, 3) float cell and (3,) bool pbc; raises ValueError for a bad cell."""
    cell = np.asarray(cell, float)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must be a (3, 3) array of lattice vectors, got shape {cell.shape}")
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError(f"degenerate cell (zero volume): {cell.tolist()}")
    return cell, np.broadcast_to(np.asarray(pbc, bool), (3,))


def minimum_image(dr: np.ndarray, cell: np.ndarray, pbc=True) -> np.ndarray:
    """Shortest periodic image of difference vectors ``dr`` (..., 3), exact for any cell.

    Fractional components are rounded (exact for orthogonal cells); for other cells every
    lattice shift that could give a shorter vector is tried: if the rounded vector has length
    L, a shorter image has fractional components |s_k + n_k| <= L / w_k (w_k the distance
    between opposite faces), which bounds the shifts n_k to search.
    """
    cell, pbc = check_cell(cell, pbc)
    s = fractional(dr, cell)
    s = np.where(pbc, s - np.round(s), s)
    out = s @ cell
    if is_orthogonal(cell) or out.size == 0:
        return out
    best = np.einsum("...i,...i->...", out, out)
    reach = np.floor(np.sqrt(best.max()) / perpendicular_widths(cell) + 0.5).astype(int)
    reach = np.where(pbc, reach, 0)
    for n in itertools.product(*(range(-r, r + 1) for r in reach)):
        if not any(n):
            continue
        cand = out + np.array(n, float) @ cell
        d2 = np.einsum("...i,...i->...", cand, cand)
        better = d2 < best
        if np.any(better):
            out = np.where(better[..., None], cand, out)
            best = np.where(better, d2, best)
    return out


def _wrap(positions, cell, pbc, origin=None):
    s = fractional(positions, cell, origin)
    return np.where(pbc, s - np.floor(s), s)


def periodic_images(frac: np.ndarray, cell: np.ndarray, pbc, cutoff: float):
    """Cartesian positions of the points (fractional coords in [0, 1) along periodic axes),
    followed by all their periodic images within ``cutoff`` of the cell; returns
    (xyz, original_index), the first N entries being the points themselves."""
    widths = perpendicular_widths(cell)
    reach = np.where(pbc, np.ceil(cutoff / widths).astype(int), 0)
    margin = cutoff / widths
    xyz, index = [], []
    base = np.arange(len(frac))
    shifts = sorted(itertools.product(*(range(-r, r + 1) for r in reach)), key=lambda n: any(n))
    for n in shifts:                      # the unshifted copy comes first: index_b[:N] = 0..N-1
        s = frac + np.array(n, float)
        if any(n):
            inside = np.all((s >= -margin) & (s < 1.0 + margin) | ~np.asarray(pbc), axis=1)
            s, idx = s[inside], base[inside]
        else:
            idx = base
        xyz.append(s @ cell)
        index.append(idx)
    return np.concatenate(xyz), np.concatenate(index)


def _periodic_tree_ok(cell, pbc, cutoff) -> bool:
    return bool(np.all(pbc) and is_orthogonal(cell) and cutoff < 0.5 * np.diag(cell).min())


def pairs_within(points_a: np.ndarray, points_b: np.ndarray, cell: np.ndarray, cutoff: float,
                 pbc=True, minimum_image_only: bool = True):
    """Pairs (i, j, distance) with |minimum-image(b_j - a_i)| <= cutoff (A).

    With ``minimum_image_only`` each (i, j) appears once with its shortest distance; otherwise
    every periodic image within the cutoff is a separate pair (as an RDF needs).
    """
    cell, pbc = check_cell(cell, pbc)
    fa = _wrap(points_a, cell, pbc)
    fb = _wrap(points_b, cell, pbc)
    if _periodic_tree_ok(cell, pbc, cutoff):
        box = np.diag(cell)
        ta = cKDTree(np.mod(fa * box, box), boxsize=box)
        tb = cKDTree(np.mod(fb * box, box), boxsize=box)
        # the "ndarray" output keeps pairs at distance exactly zero
        sdm = ta.sparse_distance_matrix(tb, cutoff, output_type="ndarray")
        return sdm["i"].astype(np.int64), sdm["j"].astype(np.int64), sdm["v"]
    xyz_b, idx_b = periodic_images(fb, cell, pbc, cutoff)
    ta = cKDTree(fa @ cell)
    tb = cKDTree(xyz_b)
    sdm = ta.sparse_distance_matrix(tb, cutoff, output_type="ndarray")
    i, j, d = sdm["i"].astype(np.int64), idx_b[sdm["j"]], sdm["v"]
    if minimum_image_only and len(i):
        order = np.lexsort((d, j, i))
        i, j, d = i[order], j[order], d[order]
        first = np.ones(len(i), bool)
        first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
        i, j, d = i[first], j[first], d[first]
    return i, j, d
