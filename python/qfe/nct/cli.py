"""``qfe nct``: NCT free energy of a crystal from the command line.

    qfe nct POSCAR --potential default --temperature 100 --steps 500 --output runs/li100
    qfe nct bcc.vasp --potential "morse:D=0.3,a=1.2,r0=3.0" --config nct.toml --set batch_size=128
    qfe nct bcc.vasp --potential default -T 100 --pressure 1.0 --output runs/li-1GPa   # G(T, P)

Options come from (lowest to highest priority) the defaults, a config file (TOML/JSON/YAML,
optionally under a ``[nct]`` table), ``--set key=value`` pairs and the explicit flags.  A run
with ``--output`` checkpoints there and resumes from it when started again.  Importing this
module is cheap (no JAX); the handler imports the engine.
"""

from __future__ import annotations

import argparse

from qfe.nct.config import BASELINES, FLOW_KINDS, GRADIENT_ESTIMATORS

PRESSURE_TOLERANCE_HELP = (
    "stop the cell updates once |P - P*| is below this many GPa even when 2 sigma_P is "
    "smaller (default 0.001); G = F + P* V then errs by (P - P*)^2 V / 2B, e.g. 0.004 meV/atom "
    "for 0.03 GPa in Li")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "nct", help="variational quantum free energy of a crystal (neural canonical "
                    "transformations, JAX)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structure", help="structure file (POSCAR, CIF, extxyz, LAMMPS data, ...)")
    p.add_argument("--potential", default="default",
                   help="'default' (qfe Li model), a DeePMD model file, or an analytic model "
                        "'einstein:k=..', 'pair-spring:k=..,cutoff=..', 'morse:D=..,a=..,r0=..', "
                        "or any LAMMPS pair style evaluated by LAMMPS: "
                        "'lammps:pair_style snap; pair_coeff * * A.snapcoeff A.snapparam Li' "
                        "or 'lammps:FILE' (a file of pair_style/pair_coeff/... commands)")
    p.add_argument("--temperature", "-T", type=float, default=None, help="temperature in K")
    p.add_argument("--config", help="config file (.toml, .json, .yaml)")
    p.add_argument("--steps", type=int, default=None, help="training steps")
    p.add_argument("--batch-size", type=int, default=None, dest="batch_size")
    p.add_argument("--sampler", choices=["exact", "metropolis"], default=None)
    p.add_argument("--kinetic", choices=["stochastic", "laplacian", "gradient"], default=None)
    p.add_argument("--flow", choices=list(FLOW_KINDS), default=None,
                   help="flow ansatz (default full; gaussian = SCHA; identity = occupations "
                        "only)")
    p.add_argument("--gradient", choices=list(GRADIENT_ESTIMATORS), default=None,
                   help="flow gradient estimator (default stl)")
    p.add_argument("--baselines", default=None, type=_baseline_list,
                   help=f"comma-separated extra trainings reported beside F: "
                        f"{', '.join(BASELINES)}")
    p.add_argument("--stop-when-converged", action="store_true", default=None,
                   dest="stop_when_converged",
                   help="end training when the convergence monitor says converged")
    p.add_argument("--levels", type=int, default=None, dest="n_levels",
                   help="occupation levels per mode (K >= 2)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", "-o", default=None, dest="output_dir",
                   help="directory for checkpoint.npz, result.json, history.csv, plots")
    p.add_argument("--no-resume", action="store_false", dest="resume", default=None,
                   help="start afresh even if OUTPUT has a checkpoint")
    p.add_argument("--spectrum", action="store_true", default=None, dest="phonon_spectrum",
                   help="also compute anharmonic single-phonon energies (costly)")
    p.add_argument("--quiet", action="store_false", dest="progress", default=None,
                   help="no progress bar")
    p.add_argument("--pressure", "-P", type=float, default=None,
                   help="target pressure in GPa: minimise G = F + P V over the cell "
                        "(qfe.nct.npt; cell updates until |P - P*| <= 2 sigma_P)")
    p.add_argument("--relax", choices=["isotropic", "axes", "full"], default="isotropic",
                   help="cell updates at constant pressure: isotropic (cubic cells), the "
                        "three lengths separately (orthorhombic cells) or the full cell, "
                        "shape included")
    p.add_argument("--max-cell-updates", type=int, default=10, dest="max_cell_updates",
                   help="most cell updates at constant pressure (default 10)")
    p.add_argument("--pressure-tolerance", type=float, default=1e-3, dest="pressure_tolerance",
                   help=PRESSURE_TOLERANCE_HELP)
    p.add_argument("--bulk-modulus", type=float, default=None, dest="bulk_modulus",
                   help="bulk modulus guess in GPa for the first cell step (default: from "
                        "the static lattice)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any NCTConfig option (repeatable)")
    p.set_defaults(func=run)
    _register_phases(subparsers)


PHASES_DOC = """``qfe phases``: quantum (NCT) Gibbs energies G(T) of several structures at one
pressure, Delta G(T) with error bars and the crossing temperature (see qfe.nct.phases).

    qfe phases bcc.vasp fcc.vasp --potential default --pressure 1 --temperatures 50:300:25 \\
        --steps 400 --output runs/li-1GPa

Every structure and temperature is a constant-pressure NCT run (qfe nct --pressure), warm
started from the previous temperature; static-lattice and harmonic baselines come in the same
run (--baselines adds the phonopy quasi-harmonic G and gaussian/occupations trainings).
Writes phases.json, phases.csv and phases.png to --output, and resumes from it when started
again.
"""


