"""LAMMPS runs of the classical route: Langevin NVT (mean squared displacement, energy),
NPT (volume, enthalpy) and the recorded Frenkel-Ladd switching (used by
:mod:`qfe.classical.frenkel_ladd`).

Every run keeps the total momentum at zero (``velocity ... mom yes``, ``fix langevin ... zero
yes``), as the fixed-centre-of-mass convention of :mod:`qfe.classical.thermo` requires, and
writes what it records with ``fix print`` into a scratch file that is read back with numpy.
Long runs advance in chunks so a progress bar (tqdm) can follow them.

Units: ``metal`` (eV, A, ps, K, amu; bar inside decks, GPa in the Python API).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from qfe.units import BAR_TO_GPA, EV_PER_A3_TO_GPA, KB

__all__ = ["MDSettings", "run_recorded", "reset_to_sites", "set_langevin", "nvt_msd",
           "npt_average", "NPTResult"]


@dataclass
class MDSettings:
    """Integrator and thermostat settings shared by the runs.

    timestep : ps (1 fs suits Li; light or stiff systems need less)
    damping  : Langevin relaxation time, ps
    pressure_damping : barostat relaxation time (fix nph Pdamp), ps
    """

    timestep: float = 0.001
    damping: float = 0.1
    pressure_damping: float = 1.0

    def __post_init__(self):
        for name in ("timestep", "damping", "pressure_damping"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive (ps), got {v!r}")


def _steps(name: str, value, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_recorded(lmp, nsteps: int, every: int, expressions: list[str], *, progress=None,
                 chunks: int = 20, label: str = "qfe_rec") -> np.ndarray:
    """Run ``nsteps`` steps, recording the LAMMPS equal-style ``expressions`` every ``every``
    steps (``fix print``); returns an array (n_records, 1 + len(expressions)) whose first
    column is the step.  ``progress(n)`` is called with the steps done after each chunk."""
    names = []
    for i, expr in enumerate(expressions):
        name = f"{label}_v{i}"
        lmp.command(f"variable {name} equal {expr}")
        names.append(name)
    fd, path = tempfile.mkstemp(prefix="qfe_classical_", suffix=".dat")
    os.close(fd)
    fields = " ".join(["$(step)"] + [f"${{{n}}}" for n in names])
    try:
        lmp.command(f'fix {label} all print {every} "{fields}" file {path} screen no '
                    'title "#"')
        done = 0
        per_chunk = max(1, -(-nsteps // max(1, chunks)))
        while done < nsteps:
            n = min(per_chunk, nsteps - done)
            lmp.command(f"run {n} pre {'yes' if done == 0 else 'no'} post no")
            done += n
            if progress is not None:
                progress(n)
        lmp.command(f"unfix {label}")
        data = np.loadtxt(path, comments="#", ndmin=2)
    finally:
        os.unlink(path)
        for n in names:
            lmp.command(f"variable {n} delete")
    if not np.all(np.isfinite(data)):
        raise RuntimeError("LAMMPS produced non-finite values (unstable run: timestep too "
                           "large, or the structure is far from a minimum of the potential?)")
    return data


def reset_to_sites(lmp, sites_lammps: np.ndarray, temperature: float, seed: int) -> None:
    """Put the atoms back on ``sites_lammps`` ((N, 3) A in the LAMMPS frame, ordered by atom
    ID), zero image flags, step counter 0, fresh Maxwell velocities at ``temperature`` with
    zero total momentum."""
    import ctypes

    x = np.ascontiguousarray(sites_lammps, dtype=float).ravel()
    lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * x.size)(*x))
    lmp.command("set group all image 0 0 0")
    lmp.command("reset_timestep 0")
    lmp.command(f"velocity all create {float(temperature)!r} {int(seed)} dist gaussian "
                "mom yes rot no")


def set_langevin(lmp, temperature: float, settings: MDSettings, seed: int) -> None:
    """(Re)define the Langevin thermostat (zero net random force).  Defined after any
    ``fix ti/spring``, so its forces are not scaled by (1 - lambda)."""
    if lmp.has_id("fix", "qfe_langevin"):
        lmp.command("unfix qfe_langevin")
    t = float(temperature)
    lmp.command(f"fix qfe_langevin all langevin {t!r} {t!r} {settings.damping!r} {int(seed)} "
                "zero yes")


def _lammps_sites(lmp) -> np.ndarray:
    return np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)


def nvt_msd(lmp, species: list, temperature: float, settings: MDSettings, *, equil_steps: int,
            steps: int, seed: int, every: int = 10, progress=None) -> dict:
    """Langevin NVT from the current (lattice) positions: per-type mean squared displacement
    about the starting sites (centre-of-mass drift removed), mean potential energy, and the
    static energy of the starting configuration.  Returns a dict with ``msd`` (A^2 per type,
    with ``msd_error``), ``potential_energy`` (eV, total, with error) and ``static_energy``."""
    equil_steps = _steps("equil_steps", equil_steps, 0)
    steps = _steps("steps", steps, 20 * every)
    lmp.command("run 0 post no")
    static = float(lmp.get_thermo("pe"))
    for t in range(1, len(species) + 1):
        lmp.command(f"compute qfe_msd{t} qfe_t{t} msd com yes")
    lmp.command("fix qfe_nve all nve")
    lmp.command(f"velocity all create {float(temperature)!r} {int(seed)} dist gaussian "
                "mom yes rot no")
    set_langevin(lmp, temperature, settings, seed + 1)
    if equil_steps:
        lmp.command(f"run {equil_steps} post no")
        if progress is not None:
            progress(equil_steps)
    exprs = ["pe", "temp"] + [f"c_qfe_msd{t}[4]" for t in range(1, len(species) + 1)]
    data = run_recorded(lmp, steps, every, exprs, progress=progress)
    for t in range(1, len(species) + 1):
        lmp.command(f"uncompute qfe_msd{t}")
    msd, msd_err = [], []
    for j in range(len(species)):
        series = data[:, 3 + j]
        half = len(series) // 2
        m, e = _block(series)
        msd.append(m)
        msd_err.append(e)
        # a crystal's MSD about its sites plateaus; diffusion (melting, a wrong structure)
        # makes it grow without bound
        if series[half:].mean() > 1.5 * series[:half].mean() + 5 * e:
            raise RuntimeError(
                f"the mean squared displacement of {species[j]} keeps growing "
                f"({series[:half].mean():.4g} -> {series[half:].mean():.4g} A^2): the crystal "
                f"is not stable at {temperature} K (melting or diffusion); the Frenkel-Ladd "
                "route needs a solid")
    pe, pe_err = _block(data[:, 1])
    return {"msd": msd, "msd_error": msd_err, "potential_energy": pe,
            "potential_energy_error": pe_err, "static_energy": static,
            "temperature_mean": float(np.mean(data[:, 2]))}


def _block(x, n_blocks: int = 10):
    from qfe.classical.thermo import block_average

    return block_average(x, n_blocks)


@dataclass
class NPTResult:
    """Averages of a Langevin + ``fix nph`` run.  Energies eV (total), volume A^3, cell A
    (rows = lattice vectors in the LAMMPS frame), pressure GPa."""

    temperature: float
    pressure: float
    natoms: int
    volume: float
    volume_error: float
    potential_energy: float
    potential_energy_error: float
    enthalpy: float
    enthalpy_error: float
    cell: np.ndarray
    pressure_mean: float
    temperature_mean: float
    steps: int

    def per_atom(self) -> dict:
        n = self.natoms
        return {"volume_A3_per_atom": self.volume / n,
                "volume_error_A3_per_atom": self.volume_error / n,
                "enthalpy_eV_per_atom": self.enthalpy / n,
                "enthalpy_error_eV_per_atom": self.enthalpy_error / n,
                "potential_energy_eV_per_atom": self.potential_energy / n}

    def to_dict(self) -> dict:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
             for k, v in self.__dict__.items()}
        d.update(self.per_atom())
        d["units"] = "eV, A, A^3, K, GPa (totals unless *_per_atom)"
        from qfe.classical.thermo import json_safe

        return json_safe(d)


def npt_average(lmp, temperature: float, pressure_gpa: float, settings: MDSettings, *,
                equil_steps: int, steps: int, seed: int, barostat: str = "iso",
                every: int = 10, progress=None) -> NPTResult:
    """Langevin thermostat + ``fix nph`` barostat at (T, P) from the current configuration:
    mean volume, cell (mean box lengths and tilts, scaled to the mean volume), potential
    energy and enthalpy H = 3N kT/2 + <U> + P <V> (classical
    kinetic energy of all 3N momenta, the convention of :mod:`qfe.classical.thermo`), with
    block-average standard errors.  ``barostat``: ``iso`` (cubic cells), ``aniso`` (three
    lengths) or ``tri`` (full cell, triclinic box)."""
    if barostat not in ("iso", "aniso", "tri"):
        raise ValueError(f"barostat must be iso, aniso or tri, got {barostat!r}")
    equil_steps = _steps("equil_steps", equil_steps, 0)
    steps = _steps("steps", steps, 20 * every)
    if not np.isfinite(pressure_gpa):
        raise ValueError(f"pressure must be finite (GPa), got {pressure_gpa!r}")
    p_bar = float(pressure_gpa) / BAR_TO_GPA
    natoms = int(lmp.get_natoms())
    lmp.command(f"velocity all create {float(temperature)!r} {int(seed)} dist gaussian "
                "mom yes rot no")
    lmp.command(f"fix qfe_nph all nph {barostat} {p_bar!r} {p_bar!r} "
                f"{settings.pressure_damping!r}")
    set_langevin(lmp, temperature, settings, seed + 1)
    if equil_steps:
        lmp.command(f"run {equil_steps} post no")
        if progress is not None:
            progress(equil_steps)
    exprs = ["vol", "pe", "press", "temp", "lx", "ly", "lz", "xy", "xz", "yz"]
    data = run_recorded(lmp, steps, every, exprs, progress=progress)
    lmp.command("unfix qfe_nph")
    lmp.command("unfix qfe_langevin")
    vol, vol_err = _block(data[:, 1])
    pe, pe_err = _block(data[:, 2])
    p_ev_a3 = float(pressure_gpa) / EV_PER_A3_TO_GPA
    h_series = data[:, 2] + p_ev_a3 * data[:, 1]
    h_mean, h_err = _block(h_series)
    h_mean += 1.5 * natoms * KB * float(temperature)
    lx, ly, lz, xy, xz, yz = (float(np.mean(data[:, c])) for c in range(5, 11))
    cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
    cell *= (vol / abs(np.linalg.det(cell))) ** (1.0 / 3.0)   # mean shape at the mean volume
    return NPTResult(temperature=float(temperature), pressure=float(pressure_gpa),
                     natoms=natoms, volume=vol, volume_error=vol_err, potential_energy=pe,
                     potential_energy_error=pe_err, enthalpy=h_mean, enthalpy_error=h_err,
                     cell=cell, pressure_mean=float(np.mean(data[:, 3])) * BAR_TO_GPA,
                     temperature_mean=float(np.mean(data[:, 4])), steps=steps)
