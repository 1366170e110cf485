"""Flows: identity at initialisation, closed-form inverse, log-determinants, for every kind."""

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe._jax import jax, jnp
from qfe.nct.flow import Flow


def perturbed(flow, seed=0, scale=0.3):
    params = flow.init(jax.random.PRNGKey(seed))
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(tree, leaves)


KINDS = ["full", "realnvp", "gaussian"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m,elementwise", [(1, 3), (2, 0), (5, 1), (6, 2)])
def test_identity_at_init(kind, m, elementwise):
    flow = Flow(m, kind=kind, depth=3, width=8, elementwise=elementwise)
    params = flow.init(jax.random.PRNGKey(0))
    q = jax.random.normal(jax.random.PRNGKey(1), (m,))
    xi, logdet = flow.forward(params, q)
    np.testing.assert_allclose(np.asarray(xi), np.asarray(q), atol=1e-15)
    assert abs(float(logdet)) < 1e-15


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m,elementwise", [(1, 3), (2, 1), (5, 1), (7, 0)])
def test_inverse_and_logdet(kind, m, elementwise):
    flow = Flow(m, kind=kind, depth=4, width=16, mlp_layers=2, elementwise=elementwise)
    params = perturbed(flow)
    q = 1.5 * jax.random.normal(jax.random.PRNGKey(3), (m,))
    xi, logdet = flow.forward(params, q)
    q_back, logdet_inv = flow.inverse(params, xi)
    np.testing.assert_allclose(np.asarray(q_back), np.asarray(q), atol=1e-12)
    jac = jax.jacfwd(lambda x: flow.forward(params, x)[0])(q)
    np.testing.assert_allclose(float(logdet), float(np.linalg.slogdet(np.asarray(jac))[1]),
                               atol=1e-12)
    jac_inv = jax.jacfwd(lambda x: flow.inverse(params, x)[0])(xi)
    np.testing.assert_allclose(float(logdet_inv),
                               float(np.linalg.slogdet(np.asarray(jac_inv))[1]), atol=1e-12)
    # inverse log-determinant is minus the forward one (to rounding of a sum of ~50 terms)
    assert abs(float(logdet + logdet_inv)) < 1e-12 * (1.0 + abs(float(logdet)))


def test_identity_kind_has_no_parameters():
    flow = Flow(4, kind="identity")
    params = flow.init(jax.random.PRNGKey(0))
    assert jax.tree_util.tree_leaves(params) == []
    q = jnp.arange(4.0)
    assert np.array_equal(np.asarray(flow.inverse(params, flow.forward(params, q)[0])[0]),
                          np.asarray(q))


def test_bad_flow_options():
    with pytest.raises(ValueError, match="unknown flow kind"):
        Flow(3, kind="glow")
    with pytest.raises(ValueError, match="width"):
        Flow(3, width=0)
    with pytest.raises(ValueError, match="depth"):
        Flow(3, depth=-1)