def _register_phases(subparsers) -> None:
    p = subparsers.add_parser(
        "phases", help="quantum (NCT) Gibbs energies of several structures at constant "
                       "pressure, Delta G(T) and the crossing temperature",
        description=PHASES_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structures", nargs="+", help="two or more structure files")
    p.add_argument("--potential", default="default",
                   help="potential spec as for 'qfe nct' (one for all structures)")
    p.add_argument("--pressure", "-P", type=float, required=True, help="pressure in GPa")
    p.add_argument("--temperatures", required=True, metavar="T0:T1:DT",
                   help="temperature grid in K: T0:T1:DT (inclusive) or T1,T2,...")
    p.add_argument("--baselines", default="static,harmonic", dest="phase_baselines",
                   help="comma-separated: static, harmonic, qha, gaussian, occupations "
                        "(default static,harmonic; qha (phonopy) costs 9 Hessians per "
                        "structure, gaussian/occupations a training each)")
    p.add_argument("--relax", choices=["isotropic", "axes", "full"], default="isotropic")
    p.add_argument("--pressure-tolerance", type=float, default=1e-3, dest="pressure_tolerance",
                   help=PRESSURE_TOLERANCE_HELP)
    p.add_argument("--steps-after-update", type=int, default=None, dest="steps_after_update",
                   help="training steps at each later cell and temperature (default "
                        "steps // 3, at least 50)")
    p.add_argument("--config", help="NCT config file (.toml, .json, .yaml)")
    p.add_argument("--steps", type=int, default=None, help="training steps of the first cell")
    p.add_argument("--batch-size", type=int, default=None, dest="batch_size")
    p.add_argument("--flow", choices=list(FLOW_KINDS), default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", "-o", default=None, dest="output_dir",
                   help="directory for phases.json/csv/png and the resumable runs")
    p.add_argument("--quiet", action="store_false", dest="progress", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any NCTConfig option (repeatable)")
    p.set_defaults(func=run_phases)


def _check_pressure_tolerance(args) -> None:
    if not args.pressure_tolerance >= 0:
        raise ValueError(f"--pressure-tolerance must be >= 0 GPa, got {args.pressure_tolerance}")


def run_phases(args) -> int:
    from qfe.classical.cli import _grid
    from qfe.nct.config import NCTConfig

    options = options_from_args(args)
    config = NCTConfig.from_dict(options)
    _check_pressure_tolerance(args)
    temps = _grid(args.temperatures)
    bases = [b.strip() for b in args.phase_baselines.split(",") if b.strip()]
    from qfe.nct.phases import PHASE_BASELINES, compare_phases

    bad = [b for b in bases if b not in PHASE_BASELINES]
    if bad:
        raise ValueError(f"unknown baseline {bad[0]!r}; choose from {', '.join(PHASE_BASELINES)}")
    npt = {"relax": args.relax, "pressure_tolerance": args.pressure_tolerance}
    if args.steps_after_update is not None:
        npt["steps_after_update"] = args.steps_after_update
    result = compare_phases(args.structures, args.potential, args.pressure, temps,
                            config=config, baselines=bases, npt_options=npt)
    print(result.summary())
    if config.output_dir:
        print(f"results written to {config.output_dir} (phases.json, phases.csv, phases.png)")
    return 0


def _baseline_list(text: str) -> list:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in BASELINES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown baseline {bad[0]!r}; choose from "
                                         f"{', '.join(BASELINES)}")
    return names


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def options_from_args(args) -> dict:
    """Merged option dict: config file < --set < explicit flags."""
    from qfe.nct.config import load_options

    options = dict(load_options(args.config)) if args.config else {}
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        options[k.strip()] = _parse_value(v.strip())
    for name in ("temperature", "steps", "batch_size", "sampler", "kinetic", "flow",
                 "gradient", "baselines", "stop_when_converged", "n_levels", "seed",
                 "output_dir", "resume", "phonon_spectrum", "progress"):
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    return options


def run(args) -> int:
    from qfe.nct.config import NCTConfig

    options = options_from_args(args)
    config = NCTConfig.from_dict(options)          # validates before anything heavy
    _check_pressure_tolerance(args)
    if args.pressure is not None:
        from qfe.nct.npt import run_npt

        result = run_npt(args.structure, args.potential, pressure=args.pressure, config=config,
                         relax=args.relax, max_cell_updates=args.max_cell_updates,
                         bulk_modulus=args.bulk_modulus,
                         pressure_tolerance=args.pressure_tolerance)
        print(result.summary())
        if config.output_dir:
            print(f"results written to {config.output_dir} (npt_result.json, npt.json, "
                  f"npt_pressure.png, cell-NN/)")
        return 0
    from qfe.nct.api import run as run_nct

    result = run_nct(args.structure, args.potential, config=config)
    print(result.summary())
    if config.output_dir:
        print(f"results written to {config.output_dir}")
    return 0
