"""``qfe analyze ...``: every sub-command runs on small files, writes CSV/JSON/PNG whose numbers
match the Python API (itself checked against references in the other test files), and bad
input ends with exit status 2 and a message naming the file and line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qfe import units
from qfe.analysis.io import write_lammps_dump
from qfe.cli import main


@pytest.fixture(scope="module")
def walk_dump(tmp_path_factory):
    """Two species random-walking in a triclinic box (wrapped, with image flags), with
    velocities; 300 frames every 10 steps of 1 fs."""
    rng = np.random.default_rng(0)
    n, nf = 48, 300
    cell = np.array([[12.0, 0, 0], [2.0, 11.0, 0], [-1.0, 1.5, 10.0]])
    types = np.array([1] * 16 + [2] * 32)
    d_of_type = np.where(types == 1, 0.05, 0.4)                  # A^2/ps
    dt_frame = 0.01                                               # ps
    steps = rng.normal(size=(nf, n, 3)) * np.sqrt(2 * d_of_type * dt_frame)[None, :, None]
    steps[0] = rng.random((n, 3)) @ cell
    true = np.cumsum(steps, axis=0)
    frac = np.linalg.solve(cell.T, true.reshape(-1, 3).T).T.reshape(true.shape)
    images = np.floor(frac).astype(int)
    vel = rng.normal(size=(nf, n, 3))
    path = tmp_path_factory.mktemp("cli") / "walk.lammpstrj"
    write_lammps_dump(path, (frac - images) @ cell, cell, types, images=images, velocities=vel,
                      timesteps=np.arange(nf) * 10, precision=8)
    return path


def _json(path):
    with open(path) as fh:
        return json.load(fh)


def test_msd_command(walk_dump, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["analyze", "msd", str(walk_dump), "--timestep", "0.001", "--type-map", "Li,H",
               "--fit-window", "0.1", "0.5", "-o", str(out)])
    assert rc == 0
    info = _json(out / "msd.json")
    for sp, d_true in (("Li", 0.05), ("H", 0.4)):
        fit = info["species"][sp]["diffusion"]
        assert abs(fit["D_A2_per_ps"] - d_true) < 4 * fit["D_err_A2_per_ps"], (sp, fit)
    table = np.genfromtxt(out / "msd.csv", delimiter=",", names=True)
    assert table["time_ps"][1] == pytest.approx(0.01)
    assert (out / "msd.png").stat().st_size > 1000
    assert "D =" in capsys.readouterr().out


def test_rmsd_rdf_dos_commands(walk_dump, tmp_path):
    out = tmp_path / "o"
    common = [str(walk_dump), "--type-map", "Li,H", "-o", str(out)]
    assert main(["analyze", "rmsd", *common, "--timestep", "0.001", "--species", "H",
                 "--stop", "40", "--lag-stride", "13"]) == 0
    table = np.genfromtxt(out / "rmsd.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["time_ps"], [0, 0.13, 0.26, 0.39])
    assert np.all(table["msd_prime_A2"] <= table["msd_A2"] + 1e-9)   # min over P includes P = 1
    assert main(["analyze", "rdf", *common, "--rmax", "4", "--bins", "40", "--stride", "50"]) == 0
    info = _json(out / "rdf.json")
    assert set(info["pairs"]) == {"H-H", "H-Li", "Li-Li"} and info["n_frames"] == 6
    assert main(["analyze", "dos", *common, "--timestep", "0.001", "--segment", "64"]) == 0
    info = _json(out / "dos.json")
    assert info["sets"]["all"]["n_modes"] == pytest.approx(3 * 48)
    assert info["sets"]["H"]["n_modes"] == pytest.approx(3 * 32)
    assert info["nyquist_THz"] == pytest.approx(50.0)
    # white-noise velocities: flat spectrum, mean frequency = Nyquist / 2
    assert info["sets"]["all"]["mean_frequency_THz"] == pytest.approx(25.0, rel=0.05)
    for name in ("rmsd.png", "rdf.png", "dos.png"):
        assert (out / name).stat().st_size > 1000


def test_symmetry_command(tmp_path, capsys):
    import ase.io
    from ase.spacegroup import crystal

    poscar = tmp_path / "POSCAR"
    ase.io.write(poscar, crystal("Li", [(0.055,) * 3], spacegroup=220,
                                 cellpar=[5.27, 5.27, 5.27, 90, 90, 90]), format="vasp")
    out = tmp_path / "o"
    assert main(["analyze", "symmetry", str(poscar), "-o", str(out),
                 "--write-standardized", str(tmp_path / "std.cif")]) == 0
    info = _json(out / "symmetry.json")
    assert info["international"] == "I-43d" and info["space_group_number"] == 220
    (orbit,) = info["wyckoff_orbits"]
    assert orbit["wyckoff"] == "16c"
    assert abs(orbit["free_coordinates"]["x"]) == pytest.approx(0.055, abs=1e-6)
    assert "I-43d" in capsys.readouterr().out
    assert len(ase.io.read(tmp_path / "std.cif")) == 16


def test_thermo_command(tmp_path):
    rng = np.random.default_rng(1)
    natoms, e0, omega = 32, -2.0, 10.0 * units.THZ_TO_RAD_PER_PS
    args = ["analyze", "thermo", "-o", str(tmp_path / "o")]
    for label, energy in (("classical", lambda t: units.KB * t),
                          ("quantum", lambda t: units.quantum_oscillator_energy(omega, t))):
        args.append(f"--{label}")
        for temp in (50, 100, 300):
            path = tmp_path / f"{label}{temp}.csv"
            e = natoms * (e0 + 3 * energy(temp)) + rng.normal(0, 1e-4, 500)
            np.savetxt(path, np.column_stack([np.arange(500), e]), delimiter=",",
                       header="Step,TotEng", comments="")
            args.append(f"{temp}={path}")
    assert main(args + ["--natoms", str(natoms)]) == 0
    info = _json(tmp_path / "o" / "thermo.json")
    assert info["e0_eV_per_atom"] == pytest.approx(e0, abs=1e-5)
    rows = np.genfromtxt(tmp_path / "o" / "thermo.csv", delimiter=",", names=True, dtype=None,
                         encoding=None)
    quantum = rows[rows["label"] == "quantum"]
    assert quantum["E_minus_E0_over_3kB_K"][0] == pytest.approx(
        units.quantum_oscillator_energy(omega, 50) / units.KB, rel=1e-3)


def test_bad_input_exit_status(tmp_path, capsys):
    bad = tmp_path / "bad.dump"
    bad.write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n"
                   "0 1\n0 1\n0 1\nITEM: ATOMS id type x y z\n1 1 0 0 0\n")
    assert main(["analyze", "rdf", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.dump:11" in err and "file ends after 1 of 2 atom lines" in err
    assert main(["analyze", "msd", str(tmp_path / "missing.dump")]) == 2
    assert "missing.dump" in capsys.readouterr().err
    assert main(["analyze", "thermo", "--quantum", str(bad)]) == 2
    assert "give the bath temperature" in capsys.readouterr().err
