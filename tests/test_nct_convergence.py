"""The convergence monitor on histories whose answer is known by construction."""

import numpy as np
import pytest

from qfe.nct.convergence import monitor


def history(f, sigma, grad=None):
    grad = np.ones_like(f) if grad is None else grad
    return [{"free_energy": float(a), "free_energy_err": float(sigma), "grad_norm_flow": float(g)}
            for a, g in zip(f, grad)]


def test_pure_noise_is_converged():
    rng = np.random.default_rng(0)
    sigma = 0.1
    hits = [monitor(history(3.0 + sigma * rng.normal(size=50), sigma), 50)["converged"]
            for _ in range(200)]
    # 2-sigma trend test: ~95 % of noise-only windows pass
    assert np.mean(hits) > 0.9


def test_drift_of_several_sigma_is_not_converged():
    rng = np.random.default_rng(1)
    sigma, w = 0.1, 50
    trend = np.linspace(0.0, -1.0, w)                  # F still falling by 10 sigma_F
    out = monitor(history(3.0 + trend + sigma * rng.normal(size=w), sigma), w)
    assert not out["converged"]
    assert out["drift"] == pytest.approx(-1.0, abs=5 * out["drift_err"])


def test_falling_gradient_norm_is_not_converged():
    rng = np.random.default_rng(2)
    w = 50
    f = 3.0 + 0.1 * rng.normal(size=w)
    grad = np.linspace(2.0, 0.5, w) * (1 + 0.05 * rng.normal(size=w))
    assert not monitor(history(f, 0.1, grad), w)["converged"]
    assert monitor(history(f, 0.1, np.ones(w)), w)["converged"]


def test_short_history_and_bad_window():
    assert monitor(history(np.zeros(10), 0.1), 50)["converged"] is False
    with pytest.raises(ValueError, match="window"):
        monitor([], 2)
