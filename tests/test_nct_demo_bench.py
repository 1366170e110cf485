"""The demo and the speed benchmark run end to end with a stand-in potential (the default Li
model is used when present; these smoke runs only check the plumbing and the printed output)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("jax")

REPO = Path(__file__).resolve().parents[1]
STAND_IN = "morse:D=0.1,a=1.2,r0=3.0,cutoff=5.6,r_switch=5.0,skin=3.0"


@pytest.mark.slow
def test_demo_with_stand_in_potential(tmp_path):
    from qfe.nct.demo import run_demo

    lines = []
    result = run_demo(STAND_IN, repeat=2, steps=4, batch_size=16, eval_batches=2,
                      budget_seconds=120, output_dir=str(tmp_path), progress=False,
                      print_fn=lines.append, flow_depth=2, flow_width=16, n_levels=8)
    text = "\n".join(lines)
    assert "F = " in text and "ZPE harmonic" in text and "anharmonic" in text
    assert result.natoms == 16 and result.n_modes == 45
    f, f_err = result.report("F")
    assert f_err > 0 and f"{f:.3f}" in text
    assert (tmp_path / "result.json").is_file()


@pytest.mark.slow
def test_speed_benchmark_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("nct_speed", REPO / "benchmarks" / "nct_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.txt"
    assert module.main(["--quick", "--potential", STAND_IN, "--output", str(out)]) == 0
    text = out.read_text()
    assert "ratio paper/qfe" in text and "16 atoms" in text
