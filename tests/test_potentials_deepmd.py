"""The JAX DeePMD path against deepmd-kit's own DeepPot (TensorFlow), and its contract.

Reference: deepmd-kit's ``DeepPot.eval`` on the same .pb file (an independent implementation:
TensorFlow graph with C++ custom ops).  Tolerances from the issue: 1e-8 eV/atom, 1e-6 eV/A.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

jax = pytest.importorskip("jax")
pytest.importorskip("deepmd")
import jax.numpy as jnp
from ase.build import bulk

from qfe.potentials import default_lithium_model
from qfe.potentials.deepmd import DeepMDModel, deepmd_pair_lines, load_deepmd

pytestmark = [
    pytest.mark.deepmd,
    # deepmd-kit 3.2 reads flax Variables through the deprecated `.value`
    pytest.mark.filterwarnings("ignore:.*value. access is now deprecated:DeprecationWarning"),
]

V0 = 19.2   # A^3/atom


def bcc(reps=3, volume=V0):
    return bulk("Li", "bcc", a=(2 * volume) ** (1 / 3), cubic=True).repeat(reps)


def displaced(atoms, sigma, seed):
    atoms = atoms.copy()
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=sigma, size=atoms.positions.shape)
    return atoms


def deeppot_eval(deeppot, atoms):
    n = len(atoms)
    e, f, v = deeppot.eval(atoms.positions.reshape(1, -1), np.array(atoms.cell).reshape(1, -1),
                           np.zeros(n, dtype=int))
    return float(e.ravel()[0]), f.reshape(n, 3), v.reshape(3, 3)


@pytest.fixture(scope="module")
def default_pb():
    return default_lithium_model("pb")


@pytest.fixture(scope="module")
def default_model():
    return DeepMDModel(default_lithium_model("dp"), float32_cutoffs=True)   # = model.pb


@pytest.fixture(scope="module")
def default_deeppot(default_pb):
    from deepmd.infer import DeepPot

    return DeepPot(str(default_pb))


def _configs():
    """Random displaced bcc and a strained, displaced fcc (cells not lower-triangular)."""
    a = displaced(bcc(3), 0.12, 1)
    f = bulk("Li", "fcc", a=(4 * 18.0) ** (1 / 3), cubic=True).repeat(2)
    f.set_cell(np.array(f.cell) @ np.array([[1.02, 0.01, 0.0], [0.01, 0.99, 0.02],
                                            [0.0, 0.02, 1.01]]), scale_atoms=True)
    return [a, displaced(f, 0.08, 2)]


def test_jax_equals_deeppot_default_model(default_model, default_deeppot):
    for atoms in _configs():
        n = len(atoms)
        pot = load_deepmd(default_model, atoms)
        pos = jnp.asarray(atoms.positions)
        e = float(jax.jit(pot.energy)(pos))
        f = np.asarray(jax.jit(pot.forces)(pos))
        s = np.asarray(jax.jit(pot.stress)(pos))
        e_ref, f_ref, v_ref = deeppot_eval(default_deeppot, atoms)
        assert abs(e - e_ref) / n < 1e-8
        assert np.max(np.abs(f - f_ref)) < 1e-6
        assert np.max(np.abs(f_ref)) > 0.05        # a real test: forces are not ~0
        # deepmd-kit's virial is -dE/dstrain; ASE stress = dE/dstrain / V
        assert np.max(np.abs(s + v_ref / atoms.get_volume())) < 1e-8


def test_pb_and_dp_files_give_the_same_function(default_pb):
    """Same weights; the .pb's TF ops see float32 cutoffs, which the JAX path reproduces."""
    atoms = displaced(bcc(2), 0.1, 3)
    pos = jnp.asarray(atoms.positions)
    e_pb = float(load_deepmd(default_pb, atoms).energy(pos))
    dp = default_lithium_model("dp")
    e_dp32 = float(load_deepmd(DeepMDModel(dp, float32_cutoffs=True), atoms).energy(pos))
    e_dp64 = float(load_deepmd(DeepMDModel(dp), atoms).energy(pos))
    assert abs(e_pb - e_dp32) < 1e-10
    # float64 cutoffs: a different (equally valid) function, by ~1e-8 eV/atom
    assert 0.0 < abs(e_pb - e_dp64) / len(atoms) < 1e-6


@pytest.mark.parametrize("name", ["frozen_model_dp4.pb", "frozen_model_dp0.pb"])
def test_jax_equals_deeppot_reference_models(reference_path, name):
    """The paper's Li models: hybrid se_e2_a (type_one_side=false, sel 200) + se_e3."""
    from deepmd.infer import DeepPot

    path = reference_path / "li-dp" / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    atoms = displaced(bcc(3, volume=18.0 if name.endswith("dp0.pb") else V0), 0.1, 4)
    pot = load_deepmd(path, atoms)
    pos = jnp.asarray(atoms.positions)
    e = float(jax.jit(pot.energy)(pos))
    f = np.asarray(jax.jit(pot.forces)(pos))
    e_ref, f_ref, _ = deeppot_eval(DeepPot(str(path)), atoms)
    assert abs(e - e_ref) / len(atoms) < 1e-8
    assert np.max(np.abs(f - f_ref)) < 1e-6


