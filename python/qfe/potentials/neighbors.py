"""Neighbor data with periodic images, built on the host and used inside ``jit``.

A neighbor list is a set of pairs (i, j, S): local atom i sees atom j displaced by the integer
image shift S (row vector, so the neighbor sits at ``r_j + S @ cell``).  It is built once with
ASE's ``primitive_neighbor_list`` (any cell, however small: every image within the radius is
listed, including images of i itself) around *reference* positions with radius
``cutoff + skin``.  Inside JAX the neighbors become "ghost" atoms whose coordinates
``r_src + S @ cell`` are differentiable functions of (positions, cell), so that forces and the
strain derivative (stress) come out of autodiff while the integer data stays fixed.

Validity: a list built at radius ``rc + skin`` around reference positions ``r0`` in cell
``h0`` is still complete for positions ``r`` in cell ``h`` if
``rc / sigma_min(M) + 2 max_i |r_i h^-1 h0 - r0_i| <= rc + skin`` with ``M = h0^-1 h``
(pair vectors, mapped back to the reference cell, changed by less than the skin; a strained
cell can shrink a vector by at most ``sigma_min(M)``).  Without a cell change this is the
familiar "no atom moved more than skin/2".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NeighborData:
    """Integer neighbor data of one configuration (host numpy arrays).

    Attributes
    ----------
    nlist : (nloc, width) int64
        Indices into the extended atoms (locals 0..nloc-1, then ghosts); -1 pads.
    ghost_source : (nghost,) int64
        Local atom of which each ghost is an image.
    ghost_shift : (nghost, 3) float64
        Integer image shift S of each ghost (ghost = r[source] + S @ cell).
    reference_positions : (nloc, 3) A
    reference_cell : (3, 3) A or None (non-periodic)
    cutoff, skin : A
    """

    nlist: np.ndarray
    ghost_source: np.ndarray
    ghost_shift: np.ndarray
    reference_positions: np.ndarray
    reference_cell: np.ndarray | None
    cutoff: float
    skin: float

    @property
    def nloc(self) -> int:
        return self.nlist.shape[0]

    @property
    def nghost(self) -> int:
        return len(self.ghost_source)

    @property
    def mapping(self) -> np.ndarray:
        """Local atom of every extended atom, shape (nloc + nghost,)."""
        return np.concatenate([np.arange(self.nloc), self.ghost_source])

    def max_neighbors_within(self, radius: float) -> int:
        """Largest number of neighbors closer than ``radius`` at the reference positions."""
        ext = extended_positions_np(self.reference_positions, self.reference_cell, self)
        valid = self.nlist >= 0
        d = ext[np.where(valid, self.nlist, 0)] - self.reference_positions[:, None, :]
        r = np.linalg.norm(d, axis=-1)
        return int(np.max(np.sum(valid & (r < radius), axis=1), initial=0))


def _check_positions_cell(positions, cell):
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions contain NaN or inf")
    if cell is not None:
        cell = np.asarray(cell, dtype=float)
        if cell.shape != (3, 3):
            raise ValueError(f"cell must have shape (3, 3) (rows = lattice vectors), got "
                             f"{cell.shape}")
        vol = abs(np.linalg.det(cell))
        if not np.isfinite(vol) or vol < 1e-8:
            raise ValueError(f"cell is singular (volume {vol:.3g} A^3): {cell.tolist()}")
    return positions, cell


def build_neighbor_data(positions, cell, cutoff: float, skin: float = 1.0) -> NeighborData:
    """All pairs (i, j, S) closer than ``cutoff + skin`` at ``positions``, periodic in ``cell``.

    ``cell`` None means an isolated cluster.  Cells of any size are handled: images are
    enumerated as far as the radius reaches (a 2-atom bcc cell of edge 3 A with a 6 A radius
    gets hundreds of ghosts), so nothing requires the cell to exceed twice the cutoff.
    """
    from ase.neighborlist import primitive_neighbor_list

    positions, cell = _check_positions_cell(positions, cell)
    if cutoff <= 0 or skin < 0:
        raise ValueError(f"need cutoff > 0 and skin >= 0, got cutoff={cutoff}, skin={skin}")
    n = len(positions)
    radius = float(cutoff + skin)
    if cell is None:
        lo = positions.min(axis=0)
        box = np.diag(np.maximum(positions.max(axis=0) - lo, 1.0) + 2 * radius)
        i, j, S = primitive_neighbor_list("ijS", [False] * 3, box, positions - lo, radius,
                                          self_interaction=False)
    else:
        i, j, S = primitive_neighbor_list("ijS", [True] * 3, cell, positions, radius,
                                          self_interaction=False)
    is_ghost = np.any(S != 0, axis=1)
    key = np.concatenate([j[:, None], S], axis=1)[is_ghost]
    if len(key):
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    else:
        uniq, inverse = np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64)
    ext_index = j.astype(np.int64)
    ext_index[is_ghost] = n + inverse.ravel()
    counts = np.bincount(i, minlength=n)
    width = max(int(counts.max(initial=0)), 1)
    nlist = -np.ones((n, width), dtype=np.int64)
    order = np.argsort(i, kind="stable")
    slot = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    nlist[i[order], slot] = ext_index[order]
    return NeighborData(
        nlist=nlist,
        ghost_source=uniq[:, 0].astype(np.int64),
        ghost_shift=uniq[:, 1:].astype(float),
        reference_positions=positions.copy(),
        reference_cell=None if cell is None else cell.copy(),
        cutoff=float(cutoff),
        skin=float(skin),
    )


def extended_positions(positions, cell, nbrs: NeighborData):
    """Locals followed by ghosts ``r[src] + S @ cell``; pure JAX, differentiable in both."""
    import jax.numpy as jnp

    if nbrs.nghost == 0:
        return positions
    ghosts = positions[nbrs.ghost_source] + jnp.asarray(nbrs.ghost_shift) @ cell
    return jnp.concatenate([positions, ghosts], axis=0)


def extended_positions_np(positions, cell, nbrs: NeighborData) -> np.ndarray:
    if nbrs.nghost == 0:
        return np.asarray(positions)
    return np.concatenate([positions, positions[nbrs.ghost_source] + nbrs.ghost_shift @ cell])


def displacement_margin(positions, cell, nbrs: NeighborData):
    """``rc + skin - rc / sigma_min(M) - 2 max|dr~|`` (A); the list is valid where >= 0.

    Works on numpy or JAX arrays, a single configuration (N, 3) or a batch (B, N, 3)
    (returns the smallest margin over the batch).
    """
    import jax.numpy as jnp

    xp = jnp if not isinstance(positions, np.ndarray) else np
    ref = nbrs.reference_positions
    rc = nbrs.cutoff
    if nbrs.reference_cell is None or cell is None:
        disp = positions - ref
        stretch = 1.0
    else:
        h0 = nbrs.reference_cell
        m = xp.linalg.solve(xp.asarray(h0), cell)           # h0^-1 h
        back = xp.linalg.solve(m.T, xp.swapaxes(positions, -1, -2))   # (r M^-1)^T
        disp = xp.swapaxes(back, -1, -2) - ref
        stretch = xp.linalg.svd(m, compute_uv=False)[..., -1]
    max_disp = xp.max(xp.sqrt(xp.sum(disp * disp, axis=-1)))
    return rc + nbrs.skin - rc / xp.min(xp.asarray(stretch)) - 2.0 * max_disp
