"""Neural canonical transformations (NCT): variational quantum free energies in JAX.

rho = sum_n p_n U|n><n|U^+ over harmonic phonon product states |n>, U a normalizing flow on
phonon coordinates, p_n a factorised occupation model; F = E_n[kT ln p_n + <Psi_n|H|Psi_n>]
is minimised (Zhang et al., arXiv:2412.12451; Xie, Zhang, Wang, JML 1, 38 (2022)).

Modules (a newcomer's map):

- :mod:`~qfe.nct.system`      generic system: coordinates, masses, energy, hbar, kB -> modes
- :mod:`~qfe.nct.phonons`     crystal + Potential -> phonon modes (translations removed)
- :mod:`~qfe.nct.basis`       1D Hermite functions, exact sampling of |phi_n|^2
- :mod:`~qfe.nct.flow`        RealNVP flow with closed-form inverse
- :mod:`~qfe.nct.occupation`  factorised occupation model p_n
- :mod:`~qfe.nct.wavefunction` Psi_n(q) = Phi_n(f(q)) |det df/dq|^(1/2)
- :mod:`~qfe.nct.sampler`     exact sampler (default) and the paper's Metropolis sampler
- :mod:`~qfe.nct.estimators`  local energies (kinetic estimators) and gradient estimators
- :mod:`~qfe.nct.trainer`     optax training loop, atomic checkpoints, exact resume
- :mod:`~qfe.nct.observables` F, E, K, V, S, stress, excitation energies, DOS, RDF
- :mod:`~qfe.nct.npt`         constant pressure: G = F + P Omega over cell updates
- :mod:`~qfe.nct.phases`      G(T) of several structures, Delta G, crossing temperatures
- :mod:`~qfe.nct.quench`      quenched samples and the quantum mean structure, with symmetry
- :mod:`~qfe.nct.reference`   independent exact/Gaussian references for 1D model problems
- :mod:`~qfe.nct.config`, :mod:`~qfe.nct.api`, :mod:`~qfe.nct.cli`, :mod:`~qfe.nct.demo`

Importing this package is cheap; JAX is imported by the modules that need it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "NCTConfig": "qfe.nct.config",
    "run": "qfe.nct.api",
    "run_system": "qfe.nct.api",
    "NCTResult": "qfe.nct.api",
    "run_npt": "qfe.nct.npt",
    "NPTResult": "qfe.nct.npt",
    "make_potential": "qfe.nct.api",
    "crystal_system": "qfe.nct.phonons",
    "load_structure": "qfe.nct.phonons",
    "ModeSystem": "qfe.nct.system",
    "harmonic_system": "qfe.nct.system",
    "model_system_1d": "qfe.nct.system",
    "Trainer": "qfe.nct.trainer",
    "NCTDivergenceError": "qfe.nct.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qfe.nct' has no attribute {name!r}")
