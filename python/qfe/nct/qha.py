"""Quasi-harmonic Gibbs energies with phonopy: the QHA baseline of ``qfe phases``.

    from qfe.nct.qha import quasi_harmonic_gibbs
    r = quasi_harmonic_gibbs(factory, atoms, [100, 200, 300], pressure=1.0)
    r["G"], r["V"]            # meV/atom and A^3/atom per temperature (None where undefined)

G_QHA(T, P) = min_V [E0(V) + F_harm(V, T) + P V]: on a grid of isotropically scaled cells
around the static volume, the static energy E0 and the force constants come from the
potential (exact JAX Hessian; internal coordinates relaxed at each volume when the scaled
structure is not at a minimum), phonopy gives the quantum harmonic F of the cell's Gamma
modes (the simulation cell is phonopy's unit cell, mesh 1x1x1, the three acoustic modes
excluded: the same 3N - 3 modes the NCT engine treats) and ``phonopy.run_qha`` fits
E0 + F_harm + P V over the grid with an equation of state and takes its minimum.

No G is reported at a temperature whose minimum falls outside the volume grid (widen
``volume_range``).  Where some grid volumes have imaginary modes the fit uses the longest
contiguous run of stable ones (the harmonic free energy does not exist elsewhere) and says
so; with fewer than 5 such volumes there is no G (e.g. bcc Li with qfe's built-in model).

Units: K, GPa, meV/atom, A^3/atom.
"""

from __future__ import annotations

import warnings

import numpy as np

from qfe import units


def cell_phonons(potential, atoms, positions=None):
    """A phonopy ``Phonopy`` object for ``atoms`` as its own primitive cell (no supercell),
    with the potential's exact force constants (eV/A^2) and the Gamma-point mesh computed."""
    import jax.numpy as jnp

    n = len(atoms)
    cell = np.asarray(atoms.get_cell())
    x = np.asarray(atoms.get_positions() if positions is None else positions, float)
    potential.prepare(x, cell)
    hessian = np.asarray(potential.hessian(jnp.asarray(x), jnp.asarray(cell)))
    return _phonopy_cell(atoms.get_chemical_symbols(), cell, x, atoms.get_masses(),
                         hessian.reshape(n, 3, n, 3).transpose(0, 2, 1, 3))


def _phonopy_cell(symbols, cell, positions, masses, force_constants):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(symbols=list(symbols), cell=np.asarray(cell),
                        positions=np.asarray(positions), masses=np.asarray(masses))
    phonon = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int), primitive_matrix="P")
    phonon.force_constants = np.asarray(force_constants)
    phonon.run_mesh([1, 1, 1], is_gamma_center=True, is_mesh_symmetry=False)
    return phonon


def volume_grid(factory, atoms, volume_range=(0.95, 1.12), n_volumes: int = 9,
                fmax: float = 1e-4, progress: bool = False) -> dict:
    """Static energies and force constants on isotropically scaled copies of ``atoms``
    (volumes from volume_range[0] to volume_range[1] times its own): the expensive part of
    the QHA, independent of T and P.  Returns {"natoms", "volumes" (A^3 per cell), "E0" (eV
    per cell), "phonons" (phonopy objects), "min_frequency_THz"}; :func:`save_grid` keeps it."""
    import jax.numpy as jnp

    from qfe.nct.quench import quench

    lo, hi = (float(v) for v in volume_range)
    if not 0 < lo < 1 < hi:
        raise ValueError(f"volume_range must bracket 1 as (lo, hi) with 0 < lo < 1 < hi, got "
                         f"{volume_range!r}")
    if int(n_volumes) < 5:
        raise ValueError(f"n_volumes must be >= 5 for an equation-of-state fit, got "
                         f"{n_volumes}")
    cell0 = np.asarray(atoms.get_cell())
    grid = {"natoms": len(atoms), "volumes": [], "E0": [], "phonons": [],
            "min_frequency_THz": []}
    fractions = np.linspace(lo, hi, int(n_volumes))
    if progress:
        from tqdm.auto import tqdm

        fractions = tqdm(fractions, desc="QHA volumes", unit="volume")
    for frac in fractions:
        scaled = atoms.copy()
        scaled.set_cell(cell0 * frac ** (1.0 / 3.0), scale_atoms=True)
        pot = factory(scaled)
        cell = np.asarray(scaled.get_cell())
        x = scaled.get_positions()
        pot.prepare(x, cell)
        force = float(np.max(np.abs(np.asarray(pot.forces(jnp.asarray(x), jnp.asarray(cell))))))
        if force > fmax:
            x, _, _ = quench(pot, x, cell, fmax=fmax)
        pot.prepare(x, cell)
        grid["E0"].append(float(pot.energy(jnp.asarray(x), jnp.asarray(cell))))
        grid["phonons"].append(cell_phonons(pot, scaled, x))
        grid["min_frequency_THz"].append(float(np.min(grid["phonons"][-1].mesh.frequencies)))
        grid["volumes"].append(abs(float(np.linalg.det(cell))))
    return grid


def save_grid(grid: dict, path) -> None:
    """Write a :func:`volume_grid` result to ``path`` (.npz, atomically)."""
    import os

    ph = grid["phonons"]
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, natoms=grid["natoms"], volumes=grid["volumes"], E0=grid["E0"],
             min_frequency_THz=grid["min_frequency_THz"],
             symbols=np.array(ph[0].unitcell.symbols), masses=ph[0].unitcell.masses,
             cells=[p.unitcell.cell for p in ph], positions=[p.unitcell.positions for p in ph],
             force_constants=[p.force_constants for p in ph])
    os.replace(tmp, path)


