"""``qfe analyze ...``: every sub-command runs on small files and writes CSV/JSON whose numbers
match independent references (the generating random walk, direct sums over pairs and time
origins, analytic white-noise values) and a PNG of the standard size that is not blank; bad
input ends with exit status 2 and a message naming the file and line."""

from __future__ import annotations

import json
import types as pytypes

import numpy as np
import pytest

from qfe import units
from qfe.analysis.io import write_lammps_dump
from qfe.analysis.plots import DPI, FIGSIZE
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
    return pytypes.SimpleNamespace(path=path, positions=true, cell=cell, types=types)


def _direct_msd(x, lags):
    """MSD (A^2 per atom) at each lag, averaged over all time origins, by direct sums."""
    return np.array([np.mean(np.sum((x[m:] - x[:len(x) - m]) ** 2, axis=-1)) for m in lags])


def _direct_coordination(positions, cell, sel_a, sel_b, r):
    """Mean number of b atoms within r of an a atom (every periodic image), direct sums."""
    frac = np.linalg.solve(cell.T, positions.T).T
    wrapped = (frac - np.floor(frac)) @ cell
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T @ cell
    d = wrapped[sel_b][None, :, None, :] + shifts[None, None] - wrapped[sel_a][:, None, None]
    dist = np.linalg.norm(d, axis=-1)
    return np.count_nonzero((dist < r) & (dist > 1e-9)) / np.count_nonzero(sel_a)


def _check_png(path):
    """The PNG decodes to the standard size and shows more than the background."""
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (FIGSIZE[1] * DPI, FIGSIZE[0] * DPI)
    assert np.ptp(image[..., :3]) > 0.5                  # lines drawn on the white background


def _json(path):
    with open(path) as fh:
        return json.load(fh)