def test_vmap_grad_and_batch_helper_agree(default_model):
    atoms = bcc(2)
    pot = load_deepmd(default_model, atoms, skin=1.0)
    rng = np.random.default_rng(5)
    batch = atoms.positions + rng.normal(scale=0.05, size=(4, len(atoms), 3))
    assert pot.prepare(batch) is False
    e_vmap = np.asarray(jax.jit(jax.vmap(pot.energy))(jnp.asarray(batch)))
    f_vmap = -np.asarray(jax.jit(jax.vmap(jax.grad(pot.energy)))(jnp.asarray(batch)))
    e_b, f_b = pot.batch_energy_and_forces(batch, chunk_size=2)
    e_v, f_v = pot.batch_energy_and_forces(batch)                 # default: whole-batch vmap
    e_one = [float(pot.energy(jnp.asarray(p))) for p in batch]
    np.testing.assert_allclose(e_vmap, e_one, rtol=0, atol=1e-10)
    e_map = jax.jit(lambda b: pot.batch_energy(b, chunk_size=3))(jnp.asarray(batch))
    np.testing.assert_allclose(np.asarray(e_map), e_one, rtol=0, atol=1e-10)
    g_map = jax.grad(lambda b: jnp.sum(pot.batch_energy(b, chunk_size=2)))(jnp.asarray(batch))
    np.testing.assert_allclose(-np.asarray(g_map), f_vmap, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(e_b), e_one, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(f_b), f_vmap, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(e_v), e_one, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(f_v), f_vmap, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="chunk_size must be None or >= 1, got 0"):
        pot.batch_energy_and_forces(batch, chunk_size=0)


def test_hessian_matches_finite_differences_and_acoustic_sum_rule(default_model):
    from qfe.potentials.phonons import acoustic_sum_rule_violation

    atoms = displaced(bcc(2), 0.05, 6)
    pot = load_deepmd(default_model, atoms)
    pos = jnp.asarray(atoms.positions)
    hess = np.asarray(jax.jit(pot.hessian)(pos))
    assert np.max(np.abs(hess - hess.T)) < 1e-10
    forces = jax.jit(pot.forces)
    h = 1e-4
    n = len(atoms)
    fd = np.empty((3 * n, 3 * n))
    for k in range(3 * n):
        d = np.zeros(3 * n)
        d[k] = h
        d = jnp.asarray(d.reshape(n, 3))
        fd[k] = -(np.asarray(forces(pos + d)) - np.asarray(forces(pos - d))).ravel() / (2 * h)
    scale = np.max(np.abs(hess))
    assert scale > 0.1
    assert np.max(np.abs(hess - fd)) < 1e-5 * scale       # O(h^2) truncation
    assert acoustic_sum_rule_violation(hess) < 1e-10 * scale


def test_small_cells_are_handled_with_images(default_model):
    """A 1-atom primitive and a 2-atom cubic bcc cell (edges << 2 rcut) give the same energy per
    atom as a 54-atom supercell."""
    a = (2 * V0) ** (1 / 3)
    ref = load_deepmd(default_model, bcc(3))
    e_ref = float(ref.energy(jnp.asarray(ref.reference_positions))) / 54
    for atoms in (bulk("Li", "bcc", a=a), bulk("Li", "bcc", a=a, cubic=True)):
        assert max(atoms.cell.lengths()) < 2 * default_model.rcut
        pot = load_deepmd(default_model, atoms)
        e = float(pot.energy(jnp.asarray(atoms.positions))) / len(atoms)
        assert abs(e - e_ref) < 1e-10
        f = np.asarray(pot.forces(jnp.asarray(atoms.positions)))
        assert np.max(np.abs(f)) < 1e-10          # perfect lattice: no forces


def test_stale_neighbors_give_nan_until_prepare(default_model):
    atoms = bcc(2)
    pot = load_deepmd(default_model, atoms, skin=0.4)
    energy = jax.jit(pot.energy)
    moved = atoms.positions.copy()
    moved[3] += np.array([0.3, 0.0, 0.0])          # beyond skin/2
    assert np.isnan(float(energy(jnp.asarray(moved))))
    assert pot.prepare(moved) is True
    e = float(jax.jit(pot.energy)(jnp.asarray(moved)))
    fresh = load_deepmd(default_model, positions=moved, symbols=atoms.get_chemical_symbols(),
                        cell=np.array(atoms.cell))
    assert abs(e - float(fresh.energy(jnp.asarray(moved)))) < 1e-10
    assert pot.prepare(moved) is False


