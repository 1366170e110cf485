"""Python side of the LAMMPS style ``fix nct_sample`` (lammps_fixes/fix_nct_sample.cpp).

The fix embeds Python and calls the functions of this module on MPI rank 0 only; JAX runs
there.  Every energy of a sampled configuration is evaluated by the deck's own LAMMPS
instance: :class:`DeckPotential` calls back into the fix through a C function pointer
(``int eval(void *fix, int nconf, const double *x, double *e, double *f, double *w)``), and
the fix has all ranks take part in each evaluation.  Nothing here talks MPI.

Calling convention: every entry point returns ``""`` on success or an error message (never
raises), which the fix turns into a LAMMPS ``ERROR:`` on all ranks.  Arrays cross the
boundary as addresses of C ``double`` buffers owned by the fix.

Units: LAMMPS metal (eV, A, amu, K); the fix refuses other unit styles.  The global vector
(:data:`VECTOR_NAMES`) holds totals for the whole system in eV (S in units of kB, P in bar,
LAMMPS's metal pressure unit).
"""

from __future__ import annotations

import ctypes
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import qfe._jax  # noqa: F401  (JAX in float64; a missing JAX shows up when the fix is made)
from qfe.potentials.base import Potential

VECTOR_NAMES = ("F", "sigma_F", "E", "sigma_E", "K", "V", "S", "P", "sigma_P", "F_harmonic",
                "F_gaussian", "step")
VECTOR_SIZE = len(VECTOR_NAMES)
# keywords of the fix that are not NCTConfig options
FIX_KEYWORDS = ("checkpoint", "output", "hessian_model")

EVAL_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                           ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double))

_DRIVERS: dict = {}


def _array(addr: int, shape) -> np.ndarray:
    """A numpy view of ``prod(shape)`` C doubles at ``addr`` (owned by the fix)."""
    n = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_double * n).from_address(int(addr))).reshape(shape)


def _guard(fn):
    def wrapper(*args):
        try:
            fn(*args)
            return ""
        except (ValueError, FileNotFoundError) as exc:
            return str(exc)
        except Exception as exc:                      # anything else: with its traceback
            tb = traceback.format_exc(limit=6).strip().splitlines()
            return f"{type(exc).__name__}: {exc} [{' | '.join(tb[-4:])}]"
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def parse_options(text: str) -> dict:
    """``"key value key value ..."`` (the fix's pass-through keywords) -> dict of values
    converted like ``qfe nct --set`` (bool/None/int/float/str).  Names are validated by
    :meth:`NCTConfig.from_dict` (with "did you mean")."""
    from qfe.nct.cli import _parse_value

    words = text.split()
    if len(words) % 2:
        raise ValueError(f"missing value after keyword '{words[-1]}'")
    out = {}
    for k, v in zip(words[::2], words[1::2]):
        if k in out:
            raise ValueError(f"keyword '{k}' given twice")
        out[k] = _parse_value(v)
    if "baselines" in out and isinstance(out["baselines"], str):
        out["baselines"] = [b for b in out["baselines"].split(",") if b]
    return out


@dataclass(eq=False)
class DeckPotential(Potential):
    """The deck's force field as a :class:`qfe.potentials.Potential`: energy (eV), forces
    (eV/A) and virial (eV) from ``evaluate(x (B, N, 3)) -> (e (B,), f (B, N, 3), w (B, 3,
    3))``, the fix's callback, at the deck's fixed cell.  JAX view by ``pure_callback`` with
    a JVP from forces and virial (the machinery of :class:`qfe.potentials.LammpsPotential`,
    first derivatives only); Hessian by central differences of the forces (step ``fd_step``
    A, error O(fd_step^2))."""

    evaluate: object = None
    fd_step: float = 1e-3
    hessian_potential: object = None     # a JAX Potential of the same surface (exact Hessian)

    def __post_init__(self):
        from qfe.potentials.lammps_potential import _make_jax_energy

        super().__post_init__()
        if self.evaluate is None or self.cell is None:
            raise ValueError("DeckPotential needs an evaluate callback and a periodic cell")
        self.name = "lammps-deck"
        self._energy = _make_jax_energy(self)

    def compute(self, positions, cell=None) -> dict:
        if cell is not None and not np.allclose(cell, self.cell, rtol=0, atol=1e-9):
            raise ValueError("fix nct_sample evaluates energies in the deck's fixed box only; "
                             "the cell cannot change")
        e, f, w = self.evaluate(np.asarray(positions, dtype=float)[None])
        return {"energy": float(e[0]), "forces": f[0], "virial": w[0]}

    def energy(self, positions, cell=None):
        import jax.numpy as jnp

        return self._energy(positions, jnp.asarray(self.cell) if cell is None else cell)

    def hessian(self, positions, cell=None):
        from qfe.potentials.lammps_potential import fd_hessian

        if self.hessian_potential is not None:
            return self.hessian_potential.hessian(positions, cell)
        return fd_hessian(lambda x: self.compute(x)["forces"], positions, self.fd_step)


