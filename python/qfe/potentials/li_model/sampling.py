"""Configurations for the default Li model: lattices, phonon displacements, strains, MD.

All structures are bcc / fcc / hcp lithium supercells (ideal c/a for hcp) at given volumes per
atom.  MD snapshots come from Langevin dynamics with the Li SNAP teacher in LAMMPS.  Every
random choice draws from generators seeded by the build seed (``numpy.random.SeedSequence``).
"""

from __future__ import annotations

import numpy as np

from qfe.potentials.li_model.settings import BuildSettings

KINDS = ("lattice", "displaced", "strained", "md")


def lattice_constant(phase: str, volume: float) -> float:
    """Cubic (bcc, fcc) or in-plane (hcp, ideal c/a) lattice constant in A for a volume per
    atom in A^3."""
    if phase == "bcc":
        return (2.0 * volume) ** (1.0 / 3.0)
    if phase == "fcc":
        return (4.0 * volume) ** (1.0 / 3.0)
    if phase == "hcp":
        return (np.sqrt(2.0) * volume) ** (1.0 / 3.0)     # V = a^3 / sqrt(2) at c/a = sqrt(8/3)
    raise ValueError(f"unknown phase {phase!r}; expected bcc, fcc or hcp")


def lithium_crystal(phase: str, volume: float, supercell=(1, 1, 1)):
    """ASE Atoms of a perfect Li crystal (conventional cubic cell for bcc/fcc)."""
    from ase.build import bulk

    a = lattice_constant(phase, volume)
    if phase == "hcp":
        atoms = bulk("Li", "hcp", a=a, c=a * np.sqrt(8.0 / 3.0))
    else:
        atoms = bulk("Li", phase, a=a, cubic=True)
    atoms = atoms.repeat(tuple(int(k) for k in supercell))
    assert abs(atoms.get_volume() / len(atoms) - volume) < 1e-8 * volume
    return atoms


def _stable_key(*parts) -> list[int]:
    """Integers derived from strings without Python's salted hash (reproducible)."""
    import zlib

    return [zlib.crc32(str(p).encode()) for p in parts]


def rng_for(settings: BuildSettings, *parts) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([settings.seed, *_stable_key(*parts)]))


def static_configurations(settings: BuildSettings, phase: str) -> dict:
    """Perfect lattices, random displacements and strained cells of one phase.

    Returns {kind: {"positions": (M,N,3), "cells": (M,3,3), "volume": (M,), "temperature":
    (M,)}} for kinds lattice, displaced, strained.
    """
    sc = settings.supercells[phase]
    out = {}
    pos, cells, vols = [], [], []
    for v in settings.lattice_volumes:
        atoms = lithium_crystal(phase, v, sc)
        pos.append(atoms.positions)
        cells.append(np.array(atoms.cell))
        vols.append(v)
    out["lattice"] = _pack(pos, cells, vols)

    pos, cells, vols = [], [], []
    for v in settings.volumes:
        atoms = lithium_crystal(phase, v, sc)
        rng = rng_for(settings, "displaced", phase, v)
        for sigma in settings.displacement_sigmas:
            for _ in range(settings.displaced_per_sigma):
                disp = rng.normal(scale=sigma, size=atoms.positions.shape)
                disp -= disp.mean(axis=0)
                pos.append(atoms.positions + disp)
                cells.append(np.array(atoms.cell))
                vols.append(v)
    out["displaced"] = _pack(pos, cells, vols)

    pos, cells, vols = [], [], []
    for v in settings.volumes:
        atoms = lithium_crystal(phase, v, sc)
        rng = rng_for(settings, "strained", phase, v)
        for _ in range(settings.strained_per_volume):
            eps = rng.uniform(-settings.max_strain, settings.max_strain, size=(3, 3))
            deform = np.eye(3) + 0.5 * (eps + eps.T)
            disp = rng.normal(scale=settings.strain_displacement_sigma, size=atoms.positions.shape)
            pos.append((atoms.positions + disp) @ deform)
            cells.append(np.array(atoms.cell) @ deform)
            vols.append(abs(np.linalg.det(cells[-1])) / len(atoms))
    out["strained"] = _pack(pos, cells, vols)
    return out


def _pack(pos, cells, vols, temps=None) -> dict:
    n = len(pos)
    return {"positions": np.asarray(pos, dtype=float), "cells": np.asarray(cells, dtype=float),
            "volume": np.asarray(vols, dtype=float),
            "temperature": np.zeros(n) if temps is None else np.asarray(temps, dtype=float)}


def md_tasks(settings: BuildSettings) -> list[dict]:
    """One Langevin MD run per (phase, volume, temperature), each with its own seed."""
    tasks = []
    for phase in settings.phases:
        for v in settings.volumes:
            for t in settings.md_temperatures:
                # LAMMPS seeds are <= 9e8
                seed = int(rng_for(settings, "md", phase, v, t).integers(1, 800_000_000))
                tasks.append({"phase": phase, "volume": float(v), "temperature": float(t),
                              "seed": seed, "name": f"md_{phase}_{v:g}_{t:g}"})
    return tasks


_WORKER_POTENTIALS: dict = {}


def run_md_task(task: dict, settings: BuildSettings) -> dict:
    """Langevin MD with the SNAP teacher; returns snapshots (positions, cells, ...)."""
    from qfe.potentials.lammps_potential import lammps_frame, lithium_snap_potential

    phase = task["phase"]
    atoms = lithium_crystal(phase, task["volume"], settings.supercells[phase])
    key = (phase, len(atoms))
    pot = _WORKER_POTENTIALS.get(key)
    if pot is None:
        pot = _WORKER_POTENTIALS[key] = lithium_snap_potential(atoms)
    cell = np.array(atoms.cell)
    pot.compute(atoms.positions, cell)            # loads box and positions into LAMMPS
    q, _ = lammps_frame(cell)
    lmp = pot.lmp
    t = task["temperature"]
    for cmd in [
        f"velocity all create {2.0 * t!r} {task['seed']} dist gaussian mom yes rot no",
        "fix qfe_md_nve all nve",
        f"fix qfe_md_bath all langevin {t!r} {t!r} {settings.md_langevin_damping!r} "
        f"{task['seed'] + 1} zero yes",
        f"timestep {settings.md_timestep!r}",
        f"run {settings.md_equilibration_steps} post no",
    ]:
        lmp.command(cmd)
    pos = []
    for _ in range(settings.md_snapshots):
        lmp.command(f"run {settings.md_snapshot_interval} post no")
        x = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(len(atoms), 3)
        pos.append(x @ q.T)
    lmp.command("unfix qfe_md_bath")
    lmp.command("unfix qfe_md_nve")
    n = len(pos)
    return {"name": task["name"], "phase": phase,
            **_pack(pos, [cell] * n, [task["volume"]] * n, [t] * n)}


def _md_worker(args):
    task, settings_dict = args
    return run_md_task(task, BuildSettings.from_dict(settings_dict))
