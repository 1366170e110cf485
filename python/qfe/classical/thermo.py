"""Closed-form classical free energies and the statistics the classical route needs.

Pure numpy functions.  Units: energies eV, temperatures K, spring constants eV/A^2, masses amu,
volumes A^3, frequencies THz (nu, not omega).  Every free energy is the *total* (extensive)
value unless the name says per atom.

Convention for a crystal whose energy is translation invariant (all of them except the
Einstein crystal itself).  The classical partition function of N atoms in a periodic box V,
with the N! permutations of labelled atoms cancelling against the N! ways of assigning them to
sites, is (Polson et al., J. Chem. Phys. 112, 5339 (2000))

    Z = (V / N_t) Lambda^(-3N) Z_cm,     Z_cm = int dr^N delta(R_cm(r)) exp(-U / kT),

where R_cm is the mass-weighted centre of mass and N_t the number of lattice translations of
the structure inside the box (N for a Bravais lattice: translating the crystal by a lattice
vector is the same state as a permutation of its atoms).  MD with zero total momentum samples
Z_cm; thermodynamic integration between two translation-invariant-COM ensembles gives
-kT ln(Z_cm,A / Z_cm,B).  Both the Frenkel-Ladd result (:func:`einstein_free_energy` +
:func:`einstein_com_correction` + the switching work) and the harmonic reference
(:func:`classical_harmonic_free_energy`) use this same Z, so they can be compared directly.
"""

from __future__ import annotations

import math

import numpy as np

from qfe.units import FTM2V, H_PLANCK, HBAR, KB, MVV2E

__all__ = [
    "einstein_free_energy",
    "einstein_com_correction",
    "classical_harmonic_free_energy",
    "com_translation_free_energy",
    "spring_constant_from_msd",
    "block_average",
    "switching_work",
    "json_safe",
]


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be positive (K), got {temperature!r}")
    return t


def einstein_free_energy(spring_constants, masses, temperature: float) -> float:
    """Classical F (eV) of independent 3D oscillators, sum_i 3 kT ln(hbar w_i / kT),
    w_i = sqrt(k_i / m_i).  ``spring_constants`` (eV/A^2) and ``masses`` (amu) per atom."""
    t = _check_temperature(temperature)
    k = np.asarray(spring_constants, dtype=float)
    m = np.asarray(masses, dtype=float)
    k, m = np.broadcast_arrays(k, m)
    if np.any(k <= 0) or np.any(m <= 0):
        raise ValueError("spring constants and masses must be positive")
    kt = KB * t
    omega = np.sqrt(k * FTM2V / m)            # rad/ps
    return float(np.sum(3.0 * kt * np.log(HBAR * omega / kt)))


def com_translation_free_energy(volume: float, total_mass: float, temperature: float,
                                n_translations: int) -> float:
    """-kT ln[(V / N_t) / Lambda_M^3] (eV): free translation of the whole crystal (mass M amu)
    over the V / N_t distinct positions of its centre of mass (see the module doc)."""
    t = _check_temperature(temperature)
    if volume <= 0 or total_mass <= 0 or n_translations < 1:
        raise ValueError(f"need volume > 0, total mass > 0, n_translations >= 1; got "
                         f"{volume}, {total_mass}, {n_translations}")
    kt = KB * t
    inv_lambda2 = 2.0 * math.pi * total_mass * kt * MVV2E / H_PLANCK**2   # 1/A^2
    return float(-kt * (math.log(volume / n_translations) + 1.5 * math.log(inv_lambda2)))


