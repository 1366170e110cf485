"""Cell-size effect on the bcc - fcc free-energy difference of lithium, harmonic part
(issue 17: "where the crossings differ from the paper's, say why: cell size").

    python benchmarks/harmonic_size_li.py --model dp4 --bcc-volume 19.376 --fcc-volume 19.309

NCT in an N-atom periodic cell sees the 3N - 3 Gamma-point modes of that supercell only.
This script computes what that costs in the harmonic approximation, which needs one Hessian
per cell: the quantum harmonic F (meV/atom) of bcc with 2x2x2 ... 5x5x5 conventional cells
(16, 54, 128, 250 atoms) and fcc with 2x2x2 ... 4x4x4 (32, 108, 256 atoms) at fixed volumes,
at each ``--temperatures`` (K).  It prints F_bcc - F_fcc for the cell pair the phase runs use
(54/32) and the paper's (250/256); their difference is the harmonic estimate of the size
error of Delta G.  The volumes default to the NCT volumes of the 1 GPa, 100 K run
(docs/nct.md).  Writes benchmarks/results/harmonic_size_li_<model>.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
             "DP_INTER_OP_PARALLELISM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "li-dp"
REPEATS = {"bcc": (2, 3, 4, 5), "fcc": (2, 3, 4)}
PAIRS = {"phase runs": (54, 32), "paper": (250, 256)}


def harmonic_table(phase: str, volume: float, repeats, spec: str, temperatures):
    from ase.build import bulk

    import qfe.nct
    from qfe import units
    from qfe.nct.phonons import crystal_system

    per_cell = 2 if phase == "bcc" else 4
    rows = []
    for n in repeats:
        atoms = bulk("Li", phase, a=(per_cell * volume) ** (1 / 3), cubic=True).repeat(n)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            system = crystal_system(qfe.nct.make_potential(spec, atoms), atoms)
        natoms = len(atoms)
        n_imag = int(np.sum(system.imaginary))
        f = [(system.harmonic_free_energy(t) - system.v0) / natoms * units.EV_TO_MEV
             for t in temperatures]
        rows.append({"natoms": natoms, "repeat": n, "imaginary_modes": n_imag,
                     "F_vib_meV_per_atom": f,
                     "zpe_meV_per_atom": system.harmonic_zpe() / natoms * units.EV_TO_MEV,
                     "E0_meV_per_atom": system.v0 / natoms * units.EV_TO_MEV,
                     "wall_s": time.perf_counter() - t0})
        print(f"{phase} {natoms:4d} atoms: ZPE {rows[-1]['zpe_meV_per_atom']:.3f}, F_vib "
              + ", ".join(f"{t:g} K {x:.3f}" for t, x in zip(temperatures, f))
              + f" meV/atom; {n_imag} imaginary; {rows[-1]['wall_s']:.0f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dp4", help="'default' or a model name in "
                    "../shared/reference/li-dp (dp4 -> frozen_model_dp4.pb)")
    ap.add_argument("--bcc-volume", type=float, default=19.376, help="A^3/atom")
    ap.add_argument("--fcc-volume", type=float, default=19.309, help="A^3/atom")
    ap.add_argument("--temperatures", default="100,150,200", help="K, comma separated")
    args = ap.parse_args()
    temps = [float(t) for t in args.temperatures.split(",")]
    spec = "default"
    if args.model != "default":
        path = REFERENCE / f"frozen_model_{args.model}.pb"
        if not path.is_file():
            raise SystemExit(f"model file not found: {path}")
        spec = str(path)

    out = {"model": args.model, "temperatures_K": temps, "units": "meV/atom",
           "volumes_A3_per_atom": {"bcc": args.bcc_volume, "fcc": args.fcc_volume},
           "phases": {"bcc": harmonic_table("bcc", args.bcc_volume, REPEATS["bcc"], spec, temps),
                      "fcc": harmonic_table("fcc", args.fcc_volume, REPEATS["fcc"], spec,
                                            temps)}}
    by_n = {ph: {r["natoms"]: r for r in rows} for ph, rows in out["phases"].items()}
    dF = {}
    for name, (nb, nf) in PAIRS.items():
        b, f = by_n["bcc"][nb], by_n["fcc"][nf]
        dF[name] = [x - y for x, y in zip(b["F_vib_meV_per_atom"], f["F_vib_meV_per_atom"])]
        print(f"F_vib(bcc {nb}) - F_vib(fcc {nf}): "
              + ", ".join(f"{t:g} K {x:+.3f}" for t, x in zip(temps, dF[name])))
    shift = [p - r for p, r in zip(dF["paper"], dF["phase runs"])]
    out["delta_F_vib_bcc_minus_fcc"] = dF
    out["size_shift_of_delta_G"] = shift
    print("harmonic size shift of Delta G = G_bcc - G_fcc, (250/256) - (54/32): "
          + ", ".join(f"{t:g} K {x:+.3f}" for t, x in zip(temps, shift)) + " meV/atom")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"harmonic_size_li_{args.model}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
