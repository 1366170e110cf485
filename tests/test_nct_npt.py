"""Constant-pressure NCT (qfe.nct.npt) against the exact quasi-harmonic G(T, P).

The model crystal (QuasiHarmonicCrystal) is exactly harmonic at every cell, with every
frequency scaling as V^-gamma under isotropic strain, so

    G(T, P) = min_V [ B (v - v0)^2 / (2 v0) + F_harm(w(V), T) / N + P v ]

exactly.  The reference below builds the bond dynamical matrix with numpy (not the engine's
autodiff Hessian) and minimises over V with a root finder; NCT has to find the same V and G
from its sampled stress and free energy.
"""

import json
import warnings

import numpy as np
import pytest
from ase.build import bulk
from scipy.optimize import brentq

import qfe.nct
from qfe import units
from qfe.nct.system import harmonic_oscillator_free_energy

K_BOND, GAMMA, B_GPA, CUTOFF = 1.0, 1.0, 10.0, 3.6
A_LI = 3.44
V0 = A_LI**3 / 2                                   # A^3/atom of the reference bcc cell
SPEC = (f"quasi-harmonic:k={K_BOND},gamma={GAMMA},bulk_modulus={B_GPA},cutoff={CUTOFF},"
        f"v0={V0}")


def crystal():
    return bulk("Li", "bcc", a=A_LI, cubic=True).repeat(2)      # 16 atoms, 45 modes


def bond_frequencies(atoms, k, cutoff):
    """hbar w (eV) of linearised springs k (eV/A^2) between all pairs within cutoff."""
    pos, cell, n = atoms.get_positions(), np.asarray(atoms.get_cell()), len(atoms)
    h = np.zeros((n, 3, n, 3))
    r = range(-2, 3)
    shifts = np.array(np.meshgrid(r, r, r)).reshape(3, -1).T
    for i in range(n):
        for j in range(n):
            for s in shifts:
                if i == j and not s.any():
                    continue
                d = pos[j] + s @ cell - pos[i]
                dist = np.linalg.norm(d)
                if dist < cutoff:
                    e = k * np.outer(d, d) / dist**2
                    h[i, :, j, :] -= e
                    h[i, :, i, :] += e
    m = np.repeat(atoms.get_masses(), 3)
    lam = np.sort(np.linalg.eigvalsh(h.reshape(3 * n, 3 * n) / np.sqrt(np.outer(m, m))))[3:]
    return units.HBAR * np.sqrt(lam / units.MVV2E)


def exact_gibbs(atoms, temperature, pressure):
    """(V A^3/atom, G meV/atom) of the model at T (K), P (GPa)."""
    n = len(atoms)
    v_ref = atoms.get_volume() / n
    hw_ref = bond_frequencies(atoms, K_BOND * (V0 / v_ref) ** (2 * GAMMA), CUTOFF)
    b, p = B_GPA / units.EV_PER_A3_TO_GPA, pressure / units.EV_PER_A3_TO_GPA
    kT = units.KB * temperature

    def f(v):
        return (0.5 * b * (v - V0) ** 2 / V0
                + harmonic_oscillator_free_energy(hw_ref * (v_ref / v) ** GAMMA, kT) / n)

    def p_of(v, h=1e-5):
        return -(f(v + h) - f(v - h)) / (2 * h)

    v = brentq(lambda v: p_of(v) - p, 0.6 * V0, 1.6 * V0)
    return v, (f(v) + p * v) * 1e3


def check_against_exact(r, temperature, pressure):
    v_exact, g_exact = exact_gibbs(crystal(), temperature, pressure)
    assert r.converged
    assert abs(r.measured_pressure[0] - pressure) <= 2 * r.measured_pressure[1] + 1e-3
    # V within 0.1 % (the bar) and within 3 of its error bars
    assert abs(r.volume[0] - v_exact) / v_exact < 1e-3
    assert abs(r.volume[0] - v_exact) < 3 * r.volume[1] + 1e-4 * v_exact
    # G within 2 sigma; sigma has a floor of 2e-4 meV/atom (the exact F of a harmonic state
    # has nearly zero variance) plus the second-order term of the residual pressure
    sigma = np.hypot(r.G[1], 2e-4)
    assert abs(r.G[0] - g_exact) < 2 * sigma + 1e-3, (r.G, g_exact)


