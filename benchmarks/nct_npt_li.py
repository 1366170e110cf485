"""Constant-pressure NCT on bcc lithium: wall time to G and the quantum volume against the
classical NPT volume of the same model (issue 17).

    python benchmarks/nct_npt_li.py --temperature 100 --pressure 0 --repeat 3 --steps 300
    python benchmarks/nct_npt_li.py --repeat 4 \
        --model ../shared/reference/li-dp/frozen_model_dp4.pb \
        --steps 100 --steps-after-update 40 --batch-size 32 --pressure-tolerance 0.03

bcc conventional cells repeated ``--repeat`` times (2 n^3 atoms), started at the classical
NPT volume of benchmarks/results/classical_li_[dp4_]bcc_P<P>.json when that file has the
temperature, else at ``--volume`` A^3/atom.  Prints the cell history,
G, V and the wall time, and the quantum - classical volume difference (zero-point expansion);
writes benchmarks/results/nct_npt_li_<model>_T<T>_P<P>_N<atoms>.json.
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
    ap.add_argument("--temperature", type=float, default=100.0)
    ap.add_argument("--pressure", type=float, default=0.0, help="GPa")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--steps-after-update", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--volume", type=float, default=None, help="start volume, A^3/atom")
    ap.add_argument("--pressure-tolerance", type=float, default=None,
                    help="GPa; accept the cell when |P - P*| is within it even if that is "
                         "more than 2 sigma_P (run_npt's default when omitted)")
    ap.add_argument("--output", default=None)
    args = ap.parse_args()

    import qfe.nct
    from qfe.nct.phonons import bcc_lithium

    ref = classical_volume(args.temperature, args.pressure, args.model)
    v_start = args.volume or (ref[0] if ref else 19.2)
    atoms = bcc_lithium(args.repeat, a=(2 * v_start) ** (1 / 3))
    t0 = time.perf_counter()
    r = qfe.nct.run_npt(atoms, args.model, temperature=args.temperature,
                        pressure=args.pressure, steps=args.steps, batch_size=args.batch_size,
                        steps_after_update=args.steps_after_update, output_dir=args.output,
                        **({} if args.pressure_tolerance is None
                           else {"pressure_tolerance": args.pressure_tolerance}))
    wall = time.perf_counter() - t0
    print(r.summary())
    print(f"wall time {wall:.0f} s for {len(atoms)} atoms ({sum(i['steps'] for i in r.iterations)}"
          f" training steps over {len(r.iterations)} cells)")
    out = {**r.to_dict(), "wall_s": wall, "model": args.model, "start_volume": v_start}
    if ref:
        dv = r.volume[0] - ref[0]
        print(f"classical NPT volume at {args.temperature:g} K: {ref[0]:.4f} +- {ref[1]:.4f} "
              f"A^3/atom; quantum - classical = {dv:+.4f} A^3/atom ({100 * dv / ref[0]:+.2f} %)")
        out["classical_volume"] = list(ref)
    name = Path(args.model).stem if args.model != "default" else "default"
    path = RESULTS / (f"nct_npt_li_{name}_T{args.temperature:g}_P{args.pressure:g}_"
                      f"N{len(atoms)}.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
