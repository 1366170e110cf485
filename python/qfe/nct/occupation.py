"""Factorised occupation model p_n = prod_k p_k(n_k) over K levels per mode.

p_k(j) = softmax(logits_k)_j, j = 0..K-1; logits start at the harmonic Boltzmann weights
-j hbar w_k / kT (the exact answer for a harmonic crystal, up to the truncation at K levels).
The entropy of a product distribution is exact and cheap:  S/kB = -sum_k sum_j p_kj ln p_kj.
At T = 0 the model is the ground state (n = 0) and is not trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfe.nct._jax import jax, jnp

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
        """Logits at the harmonic Boltzmann weights (ground state only at kT = 0)."""
        hw = np.asarray(hbar_omega, dtype=float).reshape(-1)
        if hw.size != self.n_modes:
            raise ValueError(f"need {self.n_modes} frequencies, got {hw.size}")
        levels = np.arange(self.n_levels)
        if kT > 0:
            logits = -np.outer(hw / kT, levels)
        else:
            logits = np.where(levels[None, :] == 0, 0.0, _FROZEN_LOGIT) * np.ones((hw.size, 1))
        return {"logits": jnp.asarray(logits)}

    def log_probs(self, params):
        """ln p_k(j), shape (M, K)."""
        return jax.nn.log_softmax(params["logits"], axis=-1)

    def log_prob(self, params, n):
        """ln p_n for integer states n (..., M)."""
        lp = self.log_probs(params)
        n2 = jnp.reshape(n, (-1, self.n_modes))
        picked = lp[jnp.arange(self.n_modes)[None, :], n2]
        return jnp.sum(picked, axis=-1).reshape(jnp.shape(n)[:-1])

    def sample(self, params, key, batch: int):
        """n ~ p: integer array (batch, M)."""
        return jax.random.categorical(key, params["logits"], axis=-1,
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