def test_exact_reference_is_self_consistent():
    """The numpy reference: at the exact V the engine's static + harmonic F matches, and the
    volume grows with T (thermal pressure gamma E_vib / V > 0)."""
    v100, g100 = exact_gibbs(crystal(), 100.0, 0.0)
    v300, _ = exact_gibbs(crystal(), 300.0, 0.0)
    assert V0 < v100 < v300
    atoms = crystal()
    atoms.set_cell(atoms.get_cell() * (v100 / V0) ** (1 / 3), scale_atoms=True)
    system = qfe.nct.crystal_system(qfe.nct.make_potential(SPEC, atoms), atoms)
    f_engine = system.harmonic_free_energy(100.0) / len(atoms) * 1e3
    assert f_engine == pytest.approx(g100, abs=1e-6)


def test_npt_reaches_exact_volume_and_gibbs_energy_and_resumes(tmp_path):
    """Identity flow (exact for this harmonic model at every cell): V and G of the exact
    QHA at 100 K and 1 GPa, after an interruption (max_cell_updates=1) and a restart that
    must not repeat the finished cells."""
    out = tmp_path / "npt"
    opts = dict(temperature=100.0, pressure=1.0, flow="identity", steps=30,
                steps_after_update=20, batch_size=256, eval_batches=10, progress=False,
                output_dir=str(out))
    with pytest.warns(UserWarning, match="did not reach"):
        first = qfe.nct.run_npt(crystal(), SPEC, max_cell_updates=1, **opts)
    assert not first.converged and len(first.iterations) == 2
    stored = json.loads((out / "npt.json").read_text())
    assert len(stored["iterations"]) == 2
    r = qfe.nct.run_npt(crystal(), SPEC, max_cell_updates=10, **opts)
    for a, b in zip(first.iterations, r.iterations[:2]):
        assert a["pressure"] == b["pressure"] and a["F"] == b["F"]
    check_against_exact(r, 100.0, 1.0)
    assert first.iterations[0]["pressure"] < 0.7          # it had to move: 0.6 GPa thermal
    assert (out / "npt_result.json").is_file() and (out / "npt_pressure.png").is_file()
    again = qfe.nct.run_npt(crystal(), SPEC, max_cell_updates=10, **opts)   # nothing left
    assert isinstance(again.final, qfe.nct.NCTResult)
    assert again.final.report("F") == pytest.approx(r.final.report("F"), rel=1e-12)
    assert again.final.stress["pressure_GPa"] == pytest.approx(r.final.stress["pressure_GPa"])
    with pytest.raises(ValueError, match="pressure"):
        qfe.nct.run_npt(crystal(), SPEC, max_cell_updates=10, **{**opts, "pressure": 2.0})


def test_npt_bad_input():
    atoms = crystal()
    pot = qfe.nct.make_potential(SPEC, atoms)
    with pytest.raises(ValueError, match="spec string"):
        qfe.nct.run_npt(atoms, pot, temperature=100.0)
    with pytest.raises(ValueError, match="relax"):
        qfe.nct.run_npt(atoms, SPEC, temperature=100.0, relax="shape")
    with pytest.raises(ValueError, match="pressure"):
        qfe.nct.run_npt(atoms, SPEC, temperature=100.0, pressure=float("nan"))
    with pytest.raises(ValueError, match="max_cell_updates"):
        qfe.nct.run_npt(atoms, SPEC, temperature=100.0, max_cell_updates=-1)


@pytest.mark.slow
def test_npt_full_default_flow_at_the_quasiharmonic_optimum():
    """The full default flow starts at the exact (harmonic) optimum of every cell and must
    stay there while the cell moves: V and G of the exact QHA at 300 K and 2 GPa."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = qfe.nct.run_npt(crystal(), SPEC, temperature=300.0, pressure=2.0, steps=90,
                            steps_after_update=50, batch_size=256, eval_batches=20,
                            progress=False)
    check_against_exact(r, 300.0, 2.0)
