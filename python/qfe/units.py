"""Physical constants and unit conversions: the single place where units are defined.

qfe works in LAMMPS ``metal`` units unless stated otherwise:
energy eV, length Angstrom (A), time ps, mass amu (g/mol), temperature K, pressure GPa in
reports (LAMMPS metal pressure is bar).  CODATA 2018 values.
"""

from __future__ import annotations

import math

# --- fundamental constants in metal units
KB = 8.617333262e-5                 # Boltzmann constant, eV/K
HBAR = 6.582119569e-4               # reduced Planck constant, eV*ps
H_PLANCK = 2.0 * math.pi * HBAR     # Planck constant, eV*ps

# --- mass and energy conversions
AMU_KG = 1.66053906660e-27          # kg
EV_J = 1.602176634e-19              # J
# kinetic energy (1/2) m v^2 with m in amu and v in A/ps gives amu*A^2/ps^2; times MVV2E -> eV
MVV2E = AMU_KG * 1e4 / EV_J         # 1.0364269e-4 eV per amu*A^2/ps^2 (LAMMPS metal mvv2e)
FTM2V = 1.0 / MVV2E                 # force/mass -> acceleration: (eV/A)/amu -> A/ps^2

# --- pressure
EV_PER_A3_TO_GPA = EV_J * 1e30 / 1e9   # 160.21766...
EV_PER_A3_TO_BAR = EV_PER_A3_TO_GPA * 1e4
BAR_TO_GPA = 1e-4

# --- frequencies
THZ_TO_RAD_PER_PS = 2.0 * math.pi       # omega [rad/ps] = 2 pi nu [THz]
RAD_PER_PS_TO_MEV = HBAR * 1e3          # hbar*omega in meV for omega in rad/ps
CM1_TO_THZ = 2.99792458e-2              # 1 cm^-1 = 0.0299792458 THz
MEV_TO_K = 1e-3 / KB                    # 1 meV in K

# --- conversions for analysis and potentials (kept as a block of their own)
EV_TO_MEV = 1e3                         # energies in meV for reports
THZ_TO_MEV = H_PLANCK * 1e3             # h nu in meV for nu in THz (4.1357 meV/THz)
A2_PER_PS_TO_CM2_PER_S = 1e-4           # diffusion coefficients: 1 A^2/ps = 1e-4 cm^2/s
# ASE's units are A, eV, amu, so its time unit is A sqrt(amu/eV) = sqrt(MVV2E) ps; ASE
# velocities (A per ASE time) times ASE_TIME_PER_PS are A/ps.  ASE's own 1000 * ase.units.fs
# (CODATA 2014) differs from this CODATA 2018 value by 4e-9 (relative).
ASE_TIME_PER_PS = math.sqrt(FTM2V)      # 98.2269475 ASE time units in 1 ps

# --- LAMMPS ``units metal`` as LAMMPS itself rounds them (src/update.cpp).  The QTB kernel
# mirrors these three in C++ (lammps_fixes/qtb_noise.cpp, pinned here by
# tests/test_qtb_kernel.py) because a QTB trajectory must be bit-identical in LAMMPS and ASE;
# they differ from the CODATA values above by <= 1.2e-6 (relative).
LAMMPS_METAL_BOLTZ = 8.617343e-5        # eV/K
LAMMPS_METAL_HPLANCK = 4.135667403e-3   # eV ps
LAMMPS_METAL_MVV2E = 1.0364269e-4       # eV per amu*A^2/ps^2
PS_ASE = math.sqrt(1.0 / LAMMPS_METAL_MVV2E)   # 98.2269506: 1 ps in ASE time, LAMMPS-consistent

# --- masses (amu) of the light elements qfe is about; anything else: ase.data.atomic_masses
MASS_H = 1.00794
MASS_D = 2.014101778
MASS_LI = 6.941


def hbar_omega_ev(omega_rad_per_ps: float) -> float:
    """Phonon quantum hbar*omega in eV for omega in rad/ps."""
    return HBAR * omega_rad_per_ps


def quantum_oscillator_energy(omega, temperature):
    """Mean energy (eV) of a quantum harmonic oscillator: (hbar w / 2) coth(hbar w / 2 kB T).

    ``omega`` in rad/ps (array or scalar), ``temperature`` in K (T = 0 gives hbar w / 2).
    Works with numpy arrays; kinetic energy per degree of freedom is half of this.
    """
    import numpy as np

    x = HBAR * np.asarray(omega, dtype=float)
    if temperature <= 0:
        return 0.5 * x
    return 0.5 * x / np.tanh(x / (2.0 * KB * temperature))