def test_cell_change_beyond_skin_triggers_rebuild(default_model):
    atoms = bcc(2)
    pot = load_deepmd(default_model, atoms, skin=0.2)
    big = np.array(atoms.cell) * 0.95                  # 5% compression: pairs move > skin
    pos = atoms.positions * 0.95
    assert np.isnan(float(pot.energy(jnp.asarray(pos), jnp.asarray(big))))
    assert pot.prepare(pos, big) is True
    e = float(pot.energy(jnp.asarray(pos)))
    fresh = load_deepmd(default_model, symbols=atoms.get_chemical_symbols(), positions=pos,
                        cell=big)
    assert abs(e - float(fresh.energy(jnp.asarray(pos)))) < 1e-10


def test_bad_input_errors(default_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="nonexistent.pb"):
        DeepMDModel(tmp_path / "nonexistent.pb")
    bad = tmp_path / "model.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="suffix '.txt'"):
        DeepMDModel(bad)
    atoms = bcc(2)
    with pytest.raises(ValueError, match=r"type map \['H'\] does not match"):
        load_deepmd(default_model, atoms, type_map=["H"])
    mixed = atoms.copy()
    mixed[5].symbol = "H"
    with pytest.raises(ValueError, match=r"\['H'\] \(first: atom 5\) are not in the type map"):
        load_deepmd(default_model, mixed)
    with pytest.raises(ValueError, match=r"atom type 1 is out of range for the type map"):
        load_deepmd(default_model, positions=atoms.positions, cell=np.array(atoms.cell),
                    types=[0] * 15 + [1])
    slab = atoms.copy()
    slab.pbc = [True, True, False]
    with pytest.raises(ValueError, match="partial periodicity"):
        load_deepmd(default_model, slab)
    pot = load_deepmd(default_model, atoms)
    with pytest.raises(ValueError, match=r"positions must have shape \(16, 3\)"):
        pot.prepare(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        pot.prepare(np.full((16, 3), np.nan))
    wrapped = np.stack([atoms.positions, atoms.positions])
    wrapped[1, 0] += atoms.cell[0]                 # same configuration, atom 0 wrapped
    with pytest.raises(ValueError, match="atom 0 is .* one neighbor list cannot serve"):
        pot.prepare(wrapped)


def test_pair_lines_for_lammps(default_pb):
    lines = deepmd_pair_lines(default_pb, ["Li"])
    assert lines == [f"pair_style deepmd {default_pb.resolve()}", "pair_coeff * * Li"]
    with pytest.raises(ValueError, match="needs the .pb"):
        deepmd_pair_lines(default_lithium_model("dp"), "Li")


def _clean(node):
    """Serialized model with numpy scalars as Python numbers (deepmd-kit 3.2's YAML writer
    cannot represent numpy scalars)."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node.item() if isinstance(node, np.generic) else node


def test_model_suffix_table(tmp_path):
    """One table of model suffixes for load_deepmd and `qfe nct --potential` (make_potential,
    which calls load_deepmd): the shipped model written as .yaml, .yml and .hlo by deepmd-kit
    gives the .dp's energy;
    suffixes deepmd-kit cannot read here (or spelled in upper case, which its readers refuse)
    are refused with the list."""
    from deepmd.backend.backend import Backend

    from qfe.nct.api import make_potential
    from qfe.potentials import MODEL_SUFFIXES
    from qfe.potentials.deepmd import read_deepmd_model

    source = default_lithium_model("dp")
    data = _clean(read_deepmd_model(source))
    atoms = displaced(bcc(2), 0.05, seed=7)
    reference = float(load_deepmd(source, atoms).energy(jnp.asarray(atoms.positions)))
    for suffix in (".yaml", ".yml", ".hlo"):
        path = tmp_path / f"model{suffix}"
        Backend.detect_backend_by_model(str(path))().deserialize_hook(str(path), data)
        assert path.suffix in MODEL_SUFFIXES
        pot = make_potential(str(path), atoms)
        assert float(pot.energy(jnp.asarray(atoms.positions))) == pytest.approx(
            reference, abs=1e-10), suffix
    for name in ("model.pth", "model.savedmodel", "model.DP"):
        (tmp_path / name).write_text("x")
        with pytest.raises(ValueError, match=r"not one of \.pb, \.dp, \.yaml, \.yml, \.jax, \.hlo"):
            load_deepmd(tmp_path / name, atoms)
        with pytest.raises(ValueError, match=r"a DeePMD model file \(\.pb, \.dp, .*\.hlo\)"):
            make_potential(str(tmp_path / name), atoms)
