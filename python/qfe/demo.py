"""``qfe demo``: the main job on the built-in default model.

Default: NCT variational quantum free energy of bcc lithium (54 atoms, 100 K) with qfe's
default Li DeePMD model, within about 10 minutes on 2 cores; prints F with its error bar, the
Gaussian (SCHA) and occupations-only baselines, the harmonic and anharmonic zero-point
energies (meV/atom) and writes results and plots.

``qfe demo --qtb``: kinetic temperature of bcc Li under ``fix qtb`` (quantum) and
``fix langevin`` (classical) with the Li SNAP potential, a few minutes.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub) -> None:
    from qfe.nct.demo import DEFAULTS
    from qfe.qtb import demo as qtb_demo

    p = sub.add_parser("demo", help="quick demo: NCT free energy of bcc Li (default model); "
                                    "--qtb for the quantum thermal bath demo",
                       description=__doc__.replace("``", ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--qtb", action="store_true",
                   help="run the QTB demo (LAMMPS fix qtb vs fix langevin) instead")
    p.add_argument("--output", type=Path, default=Path("qfe-output/demo"),
                   help="folder for results and plots (default %(default)s)")
    g = p.add_argument_group("NCT demo")
    g.add_argument("--potential", default="default",
                   help="potential spec (default: the built-in Li model)")
    g.add_argument("--repeat", type=int, default=DEFAULTS["repeat"],
                   help="bcc conventional cells per edge (2 atoms each), default %(default)s")
    g.add_argument("--lattice", type=float, default=DEFAULTS["lattice"],
                   help="bcc lattice constant (A), default %(default)s")
    g.add_argument("--temperature", type=float, default=DEFAULTS["temperature"],
                   help="temperature (K), default %(default)s")
    g.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help="maximum training steps, default %(default)s")
    g.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    g.add_argument("--budget", type=float, default=DEFAULTS["budget_seconds"],
                   help="training time budget (s), default %(default)s")
    g.add_argument("--eval-batches", type=int, default=DEFAULTS["eval_batches"])
    g.add_argument("--baseline-steps", type=int, default=DEFAULTS["baseline_steps"],
                   help="steps of the occupations-only and Gaussian (SCHA) baselines "
                        "(0: none), default %(default)s")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    qtb_demo.add_arguments(p.add_argument_group("QTB demo (--qtb)"))
    p.set_defaults(func=run)


def run(args) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.qtb:
        from qfe.qtb import demo as qtb_demo

        return qtb_demo.run(args)
    from qfe.nct.demo import run_demo

    run_demo(args.potential, repeat=args.repeat, lattice=args.lattice,
             temperature=args.temperature, steps=args.steps, batch_size=args.batch_size,
             budget_seconds=args.budget, eval_batches=args.eval_batches,
             baseline_steps=args.baseline_steps, output_dir=str(args.output),
             progress=not args.quiet)
    print(f"results in {args.output}/")
    return 0
