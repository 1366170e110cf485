"""Trajectory readers: LAMMPS dump files (text, gzip, binary) and ASE trajectories.

One front end, :func:`read_trajectory` (frames stacked into a :class:`Trajectory`) or
:func:`iter_frames` (streamed), over one reader per format, chosen by :func:`detect_format`:

- ``lammps-dump``         :mod:`qfe.analysis.io.lammps_text` (also the dump writer)
- ``lammps-dump-binary``  :mod:`qfe.analysis.io.lammps_binary`
- ``ase``                 :mod:`qfe.analysis.io.ase_files` (anything ``ase.io`` reads)

:mod:`qfe.analysis.io.frames` holds :class:`Frame`, :class:`Trajectory` and the species-label
rule; :mod:`qfe.analysis.io._lammps` the box and column layout both LAMMPS readers share.
Atoms are sorted by id in every frame.

Units: positions and cells in A, velocities in A/ps, masses in amu, times in ps
(LAMMPS ``metal`` units; ASE velocities are converted).  Errors name the file and the line
(text) or byte offset (binary) where the problem is.
"""

from __future__ import annotations

import gzip
import itertools
import os
import struct
from collections.abc import Iterator

import numpy as np

from qfe.analysis.io.ase_files import iter_ase
from qfe.analysis.io.frames import (
    DumpFormatError,
    Frame,
    Trajectory,
    masses_for_symbols,
    parse_type_map,
    species_labels,
)
from qfe.analysis.io.lammps_binary import iter_lammps_dump_binary
from qfe.analysis.io.lammps_text import iter_lammps_dump, write_lammps_dump

__all__ = [
    "DumpFormatError",
    "Frame",
    "Trajectory",
    "FORMATS",
    "iter_frames",
    "read_trajectory",
    "iter_lammps_dump",
    "iter_lammps_dump_binary",
    "iter_ase",
    "detect_format",
    "parse_type_map",
    "species_labels",
    "write_lammps_dump",
]

# the formats read_trajectory/iter_frames take; "auto" (the default everywhere) asks
# detect_format
FORMATS = ("lammps-dump", "lammps-dump-binary", "ase")


def detect_format(path) -> str:
    """'lammps-dump' (text, .gz allowed), 'lammps-dump-binary' or 'ase', from the file."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            head = fh.read(64)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise DumpFormatError(f"{path}: zstd-compressed file; decompress it first (zstd -d)")
    text = head.lstrip()
    if text.startswith(b"ITEM:"):
        return "lammps-dump"
    if len(head) >= 8:
        (first,) = struct.unpack("<q", head[:8])
        if first < 0 and -first <= 32 and head[8:8 - first].startswith(b"DUMP"):
            return "lammps-dump-binary"
        if path.endswith(".bin") and 0 <= first < 2**62:
            return "lammps-dump-binary"   # old binary format without magic string
    return "ase"


def iter_frames(path, format: str = "auto", *, type_map=None, ase_format=None) -> Iterator[Frame]:
    """Stream frames of a trajectory file.  ``format``: "auto" or one of :data:`FORMATS`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"trajectory file not found: {path}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "lammps-dump":
        return iter_lammps_dump(path, type_map=type_map)
    if fmt == "lammps-dump-binary":
        return iter_lammps_dump_binary(path, type_map=type_map)
    if fmt == "ase":
        return iter_ase(path, ase_format=ase_format)
    raise ValueError(f"unknown trajectory format {format!r} (auto, {', '.join(FORMATS)})")


def read_trajectory(path, format: str = "auto", *, start: int = 0, stop: int | None = None,
                    stride: int = 1, timestep: float | None = None,
                    frame_interval: float | None = None, type_map=None, masses=None,
                    ase_format=None, progress: bool = False) -> Trajectory:
    """Read frames ``start:stop:stride`` of a trajectory into a :class:`Trajectory`.

    timestep       : MD timestep in ps; frame time = step number x timestep (LAMMPS dumps)
    frame_interval : time between stored frames in ps (used when frames carry no step number)
    type_map       : "La,H" or {1: "La", 2: "H"}: element names of LAMMPS types
    masses         : {species: amu} overriding masses from elements / the ``mass`` column
    The atom set (ids) and count must be the same in every frame.
    """
    if stride < 1 or start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad frame selection start={start} stop={stop} stride={stride}")
    frames = iter_frames(path, format, type_map=type_map, ase_format=ase_format)
    sel = itertools.islice(frames, start, stop, stride)
    if progress:
        from tqdm import tqdm

        sel = tqdm(sel, desc=f"reading {os.path.basename(os.fspath(path))}", unit="frame",
                   leave=False, disable=None)
    pos, cells, origins, vel, img, steps, times = [], [], [], [], [], [], []
    first: Frame | None = None
    for fr in sel:
        if first is None:
            first = fr
        else:
            if fr.n_atoms != first.n_atoms:
                raise DumpFormatError(f"{fr.source}: {fr.n_atoms} atoms, but the first frame read "
                                      f"({first.source}) has {first.n_atoms}")
            if not np.array_equal(fr.ids, first.ids):
                raise DumpFormatError(f"{fr.source}: atom ids differ from the first frame read "
                                      f"({first.source})")
            if (fr.velocities is None) != (first.velocities is None) or \
                    (fr.images is None) != (first.images is None):
                raise DumpFormatError(f"{fr.source}: columns differ from the first frame "
                                      f"({first.source})")
        pos.append(fr.positions)
        cells.append(fr.cell)
        origins.append(fr.origin)
        if fr.velocities is not None:
            vel.append(fr.velocities)
        if fr.images is not None:
            img.append(fr.images)
        steps.append(fr.timestep)
        times.append(fr.time)
    if first is None:
        raise DumpFormatError(f"{path}: no frames in the selection start={start} stop={stop} "
                              f"stride={stride}")
    symbols = first.symbols
    ms = first.masses
    if masses:
        labels = species_labels(symbols, first.types, first.n_atoms)
        ms = np.array(ms if ms is not None else np.full(first.n_atoms, np.nan), dtype=float)
        for key, value in masses.items():
            hit = labels == str(key)
            if not hit.any():
                raise ValueError(f"mass given for species {key!r}, which is not in {path}")
            ms[hit] = float(value)
    elif ms is None and symbols is not None:
        ms = masses_for_symbols(symbols)
    if ms is not None and np.isnan(ms).any():
        ms = None
    tsteps = np.array(steps, dtype=np.int64) if all(s is not None for s in steps) else None
    if all(t is not None for t in times):
        tarr = np.array(times, dtype=float)
    elif timestep is not None and tsteps is not None:
        tarr = tsteps * float(timestep)
    elif frame_interval is not None:
        tarr = (start + stride * np.arange(len(pos))) * float(frame_interval)
    else:
        tarr = None
    if tarr is not None and len(tarr) > 1 and np.any(np.diff(tarr) <= 0):
        k = int(np.flatnonzero(np.diff(tarr) <= 0)[0])
        raise DumpFormatError(f"{path}: frame times not increasing (frame {k + 1} of the "
                              f"selection: t={tarr[k + 1]} after t={tarr[k]}); several runs "
                              "appended?")
    return Trajectory(
        positions=np.stack(pos), cells=np.stack(cells), origins=np.stack(origins), pbc=first.pbc,
        ids=first.ids, types=first.types, symbols=symbols, masses=ms,
        velocities=np.stack(vel) if vel else None, images=np.stack(img) if img else None,
        unwrapped=first.unwrapped, timesteps=tsteps, times=tarr, path=os.fspath(path))
