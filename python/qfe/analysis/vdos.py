"""Velocity autocorrelation, vibrational density of states g(omega), zero-point temperature
and harmonic thermodynamics from g.

Definitions (units: THz for nu, rad/ps for omega = 2 pi nu, meV, eV, K):

- mass-weighted VACF  C(t) = sum_i m_i < v_i(t0) . v_i(t0 + t) >_t0  (amu A^2/ps^2)
- g is the Fourier transform of C (Wiener-Khinchin), estimated with Welch's method: the
  mass-weighted velocities sqrt(m_i) v_i are cut into overlapping segments, each multiplied by
  a window (Hann by default), and the periodograms are averaged; the spectral resolution is
  1 / (segment duration).
- normalisation: **g counts modes**: integral_0^inf g(nu) d nu = 3N for the N selected atoms
  (g_omega = g / (2 pi) per rad/ps has the same integral over omega).  The integral is the
  sum over the spectral bins times the bin width (the same rule is used for every integral).
- For a harmonic solid in classical equilibrium every mode carries kB T, so the velocity
  spectrum is proportional to g.  Under a quantum thermal bath (QTB) at temperature T a mode
  carries theta(omega, T) = (hbar omega / 2) coth(hbar omega / 2 kB T) instead; pass
  ``qtb_temperature=T`` to divide the spectrum by theta / kB T before normalising.
- zero-point energy  E_zp = integral g(omega) hbar omega / 2 d omega  (eV, whole selection).
- **zero-point temperature per degree of freedom**
      T_zero = E_zp / (3 N kB) = (1 / (3 N kB)) integral g(omega) hbar omega / 2 d omega,
  i.e. the issue's formula (1/kB) integral g hbar omega / 2 with g normalised to one mode
  (Qin et al. PRB 108, 064102 (2023) quote T_zero per degree of freedom).  It is the T = 0
  intercept of the harmonic quantum E / (3 N kB) curve, which tends to T at high T.
  ``zero_point_energy`` returns the total (eV) as well.
- harmonic quantum energy  E(T) = integral g theta(omega, T) d omega (eV, includes E_zp);
  heat capacity  C_V(T) = kB integral g (x/2)^2 / sinh^2(x/2) d omega,  x = hbar omega / kB T.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft
import scipy.signal

from qfe import units
from qfe.analysis.io.frames import Trajectory, selection_label

__all__ = [
    "vacf",
    "VDOSResult",
    "vdos_from_velocities",
    "vdos",
    "vdos_by_species",
    "vdos_table",
    "read_vdos_table",
    "vdos_report",
    "zero_point_energy",
    "zero_point_temperature",
    "harmonic_energy",
    "harmonic_heat_capacity",
]


def vacf(velocities: np.ndarray, masses=None, max_lag: int | None = None,
         chunk: int = 2048) -> np.ndarray:
    """Mass-weighted VACF C(m dt) = sum_i m_i <v_i(t) . v_i(t + m dt)>_t, m = 0..max_lag-1,
    averaged over all F - m time origins (FFT, zero padded).  ``velocities`` (F, n, 3) A/ps,
    ``masses`` (n,) amu (None: unit masses).  Units amu A^2/ps^2 (x MVV2E: eV)."""
    v = np.asarray(velocities, float)
    nf, n, _ = v.shape
    w = np.ones(n) if masses is None else np.asarray(masses, float)
    if w.shape != (n,):
        raise ValueError(f"masses must have shape ({n},), got {w.shape}")
    max_lag = nf if max_lag is None else int(max_lag)
    nfft = scipy.fft.next_fast_len(2 * nf, real=True)
    total = np.zeros(nf)
    for lo in range(0, n, chunk):
        x = v[:, lo:lo + chunk] * np.sqrt(w[lo:lo + chunk])[None, :, None]
        fx = scipy.fft.rfft(x, n=nfft, axis=0)
        total += scipy.fft.irfft((fx * fx.conj()).real, n=nfft, axis=0)[:nf].sum(axis=(1, 2))
    return (total / (nf - np.arange(nf)))[:max_lag]


@dataclasses.dataclass
class VDOSResult:
    """g(nu) normalised to 3N modes.

    nu        : frequencies (THz), bin centres of the Welch estimate (0 .. Nyquist)
    g         : modes per THz (sum(g) * d_nu = 3N)
    n_atoms   : N; dnu: bin width (THz)
    """

    nu: np.ndarray
    g: np.ndarray
    n_atoms: int
    dnu: float
    species: str = "all"
    qtb_temperature: float | None = None

    @property
    def omega(self) -> np.ndarray:
        """Angular frequencies (rad/ps)."""
        return units.THZ_TO_RAD_PER_PS * self.nu

    @property
    def g_omega(self) -> np.ndarray:
        """Modes per rad/ps (integral over omega = 3N)."""
        return self.g / units.THZ_TO_RAD_PER_PS

    @property
    def energy_mev(self) -> np.ndarray:
        """h nu in meV."""
        return units.THZ_TO_MEV * self.nu

    @property
    def n_modes(self) -> float:
        return float(self.g.sum() * self.dnu)

    def zero_point_energy(self) -> float:
        return zero_point_energy(self.nu, self.g, self.dnu)

    def zero_point_temperature(self) -> float:
        return zero_point_temperature(self.nu, self.g, self.dnu)

    def harmonic_energy(self, temperature) -> np.ndarray:
        return harmonic_energy(self.nu, self.g, self.dnu, temperature)

    def harmonic_heat_capacity(self, temperature) -> np.ndarray:
        return harmonic_heat_capacity(self.nu, self.g, self.dnu, temperature)

    @property
    def mean_frequency(self) -> float:
        """Mode-averaged frequency (THz)."""
        return float(np.sum(self.nu * self.g) / np.sum(self.g))

    def as_dict(self, temperatures=()) -> dict:
        """Scalars, and the harmonic E and C_V per atom at ``temperatures`` (K)."""
        temps = np.atleast_1d(np.asarray(temperatures, float))
        e, cv = self.harmonic_energy(temps), self.harmonic_heat_capacity(temps)
        per_dof = 3 * self.n_atoms * units.KB
        return {"n_atoms": self.n_atoms, "n_modes": self.n_modes,
                "T_zero_K": self.zero_point_temperature(),
                "zero_point_energy_eV": self.zero_point_energy(),
                "zero_point_energy_eV_per_atom": self.zero_point_energy() / self.n_atoms,
                "mean_frequency_THz": self.mean_frequency,
                "harmonic": [{"T_K": float(t), "E_eV_per_atom": float(ei / self.n_atoms),
                              "E_over_3NkB_K": float(ei / per_dof),
                              "Cv_over_3NkB": float(ci / per_dof)}
                             for t, ei, ci in zip(temps, e, cv)]}

    def summary(self) -> str:
        zpe = self.zero_point_energy() / self.n_atoms * units.EV_TO_MEV
        return (f"{self.species}: {self.n_atoms} atoms, T_zero = "
                f"{self.zero_point_temperature():.1f} K per degree of freedom, zero-point "
                f"energy {zpe:.2f} meV/atom, resolution {self.dnu:.3g} THz")


def _theta_over_kt(nu_thz: np.ndarray, temperature: float) -> np.ndarray:
    """theta(omega, T) / kB T = (x/2) coth(x/2), x = h nu / kB T (1 at nu = 0)."""
    x = units.H_PLANCK * np.asarray(nu_thz, float) / (units.KB * temperature)
    out = np.ones_like(x)
    nz = x > 1e-8
    out[nz] = 0.5 * x[nz] / np.tanh(0.5 * x[nz])
    return out


def vdos_from_velocities(velocities: np.ndarray, masses, dt: float, *, segment: int | None = None,
                         window: str = "hann", qtb_temperature: float | None = None,
                         chunk: int = 2048, species: str = "all") -> VDOSResult:
    """g(nu) from velocities (F, n, 3) in A/ps sampled every ``dt`` ps, masses (n,) amu.

    ``segment``: frames per Welch segment (default F // 4, at least 16; resolution 1/(segment dt)
    THz), 50 % overlap, ``window`` any ``scipy.signal.get_window`` name.
    """
    v = np.asarray(velocities, float)
    if v.ndim != 3 or v.shape[2] != 3:
        raise ValueError(f"velocities must be (frames, atoms, 3), got {v.shape}")
    nf, n, _ = v.shape
    if not dt > 0:
        raise ValueError(f"time between frames must be > 0 ps, got {dt}")
    if nf < 8:
        raise ValueError(f"{nf} frames are too few for a spectrum")
    m = np.asarray(masses, float)
    if m.shape != (n,) or np.any(~(m > 0)):
        raise ValueError("masses must be positive, one per atom")
    if segment is None:
        segment = max(16, nf // 4)
    segment = int(min(segment, nf))
    psd = None
    for lo in range(0, n, chunk):
        x = v[:, lo:lo + chunk] * np.sqrt(m[lo:lo + chunk])[None, :, None]
        nu, p = scipy.signal.welch(x, fs=1.0 / dt, window=window, nperseg=segment,
                                   detrend=False, axis=0, scaling="density")
        p = p.sum(axis=(1, 2))
        psd = p if psd is None else psd + p
    if qtb_temperature is not None:
        if not qtb_temperature > 0:
            raise ValueError(f"qtb_temperature must be > 0 K, got {qtb_temperature}")
        psd = psd / _theta_over_kt(nu, qtb_temperature)
    dnu = float(nu[1] - nu[0])
    total = float(psd.sum() * dnu)
    if not total > 0:
        raise ValueError("velocities are all zero: no spectrum")
    g = 3 * n * psd / total
    return VDOSResult(nu=nu, g=g, n_atoms=n, dnu=dnu, species=species,
                      qtb_temperature=qtb_temperature)


def vdos(traj: Trajectory, species=None, *, segment: int | None = None, window: str = "hann",
         qtb_temperature: float | None = None) -> VDOSResult:
    """g(nu) of the atoms of ``species`` from the trajectory's velocities (see module doc)."""
    if traj.velocities is None:
        raise ValueError(f"{traj.path or 'trajectory'} has no velocities (dump vx vy vz)")
    if traj.masses is None:
        raise ValueError(f"{traj.path or 'trajectory'}: atom masses unknown; give a type map "
                         "with element names or masses")
    times = traj.require_times()
    dts = np.diff(times)
    dt = float(np.median(dts))
    if not np.allclose(dts, dt, rtol=1e-6, atol=1e-12):
        raise ValueError("frames are not equally spaced in time; the spectrum needs a constant "
                         "interval")
    idx = traj.select(species)
    label = selection_label(species)
    return vdos_from_velocities(traj.velocities[:, idx], traj.masses[idx], dt, segment=segment,
                                window=window, qtb_temperature=qtb_temperature, species=label)


