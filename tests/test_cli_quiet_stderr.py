"""`qfe` keeps stderr free of TensorFlow / CUDA-library chatter when a `.pb` model is read
(issue 15, item 7), while real errors stay visible.

The CLI runs in a subprocess on a Na crystal with the Li `.pb` model: the model is read (which
imports TensorFlow and deepmd-kit's op library, the source of the chatter), then qfe stops
with its own error about the type map, so the run takes seconds.  A control run reads the same
model with the filter switched off, to show the check is not vacuous on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# independent of the filter's own patterns: anything that looks like TF / absl / CUDA output
FOREIGN = re.compile(r"tensorflow|absl|onednn|cuda|implib-gen|deepmd-kit:|port\.cc|"
                     r"DP_INTRA_OP|^[IWE]\d{4} ", re.IGNORECASE)


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"):
        env.pop(k, None)
    return env


@pytest.fixture(scope="module")
def pb_model(reference_path):
    path = reference_path / "li-dp" / "frozen_model_dp4.pb"
    if not path.exists():
        pytest.skip(f"no .pb DeePMD model at {path}")
    pytest.importorskip("deepmd")
    return path


def test_qfe_nct_with_pb_model_prints_no_tensorflow_lines(tmp_path, pb_model):
    from ase.build import bulk

    poscar = tmp_path / "na.vasp"
    bulk("Na", "bcc", a=4.2, cubic=True).write(poscar, format="vasp")
    cmd = [sys.executable, "-c", "import sys; from qfe.cli import main; sys.exit(main())",
           "nct", str(poscar), "--potential", str(pb_model), "--steps", "1", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300,
                       cwd=tmp_path)
    lines = p.stderr.splitlines()
    assert p.returncode == 2, p.stderr
    # the real error is still there, and it is the only line
    assert lines == [f"qfe nct: error: atoms of type ['Na'] (first: atom 0) are not in the type "
                     f"map ['Li'] of model {pb_model.name}"], p.stderr
    assert not [s for s in lines if FOREIGN.search(s)]

    # control: the same model read with the filter off prints TF/CUDA lines here
    control = ("import sys, qfe._environment as e; e.is_chatter = lambda s: False; "
               "from qfe.potentials.deepmd import read_deepmd_model; "
               "read_deepmd_model(sys.argv[1])")
    c = subprocess.run([sys.executable, "-c", control, str(pb_model)], capture_output=True,
                       text=True, env=_env(), timeout=300, cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    noisy = [s for s in c.stderr.splitlines() if FOREIGN.search(s)]
    if not noisy:
        pytest.skip("TensorFlow/deepmd-kit print nothing here: the quiet check is vacuous")
