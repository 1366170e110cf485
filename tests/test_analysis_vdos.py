"""Vibrational DOS from velocities: a harmonic chain (exact normal-mode trajectory) gives the
analytic mode counts and its exact zero-point temperature; an Einstein crystal of two species
under quantum-bath weighting is recovered after the QTB correction; harmonic E(T), C_V(T)
match the Einstein formulas and their limits; the VACF equals its direct definition."""

from __future__ import annotations

import numpy as np
import pytest

from qfe import units
from qfe.analysis.io import Trajectory
from qfe.analysis.vdos import (
    harmonic_energy,
    harmonic_heat_capacity,
    vacf,
    vdos,
    vdos_from_velocities,
)


def _chain_modes(n):
    """Orthonormal real normal modes of a periodic chain and omega / omega_max = |sin(pi k/n)|."""
    j = np.arange(n)
    vecs, rel = [np.ones(n) / np.sqrt(n)], [0.0]
    for k in range(1, n // 2):
        q = 2 * np.pi * k / n
        vecs += [np.sqrt(2 / n) * np.cos(q * j), np.sqrt(2 / n) * np.sin(q * j)]
        rel += [abs(np.sin(np.pi * k / n))] * 2
    vecs.append((-1.0) ** j / np.sqrt(n))
    rel.append(1.0)
    return np.array(vecs), np.array(rel)


def _harmonic_velocities(modes, omegas, mass, energies, t, rng):
    """Velocities (F, n, 3) of independent normal modes with given energies (eV) per mode:
    each Cartesian direction is an independent copy (random phases)."""
    vel = np.zeros((len(t), modes.shape[1], 3))
    for c in range(3):
        for e, w, en in zip(modes, omegas, energies[c]):
            if w == 0.0:     # free translation: m <v^2> = energy
                vel[:, :, c] += np.sqrt(en / (mass * units.MVV2E)) * e[None, :]
                continue
            amp = np.sqrt(2 * en / (mass * units.MVV2E)) / w          # displacement amplitude
            phase = rng.uniform(0, 2 * np.pi)
            vel[:, :, c] += (-amp * w * np.sin(w * t + phase))[:, None] * e[None, :]
    return vel


def test_harmonic_chain_spectrum_and_zero_point_temperature():
    rng = np.random.default_rng(0)
    n, mass, k_spring = 64, units.MASS_LI, 1.0                 # eV/A^2
    omega_max = 2 * np.sqrt(k_spring / mass * units.FTM2V)     # rad/ps (11.9 THz)
    modes, rel = _chain_modes(n)
    omegas = omega_max * rel
    kt = units.KB * 300.0
    dt, nf = 0.01, 4000
    t = np.arange(nf) * dt
    vel = _harmonic_velocities(modes, omegas, mass, np.full((3, n), kt), t, rng)
    res = vdos_from_velocities(vel, np.full(n, mass), dt, segment=1000)
    assert res.n_modes == pytest.approx(3 * n)
    assert res.dnu == pytest.approx(0.1)
    # mode counts below nu: compare midway between distinct mode frequencies
    nu_modes = np.unique(np.round(omegas / units.THZ_TO_RAD_PER_PS, 10))
    cumulative = np.cumsum(res.g) * res.dnu
    upper_edges = res.nu + 0.5 * res.dnu
    for lo, hi in zip(nu_modes[:-1], nu_modes[1:]):
        if hi - lo < 6 * res.dnu:
            continue                     # too close to resolve at 0.1 THz
        mid = 0.5 * (lo + hi)
        exact = 3 * np.sum(omegas / units.THZ_TO_RAD_PER_PS < mid)
        assert np.interp(mid, upper_edges, cumulative) == pytest.approx(exact, abs=0.5)
    # infinite-chain DOS shape: N(omega) = (2n/pi) arcsin(omega/omega_max) per direction
    for frac in (0.3, 0.6, 0.9):
        nu = frac * omega_max / units.THZ_TO_RAD_PER_PS
        assert np.interp(nu, upper_edges, cumulative) == pytest.approx(
            3 * 2 * n / np.pi * np.arcsin(frac), abs=3.0)
    # T_zero per degree of freedom: hbar <omega> / 2 kB over the exact modes
    tzero_exact = units.HBAR * omegas.mean() / (2 * units.KB)
    assert res.zero_point_temperature() == pytest.approx(tzero_exact, rel=2e-3)
    assert res.zero_point_energy() == pytest.approx(3 * np.sum(units.HBAR * omegas / 2), rel=2e-3)
    # infinite chain: <omega> = 2 omega_max / pi
    assert tzero_exact == pytest.approx(units.HBAR * omega_max / (np.pi * units.KB), rel=1e-3)


def test_einstein_two_species_with_qtb_weighting():
    rng = np.random.default_rng(1)
    n_h, n_la = 40, 4
    nu_h, nu_la = 40.0, 5.0                       # THz
    m_h, m_la = 1.008, 138.9
    temperature = 300.0
    dt, nf = 0.002, 6000
    t = np.arange(nf) * dt
    n = n_h + n_la
    masses = np.array([m_h] * n_h + [m_la] * n_la)
    omega = np.array([nu_h] * n_h + [nu_la] * n_la) * units.THZ_TO_RAD_PER_PS
    # QTB: every oscillator carries the quantum energy theta(omega, T), not kB T
    theta = units.quantum_oscillator_energy(omega, temperature)
    vel = np.zeros((nf, n, 3))
    for i in range(n):
        for c in range(3):
            amp = np.sqrt(2 * theta[i] / (masses[i] * units.MVV2E)) / omega[i]
            vel[:, i, c] = -amp * omega[i] * np.sin(omega[i] * t + rng.uniform(0, 2 * np.pi))
    symbols = np.array(["H"] * n_h + ["La"] * n_la)
    traj = Trajectory(positions=np.zeros((nf, n, 3)), cells=np.repeat(np.eye(3)[None] * 20, nf, 0),
                      origins=np.zeros((nf, 3)), pbc=np.ones(3, bool), ids=np.arange(1, n + 1),
                      symbols=symbols, masses=masses, velocities=vel, times=t)
    corrected = vdos(traj, qtb_temperature=temperature, segment=1500)
    raw = vdos(traj, segment=1500)

    def weight(res, lo, hi):
        sel = (res.nu > lo) & (res.nu < hi)
        return res.g[sel].sum() * res.dnu

    assert weight(corrected, 35, 45) == pytest.approx(3 * n_h, rel=0.01)
    assert weight(corrected, 3, 7) == pytest.approx(3 * n_la, rel=0.03)
    # without the correction the high-frequency H modes look over-weighted (theta >> kB T)
    assert weight(raw, 35, 45) > 3 * n_h * 1.05
    tzero = (n_h * nu_h + n_la * nu_la) * units.H_PLANCK / (2 * units.KB * n)
    assert corrected.zero_point_temperature() == pytest.approx(tzero, rel=0.01)
    h_only = vdos(traj, "H", qtb_temperature=temperature, segment=1500)
    assert h_only.n_atoms == n_h
    assert h_only.zero_point_temperature() == pytest.approx(
        nu_h * units.H_PLANCK / (2 * units.KB), rel=0.01)


def test_harmonic_energy_and_heat_capacity_einstein():
    nu0 = 10.0                                        # THz
    dnu = 0.05
    nu = np.arange(0, 30, dnu)
    g = np.zeros_like(nu)
    g[np.argmin(np.abs(nu - nu0))] = 3 * 10 / dnu     # 10 atoms, all modes at nu0
    w0 = nu0 * units.THZ_TO_RAD_PER_PS
    for temp in (1.0, 100.0, 480.0, 3000.0):
        e = harmonic_energy(nu, g, dnu, temp)
        assert e == pytest.approx(30 * units.quantum_oscillator_energy(w0, temp), rel=1e-12)
        x = units.HBAR * w0 / (units.KB * temp)
        cv_einstein = 30 * units.KB * x ** 2 * np.exp(-x) / (-np.expm1(-x)) ** 2
        assert harmonic_heat_capacity(nu, g, dnu, temp) == pytest.approx(cv_einstein, rel=1e-9)
    assert harmonic_energy(nu, g, dnu, 0.0) == pytest.approx(30 * units.HBAR * w0 / 2)
    assert harmonic_heat_capacity(nu, g, dnu, 1e6) == pytest.approx(30 * units.KB, rel=1e-6)
    assert harmonic_heat_capacity(nu, g, dnu, 0.5) < 1e-100
    temps = np.array([10.0, 100.0])
    assert harmonic_energy(nu, g, dnu, temps).shape == (2,)


def test_vacf_direct_definition():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 7, 3))
    m = rng.uniform(1, 10, 7)
    c = vacf(v, m)
    direct = [np.mean([np.sum(m[:, None] * v[t] * v[t + k]) for t in range(50 - k)])
              for k in range(50)]
    np.testing.assert_allclose(c, direct, rtol=1e-10)
    assert vacf(v, m, max_lag=10).shape == (10,)


def test_vdos_errors():
    with pytest.raises(ValueError, match="too few"):
        vdos_from_velocities(np.ones((4, 2, 3)), np.ones(2), 0.01)
    with pytest.raises(ValueError, match="masses must be positive"):
        vdos_from_velocities(np.ones((40, 2, 3)), np.array([1.0, -1.0]), 0.01)
    traj = Trajectory(positions=np.zeros((10, 2, 3)), cells=np.repeat(np.eye(3)[None], 10, 0),
                      origins=np.zeros((10, 3)), pbc=np.ones(3, bool), ids=np.arange(1, 3))
    with pytest.raises(ValueError, match="has no velocities"):
        vdos(traj)
