"""LaH10 under the offline teachers (qfe.teachers): Fm-3m equation of state, distances, cubic vs
distorted enthalpy and Gamma phonons.  Needs the optional extra (requirements/lah10.txt); not
part of `make bench` when the extra is absent (exits 0 with a message).

    python benchmarks/lah10_teachers.py chgnet sevennet-0 [--pressures 100,150,200,250,300]
        [--distort 150,250] [--phonons 150,250]

For every teacher and pressure P (GPa): the 11-atom primitive Fm-3m cell relaxed at P with
Fm-3m kept (ASE FixSymmetry + FrechetCellFilter(scalar_pressure=P), BFGS, fmax 5e-3 eV/A,
stress converged through the filter); reported: conventional a (A), 32f x, H-H and La-H
distances, enthalpy per LaH10.  --distort: the 44-atom conventional cell, strained
(F = I + 0.02 (11^T) + 0.01 random) and with 0.05 A random H displacements, relaxed at P without
symmetry (--distort-cell primitive: the same in the 11-atom primitive cell); the space group
(spglib, 0.05 A), enthalpy relative to the cubic cell and the cage angle theta of the result.
--phonons: Gamma frequencies of the relaxed primitive cell by central finite differences
(0.01 A); imaginary modes printed as negative THz.
Results: benchmarks/results/lah10_teachers_<teacher>.txt (appended).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from qfe.teachers import available_teachers, get_teacher  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results")


def _out(fh, msg):
    print(msg, flush=True)
    fh.write(msg + "\n")
    fh.flush()


def relax(atoms, calc, p_gpa, keep_symmetry, fmax=5e-3, steps=150):
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from ase.units import GPa

    at = atoms.copy()
    at.calc = calc
    if keep_symmetry:
        at.set_constraint(FixSymmetry(at, symprec=1e-3))
    filt = FrechetCellFilter(at, scalar_pressure=p_gpa * GPa)
    opt = BFGS(filt, logfile=None)
    converged = opt.run(fmax=fmax, steps=steps)
    at.set_constraint()
    return at, bool(converged), opt.nsteps


def enthalpy_per_fu(at, p_gpa):
    from ase.units import GPa

    n_fu = at.get_chemical_symbols().count("La")
    return (at.get_potential_energy() + p_gpa * GPa * at.get_volume()) / n_fu


def describe_cubic(at):
    """a (conventional, from the volume), x (from the cube edge) and the shortest distances."""
    n_la = at.get_chemical_symbols().count("La")
    a = (4 * at.get_volume() / n_la) ** (1 / 3)
    big = at.repeat(2)
    d = big.get_all_distances(mic=True)
    sym = np.array(big.get_chemical_symbols())
    hh = d[np.ix_(sym == "H", sym == "H")]
    hh = np.sort(hh[hh > 1e-6])
    lah = np.sort(d[np.ix_(sym == "La", sym == "H")].ravel())
    shells_hh = np.unique(np.round(hh[hh < 1.5], 4))
    shells_lah = np.unique(np.round(lah[lah < 2.6], 4))
    # x from the La-H(32f) distance: a^2 (2x^2 + (1/2 - x)^2) = d^2, root in (0, 1/4)
    d32 = shells_lah[0]
    disc = 1 - 12 * (0.25 - d32 ** 2 / a ** 2)
    x = (1 - np.sqrt(disc)) / 6 if disc >= 0 else float("nan")
    return a, x, shells_hh, shells_lah


def gamma_phonons(at, calc, delta=0.01):
    from ase.units import _amu, _e

    at = at.copy()
    at.calc = calc
    n = len(at)
    pos0 = at.get_positions().copy()
    hess = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for c in range(3):
            fs = []
            for s in (+1, -1):
                p = pos0.copy()
                p[i, c] += s * delta
                at.set_positions(p)
                fs.append(at.get_forces().ravel())
            hess[3 * i + c] = -(fs[0] - fs[1]) / (2 * delta)
    at.set_positions(pos0)
    hess = 0.5 * (hess + hess.T)
    m = np.repeat(at.get_masses(), 3)
    dyn = hess / np.sqrt(np.outer(m, m))
    w2 = np.linalg.eigvalsh(dyn)                     # eV / (A^2 amu)
    # omega [rad/s] = sqrt(w2 * e / (1e-20 * amu)); THz = omega / (2 pi 1e12)
    conv = np.sqrt(_e / (1e-20 * _amu)) / (2 * np.pi * 1e12)
    return np.sign(w2) * np.sqrt(np.abs(w2)) * conv


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("teachers", nargs="*", default=["chgnet"],
                    help="teachers of qfe.teachers (default: chgnet, EOS only, as in make bench)")
    ap.add_argument("--pressures", default="100,150,200,250,300")
    ap.add_argument("--distort", default="")
    ap.add_argument("--distort-cell", choices=["conventional", "primitive"],
                    default="conventional",
                    help="cell of the distortion test: 44-atom conventional or 11-atom primitive")
    ap.add_argument("--phonons", default="")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    missing = [t for t in args.teachers if t not in available_teachers()]
    if missing:
        print(f"lah10_teachers: teachers {missing} not installed (requirements/lah10.txt); "
              "nothing to do")
        return 0
    import spglib
    import torch

    from qfe.analysis.cage import cage_angles
    from qfe.lah10 import lah10_fm3m, strained

    torch.set_num_threads(1)
    pressures = [float(p) for p in args.pressures.split(",") if p]
    distort = [float(p) for p in args.distort.split(",") if p]
    phon = [float(p) for p in args.phonons.split(",") if p]
    os.makedirs(RESULTS, exist_ok=True)
    for name in args.teachers:
        teacher = get_teacher(name)
        calc = teacher.calculator()
        with open(os.path.join(RESULTS, f"lah10_teachers_{name}.txt"), "a") as fh:
            _out(fh, f"# {name}: {teacher.level_of_theory}; {time.strftime('%Y-%m-%d %H:%M')} "
                     f"UTC, load {os.getloadavg()[0]:.1f}")
            _out(fh, "# P_GPa  a_A  x_32f  H-H_shells_A  La-H_shells_A  H_eV_per_LaH10  "
                     "steps converged  wall_s")
            cubic = {}
            start = lah10_fm3m(5.10, 0.12, primitive=True)
            for p in pressures:
                t0 = time.time()
                at, ok, nsteps = relax(start, calc, p, keep_symmetry=True)
                a, x, hh, lah = describe_cubic(at)
                h = enthalpy_per_fu(at, p)
                cubic[p] = (at, h)
                sg = spglib.get_spacegroup((at.cell.array, at.get_scaled_positions(),
                                            at.numbers), symprec=1e-3)
                _out(fh, f"{p:6.0f}  {a:.4f}  {x:.4f}  {' '.join(f'{v:.3f}' for v in hh)}  "
                         f"{' '.join(f'{v:.3f}' for v in lah)}  {h:.4f}  {nsteps} {ok}  "
                         f"{time.time() - t0:.0f}  [{sg}]")
                start = at
            rng = np.random.default_rng(args.seed)
            for p in distort:
                t0 = time.time()
                if p not in cubic:
                    at, _, _ = relax(lah10_fm3m(5.10, 0.12, primitive=True), calc, p, True)
                    cubic[p] = (at, enthalpy_per_fu(at, p))
                prim, h_cub = cubic[p]
                a, x, _, _ = describe_cubic(prim)
                conv = lah10_fm3m(a, x, primitive=args.distort_cell == "primitive")
                f = np.eye(3) + 0.02 * np.ones((3, 3)) + 0.01 * rng.standard_normal((3, 3))
                conv = strained(conv, f)
                hmask = np.array(conv.get_chemical_symbols()) == "H"
                conv.positions[hmask] += 0.05 * rng.standard_normal((hmask.sum(), 3))
                res, ok, nsteps = relax(conv, calc, p, keep_symmetry=False, fmax=0.01, steps=250)
                h = enthalpy_per_fu(res, p)
                sg = spglib.get_spacegroup((res.cell.array, res.get_scaled_positions(),
                                            res.numbers), symprec=0.05)
                sym = np.array(res.get_chemical_symbols())
                dh = res.get_all_distances(mic=True)[np.ix_(sym == "H", sym == "H")]
                hh_min = dh[dh > 1e-6].min()
                res.write(os.path.join(RESULTS, f"lah10_{name}_distorted_{p:.0f}GPa_"
                                                f"{len(res)}atoms.extxyz"))
                try:
                    ca = cage_angles(res.repeat(2) if len(res) < 44 else res)
                    theta = f"theta mean {ca.mean:.2f} min {ca.minimum:.2f} deg"
                except ValueError as exc:         # no longer a clathrate: say why
                    theta = f"theta n/a ({exc})"
                _out(fh, f"distorted start ({len(res)} atoms) at {p:.0f} GPa -> {sg}; "
                         f"H - H_cubic = "
                         f"{1000 * (h - h_cub):+.2f} meV/LaH10; shortest H-H {hh_min:.3f} A; "
                         f"{theta}; {nsteps} steps, converged {ok}, "
                         f"{time.time() - t0:.0f} s")
            for p in phon:
                t0 = time.time()
                if p not in cubic:
                    at, _, _ = relax(lah10_fm3m(5.10, 0.12, primitive=True), calc, p, True)
                    cubic[p] = (at, enthalpy_per_fu(at, p))
                nu = gamma_phonons(cubic[p][0], calc)
                _out(fh, f"Gamma phonons at {p:.0f} GPa (THz, negative = imaginary): "
                         f"{' '.join(f'{v:.2f}' for v in nu)}  ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
