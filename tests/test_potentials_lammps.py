"""LammpsPotential (any pair style through LAMMPS) with the Li SNAP potential of the wheel.

References: finite differences of the LAMMPS energy (forces, strain derivative), rotational
invariance of the physics, LAMMPS's own pressure for the stress.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("lammps")
import jax.numpy as jnp
from ase.build import bulk

from qfe.potentials.lammps_potential import (
    LammpsPotential,
    lammps_frame,
    lithium_snap_potential,
)

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def hcp_case():
    """A strained, displaced hcp cell: triclinic, not in LAMMPS's lower-triangular form."""
    a = (np.sqrt(2) * 19.2) ** (1 / 3)
    atoms = bulk("Li", "hcp", a=a, c=a * np.sqrt(8 / 3)).repeat((2, 2, 2))
    rng = np.random.default_rng(11)
    atoms.set_cell(np.array(atoms.cell) @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))),
                   scale_atoms=True)
    atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
    pot = lithium_snap_potential(atoms)
    yield atoms, pot, pot.compute(atoms.positions)
    pot.close()


def test_lammps_frame_is_a_rotation_to_lower_triangular():
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 4 + rng.normal(size=(3, 3))
    q, low = lammps_frame(cell)
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(cell @ q, low, atol=1e-12)
    assert np.all(np.diag(low) > 0) and np.allclose(np.triu(low, 1), 0)


def test_forces_and_virial_are_derivatives_of_the_energy(hcp_case):
    atoms, pot, ref = hcp_case
    h = 1e-4
    for atom, comp in [(0, 0), (7, 1), (12, 2)]:
        p = atoms.positions.copy()
        p[atom, comp] += h
        ep = pot.compute(p)["energy"]
        p[atom, comp] -= 2 * h
        em = pot.compute(p)["energy"]
        assert abs(-(ep - em) / (2 * h) - ref["forces"][atom, comp]) < 1e-6
    cell = np.array(atoms.cell)
    for a, b in [(0, 0), (0, 1), (1, 2)]:
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = 1e-5
        de = [pot.compute(atoms.positions @ (np.eye(3) + s * eps), cell @ (np.eye(3) + s * eps))
              ["energy"] for s in (1, -1)]
        dE_deps = (de[0] - de[1]) / (2e-5) / (2 if a != b else 1)
        assert abs(dE_deps + ref["virial"][a, b]) < 1e-5


def test_rotation_invariance(hcp_case):
    from scipy.spatial.transform import Rotation

    atoms, pot, ref = hcp_case
    rot = Rotation.random(random_state=2).as_matrix()
    r = pot.compute(atoms.positions @ rot.T, np.array(atoms.cell) @ rot.T)
    assert abs(r["energy"] - ref["energy"]) < 1e-9
    np.testing.assert_allclose(r["forces"], ref["forces"] @ rot.T, atol=1e-9)
    np.testing.assert_allclose(r["virial"], rot @ ref["virial"] @ rot.T, atol=1e-9)


def test_jax_interface_grad_stress_vmap(hcp_case):
    atoms, pot, ref = hcp_case
    pos = jnp.asarray(atoms.positions)
    assert abs(float(jax.jit(pot.energy)(pos)) - ref["energy"]) < 1e-10
    np.testing.assert_allclose(np.asarray(jax.jit(pot.forces)(pos)), ref["forces"], atol=1e-12)
    np.testing.assert_allclose(np.asarray(pot.stress(pos)), -ref["virial"] / atoms.get_volume(),
                               atol=1e-12)
    batch = jnp.stack([pos, pos + 0.01, pos.at[0, 0].add(0.05)])
    e = np.asarray(jax.jit(jax.vmap(pot.energy))(batch))
    assert abs(e[0] - ref["energy"]) < 1e-10 and abs(e[1] - ref["energy"]) < 1e-9
    assert abs(e[2] - pot.compute(np.asarray(batch[2]))["energy"]) < 1e-10


def test_finite_difference_hessian_obeys_acoustic_sum_rule():
    from qfe.potentials.phonons import acoustic_sum_rule_violation

    atoms = bulk("Li", "bcc", a=(2 * 19.2) ** (1 / 3), cubic=True).repeat(2)
    atoms.positions += np.random.default_rng(3).normal(scale=0.03, size=atoms.positions.shape)
    pot = lithium_snap_potential(atoms)
    hess = pot.hessian(atoms.positions)
    pot.close()
    assert np.max(np.abs(hess)) > 0.1
    assert acoustic_sum_rule_violation(hess) < 1e-5 * np.max(np.abs(hess))


def test_bad_input():
    atoms = bulk("Li", "bcc", a=3.4, cubic=True)
    with pytest.raises(ValueError, match=r"only knows Li, got \['H', 'Li'\]"):
        lithium_snap_potential(symbols=["Li", "H"], positions=atoms.positions,
                               cell=np.array(atoms.cell))
    pot = LammpsPotential(symbols=["Li", "Li"], masses=[6.94, 6.94], cell=np.array(atoms.cell),
                          reference_positions=atoms.positions, pair_style="nosuchstyle")
    with pytest.raises(ValueError, match="LAMMPS rejected pair_style 'nosuchstyle'"):
        pot.compute(atoms.positions)
    with pytest.raises(ValueError, match="needs a pair_style"):
        LammpsPotential(symbols=["Li"], masses=[6.94], pair_style="")
    snap = lithium_snap_potential(atoms)
    with pytest.raises(ValueError, match=r"positions must have shape \(2, 3\)"):
        snap.compute(np.zeros((3, 3)))
    snap.close()
