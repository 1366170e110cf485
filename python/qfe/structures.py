"""Structures from files: the one reader behind ``qfe nct``, ``qfe analyze symmetry``, the NCT
API and the analysis API.

:func:`load_structure` returns an ``ase.Atoms`` from

- an ``ase.Atoms`` (copied);
- any file ``ase.io`` reads (POSCAR, CIF, extxyz, ``.traj``, ...);
- a LAMMPS data file (``*.data``, ``*.lmp``, ``*.lammps`` or ``data.*``; ``atom_style atomic``);
- a LAMMPS dump (text, ``.gz`` or binary; read by :mod:`qfe.analysis.io`, ``type_map`` names
  its types).

Units are those of the file (A for positions and cells; LAMMPS files in ``metal`` units).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LAMMPS_DATA_SUFFIXES", "load_structure"]

# names ASE cannot tell from the content: read with format="lammps-data"
LAMMPS_DATA_SUFFIXES = (".data", ".lmp", ".lammps")


def load_structure(structure, index=-1, *, format: str | None = None, type_map=None):
    """``ase.Atoms`` from Atoms (copied) or a structure/trajectory file (see the module doc).

    index    : frame of a file with several (default -1: the last)
    format   : ASE format name overriding the detection (e.g. "vasp", "lammps-data")
    type_map : element names of LAMMPS dump types, "La,H" or "1=La,2=H"
    Raises FileNotFoundError for a missing file and ValueError naming the file when it
    cannot be read or has no frame ``index``.
    """
    from ase import Atoms

    if isinstance(structure, Atoms):
        return structure.copy()
    path = Path(structure)
    if not path.is_file():
        raise FileNotFoundError(f"structure file not found: {path}")
    if format is None:
        dump = _lammps_dump_kind(path)
        if dump is not None:
            from qfe.analysis.io import iter_frames

            frames = list(iter_frames(path, dump, type_map=type_map))
            try:
                return frames[index].to_ase()
            except IndexError:
                raise ValueError(f"{path} has {len(frames)} frames; frame {index} does not "
                                 "exist") from None
        if path.suffix.lower() in LAMMPS_DATA_SUFFIXES or path.name.startswith("data."):
            format = "lammps-data"
    import ase.io

    kwargs = {"format": format} if format else {}
    if format == "lammps-data":
        kwargs["atom_style"] = "atomic"
    try:
        atoms = ase.io.read(str(path), index=index, **kwargs)
    except Exception as exc:   # ase raises many types; name the file
        raise ValueError(f"could not read structure {path}: {exc}") from exc
    return atoms


def _lammps_dump_kind(path: Path) -> str | None:
    """'lammps-dump' or 'lammps-dump-binary' if ``path`` is a LAMMPS dump, else None."""
    from qfe.analysis.io import detect_format

    try:
        kind = detect_format(path)
    except ValueError:        # e.g. a compressed file the dump reader refuses: let ASE try
        return None
    return None if kind == "ase" else kind
