"""The QTB noise kernel through its ctypes binding: generator, filter, spectrum, forces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from qfe.qtb import spectrum
from qfe.qtb.noise_kernel import QTBBath, lammps_metal_units, normals, philox4x32_10

# --- counter-based generator

def test_philox_known_answers():
    # Known-answer vectors of Philox4x32-10 published with Random123 (kat_vectors)
    assert [hex(x) for x in philox4x32_10([0, 0, 0, 0], [0, 0])] == \
        ["0x6627e8d5", "0xe169c58d", "0xbc57ac4c", "0x9b00dbd8"]
    assert [hex(x) for x in philox4x32_10([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2)] == \
        ["0x408f276d", "0x41c83b0e", "0xa20bc7c6", "0x6d5451fd"]
    assert [hex(x) for x in philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                                          [0xA4093822, 0x299F31D0])] == \
        ["0xd16cfe09", "0x94fdcceb", "0x5001e420", "0x24126ea1"]


def test_normals_moments_and_independence():
    z = np.concatenate([normals(seed=17, tag=t, first=0, count=20000) for t in (1, 2, 1000)])
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    kurt = np.mean(z ** 4) / np.mean(z ** 2) ** 2
    assert abs(kurt - 3) < 5 * np.sqrt(96 / n)
    corr = np.corrcoef(z.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 5 / np.sqrt(z.shape[0]))
    # lag-1 autocorrelation of the noise-step sequence
    x = normals(17, 5, 0, 50000)[:, 0]
    assert abs(np.corrcoef(x[1:], x[:-1])[0, 1]) < 5 / np.sqrt(x.size)


def test_normals_are_a_pure_function_of_counters():
    a = normals(99, 7, 0, 100)
    b = normals(99, 7, 40, 10)
    assert np.array_equal(a[40:50], b)
    assert not np.allclose(normals(99, 8, 0, 100), a)     # other atom
    assert not np.allclose(normals(98, 7, 0, 100), a)     # other seed
    # 64-bit atom IDs and negative noise indices are valid counters
    assert np.all(np.isfinite(normals(99, 2**40 + 3, -5, 10)))


# --- filter and spectrum

def test_units_are_lammps_metal():
    """The kernel's C++ copy of LAMMPS's metal constants equals qfe.units' (one definition)."""
    from qfe import units

    u = lammps_metal_units()
    assert u.boltz == units.LAMMPS_METAL_BOLTZ and u.hplanck == units.LAMMPS_METAL_HPLANCK
    assert u.mvv2e == units.LAMMPS_METAL_MVV2E
    assert u.ftm2v == pytest.approx(1 / units.LAMMPS_METAL_MVV2E, rel=1e-15)
    # and they are LAMMPS's published metal values (src/update.cpp), CODATA within 2e-6
    assert units.LAMMPS_METAL_MVV2E == 1.0364269e-4 and units.LAMMPS_METAL_BOLTZ == 8.617343e-5
    assert abs(units.LAMMPS_METAL_MVV2E / units.MVV2E - 1) < 1e-7
    assert abs(units.LAMMPS_METAL_BOLTZ / units.KB - 1) < 2e-6


def test_alpha_and_cutoff():
    bath = QTBBath(temperature=300, damp=0.1, f_max=200, n_f=100, seed=1, timestep=0.0005)
    assert bath.alpha == 5 and bath.noise_interval == pytest.approx(0.0025)
    assert bath.cutoff_frequency == pytest.approx(200.0)
    bath = QTBBath(temperature=300, damp=0.1, f_max=150, n_f=100, seed=1, timestep=0.0005)
    assert bath.alpha == 6 and bath.cutoff_frequency == pytest.approx(1 / (2 * 6 * 0.0005))
    # f_max exactly at the Nyquist frequency is allowed (alpha = 1)
    assert QTBBath(f_max=1000.0, timestep=0.0005).alpha == 1
    assert bath.bytes_per_atom == 4 * (6 * 100 + 3)
    assert bath.bytes_per_atom * 2 == 8 * (6 * 100 + 3)   # half of LAMMPS's fix qtb


