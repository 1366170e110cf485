"""Local-energy and gradient estimators against exact values and against each other."""

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe._jax import jax, jnp
from qfe.nct.estimators import FreeEnergyObjective, LocalEnergy
from qfe.nct.flow import Flow
from qfe.nct.occupation import OccupationModel
from qfe.nct.sampler import ExactSampler
from qfe.nct.system import harmonic_system, model_system_1d
from qfe.nct.wavefunction import Wavefunction


def coupled_harmonic(m=4, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, m))
    hess = a @ a.T + m * np.eye(m)
    masses = rng.uniform(1.0, 3.0, m)
    return harmonic_system(lambda x: 0.5 * x @ jnp.asarray(hess) @ x, np.zeros(m), masses)


def perturb(params, seed, scale):
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def make(system, n_levels=6, depth=3, elementwise=1):
    flow = Flow(system.n_modes, depth=depth, width=12, elementwise=elementwise)
    wf = Wavefunction(flow, n_levels - 1)
    occ = OccupationModel(system.n_modes, n_levels)
    return flow, wf, occ


def test_identity_flow_gives_exact_eigenvalues():
    """Harmonic system, identity flow: Laplacian-type local energies are the exact
    eigenvalues sum_k (n_k + 1/2) hbar w_k sample by sample (zero variance)."""
    system = coupled_harmonic()
    flow, wf, occ = make(system)
    params = {"flow": flow.init(jax.random.PRNGKey(0)),
              "occupation": occ.init(system.hbar_omega, 2.0)}
    batch, _, _ = jax.jit(ExactSampler(occ, wf, 4000).sample)(jax.random.PRNGKey(1), params, {})
    exact = np.sum((np.asarray(batch["n"]) + 0.5) * system.hbar_omega, axis=1)
    for kinetic in ("laplacian", "stochastic"):
        v, t = jax.jit(LocalEnergy(system, wf, kinetic).batch)(
            params["flow"], batch["q"], batch["n"], jax.random.PRNGKey(2))
        np.testing.assert_allclose(np.asarray(v + t), exact, rtol=1e-11, atol=1e-11)
    # the gradient form is right on average only (and heavy-tailed for excited states)
    v, t = jax.jit(LocalEnergy(system, wf, "gradient").batch)(
        params["flow"], batch["q"], batch["n"], jax.random.PRNGKey(2))
    e = np.asarray(v + t)
    ground = np.all(np.asarray(batch["n"]) == 0, axis=1)
    assert ground.sum() > 100
    d = e[ground] - exact[ground]
    assert abs(d.mean()) < 5 * d.std() / np.sqrt(d.size)


def test_kinetic_estimators_match_quadrature_1d():
    """1D, nontrivial flow: <T> of Psi_n by each estimator vs grid quadrature."""
    system = model_system_1d(lambda x: 0.5 * x ** 2 + 0.1 * x ** 4)
    flow, wf, occ = make(system, elementwise=2)
    fp = perturb(flow.init(jax.random.PRNGKey(0)), 3, 0.1)
    w = float(system.hbar_omega[0])
    x = jnp.linspace(-30.0, 30.0, 200001)
    dx = float(x[1] - x[0])
    sampler = ExactSampler(occ, wf, 100000)
    batch_fns = {k: jax.jit(LocalEnergy(system, wf, k).batch)
                 for k in ("laplacian", "stochastic", "gradient")}
    for level in (0, 1, 3):
        n_arr = jnp.array([level])
        lp = jax.vmap(lambda q: wf.log_psi(fp, q[None], n_arr))(x)
        g = jax.vmap(jax.grad(lambda q: wf.log_psi(fp, jnp.array([q]), n_arr)))(x)
        rho = jnp.exp(2 * lp)
        assert abs(float(jnp.sum(rho) * dx) - 1.0) < 1e-8           # normalised for any flow
        t_quad = float(0.5 * w * jnp.sum(rho * g * g) * dx)
        n = jnp.full((100000, 1), level)
        xi = jax.jit(sampler.sample_xi)(jax.random.PRNGKey(10 + level), n)
        q = jax.jit(jax.vmap(lambda z: flow.inverse(fp, z)[0]))(xi)
        for kinetic in ("laplacian", "stochastic", "gradient"):
            _, t = batch_fns[kinetic](fp, q, n, jax.random.PRNGKey(4))
            t = np.asarray(t)
            err = t.std() / np.sqrt(t.size)
            assert abs(t.mean() - t_quad) < 5 * err + 1e-9, (kinetic, level, t.mean(), t_quad)


