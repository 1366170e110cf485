"""PotentialCalculator: a qfe Potential as an ASE calculator (checked with an analytic model)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
from ase.build import bulk

from qfe.ase_calculators import PotentialCalculator
from qfe.potentials import MorseCrystal

jax.config.update("jax_enable_x64", True)


@pytest.fixture()
def morse_atoms():
    atoms = bulk("Li", "bcc", a=3.4, cubic=True).repeat(2)
    pot = MorseCrystal(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                       cell=np.array(atoms.cell), reference_positions=atoms.positions,
                       D=0.3, a=1.2, r0=3.0, cutoff=5.0, r_switch=4.0)
    atoms.positions += np.random.default_rng(0).normal(scale=0.05, size=atoms.positions.shape)
    atoms.calc = PotentialCalculator(pot)
    return atoms, pot


def test_energy_forces_stress_are_consistent(morse_atoms):
    atoms, pot = morse_atoms
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    h = 1e-5
    p = atoms.positions.copy()
    for k in (0, 7):
        q = p.copy()
        q[k, 2] += h
        ep = float(pot.energy(q))
        q[k, 2] -= 2 * h
        em = float(pot.energy(q))
        assert abs(-(ep - em) / (2 * h) - f[k, 2]) < 1e-7
    assert abs(e - float(pot.energy(p))) < 1e-12
    stress = atoms.get_stress()                     # Voigt xx yy zz yz xz xy
    cell0 = np.array(atoms.cell)
    vol = atoms.get_volume()
    for voigt, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = 0.5 * h if a != b else h
        es = [float(pot.energy(p @ (np.eye(3) + s * eps), cell0 @ (np.eye(3) + s * eps)))
              for s in (1, -1)]
        assert abs((es[0] - es[1]) / (2 * h) / vol - stress[voigt]) < 1e-8


def test_wrong_atoms_are_rejected(morse_atoms):
    atoms, pot = morse_atoms
    other = bulk("Li", "bcc", a=3.4, cubic=True)
    other.calc = PotentialCalculator(pot)
    with pytest.raises(ValueError, match="not the atoms this potential was built for"):
        other.get_potential_energy()
    slab = atoms.copy()
    slab.pbc = [True, True, False]
    slab.calc = PotentialCalculator(pot)
    with pytest.raises(ValueError, match="periodic but atoms.pbc"):
        slab.get_potential_energy()
