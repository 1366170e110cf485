"""examples/lah10: the decks a user runs (classical fix npt / fix nph + langevin, quantum
fix nph + fix qtb, all with a triclinic barostat) parse and run with LAMMPS, and their dumps
feed `qfe analyze cage`.  The La-H DeePMD model does not exist yet, so the decks are run with
`pair_style zero` substituted through their `pair_file` variable (a syntax/plumbing check of the
decks, not physics: the physics of fix qtb is tested in test_qtb_*.py)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lah10"


@pytest.fixture(scope="module")
def deck_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lah10")
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, d)
    (d / "pair.zero.in").write_text("pair_style zero 3.0\npair_coeff * *\n")
    subprocess.run([sys.executable, "make_data.py", "--cells", "1", "-o", "data.lah10"],
                   cwd=d, check=True, capture_output=True)
    return d


def _lmp(deck_dir, deck, *extra):
    from qfe.lammps import lammps_environment, lmp_executable

    cmd = [lmp_executable(), "-in", deck, "-log", "none", "-var", "pair_file", "pair.zero.in",
           "-var", "steps", "20", "-var", "every", "10", "-var", "T", "50", "-var", "P", "0",
           *extra]
    return subprocess.run(cmd, cwd=deck_dir, capture_output=True, text=True,
                          env=lammps_environment(), timeout=300)


@pytest.mark.parametrize("deck, extra, dump", [
    ("in.classical", (), "dump.classical.nose_hoover.P0.T50.lammpstrj"),
    ("in.classical", ("-var", "thermostat", "langevin"),
     "dump.classical.langevin.P0.T50.lammpstrj"),
    ("in.qtb", (), "dump.qtb.P0.T50.lammpstrj"),
])
def test_deck_runs_and_feeds_qfe_analyze_cage(deck_dir, deck, extra, dump):
    from qfe.cli import main

    r = _lmp(deck_dir, deck, *extra)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = deck_dir / f"out-{dump}"
    assert main(["analyze", "cage", str(deck_dir / dump), "--type-map", "La,H", "--no-plot",
                 "--blocks", "1", "-o", str(out)]) == 0
    table = np.loadtxt(out / "cage.csv", delimiter=",", skiprows=1)
    assert table.shape[0] == 3                       # steps 0, 10, 20
    assert table[0, 2] == pytest.approx(90.0, abs=1e-6)   # the ideal Fm-3m start
    assert json.loads((out / "cage.json").read_text())["n_frames"] == 3


def test_unknown_thermostat_is_refused(deck_dir):
    r = _lmp(deck_dir, "in.classical", "-var", "thermostat", "berendsen")
    assert r.returncode != 0
    assert "thermostat must be nose_hoover or langevin, got berendsen" in r.stdout
