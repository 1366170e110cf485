"""NCT speed: the paper's algorithm versus qfe's default, side by side in one run.

For bcc Li supercells (54 and 128 atoms), 100 K, batch 256, this measures

1. time per training step (sampling + local energies + gradient + Adam update):
   - paper  (Zhang et al., arXiv:2412.12451): fresh n ~ p, then ``mc_steps`` (3000) random-walk
     Metropolis moves of |Psi_n|^2, Laplacian local energy (M Hessian-vector products),
     score-function gradients with baseline and clipping;
   - qfe    exact sampling (no chain), node-safe stochastic Laplacian (O(1) passes), pathwise
     gradients;
2. wall time to reach sigma_F <= target (default 0.05 meV/atom) when estimating F of the same
   trained model: batches are drawn until the standard error of F (Metropolis: inflated by the
   measured batch-to-batch autocorrelation of each walker) reaches the target, or, when that
   would exceed ``--max-seconds``, the time is projected from the measured time per batch and
   the measured variance (marked "projected").

Both algorithms use the same potential, structure, flow architecture and trained parameters
(a short qfe pre-training, ``--train-steps``).  Timings are wall-clock on whatever machine runs
this (the development machine is 2 shared cores: absolute numbers move with the load, the
ratios are measured side by side).  Usage:

    python benchmarks/nct_speed.py                       # default Li model, 54 and 128 atoms
    python benchmarks/nct_speed.py --potential "morse:D=0.1,a=1.2,r0=3.0,cutoff=5.6,r_switch=5.0"
    python benchmarks/nct_speed.py --quick ...           # tiny smoke run (tests)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RESULTS = Path(__file__).resolve().parent / "results" / "nct_speed.txt"


def build_system(repeat: int, potential_spec: str, lattice: float):
    import qfe.nct as nct
    from qfe.nct.phonons import bcc_lithium, crystal_system

    atoms = bcc_lithium(repeat, a=lattice)
    potential = nct.make_potential(potential_spec, atoms)
    return crystal_system(potential, atoms)


def algorithms(args):
    common = dict(temperature=args.temperature, batch_size=args.batch, n_levels=args.levels,
                  flow_depth=args.flow_depth, flow_width=args.flow_width, progress=False,
                  seed=args.seed, clip_factor=5.0)
    paper = dict(common, sampler="metropolis", kinetic="laplacian", gradient="score",
                 mc_steps=args.mc_steps, mc_step_size=0.03, mc_therm=args.mc_therm,
                 lr_flow=5e-4)
    qfe = dict(common, sampler="exact", kinetic="stochastic", gradient="pathwise")
    return {"paper": paper, "qfe": qfe}


def time_steps(trainer, state, n_steps: int):
    """Median wall time of ``n_steps`` training steps (programs compiled beforehand)."""
    import jax

    times = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        state, stats = trainer.step(state)
        jax.block_until_ready(state.params)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), state


def time_to_sigma(trainer, state, target_mev, max_seconds, min_batches=2, max_batches=10000):
    """Estimate F at fixed parameters until sigma_F <= target (meV/atom) or the time budget.

    Returns a dict with the measured time per batch, per-sample std, the batch-to-batch
    correlation of a walker's local free energy (Metropolis), the achieved or projected wall
    time and whether it was reached directly.
    """
    scale = 1000.0 / trainer.system.natoms
    batches = []
    gen = trainer.sample_batches(state, max_batches)
    t_start = time.perf_counter()
    batch_times = []
    reached = False
    while True:
        t0 = time.perf_counter()
        _, aux, _ = next(gen)
        batch_times.append(time.perf_counter() - t0)
        batches.append(np.asarray(aux["free_energy"]) * scale)
        values = np.asarray(batches)
        n = values.size
        std = values.std(ddof=1)
        rho = 0.0
        if trainer.config.sampler == "metropolis" and len(batches) >= 2:
            a, b = values[:-1].ravel(), values[1:].ravel()
            rho = max(0.0, float(np.corrcoef(a, b)[0, 1]))
        tau = (1.0 + rho) / (1.0 - rho) if rho < 1 else float("inf")
        sigma = std * math.sqrt(tau / n)
        elapsed = time.perf_counter() - t_start
        if len(batches) >= min_batches and sigma <= target_mev:
            reached = True
            break
        if elapsed > max_seconds and len(batches) >= min_batches:
            break
    t_batch = float(np.median(batch_times))
    needed = math.ceil(std ** 2 * tau / (target_mev ** 2 * trainer.config.batch_size))
    return {"time": elapsed if reached else needed * t_batch, "reached": reached,
            "batches": len(batches) if reached else needed, "t_batch": t_batch,
            "std": float(std), "tau": float(tau), "sigma": float(sigma),
            "F": float(values.mean())}


def run_size(repeat, args, out):
    from qfe.nct.config import NCTConfig
    from qfe.nct.trainer import Trainer

    t0 = time.perf_counter()
    system = build_system(repeat, args.potential, args.lattice)
    n = system.natoms
    out(f"\n== bcc Li, {n} atoms ({system.n_modes} modes), T = {args.temperature} K, batch "
        f"{args.batch}, K = {args.levels}, flow depth {args.flow_depth} width {args.flow_width}")
    out(f"   phonons: hbar w = {1e3 * system.hbar_omega.min():.2f} .. "
        f"{1e3 * system.hbar_omega.max():.2f} meV, imaginary {int(system.imaginary.sum())}; "
        f"set-up {time.perf_counter() - t0:.1f} s")
    cfgs = algorithms(args)
    qfe_trainer = Trainer(system, NCTConfig(**cfgs["qfe"], steps=args.train_steps))
    t0 = time.perf_counter()
    trained = qfe_trainer.train()
    f_hist = [h["free_energy"] * 1000 / n for h in trained.history]
    out(f"   pre-training (qfe, {args.train_steps} steps): {time.perf_counter() - t0:.1f} s, "
        f"F {f_hist[0]:.3f} -> {f_hist[-1]:.3f} meV/atom" if f_hist else "   no pre-training")

    paper_trainer = Trainer(system, NCTConfig(**cfgs["paper"], steps=10 ** 9))
    paper_state = paper_trainer.init_state(thermalise=False)
    paper_state.params = trained.params
    paper_state.opt_state = paper_trainer.init_optimizer(trained.params)
    t0 = time.perf_counter()
    import jax

    for _ in range(args.mc_therm):
        paper_state.key, k = jax.random.split(paper_state.key)
        _, paper_state.sampler_state, info = paper_trainer._sample(k, paper_state.params,
                                                                   paper_state.sampler_state)
    jax.block_until_ready(paper_state.sampler_state)
    t_therm = time.perf_counter() - t0
    out(f"   paper thermalisation ({args.mc_therm} x {args.mc_steps} Metropolis moves): "
        f"{t_therm:.1f} s, acceptance {float(info['acceptance']) if args.mc_therm else 0:.2f}, "
        f"step size {float(paper_state.sampler_state['step_size']):.3f}")

    qfe_state = qfe_trainer.init_state()
    qfe_state.params = trained.params
    qfe_state.opt_state = qfe_trainer.init_optimizer(trained.params)

    rows = {}
    t_move = None
    for name, trainer, state in (("paper", paper_trainer, paper_state),
                                 ("qfe", qfe_trainer, qfe_state)):
        t_compile = trainer.precompile(state)
        if name == "paper":            # one compiled chain segment: the cost of a move
            t0 = time.perf_counter()
            jax.block_until_ready(trainer._sample(jax.random.PRNGKey(1), state.params,
                                                  state.sampler_state))
            t_move = (time.perf_counter() - t0) / args.mc_steps
        # sigma first, at the common trained parameters; then training steps
        sig = time_to_sigma(trainer, state, args.target, args.max_seconds)
        t_step, state = time_steps(trainer, state, args.timed_steps)
        rows[name] = (t_step, sig)
        out(f"   {name:<6} compile {t_compile:6.1f} s | time/step {t_step:9.3f} s | F = "
            f"{sig['F']:.3f} +- {sig['sigma']:.3f} meV/atom, per-sample std {sig['std']:.3f}, "
            f"tau {sig['tau']:.2f}, time/batch {sig['t_batch']:.3f} s, {sig['batches']} "
            f"batches to sigma <= {args.target} -> {sig['time']:.1f} s "
            f"({'measured' if sig['reached'] else 'projected'})")
    (tp, sp), (tq, sq) = rows["paper"], rows["qfe"]
    out(f"   same model, two estimates of F: paper - qfe = {sp['F'] - sq['F']:+.3f} +- "
        f"{math.hypot(sp['sigma'], sq['sigma']):.3f} meV/atom")
    out(f"   ratio paper/qfe at {args.mc_steps} Metropolis moves per step (measured): time per "
        f"step {tp / tq:.1f}x, wall time to sigma_F <= {args.target} meV/atom "
        f"{sp['time'] / sq['time']:.1f}x")
    result = {"natoms": n, "step_ratio": tp / tq, "sigma_ratio": sp["time"] / sq["time"],
              "paper": rows["paper"], "qfe": rows["qfe"], "moves": args.mc_steps}
    extra = args.paper_mc_steps - args.mc_steps
    if extra > 0:
        # the paper's own chain length, from the measured cost of one move; its batches are
        # then taken as uncorrelated (tau = 1) and thermalisation is not counted: both favour
        # the paper, so these ratios are lower bounds
        tp_full = tp + extra * t_move
        tb_full = sp["t_batch"] + extra * t_move
        batches = math.ceil(sp["std"] ** 2 / (args.target ** 2 * args.batch))
        sigma_full = max(batches, 2) * tb_full
        out(f"   paper at its {args.paper_mc_steps} moves per step (projected from "
            f"{1e3 * t_move:.1f} ms per move, tau = 1): time/step {tp_full:.1f} s, "
            f"{max(batches, 2)} batches x {tb_full:.1f} s to sigma -> {sigma_full:.0f} s; "
            f"ratio paper/qfe >= {tp_full / tq:.0f}x per step, >= {sigma_full / sq['time']:.0f}x "
            f"to sigma_F")
        result.update(step_ratio_full=tp_full / tq, sigma_ratio_full=sigma_full / sq["time"])
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--potential", default="default",
                   help="potential spec (qfe.nct.make_potential): 'default' = qfe's Li model")
    p.add_argument("--sizes", default="3,4",
                   help="bcc repeats (conventional cells per side): 3 -> 54, 4 -> 128 atoms")
    p.add_argument("--lattice", type=float, default=3.44, help="bcc lattice constant, A")
    p.add_argument("--temperature", type=float, default=100.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--levels", type=int, default=20)
    p.add_argument("--flow-depth", type=int, default=6)
    p.add_argument("--flow-width", type=int, default=128)
    p.add_argument("--mc-steps", type=int, default=3000, help="paper: Metropolis moves per step")
    p.add_argument("--paper-mc-steps", type=int, default=3000,
                   help="the paper's moves per step; when --mc-steps is smaller (to keep the "
                        "run short) the paper's cost at this length is projected from the "
                        "measured cost per move")
    p.add_argument("--mc-therm", type=int, default=3,
                   help="paper: thermalisation calls before measuring (the paper uses 10; "
                        "3 x 3000 moves equilibrate the near-harmonic start, see the F check)")
    p.add_argument("--train-steps", type=int, default=20, help="common qfe pre-training")
    p.add_argument("--timed-steps", type=int, default=1)
    p.add_argument("--target", type=float, default=0.05, help="sigma_F target, meV/atom")
    p.add_argument("--max-seconds", type=float, default=120.0,
                   help="per algorithm and size: beyond this the time to target is projected")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output", default=str(RESULTS), help="results file ('-': stdout only)")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: 16 atoms, batch 16, 20 Metropolis moves, small flow")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.batch, args.levels = "2", 16, 6
        args.flow_depth, args.flow_width, args.mc_steps, args.mc_therm = 2, 16, 20, 1
        args.train_steps, args.timed_steps, args.max_seconds = 2, 1, 2.0
        args.paper_mc_steps = 40
        args.target = 0.5
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    lines = []

    def out(text=""):
        print(text, flush=True)
        lines.append(text)

    import jax

    out("qfe NCT speed benchmark: paper (Metropolis + Laplacian + score) vs qfe (exact "
        "sampling + stochastic Laplacian + pathwise)")
    out(f"date {time.strftime('%Y-%m-%d %H:%M')}, host {platform.node()}, "
        f"{os.cpu_count()} cpus (shared), jax {jax.__version__}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    out(f"potential: {args.potential}; command: {' '.join(sys.argv)}")
    results = [run_size(int(r), args, out) for r in args.sizes.split(",")]
    out("\nsummary (paper / qfe):")
    for r in results:
        out(f"   {r['natoms']:4d} atoms: measured with {r['moves']} moves per step: time per "
            f"step {r['step_ratio']:.1f}x, time to sigma_F {r['sigma_ratio']:.1f}x"
            + (f"; at the paper's {args.paper_mc_steps} moves (projected, lower bounds): "
               f"{r['step_ratio_full']:.0f}x, {r['sigma_ratio_full']:.0f}x"
               if "step_ratio_full" in r else ""))
    out(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.output != "-":
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
