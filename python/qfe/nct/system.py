"""The generic quantum system the NCT core works on.

A :class:`ModeSystem` is "coordinates + masses + energy function + hbar + kB" reduced to what
the variational free energy needs: a reference point x0, harmonic modes around it and the
potential.  Coordinates are flat vectors x (d,) (for crystals d = 3N, Cartesian A); the
dimensionless phonon coordinates q (M,) are defined by

    x = x0 + A q,   A = M^(-1/2) E diag(l),   l_k^2 = hbar / (c w_k)

where E are orthonormal eigenvectors of the mass-weighted Hessian D = M^(-1/2) H M^(-1/2),
w_k^2 = lambda_k / c, and c converts mass*velocity^2 to energy (``mvv2e``; 1 in natural
units, :data:`qfe.units.MVV2E` in metal units).  In q the Hamiltonian reads

    H = sum_k (hbar w_k / 2) (-d^2/dq_k^2) + V(x0 + A q),

and its harmonic part has the Hermite product states of :mod:`qfe.nct.basis` as eigenstates.
Units are whatever ``energy_fn``, ``hbar``, ``kB`` and ``masses`` use consistently: natural
units (hbar = m = kB = 1) for model problems, metal units (eV, A, amu, K) for crystals.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import qfe._jax


@dataclass
class ModeSystem:
    """Reference point, harmonic modes and potential of a quantum system (see module doc)."""

    energy_fn: Callable            # x (d,) -> potential energy (pure JAX)
    x0: np.ndarray                 # (d,) reference coordinates
    masses: np.ndarray             # (d,) mass of every coordinate
    displacement: np.ndarray       # A, (d, M): x = x0 + A q
    hbar_omega: np.ndarray         # (M,) hbar*|w_k| in energy units
    hbar: float = 1.0
    kB: float = 1.0
    mvv2e: float = 1.0
    natoms: int = 1                # for per-atom reports
    imaginary: np.ndarray | None = None   # (M,) bool, True where w_k^2 < 0 (|w| used)
    energy_unit: str = "natural"
    # crystal extras (None for model systems)
    cell: np.ndarray | None = None
    stress_fn: Callable | None = None     # x (d,) -> (3, 3) static stress, energy/length^3
    symbols: list | None = None
    prepare: Callable | None = None       # host check of positions (B, d) -> rebuilt? (bool)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x0 = np.asarray(self.x0, dtype=float).reshape(-1)
        self.masses = np.asarray(self.masses, dtype=float).reshape(-1)
        self.displacement = np.asarray(self.displacement, dtype=float)
        self.hbar_omega = np.asarray(self.hbar_omega, dtype=float).reshape(-1)
        d, m = self.displacement.shape
        if self.x0.shape != (d,) or self.masses.shape != (d,) or self.hbar_omega.shape != (m,):
            raise ValueError(f"inconsistent shapes: x0 {self.x0.shape}, masses "
                             f"{self.masses.shape}, displacement {self.displacement.shape}, "
                             f"hbar_omega {self.hbar_omega.shape}")
        if np.any(self.hbar_omega <= 0):
            raise ValueError(f"hbar_omega must be positive, got min {self.hbar_omega.min()}")
        if self.imaginary is None:
            self.imaginary = np.zeros(m, dtype=bool)
        self._v0 = None

    @property
    def n_modes(self) -> int:
        return self.displacement.shape[1]

    @property
    def dim(self) -> int:
        return self.displacement.shape[0]

    def positions(self, q):
        """x (..., d) for phonon coordinates q (..., M) (JAX or numpy)."""
        return self.x0 + q @ self.displacement.T

    def potential_q(self, q):
        """V(x0 + A q) for one q (M,) (pure JAX)."""
        import jax.numpy as jnp

        return self.energy_fn(jnp.asarray(self.x0) + jnp.asarray(self.displacement) @ q)

    @property
    def v0(self) -> float:
        """Potential energy at the reference point."""
        if self._v0 is None:
            import jax.numpy as jnp

            self._v0 = float(self.energy_fn(jnp.asarray(self.x0)))
        return self._v0

    def kT(self, temperature: float) -> float:
        """kB T in the system's energy unit (temperature in K for crystals, natural units
        for model systems): the one place where a temperature becomes an energy."""
        return float(self.kB * temperature)

    def harmonic_free_energy(self, temperature: float, n_levels: int | None = None) -> float:
        """V0 + sum_k F_ho(w_k): the exact free energy of the harmonic approximation.

        With ``n_levels`` the oscillators are truncated to levels 0..n_levels-1 (what a
        K-level occupation model can represent at best with an identity flow).
        """
        return self.v0 + harmonic_oscillator_free_energy(self.hbar_omega, self.kT(temperature),
                                                         n_levels)

    def harmonic_zpe(self) -> float:
        return 0.5 * float(np.sum(self.hbar_omega))


def harmonic_oscillator_free_energy(hbar_omega, kT: float, n_levels: int | None = None) -> float:
    """sum_k of -kT ln sum_n exp(-(n + 1/2) hbar w_k / kT) (n < n_levels if given).

    kT = 0 gives the zero-point energy.
    """
    hw = np.asarray(hbar_omega, dtype=float)
    if kT < 0:
        raise ValueError(f"kT must be >= 0, got {kT}")
    if kT == 0:
        return float(0.5 * hw.sum())
    x = hw / kT
    if n_levels is None:
        return float(np.sum(0.5 * hw + kT * np.log1p(-np.exp(-x))))
    # truncated geometric sum: (1 - e^{-Kx}) / (1 - e^{-x})
    return float(np.sum(0.5 * hw + kT * (np.log1p(-np.exp(-x)) - np.log1p(-np.exp(-n_levels * x)))))


def translation_basis(masses_per_atom: np.ndarray) -> np.ndarray:
    """Orthonormal mass-weighted rigid translations, (3N, 3)."""
    m = np.asarray(masses_per_atom, dtype=float)
    t = np.zeros((3 * m.size, 3))
    for a in range(3):
        t[a::3, a] = np.sqrt(m)
    return t / np.linalg.norm(t, axis=0)


def harmonic_system(energy_fn, x0, masses, *, hbar: float = 1.0, kB: float = 1.0,
                    mvv2e: float = 1.0, remove_translations: bool = False,
                    hessian=None, natoms: int | None = None, energy_unit: str = "natural",
                    zero_tolerance: float = 1e-6, **extras) -> ModeSystem:
    """Build a :class:`ModeSystem` from an energy function by diagonalising its Hessian at x0.

    ``hessian`` (d, d) may be given (e.g. computed blockwise); otherwise ``jax.hessian``.
    With ``remove_translations`` (d = 3N) the 3 mass-weighted rigid translations are
    projected out and M = d - 3 modes remain.  Imaginary modes (negative curvature) keep
    their |w| for the basis and are flagged; a zero mode that is not a translation is an
    error (no harmonic length scale exists along it).
    """
    import jax
    import jax.numpy as jnp

    x0 = np.asarray(x0, dtype=float).reshape(-1)
    masses = np.asarray(masses, dtype=float).reshape(-1)
    d = x0.size
    if masses.size != d:
        raise ValueError(f"need one mass per coordinate ({d}), got {masses.size}")
    if np.any(masses <= 0):
        raise ValueError(f"masses must be positive, got min {masses.min()}")
    if hbar <= 0 or kB <= 0 or mvv2e <= 0:
        raise ValueError(f"hbar, kB, mvv2e must be positive, got {hbar}, {kB}, {mvv2e}")
    if hessian is None:
        hessian = jax.hessian(energy_fn)(jnp.asarray(x0))
    h = np.asarray(hessian, dtype=float).reshape(d, d)
    if not np.all(np.isfinite(h)):
        raise ValueError("the Hessian at the reference positions is not finite")
    h = 0.5 * (h + h.T)
    inv_sqrt_m = 1.0 / np.sqrt(masses)
    dyn = h * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    if remove_translations:
        if d % 3:
            raise ValueError(f"remove_translations needs 3N coordinates, got {d}")
        t = translation_basis(masses[0::3])
        # orthonormal complement of the translations
        q_full, _ = np.linalg.qr(np.concatenate([t, np.eye(d)], axis=1))
        comp = q_full[:, 3:d]
        lam, vec = np.linalg.eigh(comp.T @ dyn @ comp)
        vec = comp @ vec
        residual = np.linalg.norm(dyn @ t) / max(np.linalg.norm(dyn), 1e-300)
        if residual > 1e-5:
            warnings.warn(f"the potential is not translation invariant at the reference "
                          f"(|D t| / |D| = {residual:.2e}); translations removed anyway",
                          stacklevel=2)
    else:
        lam, vec = np.linalg.eigh(dyn)
    scale = max(np.max(np.abs(lam)), 1e-300)
    zero = np.abs(lam) < zero_tolerance * scale
    if np.any(zero):
        hint = ("" if remove_translations else
                " (a translation-invariant potential needs remove_translations=True)")
        raise ValueError(f"{int(zero.sum())} zero-frequency mode(s) at the reference "
                         f"positions{hint}: eigenvalues {lam[zero][:6]}")
    imaginary = lam < 0
    if np.any(imaginary):
        warnings.warn(f"{int(imaginary.sum())} imaginary mode(s) at the reference positions "
                      f"(most negative w^2 = {lam.min() / mvv2e:.4g}); using |w| for the "
                      f"basis", stacklevel=2)
    omega = np.sqrt(np.abs(lam) / mvv2e)
    lengths = np.sqrt(hbar / (mvv2e * omega))
    displacement = (inv_sqrt_m[:, None] * vec) * lengths[None, :]
    return ModeSystem(energy_fn=energy_fn, x0=x0, masses=masses, displacement=displacement,
                      hbar_omega=hbar * omega, hbar=hbar, kB=kB, mvv2e=mvv2e,
                      natoms=int(natoms if natoms is not None else max(d // 3, 1)),
                      imaginary=imaginary, energy_unit=energy_unit, **extras)


def degenerate_blocks(hbar_omega, rtol: float = 1e-5) -> list:
    """Index arrays of the groups of modes whose frequencies agree within ``rtol`` (relative),
    groups of two or more only."""
    w = np.asarray(hbar_omega, dtype=float)
    order = np.argsort(w, kind="stable")
    blocks, start = [], 0
    for i in range(1, w.size + 1):
        if i == w.size or w[order[i]] - w[order[i - 1]] > rtol * w[order[i]]:
            if i - start >= 2:
                blocks.append(np.sort(order[start:i]))
            start = i
    return blocks


def align_degenerate_modes(system: ModeSystem, kT: float, n_samples: int = 4, seed: int = 0,
                           rtol: float = 1e-5, chunk: int = 64) -> ModeSystem:
    """The same system with its basis rotated inside every degenerate frequency subspace so
    that the anharmonic part of the potential is as mode-diagonal as the samples can tell.

    Inside a subspace of equal w_k the harmonic basis is arbitrary (whatever the
    eigensolver returned), while the anharmonicity may single out directions: for V = sum_k
    v((R x)_k) with equal harmonic frequencies, only the rotation R makes V separable, and
    the flow, trained from the identity, did not find it (measured in docs/nct.md: stuck at
    53-58 % of the Gaussian-to-limit gap for any step count, learning rate or step
    control; 96 % once the basis is aligned).  The Hessian in q at thermal samples of the
    harmonic state (variance coth(hbar w / 2kT) / 2 per mode), restricted to a subspace,
    is diagonal in the separating basis whenever one exists; the basis is taken as the
    eigenvectors of a random combination of the sampled blocks (fixed ``seed``; exact for
    commuting blocks, an equally valid basis otherwise).  Hessian columns come from central
    differences of the gradient (2 gradients per degenerate mode and sample, ``chunk`` at
    a time), so any potential with forces works.  The harmonic part, and so every harmonic
    result, is unchanged; the displacement matrix is the only thing that changes.
    """
    import dataclasses

    import jax
    import jax.numpy as jnp

    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"align_degenerate_modes needs n_samples >= 1, got {n_samples}")
    settings = [n_samples, int(seed), float(kT), float(rtol)]
    if system.info.get("alignment") == settings:
        return system                              # already aligned with these settings
    blocks = degenerate_blocks(system.hbar_omega, rtol)
    if not blocks:
        return system
    w = system.hbar_omega
    rng = np.random.default_rng(seed)
    sd = np.sqrt(0.5 / np.tanh(w / (2.0 * kT))) if kT > 0 else np.sqrt(0.5) * np.ones_like(w)
    centres = rng.normal(size=(n_samples, w.size)) * sd
    cols = np.concatenate(blocks)
    h = 1e-4
    if system.prepare is not None:
        system.prepare(np.asarray(system.positions(centres)))
    grad = jax.jit(jax.vmap(jax.grad(system.potential_q)))
    weights = rng.normal(size=n_samples)
    combined = np.zeros((w.size, w.size))           # only the degenerate blocks are filled
    row = {c: r for r, c in enumerate(cols)}
    for s in range(n_samples):
        hess_cols = []
        for i in range(0, cols.size, chunk):
            part = cols[i:i + chunk]
            step = np.zeros((part.size, w.size))
            step[np.arange(part.size), part] = h
            plus = np.asarray(grad(jnp.asarray(centres[s] + step)))
            minus = np.asarray(grad(jnp.asarray(centres[s] - step)))
            hess_cols.append((plus - minus) / (2.0 * h))
        hess = np.concatenate(hess_cols)           # (len(cols), M): rows = columns of H
        for b in blocks:
            hb = hess[[row[c] for c in b]][:, b]
            combined[np.ix_(b, b)] += weights[s] * 0.5 * (hb + hb.T)
    displacement = np.array(system.displacement, copy=True)
    for b in blocks:
        _, vec = np.linalg.eigh(combined[np.ix_(b, b)])
        displacement[:, b] = system.displacement[:, b] @ vec
    info = {**system.info, "degenerate_blocks": len(blocks), "aligned_modes": int(cols.size),
            "alignment": settings}
    return dataclasses.replace(system, displacement=displacement, info=info)


def model_system_1d(potential, x0: float = 0.0, mass: float = 1.0, **kw) -> ModeSystem:
    """A 1D system in natural units (hbar = m = kB = 1 unless given): ``potential(x)``
    takes a scalar.  The basis frequency is |V''(x0)|^(1/2) (imaginary at a barrier top)."""
    def energy_fn(x):
        return potential(x[0])

    kw.setdefault("natoms", 1)
    return harmonic_system(energy_fn, np.array([x0]), np.array([mass]), **kw)
