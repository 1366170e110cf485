"""The ``qfe model build-li`` pipeline: its parts (fast) and a tiny end-to-end build (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qfe.potentials.li_model import sampling
from qfe.potentials.li_model.dataset import read_system, split_indices, write_system
from qfe.potentials.li_model.settings import BuildSettings


def test_settings_round_trip_and_unknown_keys(tmp_path):
    s = BuildSettings(seed=5, training_steps=123)
    s.save(tmp_path / "s.json")
    assert BuildSettings.load(tmp_path / "s.json").to_dict() == \
        BuildSettings.from_dict(s.to_dict()).to_dict()
    with pytest.raises(ValueError, match=r"unknown build setting\(s\) \['bogus'\]"):
        BuildSettings.from_dict({"bogus": 1})


@pytest.mark.parametrize("phase,natoms", [("bcc", 54), ("fcc", 32), ("hcp", 36)])
def test_crystals_have_the_requested_volume(phase, natoms):
    s = BuildSettings()
    atoms = sampling.lithium_crystal(phase, 18.3, s.supercells[phase])
    assert len(atoms) == natoms
    assert abs(atoms.get_volume() / natoms - 18.3) < 1e-9
    # nearest-neighbour distance of the ideal lattices
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 4.0)
    expected = {"bcc": np.sqrt(3) / 2 * (2 * 18.3) ** (1 / 3),
                "fcc": (4 * 18.3) ** (1 / 3) / np.sqrt(2),
                "hcp": (np.sqrt(2) * 18.3) ** (1 / 3)}[phase]
    assert abs(d.min() - expected) < 1e-9
    with pytest.raises(ValueError, match="unknown phase 'dhcp'"):
        sampling.lithium_crystal("dhcp", 18.0)


def test_sampling_is_seeded():
    a = sampling.static_configurations(BuildSettings(seed=1), "bcc")
    b = sampling.static_configurations(BuildSettings(seed=1), "bcc")
    c = sampling.static_configurations(BuildSettings(seed=2), "bcc")
    np.testing.assert_array_equal(a["displaced"]["positions"], b["displaced"]["positions"])
    assert not np.allclose(a["displaced"]["positions"], c["displaced"]["positions"])
    s = BuildSettings()
    assert len(a["lattice"]["positions"]) == len(s.lattice_volumes)
    assert len(a["displaced"]["positions"]) == \
        len(s.volumes) * len(s.displacement_sigmas) * s.displaced_per_sigma
    vols = a["strained"]["volume"]
    assert np.all((vols > 16.0 * 0.9) & (vols < 22.0 * 1.1))
    tasks = sampling.md_tasks(s)
    assert len(tasks) == len(s.phases) * len(s.volumes) * len(s.md_temperatures)
    assert len({t["seed"] for t in tasks}) == len(tasks)
    assert all(0 < t["seed"] <= 900_000_000 for t in tasks)


def test_dataset_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    m, n = 4, 5
    pos, cells = 3 * rng.normal(size=(m, n, 3)), 4 * np.eye(3) + rng.normal(size=(m, 3, 3))
    e, f, v = rng.normal(size=m), rng.normal(size=(m, n, 3)), rng.normal(size=(m, 3, 3))
    write_system(tmp_path / "sys", pos, cells, e, f, v)
    back = read_system(tmp_path / "sys")
    for key, ref in (("cells", cells), ("energy", e), ("forces", f), ("virial", v)):
        np.testing.assert_array_equal(back[key], ref)
    # positions come back wrapped into the cell: same up to lattice vectors
    frac = np.einsum("mia,mab->mib", back["positions"], np.linalg.inv(cells))
    shift = np.einsum("mia,mab->mib", back["positions"] - pos, np.linalg.inv(cells))
    assert np.all((frac >= -1e-12) & (frac < 1 + 1e-12))
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-9)
    assert back["type_map"] == ["Li"] and list(back["types"]) == [0] * n
    train, valid = split_indices(10, 0.1, np.random.default_rng(1))
    assert len(valid) == 1 and len(train) == 9 and not set(train) & set(valid)
    with pytest.raises(ValueError, match="validation fraction"):
        split_indices(10, 1.5, np.random.default_rng(1))


def test_training_input_is_valid_for_deepmd():
    pytest.importorskip("deepmd")
    from deepmd.utils.argcheck import normalize

    from qfe.potentials.li_model.training import training_input

    inp = training_input(BuildSettings(), ["a"], ["b"])
    normalize(json.loads(json.dumps(inp)))       # raises on an invalid input
    assert inp["model"]["descriptor"]["type"] == "se_e2_a"
    assert inp["model"]["fitting_net"]["precision"] == "float64"
    assert inp["loss"]["relative_f"] == 0.05
    plain = training_input(BuildSettings(relative_f=None), ["a"], ["b"])
    assert "relative_f" not in plain["loss"]
    hybrid = training_input(BuildSettings(three_body_rcut=4.0, relative_f=0.1), ["a"], ["b"])
    normalize(json.loads(json.dumps(hybrid)))
    desc = hybrid["model"]["descriptor"]
    assert [d["type"] for d in desc["list"]] == ["se_e2_a", "se_e3"]
    assert desc["list"][1]["rcut"] == 4.0 and desc["list"][1]["rcut_smth"] == 3.4
    assert hybrid["loss"]["relative_f"] == 0.1
    with pytest.raises(ValueError, match="three_body_rcut_smth"):
        training_input(BuildSettings(three_body_rcut=6.0), ["a"], ["b"])


def test_stiffness_ratios_recover_a_known_force_scaling():
    """A 'model' whose forces are the teacher's times c has stiffness ratio exactly c; frames are
    grouped by volume per atom and count once each, other frame kinds are ignored, predictions
    merge."""
    from qfe.potentials.li_model.validation import stiffness_ratios

    rng = np.random.default_rng(3)
    natoms = 4
    volumes = np.array([19.2, 19.2, 20.0]) * natoms
    teacher = rng.normal(size=(3, natoms, 3))
    teacher[1] *= 10.0                           # a larger displacement: same weight
    scale = np.array([1.2, 1.0, 0.9])[:, None, None]
    first = {"bcc_displaced": {"natoms": natoms, "volume": volumes,
                               "forces": (scale * teacher, teacher)},
             "bcc_md": {"natoms": natoms, "volume": volumes,
                        "forces": (5.0 * teacher, teacher)}}
    second = {"bcc_displaced": {"natoms": natoms, "volume": volumes[:1],
                                "forces": (1.4 * teacher[:1], teacher[:1])}}
    ratios = stiffness_ratios(first, second)
    assert set(ratios) == {"bcc"} and set(ratios["bcc"]) == {"19.2", "20.0"}
    assert ratios["bcc"]["19.2"] == pytest.approx((1.2 + 1.0 + 1.4) / 3, rel=1e-12)
    assert ratios["bcc"]["20.0"] == pytest.approx(0.9, rel=1e-12)


def test_cli_rejects_bad_arguments(capsys):
    from qfe.cli import main

    assert main(["model", "build-li", "--stages", "configs,bogus"]) == 2
    assert "unknown stage(s) ['bogus']" in capsys.readouterr().err
    assert main(["model", "build-li", "--steps", "0"]) == 2


def test_install_targets_the_source_checkout(tmp_path, monkeypatch):
    """--install writes into python/qfe/data/li_default of the checkout around the working
    directory (not into site-packages, where the next install would overwrite it)."""
    from pathlib import Path

    from qfe.potentials.cli import _source_data_dir

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="source checkout"):
        _source_data_dir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "python" / "qfe" / "data").mkdir(parents=True)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert _source_data_dir() == Path(tmp_path) / "python" / "qfe" / "data" / "li_default"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*value. access is now deprecated:DeprecationWarning")
def test_quick_build_end_to_end(tmp_path):
    """Every stage on a tiny data set (the resulting model is not accurate), then a resume."""
    pytest.importorskip("deepmd")
    from qfe.potentials.li_model.pipeline import LithiumModelBuild

    build = LithiumModelBuild(tmp_path / "work", tmp_path / "out", BuildSettings.quick())
    report = build.run()
    for name in ("model.pb", "model.dp", "input.json", "data_settings.json", "report.json",
                 "plots/parity.png"):
        assert (tmp_path / "out" / name).exists(), name
    assert report["heldout"]["configurations"] > 0
    assert len(report["phonons_gamma"]["model_THz"]) == 48
    # resuming does nothing and returns the same report
    again = LithiumModelBuild(tmp_path / "work", tmp_path / "out").run()
    assert again == report
    with pytest.raises(ValueError, match="different settings"):
        LithiumModelBuild(tmp_path / "work", tmp_path / "out", BuildSettings.quick(seed=3))
