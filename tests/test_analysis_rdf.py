"""RDF: an ideal gas gives g = 1 within Poisson errors (orthogonal and triclinic cells); perfect
fcc and rocksalt lattices give the shells at the right distances with the right coordination
numbers, also from a one-atom primitive cell where the cutoff exceeds the cell."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from qfe.analysis.io import Trajectory
from qfe.analysis.rdf import rdf, rdf_counts


def _traj_from_atoms(frames):
    nf = len(frames)
    at = frames[0]
    return Trajectory(positions=np.stack([a.positions for a in frames]),
                      cells=np.stack([np.array(a.cell[:]) for a in frames]),
                      origins=np.zeros((nf, 3)), pbc=np.ones(3, bool),
                      ids=np.arange(1, len(at) + 1), types=at.numbers.copy(),
                      symbols=np.array(at.get_chemical_symbols()))


@pytest.mark.parametrize("cell", [np.diag([20.0, 22.0, 24.0]),
                                  np.array([[20.0, 0, 0], [6.0, 19.0, 0], [-4.0, 5.0, 21.0]])])
def test_ideal_gas_is_one(cell):
    rng = np.random.default_rng(0)
    n, nf, rmax, nbins = 3000, 4, 6.0, 12
    totals = np.zeros(nbins)
    for _ in range(nf):
        x = rng.random((n, 3)) @ cell
        edges, g, _ = rdf_counts(x, None, cell, rmax, nbins)
        totals += g
    g = totals / nf
    vol = abs(np.linalg.det(cell))
    shell = 4 / 3 * np.pi * np.diff(edges ** 3)
    expected_pairs = nf * n * (n - 1) * shell / vol           # ordered pairs per bin
    sigma = np.sqrt(2.0 / expected_pairs)                      # Poisson on unordered pairs
    z = (g - 1.0) / sigma
    assert np.all(np.abs(z[1:]) < 5), z                         # first bin: too few pairs
    assert abs(np.mean(z[1:])) < 2.5


def _shell_counts(edges, coordination, radii):
    return [coordination[np.searchsorted(edges, r) - 1] for r in radii]


def test_fcc_shells_and_coordination():
    a = 4.05
    # conventional supercell (orthogonal, fast path) and the 1-atom primitive cell (images)
    for atoms in (bulk("Al", "fcc", a=a, cubic=True) * (4, 4, 4), bulk("Al", "fcc", a=a)):
        edges, g, n = rdf_counts(atoms.positions, None, atoms.cell[:], 6.5, 650)
        shells = a * np.sqrt([0.5, 1.0, 1.5, 2.0, 2.5])     # 12, 6, 24, 12, 24 neighbours
        just_above = shells + 0.02
        just_below = shells - 0.02
        np.testing.assert_allclose(_shell_counts(edges, n, just_above), [12, 18, 42, 54, 78])
        np.testing.assert_allclose(_shell_counts(edges, n, just_below), [0, 12, 18, 42, 54])
        peaks = (edges[:-1] + edges[1:])[g > 1.0] / 2
        # all non-zero g sits within a bin of a shell distance
        assert np.all(np.min(np.abs(peaks[:, None] - shells[None, :]), axis=1) < 0.011)


def test_rocksalt_partials_from_trajectory():
    a = 5.64
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=True) * (3, 3, 3)
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(3):
        b = atoms.copy()
        b.positions += rng.normal(0, 0.01, b.positions.shape)
        frames.append(b)
    res = rdf(_traj_from_atoms(frames), "Na-Cl,Na-Na,Cl-Cl", r_max=4.5, n_bins=90)
    assert res.n_frames == 3
    r = res.edges[1:]
    nacl = res.coordination[("Na", "Cl")]
    nana = res.coordination[("Na", "Na")]
    assert nacl[np.searchsorted(r, a / 2 + 0.1)] == pytest.approx(6.0)
    assert nacl[np.searchsorted(r, a / 2 - 0.1)] == pytest.approx(0.0)
    assert nana[np.searchsorted(r, a / np.sqrt(2) + 0.1)] == pytest.approx(12.0)
    assert nana[np.searchsorted(r, a / np.sqrt(2) - 0.1)] == pytest.approx(0.0)
    clcl = res.coordination[("Cl", "Cl")]
    assert clcl[np.searchsorted(r, a / np.sqrt(2) + 0.1)] == pytest.approx(12.0)
    k = int(np.argmax(res.g[("Na", "Cl")]))
    assert abs(res.r[k] - a / 2) < 0.05


def test_rdf_errors():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    traj = _traj_from_atoms([atoms])
    with pytest.raises(ValueError, match="species 'K' of pair 'Na-K' not present"):
        rdf(traj, "Na-K")
    with pytest.raises(ValueError, match="need r_max > 0"):
        rdf(traj, r_max=-1.0)
