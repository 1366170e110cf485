"""Trainer: exact resume after SIGKILL, NaN/Inf handling, configuration errors, CLI."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe._jax import jax, jnp
from qfe.nct.config import NCTConfig, load_options
from qfe.nct.system import model_system_1d
from qfe.nct.trainer import NCTDivergenceError, Trainer, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]

# a small anharmonic crystal with a coupling flow: built identically here and in the child
SETUP = textwrap.dedent("""
    import numpy as np
    from qfe.potentials import EinsteinCrystal
    from qfe.nct.phonons import crystal_system
    from qfe.nct.config import NCTConfig
    from qfe.nct.trainer import Trainer

    def make_trainer():
        pot = EinsteinCrystal(symbols=["Li", "Li"], masses=[6.94, 6.94], cell=4.0 * np.eye(3),
                              reference_positions=np.array([[0.0, 0, 0], [2.0, 2.0, 2.0]]),
                              k=1.0, k4=0.5)
        cfg = NCTConfig(temperature=300.0, n_levels=6, flow_depth=2, flow_width=8,
                        batch_size=32, steps=24, checkpoint_every=4, progress=False, seed=3,
                        gradient="score")     # the cheapest program to compile

        return Trainer(crystal_system(pot), cfg)
""")


def make_trainer():
    namespace = {}
    exec(SETUP, namespace)
    return namespace["make_trainer"]()


@pytest.fixture(scope="module")
def trainer():
    """One trainer (compiled once) shared by the tests of this module."""
    return make_trainer()


def leaves(state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves((state.params, state.opt_state))]


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, trainer):
    ckpt = tmp_path / "run" / "checkpoint.npz"
    child = SETUP + textwrap.dedent(f"""
        import time
        make_trainer().train(checkpoint={str(ckpt)!r},
                             callback=lambda state, stats: time.sleep(0.3))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python") + os.pathsep
               + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    # the child runs (and is killed) while this process computes the uninterrupted reference
    proc = subprocess.Popen([sys.executable, "-c", child], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reference = trainer.train(checkpoint=tmp_path / "ref.pkl")
        assert reference.step == 24
        killed_at = None
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 8:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                killed_at = load_checkpoint(ckpt)["step"]
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert killed_at is not None, proc.stderr.read().decode()[-2000:]
    assert 8 <= killed_at < 24                 # really interrupted mid-run

    resumed = trainer.train(checkpoint=ckpt)   # config.resume: picks up the checkpoint
    assert resumed.step == 24
    for a, b in zip(leaves(resumed), leaves(reference)):
        assert np.array_equal(a, b)
    f_ref = [h["free_energy"] for h in reference.history]
    f_res = [h["free_energy"] for h in resumed.history]
    assert f_res == f_ref
    assert np.array_equal(np.asarray(resumed.key), np.asarray(reference.key))


def test_checkpoint_is_atomic_and_checked(tmp_path, trainer):
    state = trainer.train(steps=4, checkpoint=tmp_path / "c.npz")
    # a stale temporary file from a killed writer does not disturb anything
    (tmp_path / ".c.npz.tmp-99999").write_bytes(b"garbage")
    payload = load_checkpoint(tmp_path / "c.npz")
    assert payload["step"] == 4
    assert state.step == 4
    # resuming under a different temperature is refused with the option named
    config = trainer.config
    try:
        trainer.config = config.replace(temperature=400.0)
        with pytest.raises(ValueError, match="temperature"):
            trainer.state_from_checkpoint(payload)
    finally:
        trainer.config = config
    (tmp_path / "bad.npz").write_bytes(b"PK garbage")
    with pytest.raises(ValueError, match="not a qfe NCT checkpoint"):
        load_checkpoint(tmp_path / "bad.npz")
    # a pickle is refused unless the caller opts in (unpickling can run code)
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_checkpoint(tmp_path / "bad.pkl")
    with pytest.raises(ValueError, match="not a qfe NCT checkpoint"):
        load_checkpoint(tmp_path / "bad.pkl", allow_pickle=True)


def test_old_pickle_checkpoint_opt_in(tmp_path, trainer):
    """A version-1 pickle (the old format: nested dicts of arrays) resumes with the opt-in."""
    state = trainer.train(trainer.init_state(), steps=3)
    as_np = jax.tree_util.tree_map(np.asarray, {"p": state.params, "o": state.opt_state,
                                                "s": state.sampler_state})
    old = {"version": 1, "params": as_np["p"], "opt_state": as_np["o"],
           "sampler_state": as_np["s"], "key": np.asarray(state.key), "step": 3,
           "history": list(state.history), "config": trainer.config.to_dict(),
           "system": {"n_modes": trainer.system.n_modes,
                      "hbar_omega": np.asarray(trainer.system.hbar_omega),
                      "x0": np.asarray(trainer.system.x0)}}
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(old))
    restored = trainer.state_from_checkpoint(load_checkpoint(tmp_path / "old.pkl",
                                                             allow_pickle=True))
    assert restored.step == 3
    for a, b in zip(leaves(restored), leaves(state)):
        assert np.array_equal(a, b)


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, trainer):
    ckpt = tmp_path / "c.npz"
    state = trainer.train(steps=8, checkpoint=ckpt)
    good = load_checkpoint(ckpt)
    assert good["step"] == 8
    # simulate a divergence: a parameter becomes NaN
    bad_flow = jax.tree_util.tree_map(lambda x: x * jnp.nan, state.params["flow"])
    state.params = {**state.params, "flow": bad_flow}
    with pytest.raises(NCTDivergenceError, match="non-finite values at step 9"):
        trainer.train(state, steps=12, checkpoint=ckpt)
    after = load_checkpoint(ckpt)
    assert after["step"] == 8
    for a, b in zip(jax.tree_util.tree_leaves(after["params"]),
                    jax.tree_util.tree_leaves(good["params"])):
        assert np.array_equal(a, b)


