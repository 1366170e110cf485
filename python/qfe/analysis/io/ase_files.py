"""Any trajectory file ``ase.io`` reads (``.traj``, extxyz, ...), as :class:`Frame` objects."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from qfe.analysis.io.frames import Frame
from qfe.units import ASE_TIME_PER_PS


def iter_ase(path, *, index=":", ase_format=None) -> Iterator[Frame]:
    """Frames of any file ``ase.io`` reads (``.traj``, extxyz, ...), streamed by ``ase.io.iread``.

    Velocities (if the file has momenta) are converted to A/ps; ASE positions are taken as
    they are (unwrapping is done by tracking unless they are continuous).
    """
    import ase.io

    path = os.fspath(path)
    for k, atoms in enumerate(ase.io.iread(path, index=index, format=ase_format)):
        n = len(atoms)
        ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, n + 1)
        order = np.argsort(ids, kind="stable")
        vel = None
        if atoms.has("momenta"):
            vel = atoms.get_velocities()[order] * ASE_TIME_PER_PS
        types = np.asarray(atoms.arrays["type"])[order] if "type" in atoms.arrays else None
        yield Frame(positions=atoms.get_positions()[order], cell=np.array(atoms.cell[:]),
                    origin=np.zeros(3), pbc=np.array(atoms.pbc), ids=ids[order], types=types,
                    symbols=np.array(atoms.get_chemical_symbols())[order], velocities=vel,
                    masses=atoms.get_masses()[order], unwrapped=False,
                    timestep=atoms.info.get("timestep"), time=atoms.info.get("time"),
                    source=f"{path}: frame {k}")
