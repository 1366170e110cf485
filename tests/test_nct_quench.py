"""Quenching NCT samples and the quantum mean structure (qfe.nct.quench)."""

import numpy as np
import pytest
from ase.build import bulk

import qfe.nct
from qfe.analysis.symmetry import analyze_symmetry
from qfe.nct.quench import mean_structure, quench, quench_samples

SPEC = "quasi-harmonic:k=1.0,gamma=1.0,bulk_modulus=10,cutoff=3.6"


def trained(steps=5):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    pot = qfe.nct.make_potential(SPEC, atoms)
    system = qfe.nct.crystal_system(pot, atoms)
    trainer = qfe.nct.Trainer(system, qfe.nct.NCTConfig(temperature=100.0, steps=steps,
                                                        flow="identity", batch_size=64,
                                                        progress=False))
    return atoms, pot, trainer, trainer.train()


def test_quench_returns_to_the_unique_minimum():
    """The model's only minimum is the ideal bcc lattice (up to a rigid translation): every
    quenched sample is Im-3m with the same energy, and the forces are below fmax."""
    atoms, pot, trainer, state = trained()
    r = quench_samples(trainer, state, pot, n_samples=3, fmax=1e-4, symprec=1e-3)
    assert r.space_groups == ["Im-3m"] * 3
    assert max(r.max_forces) <= 1e-4
    e_static = float(pot.energy(atoms.get_positions())) / len(atoms)
    assert r.energies == pytest.approx([e_static] * 3, abs=1e-9)
    for q in r.structures:               # a rigid translation of the sites
        d = q.get_positions() - atoms.get_positions()
        assert np.max(np.abs(d - d.mean(axis=0))) < 1e-3
    assert "Im-3m x 3" in r.summary()


def test_mean_structure_is_the_lattice_within_its_errors():
    atoms, pot, trainer, state = trained()
    mean, err = mean_structure(trainer, state, n_batches=4)
    d = mean.get_positions() - atoms.get_positions()
    assert np.all(np.abs(d) < 5 * err + 1e-9)
    assert analyze_symmetry(mean, symprec=0.05).international == "Im-3m"


def test_quench_bad_input():
    atoms, pot, _, _ = trained(steps=1)
    with pytest.raises(ValueError, match="fmax"):
        quench(pot, atoms.get_positions(), fmax=0)
    with pytest.raises(ValueError, match="shape"):
        quench(pot, atoms.get_positions()[:, :2])
