"""fix qtb ``adaptive yes`` and the FDT diagnostic: a harmonic system obeys the
fluctuation-dissipation relation exactly (Re C_vR = m gamma C_vv at every frequency), so
Delta_FDT vanishes within noise and gamma_r stays at gamma; adaptive runs continue exactly
across runs and restarts and do not depend on the number of MPI ranks."""

from __future__ import annotations

import numpy as np
import pytest

from qfe.lammps import create_lammps

from qtb_decks import (
    einstein_deck,
    gather_sorted,
    rank_invariance_deck,
    run_commands,
    run_on_ranks,
    unwrapped_sorted,
)


def read_fdt(path):
    """Blocks of the fdt_file: list of (header dict, array (N_f+1, 5))."""
    blocks, header, rows = [], None, []
    for line in open(path):
        if line.startswith("# segment"):
            if header is not None:
                blocks.append((header, np.array(rows)))
            words = line[1:].split()
            header = {words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)}
            rows = []
        elif line.strip() and not line.startswith("#"):
            rows.append([float(x) for x in line.split()])
    if header is not None:
        blocks.append((header, np.array(rows)))
    return blocks


@pytest.mark.parametrize("adaptive", ["no", "yes"])
def test_harmonic_system_obeys_fdt(tmp_path, adaptive):
    """512 tethered H atoms (omega = 219 rad/ps), noise every step (alpha = 1, f_max 1000 THz,
    N_f 50, dt 0.5 fs), damp 0.02 ps, 100 segments of 100 steps (0.05 ps = 2.5/gamma; the
    spectra of segments not much longer than 1/gamma carry an end-effect bias, measured
    -1.2 % at gamma T_seg = 0.5, -0.35 % at 1, -0.05 % at 2.5 in the signed sum below).  The
    averaged FDT deviation sum|Delta|/sum m gamma_r C_vv (f_q[7]) is at the noise level, its
    signed sum below 1 %, Re C_vR = m gamma_r C_vv within 3 % in the bins around the mode, and
    with adaptive yes gamma_r
    stays at gamma = 50/ps: C_vv-weighted mean within 2 %, every bin with at least 5 % of the
    peak velocity power within 10 % (bins far from the mode carry little power and the most
    noise)."""
    fdt = tmp_path / "fdt.txt"
    lmp = create_lammps()
    run_commands(lmp, einstein_deck(n_cells=8, temp="100", damp=0.02, f_max=1000.0, n_f=50,
                                    seed=31, extra_qtb=f"adaptive {adaptive} fdt_file {fdt} "
                                    "fdt_every 10 adapt_skip 5"))
    lmp.command("run 10100")        # segment 0 misses the setup step's velocity: 1..100 count
    scalar = lmp.extract_fix("q", 0, 1, 6)
    lmp.close()
    blocks = read_fdt(fdt)
    assert len(blocks) == 10 and blocks[-1][0]["segments_measured"] == 100
    w, gamma_r, delta, cvv, cvr = blocks[-1][1].T
    assert np.all(cvv > 0)
    gamma = 50.0
    print(f"adaptive {adaptive}: f_q[7] = {scalar:.4f}, gamma_r/gamma in "
          f"[{gamma_r.min() / gamma:.3f}, {gamma_r.max() / gamma:.3f}]")
    assert scalar == pytest.approx(blocks[-1][0]["fdt_scalar"], rel=1e-5)
    # sum |Delta| is dominated by noise in bins far above the mode, where the mean of Re C_vR
    # (the oscillator's tiny response) is small against its fluctuation; the signed sum
    # vanishes much more tightly
    assert scalar < 0.05
    assert abs(delta.sum()) / (delta + cvr).sum() < 0.01
    # Re C_vR = m gamma_r C_vv bin by bin where the velocity has power (near the mode);
    # m gamma_r C_vv = Delta + Re C_vR (energy)
    peak = cvv > 0.2 * cvv.max()
    assert peak.sum() >= 2
    assert np.all(np.abs(delta[peak] / (delta[peak] + cvr[peak])) < 0.03)
    if adaptive == "no":
        assert np.all(gamma_r == gamma)
    else:
        weighted = np.sum(gamma_r * cvv) / np.sum(cvv) / gamma
        assert weighted == pytest.approx(1.0, abs=0.02)
        # where the velocity has power gamma_r stays within 10 % of gamma; elsewhere it walks
        # with the noise of the moving-average spectra (no mode there to feel it)
        powered = cvv > 0.05 * cvv.max()
        assert powered.sum() >= 5
        assert np.all(np.abs(gamma_r[powered] / gamma - 1) < 0.1)


