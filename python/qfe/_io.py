"""Atomic file writes shared by every module that saves results or checkpoints.

A file is written to a hidden temporary name in the same directory, flushed and fsync'ed, then
moved into place with ``os.replace`` (atomic on POSIX): a reader, or a run resumed after a
crash, sees either the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "write_json_atomic"]


@contextmanager
def atomic_write(path, mode: str = "w"):
    """Open a temporary file for writing (``mode`` 'w' or 'wb'); on a clean exit it replaces
    ``path`` atomically, on an exception it is removed and ``path`` is left untouched."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path, data, *, indent: int = 1) -> Path:
    """Write ``data`` as JSON (with a trailing newline) to ``path`` atomically."""
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=indent)
        fh.write("\n")
    return Path(path)