def vdos_by_species(traj: Trajectory, species=None, **kwargs) -> dict:
    """name -> :func:`vdos` result: one per label of ``species`` if given; otherwise one per
    species of the trajectory plus "all" (just "all" when there is one species).
    ``kwargs`` go to :func:`vdos`."""
    if species is not None:
        labels = [species] if isinstance(species, str) else list(species)
        return {str(sp): vdos(traj, sp, **kwargs) for sp in labels}
    present = sorted(set(traj.species().tolist()))
    out = {sp: vdos(traj, sp, **kwargs) for sp in present} if len(present) > 1 else {}
    out["all"] = vdos(traj, None, **kwargs)
    return out


def vdos_table(results: dict) -> tuple[list[str], np.ndarray]:
    """Column names and array: nu (THz), h nu (meV), then g of each result (modes per THz).
    The results must share their frequency grid (same trajectory and settings)."""
    first = next(iter(results.values()))
    names = ["nu_THz", "energy_meV"] + [f"g_{name}_per_THz" for name in results]
    return names, np.column_stack([first.nu, first.energy_mev] + [r.g for r in results.values()])


def read_vdos_table(path) -> tuple[np.ndarray, np.ndarray]:
    """(nu in THz, g in modes per THz) from a :func:`vdos_table` CSV (``qfe analyze dos``'s
    dos.csv): the "all" column if there is one, else the first g column."""
    table = np.genfromtxt(path, delimiter=",", names=True)
    names = table.dtype.names or ()
    g_cols = ([n for n in names if n.startswith("g_all")]
              or [n for n in names if n.startswith("g_")])
    if "nu_THz" not in names or not g_cols:
        raise ValueError(f"{path}: expected the nu_THz and g_... columns of dos.csv")
    return table["nu_THz"], table[g_cols[0]]


