"""fix qtb with pair_style deepmd (bcc Li at 50 K): the quantum kinetic temperature is well
above the classical 50 K, as zero-point motion of Li (Debye temperature ~ 340 K) demands."""

from __future__ import annotations

import numpy as np
import pytest

from qfe.lammps import create_lammps

pytestmark = pytest.mark.deepmd


def test_deepmd_bcc_li_quantum_kinetic_temperature(lithium_model):
    pytest.importorskip("deepmd")
    lmp = create_lammps()
    if not lmp.has_style("pair", "deepmd"):
        pytest.skip("pair_style deepmd not available (deepmd-kit LAMMPS plugin not installed)")
    for line in [
        "units metal", "atom_style atomic", "boundary p p p",
        "lattice bcc 3.44", "region box block 0 3 0 3 0 3", "create_box 1 box",
        "create_atoms 1 box", "mass 1 6.941",
        f"pair_style deepmd {lithium_model}", "pair_coeff * *",
        "timestep 0.001",
        "velocity all create 50 2911 dist gaussian",
        "fix nve all nve",
        "fix q all qtb temp 50 damp 0.2 seed 1234 f_max 30 N_f 100",
        "compute t all temp",
        "thermo 100",
        "run 400",                                   # 2 damping times
        "fix avg all ave/time 1 10 10 c_t",          # every step: no phase locking to alpha
        "fix rec all vector 10 f_avg",
        "run 300",
    ]:
        lmp.command(line)
    temps = np.array([lmp.extract_fix("rec", 0, 1, i) for i in range(30)])
    econs = lmp.get_thermo("econserve")
    lmp.close()
    t_kin = temps.mean()
    print(f"bcc Li, pair_style deepmd, fix qtb temp 50: kinetic temperature {t_kin:.1f} K")
    # classical equipartition gives 50 K; a harmonic estimate with phonon frequencies of
    # 6-8 THz gives 140-170 K (zero point); generous slack for 54 atoms x 0.3 ps
    assert t_kin > 100.0, t_kin
    assert t_kin < 250.0, t_kin
    assert np.isfinite(econs)