@pytest.mark.parametrize("alpha_dt", [(1, 0.002), (4, 0.0005)])
def test_filter_realises_theta_on_the_grid(alpha_dt):
    """|H(f_k)|^2 * hold^2 / alpha^2 = theta(f_k, T) at the grid frequencies: the discrete
    filter and its hold correction reproduce the target spectrum exactly there."""
    alpha, dt = alpha_dt
    f_max = 1.0 / (2 * alpha * dt)
    u = lammps_metal_units()
    hbar = u.hplanck / (2 * np.pi)
    T, n_f, damp, mass = 150.0, 64, 0.1, 2.0
    bath = QTBBath(temperature=T, damp=damp, f_max=f_max, n_f=n_f, seed=3, timestep=dt)
    assert bath.alpha == alpha
    h = bath.noise_interval
    fk = (np.arange(2 * n_f) - n_f) / (2 * n_f * h)
    fk = fk[fk != 0]
    psd = spectrum.held_force_psd(bath.taps, alpha, dt, fk, mass, damp, u.mvv2e, u.ftm2v)
    target = 2 * mass / damp * spectrum.theta(2 * np.pi * fk, T, hbar=hbar, kb=u.boltz) \
        / u.mvv2e / u.ftm2v ** 2
    np.testing.assert_allclose(psd, target, rtol=1e-9)
    # classical limit: flat spectrum kT, taps -> sqrt(kT) at lag N_f (alpha = 1 only)
    if alpha == 1:
        hot = QTBBath(temperature=1e7, damp=damp, f_max=f_max, n_f=n_f, seed=3, timestep=dt)
        taps = hot.taps / np.sqrt(u.boltz * 1e7)
        assert taps[n_f] == pytest.approx(1.0, abs=1e-3)
        assert np.max(np.abs(np.delete(taps, n_f))) < 1e-3


