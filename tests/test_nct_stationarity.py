"""Training must not walk away from a known optimum.

Harmonic crystals start NCT *at* the exact answer: the identity flow with Boltzmann
occupations is the exact density matrix, so F = harmonic F (closed form,
``ModeSystem.harmonic_free_energy``).  With the full default flow, default learning rates
and optimiser settings, F must stay there within its error bar after 10, 60 and 300 steps,
for several seeds: an Einstein crystal (not translation invariant) and a translation-
invariant, exactly harmonic crystal (linearised pair springs, acoustic modes removed).
The reference is independent of the training: the analytic oscillator sum over the
eigenfrequencies of the dynamical matrix.
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from qfe.nct.api import make_potential
from qfe.nct.config import NCTConfig
from qfe.nct.phonons import bcc_lithium, crystal_system
from qfe.nct.trainer import Trainer

SPECS = {"einstein": "einstein:k=1.5",
         "harmonic-springs": "pair-spring:k=1,cutoff=3.6,harmonic=1"}
CHECKPOINTS = (10, 60, 300)
SEEDS = (0, 1, 2)


CASES = [pytest.param((name, 1), id=f"{name}-2atoms") for name in sorted(SPECS)] + [
    pytest.param((name, 2), id=f"{name}-16atoms", marks=pytest.mark.slow)
    for name in sorted(SPECS)]


@pytest.fixture(scope="module", params=CASES)
def trained(request):
    """{seed: {step: (F, sigma_F)}} in meV/atom, plus the exact F, for one crystal."""
    name, repeat = request.param
    atoms = bcc_lithium(repeat=repeat)                   # 2 or 16 atoms
    system = crystal_system(make_potential(SPECS[name], atoms))
    config = NCTConfig(temperature=60.0, steps=max(CHECKPOINTS), batch_size=128,
                       eval_batches=4, progress=False)
    assert config.flow == "full" and config.gradient == NCTConfig().gradient
    trainer = Trainer(system, config)
    exact = system.harmonic_free_energy(60.0) * trainer.scale
    results = {}
    for seed in SEEDS:
        state = trainer.init_state()
        state.key = jax.random.PRNGKey(1000 + seed)
        results[seed] = {}
        for stop in CHECKPOINTS:
            state = trainer.train(state, stop_after=stop - state.step)
            f = trainer.evaluate(state)["free_energy"].ravel() * trainer.scale
            results[seed][stop] = (f.mean(), f.std(ddof=1) / np.sqrt(f.size))
        assert all(np.all(np.isfinite(np.asarray(x)))
                   for x in jax.tree_util.tree_leaves(state.params))
    return name, exact, results


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("steps", CHECKPOINTS)
def test_default_training_stays_at_the_exact_harmonic_free_energy(trained, seed, steps):
    name, exact, results = trained
    f, err = results[seed][steps]
    # 2 sigma, plus float64 roundoff of a ~50 meV/atom sum (the estimate can be exact)
    assert abs(f - exact) <= 2.0 * err + 1e-9 * abs(exact), (name, seed, steps, f, err, exact)
