"""Multi-mode model systems with exact answers (natural units, hbar = m = kB = 1).

Separable anharmonic oscillators written in a random rotated basis, V(x) = sum_k v(y_k) with
y = R x: all harmonic frequencies are equal, so the harmonic modes say nothing about R and
any anharmonic learning must find it.  Exact references are 1D grid (DVR) results times D:
exact F, the best Gaussian (SCHA) F (``gaussian_free_energy_1d``) and the NCT ansatz limit
(``point_transformation_free_energy_1d``; reachable since f = R^T g(R x) is a flow).
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from qfe.nct.api import run_system
from qfe.nct.reference import exact_free_energy_1d, gaussian_free_energy_1d
from qfe.nct.system import harmonic_system


def quartic(x, g=0.1):
    return 0.5 * x * x + g * x ** 4


def rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def rotated_system(d, seed, v=quartic):
    import jax.numpy as jnp

    rot = jnp.asarray(rotation(d, seed))

    def energy_fn(x):
        return jnp.sum(v(rot @ x))

    return harmonic_system(energy_fn, np.zeros(d), np.ones(d), natoms=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_flow_is_the_scha_optimum(seed):
    """flow="gaussian" (affine + learned mixing, thermal occupations) reproduces D times the
    1D Gaussian optimum, from above, in any rotated basis."""
    d, kT = 6, 1.0
    result = run_system(rotated_system(d, seed), temperature=kT, flow="gaussian", steps=300,
                        batch_size=512, lr_flow=1e-2, lr_occupation=2e-2, eval_batches=40,
                        seed=seed, progress=False)
    f, err = result.thermo["F"]
    gauss = d * gaussian_free_energy_1d(quartic, kT)[0]
    exact = d * exact_free_energy_1d(quartic, kT)
    assert result.config["occupations"] == "auto"
    assert f > exact - 3 * err                       # variational
    assert abs(f - gauss) < 3 * err + 1e-3 * abs(gauss), (f, err, gauss)
