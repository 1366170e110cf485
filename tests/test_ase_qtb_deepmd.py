"""QTBCalculator around deepmd-kit's ASE calculator (``deepmd.calculator.DP``) reproduces a LAMMPS
``pair_style deepmd`` + ``fix nve`` + ``fix qtb`` trajectory of bcc Li."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.md.verlet import VelocityVerlet

from qfe.ase_calculators import PS, QTBCalculator
from qfe.lammps import create_lammps

pytestmark = pytest.mark.deepmd

STEPS = 400


def test_dp_calculator_matches_lammps_deepmd(lithium_model):
    pytest.importorskip("deepmd")
    from deepmd.calculator import DP

    lmp = create_lammps()
    if not lmp.has_style("pair", "deepmd"):
        pytest.skip("pair_style deepmd not available (deepmd-kit LAMMPS plugin not installed)")
    for line in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                 "lattice bcc 3.44", "region box block 0 2 0 2 0 2", "create_box 1 box",
                 "create_atoms 1 box", "mass 1 6.941", f"pair_style deepmd {lithium_model}",
                 "pair_coeff * *", "timestep 0.001",
                 "velocity all create 50 2911 dist gaussian", "fix nve all nve",
                 "fix q all qtb temp 50 damp 0.2 seed 1234 f_max 30 N_f 100"]:
        lmp.command(line)
    x0 = np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
    v0 = np.array(lmp.gather_atoms("v", 1, 3)).reshape(-1, 3)
    lmp.command(f"run {STEPS}")
    lmp.command("compute xu all property/atom xu yu zu")
    lmp.command("run 0 pre no post no")
    x = np.array(lmp.numpy.extract_compute("xu", 1, 2), dtype=float)
    tags = np.array(lmp.numpy.extract_atom("id"))[: x.shape[0]]
    x = x[np.argsort(tags)]
    e_lmp = lmp.extract_fix("q", 0, 0)
    lmp.close()

    atoms = Atoms("Li16", positions=x0, cell=np.eye(3) * 2 * 3.44, pbc=True)
    atoms.set_masses(np.full(16, 6.941))
    atoms.set_velocities(v0 / PS)
    atoms.calc = QTBCalculator(DP(str(lithium_model)), timestep=0.001 * PS, temperature_K=50,
                               damp=0.2 * PS, f_max=30 / PS, seed=1234)
    VelocityVerlet(atoms, timestep=0.001 * PS).run(STEPS)
    dx = np.max(np.abs(atoms.get_positions() - x))
    print(f"DP + QTBCalculator vs LAMMPS deepmd + fix qtb, {STEPS} steps: max |dx| = {dx:.2e} A "
          f"(rms displacement {np.sqrt(np.mean((x - x0) ** 2)):.3f} A)")
    assert np.sqrt(np.mean((x - x0) ** 2)) > 0.05
    assert dx < 1e-8
    assert atoms.calc.energy_to_bath == pytest.approx(e_lmp, rel=1e-8)
