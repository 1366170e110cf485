"""JAX with float64 enabled, for every qfe module that computes with JAX.

Energies are eV-scale sums over hundreds of atoms and the targets are meV or better
(free-energy differences of 0.05 meV/atom, DeePMD agreement to 1e-8 eV/atom), so qfe works in
double precision throughout.  Import this module before the first JAX array is made: arrays
created while float64 is off stay float32 and silently lower the precision of what follows.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

__all__ = ["jax", "jnp"]