class Driver:
    """One ``fix nct_sample``: config, system, trainer and state (rank 0)."""

    def __init__(self, temperature: float, options: dict, mode: str):
        from qfe.nct.config import NCTConfig

        self.checkpoint = options.pop("checkpoint", None)
        self.output = options.pop("output", None)
        self.hessian_model = options.pop("hessian_model", None)
        if self.hessian_model not in (None, "default") and \
                not Path(str(self.hessian_model)).is_file():
            raise FileNotFoundError(f"hessian_model file not found: {self.hessian_model}")
        if "output_dir" in options:
            raise ValueError("use the keyword 'output', not output_dir")
        options.setdefault("progress", False)
        self.config = NCTConfig.from_dict({**options, "temperature": float(temperature)})
        self.mode = mode
        self.system = self.trainer = self.state = None
        self.stats: dict = {}
        self.result = None
        self._samples = None
        self._sample_key = None
        self.evaluations = 0
        self.eval_seconds = 0.0

    # ---- set-up ---------------------------------------------------------------------------
    def build(self, natoms, x_addr, mass_addr, types_addr, cell_addr, eval_addr, fix_addr,
              restart_file=""):
        import jax

        from qfe.nct.phonons import crystal_system
        from qfe.nct.trainer import Trainer, load_checkpoint

        x0 = _array(x_addr, (natoms, 3)).copy()
        masses = _array(mass_addr, (natoms,)).copy()
        types = _array(types_addr, (natoms,)).astype(int)
        cell = _array(cell_addr, (3, 3)).copy()
        c_eval = EVAL_FN(int(eval_addr))
        fix = ctypes.c_void_p(int(fix_addr))

        def evaluate(x):
            x = np.ascontiguousarray(x, dtype=float)
            b = x.shape[0]
            e = np.empty(b)
            f = np.empty((b, natoms, 3))
            w = np.empty((b, 6))
            dp = ctypes.POINTER(ctypes.c_double)
            t0 = time.perf_counter()
            rc = c_eval(fix, b, x.ctypes.data_as(dp), e.ctypes.data_as(dp),
                        f.ctypes.data_as(dp), w.ctypes.data_as(dp))
            self.eval_seconds += time.perf_counter() - t0
            self.evaluations += b
            if rc != 0:
                raise RuntimeError("the LAMMPS energy evaluation failed (see the LAMMPS error "
                                   "above)")
            vir = np.stack([w[:, [0, 3, 4]], w[:, [3, 1, 5]], w[:, [4, 5, 2]]], axis=1)
            return e, f, vir          # LAMMPS virial order xx yy zz xy xz yz

        self.potential = DeckPotential(symbols=["X"] * natoms, masses=masses, cell=cell,
                                       reference_positions=x0, evaluate=evaluate)
        if self.hessian_model is not None:
            self.potential.hessian_potential = self._jax_twin(types, masses, x0, cell)
        self.system = crystal_system(self.potential)
        bad = int(np.sum(self.system.imaginary))
        if bad:
            raise ValueError(
                f"{bad} imaginary harmonic mode(s) at the deck's positions "
                f"(lowest {-np.max(self.system.hbar_omega[self.system.imaginary]) * 1e3:.3f} "
                f"meV): relax the structure (minimize) before fix nct_sample")
        self.trainer = Trainer(self.system, self.config)
        self.system = self.trainer.system       # the basis the trainer works in
        state = None
        if restart_file:              # read_restart: continue exactly where write_restart was
            try:
                state = self.trainer.state_from_checkpoint(load_checkpoint(restart_file))
            except ValueError as exc:
                raise ValueError(f"cannot continue the NCT state of the restart file: {exc}") \
                    from None
        elif self.checkpoint and self.config.resume and Path(self.checkpoint).is_file():
            state = self.trainer.state_from_checkpoint(load_checkpoint(self.checkpoint))
        self.state = state if state is not None else self.trainer.init_state()
        self._sample_key = jax.random.fold_in(self.state.key, 104729)

    def _jax_twin(self, types, masses, x0, cell):
        """The hessian_model file (or ``default``: qfe's Li model) as a JAX DeePMD potential
        (LAMMPS type t = model type t - 1; cutoffs rounded to float32 as in a TensorFlow
        ``.pb``, so that it is the function ``pair_style deepmd`` evaluates), checked against
        the deck's force field at the reference."""
        import jax.numpy as jnp

        from qfe.potentials import load_deepmd
        from qfe.potentials.deepmd import DeepMDModel
        from qfe.potentials.default import default_lithium_jax_model

        model = (default_lithium_jax_model() if self.hessian_model == "default"
                 else DeepMDModel(str(self.hessian_model), float32_cutoffs=True))
        twin = load_deepmd(model, types=types - 1, positions=x0, cell=cell, masses=masses)
        deck = self.potential.compute(x0)
        e = float(twin.energy(jnp.asarray(x0), jnp.asarray(cell)))
        f = np.asarray(twin.forces(jnp.asarray(x0), jnp.asarray(cell)))
        de, df = abs(e - deck["energy"]), float(np.max(np.abs(f - deck["forces"])))
        if de > 1e-6 * len(x0) or df > 1e-6:
            raise ValueError(f"hessian_model {self.hessian_model} is not the deck's force field "
                             f"at the reference: energy differs by {de:.3g} eV, forces by "
                             f"{df:.3g} eV/A (LAMMPS type t must be the model's type t-1)")
        return twin

    # ---- modes ----------------------------------------------------------------------------
    def train_step(self):
        from qfe.nct.trainer import save_checkpoint

        self.state, self.stats = self.trainer.step(self.state)
        if self.checkpoint and self.state.step % self.config.checkpoint_every == 0:
            save_checkpoint(self.checkpoint, self.state, self.config, self.system)

    def sample(self, out):
        """One fresh configuration of rho (positions, A) into ``out`` (N, 3)."""
        import jax

        if not self._samples:
            self._sample_key, k = jax.random.split(self._sample_key)
            batch, _, _ = self.trainer._sample(k, self.state.params, self.state.sampler_state)
            x = np.asarray(self.system.positions(np.asarray(batch["q"])))
            self._samples = list(x.reshape(len(x), -1, 3))
        out[:] = self._samples.pop()

    def finish(self):
        from qfe.nct.trainer import save_checkpoint

        if self.checkpoint and self.state.step > 0:
            save_checkpoint(self.checkpoint, self.state, self.config, self.system)
        if self.output and self.state.step > 0:
            from qfe.nct.api import evaluate_state

            self.trainer.config = self.config.replace(output_dir=str(self.output))
            try:
                self.result = evaluate_state(self.trainer, self.state)
            finally:
                self.trainer.config = self.config

    def fill_vector(self, vec):
        nan = math.nan
        s = self.stats
        vec[:] = nan
        if s:
            vec[0], vec[1] = s["free_energy"], s["free_energy_err"]
            vec[2], vec[3] = s["energy"], s["energy_err"]
            vec[4], vec[5], vec[6] = s["kinetic"], s["potential"], s["entropy"]
        if self.result is not None:
            r = self.result
            vec[0], vec[1] = r.thermo["F"]
            vec[2], vec[3] = r.thermo["E"]
            vec[4], vec[5] = r.thermo["K"][0], r.thermo["V"][0]
            if r.stress is not None:
                from qfe.units import BAR_TO_GPA

                p, pe = r.stress["pressure_GPa"]
                vec[7], vec[8] = p / BAR_TO_GPA, pe / BAR_TO_GPA
            if "gaussian" in r.baselines:
                vec[10] = r.baselines["gaussian"]["F"][0]
        if self.system is not None:
            vec[9] = self.system.harmonic_free_energy(self.config.temperature)
        vec[11] = 0 if self.state is None else self.state.step


