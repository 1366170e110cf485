"""Harmonic crystals: identity flow + learned occupations reproduce the exact quantum F(T).

For the identity flow the variational free energy of occupations p is known in closed form,
F[p] = V0 + sum_k sum_j p_kj (kT ln p_kj + (j + 1/2) hbar w_k) = F_K + kT KL(p || p*), with
F_K the exact free energy of oscillators truncated at K levels (K is chosen so that it
differs from the untruncated F by < 1e-9 relative at kT/hbar w <= 1; at kT/hbar w = 10 the
comparison is with F_K and F_K -> F is shown analytically).  Training starts from
occupations at the wrong temperature and must come back.
"""

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe import units
from qfe.nct.config import NCTConfig
from qfe.nct.phonons import bcc_lithium, crystal_system
from qfe.nct.system import harmonic_oscillator_free_energy
from qfe.nct.trainer import Trainer
from qfe.potentials import EinsteinCrystal, PairSpringCrystal, Potential

EVAL_BATCHES = 8


def analytic_free_energy(trainer, params, system, kT):
    lp = np.asarray(trainer.occupation.log_probs(params["occupation"]))
    p = np.exp(lp)
    levels = np.arange(lp.shape[1]) + 0.5
    energies = np.outer(system.hbar_omega, levels)
    return system.v0 + float(np.sum(p * (kT * lp + energies)))


def analytic_standard_error(trainer, params, system, kT, n_samples):
    """Exact standard error of the mean local free energy over ``n_samples`` samples of the
    model (identity flow: F_loc(n) = V0 + sum_k [kT ln p_k(n_k) + (n_k + 1/2) hbar w_k], the
    modes independent), so rare excited states count even when a sample misses them."""
    lp = np.asarray(trainer.occupation.log_probs(params["occupation"]))
    p = np.exp(lp)
    local = kT * lp + np.outer(system.hbar_omega, np.arange(lp.shape[1]) + 0.5)
    mean = np.sum(p * local, axis=1, keepdims=True)
    return float(np.sqrt(np.sum(p * (local - mean) ** 2) / n_samples))


def train_identity(system, temperature, n_levels, steps=200, perturb=0.8, seed=0):
    cfg = NCTConfig(temperature=temperature, flow="identity", n_levels=n_levels, batch_size=256,
                    steps=steps, progress=False, lr_occupation=0.1, lr_decay_begin=steps // 2,
                    lr_decay_steps=max(1, steps // 10), lr_decay_rate=0.5,
                    min_lr_occupation=1e-4, seed=seed)
    trainer = Trainer(system, cfg)
    state = trainer.init_state()
    # start at the Boltzmann weights of temperature T / perturb (not the answer)
    occ = state.params["occupation"]
    state.params["occupation"] = {**occ, "log_scale": occ["log_scale"] + np.log(perturb)}
    state = trainer.train(state)
    values = trainer.evaluate(state, EVAL_BATCHES)
    f = values["free_energy"].ravel()
    return trainer, state, f.mean(), f.std(ddof=1) / np.sqrt(f.size)


@pytest.fixture(scope="module")
def einstein():
    pot = EinsteinCrystal(symbols=["Li", "Li"], masses=[units.MASS_LI] * 2,
                          cell=4.0 * np.eye(3),
                          reference_positions=np.array([[0.0, 0, 0], [2.0, 2.0, 2.0]]), k=1.0)
    return crystal_system(pot)


def test_einstein_modes(einstein):
    omega = np.sqrt(1.0 * units.FTM2V / units.MASS_LI)      # rad/ps
    assert einstein.n_modes == 6                             # not translation invariant
    np.testing.assert_allclose(einstein.hbar_omega, units.HBAR * omega, rtol=1e-12)


@pytest.mark.parametrize("ratio,n_levels", [(0.1, 20), (1.0, 40), (10.0, 60)])
def test_identity_flow_learns_exact_harmonic_free_energy(einstein, ratio, n_levels):
    hw = float(einstein.hbar_omega[0])
    temperature = ratio * hw / units.KB
    kT = units.KB * temperature
    trainer, state, f, err = train_identity(einstein, temperature, n_levels)
    exact_k = einstein.harmonic_free_energy(temperature, n_levels)
    exact = einstein.harmonic_free_energy(temperature)
    # independent closed form of the oscillator sum
    assert abs(exact - (einstein.v0 + 6 * (0.5 * hw + kT * np.log1p(-np.exp(-hw / kT))))) < 1e-12
    if ratio <= 1.0:
        assert abs(exact_k - exact) < 1e-9 * abs(exact) + 1e-15
    else:   # truncation at K = 60 levels for kT = 10 hbar w: F_K -> F as K grows
        gaps = [harmonic_oscillator_free_energy(einstein.hbar_omega, kT, k) - exact
                for k in (60, 120, 240)]
        assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] < 1e-8 * abs(exact)
    f_model = analytic_free_energy(trainer, state.params, einstein, kT)
    # estimator unbiased; at kT = 0.1 hbar w excited states are rare (~3e-4 per sample), so
    # the sample's own error bar can miss them: use the model's exact one as well
    exact_err = analytic_standard_error(trainer, state.params, einstein, kT,
                                        EVAL_BATCHES * trainer.config.batch_size)
    assert abs(f - f_model) <= 3.0 * max(err, exact_err)
    assert f_model - exact_k >= -1e-12                       # variational bound
    assert f_model - exact_k < 1e-4 * 6 * kT                 # optimiser converged (kT KL(p||p*))
    assert abs(f - exact_k) <= 3.0 * err + 1e-4 * 6 * kT


class QuadraticCrystal(Potential):
    """E = (1/2) u^T H u with a fixed translation-invariant force-constant matrix H:
    an exactly harmonic crystal with 3N - 3 distinct modes (PairSpringCrystal itself is
    anharmonic in Cartesian displacements: bond lengths are not linear in them)."""

    def __init__(self, base, hessian):
        super().__init__(symbols=base.symbols, masses=base.masses, cell=base.cell,
                         reference_positions=base.reference_positions, name="quadratic")
        self._h = np.asarray(hessian)

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        u = jnp.reshape(positions - jnp.asarray(self.reference_positions), (-1,))
        return 0.5 * u @ jnp.asarray(self._h) @ u


def test_translation_invariant_crystal():
    atoms = bcc_lithium(2)
    springs = PairSpringCrystal(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                                cell=np.asarray(atoms.cell), reference_positions=atoms.positions,
                                cutoff=3.6, k=1.0)
    h = np.asarray(springs.hessian(atoms.positions))
    pot = QuadraticCrystal(springs, h)
    system = crystal_system(pot, atoms)
    assert system.n_modes == 3 * len(atoms) - 3
    # the spectrum on the complement of the translations is the full nonzero spectrum
    lam = np.sort(np.linalg.eigvalsh(h * units.FTM2V / atoms.get_masses()[0]))
    np.testing.assert_allclose(np.sort((system.hbar_omega / units.HBAR) ** 2), lam[3:],
                               rtol=1e-9)
    assert np.all(np.abs(lam[:3]) < 1e-9 * lam[-1])
    temperature = float(np.mean(system.hbar_omega)) / units.KB
    _, state, f, err = train_identity(system, temperature, 20, steps=100, perturb=0.9)
    kT = units.KB * temperature
    exact = system.harmonic_free_energy(temperature, 20)
    assert abs(f - exact) <= 3.0 * err + 1e-4 * system.n_modes * kT
