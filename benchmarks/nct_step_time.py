"""NCT cost of the mode-mixing flow: time per training step, previous default vs current.

Side by side in one run, on bcc Li (54 and 128 atoms), 100 K, the same batch size:

- ``previous``: the defaults before issue 14 (RealNVP flow, pathwise gradient, exponential
  schedule);
- ``current``: today's defaults (flow "full": LU mixing + couplings + sinh-arcsinh at every
  depth; STL gradient; cosine schedule).

Prints the median time per step after compilation and the ratio current/previous (target
<= 1.5), then trains the current default with ``stop_when_converged`` up to ``--max-steps``
and reports the steps and wall time to convergence.  Appends to
benchmarks/results/nct_speed.txt.  Usage:

    python benchmarks/nct_step_time.py                    # default Li model, 54 and 128 atoms
    python benchmarks/nct_step_time.py --sizes 2 --potential "morse:D=0.1,a=1.2,r0=3.0,cutoff=5.6"
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RESULTS = Path(__file__).resolve().parent / "results" / "nct_speed.txt"
VARIANTS = {"previous": dict(flow="realnvp", gradient="pathwise", lr_schedule="exponential"),
            "current": {}}


def step_times(system, config, n_steps):
    from qfe.nct.trainer import Trainer

    trainer = Trainer(system, config)
    state = trainer.init_state()
    t0 = time.perf_counter()
    compile_s = trainer.precompile(state)
    state, _ = trainer.step(state)                   # first call: warm caches
    times = []
    for _ in range(n_steps):
        t = time.perf_counter()
        state, _ = trainer.step(state)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), compile_s, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--potential", default="default")
    p.add_argument("--sizes", default="3,4", help="bcc repeats (2 r^3 atoms)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--temperature", type=float, default=100.0)
    p.add_argument("--timed-steps", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=0,
                   help="also train the current default to convergence (0: skip)")
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--output", default=str(RESULTS))
    args = p.parse_args(argv)

    import qfe.nct as nct
    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import bcc_lithium, crystal_system
    from qfe.nct.trainer import Trainer

    lines = [f"# nct_step_time.py {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, "
             f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; potential "
             f"{args.potential}, T = {args.temperature} K, batch {args.batch}"]
    print(lines[0], flush=True)
    for r in (int(s) for s in args.sizes.split(",")):
        atoms = bcc_lithium(r)
        system = crystal_system(nct.make_potential(args.potential, atoms), atoms)
        row = {}
        for name, options in VARIANTS.items():
            cfg = NCTConfig(temperature=args.temperature, batch_size=args.batch,
                            progress=False, **options)
            row[name] = step_times(system, cfg, args.timed_steps)
            print(f"  {len(atoms)} atoms {name}: {row[name][0]:.3f} s/step "
                  f"(compile {row[name][1]:.1f} s)", flush=True)
        ratio = row["current"][0] / row["previous"][0]
        lines.append(f"{len(atoms)} atoms: s/step previous {row['previous'][0]:.3f}, current "
                     f"{row['current'][0]:.3f}, ratio current/previous {ratio:.2f} "
                     f"(median of {args.timed_steps}; compile {row['previous'][1]:.0f} s / "
                     f"{row['current'][1]:.0f} s)")
        print(lines[-1], flush=True)
        if args.max_steps > 0:
            cfg = NCTConfig(temperature=args.temperature, batch_size=args.batch,
                            steps=args.max_steps, stop_when_converged=True, progress=False)
            trainer = Trainer(system, cfg)
            t0 = time.perf_counter()
            state = trainer.train(time_limit=args.max_seconds)
            from qfe.nct.convergence import monitor

            conv = monitor(state.history, min(cfg.convergence_window, len(state.history)))
            verdict = "converged" if conv["converged"] else "NOT converged"
            drift = conv.get("drift", float("nan")) * trainer.scale
            drift_err = conv.get("drift_err", float("nan")) * trainer.scale
            lines.append(f"{len(atoms)} atoms: current default {verdict} after {state.step} "
                         f"steps, {time.perf_counter() - t0:.0f} s (window {conv['window']}, "
                         f"F drift {drift:.4f} +- {drift_err:.4f} meV/atom)")
            print(lines[-1], flush=True)
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
