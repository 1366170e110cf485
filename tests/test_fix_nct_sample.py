"""``fix nct_sample``: NCT trained and sampled from a LAMMPS deck with the deck's force field.

References: (1) the same NCT run through the Python route (``qfe.nct.Trainer`` on a
:class:`LammpsPotential` made from the same pair style: a second LAMMPS instance and no
fix), which must give the same numbers; (2) qfe's analytic Morse twin (JAX, exact) for the
energies of sampled configurations; (3) the exact harmonic mean-square displacement
sum_k hbar/(2 m w_k) coth(hbar w_k / 2 kT) |e_k|^2 for samples of the identity flow.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("lammps")

from qfe.lammps import create_lammps

A_FCC = float(2.0 * np.sqrt(2.0))       # fcc with nearest neighbours at the Morse r0 = 2 A
MASS = 63.546
PAIR = ["pair_style morse 3.2", "pair_coeff * * 0.3 2.0 2.0"]
MORSE_TWIN = dict(D=0.3, a=2.0, r0=2.0, cutoff=3.2, r_switch=3.1)
BOX = ["units metal", "atom_style atomic", f"lattice fcc {A_FCC!r}",
       "region box block 0 2 0 2 0 2", "create_box 1 box", "create_atoms 1 box",
       f"mass 1 {MASS}"]


def _lammps(commands):
    lmp = create_lammps()
    for c in commands:
        lmp.command(c)
    return lmp


def _sorted(lmp, name):
    n = lmp.get_natoms()
    tag = np.array(lmp.numpy.extract_atom("id")[:n])
    return np.array(lmp.numpy.extract_atom(name)[:n])[np.argsort(tag)]


def _vector(lmp, fix="nct"):
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    return np.array([lmp.extract_fix(fix, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, i)
                     for i in range(12)])


def test_train_deck_equals_python_route():
    """Three training steps in a deck == three Trainer steps on the Python LAMMPS route
    (rattled crystal: no degenerate modes, so both bases are the same to roundoff)."""
    from ase import Atoms

    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import crystal_system
    from qfe.nct.trainer import Trainer
    from qfe.potentials import LammpsPotential

    lmp = _lammps(BOX + PAIR + ["displace_atoms all random 0.03 0.03 0.03 4711 units box",
                                "run 0"])
    x_before, f_before = _sorted(lmp, "x"), _sorted(lmp, "f")
    lmp.command("fix nct all nct_sample 100.0 batch_size 32 seed 3 flow identity steps 10")
    lmp.command("run 3")
    vec = _vector(lmp)
    # the MD state is untouched (no integrator: positions and forces as before)
    assert np.array_equal(_sorted(lmp, "x"), x_before)
    assert np.allclose(_sorted(lmp, "f"), f_before, rtol=0, atol=1e-12)
    lmp.close()

    n = len(x_before)
    side = 2 * A_FCC
    atoms = Atoms(f"Cu{n}", positions=x_before, cell=np.diag([side] * 3), pbc=True)
    pot = LammpsPotential(symbols=atoms.get_chemical_symbols(), masses=np.full(n, MASS),
                          cell=atoms.get_cell()[:], reference_positions=x_before,
                          pair_style="morse 3.2", pair_coeff=["* * 0.3 2.0 2.0"])
    with pytest.warns(UserWarning, match="not a minimum"):
        system = crystal_system(pot)
    trainer = Trainer(system, NCTConfig(temperature=100.0, batch_size=32, seed=3,
                                        flow="identity", steps=10, progress=False))
    state = trainer.init_state()
    for _ in range(3):
        state, stats = trainer.step(state)
    assert vec[11] == 3
    assert vec[9] == pytest.approx(system.harmonic_free_energy(100.0), rel=1e-12)
    assert vec[0] == pytest.approx(stats["free_energy"], rel=1e-10)
    assert vec[1] == pytest.approx(stats["free_energy_err"], rel=1e-6)
    assert vec[5] == pytest.approx(stats["potential"], rel=1e-10)


def _exact_harmonic_msd(x0, temperature):
    """(1/N) sum_i <|u_i|^2> of the harmonic crystal of the analytic Morse twin (A^2)."""
    import jax.numpy as jnp

    from qfe import units
    from qfe.potentials import MorseCrystal

    n = len(x0)
    twin = MorseCrystal(symbols=["Cu"] * n, masses=np.full(n, MASS),
                        cell=np.eye(3) * 2 * A_FCC, reference_positions=x0, **MORSE_TWIN)
    h = np.asarray(twin.hessian(jnp.asarray(x0)))
    inv_sqrt_m = 1.0 / np.sqrt(np.full(3 * n, MASS))
    lam, vecs = np.linalg.eigh(h * np.outer(inv_sqrt_m, inv_sqrt_m))
    keep = np.argsort(np.abs(lam))[3:]                     # drop the 3 translations
    omega = np.sqrt(lam[keep] / units.MVV2E)                # rad/ps
    hw = units.HBAR * omega
    weight = np.sum(vecs[:, keep] ** 2 / MASS, axis=0)      # sum_i |e_ki|^2 / m_i
    kT = units.KB * temperature
    quantum = np.sum(units.HBAR / (2 * omega) / np.tanh(hw / (2 * kT)) * weight) / units.MVV2E
    classical = np.sum(kT / omega**2 * weight) / units.MVV2E
    return quantum / n, classical / n, twin


def test_sample_mode_identity_flow_msd_is_exact_harmonic(tmp_path):
    """Sample mode, identity flow = the harmonic density matrix: LAMMPS's compute msd on
    the sampled configurations vs the exact quantum MSD; successive samples independent;
    thermo pe of each sample = the analytic twin's energy of its positions."""
    import jax.numpy as jnp

    temperature, nsamples = 50.0, 400
    out = tmp_path / "msd.dat"
    lmp = _lammps(BOX + PAIR + [
        "compute msd all msd",
        "fix nct all nct_sample 50.0 mode sample every 1 flow identity batch_size 80 seed 5",
        f"fix m all ave/time 1 1 1 c_msd[4] c_thermo_pe file {out}",
        "thermo_style custom step pe c_msd[4]"])
    x0 = _sorted(lmp, "x")
    lmp.command(f"run {nsamples}")
    side = 2 * A_FCC
    d = _sorted(lmp, "x") - x0
    x_last = x0 + d - side * np.round(d / side)      # small displacements: minimum image
    pe_last = lmp.get_thermo("pe")
    lmp.close()
    data = np.loadtxt(out)
    msd, pe = data[1:, 1], data[1:, 2]                  # row 0: step 0, before sampling
    assert len(msd) == nsamples
    quantum, classical, twin = _exact_harmonic_msd(x0, temperature)
    mean, err = msd.mean(), msd.std(ddof=1) / np.sqrt(len(msd))
    assert abs(mean - quantum) < 4 * err, (mean, err, quantum)
    assert abs(quantum - classical) > 10 * err          # the test resolves quantum effects
    r1 = np.corrcoef(msd[:-1], msd[1:])[0, 1]
    assert abs(r1) < 4 / np.sqrt(len(msd)), r1
    assert np.std(pe) > 0
    assert pe_last == pytest.approx(float(twin.energy(jnp.asarray(x_last))), rel=1e-12)


