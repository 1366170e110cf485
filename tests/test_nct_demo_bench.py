"""The demo and the speed benchmark run end to end with a stand-in potential (the default Li
model is used when present; these smoke runs only check the plumbing and the printed output)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("jax")

REPO = Path(__file__).resolve().parents[1]
STAND_IN = "morse:D=0.1,a=1.2,r0=3.0,cutoff=5.6,r_switch=5.0,skin=3.0"


@pytest.mark.slow
def test_demo_on_a_harmonic_crystal_reports_the_exact_free_energy(tmp_path):
    """The demo pipeline (training, baselines, evaluation, files) on an Einstein crystal,
    where F, the Gaussian and the occupations-only F all equal the harmonic F exactly."""
    import json

    from qfe.nct.demo import run_demo

    lines = []
    result = run_demo("einstein:k=1.5", repeat=2, steps=20, batch_size=32, eval_batches=4,
                      baseline_steps=10, budget_seconds=300, output_dir=str(tmp_path),
                      progress=False, print_fn=lines.append, n_levels=10)
    exact = result.harmonic["F"] * result.report_scale
    f, f_err = result.report("F")
    assert result.natoms == 16 and result.n_modes == 48
    assert abs(f - exact) <= 2 * f_err + 1e-9 * abs(exact)
    for name in ("gaussian", "occupations"):
        v, e = (x * result.report_scale for x in result.baselines[name]["F"])
        assert abs(v - exact) <= 2 * e + 1e-9 * abs(exact), name
    # the anharmonic ZPE of a harmonic crystal is the harmonic one
    za, za_err = result.zpe["anharmonic"]
    assert abs(za - result.zpe["harmonic"]) <= 2 * za_err + 1e-9 * result.zpe["harmonic"]
    stored = json.loads((tmp_path / "result.json").read_text())
    assert stored["thermo"]["F"]["value"] == pytest.approx(result.thermo["F"][0], rel=1e-12)
    assert set(stored["baselines"]) == {"gaussian", "occupations"}
    assert stored["steps_used"] == 20


@pytest.mark.slow
def test_speed_benchmark_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("nct_speed", REPO / "benchmarks" / "nct_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.txt"
    assert module.main(["--quick", "--potential", STAND_IN, "--output", str(out)]) == 0
    text = out.read_text()
    assert "ratio paper/qfe" in text and "16 atoms" in text
