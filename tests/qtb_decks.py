"""Small LAMMPS decks shared by the fix qtb tests (metal units)."""

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
