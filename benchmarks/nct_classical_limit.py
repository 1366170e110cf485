"""NCT in its classical limit against Frenkel-Ladd thermodynamic integration (issue 17).

Both engines on the same crystal and potential: bcc Li, 54 atoms, 19.2 A^3/atom, qfe's
default model.  NCT runs with every mass scaled by ``s`` (hbar w / kT <= ~0.6 for the stiffest
mode), which makes its F classical up to small, known corrections:

    F_cl(m) = F_NCT(s m) - dF_WK - dF_K + (kT / 2) (3N - 3) ln(s)

- dF_WK = sum_k (hbar w_k)^2 / (24 kT) at mass s m (signed w_k^2: the 12 imaginary Gamma
  modes of this cell count negatively): the leading Wigner-Kirkwood quantum correction; the
  next term is -(hbar w / kT)^4 kT / 2880 per mode, below 5e-5 meV/atom here;
- dF_K = sum_k [F_K(|w_k|) - F(|w_k|)] (harmonic): NCT's occupations stop at K levels;
- (kT/2) ln(s) per vibrational mode converts the classical F from mass s m back to m.

F_cl(m) is compared with the Frenkel-Ladd F of `benchmarks/classical_li.py` over the same
3N - 3 modes (``free_energy_vibrational``: F minus the free translation of the whole crystal).
NCT is variational, so F_NCT - F_FL >= 0 up to errors; the difference measures what the flow
has not learned of the classical anharmonicity.

    python benchmarks/nct_classical_limit.py 100 --scale 64 --steps 400      (~30 min)
    python benchmarks/nct_classical_limit.py 300 --scale 8 --steps 400

Frenkel-Ladd values come from benchmarks/results/classical_li_bcc_T<T>.json (make them with
``python benchmarks/classical_li.py bcc <T>``).  Output: a table on stdout and
benchmarks/results/nct_classical_limit_T<T>.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
VOLUME = 19.2


def frenkel_ladd_vibrational(temperature: float) -> tuple[float, float]:
    """(F, error) meV/atom over the 3N - 3 modes from the stored Frenkel-Ladd run."""
    from ase.data import atomic_masses

    from qfe.classical.thermo import com_translation_free_energy

    path = RESULTS / f"classical_li_bcc_T{temperature:g}.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run python benchmarks/classical_li.py bcc "
                         f"{temperature:g}")
    d = json.loads(path.read_text())
    n = d["natoms"]
    # the free translation of the whole crystal is part of the Frenkel-Ladd F (older result
    # files do not list it separately; it follows from V, the total mass and N_t)
    f_trans = d.get("com_translation")
    if f_trans is None:
        f_trans = com_translation_free_energy(d["volume"], n * float(atomic_masses[3]),
                                              temperature, d["n_translations"])
    return (1e3 * (d["free_energy_per_atom"] - f_trans / n),
            1e3 * d["free_energy_error_per_atom"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("temperature", type=float)
    ap.add_argument("--scale", type=float, default=64.0, help="mass scale s")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--levels", type=int, default=48)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--output", default=None, help="NCT checkpoint directory")
    args = ap.parse_args()

    import qfe.nct
    from qfe import units
    from qfe.nct.phonons import bcc_lithium, crystal_system
    from qfe.nct.system import harmonic_oscillator_free_energy

    t = args.temperature
    atoms = bcc_lithium(3, a=(2 * VOLUME) ** (1 / 3))
    n = len(atoms)
    pot = qfe.nct.make_potential("default", atoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the imaginary Gamma modes are known
        system = crystal_system(pot, atoms, masses=atoms.get_masses() * args.scale)
    kt = units.KB * t
    hw = system.hbar_omega
    sign = np.where(system.imaginary, -1.0, 1.0)
    x = hw / kt
    print(f"T = {t:g} K, mass scale {args.scale:g}: hbar w / kT from {x.min():.3f} to "
          f"{x.max():.3f}, {int(system.imaginary.sum())} imaginary modes, K = {args.levels}")
    d_wk = float(np.sum(sign * hw**2) / (24 * kt))
    d_k = (harmonic_oscillator_free_energy(hw, kt, args.levels)
           - harmonic_oscillator_free_energy(hw, kt))
    d_mass = 0.5 * kt * system.n_modes * np.log(args.scale)
    out = args.output or str(RESULTS.parent / f".nct_classical_T{t:g}")
    t0 = time.perf_counter()
    r = qfe.nct.run_system(system, temperature=t, steps=args.steps, batch_size=args.batch_size,
                           n_levels=args.levels, eval_batches=args.eval_batches,
                           compute_stress=False, output_dir=out, progress=True)
    wall = time.perf_counter() - t0
    f_nct, f_err = (v * 1e3 / n for v in r.thermo["F"])
    f_cl = f_nct + 1e3 / n * (-d_wk - d_k + d_mass)
    f_fl, f_fl_err = frenkel_ladd_vibrational(t)
    diff, diff_err = f_cl - f_fl, float(np.hypot(f_err, f_fl_err))
    rows = [("NCT F at mass s m", f_nct, f_err),
            ("- Wigner-Kirkwood dF_WK", -1e3 * d_wk / n, 0.0),
            ("- K-level truncation dF_K", -1e3 * d_k / n, 0.0),
            ("+ (kT/2)(3N-3) ln s", 1e3 * d_mass / n, 0.0),
            ("= NCT classical F(m)", f_cl, f_err),
            ("Frenkel-Ladd F(m), 3N-3 modes", f_fl, f_fl_err),
            ("NCT - Frenkel-Ladd", diff, diff_err)]
    for name, v, e in rows:
        print(f"  {name:<32} {v:14.4f} +- {e:.4f} meV/atom")
    print(f"  difference / combined error: {diff / diff_err:.2f}; NCT training {wall:.0f} s, "
          f"{r.convergence.get('steps_used')} steps, converged "
          f"{r.convergence.get('converged')}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"nct_classical_limit_T{t:g}.json"
    path.write_text(json.dumps({
        "temperature_K": t, "mass_scale": args.scale, "natoms": n,
        "volume_A3_per_atom": VOLUME, "steps": args.steps, "batch_size": args.batch_size,
        "n_levels": args.levels, "hbar_w_over_kT": [float(x.min()), float(x.max())],
        "terms_meV_per_atom": {name: [v, e] for name, v, e in rows},
        "difference_over_error": diff / diff_err, "wall_s": wall,
        "convergence": r.convergence}, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
