"""Local estimators of the variational free energy and its gradients.

F[p, f] = E_{n~p} [ kT ln p_n + <Psi_n|H|Psi_n> ],  H = sum_k (hbar w_k / 2)(-d^2/dq_k^2) + V,
estimated per sample (n, q ~ |Psi_n|^2) by the local free energy  kT ln p_n + V(q) + T(q).
Write w_k = hbar w_k and g = grad_q ln Psi.  Kinetic estimators (all unbiased for <T>):

``"laplacian"``  T = -1/2 sum_k w_k [d_k^2 ln Psi + g_k^2] (= -1/2 sum w_k d_k^2 Psi / Psi).
    Zero variance at eigenstates ("local energy"); needs the Hessian diagonal: M
    Hessian-vector products per sample.
``"gradient"``  T = 1/2 sum_k w_k g_k^2 (integration by parts).  One backward pass, but the
    variance is infinite for excited states: g ~ 1/(distance to a node) and the density
    vanishes only quadratically there (tail P(T > t) ~ t^(-3/2)).
``"stochastic"``  an unbiased, finite-variance Laplacian estimate at the cost of O(1)
    derivative passes (qfe's own).  With ln Psi = sum_k l_k(f_k(q)) + ld(q)/2, G = Df W Df^T,
    h_c(q) = c . f(q) + ld(q)/2 at fixed c = l'(xi):

        sum_i w_i d_i^2 Psi/Psi = sum_k (xi_k^2 - 2n_k - 1) G_kk + tr(W hess h_c)
                                  + g^T W g - sum_k l'_k^2 G_kk,

    using l'' + l'^2 = phi''/phi = xi^2 - (2n+1), finite at the nodes.  Each term is
    estimated with Rademacher probes v (q space) and r (xi space), u = W^(1/2) v, s = Df u:
    G_kk ~ s_k^2, tr(W hess h_c) ~ u.hess(h_c).u, sum_k l'_k^2 G_kk ~ |W^(1/2) Df^T (r*l')|^2.
    Only cross terms between *different* modes carry the 1/distance singularities, so the
    variance is finite; for the identity flow (and per-mode affine flows) it is exact.

Gradients of F (selectable):

- occupation logits: score function E[(F_loc - b) grad ln p_n] with the batch-mean baseline b
  (leave-one-out scaled, unbiased) and local values clipped at ``clip`` mean-absolute-
  deviations (as Zhang et al.).
- flow parameters, ``"score"``: E[(E_loc - b) grad ln|Psi|^2] (samples held fixed; the
  Hermitian-H identity makes it exact for the Laplacian-type estimators; the gradient form
  adds its explicit parameter dependence);  ``"pathwise"``: differentiate
  E_xi[E_loc(f^-1(xi; theta); theta)] through the closed-form inverse (needs forces);
  ``"stl"`` (default, "sticking the landing", Roeder et al. 2017): the pathwise gradient
  without the explicit theta dependence of E_loc (only q = f^-1(xi; theta) carries theta).
  Both are unbiased (the dropped term, E[d E_loc/d theta at fixed q], vanishes for a
  Hermitian H), but STL is exactly zero wherever E_loc is constant in q, i.e. at an exact
  eigenstate basis such as a harmonic crystal's optimum, so training cannot drift from it.
  The score gradient uses a leave-one-out regression baseline E_loc ~ a + b sum_k hbar w_k n_k
  (the harmonic level energy explains most of the spread between states).
"""

from __future__ import annotations

from dataclasses import dataclass

from qfe._jax import jax, jnp
from qfe.nct.basis import log_abs_hermite_and_dlog
from qfe.nct.config import GRADIENT_ESTIMATORS, KINETIC_ESTIMATORS
from qfe.nct.occupation import OccupationModel
from qfe.nct.system import ModeSystem
from qfe.nct.wavefunction import Wavefunction

LAPLACIAN_CHUNK = 64      # Hessian-vector products evaluated together (memory bound)


def _rademacher(key, shape):
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1.0, -1.0)


def _mean(x, axis_name=None):
    """Mean over the batch axis; with ``axis_name`` (the batch split into equal groups under
    ``jax.vmap(..., axis_name=...)``) the mean over the whole batch."""
    m = jnp.mean(x, axis=0)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)


def _size(x, axis_name=None):
    """Number of samples in the whole batch (all groups)."""
    return x.shape[0] * (1 if axis_name is None else jax.lax.psum(1, axis_name))


def clip_local(values, factor: float, axis_name=None):
    """Clip to mean +- factor * mean|x - mean| (no clipping for factor <= 0)."""
    if factor is None or factor <= 0:
        return values
    mean = _mean(values, axis_name)
    mad = _mean(jnp.abs(values - mean), axis_name)
    return jnp.clip(values, mean - factor * mad, mean + factor * mad)


