"""Figures of the analysis results (matplotlib, Agg backend: no display needed).

Each ``*_figure`` function returns a ``matplotlib.figure.Figure`` built from a result of
:mod:`qfe.analysis` (so its content can be checked line by line); :func:`save_figure` writes
one as PNG and closes it.  Axes in A, ps, K, THz (with a meV scale on the DOS).
"""

from __future__ import annotations

import numpy as np

from qfe import units

__all__ = [
    "FIGSIZE",
    "DPI",
    "new_figure",
    "save_figure",
    "msd_figure",
    "reordered_msd_figure",
    "rdf_figure",
    "vdos_figure",
    "energy_curves_figure",
]

FIGSIZE = (5, 4)     # inches
DPI = 120            # PNG resolution: 600 x 480 pixels


def new_figure():
    """(figure, axes) of the standard size, on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=FIGSIZE)


def save_figure(fig, path) -> None:
    """Write ``fig`` as PNG (``DPI``) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def msd_figure(result):
    """MSD of each species of a :class:`qfe.analysis.msd.SpeciesMSD`, with the fitted lines
    (dashed) on their windows."""
    fig, ax = new_figure()
    for sp, r in result.msd.items():
        ax.plot(r.times, r.msd, label=sp)
        if sp in result.diffusion:
            f = result.diffusion[sp]
            tt = np.linspace(*f.window, 2)
            ax.plot(tt, f.slope * tt + f.intercept, "k--", lw=1)
    ax.set_xlabel("t (ps)")
    ax.set_ylabel(r"MSD ($\AA^2$)")
    ax.legend()
    return fig


def reordered_msd_figure(result, times_known: bool = True):
    """MSD and MSD' of a :class:`qfe.analysis.reordered_msd.ReorderedMSDResult`."""
    fig, ax = new_figure()
    ax.plot(result.times, result.msd, label="MSD")
    ax.plot(result.times, result.msd_prime, label="MSD' (reordered)")
    ax.set_xlabel("t (ps)" if times_known else "lag (frames)")
    ax.set_ylabel(r"$\AA^2$")
    ax.legend()
    return fig


def rdf_figure(result):
    """g(r) of each pair of a :class:`qfe.analysis.rdf.RDFResult`, and g = 1."""
    fig, ax = new_figure()
    for (a, b), g in result.g.items():
        ax.plot(result.r, g, label=f"{a}-{b}")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel(r"r ($\AA$)")
    ax.set_ylabel("g(r)")
    ax.legend()
    return fig


def vdos_figure(results: dict):
    """g(nu) / 3N of each :class:`qfe.analysis.vdos.VDOSResult` in ``results`` (name ->
    result), THz below and meV above."""
    fig, ax = new_figure()
    for name, r in results.items():
        ax.plot(r.nu, r.g / (3 * r.n_atoms), label=name)
    ax.set_xlabel(r"$\nu$ (THz)")
    ax.set_ylabel(r"g($\nu$) / 3N (1/THz)")
    sec = ax.secondary_xaxis("top", functions=(lambda x: x * units.THZ_TO_MEV,
                                               lambda y: y / units.THZ_TO_MEV))
    sec.set_xlabel("meV")
    ax.legend()
    return fig


def energy_curves_figure(curves, *, harmonic=None, title: str = ""):
    """E/(3 N kB) vs T of :class:`qfe.analysis.thermo.EnergyCurve` objects, the classical
    harmonic line y = T, and ``harmonic`` = (T, E/(3NkB)) from a DOS if given."""
    fig, ax = new_figure()
    tmax = max(float(c.temperature.max()) for c in curves)
    ax.plot([0, tmax], [0, tmax], "k:", lw=1, label="classical harmonic")
    if harmonic is not None:
        ax.plot(harmonic[0], harmonic[1], "k--", lw=1, label="quantum harmonic (from g)")
    for c in curves:
        ax.errorbar(c.temperature, c.reduced_energy, yerr=c.reduced_err, marker="o", ms=4,
                    capsize=2, label=c.label)
    ax.set_xlabel("T (K)")
    ax.set_ylabel(r"$(E/N - E_0)/3k_B$ (K)")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


def cage_figure(steps, theta_mean, theta_min):
    """LaH10 cage angle theta per frame (mean over cages and pairs, and the smallest)."""
    fig, ax = new_figure()
    ax.plot(steps, theta_mean, label=r"mean $\theta$")
    ax.plot(steps, theta_min, lw=0.8, label=r"min $\theta$")
    ax.axhline(90.0, color="k", ls=":", lw=1)
    ax.set_xlabel("step (or frame)")
    ax.set_ylabel(r"$\theta$ (deg)")
    ax.legend()
    return fig
