"""Crystal layer: structure + :class:`qfe.potentials.Potential` -> phonon :class:`ModeSystem`.

The Hessian at the reference positions comes from the potential by autodiff, the
mass-weighted dynamical matrix is diagonalised, the 3 rigid translations are removed when the
potential is translation invariant (3N - 3 modes), and imaginary modes keep |omega| for the
harmonic basis (flagged, with a warning).  Units: eV, A, amu, K; omega in rad/ps.
"""

from __future__ import annotations

import warnings

import numpy as np

import qfe._jax
from qfe import units
from qfe.nct.system import ModeSystem, harmonic_system
from qfe.structures import load_structure  # also qfe.nct.load_structure


def _reference_from(potential, structure):
    """Reference positions and cell: the structure's if given (checked against the
    potential's), else the potential's own."""
    if structure is None:
        if potential.reference_positions is None:
            raise ValueError("no structure given and the potential has no reference positions")
        return np.asarray(potential.reference_positions, float), potential.cell
    atoms = load_structure(structure)
    if len(atoms) != potential.natoms:
        raise ValueError(f"structure has {len(atoms)} atoms, the potential was built for "
                         f"{potential.natoms}")
    pos = atoms.get_positions()
    cell = np.asarray(atoms.get_cell()) if atoms.pbc.any() else None
    if potential.cell is not None and cell is not None and not np.allclose(cell, potential.cell,
                                                                           atol=1e-6):
        raise ValueError("structure cell differs from the potential's cell; build the "
                         "potential from this structure")
    if potential.reference_positions is not None:
        d = pos - potential.reference_positions
        if potential.cell is not None:
            frac = d @ np.linalg.inv(potential.cell)
            d = (frac - np.round(frac)) @ potential.cell
        if np.max(np.abs(d)) > 1e-6:
            raise ValueError(f"structure positions differ from the potential's reference "
                             f"positions by up to {np.max(np.abs(d)):.3g} A; build the "
                             f"potential from this structure")
    return pos, cell


def crystal_system(potential, structure=None, *, masses=None, remove_translations=None,
                   force_tolerance: float = 0.05) -> ModeSystem:
    """Phonon :class:`ModeSystem` of a crystal in metal units (eV, A, amu, K).

    ``structure``: ASE Atoms or file (None: the potential's reference positions and cell).
    ``masses``: amu per atom (default: the potential's).  ``remove_translations``: default
    ``potential.translation_invariant``.  A warning is given when the largest force at the
    reference exceeds ``force_tolerance`` eV/A (the basis assumes a nearby minimum; the flow's
    per-mode shifts absorb small offsets).
    """
    import jax.numpy as jnp

    positions, cell = _reference_from(potential, structure)
    n = positions.shape[0]
    m_atoms = np.asarray(potential.masses if masses is None else masses, dtype=float)
    if m_atoms.shape != (n,):
        raise ValueError(f"need one mass per atom ({n}), got shape {m_atoms.shape}")
    if remove_translations is None:
        remove_translations = bool(potential.translation_invariant)
    cell_j = None if cell is None else jnp.asarray(cell)

    def energy_fn(x):
        return potential.energy(jnp.reshape(x, (n, 3)), cell_j)

    potential.prepare(positions, cell)
    forces = np.asarray(potential.forces(jnp.asarray(positions), cell_j))
    fmax = float(np.max(np.linalg.norm(forces, axis=-1))) if n else 0.0
    if fmax > force_tolerance:
        warnings.warn(f"largest force at the reference positions is {fmax:.3g} eV/A "
                      f"(> {force_tolerance}); the harmonic basis is built around a point that "
                      f"is not a minimum", stacklevel=2)
    hessian = np.asarray(potential.hessian(jnp.asarray(positions), cell_j))

    stress_fn = None
    if cell is not None:
        def stress_fn(x):
            return potential.stress(jnp.reshape(x, (n, 3)), cell_j)

    def prepare(x_batch):
        return bool(potential.prepare(np.reshape(x_batch, (-1, n, 3)), cell))

    system = harmonic_system(
        energy_fn, positions.reshape(-1), np.repeat(m_atoms, 3), hbar=units.HBAR, kB=units.KB,
        mvv2e=units.MVV2E, remove_translations=remove_translations, hessian=hessian,
        natoms=n, energy_unit="eV", cell=None if cell is None else np.asarray(cell),
        stress_fn=stress_fn, symbols=list(potential.symbols), prepare=prepare,
        info={"max_force_eV_per_A": fmax, "potential": getattr(potential, "name", "potential")})
    return system


def frequencies_thz(system: ModeSystem) -> np.ndarray:
    """Harmonic frequencies nu = w / 2 pi in THz (negative for imaginary modes)."""
    omega = system.hbar_omega / units.HBAR          # rad/ps
    nu = omega / units.THZ_TO_RAD_PER_PS
    return np.where(system.imaginary, -nu, nu)


def frequencies_mev(system: ModeSystem) -> np.ndarray:
    """hbar w in meV (negative for imaginary modes)."""
    e = system.hbar_omega * 1e3
    return np.where(system.imaginary, -e, e)


def bcc_lithium(repeat: int = 3, a: float = 3.44, symbol: str = "Li"):
    """Conventional bcc supercell (2 repeat^3 atoms) as ASE Atoms; a in A."""
    from ase.build import bulk

    return bulk(symbol, "bcc", a=a, cubic=True).repeat((repeat, repeat, repeat))
