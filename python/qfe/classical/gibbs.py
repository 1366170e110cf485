"""Classical Gibbs free energies G(T, P) from LAMMPS, along temperature, and crossings.

- :func:`npt_run` -- Langevin + ``fix nph`` at (T, P): mean cell/volume and enthalpy
  H = 3N kT/2 + <U> + P <V>.
- :func:`gibbs_free_energy` -- G(T0, P) = F(V*, T0) + P V*, V* the NPT mean volume and F the
  Frenkel-Ladd free energy at that cell.  G is stationary in V at V*, so the error of V*
  enters only at second order; the error bar is that of F.
- :func:`gibbs_helmholtz` / :class:`GibbsCurve` -- G(T) from G(T0) by Gibbs-Helmholtz
  integration at fixed P, d(G/T)/dT = -H/T^2, with H(T) from independent NPT runs on a grid:
  H is fitted by weighted least squares with a polynomial a0 + a1 T + a2 T^2 (+ a3 T^3) and
  integrated in closed form,

      G(T)/T = G(T0)/T0 - [a0 (1/T0 - 1/T) + a1 ln(T/T0) + a2 (T - T0) + a3 (T^2 - T0^2)/2],

  with the error propagated from sigma(G0) and the fit covariance.  (Chosen over reversible
  scaling because it needs nothing from the pair style -- no scaled hybrid style, which some
  plugin styles do not support -- and each temperature is an ordinary, independent NPT run.)
- :func:`crossing_temperature` -- where two phases' G(T) cross, with its uncertainty
  sigma_T = sigma_DeltaG(T*) / |d DeltaG/dT| (first-order propagation).

Units: eV/atom, K, GPa, A^3/atom; meV/atom in the JSON reports.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from qfe.classical.frenkel_ladd import (
    _progress_bar,
    frenkel_ladd,
    prepare_structure,
)
from qfe.classical.md import MDSettings, npt_average
from qfe.classical.model import PairModel, pair_model, start_lammps
from qfe.classical.thermo import json_safe
from qfe.units import EV_PER_A3_TO_GPA, EV_TO_MEV, KB

__all__ = ["NPTSettings", "npt_run", "enthalpy_curve", "energy_curve", "GibbsResult",
           "gibbs_free_energy", "GibbsCurve", "gibbs_helmholtz", "gibbs_curve",
           "crossing_temperature"]


@dataclass
class NPTSettings:
    """NPT run lengths (steps), barostat kind (iso / aniso / tri), seed, MD settings.

    relax_cell: before the first temperature, minimise the static enthalpy over the cell
    (``fix box/relax``, sites fixed by symmetry or relaxed with them), so MD starts near the
    right volume: a barostat started far from it rings for many Pdamp and biases short
    averages."""

    equil_steps: int = 3000
    steps: int = 10000
    barostat: str = "iso"
    seed: int = 777
    relax_cell: bool = True
    md: MDSettings = field(default_factory=MDSettings)

    def __post_init__(self):
        if isinstance(self.md, dict):
            self.md = MDSettings(**self.md)
        if self.barostat not in ("iso", "aniso", "tri"):
            raise ValueError(f"barostat must be iso, aniso or tri, got {self.barostat!r}")


def _model_for(atoms, potential) -> PairModel:
    if isinstance(potential, PairModel):
        return potential
    return pair_model(potential, list(dict.fromkeys(atoms.get_chemical_symbols())))


def _check_temperature(t) -> float:
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be positive (K), got {t!r}")
    return float(t)


def npt_run(structure, potential, temperature: float, pressure: float, *, settings=None,
            supercell=None, volume_per_atom=None, progress: bool = False):
    """One NPT run; returns ``(NPTResult, atoms at the mean cell)``.  Pressure in GPa."""
    results, mean_atoms = enthalpy_curve(structure, potential, [temperature], pressure,
                                         settings=settings, supercell=supercell,
                                         volume_per_atom=volume_per_atom, progress=progress)
    return results[0], mean_atoms[0]


def _relax_cell(lmp, pressure_gpa: float, barostat: str) -> None:
    """Static relaxation of positions and cell at ``pressure_gpa`` (fix box/relax)."""
    from qfe.units import BAR_TO_GPA

    p_bar = float(pressure_gpa) / BAR_TO_GPA
    lmp.command(f"fix qfe_boxrelax all box/relax {barostat} {p_bar!r} vmax 0.001")
    lmp.command("min_style cg")
    lmp.command("minimize 0.0 1.0e-6 5000 50000")
    lmp.command("unfix qfe_boxrelax")


def enthalpy_curve(structure, potential, temperatures, pressure: float, *, settings=None,
                   supercell=None, volume_per_atom=None, progress: bool = False):
    """NPT runs at each temperature (ascending order, one LAMMPS instance, each run starting
    from the previous one's end state, all with fresh velocities and their own seeds).
    Returns ``(list of NPTResult, list of atoms at each mean cell)``."""
    settings = settings or NPTSettings()
    if isinstance(settings, dict):
        settings = NPTSettings(**settings)
    temps = [_check_temperature(t) for t in temperatures]
    if not temps:
        raise ValueError("need at least one temperature")
    atoms = prepare_structure(structure, volume_per_atom=volume_per_atom, supercell=supercell)
    model = _model_for(atoms, potential)
    lmp, _ = start_lammps(atoms, model, timestep=settings.md.timestep)
    per_t = settings.equil_steps + settings.steps
    bar, tick = _progress_bar(per_t * len(temps), f"NPT {pressure:g} GPa", progress)
    results, mean_atoms = [], []
    try:
        if settings.relax_cell:
            _relax_cell(lmp, pressure, settings.barostat)
        frac0 = atoms.get_scaled_positions()
        for i, t in enumerate(temps):
            r = npt_average(lmp, t, pressure, settings.md, equil_steps=settings.equil_steps,
                            steps=settings.steps, seed=settings.seed + 100 * i,
                            barostat=settings.barostat, progress=tick)
            results.append(r)
            # the sites of the mean cell (LAMMPS frame): the input's fractional coordinates
            mean = atoms.copy()
            mean.set_cell(r.cell, scale_atoms=False)
            mean.set_scaled_positions(frac0)
            mean_atoms.append(mean)
    finally:
        if bar is not None:
            bar.close()
        lmp.close()
    return results, mean_atoms


def energy_curve(structure, potential, temperatures, *, settings=None, supercell=None,
                 volume_per_atom=None, progress: bool = False) -> list[dict]:
    """Fixed-cell Langevin NVT runs at each temperature (one LAMMPS instance, from the lattice
    sites each time): E per atom = <U>/N + 3/2 kT (eV/atom, the kinetic energy of all 3N
    momenta) with its standard error.  With :func:`gibbs_helmholtz` (E in place of H) this
    gives F(T) at fixed V from F(T0): d(F/T)/dT = -E/T^2 -- an independent check of
    Frenkel-Ladd results at two temperatures.  ``settings``: :class:`NPTSettings` (its
    run lengths, seed and MD settings; the barostat is not used)."""
    from qfe.classical.md import nvt_msd, reset_to_sites

    settings = settings or NPTSettings()
    if isinstance(settings, dict):
        settings = NPTSettings(**settings)
    temps = [_check_temperature(t) for t in temperatures]
    atoms = prepare_structure(structure, volume_per_atom=volume_per_atom, supercell=supercell)
    model = _model_for(atoms, potential)
    lmp, species = start_lammps(atoms, model, timestep=settings.md.timestep)
    n = len(atoms)
    bar, tick = _progress_bar((settings.equil_steps + settings.steps) * len(temps),
                              "NVT energies", progress)
    out = []
    try:
        sites = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)
        for i, t in enumerate(temps):
            if i:
                lmp.command("unfix qfe_nve")
                lmp.command("unfix qfe_langevin")
                reset_to_sites(lmp, sites, t, settings.seed + 100 * i)
            r = nvt_msd(lmp, species, t, settings.md, equil_steps=settings.equil_steps,
                        steps=settings.steps, seed=settings.seed + 100 * i, progress=tick)
            out.append({"temperature": t,
                        "energy_eV_per_atom": r["potential_energy"] / n + 1.5 * KB * t,
                        "energy_error_eV_per_atom": r["potential_energy_error"] / n,
                        "msd_A2": r["msd"], "temperature_mean": r["temperature_mean"]})
    finally:
        if bar is not None:
            bar.close()
        lmp.close()
    return out


@dataclass
class GibbsResult:
    """G(T, P) of one structure, per atom (eV/atom unless stated)."""

    temperature: float
    pressure: float                      # GPa
    volume_per_atom: float               # A^3/atom, NPT mean
    volume_error_per_atom: float
    free_energy_per_atom: float          # F(V*, T)
    gibbs_per_atom: float                # F + P V*
    gibbs_error_per_atom: float
    enthalpy_per_atom: float             # NPT H at T
    enthalpy_error_per_atom: float
    npt: dict
    frenkel_ladd: dict
    wall_time_s: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gibbs_meV_per_atom"] = EV_TO_MEV * self.gibbs_per_atom
        d["gibbs_error_meV_per_atom"] = EV_TO_MEV * self.gibbs_error_per_atom
        d["units"] = "eV/atom, meV/atom where named, K, GPa, A^3/atom"
        return json_safe(d)

    def summary(self) -> str:
        return (f"G({self.temperature:g} K, {self.pressure:g} GPa) = {self.gibbs_per_atom:.6f} "
                f"+- {EV_TO_MEV * self.gibbs_error_per_atom:.3f} meV/atom; V = "
                f"{self.volume_per_atom:.4f} +- {self.volume_error_per_atom:.4f} A^3/atom; "
                f"F = {self.free_energy_per_atom:.6f} eV/atom")


def gibbs_free_energy(structure, potential, temperature: float, pressure: float, *,
                      npt_settings=None, fl_settings=None, supercell=None,
                      volume_per_atom=None, progress: bool = False) -> GibbsResult:
    """G(T, P) = F(V*, T) + P V* (see the module doc).  Pressure in GPa."""
    start = time.perf_counter()
    t = _check_temperature(temperature)
    atoms = prepare_structure(structure, volume_per_atom=volume_per_atom, supercell=supercell)
    model = _model_for(atoms, potential)
    npt, mean = npt_run(atoms, model, t, pressure, settings=npt_settings, progress=progress)
    return _gibbs_at(npt, mean, model, fl_settings, progress, start)


def _gibbs_at(npt, mean, model, fl_settings, progress, start) -> GibbsResult:
    """Frenkel-Ladd at the NPT mean cell ``mean`` and G = F + P V*."""
    t, pressure = npt.temperature, npt.pressure
    fl = frenkel_ladd(mean, model, t, settings=fl_settings, progress=progress)
    n = len(mean)
    pv = pressure / EV_PER_A3_TO_GPA * mean.get_volume() / n
    return GibbsResult(
        temperature=t, pressure=float(pressure), volume_per_atom=mean.get_volume() / n,
        volume_error_per_atom=npt.volume_error / n, free_energy_per_atom=fl.free_energy_per_atom,
        gibbs_per_atom=fl.free_energy_per_atom + pv,
        gibbs_error_per_atom=fl.free_energy_error_per_atom,
        enthalpy_per_atom=npt.enthalpy / n, enthalpy_error_per_atom=npt.enthalpy_error / n,
        npt=npt.to_dict(), frenkel_ladd=fl.to_dict(), wall_time_s=time.perf_counter() - start)


def _basis(t, t0, degree):
    t = np.asarray(t, dtype=float)
    cols = [1.0 / t0 - 1.0 / t, np.log(t / t0), t - t0, 0.5 * (t**2 - t0**2)]
    return np.stack(cols[: degree + 1], axis=-1)


@dataclass
class GibbsCurve:
    """G(T) per atom at fixed P from G(T0) and a polynomial fit of H(T) (eV/atom, K)."""

    t0: float
    g0: float
    g0_error: float
    coefficients: np.ndarray        # H(T) = sum_j c_j T^j, eV/atom
    covariance: np.ndarray
    temperatures: np.ndarray        # the NPT grid (K)
    enthalpies: np.ndarray          # eV/atom
    enthalpy_errors: np.ndarray
    chi2_per_dof: float
    pressure: float = float("nan")
    label: str = ""

    def gibbs(self, temperature):
        """G(T) in eV/atom (array or scalar)."""
        t = np.asarray(temperature, dtype=float)
        integral = _basis(t, self.t0, len(self.coefficients) - 1) @ self.coefficients
        return t * (self.g0 / self.t0 - integral)

    def gibbs_error(self, temperature):
        """One-sigma error of G(T), eV/atom: from sigma(G0) and the H fit covariance."""
        t = np.asarray(temperature, dtype=float)
        phi = _basis(t, self.t0, len(self.coefficients) - 1)
        var_fit = np.einsum("...i,ij,...j->...", phi, self.covariance, phi)
        return np.sqrt((t / self.t0 * self.g0_error) ** 2 + t**2 * var_fit)

    def enthalpy(self, temperature):
        t = np.asarray(temperature, dtype=float)
        return np.polyval(self.coefficients[::-1], t)

    def entropy(self, temperature):
        """S = (H - G)/T in eV/(K atom)."""
        t = np.asarray(temperature, dtype=float)
        return (self.enthalpy(t) - self.gibbs(t)) / t

    def to_dict(self, grid=None) -> dict:
        grid = self.temperatures if grid is None else np.asarray(grid, dtype=float)
        d = {
            "label": self.label, "pressure_GPa": self.pressure, "T0_K": self.t0,
            "G0_eV_per_atom": self.g0, "G0_error_eV_per_atom": self.g0_error,
            "enthalpy_fit_coefficients_eV_per_atom": self.coefficients.tolist(),
            "enthalpy_fit_covariance": self.covariance.tolist(),
            "enthalpy_fit_chi2_per_dof": self.chi2_per_dof,
            "npt_temperatures_K": self.temperatures.tolist(),
            "npt_enthalpy_eV_per_atom": self.enthalpies.tolist(),
            "npt_enthalpy_error_eV_per_atom": self.enthalpy_errors.tolist(),
            "temperatures_K": grid.tolist(),
            "gibbs_eV_per_atom": np.atleast_1d(self.gibbs(grid)).tolist(),
            "gibbs_error_meV_per_atom": (EV_TO_MEV * np.atleast_1d(self.gibbs_error(grid)))
            .tolist(),
            "method": "Gibbs-Helmholtz integration of a weighted polynomial fit of H(T)",
        }
        return json_safe(d)


def gibbs_helmholtz(t0: float, g0: float, g0_error: float, temperatures, enthalpies,
                    enthalpy_errors, *, degree: int | None = None, pressure=float("nan"),
                    label: str = "") -> GibbsCurve:
    """:class:`GibbsCurve` from G(T0) +- error and H(T_i) +- errors (eV/atom, K).

    ``degree`` of the H(T) polynomial: default min(2, n - 1) for n temperatures (max 3).
    The fit covariance is (A^T W A)^-1 with W = 1/sigma^2 (absolute errors); ``chi2_per_dof``
    reports how well the polynomial describes the data (>> 1: refine the grid or degree).
    """
    t0 = _check_temperature(t0)
    ts = np.asarray(temperatures, dtype=float)
    hs = np.asarray(enthalpies, dtype=float)
    es = np.asarray(enthalpy_errors, dtype=float)
    if ts.ndim != 1 or ts.shape != hs.shape or ts.shape != es.shape or len(ts) == 0:
        raise ValueError("temperatures, enthalpies and errors must be 1D arrays of one length")
    for t in ts:
        _check_temperature(t)
    if np.any(es <= 0):
        raise ValueError("enthalpy errors must be positive")
    if degree is None:
        degree = min(2, len(ts) - 1)
    if not 0 <= degree <= min(3, len(ts) - 1):
        raise ValueError(f"degree must be between 0 and min(3, n - 1) = {min(3, len(ts) - 1)}, "
                         f"got {degree}")
    a = np.vander(ts, degree + 1, increasing=True)
    w = 1.0 / es**2
    normal = a.T @ (a * w[:, None])
    cov = np.linalg.inv(normal)
    coef = cov @ (a.T @ (w * hs))
    resid = (hs - a @ coef) / es
    dof = len(ts) - degree - 1
    chi2 = float(np.sum(resid**2) / dof) if dof > 0 else float("nan")
    return GibbsCurve(t0=t0, g0=float(g0), g0_error=float(g0_error), coefficients=coef,
                      covariance=cov, temperatures=ts, enthalpies=hs, enthalpy_errors=es,
                      chi2_per_dof=chi2, pressure=float(pressure), label=label)


def gibbs_curve(structure, potential, temperatures, pressure: float, *, t0=None,
                npt_settings=None, fl_settings=None, supercell=None, volume_per_atom=None,
                degree=None, progress: bool = False, label: str = ""):
    """G(T) at fixed P on ``temperatures``: Frenkel-Ladd G at ``t0`` (default: the lowest
    temperature) + NPT enthalpies on the grid + Gibbs-Helmholtz.  Returns
    ``(GibbsCurve, GibbsResult at t0, list of NPTResult)``."""
    temps = sorted(_check_temperature(t) for t in temperatures)
    t0 = temps[0] if t0 is None else _check_temperature(t0)
    atoms = prepare_structure(structure, volume_per_atom=volume_per_atom, supercell=supercell)
    model = _model_for(atoms, potential)
    start = time.perf_counter()
    npts, means = enthalpy_curve(atoms, model, temps, pressure, settings=npt_settings,
                                 progress=progress)
    if t0 in temps:         # the grid's own NPT run at T0 gives V*
        i0 = temps.index(t0)
        g = _gibbs_at(npts[i0], means[i0], model, fl_settings, progress, start)
    else:
        g = gibbs_free_energy(atoms, model, t0, pressure, npt_settings=npt_settings,
                              fl_settings=fl_settings, progress=progress)
    n = len(atoms)
    curve = gibbs_helmholtz(t0, g.gibbs_per_atom, g.gibbs_error_per_atom, temps,
                            [r.enthalpy / n for r in npts], [r.enthalpy_error / n for r in npts],
                            degree=degree, pressure=pressure, label=label)
    return curve, g, npts


def crossing_temperature(curve_a: GibbsCurve, curve_b: GibbsCurve, t_min=None, t_max=None,
                         n_grid: int = 2001) -> dict:
    """Temperature where G_a(T) = G_b(T) in [t_min, t_max] (default: the overlap of the two
    NPT grids), with sigma_T = sigma_DG / |d DG/dT| at the crossing.  Returns a dict with
    ``temperature`` (K, or None when there is no sign change), ``error``, ``delta_g`` on the
    grid (meV/atom, a - b) and its errors."""
    lo = max(curve_a.temperatures.min(), curve_b.temperatures.min()) if t_min is None else t_min
    hi = min(curve_a.temperatures.max(), curve_b.temperatures.max()) if t_max is None else t_max
    if not hi > lo:
        raise ValueError(f"empty temperature range [{lo}, {hi}] for the crossing")
    grid = np.linspace(lo, hi, n_grid)
    dg = curve_a.gibbs(grid) - curve_b.gibbs(grid)
    sig = np.hypot(curve_a.gibbs_error(grid), curve_b.gibbs_error(grid))
    out = {"t_min_K": float(lo), "t_max_K": float(hi), "temperature": None, "error": None,
           "label_a": curve_a.label, "label_b": curve_b.label}
    sign = np.sign(dg)
    idx = np.nonzero(sign[:-1] != sign[1:])[0]
    nonzero = sign[sign != 0]
    if len(idx):           # a sign change, or a touch of zero
        i = int(idx[0])
        if dg[i] == 0:
            t_star = float(grid[i])
        elif dg[i + 1] == 0:
            t_star = float(grid[i + 1])
        else:
            t_star = grid[i] - dg[i] * (grid[i + 1] - grid[i]) / (dg[i + 1] - dg[i])
        j = min(i + 1, len(grid) - 1)
        slope = (dg[j] - dg[j - 1]) / (grid[j] - grid[j - 1])       # eV/(atom K) = -DeltaS
        sigma_dg = float(np.hypot(curve_a.gibbs_error(t_star), curve_b.gibbs_error(t_star)))
        out.update(temperature=float(t_star), error=float(sigma_dg / abs(slope)),
                   delta_entropy_kB_per_atom=float(-slope / KB),
                   n_crossings=int(np.sum(nonzero[:-1] != nonzero[1:])))
    coarse = np.linspace(lo, hi, 11)
    out["temperatures_K"] = coarse.tolist()
    out["delta_g_meV_per_atom"] = (EV_TO_MEV * (curve_a.gibbs(coarse) - curve_b.gibbs(coarse))
                                   ).tolist()
    out["delta_g_error_meV_per_atom"] = (EV_TO_MEV * np.hypot(curve_a.gibbs_error(coarse),
                                                               curve_b.gibbs_error(coarse))
                                         ).tolist()
    if not math.isfinite(float(np.min(sig))):
        raise RuntimeError("non-finite Gibbs error estimate")
    return json_safe(out)
