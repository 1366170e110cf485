"""Small LAMMPS decks and deck runners shared by the fix qtb / fix nct_sample tests (metal
units)."""

from __future__ import annotations

import math

from qfe.units import MASS_H, MVV2E

# Einstein crystal of hydrogen-mass atoms: each tethered by fix spring/self, no pair style.
SPRING_K = 5.0                                  # eV/A^2
OMEGA_H = math.sqrt(SPRING_K / (MASS_H * MVV2E))   # rad/ps, about 219


def einstein_deck(*, n_cells=4, temp="300", damp=0.2, seed=4242, f_max=100.0, n_f=100,
                  timestep=0.0005, extra_qtb="", velocity_seed=87287, with_spring=True,
                  spring_first=False):
    """Commands that build an Einstein crystal (sc lattice 3 A, n_cells^3 atoms) with
    fix nve + fix qtb (ID q) [+ fix spring/self k=SPRING_K, energy counted]."""
    lines = [
        "units metal",
        "atom_style atomic",
        "atom_modify map array",
        "boundary p p p",
        "lattice sc 3.0",
        f"region box block 0 {n_cells} 0 {n_cells} 0 {n_cells}",
        "create_box 1 box",
        "create_atoms 1 box",
        f"mass 1 {MASS_H}",
        f"timestep {timestep}",
        "comm_modify cutoff 2.0",
        f"velocity all create 10.0 {velocity_seed} dist gaussian",
        "fix nve all nve",
    ]
    spring = [f"fix tether all spring/self {SPRING_K}", "fix_modify tether energy yes"]
    qtb = [f"fix q all qtb temp {temp} damp {damp} seed {seed} f_max {f_max} N_f {n_f} "
           f"{extra_qtb}".strip()]
    if with_spring and spring_first:
        lines += spring + qtb
    elif with_spring:
        lines += qtb + spring
    else:
        lines += qtb
    return lines


def run_commands(lmp, lines):
    for line in lines:
        lmp.command(line)


def gather_sorted(lmp, name="x"):
    """Per-atom array (natoms, 3) sorted by atom ID, as numpy (float64)."""
    import numpy as np

    data = np.array(lmp.gather_atoms(name, 1, 3), dtype=float).reshape(-1, 3)
    return data     # gather_atoms returns atoms ordered by ID


def unwrapped_sorted(lmp):
    """Unwrapped positions (natoms, 3) sorted by atom ID (runs ``run 0`` to evaluate them)."""
    import numpy as np

    lmp.command("compute xu all property/atom xu yu zu")
    lmp.command("run 0 pre no post no")
    x = np.array(lmp.numpy.extract_compute("xu", 1, 2), dtype=float)
    tags = np.array(lmp.numpy.extract_atom("id"))[: x.shape[0]]
    return x[np.argsort(tags)]


def rank_invariance_deck(free: bool, qtb_args: str) -> str:
    """64 H atoms (sc lattice, no pair style), tethered by fix spring/self or free to migrate
    between ranks; fix qtb with ``qtb_args``; writes final.dump (id, unwrapped x, v)."""
    tether = "" if free else "fix tether all spring/self 5.0\n"
    return f"""units metal
atom_style atomic
atom_modify map array
boundary p p p
lattice sc 3.0
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.00794
timestep 0.0005
comm_modify cutoff 2.0
neighbor 0.5 bin
neigh_modify every 1 delay 0 check yes
fix nve all nve
fix q all qtb temp {3000 if free else 300} damp 0.1 seed 31 {qtb_args}
{tether}compute xu all property/atom xu yu zu
thermo 500
run 2000
write_dump all custom final.dump id xu yu zu vx vy vz modify sort id format float %.17g
"""


def run_on_ranks(workdir, nprocs: int, deck: str):
    """Run ``deck`` with the wheel's mpiexec on ``nprocs`` ranks in ``workdir``; returns the
    rows of final.dump and the log text."""
    import subprocess

    import numpy as np

    from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.qtb").write_text(deck)
    proc = subprocess.run([mpiexec_executable(), "-n", str(nprocs), lmp_executable(), "-in",
                           "in.qtb", "-log", "log.lammps"], cwd=workdir, capture_output=True,
                          text=True, timeout=300, env=lammps_environment())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return np.loadtxt(workdir / "final.dump", skiprows=9), (workdir / "log.lammps").read_text()


def deck_error(box, commands) -> str:
    """The message of the exception that ``commands`` raise after the set-up ``box`` (both
    lists of LAMMPS commands) in a fresh in-process LAMMPS; fails if none is raised."""
    import pytest

    from qfe.lammps import create_lammps

    lmp = create_lammps()
    try:
        for c in box:
            lmp.command(c)
        with pytest.raises(Exception) as info:
            for c in commands:
                lmp.command(c)
        return str(info.value)
    finally:
        lmp.close()