# ---- entry points called by the fix (rank 0) -------------------------------------------------
@_guard
def configure(fix_id: str, temperature: float, options: str, mode: str):
    """Validate the fix's keywords (NCTConfig options with "did you mean")."""
    _DRIVERS[fix_id] = Driver(temperature, parse_options(options), mode)


@_guard
def build(fix_id, natoms, x_addr, mass_addr, types_addr, cell_addr, eval_addr, fix_addr,
          restart_file=""):
    d = _DRIVERS[fix_id]
    if d.system is None:
        d.build(natoms, x_addr, mass_addr, types_addr, cell_addr, eval_addr, fix_addr,
                restart_file)
    elif d.system.natoms != natoms:
        raise ValueError(f"the number of atoms changed from "
                         f"{d.system.natoms} to {natoms}")


@_guard
def set_mode(fix_id: str, mode: str):
    _DRIVERS[fix_id].mode = mode


@_guard
def train_step(fix_id, vec_addr):
    d = _DRIVERS[fix_id]
    d.train_step()
    d.fill_vector(_array(vec_addr, (VECTOR_SIZE,)))


@_guard
def sample(fix_id, out_addr, natoms, vec_addr):
    d = _DRIVERS[fix_id]
    d.sample(_array(out_addr, (natoms, 3)))
    d.fill_vector(_array(vec_addr, (VECTOR_SIZE,)))


@_guard
def save_state(fix_id, path):
    """The training state as an .npz checkpoint at ``path`` (for write_restart)."""
    from qfe.nct.trainer import save_checkpoint

    d = _DRIVERS[fix_id]
    save_checkpoint(path, d.state, d.config, d.system)


@_guard
def finish(fix_id, vec_addr):
    d = _DRIVERS[fix_id]
    d.finish()
    d.fill_vector(_array(vec_addr, (VECTOR_SIZE,)))


@_guard
def fill(fix_id, vec_addr):
    _DRIVERS[fix_id].fill_vector(_array(vec_addr, (VECTOR_SIZE,)))


@_guard
def destroy(fix_id):
    _DRIVERS.pop(fix_id, None)


def driver(fix_id: str) -> Driver:
    """The :class:`Driver` of a fix (for Python sessions that run LAMMPS in-process)."""
    return _DRIVERS[fix_id]
