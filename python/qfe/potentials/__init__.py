"""Energy surfaces: the :class:`Potential` interface, analytic models, DeePMD and LAMMPS models.

See :mod:`qfe.potentials.base` for the contract (pure JAX ``energy(positions, cell)``).

- :func:`load_deepmd` / :class:`DeepMDPotential` -- any DeePMD model (``.pb``, ``.dp``,
  ``.jax``, ...: :data:`MODEL_SUFFIXES`) as a JAX energy function (:mod:`qfe.potentials.deepmd`)
- :class:`LammpsPotential` -- any LAMMPS pair style, e.g. the Li SNAP potential
  (:mod:`qfe.potentials.lammps_potential`)
- :func:`default_lithium_model`, :func:`default_lithium` -- the built-in Li DeePMD model
  (:mod:`qfe.potentials.default`)
- any :class:`Potential` as an ASE calculator: :class:`qfe.ase_calculators.PotentialCalculator`
  (every ASE Calculator subclass lives in :mod:`qfe.ase_calculators`, which depends on this
  package and not the other way round)
- :data:`MODEL_SUFFIXES`, :func:`is_model_file` -- the DeePMD model files qfe reads, by suffix
  (one table, also used by ``qfe.nct``'s ``--potential`` routing)

Heavy dependencies (JAX, deepmd-kit, LAMMPS) load only when those names are first used.
"""

from __future__ import annotations

import importlib

from qfe.potentials.analytic import (
    EinsteinCrystal,
    MorseCrystal,
    PairSpringCrystal,
    QuasiHarmonicCrystal,
)
from qfe.potentials.base import Potential

_LAZY = {
    "DeepMDModel": "qfe.potentials.deepmd",
    "DeepMDPotential": "qfe.potentials.deepmd",
    "load_deepmd": "qfe.potentials.deepmd",
    "deepmd_ase_calculator": "qfe.potentials.deepmd",
    "deepmd_pair_lines": "qfe.potentials.deepmd",
    "LammpsPotential": "qfe.potentials.lammps_potential",
    "lithium_snap_potential": "qfe.potentials.lammps_potential",
    "MODEL_SUFFIXES": "qfe.potentials.deepmd",
    "is_model_file": "qfe.potentials.deepmd",
    "default_lithium_model": "qfe.potentials.default",
    "default_lithium": "qfe.potentials.default",
    "default_lithium_jax_model": "qfe.potentials.default",
    "default_lithium_report": "qfe.potentials.default",
}

__all__ = ["Potential", "EinsteinCrystal", "PairSpringCrystal", "MorseCrystal",
           "QuasiHarmonicCrystal", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qfe.potentials' has no attribute {name!r}")
