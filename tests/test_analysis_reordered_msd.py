"""Reordered MSD': the assignment equals brute force over all permutations; the certified sparse
solver equals the dense one (also when its cutoff must grow); atoms swapping lattice sites
give a large MSD but an MSD' at the vibrational amplitude."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qfe.analysis.io import Trajectory
from qfe.analysis.neighbors import minimum_image, pairs_within
from qfe.analysis.reordered_msd import optimal_assignment, reordered_msd

CELLS = {
    "orthogonal": np.diag([4.0, 5.0, 6.0]),
    "triclinic": np.array([[4.0, 0.0, 0.0], [1.8, 4.5, 0.0], [-1.2, 1.4, 5.0]]),
}


def _brute_force(ref, cur, cell):
    n = len(ref)
    d2 = np.array([[np.sum(minimum_image(cur[j] - ref[i], cell) ** 2) for j in range(n)]
                   for i in range(n)])
    best = min(sum(d2[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))
    return best, d2


def _brute_min_image(dr, cell):
    """Shortest image by trying all shifts in -3..3 of the fractionally rounded vector
    (independent of minimum_image; 7^3 shifts cover any cell used here)."""
    s = np.linalg.solve(cell.T, dr.reshape(-1, 3).T).T.reshape(dr.shape)
    base = (s - np.round(s)) @ cell
    shifts = np.array(list(itertools.product(range(-3, 4), repeat=3))) @ cell
    cand = base[..., None, :] + shifts
    return np.min(np.sum(cand ** 2, axis=-1), axis=-1)


@pytest.mark.parametrize("kind", list(CELLS))
def test_assignment_equals_brute_force(kind):
    cell = CELLS[kind]
    rng = np.random.default_rng(0)
    for trial in range(6):
        n = 6 + trial % 2
        ref = rng.random((n, 3)) @ cell
        cur = rng.random((n, 3)) @ cell + rng.normal(0, 3.0, (n, 3))
        best, d2 = _brute_force(ref, cur, cell)
        np.testing.assert_allclose(d2, _brute_min_image(cur[None, :, :] - ref[:, None, :], cell),
                                   rtol=1e-12)
        for method in ("dense", "sparse"):
            res = optimal_assignment(ref, cur, cell, method=method)
            assert res.cost == pytest.approx(best, rel=1e-12, abs=1e-12), (method, trial)
            assert res.certified
            assert sorted(res.permutation.tolist()) == list(range(n))


def test_sparse_equals_dense_with_cutoff_growth():
    rng = np.random.default_rng(1)
    cell = CELLS["triclinic"] * 2.5
    n = 400
    ref = rng.random((n, 3)) @ cell
    for sigma, first_cutoff in ((0.3, 0.2), (1.0, None), (50.0, None)):   # up to liquid-like
        cur = ref + rng.normal(0, sigma, (n, 3))
        dense = optimal_assignment(ref, cur, cell, method="dense")
        sparse = optimal_assignment(ref, cur, cell, method="sparse", cutoff=first_cutoff)
        assert sparse.cost == pytest.approx(dense.cost, rel=1e-10)
        assert sparse.certified
        if first_cutoff is not None:
            assert sparse.attempts > 1 and sparse.cutoff > first_cutoff
        # candidate restriction is real: far fewer pairs than n^2
        assert sparse.n_candidates < n * n / 4


def test_pairs_within_equals_brute_force():
    rng = np.random.default_rng(2)
    cell = CELLS["triclinic"]
    a = rng.random((40, 3)) @ cell
    b = rng.random((50, 3)) @ cell
    for cutoff in (1.5, 2.4):
        i, j, d = pairs_within(a, b, cell, cutoff)
        d2 = _brute_min_image(b[None, :, :] - a[:, None, :], cell)
        want = set(zip(*np.nonzero(d2 <= cutoff ** 2)))
        assert set(zip(i.tolist(), j.tolist())) == want
        np.testing.assert_allclose(d ** 2, d2[i, j], rtol=1e-10)


def _fcc(n, a):
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return ((g[:, None, :] + basis[None]).reshape(-1, 3)) * a, np.eye(3) * n * a


def test_site_swaps_msd_large_reordered_small():
    rng = np.random.default_rng(3)
    a, sigma = 3.6, 0.06
    sites, cell = _fcc(4, a)
    n = len(sites)
    nf = 6
    # swap 24 disjoint nearest-neighbour pairs, progressively over the frames
    tree_pairs = pairs_within(sites, sites, cell, a / np.sqrt(2) + 0.01)
    pairs, used = [], set()
    for i, j, _ in zip(*tree_pairs):
        if i < j and i not in used and j not in used:
            pairs.append((i, j))
            used |= {i, j}
        if len(pairs) == 24:
            break
    occupant = np.arange(n)                 # occupant[s]: atom sitting on site s
    pos = np.empty((nf, n, 3))
    for f in range(nf):
        if f > 0:
            for i, j in pairs[(f - 1) * 5:(f - 1) * 5 + 5]:
                occupant[[i, j]] = occupant[[j, i]]
        site_of_atom = np.argsort(occupant)
        pos[f] = sites[site_of_atom] + rng.normal(0, sigma, (n, 3))
    traj = Trajectory(positions=pos, cells=np.repeat(cell[None], nf, 0), origins=np.zeros((nf, 3)),
                      pbc=np.ones(3, bool), ids=np.arange(1, n + 1), types=np.ones(n, int),
                      symbols=np.array(["H"] * n), times=np.arange(nf) * 0.1)
    res = reordered_msd(traj, "H")
    swapped_atoms = 2 * min(24, 5 * (nf - 1))
    # plain MSD: swapped atoms moved by a/sqrt(2)
    expect_msd = swapped_atoms * a ** 2 / 2 / n + 6 * sigma ** 2
    assert res.msd[-1] == pytest.approx(expect_msd, rel=0.1)
    # MSD' stays at the vibrational value 6 sigma^2 (two independent displacements)
    np.testing.assert_allclose(res.msd_prime[1:], 6 * sigma ** 2, rtol=0.1)
    assert res.msd_prime[-1] < 0.1 * res.msd[-1]
    assert res.n_moved[-1] == swapped_atoms
    assert res.msd_prime[0] == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="must both be"):
        optimal_assignment(np.zeros((3, 3)), np.zeros((4, 3)), np.eye(3))
    with pytest.raises(ValueError, match="unknown assignment method"):
        optimal_assignment(np.zeros((3, 3)), np.zeros((3, 3)), np.eye(3), method="magic")
    with pytest.raises(ValueError, match="degenerate cell"):
        optimal_assignment(np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3)), method="sparse")


@pytest.mark.slow
def test_forty_thousand_atoms_certified():
    """Production size: 40,000 like atoms with thermal noise and site swaps in one frame."""
    rng = np.random.default_rng(4)
    sites, cell = _fcc(22, 1.6)                      # 42,592 sites, nearest neighbours 1.13 A
    sites = sites[:40000]                             # the missing ones are vacancies
    sigma = 0.12
    cur = sites + rng.normal(0, sigma, sites.shape)
    perm_true = np.arange(len(sites))                 # atom perm_true[i] sits on site i
    i, j, _ = pairs_within(sites, sites, cell, 1.2)
    used = np.zeros(len(sites), bool)
    swaps = 0
    for a, b in zip(i, j):
        if a < b and not used[a] and not used[b]:
            cur[[a, b]] = cur[[b, a]]
            perm_true[[a, b]] = perm_true[[b, a]]
            used[[a, b]] = True
            swaps += 1
            if swaps == 300:
                break
    res = optimal_assignment(sites, cur, cell, method="sparse")
    assert res.certified
    # the known relabelling is one feasible permutation: the optimum cannot cost more
    cost_true = np.sum(minimum_image(cur[perm_true] - sites, cell) ** 2)
    assert res.cost <= cost_true + 1e-9
    assert res.cost == pytest.approx(cost_true, rel=0.01)
    assert res.msd_prime == pytest.approx(3 * sigma ** 2, rel=0.05)
    assert res.n_moved >= 2 * swaps
