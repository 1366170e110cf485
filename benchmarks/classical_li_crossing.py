"""Classical bcc/fcc crossing temperature of Li (default qfe model) at a pressure: G(T) of
each phase by Frenkel-Ladd at the lowest T (NPT volume) + NPT enthalpies on a grid +
Gibbs-Helmholtz, then Delta G(T) and the crossing with its error bar.

    python benchmarks/classical_li_crossing.py bcc [P_GPa]    (~8 min, 54 atoms)
    python benchmarks/classical_li_crossing.py fcc [P_GPa]    (~4 min, 32 atoms)
    python benchmarks/classical_li_crossing.py cross [P_GPa]  (combines the two, prints T*)

    --model dp4   the published DeePMD model ../shared/reference/li-dp/frozen_model_dp4.pb
                  (about 3.5x slower per step than the default model; shorter runs, grid to
                  300 K; results named classical_li_dp4_*)
    --t0 T        temperature of the Frenkel-Ladd anchor (a grid point; default the lowest).
                  G(T) = (T/T0) G(T0) - T int_T0^T H/T'^2 dT' multiplies the errors of
                  G(T0) and H by about |T/T0 - 1|: an anchor near the crossing keeps them small.

The phases run as separate commands (each under 10 min on one core); their curves go to
benchmarks/results/classical_li_<phase>_P<P>.json, the crossing to
benchmarks/results/classical_li_crossing_P<P>.json (+ .png).  Same as
``qfe classical bcc.vasp fcc.vasp --pressure P --temperatures 50:250:50`` with these run
lengths, split so that each part fits a 10-minute job.  Small cells and short runs: this
documents the route and its error bars, it is not a converged phase boundary.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
             "DP_INTER_OP_PARALLELISM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TEMPERATURES = [50.0, 100.0, 150.0, 200.0, 250.0]
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "li-dp"
# model name -> (potential spec for qfe.classical, temperatures, run lengths)
MODELS = {
    "default": ("default", TEMPERATURES,
                dict(msd_equil_steps=500, msd_steps=1500, equil_steps=500, switch_steps=3000,
                     repeats=3), dict(equil_steps=2000, steps=3000)),
    "dp4": (str(REFERENCE / "frozen_model_dp4.pb"), TEMPERATURES + [300.0],
            dict(msd_equil_steps=500, msd_steps=1500, equil_steps=500, switch_steps=2000,
                 repeats=3), dict(equil_steps=1000, steps=2000)),
}
VOLUME = 19.2          # starting volume, A^3/atom (NPT sets the real one)
CELLS = {"bcc": (2, 3), "fcc": (4, 2)}        # atoms per conventional cell, repeats


def _path(name: str, pressure: float, model: str = "default") -> Path:
    tag = "" if model == "default" else f"{model}_"
    return RESULTS / f"classical_li_{tag}{name}_P{pressure:g}.json"


def run_phase(phase: str, pressure: float, model: str = "default", t0=None) -> None:
    from ase.build import bulk

    from qfe._io import write_json_atomic
    from qfe.classical import FrenkelLaddSettings, MDSettings
    from qfe.classical.gibbs import NPTSettings, gibbs_curve

    per_cell, reps = CELLS[phase]
    atoms = bulk("Li", phase, a=(per_cell * VOLUME) ** (1 / 3), cubic=True).repeat(reps)
    md = MDSettings(timestep=0.001, damping=0.1, pressure_damping=1.0)
    spec, temperatures, fl_steps, npt_steps = MODELS[model]
    if model != "default" and not Path(spec).is_file():
        raise SystemExit(f"model file not found: {spec}")
    fl = FrenkelLaddSettings(**fl_steps, seed=31, md=md)
    npt = NPTSettings(**npt_steps, seed=41, md=md)
    start = time.perf_counter()
    curve, g0, npts = gibbs_curve(atoms, spec, temperatures, pressure, t0=t0, npt_settings=npt,
                                  fl_settings=fl, progress=True, label=phase)
    out = {"phase": phase, "model": model, "natoms": len(atoms), "pressure_GPa": pressure,
           "curve": curve.to_dict(), "gibbs_T0": g0.to_dict(),
           "npt": [r.to_dict() for r in npts], "wall_time_s": time.perf_counter() - start}
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(_path(phase, pressure, model), out)
    print(g0.summary())
    for t, g, e, r in zip(temperatures, curve.gibbs(temperatures),
                          curve.gibbs_error(temperatures), npts):
        print(f"  {phase} {t:6.1f} K: G = {g:.6f} eV/atom +- {1e3 * e:.3f} meV, V = "
              f"{r.volume / r.natoms:.3f} A^3/atom, H = {r.enthalpy / r.natoms:.6f} eV/atom")
    print(f"wall time {out['wall_time_s']:.0f} s")


def _curve(d):
    from qfe.classical.gibbs import GibbsCurve

    c = d["curve"]
    return GibbsCurve(t0=c["T0_K"], g0=c["G0_eV_per_atom"], g0_error=c["G0_error_eV_per_atom"],
                      coefficients=np.array(c["enthalpy_fit_coefficients_eV_per_atom"]),
                      covariance=np.array(c["enthalpy_fit_covariance"]),
                      temperatures=np.array(c["npt_temperatures_K"]),
                      enthalpies=np.array(c["npt_enthalpy_eV_per_atom"]),
                      enthalpy_errors=np.array(c["npt_enthalpy_error_eV_per_atom"]),
                      chi2_per_dof=c["enthalpy_fit_chi2_per_dof"], pressure=c["pressure_GPa"],
                      label=c["label"])


def cross(pressure: float, model: str = "default") -> None:
    from qfe._io import write_json_atomic
    from qfe.classical.cli import _plot
    from qfe.classical.gibbs import crossing_temperature

    data = {p: json.loads(_path(p, pressure, model).read_text()) for p in ("bcc", "fcc")}
    curves = {p: _curve(d) for p, d in data.items()}
    out = crossing_temperature(curves["bcc"], curves["fcc"])
    out["cells"] = {p: d["natoms"] for p, d in data.items()}
    out["model"] = model
    write_json_atomic(_path("crossing", pressure, model), out)
    _plot([curves["bcc"], curves["fcc"]],
          _path("crossing", pressure, model).with_suffix(".png"))
    print(f"Delta G = G_bcc - G_fcc at {pressure:g} GPa (meV/atom):")
    for t, g, e in zip(out["temperatures_K"], out["delta_g_meV_per_atom"],
                       out["delta_g_error_meV_per_atom"]):
        print(f"  {t:6.1f} K  {g:+.3f} +- {e:.3f}")
    if out["temperature"] is None:
        print("no crossing in the range")
    else:
        print(f"crossing T = {out['temperature']:.1f} +- {out['error']:.1f} K "
              f"(bcc {out['cells']['bcc']} atoms, fcc {out['cells']['fcc']} atoms)")


def main(argv) -> int:
    options = {"--model": "default", "--t0": None}
    for flag in options:
        if flag in argv:
            i = argv.index(flag)
            options[flag] = argv[i + 1] if i + 1 < len(argv) else ""
            argv = argv[:i] + argv[i + 2:]
    model, t0 = options["--model"], options["--t0"]
    t0 = None if t0 is None else float(t0)
    if not argv or argv[0] not in ("bcc", "fcc", "cross") or model not in MODELS:
        print(__doc__)
        return 2
    pressure = float(argv[1]) if len(argv) > 1 else 0.0
    if argv[0] == "cross":
        cross(pressure, model)
    else:
        run_phase(argv[0], pressure, model, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