def test_msd_command(walk_dump, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["analyze", "msd", str(walk_dump.path), "--timestep", "0.001", "--type-map",
               "Li,H", "--fit-window", "0.1", "0.5", "-o", str(out)])
    assert rc == 0
    info = _json(out / "msd.json")
    for sp, d_true in (("Li", 0.05), ("H", 0.4)):
        fit = info["species"][sp]["diffusion"]
        assert abs(fit["D_A2_per_ps"] - d_true) < 4 * fit["D_err_A2_per_ps"], (sp, fit)
    table = np.genfromtxt(out / "msd.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["time_ps"], 0.01 * np.arange(300), atol=1e-12)
    lags = np.arange(300)
    for sp, t in (("Li", 1), ("H", 2)):
        direct = _direct_msd(walk_dump.positions[:, walk_dump.types == t], lags)
        np.testing.assert_allclose(table[f"msd_{sp}_A2"], direct, rtol=1e-6, atol=1e-9)
    _check_png(out / "msd.png")
    printed = capsys.readouterr().out
    for sp in ("Li", "H"):
        assert f"D = {info['species'][sp]['diffusion']['D_A2_per_ps']:.4g} +-" in printed


def test_rmsd_rdf_dos_commands(walk_dump, tmp_path):
    out = tmp_path / "o"
    common = [str(walk_dump.path), "--type-map", "Li,H", "-o", str(out)]
    assert main(["analyze", "rmsd", *common, "--timestep", "0.001", "--species", "H",
                 "--stop", "40", "--lag-stride", "13"]) == 0
    table = np.genfromtxt(out / "rmsd.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["time_ps"], [0, 0.13, 0.26, 0.39])
    h = walk_dump.positions[:, walk_dump.types == 2]
    direct = [np.mean(np.sum((h[lag] - h[0]) ** 2, axis=-1)) for lag in (0, 13, 26, 39)]
    np.testing.assert_allclose(table["msd_A2"], direct, rtol=1e-6, atol=1e-9)
    assert np.all(table["msd_prime_A2"] <= table["msd_A2"] + 1e-9)   # min over P includes P = 1

    assert main(["analyze", "rdf", *common, "--rmax", "4", "--bins", "40", "--stride", "50"]) == 0
    info = _json(out / "rdf.json")
    assert set(info["pairs"]) == {"H-H", "H-Li", "Li-Li"} and info["n_frames"] == 6
    header = (out / "rdf.csv").read_text().splitlines()[0].split(",")
    table = dict(zip(header, np.loadtxt(out / "rdf.csv", delimiter=",", skiprows=1).T))
    assert table["r_A"][-1] == pytest.approx(4.0 - 0.05)
    frames = walk_dump.positions[::50]
    type_of = {"Li": 1, "H": 2}
    for a, b in (("H", "H"), ("H", "Li"), ("Li", "Li")):
        direct = np.mean([_direct_coordination(x, walk_dump.cell, walk_dump.types == type_of[a],
                                               walk_dump.types == type_of[b], 4.0)
                          for x in frames])
        assert table[f"n_{a}-{b}"][-1] == pytest.approx(direct, rel=1e-9), (a, b)

    assert main(["analyze", "dos", *common, "--timestep", "0.001", "--segment", "64"]) == 0
    info = _json(out / "dos.json")
    assert info["sets"]["all"]["n_modes"] == pytest.approx(3 * 48)
    assert info["sets"]["H"]["n_modes"] == pytest.approx(3 * 32)
    assert info["nyquist_THz"] == pytest.approx(50.0)
    # white-noise velocities: flat spectrum, mean frequency = Nyquist / 2 and the zero-point
    # temperature of a flat band up to 50 THz: h <nu> / 2 kB
    white = info["sets"]["all"]
    assert white["mean_frequency_THz"] == pytest.approx(25.0, rel=0.05)
    assert white["T_zero_K"] == pytest.approx(units.H_PLANCK * 25.0 / (2 * units.KB), rel=0.05)
    for name in ("rmsd.png", "rdf.png", "dos.png"):
        _check_png(out / name)


def test_figures_plot_the_results(walk_dump):
    """What the PNGs show: the figure of each analysis draws its result's numbers."""
    import matplotlib.pyplot as plt

    from qfe.analysis import plots
    from qfe.analysis.io import read_trajectory
    from qfe.analysis.msd import msd_per_species
    from qfe.analysis.rdf import rdf
    from qfe.analysis.vdos import vdos_by_species

    traj = read_trajectory(walk_dump.path, timestep=0.001, type_map="Li,H")
    res = msd_per_species(traj, window=(0.1, 0.5))
    lines = plots.msd_figure(res).axes[0].get_lines()
    fitted = [ln for ln in lines if ln.get_linestyle() == "--"]      # in species order
    assert list(res.msd) == ["H", "Li"] and len(fitted) == 2
    for sp, fit_line in zip(res.msd, fitted):
        (line,) = [ln for ln in lines if ln.get_label() == sp]
        np.testing.assert_array_equal(line.get_ydata(), res.msd[sp].msd)
        fit = res.diffusion[sp]
        np.testing.assert_allclose(fit_line.get_xydata(), np.column_stack(
            [fit.window, fit.slope * np.array(fit.window) + fit.intercept]))
    g = rdf(traj, r_max=4.0, n_bins=40, frames=slice(None, None, 50))
    shown = {ln.get_label(): ln.get_ydata() for ln in plots.rdf_figure(g).axes[0].get_lines()}
    for (a, b), values in g.g.items():
        np.testing.assert_array_equal(shown[f"{a}-{b}"], values)
    spectra = vdos_by_species(traj, segment=64)
    assert list(spectra) == ["H", "Li", "all"]
    lines = plots.vdos_figure(spectra).axes[0].get_lines()
    shown = {ln.get_label(): ln.get_ydata() for ln in lines}
    for name, r in spectra.items():
        np.testing.assert_allclose(shown[name], r.g / (3 * r.n_atoms))
    plt.close("all")


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
