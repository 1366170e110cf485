"""Harmonic tethers: each atom bound to its own reference position (an Einstein crystal).

The ASE counterpart of LAMMPS ``fix spring/self K`` (with ``fix_modify energy yes``):
E = sum_i K/2 |r_i - r_i^0|^2, F_i = -K (r_i - r_i^0), with unwrapped positions.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["HarmonicTethers"]


class HarmonicTethers(Calculator):
    """Every atom tethered to a fixed point by a spring of constant `spring_constant` (eV/A^2).

    Parameters
    ----------
    spring_constant : K in eV/A^2 (> 0)
    reference_positions : (n, 3) tether points in A; default: the positions at the first
        calculation (like fix spring/self, which tethers atoms where they are when defined)

    The Einstein frequency of an atom of mass m (amu) is omega = sqrt(K/m) in 1/ASE time, i.e.
    sqrt(K/m) * PS rad/ps with :data:`qfe.ase_calculators.PS`.  Stress is zero (tethers do not
    depend on the cell).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, spring_constant: float, reference_positions=None, **kwargs):
        k = float(spring_constant)
        if not np.isfinite(k) or k <= 0:
            raise ValueError(f"spring_constant must be > 0 eV/A^2, got {spring_constant!r}")
        super().__init__(**kwargs)
        self.spring_constant = k
        self.reference_positions = (None if reference_positions is None
                                    else np.array(reference_positions, dtype=float))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.get_positions()
        if self.reference_positions is None:
            self.reference_positions = positions.copy()
        if self.reference_positions.shape != positions.shape:
            raise ValueError(f"reference_positions have shape {self.reference_positions.shape}, "
                             f"the atoms {positions.shape}")
        dx = positions - self.reference_positions
        energy = 0.5 * self.spring_constant * float(np.sum(dx * dx))
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": -self.spring_constant * dx, "stress": np.zeros(6)}
