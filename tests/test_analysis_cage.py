"""LaH10 cage distortion angle theta (qfe.analysis.cage) and the Fm-3m builder (qfe.lah10).

References are independent of the code: the ideal structure (every angle exactly 90 deg), the
exact image of plane normals under a homogeneous strain (n -> F^-T n, closed forms for a simple
shear and a rhombohedral strain), and the rigid tilt of one quadrilateral by a known angle.
"""

import numpy as np
import pytest
import spglib

from qfe.analysis.cage import cage_angles, cage_angles_trajectory
from qfe.analysis.io import Trajectory
from qfe.lah10 import lah10_distances, lah10_fm3m, strained


def _spacegroup(atoms, symprec=1e-4):
    return spglib.get_spacegroup((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers),
                                 symprec=symprec)


@pytest.mark.parametrize("a, x", [(5.10, 0.12), (4.80, 0.10), (5.30, 0.14)])
def test_builder_is_fm3m_with_textbook_distances(a, x):
    atoms = lah10_fm3m(a, x)
    assert len(atoms) == 44 and atoms.get_chemical_formula() == "H40La4"
    assert _spacegroup(atoms) == "Fm-3m (225)"
    # La-H and H-H shells from the geometry of the module doc, by brute-force distances
    d = atoms.get_all_distances(mic=True)
    sym = np.array(atoms.get_chemical_symbols())
    la, h = sym == "La", sym == "H"
    ref = lah10_distances(a, x)
    hh = np.sort(d[np.ix_(h, h)][np.triu_indices(40, 1)])
    assert hh[0] == pytest.approx(min(ref["H-H cube edge (32f-32f)"], ref["H-H 8c-32f"]),
                                  abs=1e-9)
    lah = np.sort(d[np.ix_(la, h)].ravel())
    assert lah[0] == pytest.approx(ref["La-H 32f"], abs=1e-9)
    # 24 cage H at the 32f distance and 8 at the 8c distance around each La
    n32 = np.isclose(d[np.ix_(la, h)], ref["La-H 32f"], atol=1e-9).sum(axis=1)
    n8 = np.isclose(d[np.ix_(la, h)], ref["La-H 8c"], atol=1e-9).sum(axis=1)
    assert list(n32) == [24] * 4 and list(n8) == [8] * 4


def test_builder_rejects_bad_parameters():
    with pytest.raises(ValueError, match="lattice parameter"):
        lah10_fm3m(-1.0)
    with pytest.raises(ValueError, match="0.3"):
        lah10_fm3m(5.1, 0.3)


@pytest.mark.parametrize("a, x", [(5.10, 0.12), (4.80, 0.10)])
def test_ideal_structure_is_exactly_90(a, x):
    res = cage_angles(lah10_fm3m(a, x))
    assert res.theta.shape == (4, 12)
    np.testing.assert_allclose(res.theta, 90.0, atol=1e-9)
    np.testing.assert_allclose(res.phi, 90.0, atol=1e-9)
    # each cage: 6 disjoint quadrilaterals of 32f H (24 distinct atoms)
    for q in res.quadrilaterals:
        assert len(set(q.ravel())) == 24


