"""bcc Li with qfe's default DeePMD model: QTB and adaptive QTB vs converged path-integral MD.

Issue 16's check: kinetic energy per atom and the first peak of the RDF (position, height) of
plain QTB (`fix qtb`), adaptive QTB (`fix qtb ... adaptive yes deconvolution yes`) and PIMD
(`fix pimd/langevin`, centroid-virial kinetic energy f_ID[7], P = 4, 8, 16 beads to show
convergence) on the same 54-atom 3x3x3 bcc cell at the model's static lattice parameter, NVT,
300 K.  Also the wall time each method needs for the same kinetic-energy error bar.
(The PIMD machinery itself is checked on an Einstein crystal in tests/test_pimd_harmonic.py.)

Every LAMMPS process stays under 10 minutes on this (shared, 2-core) machine: the QTB runs are
chains of 3-8 ps chunks joined by restart files (the bath, and the adapted spectrum of the
adaptive QTB, continue exactly), the adaptive run adapting for 16 ps (10 segments) before it
is averaged over 84 ps (plain QTB: 42 ps).

    python benchmarks/pimd_vs_qtb.py [all]               # every job, then the table (make bench)
    python benchmarks/pimd_vs_qtb.py run einstein pimd8 qtb   # some jobs
    python benchmarks/pimd_vs_qtb.py table               # analyse what is in --workdir

The table goes to stdout and benchmarks/results/pimd_vs_qtb.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from qfe import units
from qfe.analysis.thermo import block_average
from qfe.lammps import lammps_environment, lmp_executable
from qfe.pimd import PIMD_FIX_LINE, run_pimd_deck, thermo_column
from qfe.potentials.default import DATA_DIR, default_lithium_model

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "pimd_vs_qtb.txt"

TEMP = 300.0
DT = 0.001                 # ps, all methods
RDF_RMAX, RDF_BINS = 5.0, 125   # cutoff + skin (2 A) must stay inside the ghost range 7.2 A
EVERY = 10                 # thermo / sample interval (steps)
# QTB: damp 0.2 ps, f_max 30 THz (3x the highest Li phonon), N_f 50 (segment 2 N_f h = 1.6 ps)
QTB_ARGS = f"temp {TEMP} damp 0.2 f_max 30 N_f 50"
# run lengths (steps): equilibration, production.  The centroid-virial estimator fluctuates
# by ~0.7 % per sample with 54 atoms and decorrelates within ~10 steps, so ~1 ps of PIMD
# gives a standard error ~0.1 %; 1/2 m v^2 of QTB fluctuates by ~9 % and needs ~30 ps.
JOBS = {
    "pimd4": dict(kind="pimd", beads=4, equil=300, prod=1200),
    "pimd8": dict(kind="pimd", beads=8, equil=300, prod=800),
    "pimd16": dict(kind="pimd", beads=16, equil=200, prod=400),
    # the RDF peak of ~1 ps PIMD runs scatters by ~2 %: a longer P = 8 run for the structure
    "pimd8long": dict(kind="pimd", beads=8, equil=300, prod=2000),
    "pimd4long": dict(kind="pimd", beads=4, equil=300, prod=4000, seed=5),
    # QTB runs are chains of chunks (one LAMMPS process each, <= 10 min on a loaded machine,
    # joined by restart files: exact continuation of the bath, adapted gamma_r included):
    # "discard" chunks equilibrate / adapt, "prod" chunks are averaged
    "adqtb": dict(kind="qtb", extra="deconvolution yes adaptive yes", discard=[8000, 8000],
                  prod=[7000] * 12),
    "qtb": dict(kind="qtb", extra="", discard=[3000], prod=[7000] * 6),
}


def lattice_parameter() -> float:
    """bcc lattice parameter (A) at the minimum of the default model's static E(V) (parabola
    through the 5 points of report.json nearest the minimum)."""
    rep = json.loads((DATA_DIR / "report.json").read_text())["static_energies"]
    v = np.asarray(rep["volumes_A3_per_atom"], float)
    e = np.asarray(rep["bcc"]["model_eV_per_atom"], float)
    i = int(np.clip(np.argmin(e), 2, len(e) - 3))
    c = np.polyfit(v[i - 2:i + 3], e[i - 2:i + 3], 2)
    return float((2.0 * (-c[1] / (2.0 * c[0]))) ** (1.0 / 3.0))


def _box(a: float, model: Path) -> str:
    return f"""units metal