def einstein_com_correction(spring_constants, masses, temperature: float, volume: float,
                            n_translations: int) -> float:
    """Delta F_CM (eV) to add to the Einstein F and the fixed-COM switching work.

    -kT ln(V / N_t) - (3/2) kT ln(1 / (2 pi s2)), s2 = kT sum_i m_i^2 / k_i / M^2 the variance
    (A^2, per component) of the Einstein crystal's mass-weighted COM.  For one species:
    kT ln(N_t / V) + (3/2) kT ln(2 pi kT / (N k)) (Freitas, Asta, de Koning, Comput. Mater. Sci.
    112, 333 (2016), with N_t = N).
    """
    t = _check_temperature(temperature)
    k = np.asarray(spring_constants, dtype=float)
    m = np.asarray(masses, dtype=float)
    k, m = np.broadcast_arrays(k, m)
    if volume <= 0 or n_translations < 1:
        raise ValueError(f"need volume > 0 and n_translations >= 1, got {volume}, "
                         f"{n_translations}")
    kt = KB * t
    s2 = kt * float(np.sum(m**2 / k)) / float(np.sum(m)) ** 2
    return float(-kt * math.log(volume / n_translations) + 1.5 * kt * math.log(2 * math.pi * s2))


def classical_harmonic_free_energy(frequencies_thz, temperature: float, static_energy: float,
                                   volume: float, total_mass: float, n_translations: int,
                                   n_zero: int = 3) -> float:
    """Exact classical F (eV) of a harmonic crystal: U0 + kT sum ln(hbar w / kT) over the
    3N - ``n_zero`` vibrational modes + :func:`com_translation_free_energy`.

    ``frequencies_thz``: all 3N Gamma frequencies of the supercell (THz, e.g. from
    :func:`qfe.potentials.phonons.frequencies_from_hessian`); the ``n_zero`` closest to zero
    (the translations) are dropped.  Raises ValueError if a remaining mode is unstable.
    """
    t = _check_temperature(temperature)
    nu = np.sort(np.abs(np.asarray(frequencies_thz, dtype=float)))
    signed = np.asarray(frequencies_thz, dtype=float)
    keep = np.argsort(np.abs(signed))[n_zero:]
    if np.any(signed[keep] <= 0):
        raise ValueError(f"unstable modes (imaginary frequencies, THz): "
                         f"{signed[keep][signed[keep] <= 0][:5]}")
    nu = signed[keep]
    kt = KB * t
    vib = float(np.sum(kt * np.log(H_PLANCK * nu / kt)))     # hbar w = h nu
    return float(static_energy) + vib + com_translation_free_energy(volume, total_mass, t,
                                                                      n_translations)


def spring_constant_from_msd(msd: float, temperature: float) -> float:
    """Einstein spring constant k = 3 kT / <|u|^2> (eV/A^2) from a mean squared
    displacement (A^2) about the lattice sites."""
    t = _check_temperature(temperature)
    if not msd > 0:
        raise ValueError(f"mean squared displacement must be positive, got {msd}")
    return 3.0 * KB * t / float(msd)


def block_average(samples, n_blocks: int = 10) -> tuple[float, float]:
    """Mean and its standard error from ``n_blocks`` contiguous block means (correlated time
    series).  The last len % n_blocks samples are dropped from the error estimate only."""
    x = np.asarray(samples, dtype=float).ravel()
    if len(x) < 2 * n_blocks:
        raise ValueError(f"need at least {2 * n_blocks} samples for {n_blocks} blocks, "
                         f"got {len(x)}")
    m = len(x) // n_blocks
    blocks = x[: m * n_blocks].reshape(n_blocks, m).mean(axis=1)
    return float(x.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def switching_work(lam, de_dlam) -> float:
    """Work (eV) int <dH/dlambda> dlambda along one recorded switching path, trapezoid rule
    over the recorded (lambda, dH/dlambda) pairs (lambda may increase or decrease)."""
    lam = np.asarray(lam, dtype=float)
    y = np.asarray(de_dlam, dtype=float)
    if lam.shape != y.shape or lam.ndim != 1 or len(lam) < 2:
        raise ValueError("need two equal-length 1D arrays with at least 2 points")
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(lam)))


def json_safe(obj):
    """``obj`` with non-finite floats replaced by None (strict JSON) and numpy scalars and
    arrays turned into Python numbers and lists, recursively."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