ADAPTIVE = "adaptive yes adapt_skip 2 adapt_rate 0.2"


def _final(lines_sequence):
    lmp = create_lammps()
    for lines in lines_sequence:
        run_commands(lmp, lines)
    x = unwrapped_sorted(lmp)
    v = gather_sorted(lmp, "v")
    lmp.close()
    return x, v


def test_adaptive_runs_continue_and_restart_exactly(tmp_path):
    """N_f 20 (segments of 40 noise steps), alpha = 1: `run 1000` == `run 500; run 500` ==
    `run 500; write_restart; read_restart; run 500` with adaptive yes (the restart falls in the
    middle of a segment: per-atom buffers, gamma_r and the spectra sums are in the file), and
    gamma_r really moved away from gamma (control: adaptive no gives another trajectory)."""
    restart = tmp_path / "a.restart"
    fdt = tmp_path / "fdt.txt"
    deck = einstein_deck(n_cells=3, temp="50", damp=0.05, f_max=1000.0, n_f=20, seed=5,
                         extra_qtb=f"{ADAPTIVE} fdt_file {fdt} fdt_every 1")
    x_ref, v_ref = _final([deck, ["run 1000"]])
    gamma_r = read_fdt(fdt)[-1][1][:, 1]
    assert np.max(np.abs(gamma_r / 20.0 - 1)) > 1e-3          # adaptation happened
    x2, v2 = _final([deck, ["run 500", "run 500"]])
    assert np.max(np.abs(x2 - x_ref)) < 1e-11 and np.max(np.abs(v2 - v_ref)) < 1e-9
    _final([deck, ["run 500", f"write_restart {restart}"]])
    redefine = [f"read_restart {restart}", "comm_modify cutoff 2.0", "fix nve all nve",
                "fix q all qtb temp 50 damp 0.05 seed 5 f_max 1000.0 N_f 20 " + ADAPTIVE,
                "fix tether all spring/self 5.0", "fix_modify tether energy yes", "run 500"]
    x3, v3 = _final([redefine])
    print("adaptive restart: max |dx| =", np.max(np.abs(x3 - x_ref)))
    assert np.max(np.abs(x3 - x_ref)) < 1e-8 and np.max(np.abs(v3 - v_ref)) < 1e-6
    plain = einstein_deck(n_cells=3, temp="50", damp=0.05, f_max=1000.0, n_f=20, seed=5)
    x4, _ = _final([plain, ["run 1000"]])
    assert np.max(np.abs(x4 - x_ref)) > 1e-6


def test_restart_with_other_parameters_is_an_error(tmp_path):
    restart = tmp_path / "a.restart"
    deck = einstein_deck(n_cells=2, temp="50", damp=0.05, f_max=1000.0, n_f=20, seed=5,
                         extra_qtb=ADAPTIVE)
    _final([deck, ["run 100", f"write_restart {restart}"]])
    lmp = create_lammps()
    try:
        for c in [f"read_restart {restart}", "comm_modify cutoff 2.0", "fix nve all nve"]:
            lmp.command(c)
        with pytest.raises(Exception) as info:
            lmp.command("fix q all qtb temp 50 damp 0.1 seed 5 f_max 1000.0 N_f 30")
    finally:
        lmp.close()
    err = str(info.value)
    assert err.startswith("ERROR:") and "other parameters" in err
    for word in ("N_f (restart 20, fix line 30)", "damp (restart 0.05, fix line 0.1)",
                 "adaptive (restart 1, fix line 0)"):
        assert word in err, err