def test_realised_noise_spectrum_matches_theta():
    """PSD of the random force the kernel produces (one atom, 3 components, 2^15 noise steps)
    vs 2 m gamma theta(f, T): agreement in frequency bands within 5 sigma."""
    u = lammps_metal_units()
    hbar = u.hplanck / (2 * np.pi)
    T, n_f, damp, mass, dt, alpha = 100.0, 100, 0.1, 1.00794, 0.001, 1
    bath = QTBBath(temperature=T, damp=damp, f_max=500.0, n_f=n_f, seed=11, timestep=dt)
    n = 2 ** 15
    forces = bath.random_force_intervals(tag=3, mass=mass, first_index=0, count=n)
    h = bath.noise_interval
    nseg = 512
    f, p = signal.welch(forces, fs=1 / h, nperseg=nseg, return_onesided=False, axis=0,
                        window="boxcar", detrend=False)
    p = p.mean(axis=1)            # average x, y, z
    expected = spectrum.held_force_psd(bath.taps, alpha, dt, f, mass, damp, u.mvv2e, u.ftm2v)
    target = 2 * mass / damp * spectrum.theta(2 * np.pi * f, T, hbar=hbar, kb=u.boltz) \
        / u.mvv2e / u.ftm2v ** 2
    # between grid points the 2N_f-tap filter interpolates theta (N_f = 100: within 1%)
    inner = np.abs(f) < 0.9 / (2 * h)
    np.testing.assert_allclose(expected[inner], target[inner], rtol=0.01)
    # bands of 8 bins; each bin averages 3 components x (n / nseg) segments (periodogram chi2)
    nbin = 8
    m = (f.size // nbin) * nbin
    order = np.argsort(f)
    pb = p[order][:m].reshape(-1, nbin).mean(axis=1)
    eb = expected[order][:m].reshape(-1, nbin).mean(axis=1)
    rel_sigma = 1 / np.sqrt(3 * (n / nseg) * nbin)
    assert np.all(np.abs(pb / eb - 1) < 5 * rel_sigma), np.max(np.abs(pb / eb - 1)) / rel_sigma
    # quantum spectrum: much more power at high frequency than kT (zero point)
    assert target.max() > 5 * 2 * mass / damp * u.boltz * T / u.mvv2e / u.ftm2v ** 2


# --- forces

def test_friction_and_force_rounding():
    bath = QTBBath(temperature=50, damp=0.25, f_max=100, n_f=20, seed=5, timestep=0.001)
    u = bath.units
    tags, masses = np.array([4, 9]), np.array([6.94, 1.008])
    v1 = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    f0 = bath.forces(10, tags, masses, np.zeros((2, 3)))
    bath.reset()
    f1 = bath.forces(10, tags, masses, v1)
    friction = -masses[:, None] / 0.25 * v1 / u.ftm2v
    np.testing.assert_allclose(f1 - f0, friction, rtol=1e-5, atol=1e-7)
    assert np.array_equal(f1, f1.astype(np.float32).astype(np.float64))


def test_force_does_not_depend_on_order_or_history():
    """Same atom ID -> same force whatever the other atoms, their order (MPI ownership) or
    whether the cache was built step by step or from scratch."""
    kw = dict(temperature=300, damp=0.1, f_max=100, n_f=25, seed=77, timestep=0.001)
    tags = np.arange(1, 9)
    masses = np.full(8, 1.008)
    v = np.random.default_rng(0).normal(size=(8, 3))
    stepped = QTBBath(**kw)
    for step in range(0, 301):
        f_stepped = stepped.forces(step, tags, masses, v)
    fresh = QTBBath(**kw)
    perm = np.array([5, 2, 7])
    f_sub = fresh.forces(300, tags[perm], masses[perm], v[perm])
    assert np.array_equal(f_sub, f_stepped[perm])


@pytest.mark.parametrize("kwargs, word", [
    (dict(temperature=-1.0), "temperature"),
    (dict(damp=0.0), "damp"),
    (dict(f_max=0.0), "f_max"),
    (dict(f_max=600.0, timestep=0.001), "Nyquist"),
    (dict(n_f=0), "N_f"),
    (dict(seed=0), "seed"),
    (dict(seed=2**32), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(timestep=-0.001), "timestep"),
])
def test_bad_parameters_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        QTBBath(**kwargs)


def test_bad_arrays_raise():
    bath = QTBBath(n_f=10)
    with pytest.raises(ValueError, match="shape"):
        bath.forces(0, [1, 2], [1.0, 1.0], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="mass"):
        bath.forces(0, [1], [-1.0], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="unique"):
        bath.forces(0, [1, 1], [1.0, 1.0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="temperature"):
        bath.temperature = -3.0


def test_einstein_kinetic_energy_limits():
    from qfe.units import HBAR, KB
    w = 100.0
    assert spectrum.einstein_kinetic_energy(w, 0.0) == pytest.approx(HBAR * w / 4)
    T = 1e6
    assert spectrum.einstein_kinetic_energy(w, T) == pytest.approx(KB * T / 2, rel=1e-6)


# --- the one set of defaults, limits and checks (shared by fix qtb and the ASE classes)

def test_defaults_are_those_of_the_lammps_qtb_package():
    """fix qtb's documented defaults (those of LAMMPS's QTB package, docs/fix_qtb.md) come from
    the kernel, for Python too."""
    from qfe.qtb.noise_kernel import defaults, limits

    d = defaults()
    assert (d["temperature"], d["damp"], d["f_max"], d["n_f"], d["seed"]) == \
        (300.0, 1.0, 200.0, 100, 880302)
    assert (d["zero"], d["deconvolution"], d["adapt_rate"], d["adapt_skip"], d["adapt_min"],
            d["fdt_every"]) == (0, 0, 0.1, 5, 0.01, 10)
    assert limits() == (100000, 2048)
    bath = QTBBath()
    assert (bath.damp, bath.f_max, bath.n_f, bath.seed, bath.temperature) == \
        (1.0, 200.0, 100, 880302, 300.0)


@pytest.mark.parametrize("change, name, requirement", [
    (dict(temperature=-1.0), "temperature", "must be >= 0"),
    (dict(temperature_stop=float("nan")), "temperature (ramp end)", "must be >= 0"),
    (dict(damp=0.0), "damp", "must be > 0"),
    (dict(f_max=float("inf")), "f_max", "must be > 0"),
    (dict(n_f=0), "N_f", "must be a positive integer"),
    (dict(n_f=100001), "N_f", "must be <= 100000"),
    (dict(n_f=2049, deconvolution=1), "N_f", "must be <= 2048 with deconvolution"),
    (dict(n_f=2 ** 40), "N_f", "must be <= 100000"),
    (dict(seed=0), "seed", "must be an integer in [1, 4294967295]"),
    (dict(seed=2 ** 32), "seed", "must be an integer in [1, 4294967295]"),
    (dict(timestep=0.0), "timestep", "must be > 0"),
    (dict(f_max=600.0), "nyquist", "must be at most the Nyquist frequency 1/(2 dt)"),
    (dict(deconvolution=3), "deconvolution", "must be no, yes, kinetic or potential"),
])
def test_kernel_checks_name_the_parameter(change, name, requirement):
    from qfe.qtb.noise_kernel import PARAMETERS, check_bath_parameters

    p = dict(temperature=300.0, temperature_stop=300.0, damp=1.0, f_max=200.0, n_f=100,
             seed=1, timestep=0.001, deconvolution=0, zero=0)
    assert check_bath_parameters(**p) == (0, "")
    assert check_bath_parameters(**{**p, **change}) == (PARAMETERS[name], requirement)


def test_kernel_checks_adaptive_parameters():
    from qfe.qtb.noise_kernel import PARAMETERS, adapt_scheme_code, check_adapt_parameters

    assert check_adapt_parameters(0.1, 5, 0.01, 1, 10) == (0, "")
    assert check_adapt_parameters(0.0, 5, 0.01, 1, 10) == (PARAMETERS["adapt_rate"],
                                                           "must be > 0")
    assert check_adapt_parameters(0.1, -1, 0.01, 1, 10)[0] == PARAMETERS["adapt_skip"]
    assert check_adapt_parameters(0.1, 5, 1.5, 1, 10)[0] == PARAMETERS["adapt_min"]
    assert check_adapt_parameters(0.1, 5, 0.01, 2, 10)[0] == PARAMETERS["adapt_scheme"]
    assert check_adapt_parameters(0.1, 5, 0.01, 1, 0)[0] == PARAMETERS["fdt_every"]
    assert (adapt_scheme_code("simple"), adapt_scheme_code("normalized")) == (0, 1)
    with pytest.raises(ValueError, match="adapt_scheme must be simple or normalised"):
        adapt_scheme_code("fast")


def test_ramp_is_linear_over_the_run_and_steps_per_noise_interval():
    """set_ramp_step: T(s) = T0 + (s' - b)/(e - b) (T1 - T0) at s' = the first step of the
    noise interval of s (alpha = 5 here), clamped to the run."""
    bath = QTBBath(temperature=100.0, temperature_stop=600.0, f_max=100.0, timestep=0.001,
                   n_f=10)
    assert bath.alpha == 5
    begin, end = 1000, 1500
    for step in (990, 1000, 1003, 1005, 1249, 1250, 1499, 1500, 1700):
        bath.set_ramp_step(step, begin, end)
        first = min(max(step // 5 * 5, begin), end)
        assert bath.temperature == pytest.approx(100 + (first - begin) / 500 * 500, rel=1e-15)
    bath.set_ramp_step(1200, 1200, 1200)           # empty run: the start temperature
    assert bath.temperature == 100.0
    flat = QTBBath(temperature=50.0, n_f=10)        # no ramp: unchanged
    flat.set_ramp_step(10, 0, 100)
    assert flat.temperature == 50.0


def test_remove_net_force_and_tally():
    from qfe.qtb.noise_kernel import remove_net_force

    rng = np.random.default_rng(3)
    f = (rng.normal(size=(7, 3)) + 0.25).astype(np.float32).astype(np.float64)
    z = remove_net_force(f)
    assert np.array_equal(z, (f - f.mean(axis=0)).astype(np.float32))
    assert np.all(np.abs(z.sum(axis=0)) < 7 * 1e-7)
    # tally of velocity Verlet: half the first step's power, then full steps; the energy given
    # to the bath at a full step holds back half of the last step
    bath = QTBBath(n_f=10)
    v = [rng.normal(size=(7, 3)) for _ in range(3)]
    dt = 0.002
    p = [float(np.sum(f * vi)) for vi in v]
    e0 = bath.tally(f, v[0], dt, setup=True)
    e1 = bath.tally(f, v[1], dt)
    e2 = bath.tally(f, v[2], dt)
    assert e0 == pytest.approx(-(0.5 * p[0] * dt - 0.5 * p[0] * dt), abs=1e-15)
    assert e1 == pytest.approx(-((0.5 * p[0] + p[1]) * dt - 0.5 * p[1] * dt), rel=1e-13)
    assert e2 == pytest.approx(-((0.5 * p[0] + p[1] + p[2]) * dt - 0.5 * p[2] * dt), rel=1e-13)
    assert bath.energy_to_bath(dt) == e2
