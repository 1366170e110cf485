"""Hermite basis: values, analytic derivatives, exact CDF and exact sampling of |phi_n|^2."""

import math

import numpy as np
import pytest

pytest.importorskip("jax")

from scipy import integrate, special, stats

from qfe._jax import jax, jnp
from qfe.nct import basis

N_MAX = 19


def phi_scipy(n, x):
    norm = math.sqrt(2.0 ** n * math.factorial(n) * math.sqrt(math.pi))
    return special.eval_hermite(n, x) * np.exp(-0.5 * x * x) / norm


@pytest.mark.parametrize("n", [0, 1, 2, 7, 19])
def test_hermite_functions_match_scipy(n):
    x = np.linspace(-7.0, 7.0, 57) + 0.013
    phi = np.asarray(basis.hermite_functions(jnp.asarray(x), N_MAX))[:, n]
    np.testing.assert_allclose(phi, phi_scipy(n, x), atol=1e-13)
    log_abs = np.asarray(basis.log_abs_hermite(jnp.asarray(x), jnp.full(x.shape, n), N_MAX))
    np.testing.assert_allclose(np.exp(log_abs), np.abs(phi_scipy(n, x)), rtol=1e-11, atol=1e-300)


def test_hermite_orthonormal_by_quadrature():
    x = np.linspace(-12, 12, 6001)
    phi = np.asarray(basis.hermite_functions(jnp.asarray(x), N_MAX))
    gram = integrate.trapezoid(phi[:, :, None] * phi[:, None, :], x, axis=0)
    np.testing.assert_allclose(gram, np.eye(N_MAX + 1), atol=1e-10)


def test_log_hermite_is_finite_far_out():
    # exp(-x^2/2) underflows and x^n overflows here; the log form must not
    value = basis.log_abs_hermite(jnp.array([60.0, -90.0]), jnp.array([19, 3]), N_MAX)
    assert np.all(np.isfinite(np.asarray(value)))
    ref = [math.log(abs(special.eval_hermite(19, 60.0))) - 1800.0
           - 0.5 * math.log(2.0 ** 19 * math.factorial(19) * math.sqrt(math.pi)),
           math.log(abs(special.eval_hermite(3, -90.0))) - 4050.0
           - 0.5 * math.log(8.0 * 6 * math.sqrt(math.pi))]
    np.testing.assert_allclose(np.asarray(value), ref, rtol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 4, 11])
def test_analytic_derivatives(n):
    x = jnp.asarray(np.linspace(-4.0, 4.0, 33) + 0.0371)
    f = lambda t: basis.log_abs_hermite(t, n, N_MAX)  # noqa: E731
    d1 = jax.vmap(jax.grad(f))(x)
    d2 = jax.vmap(jax.grad(jax.grad(f)))(x)
    d3 = jax.vmap(jax.grad(jax.grad(jax.grad(f))))(x)
    # independent: derivatives of log|phi| from scipy values by the Hermite relations
    xs = np.asarray(x)
    phi = phi_scipy(n, xs)
    dphi = (math.sqrt(2 * n) * phi_scipy(n - 1, xs) if n else 0.0) - xs * phi
    ref1 = dphi / phi
    ref2 = xs ** 2 - (2 * n + 1) - ref1 ** 2
    ref3 = 2 * xs - 2 * ref1 * ref2
    np.testing.assert_allclose(np.asarray(d1), ref1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.asarray(d2), ref2, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(np.asarray(d3), ref3, rtol=1e-8, atol=1e-7)


@pytest.mark.parametrize("n", [0, 1, 3, 19])
def test_cdf_matches_quadrature(n):
    for x in (-4.1, -1.3, 0.0, 0.7, 2.9):
        ref = integrate.quad(lambda t: phi_scipy(n, t) ** 2, -np.inf, x, epsabs=1e-14,
                             limit=200)[0]
        assert abs(float(basis.hermite_cdf(jnp.asarray(x), n, N_MAX)) - ref) < 1e-11


def test_quantile_inverts_cdf():
    sampler = basis.HermiteSampler(N_MAX)
    u = jnp.asarray(np.linspace(1e-6, 1 - 1e-6, 101))
    for n in (0, 2, 5, 19):
        x = sampler.quantile(u, jnp.full(u.shape, n))
        err = np.abs(np.asarray(basis.hermite_cdf(x, n, N_MAX)) - np.asarray(u))
        # u = 1/2 lands on the node at 0 for odd n, where the CDF is flat to third order
        assert np.max(err) < 1e-10


def test_exact_sampling_passes_ks():
    sampler = basis.HermiteSampler(N_MAX)
    levels = np.array([0, 1, 2, 5, 19])
    n = jnp.asarray(np.tile(levels, (20000, 1)))
    xs = np.asarray(jax.jit(sampler.sample)(jax.random.PRNGKey(11), n))
    pvalues = []
    for j, level in enumerate(levels):
        cdf = lambda t, level=level: np.asarray(basis.hermite_cdf(jnp.asarray(t), level, N_MAX))  # noqa: E731
        pvalues.append(stats.kstest(xs[:, j], cdf).pvalue)
    # five independent tests: all above 1e-3 (false alarm rate 0.5%)
    assert min(pvalues) > 1e-3, pvalues
    # second moments: <xi^2> = n + 1/2, Var(xi^2) = (n^2 + n + 1)/2 for |phi_n|^2
    sigma = np.sqrt((levels ** 2 + levels + 1) / 2.0 / xs.shape[0])
    assert np.all(np.abs(np.mean(xs ** 2, axis=0) - (levels + 0.5)) < 4 * sigma)