@pytest.mark.mpi
@pytest.mark.parametrize("free", [False, True], ids=["einstein", "free-migrating"])
def test_adaptive_one_vs_two_ranks_identical(tmp_path, free):
    """adaptive yes on 1 and 2 ranks: identical final positions and velocities (the spectra are
    summed in fixed point, so gamma_r does not depend on the decomposition; free atoms carry
    their segment buffers when they change rank)."""
    deck = rank_invariance_deck(free, f"f_max 1000 N_f 20 {ADAPTIVE}")
    out = {n: run_on_ranks(tmp_path / f"np{n}", n, deck)[0] for n in (1, 2)}
    assert out[1].shape == (64, 7)
    assert np.array_equal(out[1], out[2]), np.max(np.abs(out[1] - out[2]))
    if free:
        assert np.max(np.abs(out[1][:, 1:4])) > 2 * 12.0


def test_ase_adaptive_matches_lammps(tmp_path):
    """QTBDynamics(adaptive=True) runs the fix's adaptive bookkeeping on the same kernel: the
    trajectory (27 tethered H atoms, 1000 steps, 25 segments, gamma_r adapting) and the adapted
    gamma_r equal LAMMPS's (positions to 1e-8 A, gamma_r to 1e-6 relative: the velocities
    differ from LAMMPS's by round-off before they are recorded)."""
    from ase import Atoms

    from qfe.ase_calculators import PS, HarmonicTethers, QTBDynamics
    from qfe.units import MASS_H

    fdt = tmp_path / "fdt.txt"
    deck = einstein_deck(n_cells=3, temp="50", damp=0.05, f_max=1000.0, n_f=20, seed=5,
                         extra_qtb=f"{ADAPTIVE} fdt_file {fdt} fdt_every 1")
    lmp = create_lammps()
    run_commands(lmp, deck)
    x0, v0 = gather_sorted(lmp, "x"), gather_sorted(lmp, "v")
    lmp.command("run 1000")
    x_lmp = unwrapped_sorted(lmp)
    lmp.close()
    gamma_lmp = read_fdt(fdt)[-1][1][:, 1]
    atoms = Atoms("H27", positions=x0, cell=np.eye(3) * 9.0, pbc=True)
    atoms.set_masses(np.full(27, MASS_H))
    atoms.set_velocities(v0 / PS)
    atoms.calc = HarmonicTethers(5.0, reference_positions=x0)
    dyn = QTBDynamics(atoms, timestep=0.0005 * PS, temperature_K=50.0, damp=0.05 * PS,
                      f_max=1000.0 / PS, n_f=20, seed=5, adaptive=True, adapt_skip=2,
                      adapt_rate=0.2)
    dyn.run(1000)
    assert dyn.fdt.nseg_measured == read_fdt(fdt)[-1][0]["segments_measured"]
    np.testing.assert_allclose(dyn.fdt.gamma_r[0], gamma_lmp, rtol=1e-6)
    assert np.max(np.abs(gamma_lmp / 20.0 - 1)) > 1e-3
    dx = np.max(np.abs(atoms.get_positions() - x_lmp))
    print("ASE vs LAMMPS adaptive: max |dx| =", dx)
    assert dx < 1e-8


def test_ase_adaptive_bad_values():
    from ase import Atoms

    from qfe.ase_calculators import PS, HarmonicTethers, QTBDynamics

    atoms = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    atoms.calc = HarmonicTethers(1.0)
    kw = dict(timestep=0.0005 * PS, temperature_K=50.0, adaptive=True)
    for bad, match in [(dict(adapt_rate=0.0), "adapt_rate must be > 0, got 0.0"),
                       (dict(adapt_skip=-1), "adapt_skip must be an integer >= 0, got -1"),
                       (dict(adapt_min=2.0), r"adapt_min .* must be in \(0, 1\], got 2.0"),
                       (dict(adapt_scheme="fancy"),
                        "adapt_scheme must be simple or normalised, got 'fancy'"),
                       (dict(fdt_every=0), "fdt_every must be a positive integer, got 0")]:
        with pytest.raises(ValueError, match=match):
            QTBDynamics(atoms, **kw, **bad)