def regression_residuals(values, feature, axis_name=None):
    """Leave-one-out residuals of the least-squares fit values ~ a + b * feature.

    r_i / (1 - h_ii) with r the ordinary residuals and h the hat matrix: the baseline of
    sample i does not depend on sample i, so a score-function gradient stays unbiased.
    """
    b = _size(values, axis_name)
    x = jnp.stack([jnp.ones_like(feature), feature - _mean(feature, axis_name)], axis=1)
    xtx = x.T @ x
    xtv = x.T @ values
    if axis_name is not None:
        xtx, xtv = jax.lax.psum(xtx, axis_name), jax.lax.psum(xtv, axis_name)
    gram = xtx + 1e-12 * jnp.eye(2) * jnp.maximum(jnp.trace(xtx), 1.0)
    coef = jnp.linalg.solve(gram, xtv)
    resid = values - x @ coef
    hat = jnp.sum(x * jnp.linalg.solve(gram, x.T).T, axis=1)
    return resid / jnp.maximum(1.0 - hat, 1.0 / b)


def centered(values, axis_name=None):
    """x_i - mean of the others: (x - mean) * B/(B-1), an unbiased baseline."""
    b = _size(values, axis_name)
    return (values - _mean(values, axis_name)) * (b / jnp.maximum(b - 1, 1))


@dataclass(frozen=True)
class LocalEnergy:
    """Per-sample potential and kinetic energies for a system and wavefunction."""

    system: ModeSystem
    wavefunction: Wavefunction
    kinetic: str = "stochastic"
    n_probes: int = 1

    def __post_init__(self):
        if self.kinetic not in KINETIC_ESTIMATORS:
            raise ValueError(f"unknown kinetic estimator {self.kinetic!r}; choose from "
                             f"{KINETIC_ESTIMATORS}")
        if int(self.n_probes) < 1:
            raise ValueError(f"n_probes must be >= 1, got {self.n_probes}")

    @property
    def weights(self):
        return jnp.asarray(self.system.hbar_omega)

    # ---- single sample -----------------------------------------------------------------------
    def potential(self, q):
        return self.system.potential_q(q)

    def log_psi_grad(self, flow_params, q, n):
        return jax.grad(self.wavefunction.log_psi, argnums=1)(flow_params, q, n)

    def kinetic_energy(self, flow_params, q, n, key):
        if self.kinetic == "gradient":
            return self._kinetic_gradient(flow_params, q, n)
        if self.kinetic == "laplacian":
            return self._kinetic_laplacian(flow_params, q, n)
        return self._kinetic_stochastic(flow_params, q, n, key)

    def _kinetic_gradient(self, flow_params, q, n):
        g = self.log_psi_grad(flow_params, q, n)
        return 0.5 * jnp.sum(self.weights * g * g)

    def _kinetic_laplacian(self, flow_params, q, n):
        def grad_fn(x):
            return jax.grad(self.wavefunction.log_psi, argnums=1)(flow_params, x, n)

        g = grad_fn(q)
        eye = jnp.eye(q.shape[0], dtype=q.dtype)
        # Hessian diagonal by M Hessian-vector products, in chunks to bound memory
        diag = jax.lax.map(lambda e: jnp.dot(e, jax.jvp(grad_fn, (q,), (e,))[1]), eye,
                           batch_size=min(q.shape[0], LAPLACIAN_CHUNK))
        return -0.5 * jnp.sum(self.weights * (diag + g * g))

    def _kinetic_stochastic(self, flow_params, q, n, key):
        w = self.weights
        sqrt_w = jnp.sqrt(w)
        flow = self.wavefunction.flow

        def fwd(x):                                   # (xi, ln|det df/dq|)
            return flow.forward(flow_params, x)

        (xi, _), vjp_fwd = jax.vjp(fwd, q)
        _, dlog = log_abs_hermite_and_dlog(xi, n, self.wavefunction.n_max)
        half = jnp.asarray(0.5, dtype=q.dtype)
        g = vjp_fwd((dlog, half))[0]                  # grad ln Psi = Df^T l' + grad(ld)/2
        energy_ratio = xi * xi - (2.0 * n + 1.0)      # phi''/phi, finite at nodes

        kv, kr = jax.random.split(key)
        vs = _rademacher(kv, (self.n_probes,) + q.shape)
        rs = _rademacher(kr, (self.n_probes,) + q.shape)

        def probe(v, r):
            u = sqrt_w * v

            def slope(eps):                          # d/deps (f, ld)(q + eps u)
                return jax.jvp(lambda e: fwd(q + e * u), (eps,), (jnp.ones_like(eps),))[1]

            zero = jnp.zeros((), dtype=q.dtype)
            (s, _), (curv_f, curv_ld) = jax.jvp(slope, (zero,), (jnp.ones_like(zero),))
            u_hess_u = jnp.dot(dlog, curv_f) + 0.5 * curv_ld     # u.hess(h_c).u, c = l'
            b = vjp_fwd((r * dlog, jnp.zeros_like(half)))[0]     # Df^T (r * l')
            return jnp.sum(energy_ratio * s * s) + u_hess_u - jnp.sum(w * b * b)

        lap = jnp.mean(jax.vmap(probe)(vs, rs)) + jnp.sum(w * g * g)
        return -0.5 * lap

    def local(self, flow_params, q, n, key):
        """(V, T) for one sample."""
        return self.potential(q), self.kinetic_energy(flow_params, q, n, key)

    # ---- batches -------------------------------------------------------------------------------
    def batch(self, flow_params, q, n, key):
        """(V, T) arrays (B,) for a batch q, n (B, M)."""
        keys = jax.random.split(key, q.shape[0])
        return jax.vmap(self.local, in_axes=(None, 0, 0, 0))(flow_params, q, n, keys)


