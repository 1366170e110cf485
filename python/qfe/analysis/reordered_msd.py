"""Permutation-reordered mean-square displacement MSD'.

    MSD'(t) = (1/N) min_P sum_i |r_P(i)(t) - r_i(0)|^2

over permutations P of like atoms, with minimum-image distances (Qin et al., PRB 108,
064102 (2023)).  It separates true diffusion (MSD' grows) from atoms exchanging lattice sites
(MSD grows, MSD' stays at the vibrational amplitude).

The minimisation is a linear assignment problem with cost c_ij = |mic(r_j(t) - r_i(0))|^2.

- ``method="dense"``: ``scipy.optimize.linear_sum_assignment`` on the full N x N cost
  matrix (exact; N up to a few thousand).
- ``method="sparse"``: only pairs closer than a cutoff r_c are candidates
  (``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` on the sparse cost matrix),
  which scales to 40,000 atoms.  The cutoff starts at 1.5 x the largest distance from any
  atom to its nearest candidate and is enlarged (x 1.5) when no perfect matching exists.

Exactness of the sparse solution (a certificate, checked every time): from the optimal
restricted matching we compute dual potentials u_i, v_j (shortest paths in the residual graph,
Bellman-Ford) with u_i + v_j <= c_ij on every candidate pair and u_i + v_j = c_ij on the
matched pairs, so sum(u) + sum(v) equals the restricted optimum.  Every pair left out has
c_ij > r_c^2.  If max(u) + max(v) <= r_c^2, then u_i + v_j <= c_ij holds for *all* pairs, the
potentials are feasible for the full assignment LP, and by weak duality no permutation can
have a lower cost: the restricted optimum is the full optimum.  Otherwise the cutoff is
enlarged and the problem solved again.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from qfe.analysis.io.frames import Trajectory, selection_label
from qfe.analysis.neighbors import (
    check_cell,
    fractional,
    is_orthogonal,
    minimum_image,
    pairs_within,
)

__all__ = ["Assignment", "optimal_assignment", "ReorderedMSDResult", "reordered_msd"]

DENSE_MAX_ATOMS = 500
MAX_CANDIDATE_PAIRS = 200_000_000


@dataclasses.dataclass
class Assignment:
    """Optimal assignment of current atoms to reference sites.

    permutation[i] : index of the current atom assigned to reference site i
    cost           : sum_i |mic(r_perm[i] - r_i)|^2 (A^2); msd_prime = cost / N
    max_distance   : largest assigned distance (A)
    cutoff         : candidate cutoff used (A), None for the dense method
    certified      : optimality proven (always True for dense; dual certificate for sparse)
    n_candidates   : candidate pairs in the final sparse problem
    attempts       : number of sparse solves (cutoff enlargements + 1)
    """

    permutation: np.ndarray
    cost: float
    msd_prime: float
    max_distance: float
    method: str
    cutoff: float | None = None
    certified: bool = True
    n_candidates: int = 0
    attempts: int = 1

    @property
    def n_moved(self) -> int:
        """Atoms not assigned to their own reference site (site exchanges)."""
        return int(np.count_nonzero(self.permutation != np.arange(len(self.permutation))))


def _dense_cost(reference, current, cell, pbc):
    dr = current[None, :, :] - reference[:, None, :]
    dr = minimum_image(dr, cell, pbc)
    return np.einsum("ijk,ijk->ij", dr, dr)


def _dual_potentials(n, rows, cols, cost, matched_col, matched_cost):
    """Dual potentials (u, v) of an optimal matching on a sparse bipartite graph.

    Shortest paths from a virtual source (distance 0 to every row) in the residual graph:
    arcs row i -> col j with weight c_ij for every candidate pair, col j -> row i with weight
    -c_ij for matched pairs.  u = -dist(row), v = dist(col).  Vectorised Bellman-Ford.
    """
    order = np.argsort(cols, kind="stable")
    rows, cols, cost = rows[order], cols[order], cost[order]
    starts = np.searchsorted(cols, np.arange(n))
    drow = np.zeros(n)
    tol = 1e-12 * max(1.0, float(np.abs(cost).max()))
    for _ in range(2 * n + 2):
        dcol = np.minimum.reduceat(drow[rows] + cost, starts)
        new = dcol[matched_col] - matched_cost
        improved = new < drow - tol
        if not improved.any():
            return -drow, dcol
        drow = np.where(improved, new, drow)
    raise RuntimeError("dual potentials did not converge: the matching is not optimal")


def _nearest_distances(reference, current, cell, pbc):
    """Distance from each reference site to the nearest current atom and vice versa."""
    cell = np.asarray(cell, float)
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    if np.all(pbc) and is_orthogonal(cell):
        box = np.diag(cell)
        fr = fractional(reference, cell)
        fc = fractional(current, cell)
        tr = cKDTree(np.mod((fr - np.floor(fr)) * box, box), boxsize=box)
        tc = cKDTree(np.mod((fc - np.floor(fc)) * box, box), boxsize=box)
        return np.concatenate([tc.query(tr.data)[0], tr.query(tc.data)[0]])
    # general cell: grow a cutoff until every atom has a partner
    rc = 0.5 * (abs(np.linalg.det(cell)) / len(reference)) ** (1 / 3)
    rmax = float(np.linalg.norm(cell, axis=1).sum())
    while True:
        i, j, d = pairs_within(reference, current, cell, rc, pbc)
        ni = np.full(len(reference), np.inf)
        nj = np.full(len(current), np.inf)
        np.minimum.at(ni, i, d)
        np.minimum.at(nj, j, d)
        if np.isfinite(ni).all() and np.isfinite(nj).all():
            return np.concatenate([ni, nj])
        if rc > rmax:
            raise RuntimeError("could not find nearest neighbours")
        rc *= 1.5


def optimal_assignment(reference: np.ndarray, current: np.ndarray, cell: np.ndarray, pbc=True,
                       *, method: str = "auto", cutoff: float | None = None,
                       max_attempts: int = 12) -> Assignment:
    """Permutation of ``current`` atoms minimising sum |mic(current[P(i)] - reference[i])|^2.

    ``reference`` and ``current``: (N, 3) Cartesian positions (A) of like atoms.
    ``method``: "dense" (exact, O(N^2) memory), "sparse" (candidates within a cutoff, with an
    optimality certificate), or "auto" (dense up to 500 atoms).  ``cutoff`` (A): first
    candidate cutoff for the sparse method.
    """
    reference = np.asarray(reference, float)
    current = np.asarray(current, float)
    if reference.shape != current.shape or reference.ndim != 2 or reference.shape[1] != 3:
        raise ValueError(f"reference and current must both be (N, 3); got {reference.shape} "
                         f"and {current.shape}")
    cell, pbc = check_cell(cell, pbc)
    n = len(reference)
    if n == 0:
        return Assignment(np.zeros(0, int), 0.0, 0.0, 0.0, "dense")
    if method == "auto":
        method = "dense" if n <= DENSE_MAX_ATOMS else "sparse"
    if method == "dense":
        c = _dense_cost(reference, current, cell, pbc)
        row, col = linear_sum_assignment(c)
        cost = float(c[row, col].sum())
        return Assignment(permutation=col, cost=cost, msd_prime=cost / n,
                          max_distance=float(np.sqrt(c[row, col].max())), method="dense")
    if method != "sparse":
        raise ValueError(f"unknown assignment method {method!r} (auto, dense, sparse)")

    pbc_arr = pbc
    # every minimum-image distance is <= (|a| + |b| + |c|) / 2: with a cutoff that long all
    # pairs are candidates and the restricted problem is the full one
    all_pairs_cutoff = 0.5 * float(np.linalg.norm(cell, axis=1).sum())
    if cutoff is None:
        nearest = _nearest_distances(reference, current, cell, pbc_arr)
        spacing = (abs(np.linalg.det(cell)) / n) ** (1.0 / 3.0)
        cutoff = max(1.5 * float(nearest.max()), 0.25 * spacing)
    rc = float(cutoff)
    for attempt in range(1, max_attempts + 1):
        i, j, d = pairs_within(reference, current, cell, rc, pbc_arr)
        if len(i) > MAX_CANDIDATE_PAIRS:
            raise MemoryError(f"{len(i)} candidate pairs within {rc:.3g} A: displacements too "
                              "large for the sparse assignment (use method='dense' on fewer atoms)")
        c = d * d
        # shift all weights by 1: explicit zeros would be dropped as non-edges, and a constant
        # shift changes every perfect matching's cost by the same N
        graph = csr_array((c + 1.0, (i, j)), shape=(n, n))
        try:
            row, col = min_weight_full_bipartite_matching(graph)
        except ValueError:              # no perfect matching among the candidates
            rc *= 1.5
            continue
        matched = graph[row, col] - 1.0
        perm = np.empty(n, dtype=np.int64)
        perm[row] = col
        mcost = np.empty(n)
        mcost[row] = matched
        coo = graph.tocoo()
        u, v = _dual_potentials(n, coo.row.astype(np.int64), coo.col.astype(np.int64),
                                coo.data - 1.0, perm, mcost)
        bound = float(u.max() + v.max())
        if bound <= rc * rc or rc >= all_pairs_cutoff:
            cost = float(mcost.sum())
            return Assignment(permutation=perm, cost=cost, msd_prime=cost / n,
                              max_distance=float(np.sqrt(mcost.max())), method="sparse",
                              cutoff=rc, certified=True, n_candidates=int(len(i)),
                              attempts=attempt)
        rc = max(1.5 * rc, 1.01 * np.sqrt(bound))
    raise RuntimeError(f"sparse assignment not certified optimal after {max_attempts} cutoff "
                       f"enlargements (last cutoff {rc:.3g} A)")


@dataclasses.dataclass
class ReorderedMSDResult:
    """MSD'(t) and, for comparison, the ordinary MSD relative to the same origins.

    times (ps), msd_prime and msd (A^2 per atom), n_moved: mean number of atoms assigned
    to another atom's site, max_distance: largest assigned distance (A) seen at that lag.
    """

    times: np.ndarray
    msd_prime: np.ndarray
    msd: np.ndarray
    n_moved: np.ndarray
    max_distance: np.ndarray
    species: str
    n_atoms: int
    n_origins: int

    COLUMNS = ("time_ps", "msd_prime_A2", "msd_A2", "n_moved", "max_assigned_distance_A")

    def as_table(self) -> np.ndarray:
        """Columns :attr:`COLUMNS`: lag time, MSD', MSD, atoms moved, largest distance."""
        return np.column_stack([self.times, self.msd_prime, self.msd, self.n_moved,
                                self.max_distance])

    def as_dict(self) -> dict:
        return {"species": self.species, "n_atoms": self.n_atoms, "n_origins": self.n_origins,
                "final_msd_prime_A2": float(self.msd_prime[-1]),
                "final_msd_A2": float(self.msd[-1]),
                "definition": "MSD' = (1/N) min_P sum_i |mic(r_P(i)(t) - r_i(0))|^2 over "
                              "permutations of like atoms; exact linear assignment"}

    def summary(self) -> str:
        return (f"{self.species}: {self.n_atoms} atoms, at t = {self.times[-1]:.4g}: MSD' = "
                f"{self.msd_prime[-1]:.4g} A^2, MSD = {self.msd[-1]:.4g} A^2, "
                f"{self.n_moved[-1]:.0f} atoms on another atom's site")


