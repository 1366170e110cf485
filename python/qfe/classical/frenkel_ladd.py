"""Classical Helmholtz free energy F(V, T) of a crystal by nonequilibrium Frenkel-Ladd
thermodynamic integration in LAMMPS (``fix ti/spring``).

Route (Freitas, Asta, de Koning, Comput. Mater. Sci. 112, 333 (2016)):

1. Langevin NVT at the given cell from the lattice sites: mean squared displacement per
   element -> Einstein spring constants k = 3 kT / <|u|^2>.
2. For each of ``repeats`` independent seeds: back to the sites, fresh velocities, then
   ``fix ti/spring k t_s t_eq function 2``: t_eq steps at lambda = 0, switching to the
   Einstein crystal in t_s steps along lambda(tau) = tau^5 (70 tau^4 - 315 tau^3 + 540 tau^2
   - 420 tau + 126), t_eq steps at lambda = 1, switching back.  H(lambda) = (1 - lambda) U +
   lambda U_E, dH/dlambda = U_E - U is recorded every step; the forward and backward works
   W_f, W_b give Delta F = F - F_E(cm) = (W_b - W_f) / 2 (the dissipation (W_f + W_b) / 2
   cancels to first order).
3. F = F_E + Delta F_CM + Delta F, with the exact classical Einstein F_E and the centre-of-mass
   correction of :mod:`qfe.classical.thermo`; the error bar is the standard error of the
   repeats.

The total momentum is zero throughout (the fixed-COM ensemble); the springs are tethered to
the lattice sites (the given positions, after an optional relaxation at fixed cell).

Units: eV, A, K, ps, amu; results per atom in eV/atom (and meV/atom in ``to_dict``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from qfe.classical.md import MDSettings, nvt_msd, reset_to_sites, run_recorded, set_langevin
from qfe.classical.model import PairModel, start_lammps
from qfe.classical.thermo import (
    com_translation_free_energy,
    einstein_com_correction,
    einstein_free_energy,
    json_safe,
    spring_constant_from_msd,
    switching_work,
)
from qfe.units import EV_TO_MEV

__all__ = ["FrenkelLaddSettings", "FrenkelLaddResult", "frenkel_ladd", "lattice_translations",
           "prepare_structure"]


@dataclass
class FrenkelLaddSettings:
    """Run lengths (steps) and sampling of one Frenkel-Ladd calculation.

    msd_equil_steps, msd_steps : NVT equilibration / sampling for the spring constants
    equil_steps (t_eq), switch_steps (t_s) : the ``fix ti/spring`` schedule
    repeats : independent forward+backward switchings (different seeds); >= 2 for an error bar
    seed    : base random seed (repeat r uses seed + 10 r)
    spring_constant : eV/A^2, skip the MSD run and use this for every element
    relax   : minimise the positions at fixed cell first (sites = static minimum)
    """

    msd_equil_steps: int = 2000
    msd_steps: int = 5000
    equil_steps: int = 2000
    switch_steps: int = 10000
    repeats: int = 4
    seed: int = 12345
    spring_constant: float | None = None
    relax: bool = True
    md: MDSettings = field(default_factory=MDSettings)

    def __post_init__(self):
        for name in ("msd_equil_steps", "equil_steps"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("msd_steps", "switch_steps", "repeats", "seed"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.spring_constant is not None and not self.spring_constant > 0:
            raise ValueError(f"spring_constant must be positive (eV/A^2), got "
                             f"{self.spring_constant!r}")
        if isinstance(self.md, dict):
            self.md = MDSettings(**self.md)

    def total_steps(self) -> int:
        msd = 0 if self.spring_constant is not None else self.msd_equil_steps + self.msd_steps
        return msd + self.repeats * 2 * (self.equil_steps + self.switch_steps)


@dataclass
class FrenkelLaddResult:
    """F(V, T) of one structure.  Totals in eV unless the name says per atom."""

    temperature: float
    natoms: int
    volume: float                    # A^3
    species: list
    spring_constants: dict           # element -> eV/A^2
    free_energy_per_atom: float      # eV/atom
    free_energy_error_per_atom: float    # eV/atom (standard error of the repeats)
    einstein_free_energy: float      # eV, F_E
    com_correction: float            # eV, Delta F_CM
    repeats_delta_f: list            # eV, (W_b - W_f)/2 per repeat
    repeats_dissipation: list        # eV, (W_f + W_b)/2 per repeat
    static_energy: float             # eV, U at the sites
    mean_potential_energy: float     # eV, <U> in the NVT run (nan with a given k)
    n_translations: int
    com_translation: float           # eV, -kT ln[(V/N_t)/Lambda_M^3] (part of F)
    potential: dict
    settings: dict
    wall_time_s: float

    @property
    def free_energy(self) -> float:
        return self.free_energy_per_atom * self.natoms

    def to_dict(self) -> dict:
        d = asdict(self)
        d["free_energy_meV_per_atom"] = EV_TO_MEV * self.free_energy_per_atom
        d["free_energy_error_meV_per_atom"] = EV_TO_MEV * self.free_energy_error_per_atom
        d["volume_A3_per_atom"] = self.volume / self.natoms
        # F without the free translation of the whole crystal: the convention of theories
        # over the 3N - 3 vibrational modes (harmonic, SCHA, NCT in its classical limit)
        d["free_energy_vibrational_eV_per_atom"] = (self.free_energy_per_atom
                                                    - self.com_translation / self.natoms)
        d["dissipation_meV_per_atom"] = (EV_TO_MEV * float(np.mean(self.repeats_dissipation))
                                         / self.natoms)
        d["units"] = ("energies eV (totals) unless *_per_atom / *_meV_per_atom; volume A^3; "
                      "spring constants eV/A^2; T K")
        d["method"] = ("Frenkel-Ladd nonequilibrium TI to an Einstein crystal (LAMMPS fix "
                       "ti/spring, function 2, fixed centre of mass); Freitas, Asta, de Koning, "
                       "Comput. Mater. Sci. 112, 333 (2016)")
        return json_safe(d)

    def summary(self) -> str:
        ks = ", ".join(f"{s}: {k:.4g}" for s, k in self.spring_constants.items())
        return (f"F({self.temperature:g} K, {self.volume / self.natoms:.4f} A^3/atom) = "
                f"{self.free_energy_per_atom:.6f} +- {self.free_energy_error_per_atom:.6f} "
                f"eV/atom ({EV_TO_MEV * self.free_energy_error_per_atom:.3f} meV/atom, "
                f"{len(self.repeats_delta_f)} repeats); k [eV/A^2] {ks}; dissipation "
                f"{EV_TO_MEV * np.mean(self.repeats_dissipation) / self.natoms:.3f} meV/atom")


def lattice_translations(atoms) -> int:
    """Number of pure lattice translations of the structure inside its cell (N / atoms in the
    primitive cell, from spglib; N when spglib finds no symmetry)."""
    import warnings

    try:
        import spglib

        cell = (np.array(atoms.get_cell()), atoms.get_scaled_positions(),
                atoms.get_atomic_numbers())
        with warnings.catch_warnings():     # spglib's notice about its error handling
            warnings.simplefilter("ignore", DeprecationWarning)
            prim = spglib.find_primitive(cell, symprec=1e-3)
    except Exception:       # spglib raises its own error types when it finds no cell
        prim = None
    if prim is None:
        return len(atoms)
    n_prim = len(prim[2])
    if len(atoms) % n_prim:
        return len(atoms)
    return len(atoms) // n_prim


def prepare_structure(structure, *, volume_per_atom=None, supercell=None):
    """ASE Atoms from a structure (file or Atoms), optionally repeated (``supercell``: int or
    3 ints) and scaled isotropically to ``volume_per_atom`` (A^3)."""
    from qfe.structures import load_structure

    atoms = load_structure(structure)
    if len(atoms) == 0:
        raise ValueError("the structure has no atoms")
    if supercell is not None:
        reps = [supercell] * 3 if np.isscalar(supercell) else list(supercell)
        if len(reps) != 3 or any(int(r) != r or r < 1 for r in reps):
            raise ValueError(f"supercell must be 3 positive integers, got {supercell!r}")
        atoms = atoms.repeat([int(r) for r in reps])
    if volume_per_atom is not None:
        if not volume_per_atom > 0:
            raise ValueError(f"volume per atom must be positive (A^3), got {volume_per_atom!r}")
        scale = (volume_per_atom * len(atoms) / atoms.get_volume()) ** (1.0 / 3.0)
        atoms.set_cell(np.array(atoms.get_cell()) * scale, scale_atoms=True)
    return atoms


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None, (lambda n: None)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True)
    return bar, bar.update


def frenkel_ladd(structure, potential, temperature: float, *, settings=None,
                 volume_per_atom=None, supercell=None, progress: bool = False,
                 log=None) -> FrenkelLaddResult:
    """Classical F(V, T) of ``structure`` (file or Atoms) with ``potential`` (a
    :class:`~qfe.classical.model.PairModel` or a spec for
    :func:`~qfe.classical.model.pair_model`) at ``temperature`` (K).  The cell is the
    structure's (after ``supercell`` and ``volume_per_atom`` scaling).  See the module doc."""
    from qfe.classical.model import pair_model

    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive (K), got {temperature!r}")
    settings = settings or FrenkelLaddSettings()
    if isinstance(settings, dict):
        settings = FrenkelLaddSettings(**settings)
    atoms = prepare_structure(structure, volume_per_atom=volume_per_atom, supercell=supercell)
    model = potential if isinstance(potential, PairModel) else pair_model(
        potential, list(dict.fromkeys(atoms.get_chemical_symbols())))
    t = float(temperature)
    start = time.perf_counter()
    lmp, species = start_lammps(atoms, model, timestep=settings.md.timestep, log=log)
    bar, tick = _progress_bar(settings.total_steps(), f"Frenkel-Ladd {t:g} K", progress)
    try:
        if settings.relax and len(atoms) > 1:
            lmp.command("min_style cg")
            lmp.command("minimize 0.0 1.0e-6 2000 20000")
        sites = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)
        types = np.array(lmp.gather_atoms("type", 0, 1), dtype=int)
        masses_by_type = np.array(lmp.numpy.extract_atom("mass"))[1:]
        masses = masses_by_type[types - 1]
        if settings.spring_constant is None:
            nvt = nvt_msd(lmp, species, t, settings.md, equil_steps=settings.msd_equil_steps,
                          steps=settings.msd_steps, seed=settings.seed, progress=tick)
            k_by_type = [spring_constant_from_msd(m, t) for m in nvt["msd"]]
            static, mean_pe = nvt["static_energy"], nvt["potential_energy"]
            lmp.command("unfix qfe_langevin")
        else:
            lmp.command("run 0 post no")
            static = float(lmp.get_thermo("pe"))
            mean_pe = float("nan")
            lmp.command("fix qfe_nve all nve")
            k_by_type = [float(settings.spring_constant)] * len(species)
        k_atoms = np.array(k_by_type)[types - 1]
        volume = float(atoms.get_volume())
        n_trans = lattice_translations(atoms)
        f_e = einstein_free_energy(k_atoms, masses, t)
        f_cm = einstein_com_correction(k_atoms, masses, t, volume, n_trans)
        t_eq, t_sw = settings.equil_steps, settings.switch_steps
        delta_f, dissipation = [], []
        present = [i for i in range(len(species)) if np.any(types == i + 1)]
        for r in range(settings.repeats):
            seed = settings.seed + 10 * (r + 1)
            reset_to_sites(lmp, sites, t, seed)
            if lmp.has_id("fix", "qfe_langevin"):
                lmp.command("unfix qfe_langevin")
            for i in present:           # before the thermostat: its forces stay unscaled
                lmp.command(f"fix qfe_ti{i + 1} qfe_t{i + 1} ti/spring {k_by_type[i]!r} "
                            f"{t_sw} {t_eq} function 2")
            set_langevin(lmp, t, settings.md, seed + 1)
            u_e = " + ".join(f"f_qfe_ti{i + 1}" for i in present)
            data = run_recorded(lmp, 2 * (t_eq + t_sw), 1,
                                [f"f_qfe_ti{present[0] + 1}[1]", f"({u_e}) - pe"],
                                progress=tick)
            for i in present:
                lmp.command(f"unfix qfe_ti{i + 1}")
            step, lam, du = data[:, 0], data[:, 1], data[:, 2]
            fwd = (step >= t_eq) & (step <= t_eq + t_sw)
            bwd = (step >= 2 * t_eq + t_sw) & (step <= 2 * t_eq + 2 * t_sw)
            if abs(lam[fwd][-1] - 1.0) > 1e-9 or abs(lam[bwd][-1]) > 1e-9:
                raise RuntimeError("fix ti/spring did not follow the expected lambda schedule "
                                   f"(lambda {lam[fwd][-1]} / {lam[bwd][-1]} at the ends)")
            w_f = switching_work(lam[fwd], du[fwd])
            w_b = switching_work(lam[bwd], du[bwd])
            delta_f.append(0.5 * (w_b - w_f))
            dissipation.append(0.5 * (w_f + w_b))
    finally:
        if bar is not None:
            bar.close()
        lmp.close()
    n = len(atoms)
    f_tot = f_e + f_cm + np.asarray(delta_f)
    err = float(np.std(f_tot, ddof=1) / np.sqrt(len(f_tot))) if len(f_tot) > 1 else float("nan")
    md = asdict(settings.md)
    sdict = asdict(settings)
    sdict["md"] = md
    return FrenkelLaddResult(
        temperature=t, natoms=n, volume=volume, species=species,
        spring_constants={s: float(k) for s, k in zip(species, k_by_type)},
        free_energy_per_atom=float(np.mean(f_tot)) / n, free_energy_error_per_atom=err / n,
        einstein_free_energy=f_e, com_correction=f_cm,
        repeats_delta_f=[float(x) for x in delta_f],
        repeats_dissipation=[float(x) for x in dissipation], static_energy=static,
        mean_potential_energy=mean_pe, n_translations=n_trans,
        com_translation=com_translation_free_energy(volume, float(np.sum(masses)), t, n_trans),
        potential=model.to_dict(),
        settings=sdict, wall_time_s=time.perf_counter() - start)