def test_stochastic_matches_laplacian_with_coupling_flow():
    """Several modes, coupling layers far from the identity, excited states: the O(1)-cost
    stochastic Laplacian agrees with the exact Hessian-diagonal Laplacian (paired samples)."""
    system = coupled_harmonic(m=5, seed=1)
    flow, wf, occ = make(system, n_levels=4, depth=4, elementwise=1)
    params = {"flow": perturb(flow.init(jax.random.PRNGKey(0)), 5, 0.15),
              "occupation": occ.init(system.hbar_omega, 3.0)}
    batch, _, _ = jax.jit(ExactSampler(occ, wf, 20000).sample)(jax.random.PRNGKey(1), params, {})
    _, t_lap = jax.jit(LocalEnergy(system, wf, "laplacian").batch)(
        params["flow"], batch["q"], batch["n"], jax.random.PRNGKey(2))
    _, t_sto = jax.jit(LocalEnergy(system, wf, "stochastic", n_probes=2).batch)(
        params["flow"], batch["q"], batch["n"], jax.random.PRNGKey(3))
    d = np.asarray(t_sto) - np.asarray(t_lap)
    assert np.all(np.isfinite(d))
    assert abs(d.mean()) < 4.5 * d.std() / np.sqrt(d.size)
    # and it is not the trivial estimator: it fluctuates around the Laplacian
    assert d.std() > 0


def quadrature_free_energy_1d(system, wf, occ, kT):
    """F(params) by grid quadrature for a 1D system (independent of the samplers)."""
    l_len = float(system.displacement[0, 0])
    w = float(system.hbar_omega[0])
    x = jnp.linspace(-30.0, 30.0, 60001)     # wide: perturbed flows have heavier tails
    dx = float(x[1] - x[0])
    vx = jax.vmap(lambda q: system.energy_fn(jnp.array([q * l_len])))(x)

    def free(params):
        def energy(level):
            n = level[None]
            g = jax.vmap(jax.grad(lambda q: wf.log_psi(params["flow"], q[None], n)))(x)
            rho = jnp.exp(2 * jax.vmap(lambda q: wf.log_psi(params["flow"], q[None], n))(x))
            return jnp.sum(rho * (0.5 * w * g * g + vx)) * dx

        e = jax.vmap(energy)(jnp.arange(occ.n_levels))
        lp = occ.log_probs(params["occupation"])[0]
        return jnp.sum(jnp.exp(lp) * (kT * lp + e))

    return free


@pytest.mark.parametrize("gradient", ["score", "pathwise", "stl"])
def test_gradients_match_quadrature_1d(gradient):
    system = model_system_1d(lambda x: 0.5 * x ** 2 + 0.1 * x ** 4)
    flow, wf, occ = make(system, n_levels=8, elementwise=2)
    kT = 1.0
    params = {"flow": perturb(flow.init(jax.random.PRNGKey(0)), 7, 0.1),
              "occupation": {**occ.init(system.hbar_omega, kT),
                             "log_scale": jnp.full((1,), np.log(0.8))}}
    exact = jax.jit(jax.grad(quadrature_free_energy_1d(system, wf, occ, kT)))(params)
    objective = FreeEnergyObjective(LocalEnergy(system, wf, "stochastic"), occ, kT,
                                    gradient=gradient, clip=0.0)
    sample = jax.jit(ExactSampler(occ, wf, 20000).sample)
    grad_fn = jax.jit(jax.grad(lambda p, b, k: objective.loss(p, b, k)[0]))
    grads = []
    for i in range(8):
        batch, _, _ = sample(jax.random.PRNGKey(100 + i), params, {})
        g = grad_fn(params, batch, jax.random.PRNGKey(i))
        grads.append(np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(g)]))
    grads = np.array(grads)
    ref = np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(exact)])
    mean, err = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(len(grads))
    z = np.abs(mean - ref) / (err + 1e-12)
    assert np.all(z < 5.0), (z.max(), mean, ref)
