"""Harmonic (Gamma-point) phonon frequencies of a supercell from a Hessian.

The dynamical matrix is D = M^-1/2 H M^-1/2 with H = d2E/dr2 in eV/A^2 and masses in amu;
its eigenvalues w^2 are in eV/(A^2 amu) = FTM2V ps^-2.  Frequencies are returned in THz
(nu = w / 2 pi), negative for unstable modes (imaginary frequencies), sorted ascending.
"""

from __future__ import annotations

import numpy as np

from qfe.units import FTM2V, THZ_TO_RAD_PER_PS


def frequencies_from_hessian(hessian, masses) -> np.ndarray:
    """All 3N signed frequencies (THz), ascending, of a (3N, 3N) Hessian."""
    h = np.asarray(hessian, dtype=float)
    m = np.repeat(np.asarray(masses, dtype=float), 3)
    if h.shape != (len(m), len(m)):
        raise ValueError(f"hessian shape {h.shape} does not match {len(m) // 3} atoms")
    d = h / np.sqrt(np.outer(m, m))
    lam = np.linalg.eigvalsh(0.5 * (d + d.T)) * FTM2V         # rad^2/ps^2
    return np.sign(lam) * np.sqrt(np.abs(lam)) / THZ_TO_RAD_PER_PS


def gamma_frequencies(potential, positions=None) -> np.ndarray:
    """Signed Gamma-point frequencies (THz) of ``potential`` at ``positions`` (default: its
    reference positions), from ``potential.hessian``."""
    import jax.numpy as jnp

    pos = potential.reference_positions if positions is None else positions
    hess = np.asarray(potential.hessian(jnp.asarray(pos)))
    return frequencies_from_hessian(hess, potential.masses)


def acoustic_sum_rule_violation(hessian) -> float:
    """max_i |sum_j H_(i a)(j b)| over atoms i and components a, b (eV/A^2): zero for a
    translation-invariant energy."""
    h = np.asarray(hessian)
    n = h.shape[0] // 3
    blocks = h.reshape(n, 3, n, 3).sum(axis=2)
    return float(np.max(np.abs(blocks)))


def without_acoustic(frequencies_thz, count: int = 3) -> np.ndarray:
    """The spectrum sorted ascending without the ``count`` modes closest to zero (the
    translations at Gamma; imaginary modes, if any, are kept)."""
    nu = np.asarray(frequencies_thz, dtype=float)
    keep = np.sort(np.argsort(np.abs(nu))[count:])
    return np.sort(nu[keep])


def relative_rms_difference(model_thz, reference_thz, acoustic: int = 3) -> float:
    """sqrt(mean(((nu_m - nu_r) / nu_r)^2)) over the sorted spectra without the ``acoustic``
    modes closest to zero in each (imaginary modes, as negative numbers, are compared too)."""
    a = without_acoustic(model_thz, acoustic)
    b = without_acoustic(reference_thz, acoustic)
    return float(np.sqrt(np.mean(((a - b) / b) ** 2)))


def rms_difference_over_rms(model_thz, reference_thz, acoustic: int = 3) -> float:
    """sqrt(mean((nu_m - nu_r)^2)) / sqrt(mean(nu_r^2)) over the same modes: the spectrum's
    RMS deviation relative to its RMS frequency (less dominated by the softest modes)."""
    a = without_acoustic(model_thz, acoustic)
    b = without_acoustic(reference_thz, acoustic)
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2)))
