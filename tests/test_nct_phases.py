"""Phase comparison at constant pressure (qfe.nct.phases) against the exact crossing of two
quasi-harmonic model phases, and the crossing estimator against a straight line."""

import json

import numpy as np
import pytest
from ase.build import bulk
from scipy.optimize import brentq
from test_nct_npt import bond_frequencies

from qfe import units
from qfe.nct.npt import _potential_factory
from qfe.nct.phases import compare_phases, crossing_from_grid, static_enthalpy
from qfe.nct.qha import load_grid, quasi_harmonic_gibbs, save_grid, stable_volumes, volume_grid
from qfe.nct.system import harmonic_oscillator_free_energy

V0 = 3.44**3 / 2
PHASE_A = dict(k=1.0, gamma=1.0, bulk_modulus=10.0, v0=V0, e0=0.0, cutoff=3.6)
PHASE_B = dict(k=0.3, gamma=1.0, bulk_modulus=10.0, v0=V0, e0=0.010, cutoff=3.6)
PRESSURE = 1.0


def spec(p):
    return "quasi-harmonic:" + ",".join(f"{k}={v}" for k, v in p.items())


def structures():
    bcc = bulk("Li", "bcc", a=3.44, cubic=True)                    # 2 atoms
    fcc = bulk("Li", "fcc", a=(4 * V0) ** (1 / 3), cubic=True)     # 4 atoms
    return bcc, fcc


def exact_g(atoms, p, temperature):
    """Exact quasi-harmonic G (meV/atom) of a model phase at PRESSURE."""
    return exact_gv(atoms, p, temperature)[0]


def exact_gv(atoms, p, temperature, pressure=PRESSURE):
    """Exact quasi-harmonic G (meV/atom) and V (A^3/atom) of a model phase at ``pressure``."""
    n = len(atoms)
    v_ref = atoms.get_volume() / n
    hw = bond_frequencies(atoms, p["k"] * (p["v0"] / v_ref) ** (2 * p["gamma"]), p["cutoff"])
    b, pr = p["bulk_modulus"] / units.EV_PER_A3_TO_GPA, pressure / units.EV_PER_A3_TO_GPA
    kt = units.KB * temperature

    def f(v):
        return (p["e0"] + 0.5 * b * (v - p["v0"]) ** 2 / p["v0"]
                + harmonic_oscillator_free_energy(hw * (v_ref / v) ** p["gamma"], kt) / n)

    v = brentq(lambda v: -(f(v + 1e-5) - f(v - 1e-5)) / 2e-5 - pr, 0.6 * p["v0"],
               1.6 * p["v0"])
    return (f(v) + pr * v) * 1e3, v


def test_crossing_of_a_straight_line_and_its_error():
    t = [100.0, 150.0, 200.0]
    dg = [-1.0, 0.5, 2.0]                          # zero at 100 + 50 * 1/1.5
    c = crossing_from_grid(t, dg, [0.1, 0.1, 0.1])
    assert c["temperature"] == pytest.approx(100 + 50 / 1.5)
    assert c["bracket"] == [100.0, 150.0] and c["n_crossings"] == 1
    # error by finite differences of T* in d1 and d2
    h = 1e-6

    def tstar(d1, d2):
        return 100 - d1 * 50 / (d2 - d1)

    g1 = (tstar(-1 + h, 0.5) - tstar(-1 - h, 0.5)) / (2 * h)
    g2 = (tstar(-1, 0.5 + h) - tstar(-1, 0.5 - h)) / (2 * h)
    assert c["error"] == pytest.approx(0.1 * np.hypot(g1, g2), rel=1e-6)
    assert crossing_from_grid(t, [1.0, 2.0, 3.0], [0.1] * 3)["temperature"] is None
    with pytest.raises(ValueError, match="1D"):
        crossing_from_grid(t, [1.0, 2.0], [0.1, 0.1])