def _thermo_rows(log: str) -> np.ndarray:
    lines = log.splitlines()
    start = next(i for i, s in enumerate(lines) if s.split()[:1] == ["Step"])
    rows = []
    for s in lines[start + 1:]:
        if s.startswith("Loop time"):
            break
        rows.append([float(v) for v in s.split()])
    return np.array(rows)


def test_one_and_two_ranks_give_the_same_training(tmp_path):
    """Every rank takes part in each evaluation (atoms split between them); rank 0's JAX
    sees the same energies, so F after two steps agrees between 1 and 2 ranks."""
    import subprocess

    from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

    deck = "\n".join([
        "units metal", "atom_style atomic", f"lattice fcc {A_FCC!r}",
        "region box block 0 2 0 2 0 2", "create_box 1 box", "create_atoms 1 box",
        f"mass 1 {MASS}", *PAIR, "displace_atoms all random 0.03 0.03 0.03 4711 units box",
        "fix nct all nct_sample 100.0 batch_size 16 seed 3 flow identity steps 10",
        "thermo_style custom step pe f_nct[1] f_nct[2] f_nct[6] f_nct[10]",
        "thermo_modify format float %20.15g", "thermo 1", "run 2"]) + "\n"
    rows = {}
    for nprocs in (1, 2):
        work = tmp_path / f"np{nprocs}"
        work.mkdir()
        (work / "in.nct").write_text(deck)
        proc = subprocess.run([mpiexec_executable(), "-n", str(nprocs), lmp_executable(),
                               "-in", "in.nct", "-log", "log.lammps"], cwd=work,
                              capture_output=True, text=True, timeout=300,
                              env=lammps_environment())
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        log = (work / "log.lammps").read_text()
        assert ("1 by 1 by 1 MPI" if nprocs == 1 else "by 2 MPI") in log
        rows[nprocs] = _thermo_rows(log)
    one, two = rows[1], rows[2]
    assert one.shape == two.shape == (3, 6)
    assert np.all(np.isfinite(one[1:]))
    np.testing.assert_allclose(two[:, [0, 1, 2, 4, 5]], one[:, [0, 1, 2, 4, 5]], rtol=1e-12)
    np.testing.assert_allclose(two[1:, 3], one[1:, 3], rtol=1e-9)


RESTART_FIX = "fix nct all nct_sample 100.0 batch_size 16 seed 7 steps 10 flow gaussian"