def load_grid(path) -> dict:
    """Read a grid written by :func:`save_grid`."""
    d = np.load(path)
    phonons = [_phonopy_cell(d["symbols"], c, x, d["masses"], fc)
               for c, x, fc in zip(d["cells"], d["positions"], d["force_constants"])]
    return {"natoms": int(d["natoms"]), "volumes": d["volumes"].tolist(),
            "E0": d["E0"].tolist(), "phonons": phonons,
            "min_frequency_THz": d["min_frequency_THz"].tolist()}


def quasi_harmonic_gibbs(factory, atoms, temperatures, pressure: float,
                         volume_range=(0.95, 1.12), n_volumes: int = 9, eos: str = "vinet",
                         imaginary_tolerance: float = 0.05, fmax: float = 1e-4,
                         grid: dict | None = None) -> dict:
    """Quasi-harmonic G(T) at ``pressure`` (GPa) with phonopy (see module doc).

    ``factory``: atoms -> Potential (rebuilt at every volume); ``atoms``: the structure
    (best at the static volume at ``pressure``, :func:`qfe.nct.phases.static_enthalpy`);
    ``volume_range``: the smallest and largest volume as fractions of the given one;
    ``imaginary_tolerance`` (THz): Gamma frequencies below minus this count as imaginary;
    ``grid``: a :func:`volume_grid` computed before (then factory, atoms, volume_range and
    n_volumes are not used), e.g. to evaluate several pressures.
    Returns {"temperatures", "G" (meV/atom or None), "V" (A^3/atom or None), "volumes",
    "E0" (meV/atom), "min_frequency_THz" per volume, "eos", "message"}.
    """
    from phonopy import run_qha

    temps = np.asarray(sorted(float(t) for t in temperatures))
    if temps.size == 0 or not temps[0] > 0:
        raise ValueError(f"temperatures must be positive K, got {temperatures!r}")
    if grid is None:
        grid = volume_grid(factory, atoms, volume_range, n_volumes, fmax)
    n = grid["natoms"]
    volumes, e0, phonons = list(grid["volumes"]), list(grid["E0"]), list(grid["phonons"])
    min_freq = grid["min_frequency_THz"]
    out = {"temperatures": temps.tolist(), "G": [None] * temps.size, "V": [None] * temps.size,
           "volumes": (np.asarray(volumes) / n).tolist(),
           "E0": (np.asarray(e0) / n * units.EV_TO_MEV).tolist(),
           "min_frequency_THz": min_freq, "eos": eos, "message": ""}
    notes = []
    keep = stable_volumes(min_freq, imaginary_tolerance)
    if keep.stop - keep.start < len(volumes):
        lowest = f"lowest {min(min_freq):.3f} THz at " \
                 f"{out['volumes'][int(np.argmin(min_freq))]:.4f} A^3/atom"
        if keep.stop - keep.start < 5:
            out["message"] = (f"imaginary modes ({lowest}) leave fewer than 5 contiguous "
                              f"stable grid volumes: no quasi-harmonic free energy")
            return out
        notes.append(f"imaginary modes ({lowest}): fitted on the stable volumes "
                     f"{out['volumes'][keep.start]:.3f}-{out['volumes'][keep.stop - 1]:.3f} "
                     f"A^3/atom only")
        volumes, e0, phonons = volumes[keep], e0[keep], phonons[keep]
    # two temperatures above the grid: run_qha consumes the last one in finite differences
    # and needs at least three
    with warnings.catch_warnings():        # out-of-grid minima are reported below instead
        warnings.filterwarnings("ignore", message="Lattice parameters are extrapolated")
        qha = run_qha(phonons, np.append(temps, temps[-1] + np.array([1.0, 2.0])),
                      internal_energies=e0, mesh=[1, 1, 1], pressure=float(pressure),
                      eos=eos, exclude_gamma_acoustic=True)
    g_fit, v_fit = qha.gibbs_free_energies, qha.equilibrium_volumes
    # run_qha drops temperatures where its EOS fit failed
    if not np.array_equal(qha.temperatures[:temps.size], temps):
        out["message"] = "; ".join(notes + [
            f"phonopy's {eos} fit failed at {sorted(set(temps) - set(qha.temperatures))} K; "
            f"try another eos or volume_range"])
        return out
    outside = []
    for i, t in enumerate(temps):
        if not volumes[0] <= v_fit[i] <= volumes[-1]:
            outside.append(float(t))
            continue
        out["V"][i] = float(v_fit[i]) / n
        out["G"][i] = float(g_fit[i]) / n * units.EV_TO_MEV
    if outside:
        notes.append(f"the quasi-harmonic minimum lies outside the fitted volumes "
                     f"{volumes[0] / n:.3f}-{volumes[-1] / n:.3f} A^3/atom at T = {outside} K; "
                     f"widen volume_range")
    out["message"] = "; ".join(notes)
    return out


def stable_volumes(min_frequency_thz, tolerance: float = 0.05) -> slice:
    """The longest contiguous run of grid volumes whose lowest Gamma frequency is above
    -tolerance THz (the QHA exists only there), as a slice."""
    best, start = slice(0, 0), None
    for i, f in enumerate(list(min_frequency_thz) + [-np.inf]):
        if f >= -tolerance and start is None:
            start = i
        elif f < -tolerance and start is not None:
            if i - start > best.stop - best.start:
                best = slice(start, i)
            start = None
    return best