atom_style atomic
atom_modify map yes
boundary p p p
lattice bcc {a:.6f}
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 {units.MASS_LI}
pair_style deepmd {model}
pair_coeff * *
timestep {DT}
"""


def _rdf_lines(start: int, prod: int, tag: str) -> str:
    """RDF averaged over the production run (steps start+EVERY .. start+prod): Nfreq = the
    absolute last step, so the one output window is exactly the production run."""
    return (f"compute rdf all rdf {RDF_BINS} cutoff {RDF_RMAX}\n"
            f"fix rdf all ave/time {EVERY} {prod // EVERY} {start + prod} c_rdf[*] "
            f"file rdf{tag}.txt mode vector\n")


def pimd_deck(a, model, beads, equil, prod, seed=None) -> str:
    fix = PIMD_FIX_LINE.format(temp=TEMP, seed=f"91{seed or ''}${{ibead}}", tau=0.1)
    return ("variable ibead uloop 64 pad\n" + _box(a, model)
            + f"velocity all create {TEMP} 4928{seed or ''}${{ibead}} dist gaussian\n{fix}\n"
            "thermo_style custom step pe f_pimd[7]\nthermo_modify format float %.10g\n"
            f"thermo {EVERY}\nrun {equil}\n" + _rdf_lines(equil, prod, ".${ibead}")
            + f"run {prod}\n")


def qtb_deck(a, model, extra, start, nsteps, production) -> str:
    """One chunk of a QTB chain: from the lattice (start = 0) or from the previous chunk's
    restart file; writes chunk.restart at the end."""
    qtb = f"fix q all qtb {QTB_ARGS} seed 1234 {extra}".strip()
    if start:
        head = (f"read_restart prev.restart\npair_style deepmd {model}\npair_coeff * *\n")
    else:
        head = _box(a, model) + f"velocity all create {TEMP} 4928 dist gaussian\n"
    deck = head + f"fix nve all nve\n{qtb}\n"
    deck += ("thermo_style custom step ke pe f_q[7]\nthermo_modify format float %.10g\n"
             f"thermo {EVERY}\n")
    if production:
        deck += _rdf_lines(start, nsteps, "")
    deck += f"run {nsteps}\nwrite_restart chunk.restart\n"
    return deck


def _chunks(spec) -> list[tuple[int, int, bool]]:
    """(start step, steps, production?) of each chunk of a QTB chain."""
    out, start = [], 0
    for n in spec["discard"]:
        out.append((start, n, False))
        start += n
    for n in spec["prod"]:
        out.append((start, n, True))
        start += n
    return out


# Einstein crystal (tests/test_pimd_harmonic.py's deck): H atoms, hbar w0/kT = 3 at 100 K
EIN_T, EIN_STEPS, EIN_DISCARD, EIN_EVERY = 100.0, 700, 100, 5
EIN_OMEGA = 3.0 * units.KB * EIN_T / units.HBAR
# P = 1 is left out: there f_pimd[7] should be the constant 3NkT/2 but a few thermo lines show
# other values (6 of 141 in a 700-step run, e.g. -30.6 instead of 22.34 eV): a quirk of the
# fix with one bead, not used by any run here
EIN_BEADS = (2, 4, 8)


def _plain_lmp():
    """The wheel's ELF lmp and an environment without plugin auto-loading (no TensorFlow
    start-up for a deck without pair_style deepmd)."""
    import lammps

    env = lammps_environment()
    env.pop("LAMMPS_PLUGIN_PATH", None)
    return str(Path(lammps.__file__).parent / "lmp"), env


def run_einstein(workdir: Path, nice: int) -> None:
    from qfe.pimd import einstein_crystal_deck

    exe, env = _plain_lmp()
    deck = einstein_crystal_deck(EIN_T, units.MASS_H, EIN_OMEGA, steps=EIN_STEPS,
                                 every=EIN_EVERY)
    for p in EIN_BEADS:
        t0 = time.perf_counter()
        run_pimd_deck(deck, p, workdir / "einstein" / f"P{p}", lmp=exe, env=env, nice=nice,
                      timeout=600)
        print(f"einstein P={p}: {time.perf_counter() - t0:.0f} s", flush=True)


def einstein_table(workdir: Path) -> list[str]:
    from qfe.pimd import harmonic_kinetic_per_dof, quantum_harmonic_kinetic_per_dof

    kq = quantum_harmonic_kinetic_per_dof(EIN_OMEGA, EIN_T) * 1e3
    lines = [f"Einstein crystal, 1728 H atoms, fix spring/self, hbar w0/kT = 3 at {EIN_T:.0f} K "
             f"(w0 = {EIN_OMEGA:.2f} rad/ps): centroid-virial <K> per dof (meV) vs the exact "
             f"P-bead value; quantum (hbar w0/4) coth = {kq:.4f} meV",
             f"{'P':>3s} {'measured':>18s} {'exact P-bead':>12s} {'(meas-exact)/err':>16s} "
             f"{'exact/quantum-1':>15s}"]
    for p in EIN_BEADS:
        log = workdir / "einstein" / f"P{p}" / "log.lammps.0"
        if not log.exists():
            continue
        steps, k = thermo_column(log, "f_pimd[7]")
        k = k[steps >= EIN_DISCARD] / (3 * 12 ** 3) * 1e3
        m, e = block_average(k, n_blocks=10)
        ex = harmonic_kinetic_per_dof(EIN_OMEGA, EIN_T, p) * 1e3
        z = (m - ex) / e if e > 0 else 0.0
        rel = (ex / kq - 1) * 100
        lines.append(f"{p:3d} {m:9.4f} +- {e:6.4f} {ex:12.4f} {z:16.1f} {rel:+14.2f}%")
    for p in (16, 32, 64):
        ex = harmonic_kinetic_per_dof(EIN_OMEGA, EIN_T, p) * 1e3
        lines.append(f"{p:3d} {'(not run)':>18s} {ex:12.4f} {'':16s} {(ex / kq - 1) * 100:+14.2f}%")
    return lines


def run_job(name: str, workdir: Path, nice: int) -> float:
    """Run one job in workdir/name; returns its wall time (s), also stored in wall.txt."""
    spec = JOBS[name]
    a, model = lattice_parameter(), default_lithium_model("pb")
    jd = workdir / name
    jd.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if spec["kind"] == "pimd":
        deck = pimd_deck(a, model, spec["beads"], spec["equil"], spec["prod"], spec.get("seed"))
        run_pimd_deck(deck, spec["beads"], jd, nice=nice, timeout=660)
    else:
        prev = None
        for i, (start, n, prod) in enumerate(_chunks(spec)):
            cd = jd / f"c{i}"
            if (cd / "chunk.restart").exists() and (cd / "in.qtb").read_text() == qtb_deck(
                    a, model, spec["extra"], start, n, prod):
                prev = cd          # done before with the same deck: chains can be extended
                continue
            cd.mkdir(exist_ok=True)
            if prev is not None:
                (cd / "prev.restart").write_bytes((prev / "chunk.restart").read_bytes())
            (cd / "in.qtb").write_text(qtb_deck(a, model, spec["extra"], start, n, prod))
            cmd = ["nice", "-n", str(nice), lmp_executable(), "-in", "in.qtb", "-log",
                   "log.lammps", "-screen", "none"]
            tc = time.perf_counter()
            proc = subprocess.run(cmd, cwd=cd, capture_output=True, text=True, timeout=660,
                                  env=lammps_environment())
            if proc.returncode != 0:
                raise RuntimeError(f"{name} chunk {i} failed:\n{proc.stderr[-2000:]}\n"
                                   f"{(cd / 'log.lammps').read_text()[-2000:]}")
            if prev is not None:
                (cd / "prev.restart").unlink()
            print(f"{name} chunk {i}: {time.perf_counter() - tc:.0f} s", flush=True)
            prev = cd
    wall = time.perf_counter() - t0
    (jd / "wall.txt").write_text(f"{wall:.1f}\n")
    print(f"{name}: {wall:.0f} s", flush=True)
    return wall


# ------------------------------------------------------------------ analysis

def _loop_time(log: Path) -> float:
    """Sum of 'Loop time of X' of a LAMMPS log (s): the time-stepping cost without start-up."""
    return sum(float(line.split()[3]) for line in log.read_text().splitlines()
               if line.startswith("Loop time of"))


def statistical_inefficiency(x: np.ndarray) -> float:
    """Samples per independent sample, from the integrated autocorrelation (sum up to the
    first non-positive value of the normalised autocorrelation)."""
    x = np.asarray(x, float) - np.mean(x)
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n] / np.arange(n, 0, -1)
    ac = ac / ac[0]
    s = 1.0
    for k in range(1, n // 3):
        if ac[k] <= 0:
            break
        s += 2.0 * ac[k]
    return s


def mean_and_error(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of a correlated series: the larger of the 10-block error and
    the error from the integrated autocorrelation time."""
    mean, err_blocks = block_average(x, n_blocks=10)
    err_ac = float(np.std(x) * math.sqrt(statistical_inefficiency(x) / len(x)))
    return mean, max(err_blocks, err_ac)


