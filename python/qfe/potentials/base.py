"""The potential interface shared by every qfe engine.

A :class:`Potential` is a Born-Oppenheimer energy surface for a *fixed set of atoms* (their
species, masses and periodic cell).  Its numerical core is a pure JAX function

    energy(positions, cell=None) -> scalar energy in eV

of Cartesian positions (N, 3) in A and, optionally, the cell (3, 3) in A (rows are lattice
vectors; None means the potential's reference cell).  It works under ``jit``, ``vmap``,
``grad`` and ``hessian``.  Potentials that need neighbor data (DeePMD) build it outside
``jit`` around reference positions with a skin; :meth:`Potential.prepare` checks a batch of
positions on the host and rebuilds it when atoms moved too far (returning True, after which
previously jitted closures over the old data must be re-created).

Derived quantities use autodiff: forces = -dE/dr, stress = (1/V) dE/d(strain) (ASE sign
convention, eV/A^3; positive = tensile), Hessian = d2E/dr2 (eV/A^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Potential:
    """Base class.  Subclasses implement :meth:`energy` (pure JAX)."""

    symbols: list                      # chemical symbol per atom
    masses: np.ndarray                 # amu, shape (N,)
    cell: np.ndarray | None = None     # A, (3, 3) rows = lattice vectors; None = non-periodic
    reference_positions: np.ndarray | None = None   # A, (N, 3)
    name: str = field(default="potential")

    def __post_init__(self):
        import qfe._jax  # float64 JAX: energies are evaluated in double precision

        self.masses = np.asarray(self.masses, dtype=float)
        if self.cell is not None:
            self.cell = np.asarray(self.cell, dtype=float)
        if self.reference_positions is not None:
            self.reference_positions = np.asarray(self.reference_positions, dtype=float)
        if self.masses.ndim != 1 or len(self.masses) != len(self.symbols):
            raise ValueError(f"masses must have one entry per atom ({len(self.symbols)}), "
                             f"got shape {self.masses.shape}")
        if np.any(self.masses <= 0):
            raise ValueError(f"masses must be positive, got {self.masses[self.masses <= 0][:5]}")

    # ---- pure numerics -------------------------------------------------------------------
    @property
    def natoms(self) -> int:
        return len(self.symbols)

    @property
    def translation_invariant(self) -> bool:
        """True if E is invariant under a rigid translation (3 zero phonon modes)."""
        return True

    def energy(self, positions, cell=None):
        """Energy in eV of positions (N, 3) A; pure JAX."""
        raise NotImplementedError

    def energy_fn(self):
        """``energy_fn(positions) -> eV`` at the reference cell (closure, jit-able)."""
        return lambda positions: self.energy(positions, None)

    def forces(self, positions, cell=None):
        import jax

        return -jax.grad(self.energy)(positions, cell)

    def hessian(self, positions, cell=None, chunk: int = 48):
        """d2E/dr2 as (3N, 3N) in eV/A^2, by Hessian-vector products ``chunk`` at a time
        (jax.hessian pushes all 3N tangents through the model at once: 23 GB for 250 Li
        atoms with a DeePMD model, more than this machine has)."""
        import jax
        import jax.numpy as jnp

        n = positions.shape[0]
        x = jnp.reshape(jnp.asarray(positions), (-1,))
        grad = jax.grad(lambda y: self.energy(jnp.reshape(y, (n, 3)), cell))

        def column(e):
            return jax.jvp(grad, (x,), (e,))[1]

        eye = jnp.eye(x.size, dtype=x.dtype)
        return jax.lax.map(column, eye, batch_size=max(1, min(int(chunk), x.size)))

    def stress(self, positions, cell=None):
        """Static stress (1/V) dE/d(strain), symmetric (3, 3) in eV/A^3 (ASE convention)."""
        import jax
        import jax.numpy as jnp

        if cell is None and self.cell is None:
            raise ValueError("stress needs a periodic cell")
        c = jnp.asarray(self.cell if cell is None else cell)

        def e_of_strain(eps):
            sym = 0.5 * (eps + eps.T)
            deform = jnp.eye(3) + sym
            return self.energy(positions @ deform, c @ deform)

        de = jax.grad(e_of_strain)(jnp.zeros((3, 3)))
        return de / jnp.abs(jnp.linalg.det(c))

    # ---- host-side bookkeeping -------------------------------------------------------------
    def prepare(self, positions, cell=None) -> bool:
        """Make neighbor data valid for ``positions`` ((N,3) or a batch (B,N,3)).

        Returns True if internal data was rebuilt (jitted closures must be re-created).
        Potentials without neighbor data return False.
        """
        return False
