"""Classical free energies from LAMMPS for any pair style: Frenkel-Ladd thermodynamic
integration at fixed (V, T), NPT volumes and G = F + PV, G(T) by Gibbs-Helmholtz integration,
and crossing temperatures of two phases.  See docs/classical.md.

- :func:`frenkel_ladd` -- F(V, T) (``fix ti/spring``), :mod:`qfe.classical.frenkel_ladd`
- :func:`gibbs_free_energy`, :func:`gibbs_curve`, :func:`crossing_temperature` --
  :mod:`qfe.classical.gibbs`
- closed forms (Einstein F, centre-of-mass correction, classical harmonic F) --
  :mod:`qfe.classical.thermo`
"""

from __future__ import annotations

from qfe.classical.frenkel_ladd import (
    FrenkelLaddResult,
    FrenkelLaddSettings,
    frenkel_ladd,
    prepare_structure,
)
from qfe.classical.md import MDSettings
from qfe.classical.model import PairModel, pair_model

__all__ = ["FrenkelLaddResult", "FrenkelLaddSettings", "frenkel_ladd", "prepare_structure",
           "MDSettings", "PairModel", "pair_model"]
