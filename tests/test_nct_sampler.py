"""Exact sampling of |Psi_n(q)|^2 through a nontrivial flow, checked by goodness-of-fit against
quadrature of the density itself, and against the Metropolis baseline."""

import numpy as np
import pytest

pytest.importorskip("jax")

from scipy import stats

from qfe._jax import jax, jnp
from qfe.nct.flow import Flow
from qfe.nct.occupation import OccupationModel
from qfe.nct.sampler import ExactSampler, MetropolisSampler
from qfe.nct.wavefunction import Wavefunction


def perturbed(flow, seed, scale):
    params = flow.init(jax.random.PRNGKey(seed))
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def fixed_state_params(occ, levels):
    """Occupation parameters that put all weight on the given levels."""
    logits = np.full((occ.n_modes, occ.n_levels), -1e4)
    logits[np.arange(occ.n_modes), levels] = 0.0
    return {"ladder": jnp.zeros_like(logits), "log_scale": jnp.zeros(occ.n_modes),
            "logits": jnp.asarray(logits)}


def marginal_cdf_2d(wf, fp, levels, axis, grid):
    """CDF of q_axis under |Psi_n(q)|^2 by 2D quadrature of the density (no sampler)."""
    qa, qb = jnp.meshgrid(grid, grid, indexing="ij")
    pts = jnp.stack([qa.ravel(), qb.ravel()], axis=-1)
    n = jnp.asarray(levels)
    dens = jnp.exp(jax.jit(jax.vmap(lambda q: wf.log_density(fp, q, n)))(pts))
    dens = np.asarray(dens).reshape(grid.size, grid.size)
    marginal = dens.sum(axis=1 - axis) * float(grid[1] - grid[0])
    cdf = np.cumsum(marginal) * float(grid[1] - grid[0])
    return np.asarray(grid), cdf / cdf[-1], float(cdf[-1])


@pytest.mark.parametrize("levels", [(0, 0), (1, 2)])
def test_exact_sampling_ks_against_quadrature_2d(levels):
    flow = Flow(2, depth=4, width=16, elementwise=1)
    fp = perturbed(flow, 3, 0.15)
    wf = Wavefunction(flow, 3)
    occ = OccupationModel(2, 4)
    params = {"flow": fp, "occupation": fixed_state_params(occ, list(levels))}
    batch, _, _ = jax.jit(ExactSampler(occ, wf, 20000).sample)(jax.random.PRNGKey(7), params, {})
    assert np.all(np.asarray(batch["n"]) == np.asarray(levels))
    grid = jnp.linspace(-12.0, 12.0, 1201)
    pvalues = []
    for axis in (0, 1):
        g, cdf, norm = marginal_cdf_2d(wf, fp, levels, axis, grid)
        assert abs(norm - 1.0) < 1e-4          # |Psi_n|^2 is normalised for any flow
        cdf_fn = lambda x, g=g, cdf=cdf: np.interp(x, g, cdf)  # noqa: E731
        pvalues.append(stats.kstest(np.asarray(batch["q"][:, axis]), cdf_fn).pvalue)
    assert min(pvalues) > 1e-3, pvalues


def test_metropolis_agrees_with_exact_sampler():
    flow = Flow(2, depth=2, width=8)
    fp = perturbed(flow, 5, 0.2)
    wf = Wavefunction(flow, 3)
    occ = OccupationModel(2, 4)
    params = {"flow": fp, "occupation": fixed_state_params(occ, [1, 0])}
    exact, _, _ = jax.jit(ExactSampler(occ, wf, 4000).sample)(jax.random.PRNGKey(1), params, {})
    mc = MetropolisSampler(occ, wf, 4000, mc_steps=400, step_size=0.8)
    state = mc.init_state(jax.random.PRNGKey(2), params)
    sample = jax.jit(mc.sample)
    _, state, _ = sample(jax.random.PRNGKey(3), params, state)          # burn-in
    batch, state, info = sample(jax.random.PRNGKey(4), params, state)
    assert 0.2 < float(info["acceptance"]) < 0.8
    for axis in (0, 1):
        p = stats.ks_2samp(np.asarray(exact["q"][:, axis]), np.asarray(batch["q"][:, axis])).pvalue
        assert p > 1e-3, (axis, p)
