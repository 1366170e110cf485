"""QTB spectra: the target theta(omega, T), what the discrete filter realises, and the exact
quantum harmonic-oscillator kinetic energy the bath should reproduce.

Units: omega in rad/ps, frequencies f in THz (1/ps), energies in eV, T in K (qfe.units).
"""

from __future__ import annotations

import numpy as np

from qfe.units import HBAR, KB

__all__ = [
    "theta",
    "filter_transfer",
    "held_force_psd",
    "einstein_kinetic_energy",
    "classical_kinetic_energy",
]


def theta(omega, temperature, hbar: float = HBAR, kb: float = KB):
    """Target spectrum theta(omega, T) = hbar|omega| [1/2 + 1/(exp(hbar|omega|/kT) - 1)] (eV);
    kT at omega = 0, hbar|omega|/2 at T = 0."""
    x = hbar * np.abs(np.asarray(omega, dtype=float))
    if temperature <= 0:
        return 0.5 * x
    kt = kb * temperature
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out = x * (0.5 + 1.0 / np.expm1(x / kt))
    return np.where(x == 0, kt, out)


def filter_transfer(taps, h: float, frequency):
    """|sum_j H_j exp(-2 pi i f j h)|^2 (eV): the power the 2N_f-tap filter passes at frequency f
    (THz) when fed unit-variance white noise every h (ps)."""
    taps = np.asarray(taps, dtype=float)
    f = np.atleast_1d(np.asarray(frequency, dtype=float))
    j = np.arange(taps.size)
    phase = np.exp(-2j * np.pi * np.outer(f, j) * h)
    return np.abs(phase @ taps) ** 2


def held_force_psd(taps, alpha: int, dt: float, frequency, mass: float, damp: float,
                   mvv2e: float, ftm2v: float):
    """Two-sided power spectral density (force^2 * time) of the bath's random force as seen by
    the MD integrator: the filtered noise sqrt(2 m gamma/h) sum_j H_j R_{n-j}, held constant for
    alpha steps of dt.  At the grid frequencies f_k it equals 2 m gamma theta(f_k) in force units
    (the kernel's hold correction cancels the hold's sinc); tests compare it with the PSD of
    the force series the kernel produces."""
    f = np.atleast_1d(np.asarray(frequency, dtype=float))
    h = alpha * dt
    gamma = 1.0 / damp
    transfer = filter_transfer(taps, h, f)
    # PSD of the sequence sampled every dt (piecewise constant):
    # |sum_{l<alpha} e^{-2 pi i f l dt}|^2
    # (Dirichlet kernel) / alpha, times the sequence PSD h * 2 m gamma/(mvv2e h) |H(f)|^2 / ftm2v^2
    with np.errstate(invalid="ignore", divide="ignore"):
        dirichlet = np.where(np.abs(np.sin(np.pi * f * dt)) < 1e-300, float(alpha) ** 2,
                             (np.sin(np.pi * f * h) / np.sin(np.pi * f * dt)) ** 2)
    return 2.0 * mass * gamma / mvv2e / ftm2v ** 2 * transfer * dirichlet / alpha ** 2


def einstein_kinetic_energy(omega, temperature, hbar: float = HBAR, kb: float = KB):
    """Mean kinetic energy per degree of freedom of a quantum harmonic oscillator (eV):
    (hbar omega / 4) coth(hbar omega / 2 kT); hbar omega / 4 at T = 0."""
    x = hbar * np.asarray(omega, dtype=float)
    if temperature <= 0:
        return 0.25 * x
    return 0.25 * x / np.tanh(x / (2.0 * kb * temperature))


def classical_kinetic_energy(temperature, kb: float = KB):
    """kT/2 (eV): the classical value per degree of freedom."""
    return 0.5 * kb * temperature
