"""Quantum thermal bath (QTB): the noise kernel shared with the LAMMPS ``fix qtb`` and spectra.

- :mod:`qfe.qtb.noise_kernel`  ctypes binding of ``libqfe_qtb.so`` (:class:`QTBBath`)
- :mod:`qfe.qtb.spectrum`      target spectrum theta(omega, T), realised filter spectrum,
  quantum harmonic-oscillator kinetic energy

Imports are lazy so that ``import qfe.qtb`` stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = ["QTBBath", "noise_kernel", "spectrum"]


def __getattr__(name):
    if name == "QTBBath":
        from qfe.qtb.noise_kernel import QTBBath

        return QTBBath
    if name in ("noise_kernel", "spectrum"):
        return importlib.import_module(f"qfe.qtb.{name}")
    raise AttributeError(f"module 'qfe.qtb' has no attribute {name!r}")
