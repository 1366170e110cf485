"""Gamma-point frequencies from Hessians, checked on exactly solvable cases."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

from qfe.potentials import EinsteinCrystal, PairSpringCrystal
from qfe.potentials.phonons import (
    acoustic_sum_rule_violation,
    frequencies_from_hessian,
    gamma_frequencies,
    relative_rms_difference,
    rms_difference_over_rms,
    without_acoustic,
)
from qfe.units import FTM2V


def test_einstein_crystal_frequencies():
    pos = np.random.default_rng(0).normal(size=(4, 3))
    pot = EinsteinCrystal(symbols=["Li"] * 4, masses=[6.94] * 4, reference_positions=pos, k=2.5)
    nu = gamma_frequencies(pot)
    np.testing.assert_allclose(nu, np.sqrt(2.5 * FTM2V / 6.94) / (2 * np.pi), rtol=1e-12)


def test_dimer_in_a_box_has_one_stretch_mode_and_acoustic_sum_rule():
    """Two atoms joined by one spring k: the stretch mode has w^2 = k (1/m1 + 1/m2)."""
    pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]])
    pot = PairSpringCrystal(symbols=["H", "Li"], masses=[1.008, 6.94], reference_positions=pos,
                            cutoff=2.0, k=3.0)
    hess = np.asarray(pot.hessian(jax.numpy.asarray(pos)))
    assert acoustic_sum_rule_violation(hess) < 1e-12
    nu = frequencies_from_hessian(hess, pot.masses)
    expected = np.sqrt(3.0 * FTM2V * (1 / 1.008 + 1 / 6.94)) / (2 * np.pi)
    assert abs(nu[-1] - expected) < 1e-10 * expected
    np.testing.assert_allclose(nu[:-1], 0.0, atol=1e-6)


def test_acoustic_modes_removed_by_magnitude_not_order():
    nu = np.array([-2.0, -2.0, 1e-7, -1e-7, 0.0, 3.0, 5.0])
    np.testing.assert_array_equal(without_acoustic(nu), [-2.0, -2.0, 3.0, 5.0])
    ref = np.array([-1.0, -1.0, 0.0, 0.0, 0.0, 3.0, 5.0])
    model = np.array([-1.1, -0.9, 1e-8, 0.0, -1e-8, 3.3, 5.0])
    assert abs(relative_rms_difference(model, ref) - np.sqrt((0.01 + 0.01 + 0.01) / 4)) < 1e-12
    assert abs(rms_difference_over_rms(model, ref)
               - np.sqrt((0.01 + 0.01 + 0.09) / (1 + 1 + 9 + 25))) < 1e-12
