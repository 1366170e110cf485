"""NCT free energy of bcc and fcc lithium at fixed volume beside its baselines (occupations
only, Gaussian/SCHA, harmonic): the anharmonic lowering the flow adds, bcc against fcc
(issue 14's lithium check; issue 17's "NCT minus occupations-only" at 19.2 A^3/atom).

    python benchmarks/nct_li_baselines.py bcc --model dp4 --temperature 300
    python benchmarks/nct_li_baselines.py fcc --model dp4 --temperature 300
    python benchmarks/nct_li_baselines.py table --model dp4 --temperature 300

bcc: 3x3x3 conventional cells (54 atoms); fcc: 2x2x2 (32 atoms), or ``--repeat n`` (n^3
cells; for the size trend); both at ``--volume`` (default 19.2 A^3/atom).
``--align-degenerate K`` sets the config key of that name (0 reproduces the runs made
before the degenerate-subspace alignment became the default).  Every ansatz is trained
with the same steps, batch and seed.
Writes benchmarks/results/nct_li_baselines_<model>_<phase>_T<T>_N<atoms>.json; ``table``
prints F(NCT) - F(occupations) and F(NCT) - F(Gaussian) for both phases next to the paper's
250/256-atom values (Zhang et al., arXiv:2412.12451: NCT - occupations = 2.67 meV/atom lower
in bcc, 0.11 in fcc, at 300 K).  ``--model dp4`` is ../shared/reference/li-dp/frozen_model_dp4.pb.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
             "DP_INTER_OP_PARALLELISM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "li-dp"
PAPER_NCT_MINUS_OCC = {"bcc": 2.67, "fcc": 0.11}        # meV/atom, 300 K, 250/256 atoms
REPEATS = {"bcc": 3, "fcc": 2}


def _spec(model: str) -> str:
    if model == "default":
        return "default"
    path = REFERENCE / f"frozen_model_{model}.pb"
    if not path.is_file():
        raise SystemExit(f"model file not found: {path}")
    return str(path)


def _path(model: str, phase: str, temperature: float, natoms: int) -> Path:
    return RESULTS / f"nct_li_baselines_{model}_{phase}_T{temperature:g}_N{natoms}.json"


def _atoms(phase: str, volume: float, repeat: int | None = None):
    from ase.build import bulk

    per_cell = 2 if phase == "bcc" else 4
    return bulk("Li", phase, a=(per_cell * volume) ** (1 / 3),
                cubic=True).repeat(repeat or REPEATS[phase])


def run_phase(args) -> None:
    import qfe.nct
    from qfe._io import write_json_atomic

    atoms = _atoms(args.phase, args.volume, args.repeat)
    extra = {} if args.align_degenerate is None else {"align_degenerate": args.align_degenerate}
    t0 = time.perf_counter()
    r = qfe.nct.run(atoms, _spec(args.model), temperature=args.temperature, steps=args.steps,
                    batch_size=args.batch_size, seed=args.seed,
                    baselines=["occupations", "gaussian"], output_dir=args.output, **extra)
    wall = time.perf_counter() - t0
    print(r.summary())
    f, fe = r.report("F")
    out = {"phase": args.phase, "model": args.model, "natoms": len(atoms),
           "volume_A3_per_atom": args.volume, "temperature_K": args.temperature,
           "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
           "align_degenerate": r.config["align_degenerate"],
           "wall_s": wall, "units": "meV/atom", "F": [f, fe],
           "harmonic_F": r.harmonic["F"] * r.report_scale}
    for name in ("occupations", "gaussian"):
        v, e = (x * r.report_scale for x in r.baselines[name]["F"])
        out[f"{name}_F"] = [v, e]
        # independent batches: errors add in quadrature
        out[f"NCT_minus_{name}"] = [f - v, (fe ** 2 + e ** 2) ** 0.5]
    za = r.zpe.get("anharmonic")
    out["zpe_harmonic"] = r.zpe["harmonic"] * r.report_scale
    out["zpe_anharmonic"] = None if za is None else [x * r.report_scale for x in za]
    out["result"] = r.to_dict()
    RESULTS.mkdir(exist_ok=True)
    path = _path(args.model, args.phase, args.temperature, len(atoms))
    write_json_atomic(path, out)
    print(f"NCT - occupations = {out['NCT_minus_occupations'][0]:+.3f} +- "
          f"{out['NCT_minus_occupations'][1]:.3f} meV/atom; NCT - Gaussian = "
          f"{out['NCT_minus_gaussian'][0]:+.3f} +- {out['NCT_minus_gaussian'][1]:.3f}; "
          f"wall {wall:.0f} s\nwritten {path}")


def table(args) -> None:
    print(f"{args.model}, {args.temperature:g} K, {args.volume:g} A^3/atom (meV/atom)")
    print(f"{'phase':>5} {'N':>4} {'F(NCT)':>18} {'F(Gauss)':>18} {'F(occ)':>18} "
          f"{'NCT-occ':>15} {'NCT-Gauss':>15} {'paper NCT-occ':>14}")
    for phase in ("bcc", "fcc"):
        for path in sorted(RESULTS.glob(f"nct_li_baselines_{args.model}_{phase}_"
                                        f"T{args.temperature:g}_N*.json")):
            d = json.loads(path.read_text())

            def fmt(x, w):
                return f"{x[0]:.3f} +- {x[1]:.3f}".rjust(w)

            print(f"{phase:>5} {d['natoms']:>4} {fmt(d['F'], 18)} {fmt(d['gaussian_F'], 18)} "
                  f"{fmt(d['occupations_F'], 18)} {fmt(d['NCT_minus_occupations'], 15)} "
                  f"{fmt(d['NCT_minus_gaussian'], 15)} {-PAPER_NCT_MINUS_OCC[phase]:>14.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["bcc", "fcc", "table"])
    ap.add_argument("--model", default="dp4", help="'default', 'dp4' or 'dp0'")
    ap.add_argument("--temperature", type=float, default=300.0, help="K")
    ap.add_argument("--volume", type=float, default=19.2, help="A^3/atom")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--output", default=None, help="checkpoint directory of the NCT training")
    ap.add_argument("--repeat", type=int, default=None,
                    help="conventional cells per side (default: bcc 3, fcc 2)")
    ap.add_argument("--align-degenerate", type=int, default=None,
                    help="config align_degenerate (default: the config's default)")
    args = ap.parse_args()
    if args.phase == "table":
        table(args)
    else:
        run_phase(args)


if __name__ == "__main__":
    main()
