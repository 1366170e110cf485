"""NCTCalculator: the quantum free energy, internal energy and thermal stress of a crystal from
a neural-canonical-transformation (NCT) calculation, as an ASE calculator.

For an Atoms object (a periodic crystal, positions = the reference lattice sites) the
calculator builds the phonon system of the potential at those positions, trains the NCT density
matrix at the given temperature with :mod:`qfe.nct` (the engine behind ``qfe nct``) and reports

========================  =====================================================  ============
``results`` key           meaning                                                unit
========================  =====================================================  ============
``free_energy``           Helmholtz free energy F = E - TS of the cell            eV
``energy``                internal energy E = <K> + <V>                           eV
``stress``                quantum thermal stress, Voigt order, ASE sign           eV/A^3
                          (positive = tensile): strain derivative of V minus
                          2/V times the kinetic tensor; consistent with F
``*_error``               one standard error of each of the above                same
``entropy``               S of the occupation model (exact for it)               eV/K
``kinetic_energy``,       <K>, <V>                                               eV
``potential_energy``
``pressure``              -trace(stress)/3                                       eV/A^3
========================  =====================================================  ============

``atoms.get_potential_energy()`` is E; ``atoms.get_potential_energy(force_consistent=True)``
is F, the quantity the stress belongs to (sigma = (1/V) dF/d(strain)).  Forces are not
provided (the free energy does not depend on the reference positions at the variational
optimum); relax cells with :class:`ase.filters.StrainFilter`, which needs only the stress.

Every structure is computed once and cached; a new structure starts from the flow parameters
of the previous one (warm start) and trains ``warm_steps`` steps.  The results are stochastic:
see ``docs/ase.md`` for the tolerance to give ASE optimisers and how to scan volumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from numbers import Real
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from qfe import units
from qfe.ase_calculators.qtb import check_masses

__all__ = ["NCTCalculator", "check_periodic_cell"]

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def check_periodic_cell(atoms) -> np.ndarray:
    """The cell (3, 3) of a periodic crystal, or ValueError naming what is missing."""
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    if not pbc.all():
        raise ValueError(f"NCTCalculator needs a periodic crystal: atoms.pbc = {pbc.tolist()} "
                         "(set atoms.pbc = True and a cell)")
    cell = np.array(atoms.get_cell(), dtype=float)
    volume = abs(float(np.linalg.det(cell)))
    if not np.isfinite(volume) or volume < 1e-6:
        raise ValueError(f"NCTCalculator needs a periodic cell with a volume, got cell "
                         f"{cell.tolist()} (volume {volume:.3g} A^3)")
    return cell


def structure_key(atoms) -> str:
    """Fingerprint of what the NCT result depends on: species, masses, positions and cell
    (exact float values)."""
    h = hashlib.sha1()
    for array in (atoms.numbers.astype(np.int64), atoms.get_masses().astype(np.float64),
                  atoms.get_positions().astype(np.float64),
                  np.array(atoms.get_cell(), dtype=np.float64)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _voigt(tensor) -> np.ndarray:
    t = np.asarray(tensor, dtype=float)
    return np.array([t[i, j] for i, j in _VOIGT])


def _model_path_of_ase_calculator(calc) -> str | None:
    """Model file behind deepmd-kit's ASE calculator (``deepmd.calculator.DP``)."""
    dp = getattr(calc, "dp", None)
    path = getattr(dp, "model_file", None)
    return str(path) if path else None


