"""cI16 lithium: Wyckoff x(16c) against volume, static lattice vs quantum (NCT, 100 K), with the
high-pressure DeePMD model dp0 of Zhang et al. (issue 17, item 4).

    python benchmarks/ci16_wyckoff.py --lattice 5.0 5.1 5.2716 --steps 200

For each cubic lattice parameter a (A): the static x from quenching the ideal cI16 sites at
fixed cell; NCT at 100 K started from that static structure, its quantum mean structure's x
(spglib, all 16 atoms) and the space groups of quenched NCT samples.  The experimental point
is Hanfland et al., Nature 408, 174 (2000): a = 5.2716 A at 38.9 GPa, x = 0.055 (as quoted in
the reference structure file ../shared/reference/li-dp/structures/cI16.vasp).
Writes benchmarks/results/ci16_wyckoff.json and ci16_wyckoff.png.

    python benchmarks/ci16_wyckoff.py --static-scan

Static lattice only, on a fine grid of a: x, the static pressure and energy of dp0, compared
with the paper's own cI16 structure at 70 GPa (../shared/reference/li-dp/nct-structures/
Li_dft_cI16_p70.0_struct.cif: a = 4.8818 A, x = 0.0736) and with the experimental point, at
equal volume and at equal pressure.  Writes benchmarks/results/ci16_static_scan.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "li-dp"
HANFLAND = {"a_A": 5.2716, "pressure_GPa": 38.9, "x": 0.055}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lattice", type=float, nargs="+", default=[5.0, 5.1, 5.2716])
    ap.add_argument("--temperature", type=float, default=100.0)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--quench-samples", type=int, default=4)
    ap.add_argument("--reference", default=str(REFERENCE))
    ap.add_argument("--static-scan", action="store_true",
                    help="static x and pressure of dp0 on a grid of a (no NCT)")
    args = ap.parse_args()
    if args.static_scan:
        static_scan(Path(args.reference))
        return

    from ase.io import read

    import qfe.nct
    from qfe.analysis.symmetry import analyze_symmetry
    from qfe.nct.phonons import crystal_system
    from qfe.nct.quench import mean_structure, quench_samples
    from qfe.nct.trainer import Trainer

    ref = Path(args.reference)
    model = ref / "frozen_model_dp0.pb"
    if not model.is_file():
        raise SystemExit(f"{model} not found (pass --reference)")
    base = read(ref / "structures" / "cI16.vasp")
    rows = []
    for a in args.lattice:
        t0 = time.perf_counter()
        static, e, sym_static = static_ci16(model, base, a)
        x_static = sym_static.orbits[0].free_coordinates.get("x")
        # NCT around the static minimum
        pot = qfe.nct.make_potential(str(model), static)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            system = crystal_system(pot, static)
        cfg = qfe.nct.NCTConfig(temperature=args.temperature, steps=args.steps,
                                batch_size=args.batch_size, eval_batches=8, progress=True)
        trainer = Trainer(system, cfg)
        state = trainer.train()
        f_nct = trainer.evaluate(state, 8)["free_energy"]
        mean, err = mean_structure(trainer, state, n_batches=8)
        # the smallest tolerance at which the mean structure is I-43d (its statistical error
        # per coordinate is err; the rms deviation from the ideal sites is reported)
        for symprec in (0.01, 0.02, 0.05, 0.1):
            sym_q = analyze_symmetry(mean, symprec=symprec)
            if sym_q.number == 220:
                break
        x_q = sym_q.orbits[0].free_coordinates.get("x") if sym_q.number == 220 else None
        mean.write(RESULTS / f"ci16_mean_structure_a{a:g}.extxyz")
        # error of x: the 48 mean coordinates' errors over the 3 x 16 projections, in units of a
        x_q_err = float(np.sqrt(np.mean(err**2)) / (a * np.sqrt(3 * len(mean))))
        qs = quench_samples(trainer, state, pot, n_samples=args.quench_samples, fmax=1e-3,
                            symprec=1e-2)
        row = {"a_A": a, "volume_A3_per_atom": a**3 / len(static),
               "static_x": x_static, "static_space_group": sym_static.international,
               "static_energy_meV_per_atom": 1e3 * e / len(static),
               "quantum_x": x_q, "quantum_x_error": x_q_err,
               "quantum_mean_space_group": sym_q.international, "quantum_symprec_A": symprec,
               "quantum_rms_deviation_A": float(sym_q.orbits[0].rms_deviation),
               "mean_position_error_A": float(np.sqrt(np.mean(err**2))),
               "nct_F_meV_per_atom": [float(1e3 * np.mean(f_nct) / len(static)),
                                      float(1e3 * np.std(f_nct) / np.sqrt(f_nct.size)
                                            / len(static))],
               "quenched_space_groups": qs.space_groups,
               "quenched_x": [c.get("Li 16c x") for c in qs.free_coordinates],
               "quenched_energy_meV_per_atom": [1e3 * v for v in qs.energies],
               "wall_s": time.perf_counter() - t0}
        rows.append(row)
        print(f"a = {a:.4f} A ({row['volume_A3_per_atom']:.4f} A^3/atom): static x = "
              f"{x_static:.5f}; quantum ({args.temperature:g} K) mean structure "
              f"{sym_q.international} at symprec {symprec:g} A (rms deviation "
              f"{sym_q.orbits[0].rms_deviation:.4f} A, sample error {np.sqrt(np.mean(err**2)):.4f}"
              f" A), x = "
              + (f"{x_q:.5f} +- {x_q_err:.5f}" if x_q is not None else "n/a")
              + f"; quenched samples {qs.counts()}; {row['wall_s']:.0f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = {"temperature_K": args.temperature, "model": "frozen_model_dp0.pb",
           "steps": args.steps, "batch_size": args.batch_size, "experiment": HANFLAND,
           "rows": rows}
    (RESULTS / "ci16_wyckoff.json").write_text(json.dumps(out, indent=1))
    _plot(rows, args.temperature, RESULTS / "ci16_wyckoff.png")
    print(f"written {RESULTS / 'ci16_wyckoff.json'}")


def static_ci16(model, base, a):
    """Quench the cI16 sites of ``base`` scaled to the cubic lattice parameter a (A) with
    ``model`` at fixed cell: (relaxed Atoms, energy in eV, its spglib symmetry at 1e-3 A)."""
    import qfe.nct
    from qfe.analysis.symmetry import analyze_symmetry
    from qfe.nct.quench import quench

    atoms = base.copy()
    atoms.set_cell(np.eye(3) * a, scale_atoms=True)
    pot = qfe.nct.make_potential(str(model), atoms)
    x, e, _ = quench(pot, atoms.get_positions(), atoms.get_cell()[:], fmax=1e-4)
    static = atoms.copy()
    static.set_positions(x)
    return static, e, analyze_symmetry(static, symprec=1e-3)


def static_x_and_pressure(model, base, a):
    """cI16 at lattice parameter a (A), relaxed at fixed cell: (x of 16c, static pressure in
    GPa, energy in meV/atom, space group)."""
    import qfe.nct
    from qfe.nct.npt import static_pressure

    static, e, sym = static_ci16(model, base, a)
    p = static_pressure(lambda at: qfe.nct.make_potential(str(model), at), static)
    return sym.orbits[0].free_coordinates.get("x"), p, 1e3 * e / len(static), sym.international


def static_scan(ref: Path) -> None:
    from ase.io import read
    from scipy.interpolate import CubicSpline

    model = ref / "frozen_model_dp0.pb"
    if not model.is_file():
        raise SystemExit(f"{model} not found (pass --reference)")
    base = read(ref / "structures" / "cI16.vasp")
    paper = read(ref / "nct-structures" / "Li_dft_cI16_p70.0_struct.cif")
    from qfe.analysis.symmetry import analyze_symmetry

    a_paper = float(paper.cell.lengths()[0])
    x_paper = analyze_symmetry(paper, symprec=1e-3).orbits[0].free_coordinates.get("x")
    grid = sorted({round(float(a), 4) for a in np.arange(4.80, 5.36, 0.05)}
                  | {round(a_paper, 4), HANFLAND["a_A"]})
    rows = []
    for a in grid:
        x, p, e, sg = static_x_and_pressure(model, base, a)
        rows.append({"a_A": a, "volume_A3_per_atom": a**3 / 16, "x": x, "pressure_GPa": p,
                     "energy_meV_per_atom": e, "space_group": sg})
        print(f"a = {a:.4f} A  V = {a**3 / 16:.4f} A^3/atom  x = {x:.5f}  P = {p:7.2f} GPa  "
              f"{sg}", flush=True)
    a_arr = np.array([r["a_A"] for r in rows])
    x_of_a = CubicSpline(a_arr, [r["x"] for r in rows])
    # pressure falls with a: interpolate a(P) on the reversed arrays
    p_arr = np.array([r["pressure_GPa"] for r in rows])
    a_of_p = CubicSpline(p_arr[::-1], a_arr[::-1])
    a_exp_p = float(a_of_p(HANFLAND["pressure_GPa"]))
    a_70 = float(a_of_p(70.0))
    summary = {
        "paper_structure": {"a_A": a_paper, "x": x_paper,
                            "dp0_static_x_at_a": float(x_of_a(a_paper)),
                            "dp0_static_pressure_at_a_GPa": float(CubicSpline(
                                a_arr, p_arr)(a_paper)),
                            "dp0_a_at_70GPa": a_70, "dp0_static_x_at_70GPa": float(x_of_a(a_70))},
        "experiment": {**HANFLAND,
                       "dp0_static_x_at_equal_volume": float(x_of_a(HANFLAND["a_A"])),
                       "dp0_static_pressure_at_equal_volume_GPa": float(CubicSpline(
                           a_arr, p_arr)(HANFLAND["a_A"])),
                       "dp0_a_at_equal_pressure_A": a_exp_p,
                       "dp0_static_x_at_equal_pressure": float(x_of_a(a_exp_p))}}
    for name, d in summary.items():
        print(name, json.dumps(d))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "ci16_static_scan.json"
    path.write_text(json.dumps({"model": "frozen_model_dp0.pb", "rows": rows, **summary},
                               indent=1))
    print(f"written {path}")


def _plot(rows, temperature, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = [r["volume_A3_per_atom"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(v, [r["static_x"] for r in rows], "s-", label="static lattice (dp0)")
    q = [(r["volume_A3_per_atom"], r["quantum_x"], r["quantum_x_error"]) for r in rows
         if r["quantum_x"] is not None]
    if q:
        qv, qx, qe = zip(*q)
        ax.errorbar(qv, qx, yerr=qe, marker="o", capsize=3,
                    label=f"NCT mean structure, {temperature:g} K")
    ax.plot([HANFLAND["a_A"] ** 3 / 16], [HANFLAND["x"]], "k*", ms=10,
            label="Hanfland et al. 2000 (38.9 GPa)")
    ax.set_xlabel("volume (A$^3$/atom)")
    ax.set_ylabel("cI16 Wyckoff x (16c)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