def reordered_msd(traj: Trajectory, species=None, *, origins=(0,), lags=None,
                  method: str = "auto", cutoff: float | None = None,
                  progress: bool = False) -> ReorderedMSDResult:
    """MSD'(lag) of ``species`` (each species is permuted only among its own atoms).

    origins : frame indices used as r(0) (results averaged over them)
    lags    : frame offsets (default: 0 .. n_frames - 1 - max(origins))
    The minimum image uses the cell of the later frame.  ``times`` are lags x frame interval
    (or lag in frames when times are unknown).
    """
    from qfe.analysis.msd import unwrap

    idx = traj.select(species)
    labels = traj.species()[idx]
    groups = [idx[labels == s] for s in np.unique(labels)]
    origins = np.atleast_1d(np.asarray(origins, int))
    if origins.min() < 0 or origins.max() >= traj.n_frames:
        raise ValueError(f"origins {origins.tolist()} outside 0..{traj.n_frames - 1}")
    if lags is None:
        lags = np.arange(traj.n_frames - origins.max())
    lags = np.asarray(lags, int)
    if lags.min() < 0 or origins.max() + lags.max() >= traj.n_frames:
        raise ValueError(f"lags up to {lags.max()} from origin {origins.max()} run past the "
                         f"last frame ({traj.n_frames - 1})")
    unwrapped = unwrap(traj, idx)
    msdp = np.zeros(len(lags))
    plain = np.zeros(len(lags))
    moved = np.zeros(len(lags))
    dmax = np.zeros(len(lags))
    work = [(a, b) for a in range(len(lags)) for b in origins]
    it = work
    if progress:
        from tqdm import tqdm

        it = tqdm(work, desc="reordered MSD", unit="frame", leave=False, disable=None)
    for a, o in it:
        f = o + lags[a]
        total = 0.0
        for g in groups:
            res = optimal_assignment(traj.positions[o, g], traj.positions[f, g], traj.cells[f],
                                     traj.pbc, method=method, cutoff=cutoff)
            total += res.cost
            moved[a] += res.n_moved
            dmax[a] = max(dmax[a], res.max_distance)
        msdp[a] += total / len(idx)
        dr = unwrapped[f] - unwrapped[o]
        plain[a] += float(np.einsum("ij,ij->", dr, dr)) / len(idx)
    no = len(origins)
    if traj.times is not None and traj.n_frames > 1:
        times = lags * float(np.median(np.diff(traj.times)))
    else:
        times = lags.astype(float)
    label = selection_label(species)
    return ReorderedMSDResult(times=times, msd_prime=msdp / no, msd=plain / no, n_moved=moved / no,
                              max_distance=dmax, species=label, n_atoms=len(idx), n_origins=no)
