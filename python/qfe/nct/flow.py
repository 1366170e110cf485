"""Normalizing flow f: q -> xi on phonon coordinates, with closed-form inverse.

The wavefunction of state n is Psi_n(q) = Phi_n(f(q)) |det df/dq|^(1/2), so f must be a smooth
bijection with a cheap log-determinant and, for exact sampling (q = f^-1(xi)), a closed-form
inverse.  f is a chain of layers (q -> xi direction), every one the identity at
initialisation (harmonic wavefunctions), smooth to all orders (the local energy needs third
derivatives of f) and invertible in closed form:

``affine``       per mode  y = x exp(a) + b.
``linear``       y = L U x with L unit lower-triangular and U upper-triangular with diagonal
                 exp(s) (the LU layer of Kingma & Dhariwal 2018): any invertible mixing of
                 modes near the identity; ln|det| = sum(s); inverse by two triangular solves.
``coupling``     RealNVP (Dinh et al. 2017): modes split by parity or into halves (cycling);
                 y_B = x_B exp(s(x_A)) + t(x_A), y_A = x_A, with s, t from a tanh MLP whose
                 output layer starts at zero.  Needs at least 2 modes.
``sinh_arcsinh`` per mode y = sinh(delta asinh(x) - eps) (Jones & Pewsey 2009) followed by a
                 per-mode affine: monotone, tails x^delta, the nonlinear layer that also acts
                 on a single coordinate.

Kinds (``Flow.kind``):

- ``"full"`` (default): affine, then ``depth`` blocks of [linear, coupling, sinh_arcsinh].
  The linear layers let the flow learn anharmonicity along any combination of modes (a crystal's
  cubic and quartic terms couple modes); the per-mode nonlinear layers at every depth shape
  the tails.
- ``"realnvp"``: affine, ``depth`` couplings, then ``elementwise`` sinh_arcsinh layers (the
  previous default; no mode mixing except through the coupling MLPs).
- ``"gaussian"``: affine + one linear layer, nothing nonlinear: with thermal occupations this
  is the family of all Gaussian density matrices, i.e. the self-consistent harmonic (SCHA)
  ansatz.
- ``"identity"``: no parameters (the harmonic basis: "optimise p only").

Parameters are plain pytrees (a list with one dict per layer); all methods are pure and act
on one vector (M,): ``jax.vmap`` them for batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qfe._jax import jax, jnp
from qfe.nct.config import FLOW_KINDS


def _log_cosh(z):
    a = jnp.abs(z)
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - math.log(2.0)


def _solve_triangular(a, b, lower, unit_diagonal=False):
    return jax.scipy.linalg.solve_triangular(a, b, lower=lower, unit_diagonal=unit_diagonal)


# ---- layers: init(key, m) -> params; forward/inverse(params, x) -> (y, ln|det dy/dx|) ----------
@dataclass(frozen=True)
class Affine:
    """y = x exp(a) + b per mode."""

    def init(self, key, m):
        return {"log_scale": jnp.zeros(m), "shift": jnp.zeros(m)}

    def forward(self, p, x):
        return x * jnp.exp(p["log_scale"]) + p["shift"], jnp.sum(p["log_scale"])

    def inverse(self, p, y):
        return (y - p["shift"]) * jnp.exp(-p["log_scale"]), -jnp.sum(p["log_scale"])


@dataclass(frozen=True)
class Linear:
    """y = L U x (LU-parametrised invertible mixing, identity at init)."""

    def init(self, key, m):
        return {"lower": jnp.zeros((m, m)), "upper": jnp.zeros((m, m)),
                "log_diag": jnp.zeros(m)}

    @staticmethod
    def _factors(p):
        m = p["log_diag"].shape[0]
        lower = jnp.tril(p["lower"], -1) + jnp.eye(m)
        upper = jnp.triu(p["upper"], 1) + jnp.diag(jnp.exp(p["log_diag"]))
        return lower, upper

    def forward(self, p, x):
        lower, upper = self._factors(p)
        return lower @ (upper @ x), jnp.sum(p["log_diag"])

    def inverse(self, p, y):
        lower, upper = self._factors(p)
        z = _solve_triangular(lower, y, lower=True, unit_diagonal=True)
        return _solve_triangular(upper, z, lower=False), -jnp.sum(p["log_diag"])


@dataclass(frozen=True)
class Coupling:
    """RealNVP affine coupling.  ``parity`` picks the mask, cycling through four patterns
    (even/odd modes, then lower/upper half of the mode list and the reverse), so every mode
    is conditioned on neighbours in index as well as on distant ones."""

    m: int
    parity: int
    width: int
    mlp_layers: int

    def split(self):
        idx = np.arange(self.m)
        pattern = self.parity % 4
        if pattern < 2 or self.m < 4:
            cond = idx % 2 == pattern % 2
        else:
            cond = (idx < self.m // 2) == (pattern == 2)
        return np.nonzero(cond)[0], np.nonzero(~cond)[0]

    def init(self, key, m):
        a_idx, b_idx = self.split()
        sizes = [a_idx.size] + [self.width] * self.mlp_layers
        keys = jax.random.split(key, len(sizes))
        mlp = []
        for i in range(len(sizes) - 1):
            w = jax.random.normal(keys[i], (sizes[i], sizes[i + 1])) / math.sqrt(sizes[i])
            mlp.append({"w": w, "b": jnp.zeros(sizes[i + 1])})
        # zero output layer: s = t = 0 at start
        mlp.append({"w": jnp.zeros((self.width, 2 * b_idx.size)),
                    "b": jnp.zeros(2 * b_idx.size)})
        return mlp

    @staticmethod
    def _mlp(mlp, x):
        for layer in mlp[:-1]:
            x = jnp.tanh(x @ layer["w"] + layer["b"])
        return jnp.split(x @ mlp[-1]["w"] + mlp[-1]["b"], 2)

    def forward(self, p, x):
        a_idx, b_idx = self.split()
        s, t = self._mlp(p, x[a_idx])
        return x.at[b_idx].set(x[b_idx] * jnp.exp(s) + t), jnp.sum(s)

    def inverse(self, p, y):
        a_idx, b_idx = self.split()
        s, t = self._mlp(p, y[a_idx])
        return y.at[b_idx].set((y[b_idx] - t) * jnp.exp(-s)), -jnp.sum(s)


@dataclass(frozen=True)
class SinhArcsinh:
    """y = sinh(delta asinh(x) - eps) exp(a) + b per mode (delta = exp(log_delta) > 0)."""

    def init(self, key, m):
        return {"eps": jnp.zeros(m), "log_delta": jnp.zeros(m),
                "log_scale": jnp.zeros(m), "shift": jnp.zeros(m)}

    def forward(self, p, x):
        delta = jnp.exp(p["log_delta"])
        z = delta * jnp.arcsinh(x) - p["eps"]
        logdet = jnp.sum(p["log_delta"] + _log_cosh(z) - 0.5 * jnp.log1p(x * x)
                         + p["log_scale"])
        return jnp.sinh(z) * jnp.exp(p["log_scale"]) + p["shift"], logdet

    def inverse(self, p, y):
        x = (y - p["shift"]) * jnp.exp(-p["log_scale"])
        delta = jnp.exp(p["log_delta"])
        z = jnp.arcsinh(x) + p["eps"]
        # d/dx sinh((asinh(x) + eps)/delta) = cosh(z/delta) / (delta sqrt(1 + x^2))
        logdet = jnp.sum(_log_cosh(z / delta) - p["log_delta"] - 0.5 * jnp.log1p(x * x)
                         - p["log_scale"])
        return jnp.sinh(z / delta), logdet


@dataclass(frozen=True)
class Flow:
    """Normalizing flow on ``n_modes`` coordinates (see module doc)."""

    n_modes: int
    kind: str = "full"
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
    def layers(self) -> tuple:
        """The layers in the q -> xi direction."""
        m = self.n_modes
        if self.kind == "identity":
            return ()
        head = (Affine(),) if self.affine else ()
        if self.kind == "gaussian":
            return head + (Linear(),)

        def coupling(i):
            return (Coupling(m, i, self.width, self.mlp_layers),) if m >= 2 else ()

        if self.kind == "realnvp":
            body = tuple(c for i in range(self.depth) for c in coupling(i))
            return head + body + (SinhArcsinh(),) * self.elementwise
        blocks = tuple(layer for i in range(self.depth)
                       for layer in (Linear(),) + coupling(i) + (SinhArcsinh(),))
        return head + blocks

    # ---- parameters --------------------------------------------------------------------------
    def init(self, key):
        """Parameters at the identity map (one dict or list per layer)."""
        layers = self.layers
        keys = jax.random.split(key, max(len(layers), 1))
        return [layer.init(k, self.n_modes) for layer, k in zip(layers, keys)]

    # ---- maps ---------------------------------------------------------------------------------
    def forward(self, params, q):
        """xi = f(q) and ln|det df/dq| for one q (M,)."""
        x, logdet = q, jnp.zeros((), dtype=q.dtype)
        for layer, p in zip(self.layers, params):
            x, ld = layer.forward(p, x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, params, xi):
        """q = f^-1(xi) and ln|det df^-1/dxi| for one xi (M,) (closed form)."""
        x, logdet = xi, jnp.zeros((), dtype=xi.dtype)
        for layer, p in zip(reversed(self.layers), reversed(params)):
            x, ld = layer.inverse(p, x)
            logdet = logdet + ld
        return x, logdet
