"""Every malformed or unphysical fix qtb input stops with a LAMMPS ERROR naming the problem."""

from __future__ import annotations

import subprocess

import pytest

from qfe.lammps import create_lammps, lammps_environment, lmp_executable

from qtb_decks import deck_error

BOX = ["units metal", "atom_style atomic", "lattice sc 3.0", "region box block 0 2 0 2 0 2",
       "create_box 2 box", "create_atoms 1 box", "mass * 1.008", "timestep 0.001"]


def _error_of(commands, box=BOX):
    return deck_error(box, commands)


@pytest.mark.parametrize("args, message", [
    ("temp", "missing value after keyword 'temp'"),
    ("temp 300 damp", "missing value after keyword 'damp'"),
    ("seed", "missing value after keyword 'seed'"),
    ("300 1.0", "unknown keyword '300'"),
    ("temp 300 tdamp 1", "unknown keyword 'tdamp'"),
    ("temp -5", "temp must be >= 0 (got -5)"),
    ("temp 300 -1", "temp (ramp end) must be >= 0 (got -1)"),
    ("damp 0", "damp must be > 0 (got 0)"),
    ("damp -0.1", "damp must be > 0 (got -0.1)"),
    ("f_max 0", "f_max must be > 0 (got 0)"),
    ("f_max -3", "f_max must be > 0 (got -3)"),
    ("N_f 0", "N_f must be a positive integer (got 0)"),
    ("N_f 2.5", "N_f must be a positive integer (got '2.5')"),
    ("seed 0", "seed must be an integer in [1, 4294967295] (got 0)"),
    ("seed -7", "seed must be an integer in [1, 4294967295] (got -7)"),
    ("seed 12.5", "seed must be an integer in [1, 4294967295] (got '12.5')"),
    ("seed abc", "seed must be an integer in [1, 4294967295] (got 'abc')"),
    ("temp abc", "abc"),
    ("zero maybe", "maybe"),
    ("deconvolution maybe", "deconvolution must be no, yes, kinetic or potential (got 'maybe')"),
    ("deconvolution", "missing value after keyword 'deconvolution'"),
    ("N_f 3000 deconvolution yes", "N_f must be <= 2048 with deconvolution (got 3000)"),
    ("N_f 100001", "N_f must be <= 100000 (got 100001)"),
    ("adaptive maybe", "maybe"),
    ("adaptive yes adapt_rate 0", "adapt_rate must be > 0 (got 0)"),
    ("adaptive yes adapt_rate -1", "adapt_rate must be > 0 (got -1)"),
    ("adaptive yes adapt_skip -1", "adapt_skip must be an integer >= 0 (got -1)"),
    ("adaptive yes adapt_skip 1.5", "adapt_skip must be an integer >= 0 (got '1.5')"),
    ("adaptive yes adapt_min 0",
     "adapt_min (lower bound of gamma_r/gamma) must be in (0, 1] (got 0)"),
    ("adaptive yes adapt_min 1.5", "must be in (0, 1] (got 1.5)"),
    ("adaptive yes adapt_scheme fancy", "adapt_scheme must be simple or normalised (got 'fancy')"),
    ("fdt_every 0", "fdt_every must be a positive integer (got 0)"),
    ("fdt_file", "missing value after keyword 'fdt_file'"),
    ("N_f 99999999999", "N_f must be <= 100000 (got 99999999999)"),
])
def test_bad_arguments(args, message):
    err = _error_of([f"fix q all qtb {args}"])
    assert err.startswith("ERROR:") and message in err, err


def test_f_max_above_nyquist_checked_at_init():
    # dt = 0.001 ps -> Nyquist frequency 500 THz
    err = _error_of(["fix nve all nve", "fix q all qtb f_max 600", "run 0"])
    assert "f_max = 600 is above the Nyquist frequency 1/(2*dt) = 500" in err, err


def test_timestep_change_makes_f_max_invalid():
    err = _error_of(["fix nve all nve", "fix q all qtb f_max 300", "run 0", "timestep 0.002",
                     "run 0"])
    assert "above the Nyquist frequency 1/(2*dt) = 250" in err, err


def test_per_atom_masses_rejected():
    box = ["units metal", "atom_style sphere", "lattice sc 3.0", "region box block 0 2 0 2 0 2",
           "create_box 1 box", "create_atoms 1 box"]
    err = _error_of(["fix q all qtb"], box=box)
    assert "per-atom masses (rmass)" in err, err


def test_atom_in_two_qtb_fixes():
    err = _error_of(["group a id 1:5", "group b id 5:8", "fix nve all nve",
                     "fix q1 a qtb", "fix q2 b qtb seed 7", "run 0"])
    assert "both act on atom ID 5" in err and "at most one fix qtb" in err, err


def test_disjoint_groups_are_fine():
    lmp = create_lammps()
    for c in BOX + ["group a id 1:4", "group b id 5:8", "fix nve all nve",
                    "fix q1 a qtb temp 100", "fix q2 b qtb temp 200 seed 7", "run 10"]:
        lmp.command(c)
    lmp.close()


def test_respa_rejected():
    err = _error_of(["fix nve all nve", "fix q all qtb", "run_style respa 2 2", "run 0"])
    assert "does not support run_style respa" in err, err


def test_error_line_from_lmp(tmp_path):
    """The same through the `lmp` executable: an `ERROR:` line, non-zero exit, no hang."""
    deck = tmp_path / "in.bad"
    deck.write_text("\n".join(BOX + ["fix q all qtb temp 300 damp 0 seed 5"]) + "\n")
    proc = subprocess.run([lmp_executable(), "-in", str(deck), "-log", "none"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=lammps_environment())
    assert proc.returncode != 0
    assert "ERROR: Fix qtb damp must be > 0 (got 0)" in proc.stdout + proc.stderr


def test_fix_modify_temp_compatibility():
    """LAMMPS's fix qtb decks may say `fix_modify ID temp c`: accepted (no effect), but the
    compute must exist and be a temperature."""
    lmp = create_lammps()
    for c in BOX + ["fix nve all nve", "fix q all qtb", "compute myT all temp",
                    "fix_modify q temp myT", "run 5"]:
        lmp.command(c)
    lmp.close()
    err = _error_of(["fix q all qtb", "fix_modify q temp nosuch"])
    assert "compute ID nosuch does not exist" in err, err
    err = _error_of(["fix q all qtb", "compute pe all pe", "fix_modify q temp pe"])
    assert "does not compute a temperature" in err, err


def test_fix_modify_energy_is_refused_ecouple_is_used():
    err = _error_of(["fix q all qtb", "fix_modify q energy yes"])
    assert "does not support fix_modify energy" in err, err
