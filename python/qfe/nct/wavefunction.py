"""Flow-transformed harmonic product states Psi_n(q) = Phi_n(f(q)) |det df/dq|^(1/2).

Phi_n(xi) = prod_k phi_{n_k}(xi_k) (Hermite functions, :mod:`qfe.nct.basis`), f a bijection
(:mod:`qfe.nct.flow`).  The states {Psi_n} are orthonormal for every f (change of variables), so
rho = sum_n p_n |Psi_n><Psi_n| is a valid density matrix.  Psi_n is real; its sign is carried by
the Hermite factors, so only ln|Psi_n| is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from qfe._jax import jnp
from qfe.nct.basis import log_abs_hermite_and_dlog
from qfe.nct.flow import Flow


@dataclass(frozen=True)
class Wavefunction:
    """ln|Psi_n(q)| for one q (M,) and integer levels n (M,)."""

    flow: Flow
    n_max: int            # largest level that occurs (K - 1)

    def log_psi(self, flow_params, q, n):
        xi, logdet = self.flow.forward(flow_params, q)
        ell, _ = log_abs_hermite_and_dlog(xi, n, self.n_max)
        return jnp.sum(ell) + 0.5 * logdet

    def log_density(self, flow_params, q, n):
        """ln |Psi_n(q)|^2."""
        return 2.0 * self.log_psi(flow_params, q, n)
