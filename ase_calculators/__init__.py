"""ASE-facing classes of qfe (installed as ``qfe.ase_calculators``).

- :class:`QTBCalculator`   wraps any ASE calculator and adds the quantum-thermal-bath force, so
  that ASE's ``VelocityVerlet`` runs QTB dynamics (same kernel as LAMMPS ``fix qtb``)
- :class:`QTBDynamics`     velocity Verlet + quantum thermal bath, ready to use
- :data:`PS`               one picosecond in ASE time units (the conversion used by the above)
- :class:`HarmonicTethers` Einstein crystal (ASE counterpart of LAMMPS ``fix spring/self``)
- :class:`NCTCalculator`   quantum free energy, internal energy and thermal stress of a crystal
  from a neural-canonical-transformation calculation
- :class:`PotentialCalculator` any :class:`qfe.potentials.Potential` (DeePMD in JAX, LAMMPS
  pair styles, analytic models) as an ASE calculator: energy, forces, stress

Every subclass of ASE's ``Calculator`` or ``MolecularDynamics`` in qfe lives here: this package
is the layer that adapts qfe's engines to ASE's protocol (property names, caching, stress in
Voigt order, ASE time units), so :mod:`qfe.potentials`, :mod:`qfe.nct` and :mod:`qfe.qtb`
define none (they take ``ase.Atoms`` only as input data) and depend on nothing here.

Imports are lazy: ``import qfe.ase_calculators`` loads neither the kernel nor JAX.
"""

from __future__ import annotations

import importlib

__all__ = ["PS", "QTBCalculator", "QTBDynamics", "HarmonicTethers", "NCTCalculator",
           "PotentialCalculator"]

_WHERE = {"PS": "qtb", "QTBCalculator": "qtb", "QTBDynamics": "qtb",
          "HarmonicTethers": "harmonic", "NCTCalculator": "nct",
          "PotentialCalculator": "potential"}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"qfe.ase_calculators.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'qfe.ase_calculators' has no attribute {name!r}")
