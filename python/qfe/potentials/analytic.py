"""Analytic model potentials with known answers, for tests and method development.

All take and return metal units (A, eV, amu) and implement the :class:`Potential` interface.

- :class:`EinsteinCrystal`: independent (an)harmonic tethers per Cartesian component,
  E = sum_{i,a} [k/2 u^2 + k3 u^3 + k4 u^4],  u = r - r0 (minimum image).  Separable, so its
  quantum free energy is 3N times that of a 1D oscillator (exact by diagonalisation).
- :class:`PairSpringCrystal`: springs between reference neighbors within ``cutoff``,
  E = sum_pairs [k/2 (d - d0)^2 + k4 (d - d0)^4]; translation invariant, harmonic limit solved
  exactly by its dynamical matrix; ``harmonic=True`` linearises the bonds (exactly harmonic).
- :class:`MorseCrystal`: Morse pair potential with a smooth cutoff, over a fixed reference
  pair list (valid while atoms stay near their sites): a genuinely anharmonic crystal.
- :class:`QuasiHarmonicCrystal`: linearised springs whose constant depends on the volume,
  plus a static equation of state: exactly harmonic at every cell, with frequencies
  w ~ V^-gamma under isotropic strain, so its exact G(T, P) is the quasi-harmonic one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfe.potentials.base import Potential


def _minimum_image_shift_pairs(positions, cell, cutoff):
    """Reference pairs (i, j, image shift S) with |r_j + S@cell - r_i| < cutoff, i < j or
    distinct images; each unordered pair appears once.  Host-side, numpy."""
    positions = np.asarray(positions, float)
    if cell is None:
        shifts = np.zeros((1, 3))
    else:
        cell = np.asarray(cell, float)
        # number of images needed along each lattice direction
        inv = np.linalg.inv(cell)
        heights = 1.0 / np.linalg.norm(inv, axis=0)
        reps = np.ceil(cutoff / heights).astype(int)
        grids = [np.arange(-r, r + 1) for r in reps]
        shifts = np.array(np.meshgrid(*grids, indexing="ij")).reshape(3, -1).T.astype(float)
    pairs_i, pairs_j, pairs_s = [], [], []
    for s in shifts:
        offset = s @ cell if cell is not None else np.zeros(3)
        d = positions[None, :, :] + offset - positions[:, None, :]
        dist = np.linalg.norm(d, axis=-1)
        s_positive = tuple(s) > (0.0, 0.0, 0.0)
        for i, j in zip(*np.nonzero(dist < cutoff)):
            # the bond (i, j, S) is the bond (j, i, -S): keep one representative
            if i < j or (i == j and s_positive):
                pairs_i.append(i)
                pairs_j.append(j)
                pairs_s.append(s)
    return (np.array(pairs_i, dtype=np.int32), np.array(pairs_j, dtype=np.int32),
            np.array(pairs_s, dtype=float).reshape(-1, 3))


@dataclass
class EinsteinCrystal(Potential):
    """Atoms tethered to their reference sites by independent springs per component.

    k in eV/A^2, k3 in eV/A^3, k4 in eV/A^4.  omega = sqrt(k/m) is the Einstein frequency.
    """

    k: float = 1.0
    k3: float = 0.0
    k4: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.reference_positions is None:
            raise ValueError("EinsteinCrystal needs reference_positions")
        if self.k <= 0 and self.k4 <= 0:
            raise ValueError(f"EinsteinCrystal needs k > 0 or k4 > 0, got k={self.k}, k4={self.k4}")
        self.name = "einstein"

    @property
    def translation_invariant(self) -> bool:
        return False

    def omega(self):
        """Harmonic angular frequency per atom, rad/ps."""
        from qfe.units import FTM2V

        return np.sqrt(self.k * FTM2V / self.masses)

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        u = positions - jnp.asarray(self.reference_positions)
        c = self.cell if cell is None else cell
        if c is not None:
            c = jnp.asarray(c)
            frac = u @ jnp.linalg.inv(c)
            u = (frac - jnp.round(frac)) @ c
        return jnp.sum(0.5 * self.k * u**2 + self.k3 * u**3 + self.k4 * u**4)


@dataclass
class PairSpringCrystal(Potential):
    """Springs between all reference pairs closer than ``cutoff`` (A).

    k in eV/A^2, k4 in eV/A^4 (anharmonic correction along the bond).  With ``harmonic``
    the bond stretch is linearised, x = e0 . (d - d0) with e0 the reference bond direction:
    an exactly harmonic, translation-invariant crystal (its quantum F is the harmonic F of
    its dynamical matrix, exactly), whereas x = |d| - |d0| is anharmonic through geometry.
    """

    cutoff: float = 3.0
    k: float = 1.0
    k4: float = 0.0
    harmonic: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.reference_positions is None:
            raise ValueError("PairSpringCrystal needs reference_positions")
        i, j, s = _minimum_image_shift_pairs(self.reference_positions, self.cell, self.cutoff)
        if len(i) == 0:
            raise ValueError(f"no pairs within cutoff {self.cutoff} A")
        self._pi, self._pj, self._ps = i, j, s
        off = s @ self.cell if self.cell is not None else np.zeros_like(s)
        d0 = self.reference_positions[j] + off - self.reference_positions[i]
        self._d0 = np.linalg.norm(d0, axis=-1)
        self._e0 = d0 / self._d0[:, None]
        self._d0_vec = d0
        self.name = "pair-spring"

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        c = self.cell if cell is None else cell
        off = jnp.asarray(self._ps) @ jnp.asarray(c) if c is not None else 0.0
        d = positions[self._pj] + off - positions[self._pi]
        if self.harmonic:
            x = jnp.sum(jnp.asarray(self._e0) * (d - jnp.asarray(self._d0_vec)), axis=-1)
        else:
            x = jnp.sqrt(jnp.sum(d * d, axis=-1)) - jnp.asarray(self._d0)
        return jnp.sum(0.5 * self.k * x**2 + self.k4 * x**4)


@dataclass
class MorseCrystal(Potential):
    """Morse pairs D[(1 - exp(-a (d - r0)))^2 - 1] times a smooth cutoff switch between
    ``r_switch`` and ``cutoff``, over the reference pair list (skin included).

    D in eV, a in 1/A, r0 in A.
    """

    D: float = 0.5
    a: float = 1.5
    r0: float = 3.0
    cutoff: float = 5.0
    r_switch: float = 4.5
    skin: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.reference_positions is None:
            raise ValueError("MorseCrystal needs reference_positions")
        if not (0 < self.r_switch < self.cutoff):
            raise ValueError(f"need 0 < r_switch < cutoff, got {self.r_switch}, {self.cutoff}")
        i, j, s = _minimum_image_shift_pairs(self.reference_positions, self.cell,
                                             self.cutoff + self.skin)
        self._pi, self._pj, self._ps = i, j, s
        self.name = "morse"

    def prepare(self, positions, cell=None) -> bool:
        pos = np.asarray(positions)
        disp = pos - self.reference_positions
        if self.cell is not None:
            frac = disp @ np.linalg.inv(self.cell)
            disp = (frac - np.round(frac)) @ self.cell
        if np.max(np.linalg.norm(disp, axis=-1)) > 0.5 * self.skin:
            raise ValueError(
                f"MorseCrystal: an atom moved {np.max(np.linalg.norm(disp, axis=-1)):.3f} A from "
                f"its site, beyond skin/2 = {0.5 * self.skin} A of the fixed pair list")
        return False

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        c = self.cell if cell is None else cell
        off = jnp.asarray(self._ps) @ jnp.asarray(c) if c is not None else 0.0
        d = positions[self._pj] + off - positions[self._pi]
        r = jnp.sqrt(jnp.sum(d * d, axis=-1))
        e = self.D * ((1.0 - jnp.exp(-self.a * (r - self.r0))) ** 2 - 1.0)
        t = jnp.clip((r - self.r_switch) / (self.cutoff - self.r_switch), 0.0, 1.0)
        switch = 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t**2)   # C2 smoothstep
        return jnp.sum(e * switch)


@dataclass
class QuasiHarmonicCrystal(Potential):
    """Exactly harmonic at every volume, with volume-dependent frequencies: the model crystal
    whose quantum G(T, P) is known exactly (quasi-harmonic minimisation over V).

        E = N [e0 + B (v - v0)^2 / (2 v0)] + sum_bonds k(v)/2 [e . (d - d0)]^2,
        k(v) = k (v0/v)^(2 gamma)

    v = |det cell| / N is the volume per atom; d0 and e are the reference bond vector and its
    direction carried along with the cell (d0 -> d0 F for a cell deformed by F), so at any
    cell the atoms sit at a minimum of a harmonic well whose dynamical matrix is k(v) times a
    geometric matrix.  Under isotropic strain the bond directions do not change, so every
    frequency scales as (v_ref / v)^gamma (gamma = the Grueneisen parameter).  The static part
    has no shear stiffness: use it with isotropic cell changes (cubic cells).

    k in eV/A^2 at v = v0, ``bulk_modulus`` B in GPa, ``v0`` in A^3/atom (default: the
    reference cell's), ``e0`` the static energy per atom at v0 (eV), ``cutoff`` (A) selects
    the reference bonds.
    """

    cutoff: float = 3.0
    k: float = 1.0
    gamma: float = 1.0
    bulk_modulus: float = 10.0
    v0: float | None = None
    e0: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.reference_positions is None or self.cell is None:
            raise ValueError("QuasiHarmonicCrystal needs reference_positions and a cell")
        for name in ("cutoff", "k", "bulk_modulus"):
            if not getattr(self, name) > 0:
                raise ValueError(f"QuasiHarmonicCrystal needs {name} > 0, got "
                                 f"{getattr(self, name)}")
        if self.v0 is None:
            self.v0 = abs(float(np.linalg.det(self.cell))) / self.natoms
        if not self.v0 > 0:
            raise ValueError(f"QuasiHarmonicCrystal needs v0 > 0 (A^3/atom), got {self.v0}")
        i, j, s = _minimum_image_shift_pairs(self.reference_positions, self.cell, self.cutoff)
        if len(i) == 0:
            raise ValueError(f"no pairs within cutoff {self.cutoff} A")
        self._pi, self._pj, self._ps = i, j, s
        self._d0_vec = self.reference_positions[j] + s @ self.cell - self.reference_positions[i]
        self._inv_cell = np.linalg.inv(self.cell)
        self.name = "quasi-harmonic"

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        from qfe.units import EV_PER_A3_TO_GPA

        c = jnp.asarray(self.cell if cell is None else cell)
        deform = jnp.asarray(self._inv_cell) @ c                 # cell = ref_cell @ deform
        d0 = jnp.asarray(self._d0_vec) @ deform
        e0 = d0 / jnp.linalg.norm(d0, axis=-1, keepdims=True)
        d = positions[self._pj] + jnp.asarray(self._ps) @ c - positions[self._pi]
        x = jnp.sum(e0 * (d - d0), axis=-1)
        v = jnp.abs(jnp.linalg.det(c)) / self.natoms
        b = self.bulk_modulus / EV_PER_A3_TO_GPA                   # eV/A^3
        k_v = self.k * (self.v0 / v) ** (2.0 * self.gamma)
        static = self.e0 + 0.5 * b * (v - self.v0) ** 2 / self.v0
        return self.natoms * static + jnp.sum(0.5 * k_v * x**2)
