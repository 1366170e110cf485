"""Mean-square displacement per species and diffusion coefficients.

MSD(tau) = < |r_i(t0 + tau) - r_i(t0)|^2 >, averaged over the selected atoms i and over all
time origins t0 (every stored frame), computed for all lags at once with FFTs
(MSD = S1 - 2 S2, S2 the position autocorrelation; Kneller et al., Comput. Phys. Commun. 91,
191 (1995)).  Positions are unwrapped from ``xu`` columns, from image flags, or by tracking
(minimum image between consecutive frames: valid when no atom moves more than half a box
width between stored frames).

Diffusion coefficient: D = slope / 6 of a least-squares line through MSD(tau) on a chosen
window [t_min, t_max].  Error: block averaging over time origins: the trajectory is cut into
``n_blocks`` consecutive blocks, D is fitted in each block from its own MSD, and the standard
error is std(D_block) / sqrt(n_blocks) (blocks longer than the MSD's correlation time are
independent samples).  Units: A^2, ps, A^2/ps (1 A^2/ps = 1e-4 cm^2/s).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft

from qfe.analysis.io.frames import Trajectory, selection_label
from qfe.analysis.neighbors import fractional
from qfe.units import A2_PER_PS_TO_CM2_PER_S

__all__ = [
    "unwrap",
    "msd_fft",
    "MSDResult",
    "msd",
    "DiffusionResult",
    "fit_diffusion",
    "diffusion_coefficient",
    "SpeciesMSD",
    "msd_per_species",
    "A2_PER_PS_TO_CM2_PER_S",
]


def unwrap(traj: Trajectory, indices=None) -> np.ndarray:
    """Unwrapped Cartesian positions (F, n, 3) in A of the atoms ``indices`` (default all).

    ``xu`` columns are used as they are; otherwise image flags; otherwise image counts are
    tracked from the fractional jumps between consecutive frames (round to nearest lattice
    vector), which also works when the cell changes (NPT).
    """
    idx = np.arange(traj.n_atoms) if indices is None else np.asarray(indices)
    pos = traj.positions[:, idx]
    if traj.unwrapped:
        return pos.copy()
    if traj.images is not None:
        return pos + np.einsum("fnk,fkl->fnl", traj.images[:, idx].astype(float), traj.cells)
    out = np.empty_like(pos)
    image = np.zeros((len(idx), 3))
    prev = None
    for f in range(traj.n_frames):
        s = fractional(pos[f], traj.cells[f], traj.origins[f])
        if prev is not None:
            jump = np.where(traj.pbc, np.round(s - prev), 0.0)
            image -= jump
        prev = s
        out[f] = pos[f] + image @ traj.cells[f]
    return out


def msd_fft(positions: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Per-component MSD (F, 3) summed over atoms, averaged over time origins.

    ``positions``: unwrapped (F, n, 3).  Row m is sum_i < (r_i(t + m dt) - r_i(t))_k^2 >_t,
    averaged over the F - m origins; divide by n for the per-atom MSD.
    """
    pos = np.asarray(positions, float)
    nf, n, _ = pos.shape
    nfft = scipy.fft.next_fast_len(2 * nf, real=True)
    counts = (nf - np.arange(nf))[:, None]
    total = np.zeros((nf, 3))
    for lo in range(0, n, chunk):
        x = pos[:, lo:lo + chunk] - pos[0, lo:lo + chunk]     # origin shift: better precision
        d = x * x                                               # (F, c, 3)
        prefix = np.concatenate([np.zeros((1,) + d.shape[1:]), np.cumsum(d, axis=0)])
        m = np.arange(nf)
        s1 = (prefix[nf - m] + prefix[nf] - prefix[m]).sum(axis=1)  # (F, 3)
        fx = scipy.fft.rfft(x, n=nfft, axis=0)
        ac = scipy.fft.irfft(fx * fx.conj(), n=nfft, axis=0)[:nf].sum(axis=1)
        total += s1 - 2.0 * ac
    return total / counts


@dataclasses.dataclass
class MSDResult:
    """MSD of one atom selection.  times in ps, msd in A^2 per atom, msd_xyz per component."""

    times: np.ndarray
    msd: np.ndarray
    msd_xyz: np.ndarray
    species: str
    n_atoms: int
    n_origins: np.ndarray

    def as_table(self) -> np.ndarray:
        return np.column_stack([self.times, self.msd, self.msd_xyz])