def _shear(g):
    return np.array([[1.0, g, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("g", [0.02, 0.1, -0.15])
def test_simple_shear_closed_form(g):
    # x -> x + g y: plane normals n -> F^-T n; the x and y planes meet at 90 - atan|g|
    res = cage_angles(strained(lah10_fm3m(), _shear(g)))
    want = 90.0 - np.degrees(np.arctan(abs(g)))
    for cage in np.sort(res.theta, axis=1):
        np.testing.assert_allclose(cage[:4], want, atol=1e-9)
        np.testing.assert_allclose(cage[4:], 90.0, atol=1e-9)
    assert res.mean == pytest.approx(90.0 - (90.0 - want) / 3, abs=1e-9)


@pytest.mark.parametrize("eps", [0.01, 0.05, -0.04])
def test_rhombohedral_strain_closed_form(eps):
    # F = I + eps 11^T (the trigonal distortion): F^-T = I - c 11^T with c = eps/(1 + 3 eps);
    # every pair of axis planes then meets at arccos(|3c^2 - 2c| / (1 - 2c + 3c^2))
    f = np.eye(3) + eps * np.ones((3, 3))
    c = eps / (1 + 3 * eps)
    want = np.degrees(np.arccos(abs(3 * c * c - 2 * c) / (1 - 2 * c + 3 * c * c)))
    res = cage_angles(strained(lah10_fm3m(), f))
    np.testing.assert_allclose(res.theta, want, atol=1e-9)
    # phi keeps the sense: half the pairs open, half close, symmetric about 90
    assert np.mean(res.phi) == pytest.approx(90.0, abs=1e-9)


def test_general_strain_matches_inverse_transpose_normals():
    rng = np.random.default_rng(7)
    f = np.eye(3) + 0.05 * rng.standard_normal((3, 3))
    res = cage_angles(strained(lah10_fm3m(), f))
    g = np.linalg.inv(f).T
    axes = g / np.linalg.norm(g, axis=0)          # columns: images of the x, y, z plane normals
    want = sorted(np.degrees(np.arccos(abs(axes[:, i] @ axes[:, j])))
                  for i, j in [(0, 1), (0, 2), (1, 2)] for _ in range(4))
    for cage in res.theta:
        np.testing.assert_allclose(np.sort(cage), want, atol=1e-9)


def test_tilting_one_quadrilateral_by_beta():
    beta = 4.0
    atoms = lah10_fm3m()
    res0 = cage_angles(atoms)
    la0 = res0.metal_indices[0]
    # the quadrilateral of cage 0 facing +x (its outward normal along +x)
    k = int(np.argmax(res0.normals[0] @ np.array([1.0, 0.0, 0.0])))
    quad = res0.quadrilaterals[0, k]
    pos = atoms.get_positions()
    # the 4 atoms as seen from La 0 (minimum image), rotated rigidly about z through their centre
    rel = atoms.get_distances(la0, quad, mic=True, vector=True) + pos[la0]
    centre = rel.mean(axis=0)
    b = np.radians(beta)
    rot = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    pos[quad] = (rel - centre) @ rot.T + centre
    atoms.set_positions(pos)
    res = cage_angles(atoms)
    i0 = int(np.flatnonzero(res.metal_indices == la0)[0])
    n = res0.normals[0]
    for (p, q), theta in zip(res.pairs[i0], res.theta[i0]):
        involved = k in (p, q)
        other = q if p == k else p
        if involved and abs(n[other] @ np.array([0.0, 1.0, 0.0])) > 0.9:
            assert theta == pytest.approx(90.0 - beta, abs=1e-9)
        else:
            assert theta == pytest.approx(90.0, abs=1e-9)


def _sorted_theta(atoms):
    return np.sort(cage_angles(atoms).theta.ravel())


def test_invariance_translation_permutation_rotation_supercell():
    rng = np.random.default_rng(3)
    base = strained(lah10_fm3m(), np.eye(3) + 0.02 * rng.standard_normal((3, 3)))
    base.positions += 0.03 * rng.standard_normal(base.positions.shape)   # break all symmetry
    ref = _sorted_theta(base)
    assert ref.std() > 0.1
    moved = base.copy()
    moved.translate([1.3, -2.7, 0.4])
    moved.wrap()
    np.testing.assert_allclose(_sorted_theta(moved), ref, atol=1e-8)
    perm = base[rng.permutation(len(base))]
    np.testing.assert_allclose(_sorted_theta(perm), ref, atol=1e-8)
    rotated = base.copy()
    rotated.rotate(37.0, [1.0, 2.0, -0.5], rotate_cell=True)
    np.testing.assert_allclose(_sorted_theta(rotated), ref, atol=1e-8)
    sc = base.repeat((2, 1, 3))
    np.testing.assert_allclose(_sorted_theta(sc), np.repeat(ref, 6), atol=1e-8)


def test_trajectory_block_average():
    gs = [0.0, 0.05, 0.1, 0.05, 0.0, 0.1]
    frames = [strained(lah10_fm3m(), _shear(g)) for g in gs]
    traj = Trajectory(positions=np.stack([a.positions for a in frames]),
                      cells=np.stack([a.cell.array for a in frames]),
                      origins=np.zeros((len(gs), 3)), pbc=np.ones(3, bool),
                      ids=np.arange(1, 45), symbols=np.array(frames[0].get_chemical_symbols()))
    out = cage_angles_trajectory(traj, n_blocks=3)
    want = [90.0 - np.degrees(np.arctan(g)) / 3 for g in gs]
    np.testing.assert_allclose(out["frame_mean"], want, atol=1e-9)
    assert out["mean"] == pytest.approx(np.mean(want), abs=1e-9)
    blocks = [np.mean(want[0:2]), np.mean(want[2:4]), np.mean(want[4:6])]
    assert out["error"] == pytest.approx(np.std(blocks, ddof=1) / np.sqrt(3), rel=1e-9)


def test_errors_name_the_problem():
    from ase.build import bulk

    with pytest.raises(ValueError, match="no 'La' atoms"):
        cage_angles(bulk("Li", "fcc", a=4.3, cubic=True))
    atoms = lah10_fm3m()
    with pytest.raises(ValueError, match="'Y' atoms"):
        cage_angles(atoms, metal="Y")


def test_primitive_cell_is_the_same_crystal():
    prim = lah10_fm3m(5.0, 0.11, primitive=True)
    conv = lah10_fm3m(5.0, 0.11)
    assert len(prim) == 11 and _spacegroup(prim) == "Fm-3m (225)"
    assert prim.get_volume() == pytest.approx(conv.get_volume() / 4, rel=1e-12)
    np.testing.assert_allclose(_sorted_theta(prim.repeat(2)), 90.0, atol=1e-9)
    dp = np.sort(prim.repeat(2).get_all_distances(mic=True)[0])[:40]
    dc = np.sort(conv.repeat(2).get_all_distances(mic=True)[0])[:40]
    np.testing.assert_allclose(dp, dc, atol=1e-9)


def test_cli_on_an_extxyz_trajectory(tmp_path):
    import json

    import ase.io

    from qfe.cli import main

    gs = [0.0, 0.08, 0.04]
    path = tmp_path / "frames.extxyz"
    ase.io.write(path, [strained(lah10_fm3m(), _shear(g)) for g in gs])
    out = tmp_path / "out"
    assert main(["analyze", "cage", str(path), "--average", "--blocks", "3", "-o", str(out)]) == 0
    info = json.loads((out / "cage.json").read_text())
    want = [90.0 - np.degrees(np.arctan(g)) / 3 for g in gs]
    assert info["theta_mean_deg"] == pytest.approx(np.mean(want), abs=1e-9)
    assert info["theta_min_over_frames_deg"] == pytest.approx(90 - np.degrees(np.arctan(0.08)),
                                                              abs=1e-9)
    table = np.loadtxt(out / "cage.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 2], want, atol=1e-7)
    assert (out / "cage.png").stat().st_size > 0
