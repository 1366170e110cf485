"""Issue 14's lithium check with the published dp4 model (Zhang et al.), ``make test-long``.

bcc (54 atoms) and fcc (32 atoms) at 19.2 A^3/atom and 100 K, default settings except 60 steps
and batch 128; every ansatz (full NCT, Gaussian/SCHA, occupations only) is trained with the
same settings.  Expected pattern (paper): the flow lowers F below the Gaussian in bcc, and by
more than in fcc.  100 K, not 300 K: at 300 K the bcc NCT-minus-Gaussian lowering was 2.1
sigma after 100 steps (docs/nct.md), too close to the noise for a test.  About 35 minutes on
one core; skips without ../shared/reference.
"""

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("jax")


def _train(reference_path, phase, repeat):
    from ase.build import bulk

    import qfe.nct

    model = reference_path / "li-dp" / "frozen_model_dp4.pb"
    if not model.is_file():
        pytest.skip(f"{model} not present")
    per_cell = 2 if phase == "bcc" else 4
    atoms = bulk("Li", phase, a=(per_cell * 19.2) ** (1 / 3), cubic=True).repeat(repeat)
    r = qfe.nct.run(atoms, str(model), temperature=100.0, steps=60, batch_size=128, seed=7,
                    baselines=["occupations", "gaussian"], progress=False)
    out = {"nct": r.report("F")}
    for name in ("occupations", "gaussian"):
        out[name] = tuple(x * r.report_scale for x in r.baselines[name]["F"])
    print(f"\n{phase} dp4 100 K, F (meV/atom): " + ", ".join(f"{k} {v:.3f} +- {e:.3f}"
                                                        for k, (v, e) in out.items()))
    return out


def _difference(a, b):
    return a[0] - b[0], (a[1] ** 2 + b[1] ** 2) ** 0.5      # independent batches


@pytest.fixture(scope="module")
def bcc(reference_path):
    return _train(reference_path, "bcc", 3)


@pytest.fixture(scope="module")
def fcc(reference_path):
    return _train(reference_path, "fcc", 2)


def test_bcc_nct_below_gaussian_below_occupations(bcc):
    d_ng, e_ng = _difference(bcc["nct"], bcc["gaussian"])
    d_go, e_go = _difference(bcc["gaussian"], bcc["occupations"])
    assert d_ng < -2 * e_ng, bcc
    assert d_go < -2 * e_go, bcc


def test_flow_lowering_larger_in_bcc_than_fcc(bcc, fcc):
    d_bcc, e_bcc = _difference(bcc["nct"], bcc["gaussian"])
    d_fcc, e_fcc = _difference(fcc["nct"], fcc["gaussian"])
    assert d_fcc < 2 * e_fcc, fcc                        # variational: not above the Gaussian
    assert d_bcc - d_fcc < -2 * (e_bcc ** 2 + e_fcc ** 2) ** 0.5, (bcc, fcc)
