"""``qfe model ...`` commands: build the default Li model, show the shipped one."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("model", help="the built-in Li DeePMD model: build, inspect",
                              description="The built-in lithium DeePMD model.")
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")

    b = sub.add_parser(
        "build-li", help="rebuild the default Li model end to end (SNAP teacher, deepmd-kit)",
        description="Sample bcc/fcc/hcp Li with the Li SNAP teacher in LAMMPS, label, train a "
                    "small se_e2_a DeePMD model (dp --tf train), freeze, convert to .dp, "
                    "validate (report.json + plots).  Resumable: rerun the same command to "
                    "continue; finished stages are skipped.")
    b.add_argument("--workdir", default="runs/li-build",
                   help="work directory (default %(default)s)")
    b.add_argument("--output", default=None,
                   help="where the model, report and plots go (default WORKDIR/model)")
    b.add_argument("--install", action="store_true",
                   help="write the result into the package's data directory "
                        "(python/qfe/data/li_default of the source checkout around the "
                        "working directory; reinstall to ship it)")
    b.add_argument("--settings", default=None,
                   help="JSON file with build settings (see qfe.potentials.li_model.settings)")
    b.add_argument("--seed", type=int, default=None, help="master random seed")
    b.add_argument("--steps", type=int, default=None, help="training steps")
    b.add_argument("--workers", type=int, default=None, help="parallel MD workers")
    b.add_argument("--threads", type=int, default=None, help="TensorFlow threads for training")
    b.add_argument("--quick", action="store_true",
                   help="tiny smoke-test build (minutes; the model is NOT accurate)")
    b.add_argument("--stages", default=None,
                   help="comma-separated subset of configs,labels,data,train,freeze,validate")
    b.set_defaults(func=_build_li)

    g = sub.add_parser(
        "build", help="a DeePMD model from an offline teacher (qfe.teachers); first: LaH10",
        description="Sample Fm-3m LaH10 cells (strained, displaced) over a range of lattice "
                    "parameters, label them with a teacher of qfe.teachers (default CHGNet, "
                    "optional extra requirements/lah10.txt), train a two-type se_e2_a model "
                    "(dp --tf train), freeze, report held-out errors.  Resumable.  No MD "
                    "sampling or distorted phases yet (docs/lah10.md).")
    g.add_argument("--system", default="lah10", help="structure family (only lah10 so far)")
    g.add_argument("--teacher", default="chgnet", help="teacher name (qfe.teachers)")
    g.add_argument("--workdir", default="runs/lah10-build", help="default %(default)s")
    g.add_argument("--output", default=None, help="model directory (default WORKDIR/model)")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--steps", type=int, default=None, help="training steps")
    g.add_argument("--quick", action="store_true",
                   help="tiny smoke-test build (minutes; the model is NOT accurate)")
    g.add_argument("--stages", default=None,
                   help="comma-separated subset of configs,labels,data,train,freeze,validate")
    g.set_defaults(func=_build_teacher)

    i = sub.add_parser("info", help="paths and validation numbers of the shipped default model")
    i.add_argument("--json", action="store_true", help="print the full report as JSON")
    i.set_defaults(func=_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _build_li(args) -> int:
    from pathlib import Path

    from qfe.potentials.li_model.pipeline import STAGES, build_lithium_model
    from qfe.potentials.li_model.settings import BuildSettings

    if args.settings:
        settings = BuildSettings.load(args.settings)
    elif args.quick:
        settings = BuildSettings.quick()
    else:
        settings = BuildSettings()
    for name, value in (("seed", args.seed), ("training_steps", args.steps),
                        ("workers", args.workers), ("training_threads", args.threads)):
        if value is not None:
            if value < (0 if name == "seed" else 1):
                raise ValueError(f"--{name.replace('training_', '')} must be positive, got {value}")
            setattr(settings, name, value)
    stages = STAGES
    if args.stages:
        stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
        bad = [s for s in stages if s not in STAGES]
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
    output = args.output
    if args.install:
        if output is not None:
            raise ValueError("give either --output or --install")
        output = _source_data_dir()
    report = build_lithium_model(args.workdir, output, settings, stages)
    out = Path(output) if output is not None else Path(args.workdir) / "model"
    if report:
        print(_summary(report))
        print(f"model and report in {out.resolve()}")
    return 0


def _build_teacher(args) -> int:
    from qfe.potentials.teacher_build import STAGES, TeacherBuildSettings, TeacherModelBuild

    kw = {"system": args.system, "teacher": args.teacher}
    if args.seed is not None:
        kw["seed"] = args.seed
    if args.steps is not None:
        kw["training_steps"] = args.steps
    settings = TeacherBuildSettings.quick(**kw) if args.quick else TeacherBuildSettings(**kw)
    stages = STAGES if args.stages is None else [x.strip() for x in args.stages.split(",")]
    report = TeacherModelBuild(args.workdir, args.output, settings).run(stages)
    if report is not None:
        print(json.dumps(report["held_out"], indent=2))
    return 0


def _source_data_dir():
    """python/qfe/data/li_default of the source checkout in (or above) the working directory.

    The installed package's copy lives in site-packages and is replaced on the next install,
    so ``--install`` must write into the sources."""
    from pathlib import Path

    for root in (Path.cwd(), *Path.cwd().parents):
        target = root / "python" / "qfe" / "data" / "li_default"
        if (root / "pyproject.toml").exists() and target.parent.is_dir():
            return target
    raise ValueError(f"--install writes into a qfe source checkout (python/qfe/data/li_default), "
                     f"but none contains the working directory {Path.cwd()}; run from the "
                     f"checkout or give --output")


def _summary(report: dict) -> str:
    h = report["heldout"]
    ph = report["phonons_gamma"]
    bf = report["bcc_fcc"]
    return "\n".join([
        f"held-out ({h['configurations']} configs): energy RMSE "
        f"{h['energy_rmse_meV_per_atom']:.3f} meV/atom, force RMSE "
        f"{h['force_rmse_eV_per_A']:.4f} eV/A, virial RMSE {h['virial_rmse_meV_per_atom']:.3f} "
        "meV/atom",
        f"Gamma phonons ({ph['structure']}): relative RMS difference "
        f"{100 * ph['relative_rms_difference']:.2f}%",
        f"E_fcc - E_bcc at {bf['volume_A3_per_atom']} A^3/atom: model "
        f"{bf['model_meV_per_atom']:.3f}, teacher {bf['teacher_meV_per_atom']:.3f} meV/atom "
        f"(error {bf['error_meV_per_atom']:+.3f})",
    ])


def _info(args) -> int:
    from qfe.potentials.default import default_lithium_model, default_lithium_report

    report = default_lithium_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model (TensorFlow/LAMMPS): {default_lithium_model('pb')}")
    print(f"model (JAX):               {default_lithium_model('dp')}")
    print(f"LAMMPS: pair_style deepmd {default_lithium_model('pb')}\n        pair_coeff * * Li")
    print(_summary(report))
    return 0


__all__ = ["register"]
