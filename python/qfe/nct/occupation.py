"""Factorised occupation model p_n = prod_k p_k(n_k) over K levels per mode.

p_k(j) = softmax_j(-j (hbar w_k / kT) exp(s_k) + l_kj), j = 0..K-1: a free table of logits l
(the paper's model) on top of a harmonic ladder whose spacing exp(s_k) is learnable.  At
s = l = 0 the weights are the harmonic Boltzmann weights (the exact answer for a harmonic
crystal, up to the truncation at K levels).  The ladder scale is a reparametrisation, not a
restriction: it lets Adam move a whole mode's distribution in one step when anharmonicity
shifts its level spacing, instead of ~Delta(logit)/lr steps per level.
The entropy of a product distribution is exact and cheap:  S/kB = -sum_k sum_j p_kj ln p_kj.
At T = 0 the model is the ground state (n = 0) and is not trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfe._jax import jax, jnp

_FROZEN_LOGIT = -1e4   # "probability zero" for excited levels at T = 0 (exp underflows to 0)


@dataclass(frozen=True)
class OccupationModel:
    """K-level factorised occupation model for M modes (see module doc)."""

    n_modes: int
    n_levels: int = 20

    def __post_init__(self):
        if int(self.n_levels) < 2:
            raise ValueError(f"n_levels (K) must be >= 2, got {self.n_levels}")
        if int(self.n_modes) < 1:
            raise ValueError(f"n_modes must be >= 1, got {self.n_modes}")

    def init(self, hbar_omega, kT: float):
        """Parameters at the harmonic Boltzmann weights (ground state only at kT = 0)."""
        hw = np.asarray(hbar_omega, dtype=float).reshape(-1)
        if hw.size != self.n_modes:
            raise ValueError(f"need {self.n_modes} frequencies, got {hw.size}")
        levels = np.arange(self.n_levels)
        if kT > 0:
            ladder = np.outer(hw / kT, levels)
        else:
            ladder = np.where(levels[None, :] == 0, 0.0, -_FROZEN_LOGIT) * np.ones((hw.size, 1))
        # "ladder" is a constant (stop_gradient: zero gradient, Adam leaves it unchanged)
        return {"ladder": jnp.asarray(ladder),
                "log_scale": jnp.zeros(hw.size),
                "logits": jnp.zeros((hw.size, self.n_levels))}

    def full_logits(self, params):
        ladder = jax.lax.stop_gradient(params["ladder"])
        return -ladder * jnp.exp(params["log_scale"])[:, None] + params["logits"]

    def log_probs(self, params):
        """ln p_k(j), shape (M, K)."""
        return jax.nn.log_softmax(self.full_logits(params), axis=-1)

    def log_prob(self, params, n):
        """ln p_n for integer states n (..., M)."""
        lp = self.log_probs(params)
        n2 = jnp.reshape(n, (-1, self.n_modes))
        picked = lp[jnp.arange(self.n_modes)[None, :], n2]
        return jnp.sum(picked, axis=-1).reshape(jnp.shape(n)[:-1])

    def sample(self, params, key, batch: int):
        """n ~ p: integer array (batch, M)."""
        return jax.random.categorical(key, self.full_logits(params), axis=-1,
                                      shape=(batch, self.n_modes)).astype(jnp.int32)

    def entropy(self, params):
        """S / kB of the occupation distribution (exact)."""
        lp = self.log_probs(params)
        return -jnp.sum(jnp.exp(lp) * lp)

    def mean_occupation(self, params):
        """<n_k>, shape (M,)."""
        p = jnp.exp(self.log_probs(params))
        return p @ jnp.arange(self.n_levels, dtype=p.dtype)

    def top_level_probability(self, params):
        """p_k(K-1) per mode: how much weight sits at the truncation edge."""
        return jnp.exp(self.log_probs(params))[:, -1]
