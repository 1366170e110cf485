"""``qfe model build`` (qfe.potentials.teacher_build): settings, seeded configurations, the
labels -> deepmd-kit data path with an ASE teacher (Lennard-Jones, no optional packages), and
(slow, skipped without the optional teachers) a tiny end-to-end LaH10 build with CHGNet."""

import json

import numpy as np
import pytest
import spglib
from ase.calculators.lj import LennardJones

from qfe.potentials.li_model.dataset import read_system
from qfe.potentials.teacher_build import (
    TeacherBuildSettings,
    TeacherModelBuild,
    configurations,
    training_input,
)
from qfe.teachers import CalculatorTeacher


def _lj():
    return LennardJones(sigma=1.0, epsilon=0.01, rc=3.0, smooth=True)


def test_settings_round_trip_and_checks(tmp_path):
    s = TeacherBuildSettings.quick(seed=3)
    assert TeacherBuildSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match=r"unknown build setting\(s\) \['bogus'\]"):
        TeacherBuildSettings.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="unknown system 'yh6'"):
        TeacherBuildSettings(system="yh6").check()
    with pytest.raises(ValueError, match="one entry per type"):
        TeacherBuildSettings(sel=[10]).check()
    TeacherModelBuild(tmp_path, settings=s, teacher=object())
    with pytest.raises(ValueError, match=r"different settings \(changed: \['seed'\]\)"):
        TeacherModelBuild(tmp_path, settings=TeacherBuildSettings.quick(seed=4))


def test_configurations_are_seeded_and_span_the_settings():
    s = TeacherBuildSettings.quick()
    a, b = configurations(s), configurations(s)
    c = configurations(TeacherBuildSettings.quick(seed=s.seed + 1))
    n = len(s.lattice_parameters) * (1 + len(s.displacement_sigmas) * s.frames_per)
    assert len(a) == n
    np.testing.assert_array_equal(np.stack([x.positions for x in a]),
                                  np.stack([x.positions for x in b]))
    assert not np.allclose(np.stack([x.positions for x in a]), np.stack([x.positions for x in c]))
    first = a[0]
    assert spglib.get_spacegroup((first.cell.array, first.get_scaled_positions(),
                                  first.numbers)) == "Fm-3m (225)"
    # volumes of the primitive cell a^3/4, within the strain bound
    v0 = np.repeat(np.array(s.lattice_parameters) ** 3 / 4, n // len(s.lattice_parameters))
    vols = np.array([x.get_volume() for x in a])
    assert np.all(np.abs(vols / v0 - 1) < 3.5 * s.max_strain)
    inp = training_input(s, ["t"], ["v"])
    assert inp["model"]["type_map"] == ["La", "H"] and inp["model"]["descriptor"]["sel"] == s.sel


def test_labels_and_deepmd_data_with_an_ase_teacher(tmp_path):
    s = TeacherBuildSettings.quick(lattice_parameters=[5.0], frames_per=2)
    teacher = CalculatorTeacher("lj", "Lennard-Jones (test)", _lj)
    b = TeacherModelBuild(tmp_path, settings=s, teacher=teacher)
    b.run(["configs", "labels", "data"])
    confs = configurations(s)
    train, valid = read_system(tmp_path / "data" / "train"), read_system(tmp_path / "data" /
                                                                         "valid")
    assert train["type_map"] == ["La", "H"]
    assert list(train["types"]) == [0] + [1] * 10
    assert len(train["energy"]) + len(valid["energy"]) == len(confs)
    # the stored virial is deepmd-kit's -dE/dstrain: check one frame by finite differences
    at = confs[0].copy()
    at.calc = _lj()
    k = int(np.argmin(np.abs(train["energy"] - at.get_potential_energy())))
    assert train["energy"][k] == pytest.approx(at.get_potential_energy(), abs=1e-9)
    h = 1e-5
    fd = np.zeros((3, 3))
    for a_ in range(3):
        for b_ in range(3):
            e = []
            for sgn in (1, -1):
                eps = np.zeros((3, 3))              # displacement gradient, one entry
                eps[a_, b_] = sgn * h
                x = at.copy()
                x.set_cell(at.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
                x.calc = _lj()
                e.append(x.get_potential_energy())
            fd[a_, b_] = -(e[0] - e[1]) / (2 * h)
    np.testing.assert_allclose(train["virial"][k], fd, atol=1e-6)
    # labels stage is resumable: a second run does not relabel
    mtime = (tmp_path / "labels.npz").stat().st_mtime_ns
    b.run(["labels"])
    assert (tmp_path / "labels.npz").stat().st_mtime_ns == mtime


@pytest.mark.slow
@pytest.mark.teachers
def test_tiny_lah10_build_with_chgnet(tmp_path):
    """End to end in a few minutes: the held-out errors must beat the trivial predictors (the
    teacher's energy spread and force rms), the only honest bar for a 17-frame model."""
    pytest.importorskip("chgnet")
    pytest.importorskip("deepmd")
    s = TeacherBuildSettings.quick(training_steps=1500)
    report = TeacherModelBuild(tmp_path, settings=s).run()
    assert (tmp_path / "model" / "model.pb").exists()
    h = report["held_out"]
    assert h["energy_rmse_meV_per_atom"] < 0.5 * h["teacher_spread"]["energy_std_meV_per_atom"]
    assert h["force_rmse_eV_per_A"] < h["teacher_spread"]["force_rms_eV_per_A"]
    json.dumps(report)