def vdos_report(results: dict, temperatures=()) -> dict:
    """JSON-ready summary of :func:`vdos_by_species` results (definitions included)."""
    first = next(iter(results.values()))
    return {"resolution_THz": first.dnu, "nyquist_THz": float(first.nu[-1]),
            "qtb_temperature_K": first.qtb_temperature,
            "normalisation": "integral g(nu) dnu = 3N (modes per THz)",
            "T_zero_definition": "T_zero = (1/(3N kB)) integral g(omega) hbar omega/2 domega "
                                 "(zero-point energy per degree of freedom, in K)",
            "sets": {name: r.as_dict(temperatures) for name, r in results.items()}}


def zero_point_energy(nu_thz, g, dnu: float) -> float:
    """E_zp = integral g(nu) h nu / 2 d nu in eV (g in modes per THz)."""
    return float(np.sum(g * 0.5 * units.H_PLANCK * np.asarray(nu_thz)) * dnu)


def zero_point_temperature(nu_thz, g, dnu: float) -> float:
    """T_zero = E_zp / (kB * number of modes) in K: zero-point energy per degree of freedom."""
    n_modes = float(np.sum(g) * dnu)
    return zero_point_energy(nu_thz, g, dnu) / (units.KB * n_modes)


def harmonic_energy(nu_thz, g, dnu: float, temperature) -> np.ndarray:
    """Quantum harmonic energy E(T) = integral g theta(omega, T) (eV); T scalar or array (K),
    T = 0 gives E_zp."""
    nu = np.asarray(nu_thz, float)
    ts = np.atleast_1d(np.asarray(temperature, float))
    def theta(t):        # (hbar omega / 2) coth(hbar omega / 2 kB T), -> kB T at omega = 0
        if t <= 0:
            return 0.5 * units.H_PLANCK * nu
        return units.KB * t * _theta_over_kt(nu, t)

    out = np.array([np.sum(g * theta(t)) * dnu for t in ts])
    return out if np.ndim(temperature) else float(out[0])


def harmonic_heat_capacity(nu_thz, g, dnu: float, temperature) -> np.ndarray:
    """C_V(T) = kB integral g (x/2)^2 / sinh^2(x/2), x = h nu / kB T, in eV/K (-> kB x modes
    at high T)."""
    nu = np.asarray(nu_thz, float)
    ts = np.atleast_1d(np.asarray(temperature, float))
    out = []
    for t in ts:
        if t <= 0:
            out.append(0.0)
            continue
        x = units.H_PLANCK * nu / (units.KB * t)
        w = np.ones_like(x)                   # (x/2)^2 / sinh^2(x/2) = x^2 e^-x / (1 - e^-x)^2
        big = x > 1e-8
        em = np.exp(-x[big])
        w[big] = x[big] ** 2 * em / (1.0 - em) ** 2
        out.append(units.KB * float(np.sum(g * w) * dnu))
    out = np.array(out)
    return out if np.ndim(temperature) else float(out[0])
