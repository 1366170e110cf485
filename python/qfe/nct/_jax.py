"""JAX with float64 enabled (see :mod:`qfe._jax`); the NCT modules import jax from here."""

from __future__ import annotations

from qfe._jax import jax, jnp

__all__ = ["jax", "jnp"]
