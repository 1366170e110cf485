"""qfe.teachers: the teacher protocol without the optional packages, and (skipped when the
optional extra requirements/lah10.txt is absent) the offline teachers on Fm-3m LaH10."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from qfe.teachers import (
    TEACHERS,
    CalculatorTeacher,
    LabelledFrames,
    available_teachers,
    get_teacher,
)


def _emt_frames(n=3, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        at = bulk("Cu", "fcc", a=3.6, cubic=True)
        at.positions += 0.05 * rng.standard_normal(at.positions.shape)
        at.calc = EMT()
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = SinglePointCalculator(at, energy=e, forces=f, stress=s)
        frames.append(at)
    return frames


def test_calculator_teacher_labels_like_its_calculator():
    t = CalculatorTeacher("emt", "EMT (test)", EMT)
    at = _emt_frames(1)[0]
    lab = t.label(at)
    ref = at.copy()
    ref.calc = EMT()
    assert lab["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(lab["forces"], ref.get_forces(), atol=1e-12)
    np.testing.assert_allclose(lab["stress"], ref.get_stress(), atol=1e-12)


def test_labelled_frames_answers_only_for_stored_configurations():
    frames = _emt_frames()
    t = LabelledFrames(frames, name="cu-test")
    for at in frames:
        lab = t.label(at.copy())
        assert lab["energy"] == pytest.approx(at.get_potential_energy(), abs=0)
    new = frames[0].copy()
    new.positions[0, 0] += 0.01
    with pytest.raises(KeyError, match="cu-test"):
        t.label(new)
    with pytest.raises(NotImplementedError, match="fixed data set"):
        t.calculator()
    bare = bulk("Cu", "fcc", a=3.6)
    with pytest.raises(ValueError, match="carries no labels"):
        LabelledFrames([bare])


def test_missing_package_and_unknown_name_are_explained():
    t = CalculatorTeacher("ghost", "none", EMT, requires=("no_such_module_qfe",))
    with pytest.raises(ImportError, match="requirements/lah10.txt"):
        t.calculator()
    with pytest.raises(ValueError, match="unknown teacher 'dft'.*chgnet"):
        get_teacher("dft")
    assert set(available_teachers()) <= set(TEACHERS)


@pytest.mark.teachers
@pytest.mark.parametrize("name", ["chgnet", "sevennet-0"])
def test_offline_teacher_runs_on_lah10(name):
    """Smoke check of the optional teachers on the ideal Fm-3m cell (skipped without them):
    finite energy, forces that sum to zero (translation invariance) and respect the cubic
    symmetry (zero on the 4b La and 8c H sites, by site symmetry)."""
    pytest.importorskip("torch")
    pytest.importorskip({"chgnet": "chgnet", "sevennet-0": "sevenn"}[name])
    from qfe.lah10 import lah10_fm3m

    at = lah10_fm3m(5.10, 0.12, primitive=True)
    lab = get_teacher(name).label(at)
    assert np.isfinite(lab["energy"])
    np.testing.assert_allclose(lab["forces"].sum(axis=0), 0.0, atol=1e-3)
    # La (index 0) and the two 8c H (1, 2) sit on sites of -43m / m-3m symmetry: no force
    np.testing.assert_allclose(lab["forces"][:3], 0.0, atol=1e-3)