def test_phase_crossing_of_two_exact_quasiharmonic_phases(tmp_path):
    bcc, fcc = structures()
    temps = [100.0, 150.0]                   # the crossing is inside; a third T adds ~80 s
    r = compare_phases([bcc, fcc], [spec(PHASE_A), spec(PHASE_B)], PRESSURE, temps,
                       labels=["A", "B"], flow="identity", steps=30, batch_size=256,
                       baselines=("static", "harmonic", "qha"),
                       eval_batches=10, progress=False, output_dir=tmp_path / "ph",
                       npt_options={"steps_after_update": 20})
    exact_a = [exact_g(bcc, PHASE_A, t) for t in temps]
    exact_b = [exact_g(fcc, PHASE_B, t) for t in temps]
    for ph, ex in ((r.phases["A"], exact_a), (r.phases["B"], exact_b)):
        assert all(ph["converged"])
        for g, e, x in zip(ph["G"], ph["G_err"], ex):
            assert abs(g - x) < 2 * np.hypot(e, 2e-4) + 1e-3, (g, x)
    # exact crossing of the exact curves, and the linear-interpolation one on this grid
    t_exact = brentq(lambda t: exact_g(bcc, PHASE_A, t) - exact_g(fcc, PHASE_B, t), 100, 150)
    t_lin = crossing_from_grid(temps, np.subtract(exact_a, exact_b), [0.0] * 2)["temperature"]
    c = r.crossings["A-B"]
    assert c["bracket"] == [100.0, 150.0]
    assert abs(c["temperature"] - t_lin) < 3 * c["error"] + 0.05
    assert abs(c["temperature"] - t_exact) < 3 * c["error"] + abs(t_lin - t_exact) + 0.05
    # the static lattice of both phases has no crossing here: B is always above by e0
    static = r.delta_g["A-B"]["baseline_crossings"]["static"]
    assert static["temperature"] is None
    # static H = e0 + P v0 - P^2 v0 / (2 B) at v = v0 (1 - P/B): the phases differ by e0
    v_static = V0 * (1 - PRESSURE / PHASE_A["bulk_modulus"])
    assert r.phases["A"]["static_volume"] == pytest.approx(v_static, rel=1e-6)
    h_a = 1e3 * (PRESSURE * V0 - PRESSURE**2 * V0 / (2 * PHASE_A["bulk_modulus"])) \
        / units.EV_PER_A3_TO_GPA
    assert r.phases["A"]["baselines"]["static"][0] == pytest.approx(h_a, abs=1e-6)
    assert r.delta_g["A-B"]["static_value"] == pytest.approx([-1e3 * PHASE_B["e0"]] * 2,
                                                             abs=1e-6)
    # the phonopy QHA baseline is exact for these phases (same cells as the exact G)
    for ph, ex in ((r.phases["A"], exact_a), (r.phases["B"], exact_b)):
        np.testing.assert_allclose(ph["baselines"]["qha"], ex, atol=1e-3)
    qha = r.delta_g["A-B"]["baseline_crossings"]["qha"]
    assert qha["temperature"] == pytest.approx(t_lin, abs=0.05)
    stored = json.loads((tmp_path / "ph" / "phases.json").read_text())
    assert stored["crossings"]["A-B"]["temperature"] == pytest.approx(c["temperature"])
    for name in ("phases.csv", "phases.png", "A/qha-grid-P1.npz", "B/qha-grid-P1.npz"):
        assert (tmp_path / "ph" / name).is_file()


def test_phases_cli_bad_input(tmp_path, capsys):
    from qfe.cli import main

    bcc, fcc = structures()
    a, b = tmp_path / "a.vasp", tmp_path / "b.vasp"
    bcc.write(a, format="vasp")
    fcc.write(b, format="vasp")
    assert main(["phases", str(a), "--pressure", "1", "--temperatures", "100,150"]) == 2
    assert "at least two structures" in capsys.readouterr().err
    assert main(["phases", str(a), str(b), "--pressure", "1", "--temperatures", "100,150",
                 "--baselines", "static,scha"]) == 2
    assert "unknown baseline 'scha'" in capsys.readouterr().err
    assert main(["phases", str(a), str(b), "--pressure", "1", "--temperatures", "100,150",
                 "--pressure-tolerance", "-0.1"]) == 2
    assert "--pressure-tolerance must be >= 0 GPa, got -0.1" in capsys.readouterr().err
    assert main(["phases", str(a), str(b), "--pressure", "1", "--temperatures", "x"]) == 2
    assert "--temperatures" in capsys.readouterr().err
    assert main(["nct", str(a), "--potential", spec(PHASE_A), "--pressure", "nan"]) == 2
    assert "pressure" in capsys.readouterr().err


def test_npt_axes_relaxation_of_a_cubic_crystal():
    """relax="axes" on a cubic crystal: the three lengths stay equal (within the per-axis
    pressure noise / 3B) and V, G are the exact quasi-harmonic ones."""
    import qfe.nct

    bcc, _ = structures()
    r = qfe.nct.run_npt(bcc, spec(PHASE_A), temperature=100.0, pressure=PRESSURE,
                        relax="axes", flow="identity", steps=30, steps_after_update=20,
                        batch_size=256, eval_batches=10, progress=False)
    assert r.converged and r.relax == "axes"
    lengths = np.asarray(r.lattice)
    assert np.ptp(lengths) / lengths.mean() < 1e-3
    g_exact = exact_g(bcc, PHASE_A, 100.0)
    assert abs(r.G[0] - g_exact) < 2 * np.hypot(r.G[1], 2e-4) + 1e-3


