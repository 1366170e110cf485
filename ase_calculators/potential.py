"""Any :class:`~qfe.potentials.base.Potential` as an ASE calculator (JAX-backed).

>>> from qfe.ase_calculators import PotentialCalculator
>>> from qfe.potentials import default_lithium
>>> atoms.calc = PotentialCalculator(default_lithium(atoms))
>>> atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

Energies in eV, forces in eV/A, stress in eV/A^3 (ASE sign and Voigt order).  The atoms must
be those the potential was built for (same species order); the cell may change (the stress is
the strain derivative).  For deepmd-kit's own calculator use
:func:`qfe.potentials.deepmd.deepmd_ase_calculator`.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["PotentialCalculator"]


class PotentialCalculator(Calculator):
    """ASE calculator evaluating a qfe :class:`Potential` with jitted JAX functions."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential
        self._fns = None

    def _compiled(self):
        if self._fns is None:
            import jax

            pot = self.potential
            self._fns = {
                "energy_forces": jax.jit(jax.value_and_grad(pot.energy)),
                "stress": jax.jit(pot.stress) if pot.cell is not None else None,
                "energies": jax.jit(pot.atomic_energies)
                if hasattr(pot, "atomic_energies") else None,
            }
        return self._fns

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import jax.numpy as jnp

        super().calculate(atoms, properties, system_changes)
        pot = self.potential
        atoms = self.atoms
        if atoms.get_chemical_symbols() != list(pot.symbols):
            raise ValueError(f"atoms ({atoms.get_chemical_formula()}, {len(atoms)} atoms) are not "
                             f"the atoms this potential was built for ({len(pot.symbols)} atoms)")
        periodic = atoms.get_pbc()
        if pot.cell is not None and not periodic.all():
            raise ValueError(f"the potential is periodic but atoms.pbc = {periodic.tolist()}")
        if pot.cell is None and periodic.any():
            raise ValueError(f"the potential is non-periodic but atoms.pbc = {periodic.tolist()}")
        positions = atoms.get_positions()
        cell = np.array(atoms.get_cell()) if pot.cell is not None else None
        if pot.prepare(positions, cell):
            self._fns = None
        if cell is not None and not np.allclose(cell, pot.cell, rtol=0, atol=1e-12):
            pot.cell = cell
            self._fns = None
        fns = self._compiled()
        pos = jnp.asarray(positions)
        energy, grad = fns["energy_forces"](pos)
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = -np.asarray(grad)
        if fns["energies"] is not None:
            self.results["energies"] = np.asarray(fns["energies"](pos))
        if "stress" in properties:
            if fns["stress"] is None:
                from ase.calculators.calculator import PropertyNotImplementedError

                raise PropertyNotImplementedError("stress needs a periodic cell")
            s = np.asarray(fns["stress"](pos))
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2],
                                               s[0, 1]])