def first_peak(r: np.ndarray, g: np.ndarray, half_width: int = 3) -> tuple[float, float]:
    """Position (A) and height of the first RDF maximum: least-squares parabola through the
    largest bin below 3.3 A (bcc Li: first shell a sqrt(3)/2 ~ 3.03 A, second a ~ 3.5 A) and
    ``half_width`` bins either side (0.12 A: less bin noise than a 3-point vertex)."""
    i = int(np.argmax(np.where(r < 3.3, g, -np.inf)))
    sl = slice(i - half_width, i + half_width + 1)
    c2, c1, c0 = np.polyfit(r[sl] - r[i], g[sl], 2)
    if c2 >= 0:
        return float(r[i]), float(g[i])
    d = -c1 / (2 * c2)
    return float(r[i] + d), float(c0 - c1 * c1 / (4 * c2))


def read_rdf(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    rows = [r for r in rows if len(r) == 4]          # bin r g(r) coord(r)
    arr = np.array(rows[-RDF_BINS:], float)
    return arr[:, 1], arr[:, 2]


def analyse(workdir: Path) -> dict:
    natoms = 54
    out = {}
    for name, spec in JOBS.items():
        jd = workdir / name
        if not (jd / "wall.txt").exists():
            continue
        if spec["kind"] == "pimd":
            log0 = jd / "log.lammps.0"
            steps, k = thermo_column(log0, "f_pimd[7]")
            rdfs = [read_rdf(jd / f"rdf.{b:02d}.txt") for b in range(1, spec["beads"] + 1)]
            r, g = rdfs[0][0], np.mean([x[1] for x in rdfs], axis=0)
            parts = [x[1] for x in rdfs]
            loop = _loop_time(log0)
            sel = steps > spec["equil"]
            equil_steps, prod_steps = spec["equil"], spec["prod"]
        else:
            ks, gs, loop = [], [], 0.0
            for i, (start, n, prod) in enumerate(_chunks(spec)):
                cd = jd / f"c{i}"
                loop += _loop_time(cd / "log.lammps")
                if prod:
                    st, kk = thermo_column(cd / "log.lammps", "KinEng")
                    ks.append(kk[st > start])
                    r, g = read_rdf(cd / "rdf.txt")
                    gs.append(g)
            k, g = np.concatenate(ks), np.mean(gs, axis=0)
            parts = gs
            sel = np.ones(len(k), bool)
            equil_steps, prod_steps = sum(spec["discard"]), sum(spec["prod"])
        ke = k[sel] / natoms * 1e3                      # meV/atom
        mean, err = mean_and_error(ke)
        pos, height = first_peak(r, g)
        # rough error of the peak: spread of the per-bead (PIMD; beads are correlated, so
        # this underestimates) or per-chunk (QTB, 2 chunks) peaks / sqrt(n)
        pk = np.array([first_peak(r, gp) for gp in parts])
        pk_err = pk.std(axis=0, ddof=1) / math.sqrt(len(pk)) if len(pk) > 1 else [0.0, 0.0]
        out[name] = dict(ke=mean, ke_err=err, n=len(ke), pos=pos, height=height,
                         pos_err=float(pk_err[0]), height_err=float(pk_err[1]),
                         loop_s=loop, wall_s=float((jd / "wall.txt").read_text()),
                         s_per_step=loop / (equil_steps + prod_steps),
                         prod_steps=prod_steps, equil_steps=equil_steps)
    return out


def table(workdir: Path) -> str:
    res = analyse(workdir)
    a = lattice_parameter()
    kcl = 1.5 * units.KB * TEMP * 1e3
    lines = [f"bcc Li, 54 atoms (3x3x3), a = {a:.4f} A (static minimum of the default model), "
             f"NVT {TEMP:.0f} K, dt {DT * 1e3:.0f} fs, pair_style deepmd (qfe default model)",
             f"classical kinetic energy 3kT/2 = {kcl:.3f} meV/atom",
             f"QTB: fix qtb {QTB_ARGS}; adQTB adds 'deconvolution yes adaptive yes' (defaults "
             "otherwise); "
             + ", ".join(f"{n}: {sum(JOBS[n]['discard']) * DT:g} ps equilibration/adaptation + "
                         f"{sum(JOBS[n]['prod']) * DT:g} ps production" for n in ("qtb", "adqtb"))
             + " (chunks joined by restart files)",
             "PIMD: " + PIMD_FIX_LINE.format(temp=TEMP, seed="S", tau=0.1)
             + "; K = centroid-virial f_pimd[7]; RDF averaged over beads",
             "", f"{'method':8s} {'K meV/atom':>16s} {'dK/K_ref':>9s} {'r1 A':>16s} "
             f"{'dr1':>7s} {'g(r1)':>14s} {'dg1':>7s} {'prod ps':>8s} {'s/step':>7s}"]
    ref_name = max((n for n in res if n.startswith("pimd")), key=lambda n: JOBS[n]["beads"],
                   default=None)
    ref = res.get(ref_name) if ref_name else None
    # structure reference: the mean over the independent PIMD runs (pimd8 is the start of
    # pimd8long and is left out), error from their scatter: the first-peak height of ~1-4 ps
    # PIMD runs scatters by ~1 %, more than its change from P = 4 to 16
    indep = [n for n in res if n.startswith("pimd") and n != "pimd8"]
    rref = None
    if indep:
        pos = np.array([res[n]["pos"] for n in indep])
        hgt = np.array([res[n]["height"] for n in indep])
        sd = (lambda v: v.std(ddof=1) / math.sqrt(len(v))) if len(indep) > 1 else (lambda v: 0.0)
        rref = dict(pos=pos.mean(), height=hgt.mean(), pos_err=sd(pos), height_err=sd(hgt))
    rref_name = "mean of " + ", ".join(indep)
    for name, x in res.items():
        dk = (f"{(x['ke'] / ref['ke'] - 1) * 100:+8.2f}%" if ref else "")
        dr = f"{(x['pos'] / rref['pos'] - 1) * 100:+6.2f}%" if rref else ""
        dg = f"{(x['height'] / rref['height'] - 1) * 100:+6.2f}%" if rref else ""
        lines.append(f"{name:8s} {x['ke']:9.3f} +- {x['ke_err']:5.3f} {dk:>9s} "
                     f"{x['pos']:7.4f} +- {x['pos_err']:5.4f} {dr:>7s} "
                     f"{x['height']:6.3f} +- {x['height_err']:5.3f} {dg:>7s} "
                     f"{x['prod_steps'] * DT:8.1f} {x['s_per_step']:7.4f}")
    if ref:
        lines += ["", f"references: K from {ref_name} (largest P measured), r1 and g(r1) from the "
                  f"{rref_name} (independent PIMD runs): r1 = {rref['pos']:.4f} +- "
                  f"{rref['pos_err']:.4f} A, g(r1) = {rref['height']:.3f} +- "
                  f"{rref['height_err']:.3f} (error from the scatter of the runs); K error: "
                  "block average / "
                  "autocorrelation (larger of the two); r1, g(r1): first RDF maximum "
                  "(least-squares parabola over 7 bins of 0.04 A), error rough (spread over "
                  "beads or chunks)"]
        pim = [x for n, x in res.items() if n.startswith("pimd")]
        if len(pim) > 1:
            h = np.array([x["height"] for x in pim])
            r1 = np.array([x["pos"] for x in pim])
            lines.append(f"PIMD runs (all P, {len(pim)} runs; pimd8 is the start of pimd8long): "
                         f"first peak r1 {r1.min():.4f}-{r1.max():.4f} A, g(r1) "
                         f"{h.min():.3f}-{h.max():.3f} (std {h.std(ddof=1):.3f}, "
                         f"{h.std(ddof=1) / h.mean() * 100:.1f} %): the scatter of ~1-4 ps PIMD "
                         "runs, larger than the rough per-run error bars")
        # wall time to a common kinetic-energy error bar: t = loop time * (err/target)^2
        target = 0.1 * kcl / 100 * 2     # 0.2 % of 3kT/2
        lines.append(f"cost to a kinetic-energy standard error of {target:.3f} meV/atom (0.2 % "
                     "of 3kT/2), equilibration/adaptation included, scaled from the measured "
                     "error as (err/target)^2: time-stepping wall time (LAMMPS loop time on "
                     "this shared, loaded 2-core machine; PIMD runs P ranks at once) and the "
                     "machine-independent number of 54-atom force evaluations (steps x P):")
        for name, x in res.items():
            per_step = x["s_per_step"]
            beads = JOBS[name].get("beads", 1)
            prod_n = x["prod_steps"] * (x["ke_err"] / target) ** 2
            prod_t, fixed = per_step * prod_n, per_step * x["equil_steps"]
            evals = (prod_n + x["equil_steps"]) * beads
            lines.append(f"  {name:8s} {prod_t + fixed:8.0f} s  (production {prod_t:.0f} s "
                         f"+ equilibration/adaptation {fixed:.0f} s); {evals:9.0f} force "
                         "evaluations")
    return "\n".join(einstein_table(workdir) + [""] + lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", nargs="?", default="all", choices=["run", "table", "all"])
    ap.add_argument("jobs", nargs="*", help=f"jobs for 'run' (einstein, {', '.join(JOBS)})")
    ap.add_argument("--workdir", default=os.environ.get("QFE_PIMD_WORKDIR", "/tmp/pimd_vs_qtb"))
    ap.add_argument("--nice", type=int, default=5)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workdir = Path(args.workdir)
    jobs = ["einstein", *JOBS] if args.action == "all" else args.jobs
    for j in jobs if args.action in ("run", "all") else []:
        if j == "einstein":
            run_einstein(workdir, args.nice)
            continue
        if j not in JOBS:
            sys.exit(f"unknown job {j!r}; choose from {', '.join(JOBS)}")
        run_job(j, workdir, args.nice)
    if args.action in ("table", "all"):
        text = table(workdir)
        print(text)
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(text + "\n")


if __name__ == "__main__":
    main()
