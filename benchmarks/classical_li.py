"""Classical F of Li (default qfe model, 19.2 A^3/atom) by Frenkel-Ladd TI, against the
classical harmonic F from the Hessian where the lattice is harmonically stable (the difference
is the classical anharmonic free energy).  bcc Li with this model (and with its SNAP teacher)
has imaginary Gamma frequencies in the 54-atom cell (-1.8 THz): it is stabilised by
anharmonicity, so no harmonic reference exists for it; fcc is stable.

    python benchmarks/classical_li.py bcc|fcc [T ...]    (default: bcc 100 300; ~6 min per T)
    python benchmarks/classical_li.py helmholtz bcc      (after bcc 100 300: F(300 K) again from
                                                          F(100 K) + NVT energies, ~4 min)

bcc: 3x3x3 conventional cells (54 atoms); fcc: 2x2x2 (32 atoms).
Writes benchmarks/results/classical_li_<phase>_T<T>.json per temperature and prints a table.
Settings: 1 fs, Langevin 0.1 ps, MSD 1000 + 2000 steps, t_eq 1000, t_s 4000, 3 repeats.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
             "DP_INTER_OP_PARALLELISM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json
import sys
from pathlib import Path

import numpy as np

VOLUME = 19.2
RESULTS = Path(__file__).resolve().parent / "results"


def harmonic_reference(atoms, model, temperatures):
    """Classical harmonic F (eV/atom) from the finite-difference Hessian of the same LAMMPS
    pair style, at each temperature, and the static energy (eV/atom)."""
    from qfe.classical.frenkel_ladd import lattice_translations
    from qfe.classical.thermo import classical_harmonic_free_energy
    from qfe.potentials.lammps_potential import LammpsPotential
    from qfe.potentials.phonons import frequencies_from_hessian

    pot = LammpsPotential(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                          cell=np.array(atoms.get_cell()),
                          reference_positions=atoms.get_positions(),
                          pair_style=model.pair_style, pair_coeff=model.pair_coeff,
                          extra_commands=model.extra_commands)
    u0 = pot.compute(atoms.get_positions())["energy"]
    nu = frequencies_from_hessian(pot.hessian(atoms.get_positions()), atoms.get_masses())
    pot.close()
    n = len(atoms)
    out = {T: classical_harmonic_free_energy(nu, T, u0, atoms.get_volume(),
                                             float(atoms.get_masses().sum()),
                                             lattice_translations(atoms)) / n
           for T in temperatures}
    return out, u0 / n, nu


def helmholtz_check(phase: str, t_lo: float = 100.0, t_hi: float = 300.0) -> None:
    """F(t_hi) from the Frenkel-Ladd F(t_lo) by integrating fixed-volume NVT energies,
    d(F/T)/dT = -E/T^2, against the Frenkel-Ladd F(t_hi): a second route for the temperature
    dependence that needs no harmonic reference (bcc)."""
    from ase.build import bulk

    from qfe.classical.gibbs import NPTSettings, energy_curve, gibbs_helmholtz
    from qfe.classical.thermo import json_safe

    fl = {t: json.loads((RESULTS / f"classical_li_{phase}_T{t:g}.json").read_text())
          for t in (t_lo, t_hi)}
    per_cell, reps = {"bcc": (2, 3), "fcc": (4, 2)}[phase]
    atoms = bulk("Li", phase, a=(per_cell * VOLUME) ** (1 / 3), cubic=True).repeat(reps)
    temps = list(np.linspace(t_lo, t_hi, 5))
    e = energy_curve(atoms, "default", temps, settings=NPTSettings(equil_steps=1000, steps=4000,
                                                                   seed=99), progress=True)
    curve = gibbs_helmholtz(t_lo, fl[t_lo]["free_energy_per_atom"],
                            fl[t_lo]["free_energy_error_per_atom"], temps,
                            [x["energy_eV_per_atom"] for x in e],
                            [x["energy_error_eV_per_atom"] for x in e], degree=2)
    f_int, f_int_err = float(curve.gibbs(t_hi)), float(curve.gibbs_error(t_hi))
    f_fl, f_fl_err = fl[t_hi]["free_energy_per_atom"], fl[t_hi]["free_energy_error_per_atom"]
    diff = 1e3 * (f_int - f_fl)
    sig = 1e3 * float(np.hypot(f_int_err, f_fl_err))
    out = {"phase": phase, "natoms": len(atoms), "energies": e, "curve": curve.to_dict(),
           "F_integrated_eV_per_atom": f_int, "F_integrated_error_eV_per_atom": f_int_err,
           "F_frenkel_ladd_eV_per_atom": f_fl, "F_frenkel_ladd_error_eV_per_atom": f_fl_err,
           "difference_meV_per_atom": diff, "combined_error_meV_per_atom": sig}
    (RESULTS / f"classical_li_{phase}_helmholtz.json").write_text(
        json.dumps(json_safe(out), indent=1))
    for x in e:
        print(f"  E({x['temperature']:g} K) = {x['energy_eV_per_atom']:.6f} +- "
              f"{1e3 * x['energy_error_eV_per_atom']:.3f} meV/atom")
    print(f"{phase}: F({t_hi:g} K) from F({t_lo:g} K) + NVT energy integration = {f_int:.6f} +- "
          f"{1e3 * f_int_err:.3f} meV; Frenkel-Ladd {f_fl:.6f} +- {1e3 * f_fl_err:.3f} meV; "
          f"difference {diff:+.3f} +- {sig:.3f} meV/atom")


def main(argv) -> int:
    from ase.build import bulk

    if argv and argv[0] == "helmholtz":
        helmholtz_check(argv[1] if len(argv) > 1 else "bcc")
        return 0

    from qfe.classical import FrenkelLaddSettings, frenkel_ladd, pair_model
    from qfe.classical.thermo import json_safe

    phase = argv[0] if argv and argv[0] in ("bcc", "fcc") else "bcc"
    argv = argv[1:] if argv and argv[0] in ("bcc", "fcc") else argv
    temperatures = [float(t) for t in argv] or [100.0, 300.0]
    per_cell, reps = {"bcc": (2, 3), "fcc": (4, 2)}[phase]
    a = (per_cell * VOLUME) ** (1 / 3)
    atoms = bulk("Li", phase, a=a, cubic=True).repeat(reps)
    model = pair_model("default", ["Li"])
    try:
        harm, u0, nu = harmonic_reference(atoms, model, temperatures)
    except ValueError as exc:      # imaginary modes: no harmonic reference
        print(f"no harmonic reference for {phase}: {exc}", flush=True)
        harm, u0, nu = {T: float("nan") for T in temperatures}, float("nan"), np.array([np.nan])
    settings = FrenkelLaddSettings(msd_equil_steps=1000, msd_steps=2000, equil_steps=1000,
                                   switch_steps=4000, repeats=3, seed=2026)
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for T in temperatures:
        r = frenkel_ladd(atoms, model, T, settings=settings, progress=True)
        d = r.to_dict()
        d["harmonic_free_energy_eV_per_atom"] = harm[T]
        d["anharmonic_meV_per_atom"] = 1e3 * (r.free_energy_per_atom - harm[T])
        d["static_energy_eV_per_atom"] = u0
        d["min_frequency_THz"] = float(nu.min())
        d["max_frequency_THz"] = float(nu.max())
        path = RESULTS / f"classical_li_{phase}_T{T:g}.json"
        path.write_text(json.dumps(json_safe(d), indent=1))
        rows.append((T, r.free_energy_per_atom, r.free_energy_error_per_atom, harm[T],
                     r.wall_time_s))
        print(r.summary(), flush=True)
    print(f"{phase} Li, default model, {len(atoms)} atoms, {VOLUME} A^3/atom; "
          f"U0 = {u0:.6f} eV/atom")
    print(f"{'T (K)':>7} {'F_FL (eV/atom)':>16} {'+-(meV)':>8} {'F_harm (eV/atom)':>17} "
          f"{'F_FL-F_harm (meV/atom)':>23} {'wall (s)':>9}")
    for T, f, e, h, w in rows:
        print(f"{T:7.1f} {f:16.6f} {1e3 * e:8.3f} {h:17.6f} {1e3 * (f - h):23.3f} {w:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
