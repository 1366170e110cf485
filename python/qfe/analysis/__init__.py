"""Trajectory analysis for (quantum) MD: readers, MSD and reordered MSD, RDF, vibrational DOS
and zero-point temperature, E/(3 N kB) curves, symmetry.

Modules (numpy/scipy/spglib/ASE only; imported lazily so ``import qfe.analysis`` is cheap):

- :mod:`qfe.analysis.io`             :func:`read_trajectory` over one reader per format:
  ``io.lammps_text`` (text/gzip dumps, and the dump writer), ``io.lammps_binary``,
  ``io.ase_files``; ``io.frames`` holds ``Frame``/``Trajectory`` and the species-label rule
- :mod:`qfe.analysis.neighbors`      minimum image and periodic neighbour search (any cell)
- :mod:`qfe.analysis.msd`            MSD per species, diffusion coefficient with error
- :mod:`qfe.analysis.reordered_msd`  MSD' minimised over permutations of like atoms
- :mod:`qfe.analysis.rdf`            partial RDFs and coordination numbers
- :mod:`qfe.analysis.vdos`           VACF, g(omega), T_zero, harmonic E(T) and C_V(T)
- :mod:`qfe.analysis.thermo`         E/(3 N kB) vs T from LAMMPS logs / thermo CSV
- :mod:`qfe.analysis.symmetry`       space group, Wyckoff orbits and free coordinates (spglib)
- :mod:`qfe.analysis.cage`           LaH10 cage distortion angle theta between H quadrilaterals
- :mod:`qfe.analysis.plots`          the figures of these results (matplotlib, Agg)
- :mod:`qfe.analysis.cli`            ``qfe analyze msd|rmsd|rdf|dos|thermo|symmetry``: argument
  parsing and output files over the functions above

Structure files (POSCAR, CIF, LAMMPS data or a dump frame) are read by
:func:`qfe.structures.load_structure`.  Units: A, ps, eV, K, amu; frequencies in THz and meV.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "read_trajectory": "io", "iter_frames": "io", "Trajectory": "io", "Frame": "io",
    "DumpFormatError": "io",
    "msd": "msd", "diffusion_coefficient": "msd", "unwrap": "msd", "msd_per_species": "msd",
    "reordered_msd": "reordered_msd", "optimal_assignment": "reordered_msd",
    "rdf": "rdf", "rdf_counts": "rdf",
    "vacf": "vdos", "vdos": "vdos", "vdos_from_velocities": "vdos", "vdos_by_species": "vdos",
    "thermo_point": "thermo", "energy_curves": "thermo", "read_lammps_log": "thermo",
    "analyze_symmetry": "symmetry", "average_structure": "symmetry",
    "cage_angles": "cage", "cage_angles_trajectory": "cage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"qfe.analysis.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'qfe.analysis' has no attribute {name!r}")