def _selected_unwrapped(traj, idx, remove_drift: bool):
    """Unwrapped positions (frames, len(idx), 3) of the atoms ``idx``, minus the system's
    centre-of-mass drift when ``remove_drift``."""
    if not remove_drift:
        return unwrap(traj, idx)
    allpos = unwrap(traj)
    return allpos[:, idx] - _drift(traj, allpos)[:, None, :]


def _drift(traj: Trajectory, unwrapped_all: np.ndarray) -> np.ndarray:
    w = traj.masses if traj.masses is not None else np.ones(traj.n_atoms)
    com = np.einsum("fnk,n->fk", unwrapped_all, w) / w.sum()
    return com - com[0]


def msd(traj: Trajectory, species=None, *, remove_drift: bool = False) -> MSDResult:
    """MSD of the atoms of ``species`` (label, type, list, or None for all atoms).

    ``remove_drift`` subtracts the centre-of-mass displacement of the whole system (mass
    weighted when masses are known) from every atom, as thermostats can let the COM wander.
    """
    times = traj.require_times()
    idx = traj.select(species)
    pos = _selected_unwrapped(traj, idx, remove_drift)
    per_comp = msd_fft(pos) / len(idx)
    label = selection_label(species)
    return MSDResult(times=times - times[0], msd=per_comp.sum(axis=1), msd_xyz=per_comp,
                     species=label, n_atoms=len(idx),
                     n_origins=traj.n_frames - np.arange(traj.n_frames))


@dataclasses.dataclass
class DiffusionResult:
    """D (A^2/ps) with its standard error, from the MSD slope on ``window`` (ps)."""

    D: float
    D_err: float
    window: tuple[float, float]
    slope: float
    intercept: float
    n_blocks: int
    D_blocks: np.ndarray
    method: str = "least-squares slope / 6; error: std of block estimates / sqrt(n_blocks)"

    @property
    def D_cm2_per_s(self) -> float:
        return self.D * A2_PER_PS_TO_CM2_PER_S

    @property
    def D_err_cm2_per_s(self) -> float:
        return self.D_err * A2_PER_PS_TO_CM2_PER_S

    def as_dict(self) -> dict:
        return {"D_A2_per_ps": self.D, "D_err_A2_per_ps": self.D_err,
                "D_cm2_per_s": self.D_cm2_per_s, "D_err_cm2_per_s": self.D_err_cm2_per_s,
                "window_ps": list(self.window), "slope_A2_per_ps": self.slope,
                "intercept_A2": self.intercept, "n_blocks": self.n_blocks,
                "D_blocks_A2_per_ps": self.D_blocks.tolist(), "method": self.method}


def _window_mask(lag_times, window):
    t_min, t_max = window
    mask = (lag_times >= t_min - 1e-12) & (lag_times <= t_max + 1e-12)
    if mask.sum() < 2:
        raise ValueError(f"fit window {window} ps holds {mask.sum()} MSD points; need at least 2 "
                         f"(lags available: {lag_times[1] if len(lag_times) > 1 else 0:g} .. "
                         f"{lag_times[-1]:g} ps)")
    return mask


def fit_diffusion(lag_times: np.ndarray, msd_values: np.ndarray, window, dims: int = 3):
    """(D, slope, intercept) of a least-squares line through MSD on ``window`` = (t_min, t_max)."""
    mask = _window_mask(lag_times, window)
    slope, intercept = np.polyfit(lag_times[mask], msd_values[mask], 1)
    return slope / (2 * dims), float(slope), float(intercept)


