"""Normalizing flow f: q -> xi on phonon coordinates (RealNVP), with closed-form inverse.

The wavefunction of state n is Psi_n(q) = Phi_n(f(q)) |det df/dq|^(1/2), so f must be a smooth
bijection with a cheap log-determinant and, for exact sampling (q = f^-1(xi)), a closed-form
inverse.  Layers, in the q -> xi direction:

1. per-mode affine  y = x exp(a) + b                       (a, b per mode; identity at 0)
2. ``depth`` affine coupling layers (RealNVP, Dinh et al. 2017): modes are split by parity,
   alternating between layers;  y_B = x_B exp(s(x_A)) + t(x_A),  y_A = x_A, with s, t from a
   tanh MLP (``mlp_layers`` hidden layers of ``width`` units) whose output layer starts at
   zero, so the flow starts as the identity (harmonic wavefunctions) and gradients flow.
   Coupling layers need at least 2 modes.
3. ``elementwise`` pairs of [sinh-arcsinh, per-mode affine] layers:
   y = sinh(delta asinh(x) - eps) (Jones & Pewsey 2009; delta = exp(log_delta) > 0), smooth,
   monotone, closed-form inverse, tails x^delta: the one nonlinear layer that also works for
   a single coordinate (1D model problems).

``Flow(kind="identity")`` has no parameters (the harmonic basis: "optimise p only").
Parameters are plain pytrees (dicts/lists of arrays); all methods are pure and act on one
vector (M,) — ``jax.vmap`` them for batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qfe.nct._jax import jax, jnp

from qfe.nct.config import FLOW_KINDS  # noqa: E402


def _log_cosh(z):
    a = jnp.abs(z)
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - math.log(2.0)


@dataclass(frozen=True)
class Flow:
    """RealNVP flow on ``n_modes`` coordinates (see module doc)."""

    n_modes: int
    kind: str = "realnvp"
    depth: int = 6
    width: int = 128
    mlp_layers: int = 2
    elementwise: int = 0
    affine: bool = True

    def __post_init__(self):
        if self.kind not in FLOW_KINDS:
            raise ValueError(f"unknown flow kind {self.kind!r}; choose from {FLOW_KINDS}")
        for name in ("n_modes", "width", "mlp_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"flow {name} must be >= 1, got {getattr(self, name)}")
        for name in ("depth", "elementwise"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"flow {name} must be >= 0, got {getattr(self, name)}")

    # ---- structure ---------------------------------------------------------------------------
    @property
    def n_couplings(self) -> int:
        if self.kind == "identity" or self.n_modes < 2:
            return 0
        return int(self.depth)

    def _split(self, layer: int):
        idx = np.arange(self.n_modes)
        cond = idx % 2 == layer % 2
        return np.nonzero(cond)[0], np.nonzero(~cond)[0]

    # ---- parameters --------------------------------------------------------------------------
    def init(self, key):
        """Parameters at the identity map."""
        if self.kind == "identity":
            return {}
        m = self.n_modes
        params = {}
        if self.affine:
            params["affine"] = {"log_scale": jnp.zeros(m), "shift": jnp.zeros(m)}
        couplings = []
        for layer in range(self.n_couplings):
            a_idx, b_idx = self._split(layer)
            sizes = [a_idx.size] + [self.width] * self.mlp_layers
            key, *keys = jax.random.split(key, len(sizes))
            mlp = []
            for i in range(len(sizes) - 1):
                w = jax.random.normal(keys[i], (sizes[i], sizes[i + 1])) / math.sqrt(sizes[i])
                mlp.append({"w": w, "b": jnp.zeros(sizes[i + 1])})
            # zero output layer: s = t = 0 at start
            mlp.append({"w": jnp.zeros((self.width, 2 * b_idx.size)),
                        "b": jnp.zeros(2 * b_idx.size)})
            couplings.append(mlp)
        if couplings:
            params["couplings"] = couplings
        if self.elementwise:
            params["elementwise"] = [
                {"eps": jnp.zeros(m), "log_delta": jnp.zeros(m),
                 "log_scale": jnp.zeros(m), "shift": jnp.zeros(m)}
                for _ in range(self.elementwise)]
        return params

    def n_params(self, params) -> int:
        return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))

    # ---- pieces -------------------------------------------------------------------------------
    @staticmethod
    def _mlp(mlp, x):
        for layer in mlp[:-1]:
            x = jnp.tanh(x @ layer["w"] + layer["b"])
        out = x @ mlp[-1]["w"] + mlp[-1]["b"]
        s, t = jnp.split(out, 2)
        return s, t

    # ---- maps ---------------------------------------------------------------------------------
    def forward(self, params, q):
        """xi = f(q) and ln|det df/dq| for one q (M,)."""
        x = q
        logdet = jnp.zeros((), dtype=q.dtype)
        if self.kind == "identity":
            return x, logdet
        if self.affine:
            a = params["affine"]
            x = x * jnp.exp(a["log_scale"]) + a["shift"]
            logdet = logdet + jnp.sum(a["log_scale"])
        for layer, mlp in enumerate(params.get("couplings", [])):
            a_idx, b_idx = self._split(layer)
            s, t = self._mlp(mlp, x[a_idx])
            x = x.at[b_idx].set(x[b_idx] * jnp.exp(s) + t)
            logdet = logdet + jnp.sum(s)
        for el in params.get("elementwise", []):
            delta = jnp.exp(el["log_delta"])
            z = delta * jnp.arcsinh(x) - el["eps"]
            logdet = logdet + jnp.sum(el["log_delta"] + _log_cosh(z) - 0.5 * jnp.log1p(x * x))
            x = jnp.sinh(z)
            x = x * jnp.exp(el["log_scale"]) + el["shift"]
            logdet = logdet + jnp.sum(el["log_scale"])
        return x, logdet

    def inverse(self, params, xi):
        """q = f^-1(xi) and ln|det df^-1/dxi| for one xi (M,) (closed form)."""
        x = xi
        logdet = jnp.zeros((), dtype=xi.dtype)
        if self.kind == "identity":
            return x, logdet
        for el in reversed(params.get("elementwise", [])):
            x = (x - el["shift"]) * jnp.exp(-el["log_scale"])
            logdet = logdet - jnp.sum(el["log_scale"])
            delta = jnp.exp(el["log_delta"])
            z = jnp.arcsinh(x) + el["eps"]
            y = jnp.sinh(z / delta)
            # d/dx sinh(asinh(x)+eps)/delta ... = cosh(z/delta) / (delta sqrt(1 + x^2))
            logdet = logdet + jnp.sum(_log_cosh(z / delta) - el["log_delta"]
                                      - 0.5 * jnp.log1p(x * x))
            x = y
        couplings = params.get("couplings", [])
        for layer in reversed(range(len(couplings))):
            a_idx, b_idx = self._split(layer)
            s, t = self._mlp(couplings[layer], x[a_idx])
            x = x.at[b_idx].set((x[b_idx] - t) * jnp.exp(-s))
            logdet = logdet - jnp.sum(s)
        if self.affine:
            a = params["affine"]
            x = (x - a["shift"]) * jnp.exp(-a["log_scale"])
            logdet = logdet - jnp.sum(a["log_scale"])
        return x, logdet
