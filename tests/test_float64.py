"""qfe computes in float64 from the first array on, whatever the user imports first.

Regression: the NCT engine once switched JAX to float64 only after the potential and the
phonon modes had been built in float32, so ``qfe nct`` (fresh process) and the same run inside
a session that had already enabled float64 differed by ~2e-6 relative in F."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import numpy as np
from qfe.potentials import EinsteinCrystal
pot = EinsteinCrystal(symbols=["H", "H"], masses=np.array([1.008, 1.008]),
                      reference_positions=np.zeros((2, 3)), k=1.0, k4=0.1)
import jax.numpy as jnp
x = jnp.asarray(np.full((2, 3), 0.1))
e = pot.energy(x)
assert x.dtype == jnp.float64 and e.dtype == jnp.float64, (x.dtype, e.dtype)
exact = 6 * (0.5 * 1.0 * 0.1**2 + 0.1 * 0.1**4)      # sum 0.5 k u^2 + k4 u^4
print(repr(float(e)), repr(exact))
"""


def test_potentials_work_in_float64_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    e, exact = (float(v) for v in out.stdout.split())
    assert abs(e - exact) <= 4e-16 * exact          # float32 would be off by ~1e-8 relative
