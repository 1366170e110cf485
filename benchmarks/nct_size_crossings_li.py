"""bcc - fcc crossing temperatures of lithium (dp4) for every pair of cell sizes measured
(issue 17: "where the crossings differ from the paper's, say why: cell size").

    python benchmarks/nct_size_crossings_li.py

Reads the NCT Gibbs energies already in benchmarks/results (nothing is recomputed):

- bcc 54 / fcc 32 atoms from the ``qfe phases`` runs, ``nct_phases_li_dp4_P<P>.json``;
- larger cells from ``benchmarks/nct_npt_li.py`` runs,
  ``nct_npt_li_frozen_model_dp4_[fcc_]T<T>_P<P>_N<atoms>.json`` (bcc 128 and 250, fcc 108
  atoms); side runs written with ``--label`` (other batch or training length) are left out.

For each pressure and each (bcc size, fcc size) pair it forms Delta G = G_bcc - G_fcc
(meV/atom) at the temperatures both sizes have, and the crossing T* by linear interpolation
between the bracketing temperatures (``qfe.nct.phases.crossing_from_grid``, error propagated
from the NCT error bars).  Where Delta G keeps one sign it prints the straight-line
extrapolation through the two temperatures closest to the sign change, marked as such.
Writes benchmarks/results/nct_size_crossings_li_dp4.json and a plot of Delta G(T).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_NCT_K = {0: 84.0, 1: 142.0, 2: 196.0}        # Zhang et al., 250/256 atoms
# unlabelled runs only; T, P and natoms are read from the file itself
NPT_NAME = re.compile(r"nct_npt_li_frozen_model_dp4_(fcc_)?T[0-9.]+_P[0-9.]+_N\d+\.json$")


def collect(results: Path) -> dict:
    """{pressure: {(phase, natoms): {T: (G, G_err)}}} from the result files."""
    table: dict = {}
    for path in sorted(results.glob("nct_phases_li_dp4_P*.json")):
        data = json.loads(path.read_text())
        pressure = float(data.get("pressure_GPa", path.stem.split("_P")[-1]))
        for phase, run in data["phases"].items():
            key = (phase, int(run["natoms"]))
            entry = table.setdefault(pressure, {}).setdefault(key, {})
            for t, g, e in zip(data["temperatures_K"], run["G"], run["G_err"]):
                if g is not None:
                    entry[float(t)] = (float(g), float(e))
    for path in sorted(results.glob("nct_npt_li_frozen_model_dp4_*.json")):
        match = NPT_NAME.search(path.name)
        if not match:
            continue
        data = json.loads(path.read_text())
        if not data.get("converged", True):
            continue
        phase = "fcc" if match.group(1) else "bcc"
        key = (phase, int(data["natoms"]))
        g, e = data["G_meV_per_atom"]
        table.setdefault(float(data["pressure_GPa"]), {}).setdefault(key, {})[
            float(data["temperature_K"])] = (float(g), float(e))
    return table


def pair_crossing(bcc: dict, fcc: dict) -> dict:
    from qfe.nct.phases import crossing_from_grid

    temps = sorted(set(bcc) & set(fcc))
    dg = [bcc[t][0] - fcc[t][0] for t in temps]
    de = [float(np.hypot(bcc[t][1], fcc[t][1])) for t in temps]
    out = {"temperatures_K": temps, "delta_G": dg, "delta_G_err": de,
           "T_star": None, "T_star_err": None, "extrapolated": False}
    if len(temps) < 2:
        return out
    cross = crossing_from_grid(temps, dg, de)
    if cross["temperature"] is not None:
        out.update(T_star=cross["temperature"], T_star_err=cross["error"])
        return out
    # one sign throughout: straight line through the two points nearest zero Delta G
    i, j = sorted(np.argsort(np.abs(dg))[:2])
    slope = (dg[j] - dg[i]) / (temps[j] - temps[i])
    if slope != 0:
        t_star = temps[i] - dg[i] / slope
        if t_star > 0:
            out.update(T_star=float(t_star), extrapolated=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path,
                        default=RESULTS / "nct_size_crossings_li_dp4.json")
    args = parser.parse_args()

    table = collect(args.results)
    if not table:
        raise SystemExit(f"no dp4 NCT results found in {args.results}")
    report = {"pressures": []}
    for pressure in sorted(table):
        cells = table[pressure]
        print(f"\nP = {pressure:g} GPa")
        for (phase, n), values in sorted(cells.items()):
            row = ", ".join(f"{t:g} K: {g:.3f}({e * 1e3:.0f})" for t, (g, e) in
                            sorted(values.items()))
            print(f"  G {phase} {n:4d} atoms  {row}")
        pairs = []
        for (pb, nb), bcc in sorted(cells.items()):
            if pb != "bcc":
                continue
            for (pf, nf), fcc in sorted(cells.items()):
                if pf != "fcc":
                    continue
                res = pair_crossing(bcc, fcc)
                res.update(bcc_atoms=nb, fcc_atoms=nf)
                pairs.append(res)
                dgs = ", ".join(f"{t:g} K: {d:+.3f}({e * 1e3:.0f})" for t, d, e in
                                zip(res["temperatures_K"], res["delta_G"], res["delta_G_err"]))
                if res["T_star"] is None:
                    tail = "no crossing" if len(res["temperatures_K"]) >= 2 else \
                        "fewer than two common temperatures"
                elif res["extrapolated"]:
                    tail = f"T* ~ {res['T_star']:.0f} K (linear extrapolation)"
                else:
                    tail = f"T* = {res['T_star']:.1f} +- {res['T_star_err']:.1f} K"
                print(f"  bcc {nb:3d} / fcc {nf:3d}: Delta G {dgs or '-'}  ->  {tail}")
        paper = PAPER_NCT_K.get(int(round(pressure)))
        if paper is not None:
            print(f"  paper (250/256 atoms): T* = {paper:g} K")
        report["pressures"].append({"pressure_GPa": pressure, "pairs": pairs,
                                    "paper_T_star_K": paper,
                                    "G": {f"{ph}_{n}": {str(t): v for t, v in vals.items()}
                                          for (ph, n), vals in cells.items()}})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {args.output}")
    plot(report, args.output.with_suffix(".png"))


def plot(report: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = report["pressures"]
    fig, axes = plt.subplots(1, len(entries), figsize=(4.2 * len(entries), 3.6), squeeze=False)
    for ax, entry in zip(axes[0], entries):
        for pair in entry["pairs"]:
            if not pair["temperatures_K"]:
                continue
            ax.errorbar(pair["temperatures_K"], pair["delta_G"], yerr=pair["delta_G_err"],
                        marker="o", capsize=2,
                        label=f"bcc {pair['bcc_atoms']} / fcc {pair['fcc_atoms']}")
        ax.axhline(0.0, color="k", lw=0.6)
        if entry["paper_T_star_K"]:
            ax.axvline(entry["paper_T_star_K"], color="grey", ls="--", lw=0.8,
                       label="paper T*")
        ax.set_title(f"{entry['pressure_GPa']:g} GPa")
        ax.set_xlabel("T (K)")
        ax.set_ylabel("G_bcc - G_fcc (meV/atom)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"written {path}")


if __name__ == "__main__":
    main()
