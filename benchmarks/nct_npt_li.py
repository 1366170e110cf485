"""Constant-pressure NCT on bcc lithium: wall time to G and the quantum volume against the
classical NPT volume of the same model (issue 17).

    python benchmarks/nct_npt_li.py --temperature 100 --pressure 0 --repeat 3 --steps 300
    python benchmarks/nct_npt_li.py --repeat 4 \
        --model ../shared/reference/li-dp/frozen_model_dp4.pb \
        --steps 100 --steps-after-update 40 --batch-size 32 --pressure-tolerance 0.03

bcc (or ``--phase fcc``) conventional cells repeated ``--repeat`` times (2 n^3 or 4 n^3
atoms).  bcc starts at the classical NPT volume of
benchmarks/results/classical_li_[dp4_]bcc_P<P>.json when that file has the temperature,
otherwise (and fcc always) at ``--volume`` A^3/atom (default 19.2).  Prints the cell history,
G, V and the wall time, and the quantum - classical volume difference (zero-point expansion);
writes benchmarks/results/nct_npt_li_<model>_[fcc_]T<T>_P<P>_N<atoms>.json.

The fcc size check of docs/nct.md (fcc 3x3x3 = 108 atoms at 1 GPa against the 32-atom cell
of the phase runs):

    python benchmarks/nct_npt_li.py --phase fcc --repeat 3 --pressure 1 --temperature 100,150 \
        --model ../shared/reference/li-dp/frozen_model_dp4.pb --volume 19.309 \
        --steps 100 --steps-after-update 40 --batch-size 64 --pressure-tolerance 0.03
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def classical_volume(temperature: float, pressure: float, model: str = "default"):
    """Classical NPT volume of bcc (A^3/atom) from benchmarks/classical_li_crossing.py, if run."""
    stem = Path(model).stem
    tag = "" if model == "default" else stem.replace("frozen_model_", "") + "_"
    path = RESULTS / f"classical_li_{tag}bcc_P{pressure:g}.json"
    if not path.is_file():
        return None
    for run in json.loads(path.read_text()).get("npt", []):
        if abs(run["temperature"] - temperature) < 1e-6:
            return run["volume_A3_per_atom"], run["volume_error_A3_per_atom"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--temperature", default="100",
                    help="K; a comma-separated list runs them in order, each warm-started "
                         "from the one before")
    ap.add_argument("--pressure", type=float, default=0.0, help="GPa")
    ap.add_argument("--phase", choices=["bcc", "fcc"], default="bcc")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--steps-after-update", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--volume", type=float, default=None, help="start volume, A^3/atom")
    ap.add_argument("--pressure-tolerance", type=float, default=None,
                    help="GPa; accept the cell when |P - P*| is within it even if that is "
                         "more than 2 sigma_P (run_npt's default when omitted)")
    ap.add_argument("--output", default=None, help="run directory (checkpoints)")
    ap.add_argument("--label", default="",
                    help="extra tag in the result file name, e.g. batch32 for a side run "
                         "that must not stand in for the main one")
    args = ap.parse_args()
    temperatures = [float(t) for t in args.temperature.split(",")]

    from ase.build import bulk

    import qfe.nct

    ref = (classical_volume(temperatures[0], args.pressure, args.model)
           if args.phase == "bcc" else None)
    v_start = args.volume or (ref[0] if ref else 19.2)
    per_cell = 2 if args.phase == "bcc" else 4
    atoms = bulk("Li", args.phase, a=(per_cell * v_start) ** (1 / 3),
                 cubic=True).repeat(args.repeat)
    name = Path(args.model).stem if args.model != "default" else "default"
    tag = ("" if args.phase == "bcc" else "fcc_") + (f"{args.label}_" if args.label else "")
    previous = None
    for temperature in temperatures:
        output = (None if args.output is None
                  else str(Path(args.output) / f"T{temperature:g}") if len(temperatures) > 1
                  else args.output)
        t0 = time.perf_counter()
        r = qfe.nct.run_npt(atoms, args.model, temperature=temperature,
                            pressure=args.pressure, steps=args.steps,
                            batch_size=args.batch_size,
                            steps_after_update=args.steps_after_update, output_dir=output,
                            warm_start=previous,
                            **({} if args.pressure_tolerance is None
                               else {"pressure_tolerance": args.pressure_tolerance}))
        previous = r
        wall = time.perf_counter() - t0
        print(r.summary())
        print(f"wall time {wall:.0f} s for {len(atoms)} atoms "
              f"({sum(i['steps'] for i in r.iterations)} training steps over "
              f"{len(r.iterations)} cells)")
        out = {**r.to_dict(), "wall_s": wall, "model": args.model, "phase": args.phase,
               "start_volume": v_start, "batch_size": args.batch_size}
        ref = (classical_volume(temperature, args.pressure, args.model)
               if args.phase == "bcc" else None)
        if ref:
            dv = r.volume[0] - ref[0]
            print(f"classical NPT volume at {temperature:g} K: {ref[0]:.4f} +- {ref[1]:.4f} "
                  f"A^3/atom; quantum - classical = {dv:+.4f} A^3/atom "
                  f"({100 * dv / ref[0]:+.2f} %)")
            out["classical_volume"] = list(ref)
        path = RESULTS / (f"nct_npt_li_{name}_{tag}T{temperature:g}_P{args.pressure:g}_"
                          f"N{len(atoms)}.json")
        path.write_text(json.dumps(out, indent=1))
        print(f"written {path}")


if __name__ == "__main__":
    main()
