"""1D anharmonic oscillators (hbar = m = kB = 1) against independent exact references.

Exact values by sinc-DVR diagonalisation (qfe.nct.reference), checked against DESIGN.md.
The NCT ansatz in 1D is a point transformation of the harmonic states plus free occupations;
it is *not* exact at finite temperature: its best free energy (computed deterministically on
a grid, ``point_transformation_free_energy_1d``) lies 0.3-0.9 % above the exact F for the
quartic oscillators and 8 % above it for the double well at beta = 1.  The tests therefore
check: (i) never below the exact F beyond 3 sigma (variational bound), (ii) below the Gaussian
(SCHA-like) value, (iii) within 2 % of exact (fast), and in the slow variant (iv) at the ansatz
limit within errors.  The 1e-3 relative goal of the issue is below this ansatz's limit.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe.nct.config import NCTConfig
from qfe.nct.reference import (
    exact_free_energy_1d,
    exact_levels_1d,
    gaussian_free_energy_1d,
    point_transformation_free_energy_1d,
)
from qfe.nct.system import model_system_1d
from qfe.nct.trainer import Trainer

POTENTIALS = {
    "quartic0.1": lambda x: 0.5 * x ** 2 + 0.1 * x ** 4,
    "quartic1": lambda x: 0.5 * x ** 2 + x ** 4,
    "double-well": lambda x: x ** 4 - 2.0 * x ** 2,
}


def test_references_reproduce_design_values():
    """DESIGN.md's exact and Gaussian numbers from two independent methods here."""
    q01, q1, dw = POTENTIALS["quartic0.1"], POTENTIALS["quartic1"], POTENTIALS["double-well"]
    assert abs(exact_levels_1d(q01, 3)[0] - 0.559146327) < 2e-9
    assert abs(exact_free_energy_1d(q01, 1.0) - 0.226075193) < 2e-9
    assert abs(exact_free_energy_1d(q01, 5.0) - (-6.220937449)) < 2e-9
    assert abs(exact_levels_1d(q1, 3)[0] - 0.803770651) < 2e-9
    assert abs(exact_free_energy_1d(q1, 1.0) - 0.657104885) < 2e-9
    assert abs(exact_levels_1d(dw, 3)[0] - (-0.130419)) < 1e-6
    assert abs(exact_free_energy_1d(dw, 1.0) - (-0.556332)) < 1e-6
    for pot, kT, ref in ((q01, 1.0, 0.234665), (q01, 5.0, -6.108967), (q1, 1.0, 0.677890),
                         (dw, 1.0, -0.316270)):
        assert abs(gaussian_free_energy_1d(pot, kT)[0] - ref) < 2e-6
    assert abs(gaussian_free_energy_1d(q01, 0.0)[0] - 0.560307) < 2e-6
    assert abs(gaussian_free_energy_1d(q1, 0.0)[0] - 0.8125) < 1e-9
    # harmonic limit: F = -kT ln(2 sinh(1/2kT))
    harm = exact_free_energy_1d(lambda x: 0.5 * x * x, 0.5)
    assert abs(harm - 0.5 * np.log(2 * np.sinh(1.0))) < 1e-10


def train_1d(name, kT, n_levels, steps, batch, eval_batches, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # imaginary mode of the double well
        system = model_system_1d(POTENTIALS[name])
    cfg = NCTConfig(temperature=kT, n_levels=n_levels, flow_elementwise=4, batch_size=batch,
                    steps=steps, lr_flow=0.02, lr_occupation=0.05, lr_decay_begin=steps // 2,
                    lr_decay_steps=max(1, steps // 10), lr_decay_rate=0.6, min_lr_flow=1e-5,
                    min_lr_occupation=1e-4, progress=False, seed=seed)
    trainer = Trainer(system, cfg)
    state = trainer.train()
    f = trainer.evaluate(state, eval_batches)["free_energy"].ravel()
    return f.mean(), f.std(ddof=1) / np.sqrt(f.size)


@pytest.mark.parametrize("name", ["quartic0.1", "quartic1"])
def test_quartic_oscillators_beta1(name):
    f, err = train_1d(name, 1.0, 16, steps=300, batch=512, eval_batches=30)
    exact = exact_free_energy_1d(POTENTIALS[name], 1.0)
    gauss = gaussian_free_energy_1d(POTENTIALS[name], 1.0)[0]
    assert f > exact - 3.0 * err                 # variational bound
    assert f < gauss - 3.0 * err                 # beyond the Gaussian (SCHA-like) ansatz
    assert f < exact + 0.02 * abs(exact)         # ansatz limit is ~0.5-0.8 % above exact


@pytest.mark.slow
@pytest.mark.parametrize("name,kT,n_levels", [
    ("quartic0.1", 1.0, 20), ("quartic0.1", 5.0, 50), ("quartic1", 1.0, 20),
    ("quartic1", 5.0, 40), ("double-well", 1.0, 20)])
def test_oscillators_reach_the_ansatz_limit(name, kT, n_levels):
    pot = POTENTIALS[name]
    f, err = train_1d(name, kT, n_levels, steps=800, batch=1024, eval_batches=50)
    exact = exact_free_energy_1d(pot, kT)
    gauss = gaussian_free_energy_1d(pot, kT)[0]
    omega = 2.0 if name == "double-well" else 1.0
    limit, _ = point_transformation_free_energy_1d(pot, kT, n_levels, omega=omega)
    print(f"{name} kT={kT}: NCT {f:.6f} +- {err:.6f}, ansatz limit {limit:.6f}, exact "
          f"{exact:.6f} ({(f - exact) / abs(exact):+.2%}), Gaussian {gauss:.6f}")
    assert limit > exact
    assert f > exact - 3.0 * err
    assert f < gauss - 3.0 * err
    assert abs(f - limit) < 4.0 * err + 2e-3 * abs(limit)
