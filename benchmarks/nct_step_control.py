"""Does NCT training raise F on an anharmonic crystal?  Plain Adam vs the signal-to-noise
step control, side by side on the same crystal, seed and batch size.

bcc Li (2 repeat^3 atoms, a = 3.44 A), built-in model, 100 K, full default flow.  For each
``step_control`` ("none" = plain Adam, "snr" = the default) prints the per-step F estimate
every few steps, then F evaluated with ``eval_batches`` fresh batches at the harmonic start
and after training (meV/atom, +- one standard error).  Appends a summary to
benchmarks/results/nct_step_control.txt.  Usage:

    python benchmarks/nct_step_control.py                     # 54 atoms, 60 steps, batch 128
    python benchmarks/nct_step_control.py --repeat 2 --steps 40
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--temperature", type=float, default=100.0)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-batches", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--every", type=int, default=5)
    args = p.parse_args(argv)

    from qfe import nct
    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import bcc_lithium, crystal_system
    from qfe.nct.trainer import Trainer

    atoms = bcc_lithium(args.repeat, a=3.44)
    system = crystal_system(nct.make_potential("default", atoms), atoms)
    lines = [f"# {time.strftime('%Y-%m-%d %H:%M')} bcc Li {len(atoms)} atoms, built-in model, "
             f"{args.temperature} K, batch {args.batch_size}, {args.steps} steps, seed "
             f"{args.seed}, eval {args.eval_batches} batches; F in meV/atom"]
    for control in ("none", "snr"):
        cfg = NCTConfig(temperature=args.temperature, batch_size=args.batch_size,
                        steps=args.steps, seed=args.seed, step_control=control,
                        progress=False)
        tr = Trainer(system, cfg)

        def evaluated(state):
            v = np.asarray(tr.evaluate(state, args.eval_batches)["free_energy"]).ravel()
            v = v * tr.scale
            return v.mean(), v.std(ddof=1) / np.sqrt(v.size)

        f0, e0 = evaluated(tr.init_state())
        trace = []

        def show(state, stats, trace=trace, scale=tr.scale):
            if state.step == 1 or state.step % args.every == 0:
                trace.append(f"{state.step}:{stats['free_energy'] * scale:.3f}")
                print(f"  {control:4s} step {state.step:4d}  F = "
                      f"{stats['free_energy'] * scale:.3f} +- "
                      f"{stats['free_energy_err'] * scale:.3f}", flush=True)

        t0 = time.perf_counter()
        state = tr.train(tr.init_state(), callback=show)
        seconds = time.perf_counter() - t0
        f1, e1 = evaluated(state)
        line = (f"step_control={control:4s}  F(start) = {f0:.3f} +- {e0:.3f}  F(trained) = "
                f"{f1:.3f} +- {e1:.3f}  change = {f1 - f0:+.3f} +- {np.hypot(e0, e1):.3f}  "
                f"({seconds:.0f} s; per-step F {' '.join(trace)})")
        print(line, flush=True)
        lines.append(line)
    out = Path(__file__).parent / "results" / "nct_step_control.txt"
    with open(out, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