def test_restart_continues_training_exactly(tmp_path):
    """run 4 == run 2; write_restart; clear; read_restart; run 2 (state stored as arrays in
    the restart file); a restart for another temperature or atom count is refused."""
    setup = BOX + PAIR + ["displace_atoms all random 0.03 0.03 0.03 4711 units box"]
    lmp = _lammps(setup + [RESTART_FIX, "run 4"])
    straight = _vector(lmp)
    lmp.close()

    restart = tmp_path / "nct.restart"
    lmp = _lammps(setup + [RESTART_FIX, "run 2", f"write_restart {restart}"])
    halfway = _vector(lmp)
    lmp.command("clear")
    for c in [f"read_restart {restart}", RESTART_FIX, "run 2"]:
        lmp.command(c)
    resumed = _vector(lmp)
    lmp.close()
    assert halfway[11] == 2 and resumed[11] == straight[11] == 4
    assert not np.array_equal(halfway[:2], resumed[:2])
    np.testing.assert_array_equal(resumed[[0, 1, 2, 3, 4, 5, 6, 9]],
                                  straight[[0, 1, 2, 3, 4, 5, 6, 9]])

    lmp = _lammps([f"read_restart {restart}"])
    with pytest.raises(Exception, match="cannot continue the NCT state of the restart file: "
                                        "checkpoint was made with temperature = 100.0"):
        lmp.command(RESTART_FIX.replace("100.0", "200.0"))
        lmp.command("run 1")
    lmp.close()
    lmp = _lammps([f"read_restart {restart}", "group one id 1", "delete_atoms group one"])
    with pytest.raises(Exception, match="holds an NCT state for 32 atoms, this system has 31"):
        lmp.command(RESTART_FIX)
    lmp.close()


def test_output_keyword_writes_qfe_nct_results(tmp_path):
    """``output DIR``: after a training run the density matrix is evaluated and written as
    ``qfe nct --output`` does; the global vector then holds the evaluated F and pressure."""
    import json

    out = tmp_path / "nct"
    ckpt = tmp_path / "ckpt.npz"
    lmp = _lammps(BOX + PAIR + [
        f"fix nct all nct_sample 100.0 batch_size 16 seed 2 flow identity steps 10 "
        f"eval_batches 2 output {out} checkpoint {ckpt}", "run 2"])
    vec = _vector(lmp)
    lmp.close()
    result = json.loads((out / "result.json").read_text())
    assert result["natoms"] == 32 and result["steps_used"] == 2
    assert vec[0] == pytest.approx(result["thermo"]["F"]["value"], rel=1e-12)
    assert vec[9] == pytest.approx(result["harmonic"]["F"], rel=1e-12)
    assert vec[7] == pytest.approx(result["stress"]["pressure_GPa"][0] * 1e4, rel=1e-12)
    assert len((out / "history.csv").read_text().splitlines()) == 3
    from qfe.nct.trainer import load_checkpoint

    assert load_checkpoint(ckpt)["step"] == 2


@pytest.mark.slow          # ~80 s: TensorFlow and JAX DeePMD start-up and compilation
def test_deepmd_deck_equals_jax_route():
    """``pair_style deepmd`` (TensorFlow, the default Li model) in a deck with the exact JAX
    Hessian of the same model (``hessian_model default``) gives the F of the pure JAX route
    (``qfe.nct`` on the JAX DeePMD potential), same seed, to 1e-8 relative."""
    pytest.importorskip("deepmd")
    from ase import Atoms

    from qfe.nct.config import NCTConfig
    from qfe.nct.phonons import crystal_system
    from qfe.nct.trainer import Trainer
    from qfe.potentials import default_lithium, default_lithium_model

    lmp = _lammps(["units metal", "atom_style atomic", "lattice bcc 3.44",
                   "region box block 0 2 0 2 0 2", "create_box 1 box", "create_atoms 1 box",
                   "mass 1 6.941", f"pair_style deepmd {default_lithium_model('pb')}",
                   "pair_coeff * * Li",
                   "fix nct all nct_sample 100.0 batch_size 16 seed 4 flow identity steps 10 "
                   "hessian_model default"])
    x0 = _sorted(lmp, "x")
    boxlo, boxhi = lmp.extract_box()[:2]
    cell = np.diag(np.array(boxhi) - np.array(boxlo))
    lmp.command("run 2")
    vec = _vector(lmp)
    lmp.close()

    atoms = Atoms(f"Li{len(x0)}", positions=x0, cell=cell, pbc=True)
    masses = np.full(len(x0), 6.941)
    system = crystal_system(default_lithium(atoms, masses=masses), masses=masses)
    trainer = Trainer(system, NCTConfig(temperature=100.0, batch_size=16, seed=4,
                                        flow="identity", steps=10, progress=False))
    state = trainer.init_state()
    for _ in range(2):
        state, stats = trainer.step(state)
    assert vec[9] == pytest.approx(system.harmonic_free_energy(100.0), rel=1e-12)
    print(f"deck F {vec[0]!r}, JAX route F {stats['free_energy']!r}, relative difference "
          f"{abs(vec[0] / stats['free_energy'] - 1):.2e}")
    assert vec[0] == pytest.approx(stats["free_energy"], rel=1e-8)
    assert vec[5] == pytest.approx(stats["potential"], rel=1e-8)
