"""qfe.structures.load_structure: the one structure reader (CLI, NCT, analysis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase.build import bulk

from qfe.analysis.io import write_lammps_dump
from qfe.structures import load_structure


def _bcc():
    return bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)


def test_atoms_are_copied():
    atoms = _bcc()
    back = load_structure(atoms)
    assert back is not atoms and back == atoms
    back.positions[0] += 1.0
    assert not np.allclose(back.positions[0], atoms.positions[0])


@pytest.mark.parametrize("name, fmt", [("POSCAR", "vasp"), ("li.cif", "cif"),
                                       ("data.li", "lammps-data"), ("li.lmp", "lammps-data"),
                                       ("li.xyz", "extxyz")])
def test_ase_and_lammps_data_files(tmp_path, name, fmt):
    import ase.io

    atoms = _bcc()
    atoms.rattle(0.01, seed=3)
    kwargs = {"masses": True} if fmt == "lammps-data" else {}
    ase.io.write(tmp_path / name, atoms, format=fmt, **kwargs)
    back = load_structure(tmp_path / name)
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.get_cell(), atoms.get_cell(), atol=1e-6)
    np.testing.assert_allclose(back.get_scaled_positions(), atoms.get_scaled_positions(),
                               atol=1e-6)


def test_frames_of_a_lammps_dump_and_a_trajectory(tmp_path):
    import ase.io

    atoms = _bcc()
    rng = np.random.default_rng(0)
    frames = atoms.positions + rng.normal(0.0, 0.05, (3, len(atoms), 3))
    dump = tmp_path / "md.lammpstrj"
    write_lammps_dump(dump, frames, np.array(atoms.cell), np.ones(len(atoms), int), precision=8)
    for index in (0, 1, -1):
        back = load_structure(dump, index, type_map="Li")
        assert back.get_chemical_symbols() == ["Li"] * len(atoms)
        np.testing.assert_allclose(back.positions, frames[index], atol=1e-7)
        np.testing.assert_allclose(back.cell[:], atoms.cell[:], atol=1e-9)
    assert load_structure(dump).get_atomic_numbers().tolist() == [1] * len(atoms)  # no type map
    with pytest.raises(ValueError, match="has 3 frames; frame 5 does not exist"):
        load_structure(dump, 5)

    traj = tmp_path / "md.traj"
    images = []
    for x in frames:
        image = atoms.copy()
        image.positions = x
        images.append(image)
    ase.io.write(traj, images)
    np.testing.assert_allclose(load_structure(traj).positions, frames[-1])
    np.testing.assert_allclose(load_structure(traj, 1).positions, frames[1])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.vasp"):
        load_structure(tmp_path / "nothing.vasp")
    (tmp_path / "junk.cif").write_text("not a cif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="could not read structure .*junk.cif"):
            load_structure(tmp_path / "junk.cif")


def test_one_implementation():
    """qfe.nct and the analysis CLI use this very function."""
    import qfe.nct
    from qfe.nct.phonons import load_structure as nct_load

    assert nct_load is load_structure
    assert qfe.nct.load_structure is load_structure
