"""Teachers: the reference energy model that labels configurations for a potential build.

No DFT code runs on the development machines, so the La-H pipeline starts from an offline
universal machine-learned potential that ships its weights inside its wheel.  Anything that
satisfies the small :class:`Teacher` protocol can take its place, e.g. a DFT-labelled data set
wrapped by :class:`LabelledFrames` (it answers only for the stored configurations).

Protocol (all units ASE's: eV, A, eV/A, stress in eV/A^3 with ASE's sign convention):

- ``name``              short identifier ("chgnet", "sevennet-0", ...)
- ``level_of_theory``   what the labels approximate (e.g. "PBE/PBE+U (MPtrj), via CHGNet")
- ``calculator()``      a fresh ``ase`` calculator giving energy, forces and stress
- ``label(atoms)``      dict(energy, forces, stress) of one configuration

The offline teachers need the optional extra (``pip install -r requirements/lah10.txt``:
``sevenn`` and ``chgnet``, which pull a CPU build of PyTorch); they are *not* part of
``requirements/lock.txt`` nor of ``make test``.  Asking for one without the extra raises an
ImportError that says what to install.  Measured on LaH10 in ``docs/lah10.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Teacher", "CalculatorTeacher", "LabelledFrames", "TEACHERS", "get_teacher",
           "available_teachers"]

EXTRA_HINT = ("install the optional teachers with `pip install -r requirements/lah10.txt` "
              "(sevenn, chgnet; CPU PyTorch)")


class Teacher:
    """Base of the teacher protocol (see the module doc)."""

    name: str = ""
    level_of_theory: str = ""

    def calculator(self):
        raise NotImplementedError

    def label(self, atoms) -> dict:
        """Energy (eV), forces (eV/A, (N, 3)) and stress (eV/A^3, Voigt 6) of ``atoms``."""
        at = atoms.copy()
        at.calc = self.calculator()
        return {"energy": float(at.get_potential_energy()),
                "forces": np.array(at.get_forces(), float),
                "stress": np.array(at.get_stress(voigt=True), float)}


class CalculatorTeacher(Teacher):
    """A teacher given by an ASE calculator factory (imports happen in the factory);
    ``requires`` names the modules it needs (checked before the factory runs)."""

    def __init__(self, name: str, level_of_theory: str, factory: Callable[[], object],
                 requires: tuple = ()):
        self.name, self.level_of_theory = name, level_of_theory
        self.factory, self.requires = factory, tuple(requires)

    def calculator(self):
        missing = [m for m in self.requires if not _importable(m)]
        if missing:
            raise ImportError(f"teacher {self.name!r} needs {', '.join(missing)}: {EXTRA_HINT}")
        return self.factory()


class LabelledFrames(Teacher):
    """A fixed, labelled data set (e.g. DFT) as a teacher: ``label`` answers for configurations
    that match a stored one (same species, cell and positions within ``tol`` A) and raises
    KeyError otherwise; it has no calculator for new configurations."""

    def __init__(self, frames, name: str = "dataset", level_of_theory: str = "as labelled",
                 tol: float = 1e-6):
        self.name, self.level_of_theory, self.tol = name, level_of_theory, tol
        self.frames = []
        for at in frames:
            if at.calc is None:
                raise ValueError(f"frame {len(self.frames)} of {name!r} carries no labels "
                                 "(attach a SinglePointCalculator with energy/forces/stress)")
            self.frames.append(at)

    def calculator(self):
        raise NotImplementedError(f"teacher {self.name!r} is a fixed data set: it labels only "
                                  "its stored configurations (use label())")

    def label(self, atoms) -> dict:
        for at in self.frames:
            if (len(at) == len(atoms)
                    and at.get_chemical_symbols() == atoms.get_chemical_symbols()
                    and np.allclose(at.cell.array, atoms.cell.array, atol=self.tol)
                    and np.allclose(at.positions, atoms.positions, atol=self.tol)):
                return {"energy": float(at.get_potential_energy()),
                        "forces": np.array(at.get_forces(), float),
                        "stress": np.array(at.get_stress(voigt=True), float)}
        raise KeyError(f"configuration ({atoms.get_chemical_formula()}, {len(atoms)} atoms) "
                       f"is not in data set {self.name!r}")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _sevennet(model: str):
    def make():
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(model, device="cpu")
    return make


def _chgnet():
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(use_device="cpu")


TEACHERS = {
    "chgnet": CalculatorTeacher(
        "chgnet", "PBE/PBE+U (Materials Project MPtrj), CHGNet 0.3.0 weights in the chgnet wheel",
        _chgnet, ("chgnet", "torch")),
    "sevennet-0": CalculatorTeacher(
        "sevennet-0", "PBE/PBE+U (MPtrj), SevenNet-0 (11Jul2024) weights in the sevenn wheel",
        _sevennet("7net-0"), ("sevenn", "torch")),
    "sevennet-l3i5": CalculatorTeacher(
        "sevennet-l3i5", "PBE/PBE+U (MPtrj), SevenNet-l3i5 weights in the sevenn wheel",
        _sevennet("7net-l3i5"), ("sevenn", "torch")),
}


def available_teachers() -> list[str]:
    """Names of the registered teachers whose packages are installed."""
    return [n for n, t in TEACHERS.items() if all(_importable(m) for m in t.requires)]


def get_teacher(name: str) -> Teacher:
    """The registered teacher ``name``; ValueError naming the known ones otherwise."""
    try:
        return TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; known: {', '.join(TEACHERS)}") from None
