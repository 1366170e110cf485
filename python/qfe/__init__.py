"""qfe: nuclear quantum effects and anharmonic quantum free energies.

Sub-packages are imported lazily so that ``import qfe`` stays cheap (the LAMMPS wrapper
imports it at start-up through the ``lammps.plugins`` entry point):

- :mod:`qfe.units`        physical constants and unit conversions (eV, A, K, amu, ps): the
  one place they are defined
- :mod:`qfe.structures`   ``load_structure``: structures from files (ASE formats, LAMMPS data
  and dumps) for the CLI, NCT and analysis
- :mod:`qfe.lammps`       plugin path, LAMMPS instances with the qfe plugin loaded
- :mod:`qfe.qtb`          quantum thermal bath: noise kernel binding, spectra
- :mod:`qfe.potentials`   energy surfaces (DeePMD in JAX/ASE/LAMMPS, analytic models)
- :mod:`qfe.nct`          neural canonical transformations (variational quantum free energy)
- :mod:`qfe.classical`    classical reference free energies from LAMMPS (NPT volume,
  Frenkel-Ladd, Gibbs-Helmholtz)
- :mod:`qfe.pimd`         path-integral MD checks: exact P-bead harmonic values, Einstein
  decks and a runner for ``fix pimd/langevin`` (``-partition Px1``)
- :mod:`qfe.analysis`     trajectory readers, MSD, reordered MSD, RDF, vibrational DOS, symmetry,
  LaH10 cage angle
- :mod:`qfe.teachers`     offline reference models (CHGNet, SevenNet; optional extra) and
  labelled data sets behind one protocol, for ``qfe model build``
- :mod:`qfe.lah10`        LaH10 structures (Fm-3m builder, strains)
- :mod:`qfe.ase_calculators`  every ASE calculator/dynamics class: QTB, NCT, harmonic
  tethers, any Potential (``PotentialCalculator``)
- :mod:`qfe.cli`          the ``qfe`` command; sub-commands come from each package's ``cli``

Importing ``qfe`` also prepares the environment so that ``import lammps`` works in-process
and LAMMPS instances auto-load the qfe plugin (see :func:`qfe.lammps.setup_environment`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"units", "structures", "lammps", "qtb", "potentials", "nct", "analysis",
               "ase_calculators", "cli", "teachers", "lah10", "classical", "pimd"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"qfe.{name}")
    raise AttributeError(f"module 'qfe' has no attribute {name!r}")


def _prepare_environment() -> None:
    # Cheap: env variables and a ctypes preload of libmpi; no LAMMPS or JAX import.
    from qfe import _environment

    _environment.setup_environment()


_prepare_environment()
