"""JAX import with float64 enabled (the NCT engine works in double precision throughout:
free-energy differences of 0.05 meV/atom on top of eV-scale energies need it)."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

__all__ = ["jax", "jnp"]