class NCTCalculator(Calculator):
    """Quantum free energy F, internal energy E and thermal stress of a crystal by NCT.

    Parameters
    ----------
    potential : what the atoms interact with, one of

        - ``"default"``: qfe's built-in lithium DeePMD model;
        - a DeePMD model file (``.pb``, ``.dp``, ``.jax``) or an analytic spec such as
          ``"morse:D=0.3,a=1.2,r0=3.0,cutoff=5"`` (see :func:`qfe.nct.api.make_potential`);
        - deepmd-kit's ASE calculator ``deepmd.calculator.DP`` (its model file is used through
          qfe's JAX path, which reproduces it);
        - a :class:`qfe.potentials.Potential` (rebound to each new structure), or a function
          ``atoms -> Potential``.
    temperature : K (>= 0)
    config : :class:`qfe.nct.NCTConfig`, dict or None; options of the NCT engine (training
        steps, batch size, flow, seed, ...).  Keyword ``options`` override it.  Same options
        and seed give the same numbers as ``qfe nct``.
    warm_start : start a new structure from the previous structure's flow parameters (when
        the number of modes and the flow shape agree).  Default True.
    warm_steps : training steps for a warm-started structure (default: half of ``steps``).
    output_dir : if given, each structure gets a sub-directory (named by its fingerprint) with
        the engine's checkpoint and result files; an interrupted calculation resumes from it.

    ``calc.nct_result`` is the :class:`qfe.nct.api.NCTResult` of the current structure (full
    report: harmonic reference, ZPE, training history ...).
    """

    implemented_properties = ["energy", "free_energy", "stress"]

    def __init__(self, potential="default", temperature=None, *, config=None,
                 warm_start: bool = True, warm_steps: int | None = None,
                 output_dir=None, **options):
        if potential is None:
            raise ValueError("NCTCalculator needs a potential: 'default', a DeePMD model file, "
                             "an analytic spec, a deepmd.calculator.DP or a qfe Potential "
                             "(got None)")
        if temperature is None:
            raise ValueError("NCTCalculator needs the temperature in K")
        if isinstance(temperature, bool) or not isinstance(temperature, Real) \
                or not math.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be >= 0 K, got {temperature!r}")
        super().__init__()
        from qfe.nct.config import NCTConfig

        base = {} if config is None else (config.to_dict() if isinstance(config, NCTConfig)
                                          else dict(config))
        base.setdefault("progress", False)
        merged = {**base, **options, "temperature": float(temperature),
                  "output_dir": None}
        self.config = NCTConfig.from_dict(merged)       # validates, names bad options
        if warm_steps is not None and (isinstance(warm_steps, bool)
                                       or not isinstance(warm_steps, int) or warm_steps < 0):
            raise ValueError(f"warm_steps must be an integer >= 0, got {warm_steps!r}")
        self.warm_steps = (max(1, self.config.steps // 2) if warm_steps is None
                           else int(warm_steps))
        self.warm_start = bool(warm_start)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.temperature = float(temperature)
        self._potential_source = self._normalise_potential(potential)
        self._cache: dict[str, dict] = {}
        self._last_flow = None          # (n_modes, flow params) of the last trained structure
        self.nct_result = None
        self.warm_started = False

    # ---- potential per structure -----------------------------------------------------------
    @staticmethod
    def _normalise_potential(potential):
        if isinstance(potential, (str, Path)):
            return str(potential)
        model = _model_path_of_ase_calculator(potential)
        if model is not None:
            return model
        if isinstance(potential, Calculator):
            raise ValueError(f"NCTCalculator cannot use the ASE calculator "
                             f"{type(potential).__name__}: NCT needs a JAX potential (a qfe "
                             "Potential, a DeePMD model file or deepmd.calculator.DP)")
        return potential

    def _potential_for(self, atoms):
        from qfe.nct.api import make_potential
        from qfe.potentials import Potential

        source = self._potential_source
        if isinstance(source, str):
            return make_potential(source, atoms)
        if isinstance(source, Potential):
            return self._rebind(source, atoms)
        if callable(source):
            pot = source(atoms)
            if not isinstance(pot, Potential):
                raise TypeError(f"the potential factory returned {type(pot).__name__}, not a "
                                "qfe Potential")
            return pot
        raise ValueError(f"unsupported potential {source!r}")

    @staticmethod
    def _rebind(potential, atoms):
        """The same potential for another structure (same species)."""
        symbols = atoms.get_chemical_symbols()
        if list(potential.symbols) != symbols:
            raise ValueError(f"the potential was built for {len(potential.symbols)} atoms "
                             f"({''.join(potential.symbols[:8])}...), the atoms are "
                             f"{atoms.get_chemical_formula()}")
        cell = np.array(atoms.get_cell(), dtype=float)
        positions = atoms.get_positions()
        if (potential.cell is not None and np.array_equal(potential.cell, cell)
                and potential.reference_positions is not None
                and np.array_equal(potential.reference_positions, positions)):
            return potential
        model = getattr(potential, "model", None)
        if model is not None and hasattr(potential, "neighbors"):     # DeePMD: new neighbors
            from qfe.potentials import load_deepmd

            return load_deepmd(model, atoms, skin=potential.skin, masses=atoms.get_masses())
        return dataclasses.replace(potential, cell=cell, reference_positions=positions,
                                   masses=atoms.get_masses())

    # ---- ASE interface ---------------------------------------------------------------------
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        check_periodic_cell(atoms)
        check_masses(atoms)
        key = structure_key(atoms)
        if key not in self._cache:
            self._cache[key] = self._compute(atoms, key)
        entry = self._cache[key]
        self.nct_result = entry["nct_result"]
        self.warm_started = entry["warm_started"]
        self.results = dict(entry["results"])

    def _compute(self, atoms, key) -> dict:
        import qfe._jax
        from qfe.nct.api import evaluate_state
        from qfe.nct.phonons import crystal_system
        from qfe.nct.trainer import CHECKPOINT_NAME, Trainer

        potential = self._potential_for(atoms)
        system = crystal_system(potential, atoms)
        config = self.config
        out = None
        if self.output_dir is not None:
            out = self.output_dir / key[:16]
            config = config.replace(output_dir=str(out))
        checkpoint = out / CHECKPOINT_NAME if out is not None else None

        warm = (self.warm_start and self._last_flow is not None
                and self._last_flow[0] == system.n_modes)
        if warm:
            config = config.replace(steps=self.warm_steps)
        trainer = Trainer(system, config)
        state = None
        resumable = checkpoint is not None and config.resume and checkpoint.is_file()
        if warm and not resumable:
            state = self._warm_state(trainer)
            warm = state is not None
        t0 = time.perf_counter()
        state = trainer.train(state=state, checkpoint=checkpoint)
        result = evaluate_state(trainer, state, t_train=time.perf_counter() - t0)
        self._last_flow = (system.n_modes, state.params["flow"])
        return {"results": self._results_from(result, atoms), "nct_result": result,
                "warm_started": bool(warm)}

    def _warm_state(self, trainer):
        """A fresh training state whose flow parameters are the previous structure's (and
        whose occupations start at the new structure's harmonic Boltzmann weights)."""
        import jax

        state = trainer.init_state()
        old = self._last_flow[1]
        new = state.params["flow"]
        if (jax.tree_util.tree_structure(old) != jax.tree_util.tree_structure(new)
                or any(np.shape(a) != np.shape(b) for a, b in
                       zip(jax.tree_util.tree_leaves(old), jax.tree_util.tree_leaves(new)))):
            return None
        state.params = {**state.params, "flow": old}
        state.opt_state = trainer.init_optimizer(state.params)
        return state

    def _results_from(self, result, atoms) -> dict:
        th = result.thermo
        res = {"free_energy": th["F"][0], "free_energy_error": th["F"][1],
               "energy": th["E"][0], "energy_error": th["E"][1],
               "kinetic_energy": th["K"][0], "kinetic_energy_error": th["K"][1],
               "potential_energy": th["V"][0], "potential_energy_error": th["V"][1],
               "entropy": th["S"][0] * units.KB}
        if result.stress is not None:
            to_ev = 1.0 / units.EV_PER_A3_TO_GPA
            stress = _voigt(result.stress["stress_GPa"]) * to_ev
            res["stress"] = stress
            res["stress_error"] = _voigt(result.stress["stress_err_GPa"]) * to_ev
            p, pe = result.stress["pressure_GPa"]
            res["pressure"], res["pressure_error"] = p * to_ev, pe * to_ev
        return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in res.items()}

    def get_property(self, name, atoms=None, allow_calculation=True):
        if name == "stress" and not self.config.compute_stress:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress was switched off (compute_stress=False)")
        return super().get_property(name, atoms, allow_calculation)

    def todict(self):
        return {"temperature": self.temperature, "warm_start": self.warm_start,
                "warm_steps": self.warm_steps, "config": self.config.to_dict(),
                "potential": self._potential_source if isinstance(self._potential_source, str)
                else type(self._potential_source).__name__}

    def noise_fmax(self, atoms=None, n_sigma: float = 3.0) -> float:
        """Smallest meaningful ``fmax`` (eV) for an ASE optimiser on
        ``StrainFilter(atoms)``: the filter's generalised forces are -V * stress (two rows of
        three components), whose statistical noise per row is about sqrt(3) * V * (largest
        stress error); converging below ``n_sigma`` times that chases noise.  Computes the
        structure if it is not cached."""
        atoms = self.atoms if atoms is None else atoms
        if atoms is None:
            raise ValueError("noise_fmax needs atoms (none calculated yet)")
        self.get_property("stress", atoms)
        err = np.max(np.abs(self.results["stress_error"]))
        return float(n_sigma * np.sqrt(3.0) * atoms.get_volume() * err)

    @property
    def cached_structures(self) -> int:
        """Number of structures computed so far."""
        return len(self._cache)
