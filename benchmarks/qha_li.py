"""Quasi-harmonic (phonopy) bcc/fcc lithium: G(T) at several pressures and the QHA crossing
temperatures, the baseline for the NCT and classical crossings (issue 17).

    python benchmarks/qha_li.py --model ../shared/reference/li-dp/frozen_model_dp4.pb \\
        --pressures 0 1 2 --workdir runs/qha-li

bcc (3x3x3 conventional, 54 atoms) and fcc (2x2x2, 32 atoms), the cells of the NCT and
Frenkel-Ladd runs.  One volume grid per phase (``--volumes`` A^3/atom, ``--n-volumes``
points; the Hessians are the cost and are saved to WORKDIR/<phase>.npz, so a rerun or other
pressures reuse them), then ``qfe.nct.qha.quasi_harmonic_gibbs`` at each pressure on the
temperature grid, Delta G = G_bcc - G_fcc and its sign changes (``crossing_from_grid``; the
QHA has no statistical error).  Also the static-lattice enthalpy difference at each pressure.
Writes benchmarks/results/qha_li_<model>.json and prints a table (meV/atom, K, GPa).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
KJ_PER_MOL_PER_MEV = 0.0964853321233      # phonopy's free energies are in kJ/mol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--pressures", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    ap.add_argument("--temperatures", default="10:400:10", help="T0:T1:DT in K")
    ap.add_argument("--volumes", type=float, nargs=2, default=[17.4, 21.4],
                    help="volume grid range, A^3/atom")
    ap.add_argument("--n-volumes", type=int, default=11)
    ap.add_argument("--workdir", default="runs/qha-li")
    args = ap.parse_args()

    from ase.build import bulk

    from qfe.nct.api import make_potential
    from qfe.nct.phases import crossing_from_grid, static_enthalpy
    from qfe.nct.qha import load_grid, quasi_harmonic_gibbs, save_grid, volume_grid

    t0, t1, dt = (float(v) for v in args.temperatures.split(":"))
    temps = np.arange(t0, t1 + 0.5 * dt, dt)
    v_lo, v_hi = args.volumes
    v_mid = np.sqrt(v_lo * v_hi)
    cells = {"bcc": bulk("Li", "bcc", a=(2 * v_mid) ** (1 / 3), cubic=True).repeat(3),
             "fcc": bulk("Li", "fcc", a=(4 * v_mid) ** (1 / 3), cubic=True).repeat(2)}
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    grids, walls = {}, {}
    for phase, atoms in cells.items():
        path = work / f"{phase}.npz"
        start = time.perf_counter()
        if path.is_file():
            grids[phase] = load_grid(path)
        else:
            grids[phase] = volume_grid(lambda a: make_potential(args.model, a), atoms,
                                       (v_lo / v_mid, v_hi / v_mid), args.n_volumes,
                                       progress=True)
            save_grid(grids[phase], path)
        walls[phase] = time.perf_counter() - start
        print(f"{phase}: {len(atoms)} atoms, {args.n_volumes} volumes "
              f"{v_lo:g}-{v_hi:g} A^3/atom, lowest Gamma frequency "
              f"{min(grids[phase]['min_frequency_THz']):.3f} THz, {walls[phase]:.0f} s",
              flush=True)
    # the harmonic free energy per grid volume: shows how smooth the model's curvature is
    diagnostics = {}
    for phase, g in grids.items():
        rows = []
        print(f"{phase}: V (A^3/atom), E0, F_harm(100 K) (meV/atom), lowest Gamma frequency "
              f"(THz, acoustic excluded)")
        for v, e, ph in zip(g["volumes"], g["E0"], g["phonons"]):
            ph.run_thermal_properties(temperatures=[100.0], exclude_gamma_acoustic=True)
            f100 = float(ph.thermal_properties.free_energy[0]) / KJ_PER_MOL_PER_MEV / g["natoms"]
            nu = np.sort(np.asarray(ph.mesh.frequencies).ravel())[3]
            rows.append({"volume": v / g["natoms"], "E0": e / g["natoms"] * 1e3,
                         "F_harm_100K": f100, "lowest_frequency_THz": float(nu)})
            print(f"  {v / g['natoms']:7.3f} {e / g['natoms'] * 1e3:10.3f} {f100:8.3f} "
                  f"{nu:7.3f}")
        diagnostics[phase] = rows
    out = {"model": args.model, "cells": {p: len(a) for p, a in cells.items()},
           "grid_diagnostics": diagnostics,
           "volume_grid_A3_per_atom": [v_lo, v_hi, args.n_volumes], "wall_s": walls,
           "temperatures_K": temps.tolist(), "pressures": {}}
    for pressure in args.pressures:
        res = {p: quasi_harmonic_gibbs(None, None, temps, pressure, grid=grids[p])
               for p in cells}
        # static enthalpy by Newton steps on the static pressure (not a fit of the grid)
        static = {p: static_enthalpy(lambda a: make_potential(args.model, a), atoms,
                                     pressure)["H"] for p, atoms in cells.items()}
        ok = [i for i in range(temps.size) if res["bcc"]["G"][i] is not None
              and res["fcc"]["G"][i] is not None]
        dg = [res["bcc"]["G"][i] - res["fcc"]["G"][i] for i in ok]
        cross = crossing_from_grid(temps[ok], dg, np.zeros(len(ok))) if ok else None
        out["pressures"][f"{pressure:g}"] = {
            "G_bcc": res["bcc"]["G"], "G_fcc": res["fcc"]["G"], "V_bcc": res["bcc"]["V"],
            "V_fcc": res["fcc"]["V"], "delta_G_T_K": temps[ok].tolist(), "delta_G": dg,
            "crossing": cross, "static_delta_H": static["bcc"] - static["fcc"],
            "messages": {p: r["message"] for p, r in res.items()}}
        msg = "; ".join(f"{p}: {r['message']}" for p, r in res.items() if r["message"])
        print(f"P = {pressure:g} GPa: static H_bcc - H_fcc = "
              f"{static['bcc'] - static['fcc']:+.3f} meV/atom; QHA crossing "
              + (f"{cross['temperature']:.1f} K ({cross['n_crossings']} sign changes)"
                 if cross and cross["temperature"] is not None else "none in range")
              + (f"  [{msg}]" if msg else ""))
        for i, t in zip(ok, temps[ok]):
            if int(t) % 50 == 0:
                print(f"  {t:5.0f} K  Delta G = {dg[ok.index(i)]:+.3f} meV/atom  V_bcc "
                      f"{res['bcc']['V'][i]:.3f}  V_fcc {res['fcc']['V'][i]:.3f} A^3/atom")
    name = Path(args.model).stem if args.model != "default" else "default"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"qha_li_{name}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