def test_nan_potential_is_reported():
    system = model_system_1d(lambda x: 0.5 * x * x + jnp.where(jnp.abs(x) > 0.5, jnp.nan, 0.0))
    trainer = Trainer(system, NCTConfig(temperature=1.0, n_levels=4, flow="identity",
                                        batch_size=64, steps=3, progress=False))
    with pytest.raises(NCTDivergenceError, match="local free energies"):
        trainer.train()


@pytest.mark.parametrize("options,match", [
    ({"temperature": -5.0}, "temperature = -5.0"),
    ({"n_levels": 1}, "n_levels = 1"),
    ({"n_levels": 2.5}, "n_levels"),
    ({"sampler": "mcmc"}, "sampler = 'mcmc'"),
    ({"kinetic": "virial"}, "kinetic"),
    ({"kinetic": "gradient"}, "kinetic = 'gradient'.*gradient='pathwise' or 'score'"),
    ({"batch_size": 1}, "batch_size"),
    ({"lr_decay_rate": 1.5}, "lr_decay_rate"),
    ({"temperature": float("nan")}, "temperature"),
    ({"n_level": 20}, "unknown NCT option 'n_level' \\(did you mean 'n_levels'\\?\\)"),
    ({"flow": "maf"}, "flow = 'maf'"),
    ({"gradient": "reinforce"}, "gradient = 'reinforce'"),
    ({"occupations": "boltzmann"}, "occupations = 'boltzmann'"),
    ({"lr_schedule": "linear"}, "lr_schedule = 'linear'"),
    ({"lr_warmup": 1.5}, "lr_warmup = 1.5"),
    ({"adam_eps": 0.0}, "adam_eps = 0.0"),
    ({"grad_floor": -1.0}, "grad_floor = -1.0"),
    ({"convergence_window": 2}, "convergence_window = 2"),
    ({"stop_when_converged": "yes"}, "stop_when_converged = 'yes'"),
    ({"baselines": ["harmonic"]}, "baselines = \\['harmonic'\\]"),
])
def test_bad_config_values(options, match):
    with pytest.raises(ValueError, match=match):
        NCTConfig.from_dict(options)


def test_config_files(tmp_path):
    (tmp_path / "a.toml").write_text("[nct]\ntemperature = 50.0\nn_levels = 8\n")
    (tmp_path / "b.json").write_text('{"temperature": 20.0, "sampler": "metropolis"}')
    (tmp_path / "c.yaml").write_text("temperature: 10.0\nbatch_size: 16\n")
    assert NCTConfig.from_file(tmp_path / "a.toml").n_levels == 8
    assert NCTConfig.from_file(tmp_path / "b.json").sampler == "metropolis"
    assert NCTConfig.from_file(tmp_path / "c.yaml", steps=5).steps == 5
    (tmp_path / "d.toml").write_text("temperature = 10.0\nflow_dept = 3\n")
    with pytest.raises(ValueError, match="flow_dept"):
        NCTConfig.from_file(tmp_path / "d.toml")
    with pytest.raises(FileNotFoundError):
        load_options(tmp_path / "missing.toml")
    (tmp_path / "e.ini").write_text("x")
    with pytest.raises(ValueError, match="unknown format"):
        load_options(tmp_path / "e.ini")


def test_cli(tmp_path, capsys):
    import ase.io
    from ase import Atoms

    from qfe.cli import main

    atoms = Atoms("Li2", positions=[[0, 0, 0], [2.0, 2.0, 2.0]], cell=4.0 * np.eye(3), pbc=True)
    ase.io.write(tmp_path / "POSCAR", atoms, format="vasp")
    (tmp_path / "nct.toml").write_text("n_levels = 6\nflow = 'identity'\n")
    out = tmp_path / "out"
    rc = main(["nct", str(tmp_path / "POSCAR"), "--potential", "einstein:k=1.0,k4=0.3",
               "-T", "200", "--config", str(tmp_path / "nct.toml"), "--steps", "3",
               "--set", "batch_size=16", "--set", "eval_batches=2", "--quiet",
               "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "free energy F" in text and "meV/atom" in text and "pressure P" in text
    for name in ("checkpoint.npz", "result.json", "history.csv", "training.png", "dos.png"):
        assert (out / name).is_file(), name
    # bad values are reported as errors naming the option, not tracebacks
    rc = main(["nct", str(tmp_path / "POSCAR"), "--potential", "einstein:k=1.0", "-T", "-3"])
    assert rc == 2
    assert "temperature" in capsys.readouterr().err
    rc = main(["nct", str(tmp_path / "POSCAR"), "--potential", "einstein:k=1.0", "-T", "10",
               "--set", "levels=3"])
    assert rc == 2
    assert "unknown NCT option 'levels'" in capsys.readouterr().err
    rc = main(["nct", str(tmp_path / "missing"), "--potential", "einstein:k=1.0", "-T", "10"])
    assert rc == 2


def test_save_checkpoint_roundtrip(tmp_path, trainer):
    state = trainer.init_state()
    save_checkpoint(tmp_path / "x.npz", state, trainer.config, trainer.system)
    restored = trainer.state_from_checkpoint(load_checkpoint(tmp_path / "x.npz"))
    for a, b in zip(leaves(restored), leaves(state)):
        assert np.array_equal(a, b)
