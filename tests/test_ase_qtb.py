"""QTB from ASE (qfe.ase_calculators): same trajectories as LAMMPS fix nve + fix qtb, quantum
kinetic energy of an Einstein crystal, energy tally, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units
from ase.md.verlet import VelocityVerlet

from qfe.ase_calculators import PS, HarmonicTethers, QTBCalculator, QTBDynamics
from qfe.lammps import create_lammps
from qfe.qtb.spectrum import classical_kinetic_energy, einstein_kinetic_energy
from qfe.units import HBAR, KB, MASS_H

from qtb_decks import (
    OMEGA_H,
    SPRING_K,
    einstein_deck,
    gather_sorted,
    run_commands,
    unwrapped_sorted,
)

DT_PS = 0.0005          # timestep of the shared Einstein decks (ps)


def _lammps_run(deck, runs, spacing=3.0, n_cells=3):
    """Initial positions/velocities, then unwrapped positions, velocities and fix qtb's scalar
    (energy given to the bath) after the given `run` commands."""
    lmp = create_lammps()
    run_commands(lmp, deck)
    x0, v0 = gather_sorted(lmp, "x"), gather_sorted(lmp, "v")
    for n in runs:
        lmp.command(f"run {n}")
    x = unwrapped_sorted(lmp)
    v = gather_sorted(lmp, "v")
    e_bath = lmp.extract_fix("q", 0, 0)
    lmp.close()
    return x0, v0, x, v, e_bath


def _einstein_atoms(x0, v0, spacing=3.0, n_cells=3):
    """ASE twin of the LAMMPS deck: same positions, velocities (A/ps -> A/ASE time), masses,
    cell and tethers."""
    n = len(x0)
    atoms = Atoms(f"H{n}", positions=x0, cell=np.eye(3) * spacing * n_cells, pbc=True)
    atoms.set_masses(np.full(n, MASS_H))
    atoms.set_velocities(v0 / PS)
    atoms.calc = HarmonicTethers(SPRING_K, reference_positions=x0)
    return atoms


QTB_ARGS = dict(temp="300", damp=0.1, f_max=100.0, n_f=100, seed=4242)


def _ase_kwargs(temp=(300.0,), damp=0.1, f_max=100.0, n_f=100, seed=4242, zero=False):
    t = temp[0] if len(temp) == 1 else tuple(temp)
    return dict(timestep=DT_PS * PS, temperature_K=t, damp=damp * PS, f_max=f_max / PS,
                n_f=n_f, seed=seed, zero=zero)


def test_ps_is_the_kernel_time_unit():
    from qfe.qtb.noise_kernel import lammps_metal_units

    assert PS == math.sqrt(lammps_metal_units().ftm2v)
    assert PS == pytest.approx(1000 * units.fs, rel=5e-8)     # ASE's CODATA ps, for scale


@pytest.mark.parametrize("how", ["dynamics", "wrapper", "dynamics-continued"])
def test_same_trajectory_as_lammps(how):
    """27 tethered H atoms, fix nve + fix spring/self + fix qtb in LAMMPS vs the ASE twin with
    the same seed and timestep: positions agree to 1e-8 A after 1000 steps (the noise is
    bit-identical; only round-off of the two integrators differs), and so does the energy given
    to the bath."""
    deck = einstein_deck(n_cells=3, timestep=DT_PS, **QTB_ARGS)
    x0, v0, x_lmp, v_lmp, e_lmp = _lammps_run(deck, [1000])
    atoms = _einstein_atoms(x0, v0)
    kwargs = _ase_kwargs()
    if how == "wrapper":
        atoms.calc = QTBCalculator(atoms.calc, **kwargs)
        VelocityVerlet(atoms, timestep=kwargs["timestep"]).run(1000)
        assert atoms.calc.step == 1000
        e_ase = atoms.calc.energy_to_bath
    else:
        dyn = QTBDynamics(atoms, **kwargs)
        for n in ([1000] if how == "dynamics" else [600, 1, 399]):
            dyn.run(n)
        e_ase = dyn.energy_to_bath
    dx = np.max(np.abs(atoms.get_positions() - x_lmp))
    dv = np.max(np.abs(atoms.get_velocities() * PS - v_lmp))
    rms_disp = np.sqrt(np.mean((x_lmp - x0) ** 2))
    print(f"{how}: max |x_ASE - x_LAMMPS| = {dx:.2e} A (rms displacement {rms_disp:.3f} A), "
          f"max |dv| = {dv:.2e} A/ps, bath energy {e_ase:.9f} vs {e_lmp:.9f} eV")
    assert rms_disp > 0.05                        # the atoms did move
    assert dx < 1e-8
    assert dv < 1e-6
    assert e_ase == pytest.approx(e_lmp, rel=1e-8, abs=1e-10)


def test_ramp_and_zero_match_lammps():
    """Temperature ramp (100 -> 1000 K over the run) and zero yes, against LAMMPS."""
    deck = einstein_deck(n_cells=3, timestep=DT_PS, temp="100 1000", damp=0.1, f_max=100.0,
                         n_f=50, seed=77, extra_qtb="zero yes")
    x0, v0, x_lmp, v_lmp, e_lmp = _lammps_run(deck, [1000])
    atoms = _einstein_atoms(x0, v0)
    dyn = QTBDynamics(atoms, **_ase_kwargs(temp=(100.0, 1000.0), n_f=50, seed=77, zero=True))
    dyn.run(1000)
    assert dyn.bath.kernel.temperature == pytest.approx(100 + 900 * 1000 / 1000)
    dx = np.max(np.abs(atoms.get_positions() - x_lmp))
    print(f"ramp + zero: max |dx| = {dx:.2e} A")
    assert dx < 1e-8
    assert dyn.energy_to_bath == pytest.approx(e_lmp, rel=1e-8)


def test_different_seed_changes_the_trajectory():
    """Control for the 1e-8 A comparison: one other seed moves atoms by far more."""
    deck = einstein_deck(n_cells=3, timestep=DT_PS, **QTB_ARGS)
    x0, v0, x_lmp, _, _ = _lammps_run(deck, [1000])
    atoms = _einstein_atoms(x0, v0)
    QTBDynamics(atoms, **_ase_kwargs(seed=4243)).run(1000)
    assert np.max(np.abs(atoms.get_positions() - x_lmp)) > 1e-3


def _block_mean_error(series, nblocks=20):
    m = (series.size // nblocks) * nblocks
    blocks = series[:m].reshape(nblocks, -1).mean(axis=1)
    return series.mean(), blocks.std(ddof=1) / np.sqrt(nblocks)


@pytest.mark.parametrize("x", [2.0, 8.0])
def test_einstein_crystal_kinetic_energy(x):
    """QTBDynamics on 512 independent H-mass oscillators (omega = 219 rad/ps): the kinetic
    energy per degree of freedom, averaged over every step, is within 3% of the quantum value
    (hbar w/4) coth(hbar w/2kT) at hbar w/kT = 2 and 8 (damp 0.2 ps, f_max 100 THz as in the
    LAMMPS test; predicted bias from friction broadening and Verlet < 1.2%)."""
    T = HBAR * OMEGA_H / (KB * x)
    n_cells = 8
    spacing = 3.0
    grid = np.indices((n_cells,) * 3).reshape(3, -1).T * spacing
    atoms = Atoms(f"H{len(grid)}", positions=grid, cell=np.eye(3) * spacing * n_cells, pbc=True)
    atoms.set_masses(np.full(len(atoms), MASS_H))
    atoms.calc = HarmonicTethers(SPRING_K)
    dyn = QTBDynamics(atoms, timestep=DT_PS * PS, temperature_K=T, damp=0.2 * PS,
                      f_max=100 / PS, seed=1000 + int(10 * x))
    dyn.run(4000)                                 # 2 ps = 10 damping times
    ndof = 3 * len(atoms)
    ke = []
    dyn.attach(lambda: ke.append(atoms.get_kinetic_energy() / ndof), interval=1)
    dyn.run(16000)                                # 8 ps, every step sampled
    ke = np.array(ke[1:])
    mean, err = _block_mean_error(ke)
    exact = einstein_kinetic_energy(OMEGA_H, T)
    print(f"hbar w/kT = {x}: KE/dof = {mean:.6f} eV, exact {exact:.6f} eV, ratio "
          f"{mean / exact:.4f} +- {err / exact:.4f}")
    assert err < 0.006 * exact, f"statistical error {err / exact:.2%} too large for the 3% test"
    assert mean == pytest.approx(exact, rel=0.03), (mean / exact, err / exact)
    # far from the classical kT/2: zero-point motion
    assert mean > (1.25 if x == 2 else 3.5) * classical_kinetic_energy(T)


def test_energy_tally_makes_a_conserved_quantity():
    """E_kin + E_pot + energy_to_bath stays flat while hundreds of eV go through the bath; the
    wrapper's tally (predicted full-step velocities) equals QTBDynamics's."""
    grid = np.indices((4, 4, 4)).reshape(3, -1).T * 3.0
    make = lambda: Atoms("H64", positions=grid, cell=np.eye(3) * 12, pbc=True)  # noqa: E731
    atoms = make()
    atoms.calc = HarmonicTethers(SPRING_K)
    dyn = QTBDynamics(atoms, timestep=DT_PS * PS, temperature_K=200, damp=0.05 * PS,
                      f_max=100 / PS, seed=9)
    conserved, total = [], []
    dyn.attach(lambda: (conserved.append(dyn.conserved_energy()),
                        total.append(atoms.get_total_energy())), interval=10)
    dyn.run(6000)
    conserved, total = np.array(conserved), np.array(total)
    assert abs(dyn.energy_to_bath) > 2.0
    assert conserved[50:].std() < 0.02 * total[50:].std()
    assert abs(conserved[-1] - conserved[0]) < 0.01 * abs(dyn.energy_to_bath)

    twin = make()
    twin.calc = QTBCalculator(HarmonicTethers(SPRING_K), timestep=DT_PS * PS,
                              temperature_K=200, damp=0.05 * PS, f_max=100 / PS, seed=9)
    VelocityVerlet(twin, timestep=DT_PS * PS).run(6000)
    np.testing.assert_allclose(twin.get_positions(), atoms.get_positions(), atol=1e-9)
    assert twin.calc.energy_to_bath == pytest.approx(dyn.energy_to_bath, rel=1e-8)


def test_wrapper_caches_per_configuration_and_passes_energy_through():
    atoms = Atoms("H2", positions=[[0, 0, 0], [2, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    atoms.set_velocities(np.ones((2, 3)) * 0.01)
    tethers = HarmonicTethers(2.0, reference_positions=[[0.1, 0, 0], [2, 0, 0]])
    calc = QTBCalculator(tethers, timestep=0.5 * units.fs, temperature_K=100)
    atoms.calc = calc
    f1 = atoms.get_forces()
    assert calc.step == 0
    np.testing.assert_allclose(atoms.get_forces(), f1)      # same configuration: same step
    assert calc.step == 0
    assert atoms.get_potential_energy() == pytest.approx(0.5 * 2.0 * 0.1 ** 2)
    np.testing.assert_allclose(f1 - calc.results["bath_forces"], [[0.2, 0, 0], [0, 0, 0]])
    assert np.all(calc.results["bath_forces"] != 0)
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert calc.step == 1
    calc.reset_step(7)
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert calc.step == 7
    np.testing.assert_allclose(atoms.get_stress(), np.zeros(6))


# ------------------------------------------------------------------ bad input

def _h2(calc=True):
    atoms = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=np.eye(3) * 4, pbc=True)
    if calc:
        atoms.calc = HarmonicTethers(1.0)
    return atoms


GOOD = dict(timestep=0.5 * units.fs, temperature_K=300)


def test_missing_calculator():
    with pytest.raises(ValueError, match="no calculator"):
        QTBDynamics(_h2(calc=False), **GOOD)
    with pytest.raises(ValueError, match="needs the ASE calculator.*got None"):
        QTBCalculator(None, **GOOD)


@pytest.mark.parametrize("temperature, match", [
    (-5.0, r"temperature_K must be >= 0, got -5.0"),
    ((100.0, -1.0), r"ramp end\) must be >= 0, got -1.0"),
    (float("nan"), "temperature_K must be >= 0, got nan"),
    ((1, 2, 3), "pair"),
    (None, "temperature_K is required"),
])
def test_bad_temperature(temperature, match):
    with pytest.raises(ValueError, match=match):
        QTBDynamics(_h2(), timestep=0.5 * units.fs, temperature_K=temperature)
    with pytest.raises(ValueError, match=match):
        QTBCalculator(HarmonicTethers(1.0), timestep=0.5 * units.fs, temperature_K=temperature,
                      ramp_steps=10)


def test_atoms_without_masses():
    atoms = _h2()
    atoms.set_masses([1.0, 0.0])
    with pytest.raises(ValueError, match=r"atom 1 \(H\) has no usable mass \(got 0.0"):
        QTBDynamics(atoms, **GOOD)
    atoms.set_masses([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"atom 0 \(H\) has no usable mass \(got nan"):
        QTBDynamics(atoms, **GOOD)
    dummy = Atoms("HX", positions=[[0, 0, 0], [1, 0, 0]])
    dummy.calc = HarmonicTethers(1.0)
    with pytest.raises(ValueError, match="atom 1 is a dummy atom 'X' without a mass"):
        QTBDynamics(dummy, **GOOD)
    # the wrapper checks at the first force evaluation
    atoms.calc = QTBCalculator(HarmonicTethers(1.0), **GOOD)
    with pytest.raises(ValueError, match="no usable mass"):
        atoms.get_forces()


@pytest.mark.parametrize("kwargs, match", [
    (dict(timestep=-1.0), r"timestep must be > 0, got -1.0"),
    (dict(damp=0.0), r"damp must be > 0, got 0.0"),
    (dict(f_max=-3.0), r"f_max must be > 0, got -3.0"),
    (dict(f_max=2.0 / units.fs), r"f_max = .* is above the Nyquist frequency"),
    (dict(n_f=0), r"n_f must be a positive integer, got 0"),
    (dict(n_f=2.5), r"n_f must be a positive integer, got 2.5"),
    (dict(seed=0), r"seed must be an integer in \[1, 4294967295\], got 0"),
    (dict(seed=2 ** 32), r"seed must be an integer .* got 4294967296"),
    (dict(seed=2 ** 70), r"seed must be an integer .* got 1180591620717411303424"),
    (dict(n_f=100001), r"n_f must be <= 100000, got 100001"),
    (dict(n_f=3000, deconvolution=True), r"n_f must be <= 2048 with deconvolution, got 3000"),
    (dict(damp="1"), r"damp must be > 0, got '1'"),
])
def test_bad_bath_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QTBDynamics(_h2(), **{**GOOD, **kwargs})


def test_ramp_needs_steps_in_the_wrapper():
    with pytest.raises(ValueError, match="needs ramp_steps"):
        QTBCalculator(HarmonicTethers(1.0), timestep=0.5 * units.fs, temperature_K=(10, 100))
