"""Convergence monitor of an NCT training run.

Over a sliding window of the last W training steps (history entries with ``free_energy``,
``free_energy_err`` and ``grad_norm_flow``), fit a straight line to the per-step estimates of
F and of the flow gradient norm.  The run is *converged* when

- the fitted change of F across the window, |slope_F| W, is within 2 of its own standard
  errors (weighted least squares with the per-step error bars sigma_F) - F no longer moves
  beyond what its noise explains - and also below the mean per-step error bar sigma_F, so a
  window too noisy to resolve a trend of one sigma_F is not called converged;
- the gradient norm is not falling significantly (its fitted change across the window is
  above -2 standard errors): the remaining gradient is noise, not descent.

All energies in the system's units.  Pure functions of the history list.
"""

from __future__ import annotations

import numpy as np


def _trend(y, sigma=None):
    """Least-squares line through y over t = 0..W-1: (change over the window, its error)."""
    y = np.asarray(y, dtype=float)
    w = y.size
    t = np.arange(w, dtype=float) - 0.5 * (w - 1)
    if sigma is None:
        sxx = np.sum(t * t)
        slope = np.sum(t * (y - y.mean())) / sxx
        resid = y - y.mean() - slope * t
        s2 = np.sum(resid ** 2) / max(w - 2, 1)
        return slope * w, np.sqrt(s2 / sxx) * w
    wt = 1.0 / np.maximum(np.asarray(sigma, dtype=float), 1e-300) ** 2
    tm = np.sum(wt * t) / np.sum(wt)
    sxx = np.sum(wt * (t - tm) ** 2)
    ym = np.sum(wt * y) / np.sum(wt)
    slope = np.sum(wt * (t - tm) * (y - ym)) / sxx
    # scale the error by the observed scatter when it exceeds the quoted error bars
    resid = y - ym - slope * (t - tm)
    chi2 = max(np.sum(wt * resid ** 2) / max(w - 2, 1), 1.0)
    return slope * w, np.sqrt(chi2 / sxx) * w


def monitor(history: list, window: int) -> dict:
    """Convergence diagnostics of the last ``window`` steps of ``history`` (see module doc).

    Returns ``converged`` (False while fewer than ``window`` steps exist), ``window``,
    ``drift`` and ``drift_err`` (fitted change of F across the window), ``sigma_F`` (mean
    per-step error bar), ``grad_change`` and ``grad_change_err`` (same for the flow
    gradient norm, relative to its window mean).
    """
    window = int(window)
    if window < 4:
        raise ValueError(f"convergence window must be >= 4 steps, got {window}")
    out = {"converged": False, "window": window, "steps_seen": len(history)}
    if len(history) < window:
        return out
    recent = history[-window:]
    f = np.array([h["free_energy"] for h in recent])
    sf = np.array([h["free_energy_err"] for h in recent])
    drift, drift_err = _trend(f, sf)
    sigma = float(np.mean(sf))
    g = np.array([h.get("grad_norm_flow", 0.0) for h in recent])
    gmean = float(np.mean(g))
    if gmean > 0:
        gchange, gerr = _trend(g / gmean)
    else:
        gchange, gerr = 0.0, 0.0
    f_flat = abs(drift) <= 2.0 * drift_err and abs(drift) <= max(sigma, 2.0 * drift_err) \
        and drift_err <= 2.0 * sigma
    g_flat = gchange >= -2.0 * gerr
    out.update({"drift": float(drift), "drift_err": float(drift_err), "sigma_F": sigma,
                "grad_change": float(gchange), "grad_change_err": float(gerr),
                "converged": bool(f_flat and g_flat)})
    return out
