"""NCT demo: bcc lithium, 54 atoms, 100 K, qfe's default Li model, within ~10 minutes on 2 cores.

Prints the free energy F with its error bar, and the harmonic and anharmonic zero-point
energies, in meV/atom.  Training stops at ``steps`` or when the training time budget is spent
(whichever first); the evaluation after it uses ``eval_batches`` independent batches.

    python -m qfe.nct.demo                         # default model
    python -m qfe.nct.demo --potential "morse:D=0.1,a=1.2,r0=3.0,cutoff=5.6,r_switch=5.0,skin=3.0"
"""

from __future__ import annotations

import argparse
import time

DEFAULTS = dict(repeat=3, lattice=3.44, temperature=100.0, steps=150, batch_size=128,
                budget_seconds=300.0, eval_batches=8, baseline_steps=40,
                baseline_seconds=60.0)


def run_demo(potential="default", *, repeat: int = DEFAULTS["repeat"],
             lattice: float = DEFAULTS["lattice"], temperature: float = DEFAULTS["temperature"],
             steps: int = DEFAULTS["steps"], batch_size: int = DEFAULTS["batch_size"],
             budget_seconds: float = DEFAULTS["budget_seconds"],
             eval_batches: int = DEFAULTS["eval_batches"],
             baseline_steps: int = DEFAULTS["baseline_steps"],
             baseline_seconds: float = DEFAULTS["baseline_seconds"], output_dir=None,
             progress: bool = True, print_fn=print, **options):
    """Train on bcc Li (2 repeat^3 atoms) and return the :class:`qfe.nct.api.NCTResult`.

    With ``baseline_steps > 0`` the occupations-only and Gaussian (SCHA) ansatz are trained
    too (each at most ``baseline_seconds``) and reported beside F."""
    import qfe.nct as nct
    from qfe.nct.api import baseline, evaluate_state
    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import bcc_lithium, crystal_system, frequencies_mev
    from qfe.nct.trainer import CHECKPOINT_NAME, Trainer

    t0 = time.perf_counter()
    atoms = bcc_lithium(repeat, a=lattice)
    pot = nct.make_potential(potential, atoms)
    system = crystal_system(pot, atoms)
    freqs = frequencies_mev(system)
    print_fn(f"bcc Li, {len(atoms)} atoms, a = {lattice} A, T = {temperature} K, potential "
             f"{potential if isinstance(potential, str) else type(potential).__name__}")
    print_fn(f"phonons: {system.n_modes} modes, hbar w = {freqs.min():.2f} .. "
             f"{freqs.max():.2f} meV ({int(system.imaginary.sum())} imaginary); "
             f"set-up {time.perf_counter() - t0:.1f} s")
    cfg = NCTConfig(temperature=temperature, steps=steps, batch_size=batch_size,
                    eval_batches=eval_batches, output_dir=output_dir, progress=progress,
                    **options)
    trainer = Trainer(system, cfg)
    t_train = time.perf_counter()
    checkpoint = None if output_dir is None else f"{output_dir}/{CHECKPOINT_NAME}"
    state = trainer.train(checkpoint=checkpoint, time_limit=budget_seconds)
    print_fn(f"training: {state.step} steps in {time.perf_counter() - t_train:.1f} s")
    t_train = time.perf_counter() - t_train
    baselines = {}
    if baseline_steps > 0:
        for name in ("occupations", "gaussian"):
            t_b = time.perf_counter()
            baselines[name] = baseline(trainer.system, cfg, name, steps=baseline_steps,
                                       time_limit=baseline_seconds)
            print_fn(f"baseline {name}: {baselines[name]['steps_used']} steps in "
                     f"{time.perf_counter() - t_b:.1f} s")
    result = evaluate_state(trainer, state, t_train=t_train, baselines=baselines)
    f, f_err = result.report("F")
    za, za_err = result.zpe["anharmonic"]
    print_fn(f"F = {f:.3f} +- {f_err:.3f} meV/atom   (harmonic F = "
             f"{result.harmonic['F'] * result.report_scale:.3f} meV/atom)")
    for name, label in (("gaussian", "Gaussian (SCHA)"), ("occupations", "occupations only")):
        if name in result.baselines:
            v, e = (x * result.report_scale for x in result.baselines[name]["F"])
            print_fn(f"F {label} = {v:.3f} +- {e:.3f} meV/atom")
    print_fn(f"ZPE harmonic = {result.zpe['harmonic'] * result.report_scale:.3f} meV/atom, "
             f"anharmonic = {za * result.report_scale:.3f} +- {za_err * result.report_scale:.3f}"
             f" meV/atom")
    print_fn(f"total time {time.perf_counter() - t0:.1f} s")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="NCT demo: bcc Li, 54 atoms, 100 K")
    p.add_argument("--potential", default="default")
    p.add_argument("--repeat", type=int, default=DEFAULTS["repeat"])
    p.add_argument("--lattice", type=float, default=DEFAULTS["lattice"])
    p.add_argument("--temperature", type=float, default=DEFAULTS["temperature"])
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--budget", type=float, default=DEFAULTS["budget_seconds"],
                   help="training time budget in seconds")
    p.add_argument("--eval-batches", type=int, default=DEFAULTS["eval_batches"])
    p.add_argument("--baseline-steps", type=int, default=DEFAULTS["baseline_steps"],
                   help="steps of the occupations-only and Gaussian baselines (0: none)")
    p.add_argument("--output", default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    run_demo(args.potential, repeat=args.repeat, lattice=args.lattice,
             temperature=args.temperature, steps=args.steps, batch_size=args.batch_size,
             budget_seconds=args.budget, eval_batches=args.eval_batches,
             baseline_steps=args.baseline_steps,
             output_dir=args.output, progress=not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
