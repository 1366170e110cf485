"""The built-in lithium DeePMD model (built by ``qfe model build-li``, shipped with qfe).

Files in ``qfe/data/li_default/``: ``model.pb`` (TensorFlow: deepmd-kit's ``DeepPot``, ASE,
LAMMPS ``pair_style deepmd``), ``model.dp`` (backend-neutral: the JAX path), ``input.json``
(deepmd-kit training input), ``data_settings.json`` (how the teacher data was generated),
``report.json`` and ``plots/`` (validation against the teacher, Li SNAP).
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "li_default"
FORMATS = {"pb": "model.pb", "dp": "model.dp"}

__all__ = ["DATA_DIR", "default_lithium_model", "default_lithium", "default_lithium_jax_model",
           "default_lithium_report"]


def default_lithium_model(fmt: str = "pb") -> Path:
    """Path of the shipped model file: ``fmt="pb"`` (TensorFlow, LAMMPS, ASE) or ``"dp"``
    (JAX path).  FileNotFoundError if it has not been built."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; expected one of {sorted(FORMATS)}")
    path = DATA_DIR / FORMATS[fmt]
    if not path.exists():
        raise FileNotFoundError(
            f"default Li model not found at {path}; build it with `qfe model build-li --install`")
    return path


def default_lithium(atoms=None, *, skin: float = 1.0, **kwargs):
    """The default model as a JAX :class:`~qfe.potentials.deepmd.DeepMDPotential` for
    ``atoms`` (or ``symbols=, positions=, cell=`` keywords, see :func:`load_deepmd`).

    Reads ``model.dp`` (no TensorFlow import) with the cutoffs rounded as in ``model.pb``, so
    it is the same function as ``pair_style deepmd model.pb`` and ``DeepPot(model.pb)``."""
    from qfe.potentials.deepmd import load_deepmd

    return load_deepmd(default_lithium_jax_model(), atoms, skin=skin, **kwargs)


_JAX_MODEL = None


def default_lithium_jax_model():
    """The default model as a :class:`~qfe.potentials.deepmd.DeepMDModel` (loaded once)."""
    global _JAX_MODEL
    if _JAX_MODEL is None:
        from qfe.potentials.deepmd import DeepMDModel

        _JAX_MODEL = DeepMDModel(default_lithium_model("dp"), float32_cutoffs=True)
    return _JAX_MODEL


def default_lithium_report() -> dict:
    """The validation report shipped with the model (dict, see ``report.json``)."""
    path = DATA_DIR / "report.json"
    if not path.exists():
        raise FileNotFoundError(f"no validation report at {path}")
    return json.loads(path.read_text())
