"""MSD and diffusion: FFT MSD equals the direct origin average; a random walk with known D is
recovered within its error and the error estimate is calibrated; unwrapping by tracking and
by image flags reproduces the unwrapped walk in a triclinic box."""

from __future__ import annotations

import numpy as np
import pytest

from qfe.analysis.io import Trajectory
from qfe.analysis.msd import diffusion_coefficient, msd, msd_fft, unwrap


def _traj(positions, cell, dt, *, images=None, unwrapped=False, symbols=None, masses=None):
    nf, n, _ = positions.shape
    return Trajectory(positions=positions, cells=np.repeat(cell[None], nf, axis=0),
                      origins=np.zeros((nf, 3)), pbc=np.array([True, True, True]),
                      ids=np.arange(1, n + 1), types=np.ones(n, int),
                      symbols=None if symbols is None else np.asarray(symbols),
                      masses=masses, images=images, unwrapped=unwrapped,
                      timesteps=np.arange(nf), times=np.arange(nf) * dt)


def _random_walk(rng, n, nf, D, dt):
    steps = rng.normal(0.0, np.sqrt(2 * D * dt), size=(nf, n, 3))
    steps[0] = rng.random((n, 3)) * 10
    return np.cumsum(steps, axis=0)


def test_msd_fft_equals_direct_average():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(37, 5, 3)), axis=0)
    direct = np.array([[np.mean(np.sum((x[m:, :, k] - x[: len(x) - m, :, k]) ** 2, axis=1))
                        for k in range(3)] for m in range(len(x))])
    np.testing.assert_allclose(msd_fft(x), direct, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(msd_fft(x, chunk=2), direct, rtol=1e-9, atol=1e-9)


def test_random_walk_diffusion_recovered():
    rng = np.random.default_rng(1)
    D, dt = 0.05, 0.01                      # A^2/ps, ps
    pos = _random_walk(rng, 400, 2000, D, dt)
    traj = _traj(pos, np.eye(3) * 1000.0, dt, unwrapped=True)
    res = msd(traj)
    # <MSD(t)> = 6 D t for a random walk
    np.testing.assert_allclose(res.msd[1:200], 6 * D * res.times[1:200], rtol=0.03)
    fit = diffusion_coefficient(traj, window=(0.5, 3.0), n_blocks=5)
    assert fit.D_err > 0
    assert abs(fit.D - D) < 3 * fit.D_err, (fit.D, fit.D_err)
    assert fit.D_err < 0.05 * D
    assert fit.D_cm2_per_s == pytest.approx(fit.D * 1e-4)


def test_diffusion_error_is_calibrated():
    """Over independent walks, (D - D_true) / D_err must scatter with unit width."""
    D, dt = 0.2, 0.01
    z = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        pos = _random_walk(rng, 20, 600, D, dt)
        fit = diffusion_coefficient(_traj(pos, np.eye(3) * 1e3, dt, unwrapped=True),
                                    window=(0.1, 0.6), n_blocks=6)
        z.append((fit.D - D) / fit.D_err)
    z = np.array(z)
    # block std / sqrt(n) with 6 blocks: z follows ~ Student t(5), std ~ 1.3
    assert abs(z.mean()) < 0.6
    assert 0.7 < z.std() < 1.8


def test_unwrapping_by_tracking_and_image_flags():
    rng = np.random.default_rng(2)
    cell = np.array([[6.0, 0, 0], [1.5, 5.0, 0], [-1.0, 0.8, 5.5]])
    true = _random_walk(rng, 30, 300, 0.5, 0.01)
    frac = np.linalg.solve(cell.T, true.reshape(-1, 3).T).T.reshape(true.shape)
    images = np.floor(frac).astype(int)
    wrapped = (frac - images) @ cell
    ref = msd(_traj(true, cell, 0.01, unwrapped=True))
    tracked = _traj(wrapped, cell, 0.01)
    flagged = _traj(wrapped, cell, 0.01, images=images)
    # tracking recovers the walk up to a constant lattice vector per atom
    np.testing.assert_allclose(unwrap(tracked) - unwrap(tracked)[0], true - true[0], atol=1e-9)
    np.testing.assert_allclose(unwrap(flagged), true, atol=1e-9)
    np.testing.assert_allclose(msd(tracked).msd, ref.msd, rtol=1e-9, atol=1e-9)
    assert ref.msd[-1] > 6.0                # atoms did leave the cell


def test_drift_removal_and_species():
    rng = np.random.default_rng(3)
    D, dt = 0.1, 0.01
    pos = _random_walk(rng, 60, 400, D, dt)
    symbols = np.array(["Li"] * 20 + ["H"] * 40)
    masses = np.where(symbols == "Li", 6.94, 1.008)
    base = _traj(pos, np.eye(3) * 1e3, dt, unwrapped=True, symbols=symbols, masses=masses)
    drift = np.arange(400)[:, None, None] * dt * np.array([3.0, -1.0, 0.5])
    drifting = _traj(pos + drift, np.eye(3) * 1e3, dt, unwrapped=True, symbols=symbols,
                     masses=masses)
    for sp in ("Li", "H"):
        a = msd(base, sp, remove_drift=True).msd
        b = msd(drifting, sp, remove_drift=True).msd
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        assert msd(drifting, sp).msd[-1] > 10 * msd(base, sp).msd[-1]
    assert msd(base, "Li").n_atoms == 20


def test_diffusion_bad_window():
    rng = np.random.default_rng(4)
    traj = _traj(_random_walk(rng, 5, 100, 0.1, 0.01), np.eye(3) * 100, 0.01, unwrapped=True)
    with pytest.raises(ValueError, match="each of 5 blocks spans only"):
        diffusion_coefficient(traj, window=(0.1, 0.5))
    with pytest.raises(ValueError, match="bad fit window"):
        diffusion_coefficient(traj, window=(0.1, 0.05))