def diffusion_coefficient(traj: Trajectory, species=None, window=None, *, n_blocks: int = 5,
                          remove_drift: bool = False) -> DiffusionResult:
    """Diffusion coefficient of ``species`` from the MSD slope on ``window`` (ps).

    ``window`` defaults to (10 %, 50 %) of a block's length.  Each of the ``n_blocks``
    consecutive blocks must be longer than t_max.
    """
    times = traj.require_times()
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2 for an error estimate, got {n_blocks}")
    nf = traj.n_frames
    block_len = nf // n_blocks
    if block_len < 3:
        raise ValueError(f"{nf} frames are too few for {n_blocks} blocks")
    dt = float(np.median(np.diff(times)))
    if not np.allclose(np.diff(times), dt, rtol=1e-6, atol=1e-9):
        raise ValueError("frames are not equally spaced in time; MSD needs a constant interval")
    block_span = (block_len - 1) * dt
    if window is None:
        window = (0.1 * block_span, 0.5 * block_span)
    window = (float(window[0]), float(window[1]))
    if not 0 <= window[0] < window[1]:
        raise ValueError(f"bad fit window {window} ps: need 0 <= t_min < t_max")
    if window[1] > block_span + 1e-9:
        raise ValueError(f"fit window ends at {window[1]:g} ps but each of {n_blocks} blocks spans "
                         f"only {block_span:g} ps; use fewer blocks or a shorter window")
    idx = traj.select(species)
    pos = _selected_unwrapped(traj, idx, remove_drift)
    lags = np.arange(nf) * dt
    full = msd_fft(pos).sum(axis=1) / len(idx)
    D, slope, intercept = fit_diffusion(lags, full, window)
    blocks = []
    for b in range(n_blocks):
        seg = pos[b * block_len:(b + 1) * block_len]
        m = msd_fft(seg).sum(axis=1) / len(idx)
        blocks.append(fit_diffusion(lags[:block_len], m, window)[0])
    blocks = np.array(blocks)
    err = float(blocks.std(ddof=1) / np.sqrt(n_blocks))
    return DiffusionResult(D=float(D), D_err=err, window=window, slope=slope, intercept=intercept,
                           n_blocks=n_blocks, D_blocks=blocks)


@dataclasses.dataclass
class SpeciesMSD:
    """MSD and diffusion coefficient of each species of one trajectory.

    msd        : label -> :class:`MSDResult`
    diffusion  : label -> :class:`DiffusionResult`, for the species whose fit succeeded
    fit_errors : label -> why the fit with the default window failed (too few frames...)
    """

    msd: dict
    diffusion: dict
    fit_errors: dict
    remove_drift: bool = False

    @property
    def times(self) -> np.ndarray:
        return next(iter(self.msd.values())).times

    def table(self) -> tuple[list[str], np.ndarray]:
        """Column names and (F, 1 + species) array: lag time (ps), MSD of each species (A^2)."""
        names = ["time_ps"] + [f"msd_{sp}_A2" for sp in self.msd]
        return names, np.column_stack([self.times] + [r.msd for r in self.msd.values()])

    def as_dict(self) -> dict:
        return {"remove_drift": self.remove_drift,
                "species": {sp: {"n_atoms": r.n_atoms,
                                 "diffusion": (self.diffusion[sp].as_dict()
                                               if sp in self.diffusion else None)}
                            for sp, r in self.msd.items()}}

    def summary(self) -> str:
        lines = []
        for sp, r in self.msd.items():
            line = (f"{sp}: {r.n_atoms} atoms, MSD({r.times[-1]:.4g} ps) = {r.msd[-1]:.4g} A^2")
            if sp in self.diffusion:
                f = self.diffusion[sp]
                line += (f", D = {f.D:.4g} +- {f.D_err:.2g} A^2/ps ({f.D_cm2_per_s:.3e} cm^2/s, "
                         f"fit {f.window[0]:.3g}-{f.window[1]:.3g} ps, {f.n_blocks} blocks)")
            lines.append(line)
        return "\n".join(lines)


def msd_per_species(traj: Trajectory, species=None, *, window=None, n_blocks: int = 5,
                    remove_drift: bool = False) -> SpeciesMSD:
    """:func:`msd` and :func:`diffusion_coefficient` of each of ``species`` (labels; default:
    every species of the trajectory).  A fit on an explicit ``window`` that fails raises; with
    the default window the reason is kept in ``fit_errors`` and the MSD is still returned."""
    labels = (sorted(set(traj.species().tolist())) if species is None
              else [species] if isinstance(species, str) else list(species))
    msds, fits, errors = {}, {}, {}
    for sp in labels:
        msds[sp] = msd(traj, sp, remove_drift=remove_drift)
        try:
            fits[sp] = diffusion_coefficient(traj, sp, window, n_blocks=n_blocks,
                                             remove_drift=remove_drift)
        except ValueError as exc:
            if window is not None:
                raise
            errors[sp] = str(exc)
    return SpeciesMSD(msd=msds, diffusion=fits, fit_errors=errors, remove_drift=remove_drift)