def test_qha_baseline_is_the_exact_quasiharmonic_g(tmp_path):
    """phonopy's QHA (qfe.nct.qha) on a crystal that is exactly quasi-harmonic, 16-atom bcc
    cell, 50-300 K, 1 and 2 GPa from one volume grid (saved and read back): G and V against
    the exact minimisation over V (numpy bond dynamical matrix and a root finder, independent
    of phonopy).  The bars are well above the Vinet fit's error on 11 volumes (measured at
    1 GPa: 1.3e-4 meV/atom in G, 4e-6 relative in V)."""
    bcc = structures()[0].repeat(2)
    factory = _potential_factory(spec(PHASE_A))
    static = static_enthalpy(factory, bcc, PRESSURE)
    temps = [50.0, 150.0, 300.0]
    grid = volume_grid(factory, static["atoms"], (0.92, 1.15), 11)
    save_grid(grid, tmp_path / "grid.npz")
    grid = load_grid(tmp_path / "grid.npz")
    for pressure in (PRESSURE, 2.0):
        r = quasi_harmonic_gibbs(None, None, temps, pressure, grid=grid)
        assert r["message"] == ""
        for t, g, v in zip(temps, r["G"], r["V"]):
            g_exact, v_exact = exact_gv(bcc, PHASE_A, t, pressure)
            assert abs(g - g_exact) < 1e-3, (pressure, t, g, g_exact)
            assert abs(v / v_exact - 1) < 5e-5, (pressure, t, v, v_exact)
    # imaginary modes at the two largest volumes: fitted on the rest, still exact at 50 K
    partial = dict(grid, min_frequency_THz=list(grid["min_frequency_THz"][:-2]) + [-1.0] * 2)
    r = quasi_harmonic_gibbs(None, None, [50.0], PRESSURE, grid=partial)
    assert "fitted on the stable volumes" in r["message"]
    assert abs(r["G"][0] - exact_gv(bcc, PHASE_A, 50.0)[0]) < 1e-3
    # a grid that ends below the 300 K volume gives no G there, and says so
    short = quasi_harmonic_gibbs(factory, static["atoms"], temps, PRESSURE,
                                 volume_range=(0.95, 1.04), n_volumes=7)
    assert short["G"][-1] is None and "outside the fitted volumes" in short["message"]


def test_stable_volumes_is_the_longest_contiguous_stable_run():
    assert stable_volumes([0.0, -1.0, 0.1, 0.2, 0.3, -0.01, 0.5, -2.0]) == slice(2, 7)
    assert stable_volumes([0.1] * 4) == slice(0, 4)
    assert stable_volumes([-1.0, -2.0]) == slice(0, 0)


def test_qha_baseline_refuses_imaginary_modes_and_bad_grids():
    from qfe.nct.api import make_potential

    bcc = structures()[0]
    r = quasi_harmonic_gibbs(lambda a: make_potential("einstein:k=-1,k4=1", a), bcc, [100.0],
                             0.0)
    assert r["G"] == [None] and "imaginary modes" in r["message"]
    factory = _potential_factory(spec(PHASE_A))
    with pytest.raises(ValueError, match="volume_range"):
        quasi_harmonic_gibbs(factory, bcc, [100.0], 0.0, volume_range=(1.0, 1.1))
    with pytest.raises(ValueError, match="n_volumes"):
        volume_grid(factory, bcc, n_volumes=3)
    with pytest.raises(ValueError, match="temperatures"):
        quasi_harmonic_gibbs(factory, bcc, [0.0], 0.0)


def test_npt_full_cell_relaxation_removes_a_shear():
    """relax="full" from an fcc cell sheared by 3 % (a Morse crystal with nearest-neighbour
    bonds, which has shear stiffness): the shear relaxes away (cubic again to 1e-3) and V, G
    agree with the isotropic run from the unsheared cell within 3 combined error bars."""
    import qfe.nct

    spec_morse = "morse:D=0.3,a=1.2,r0=3.1,cutoff=3.8,r_switch=3.6"
    fcc = bulk("Li", "fcc", a=3.1 * np.sqrt(2), cubic=True)
    kw = dict(temperature=100.0, pressure=1.0, flow="identity", steps=40,
              steps_after_update=30, batch_size=256, eval_batches=10, progress=False)
    iso = qfe.nct.run_npt(fcc, spec_morse, relax="isotropic", **kw)
    sheared = fcc.copy()
    shear = np.array([[1.0, 0.03, 0.0], [0.03, 1.0, 0.0], [0.0, 0.0, 1.0]])
    sheared.set_cell(np.asarray(fcc.get_cell()) @ shear, scale_atoms=True)
    full = qfe.nct.run_npt(sheared, spec_morse, relax="full", max_cell_updates=15, **kw)
    assert full.converged and full.relax == "full" and len(full.iterations) > 2
    cell = np.asarray(full.cell)
    off = cell - np.diag(np.diag(cell))
    assert np.max(np.abs(off)) / np.mean(np.diag(cell)) < 1e-3
    assert np.ptp(np.diag(cell)) / np.mean(np.diag(cell)) < 2e-3
    assert abs(full.volume[0] - iso.volume[0]) < 3 * np.hypot(full.volume[1], iso.volume[1])
    assert abs(full.G[0] - iso.G[0]) < 3 * np.hypot(full.G[1], iso.G[1])
