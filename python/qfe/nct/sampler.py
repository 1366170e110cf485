"""Samplers of (n, q) with n ~ p_n and q ~ |Psi_n(q)|^2.

``ExactSampler`` (qfe's default) uses |Psi_n(q)|^2 dq = |Phi_n(xi)|^2 dxi for q = f^-1(xi): draw
n from the occupation model, xi_k from the 1D Hermite densities |phi_{n_k}|^2 (inverse CDF,
:class:`qfe.nct.basis.HermiteSampler`) and invert the flow in closed form.  Samples are
independent: no burn-in, no autocorrelation, no step size.

``MetropolisSampler`` is the reference algorithm of Zhang et al. (arXiv:2412.12451): fresh n
every call, then ``mc_steps`` random-walk Metropolis moves of all coordinates with Gaussian
proposals on ln|Psi_n|^2, walkers kept between calls, step size adapted towards an acceptance
ratio of 1/2.  Kept as the baseline the exact sampler is measured against.

Both are pure: ``sample(key, params, state) -> (batch, state, info)`` with batch =
{"n", "q", "xi"} and a sampler state pytree (empty for the exact sampler).
"""

from __future__ import annotations

from dataclasses import dataclass

from qfe._jax import jax, jnp
from qfe.nct.basis import HermiteSampler
from qfe.nct.config import SAMPLERS
from qfe.nct.occupation import OccupationModel
from qfe.nct.wavefunction import Wavefunction


@dataclass(frozen=True, eq=False)
class ExactSampler:
    occupation: OccupationModel
    wavefunction: Wavefunction
    batch_size: int

    def __post_init__(self):
        object.__setattr__(self, "_hermite", HermiteSampler(self.occupation.n_levels - 1))

    def init_state(self, key, params):
        return {}

    def sample_xi(self, key, n):
        return self._hermite.sample(key, n)

    def sample(self, key, params, state):
        kn, kx = jax.random.split(key)
        n = self.occupation.sample(params["occupation"], kn, self.batch_size)
        xi = self._hermite.sample(kx, n)
        flow = self.wavefunction.flow
        q = jax.vmap(lambda x: flow.inverse(params["flow"], x)[0])(xi)
        return {"n": n, "q": q, "xi": xi}, state, {"acceptance": jnp.ones(())}


@dataclass(frozen=True, eq=False)
class MetropolisSampler:
    occupation: OccupationModel
    wavefunction: Wavefunction
    batch_size: int
    mc_steps: int = 3000
    step_size: float = 0.03
    target_acceptance: float = 0.5

    def __post_init__(self):
        if int(self.mc_steps) < 1:
            raise ValueError(f"mc_steps must be >= 1, got {self.mc_steps}")
        if not self.step_size > 0:
            raise ValueError(f"mc_step_size must be > 0, got {self.step_size}")

    def init_state(self, key, params):
        m = self.occupation.n_modes
        q = 0.1 * jax.random.normal(key, (self.batch_size, m))
        return {"q": q, "step_size": jnp.asarray(float(self.step_size))}

    def sample(self, key, params, state):
        kn, kmc = jax.random.split(key)
        n = self.occupation.sample(params["occupation"], kn, self.batch_size)
        fp = params["flow"]
        log_dens = jax.vmap(self.wavefunction.log_density, in_axes=(None, 0, 0))
        step = state["step_size"]

        def move(i, carry):
            q, lp, key, accepted = carry
            key, kprop, kacc = jax.random.split(key, 3)
            q_new = q + step * jax.random.normal(kprop, q.shape)
            lp_new = log_dens(fp, q_new, n)
            accept = jnp.log(jax.random.uniform(kacc, lp.shape)) < lp_new - lp
            q = jnp.where(accept[:, None], q_new, q)
            lp = jnp.where(accept, lp_new, lp)
            return q, lp, key, accepted + jnp.mean(accept)

        q0 = state["q"]
        carry = (q0, log_dens(fp, q0, n), kmc, jnp.zeros(()))
        q, _, _, accepted = jax.lax.fori_loop(0, self.mc_steps, move, carry)
        acceptance = accepted / self.mc_steps
        # adapt the proposal width towards the target acceptance (used from the next call)
        factor = jnp.clip(jnp.exp(acceptance - self.target_acceptance), 0.8, 1.25)
        new_state = {"q": q, "step_size": step * factor}
        xi = jax.vmap(lambda x: self.wavefunction.flow.forward(fp, x)[0])(q)
        return {"n": n, "q": q, "xi": xi}, new_state, {"acceptance": acceptance}


def make_sampler(kind: str, occupation, wavefunction, batch_size: int, **kw):
    if kind == "exact":
        return ExactSampler(occupation, wavefunction, batch_size)
    if kind == "metropolis":
        return MetropolisSampler(occupation, wavefunction, batch_size, **kw)
    raise ValueError(f"unknown sampler {kind!r}; choose from {SAMPLERS}")
