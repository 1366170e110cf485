"""spglib analysis: Im-3m, Fm-3m and I-43d (with x of 16c) for bcc, fcc and cI16 Li built with
ASE and read from the published structures; the same after random noise (tolerance), with the
free coordinate within its statistical error; time-averaged thermal configurations."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.spacegroup import crystal

from qfe.analysis.io import Trajectory
from qfe.analysis.symmetry import analyze_symmetry, average_structure

X_CI16 = 0.055          # Hanfland et al., Nature 408, 174 (2000)


def _ci16(x=X_CI16, a=5.2716):
    return crystal("Li", [(x, x, x)], spacegroup=220, cellpar=[a, a, a, 90, 90, 90])


def _lah10(x=0.118, a=5.10):
    return crystal(["La", "H", "H"], [(0, 0, 0), (0.25, 0.25, 0.25), (x, x, x)], spacegroup=225,
                   cellpar=[a, a, a, 90, 90, 90])


def _check(res, number, symbol, orbits):
    assert res.number == number and res.international == symbol
    got = sorted((o.species, o.label) for o in res.orbits)
    assert got == sorted(orbits)


def test_ase_built_lithium_phases():
    _check(analyze_symmetry(bulk("Li", "bcc", a=3.44)), 229, "Im-3m", [("Li", "2a")])
    _check(analyze_symmetry(bulk("Li", "fcc", a=4.33)), 225, "Fm-3m", [("Li", "4a")])
    # a rotated, shifted supercell standardises to the same description
    fcc = bulk("Li", "fcc", a=4.33, cubic=True) * (2, 1, 1)
    fcc.rotate(25, "z", rotate_cell=True)
    fcc.translate([0.3, -0.7, 1.1])
    fcc.wrap()
    res = analyze_symmetry(fcc)
    _check(res, 225, "Fm-3m", [("Li", "4a")])
    np.testing.assert_allclose(np.linalg.norm(res.std_lattice, axis=1), 4.33, rtol=1e-9)
    for x in (X_CI16, 0.1):
        res = analyze_symmetry(_ci16(x))
        _check(res, 220, "I-43d", [("Li", "16c")])
        (orbit,) = res.orbits
        assert list(orbit.free_coordinates) == ["x"]
        # x and -x are the two enantiomorphic descriptions of the same structure
        assert abs(orbit.free_coordinates["x"]) == pytest.approx(x, abs=1e-9)
        np.testing.assert_allclose(orbit.representative, [orbit.free_coordinates["x"]] * 3)
        assert orbit.site_symmetry == ".3."


def test_two_species_wyckoff_and_free_coordinate():
    res = analyze_symmetry(_lah10())
    _check(res, 225, "Fm-3m", [("La", "4a"), ("H", "8c"), ("H", "32f")])
    f32 = next(o for o in res.orbits if o.label == "32f")
    assert f32.free_coordinates["x"] == pytest.approx(0.118, abs=1e-9)
    c8 = next(o for o in res.orbits if o.label == "8c")
    assert c8.free_coordinates == {}
    np.testing.assert_allclose(c8.representative, [0.25, 0.25, 0.25])


@pytest.mark.parametrize("name", ["bcc", "fcc", "cI16"])
def test_noisy_structures(name):
    rng = np.random.default_rng({"bcc": 0, "fcc": 1, "cI16": 2}[name])
    sigma = 0.01                                  # A per Cartesian component
    atoms = {"bcc": bulk("Li", "bcc", a=3.44, cubic=True) * (3, 3, 3),
             "fcc": bulk("Li", "fcc", a=4.33, cubic=True) * (2, 2, 2),
             "cI16": _ci16() * (2, 2, 2)}[name]
    noisy = atoms.copy()
    noisy.positions += rng.normal(0, sigma, noisy.positions.shape)
    strict = analyze_symmetry(noisy, symprec=1e-4)
    assert strict.number == 1                     # noise breaks exact symmetry
    res = analyze_symmetry(noisy, symprec=0.1)
    want = {"bcc": (229, "Im-3m"), "fcc": (225, "Fm-3m"), "cI16": (220, "I-43d")}[name]
    assert (res.number, res.international) == want
    (orbit,) = res.orbits
    # rms distance of the atoms from the ideal sites: sqrt(3) sigma (minus the fitted modes)
    assert orbit.rms_deviation == pytest.approx(np.sqrt(3) * sigma, rel=0.15)
    if name == "cI16":
        # least squares over 3 n coordinates: error of x ~ sigma / (a sqrt(3 n))
        err = sigma / (5.2716 * np.sqrt(3 * len(noisy)))
        assert abs(abs(orbit.free_coordinates["x"]) - X_CI16) < 5 * err


def test_reference_structures(reference_path):
    import ase.io

    d = reference_path / "li-dp" / "structures"
    if not d.is_dir():
        pytest.skip("li-dp structures not present")
    _check(analyze_symmetry(ase.io.read(d / "bcc.vasp")), 229, "Im-3m", [("Li", "2a")])
    _check(analyze_symmetry(ase.io.read(d / "fcc.vasp")), 225, "Fm-3m", [("Li", "4a")])
    res = analyze_symmetry(ase.io.read(d / "cI16.vasp"))
    _check(res, 220, "I-43d", [("Li", "16c")])
    assert abs(res.orbits[0].free_coordinates["x"]) == pytest.approx(X_CI16, abs=1e-6)


def test_time_averaged_thermal_configuration():
    """Frames with large thermal noise: each frame is P1, the average recovers I-43d and x."""
    rng = np.random.default_rng(3)
    base = _ci16() * (2, 1, 1)
    n, nf, sigma = len(base), 200, 0.15
    pos = base.positions[None] + rng.normal(0, sigma, (nf, n, 3))
    cell = np.array(base.cell[:])
    traj = Trajectory(positions=pos, cells=np.repeat(cell[None], nf, 0), origins=np.zeros((nf, 3)),
                      pbc=np.ones(3, bool), ids=np.arange(1, n + 1), symbols=np.array(["Li"] * n),
                      unwrapped=True)
    assert analyze_symmetry(traj.frame(0).to_ase(), symprec=0.05).number == 1
    res = analyze_symmetry(average_structure(traj), symprec=0.05)
    assert res.number == 220
    err = sigma / np.sqrt(nf) / (5.2716 * np.sqrt(3 * n))
    assert abs(abs(res.orbits[0].free_coordinates["x"]) - X_CI16) < 5 * err


def test_bad_input():
    with pytest.raises(ValueError, match="symprec must be > 0"):
        analyze_symmetry(bulk("Li", "bcc", a=3.44), symprec=0.0)
    with pytest.raises(ValueError, match="no atoms"):
        analyze_symmetry((np.eye(3), np.zeros((0, 3)), []))