@dataclass(frozen=True)
class FreeEnergyObjective:
    """Surrogate loss whose gradient is the selected estimator of grad F, plus local values.

    ``loss(params, batch, key)`` with params = {"occupation": ..., "flow": ...} and batch =
    {"n": (B, M) int, "q": (B, M), "xi": (B, M)} returns (surrogate, aux) where aux holds the
    unclipped per-sample local values (free energy, energy, V, T, ln p_n).
    """

    local_energy: LocalEnergy
    occupation: OccupationModel
    kT: float
    gradient: str = "score"
    clip: float = 5.0
    train_occupation: bool = True
    regression_baseline: bool = True

    def excitation(self, n):
        """Harmonic excitation energy sum_k hbar w_k n_k of each sample (B,)."""
        return n.astype(jnp.float64) @ self.local_energy.weights

    def __post_init__(self):
        if self.gradient not in GRADIENT_ESTIMATORS:
            raise ValueError(f"unknown gradient estimator {self.gradient!r}; choose from "
                             f"{GRADIENT_ESTIMATORS}")

    def loss(self, params, batch, key, axis_name=None):
        """``axis_name``: set when the batch is one of several equal groups mapped by
        ``jax.vmap(..., axis_name=axis_name)``; baselines and clipping then use statistics of
        the whole batch, so the mean of the groups' gradients is the whole-batch gradient."""
        le = self.local_energy
        wf = le.wavefunction
        n = batch["n"]
        fp = params["flow"]
        logp = self.occupation.log_prob(params["occupation"], n)
        keys = jax.random.split(key, n.shape[0])
        if self.gradient in ("pathwise", "stl"):
            q = jax.vmap(lambda xi: wf.flow.inverse(fp, xi)[0])(batch["xi"])
        else:
            q = jax.lax.stop_gradient(batch["q"])
        # stl: theta enters only through q = f^-1(xi; theta) (Roeder et al. 2017)
        fp_local = jax.lax.stop_gradient(fp) if self.gradient == "stl" else fp
        v, t = jax.vmap(le.local, in_axes=(None, 0, 0, 0))(fp_local, q, n, keys)
        e_loc = v + t
        f_loc = self.kT * jax.lax.stop_gradient(logp) + e_loc
        f_val = jax.lax.stop_gradient(f_loc)
        e_val = jax.lax.stop_gradient(e_loc)

        surrogate = 0.0
        if self.train_occupation and self.kT > 0:
            adv_p = centered(clip_local(f_val, self.clip, axis_name), axis_name)
            surrogate = surrogate + jnp.mean(adv_p * logp)
        if self.gradient in ("pathwise", "stl"):
            surrogate = surrogate + jnp.mean(e_loc)
        else:
            log_dens = jax.vmap(wf.log_density, in_axes=(None, 0, 0))(fp, q, n)
            if self.regression_baseline:
                adv_e = regression_residuals(clip_local(e_val, self.clip, axis_name),
                                             self.excitation(n), axis_name)
            else:
                adv_e = centered(clip_local(e_val, self.clip, axis_name), axis_name)
            surrogate = surrogate + jnp.mean(adv_e * log_dens)
            if le.kinetic == "gradient":
                # the gradient form is not H Psi / Psi: add its explicit theta dependence
                surrogate = surrogate + jnp.mean(t)
        aux = {"free_energy": f_val, "energy": e_val,
               "potential": jax.lax.stop_gradient(v), "kinetic": jax.lax.stop_gradient(t),
               "log_p": jax.lax.stop_gradient(logp)}
        return surrogate, aux
