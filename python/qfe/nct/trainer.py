"""Training loop: optax Adam per parameter group, atomic checkpoints, exact resume.

State is explicit (:class:`TrainState`: parameters, optimiser state, RNG key, sampler state,
step, history) and every step is a pure function of it, so a run killed after a checkpoint
and resumed from it ends bit-for-bit where an uninterrupted run with the same seed ends.
Checkpoints are pickles of numpy arrays written to a temporary file and moved into place
with ``os.replace`` (atomic on POSIX), so a kill during a write leaves the previous one.
A non-finite loss, gradient or parameter stops training with :class:`NCTDivergenceError`;
the state at fault is never checkpointed.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qfe.nct._jax import jax, jnp
from qfe.nct.config import NCTConfig
from qfe.nct.estimators import FreeEnergyObjective, LocalEnergy
from qfe.nct.flow import Flow
from qfe.nct.occupation import OccupationModel
from qfe.nct.sampler import make_sampler
from qfe.nct.system import ModeSystem
from qfe.nct.wavefunction import Wavefunction

CHECKPOINT_NAME = "checkpoint.pkl"
CHECKPOINT_VERSION = 1


class NCTDivergenceError(RuntimeError):
    """Training produced NaN/Inf; the last good checkpoint is kept."""


@dataclass
class TrainState:
    params: dict
    opt_state: object
    key: object
    sampler_state: dict
    step: int = 0
    history: list = field(default_factory=list)


def report_scale(system: ModeSystem) -> tuple[float, str]:
    """Factor from system energy units to report units, and the unit's name."""
    if system.energy_unit == "eV":
        return 1000.0 / system.natoms, "meV/atom"
    return 1.0 / system.natoms, ("natural" if system.natoms == 1 else "natural/atom")


def build_optimizer(config: NCTConfig):
    """Adam for the occupation logits and for the flow, each with its own exponentially
    decaying learning rate (floored) and global-norm gradient clipping."""
    import optax

    def schedule(lr, lr_min):
        return optax.exponential_decay(init_value=lr, transition_steps=config.lr_decay_steps,
                                       decay_rate=config.lr_decay_rate,
                                       transition_begin=config.lr_decay_begin,
                                       end_value=min(lr_min, lr))

    def group(lr, lr_min):
        parts = [optax.clip_by_global_norm(config.grad_clip)] if config.grad_clip > 0 else []
        return optax.chain(*parts, optax.adam(schedule(lr, lr_min)))

    def labels(params):
        return {name: jax.tree_util.tree_map(lambda _: name, params[name]) for name in params}

    tx = optax.multi_transform(
        {"occupation": group(config.lr_occupation, config.min_lr_occupation),
         "flow": group(config.lr_flow, config.min_lr_flow)}, labels)
    schedules = {"occupation": schedule(config.lr_occupation, config.min_lr_occupation),
                 "flow": schedule(config.lr_flow, config.min_lr_flow)}
    return tx, schedules


def _to_numpy(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x), tree)


def _fingerprint(system: ModeSystem) -> dict:
    return {"n_modes": int(system.n_modes),
            "hbar_omega": np.asarray(system.hbar_omega).copy(),
            "x0": np.asarray(system.x0).copy()}


def save_checkpoint(path, state: TrainState, config: NCTConfig, system: ModeSystem) -> Path:
    """Write ``state`` atomically (temp file + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": CHECKPOINT_VERSION,
               "params": _to_numpy(state.params),
               "opt_state": _to_numpy(state.opt_state),
               "key": np.asarray(state.key),
               "sampler_state": _to_numpy(state.sampler_state),
               "step": int(state.step),
               "history": list(state.history),
               "config": config.to_dict(),
               "system": _fingerprint(system)}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path) -> dict:
    path = Path(path)
    with open(path, "rb") as fh:
        payload = pickle.load(fh)
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is not a qfe NCT checkpoint (version {CHECKPOINT_VERSION})")
    return payload


class Trainer:
    """Variational free-energy minimisation for a :class:`ModeSystem` (see module doc)."""

    def __init__(self, system: ModeSystem, config: NCTConfig):
        self.system = system
        self.config = config.validate()
        m = system.n_modes
        self.kT = float(system.kB * config.temperature)
        elementwise = config.flow_elementwise
        self.flow = Flow(m, kind=config.flow, depth=config.flow_depth, width=config.flow_width,
                         mlp_layers=config.flow_mlp_layers, elementwise=elementwise)
        self.occupation = OccupationModel(m, config.n_levels)
        self.wavefunction = Wavefunction(self.flow, config.n_levels - 1)
        self.local_energy = LocalEnergy(system, self.wavefunction, config.kinetic,
                                        config.n_probes)
        self.objective = FreeEnergyObjective(self.local_energy, self.occupation, self.kT,
                                             gradient=config.gradient, clip=config.clip_factor,
                                             train_occupation=self.kT > 0)
        mc = {}
        if config.sampler == "metropolis":
            mc = {"mc_steps": config.mc_steps, "step_size": config.mc_step_size}
        self.sampler = make_sampler(config.sampler, self.occupation, self.wavefunction,
                                    config.batch_size, **mc)
        self.optimizer, self.schedules = build_optimizer(config)
        self.scale, self.unit = report_scale(system)
        self._build()

    # ---- jitted pieces ------------------------------------------------------------------
    def _build(self):
        objective, optimizer, sampler = self.objective, self.optimizer, self.sampler
        schedules, occupation = self.schedules, self.occupation

        def update(params, opt_state, batch, key, step):
            import optax

            (_, aux), grads = jax.value_and_grad(objective.loss, has_aux=True)(params, batch, key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            # everything the host logs, reduced on the device (one small transfer per step)
            info = {}
            for name in ("free_energy", "energy", "potential", "kinetic"):
                v = aux[name]
                info[name] = jnp.mean(v)
                info[name + "_err"] = jnp.std(v, ddof=1) / jnp.sqrt(v.size)
            info["entropy"] = occupation.entropy(params["occupation"])     # S / kB (exact)
            for name in ("occupation", "flow"):
                info["grad_norm_" + name] = optax.tree.norm(grads.get(name, {}))
                info["lr_" + name] = schedules[name](step)
            finite = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(new_params)]
            info["nonfinite_samples"] = jnp.sum(~jnp.isfinite(aux["free_energy"]))
            info["finite"] = (jnp.all(jnp.stack(finite)) & (info["nonfinite_samples"] == 0)
                              & jnp.isfinite(info["grad_norm_occupation"])
                              & jnp.isfinite(info["grad_norm_flow"]))
            return new_params, opt_state, info

        def local_values(params, batch, key):
            return objective.loss(params, batch, key)[1]

        self._sample = jax.jit(sampler.sample)
        self._update = jax.jit(update)
        self._local_values = jax.jit(local_values)

    def precompile(self, state: "TrainState") -> float:
        """Compile the sampling, update and evaluation programs for ``state``'s shapes ahead
        of time (replacing the lazily jitted ones); returns the seconds spent compiling."""
        t0 = time.perf_counter()
        key = jax.random.PRNGKey(0)
        sample = self._sample.lower(key, state.params, state.sampler_state).compile()
        shapes = jax.eval_shape(self._sample, key, state.params, state.sampler_state)[0]
        batch = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        update = self._update.lower(state.params, state.opt_state, batch, key,
                                    jnp.asarray(0)).compile()
        local = self._local_values.lower(state.params, batch, key).compile()
        self._sample, self._update, self._local_values = sample, update, local
        return time.perf_counter() - t0

    def _prepare(self, batch) -> None:
        """Let a potential with neighbor data check the sampled positions (host side)."""
        prepare = getattr(self.system, "prepare", None)
        if prepare is None:
            return
        x = np.asarray(self.system.positions(np.asarray(batch["q"])))
        if prepare(x):
            self._build()

    # ---- state ------------------------------------------------------------------------------
    def init_state(self, thermalise: bool = True) -> TrainState:
        """Fresh state: flow at the identity, occupations at the harmonic Boltzmann weights
        (Metropolis walkers thermalised for config.mc_therm calls unless told not to)."""
        key = jax.random.PRNGKey(self.config.seed)
        key, k_flow, k_samp = jax.random.split(key, 3)
        params = {"occupation": self.occupation.init(self.system.hbar_omega, self.kT),
                  "flow": self.flow.init(k_flow)}
        opt_state = self.optimizer.init(params)
        sampler_state = self.sampler.init_state(k_samp, params)
        state = TrainState(params, opt_state, key, sampler_state, 0, [])
        if thermalise and self.config.sampler == "metropolis":
            for _ in range(self.config.mc_therm):
                state.key, k = jax.random.split(state.key)
                _, state.sampler_state, _ = self._sample(k, params, state.sampler_state)
        return state

    def state_from_checkpoint(self, payload: dict) -> TrainState:
        stored = payload["config"]
        for name in NCTConfig.PHYSICS_OPTIONS:
            if stored.get(name) != getattr(self.config, name):
                raise ValueError(f"checkpoint was made with {name} = {stored.get(name)!r}, "
                                 f"this run has {getattr(self.config, name)!r}; use another "
                                 f"output directory or resume=False")
        fp = payload["system"]
        if (fp["n_modes"] != self.system.n_modes
                or not np.allclose(fp["hbar_omega"], self.system.hbar_omega, rtol=1e-10)
                or not np.allclose(fp["x0"], self.system.x0, rtol=0, atol=1e-10)):
            raise ValueError("checkpoint belongs to a different system (structure, potential "
                             "or masses changed)")
        template = self.init_state(thermalise=False)

        def restore(tmpl, stored_tree):
            leaves = jax.tree_util.tree_leaves(stored_tree)
            treedef = jax.tree_util.tree_structure(tmpl)
            return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in leaves])

        return TrainState(params=restore(template.params, payload["params"]),
                          opt_state=restore(template.opt_state, payload["opt_state"]),
                          key=jnp.asarray(payload["key"]),
                          sampler_state=restore(template.sampler_state,
                                                payload["sampler_state"]),
                          step=int(payload["step"]), history=list(payload["history"]))

    # ---- one step ---------------------------------------------------------------------------
    def step(self, state: TrainState) -> tuple[TrainState, dict]:
        t0 = time.perf_counter()
        key, k_samp, k_loss = jax.random.split(state.key, 3)
        batch, sampler_state, sampler_info = self._sample(k_samp, state.params,
                                                          state.sampler_state)
        self._prepare(batch)
        params, opt_state, info = self._update(state.params, state.opt_state, batch, k_loss,
                                               jnp.asarray(state.step))
        info = jax.device_get(info)
        if not bool(info["finite"]):
            raise NCTDivergenceError(
                f"non-finite values at step {state.step + 1}: "
                f"{int(info['nonfinite_samples'])}/{self.config.batch_size} local free "
                f"energies, gradient norms occupation {float(info['grad_norm_occupation']):.3g}"
                f", flow {float(info['grad_norm_flow']):.3g}. Training stopped; the last "
                f"checkpoint (if any) is from a good state. Try smaller learning rates "
                f"(lr_flow = {self.config.lr_flow}), a larger batch or grad_clip.")
        stats = {k: float(v) for k, v in info.items() if k not in ("finite", "nonfinite_samples")}
        stats.update({"step": state.step + 1, "acceptance": float(sampler_info["acceptance"]),
                      "time": time.perf_counter() - t0})
        history = state.history          # shared, append-only host-side log
        history.append(stats)
        new = TrainState(params, opt_state, key, sampler_state, state.step + 1, history)
        return new, stats

    # ---- loop -------------------------------------------------------------------------------
    def train(self, state: TrainState | None = None, steps: int | None = None,
              checkpoint: str | os.PathLike | None = None, progress: bool | None = None,
              stop_after: int | None = None, callback=None,
              time_limit: float | None = None) -> TrainState:
        """Run until ``steps`` (default config.steps) total steps.

        With ``checkpoint`` (a file path), a compatible existing checkpoint is resumed when
        config.resume is set, and the state is saved every config.checkpoint_every steps
        and at the end.  ``stop_after`` ends this call after that many steps;
        ``callback(state, stats)`` runs after every step (after checkpointing);
        ``time_limit`` (seconds) ends this call early, checkpointing the last step.
        """
        t_begin = time.perf_counter()
        total = self.config.steps if steps is None else int(steps)
        if state is None:
            state = None
            if checkpoint is not None and self.config.resume and Path(checkpoint).is_file():
                state = self.state_from_checkpoint(load_checkpoint(checkpoint))
            if state is None:
                state = self.init_state()
        show = self.config.progress if progress is None else progress
        bar = None
        if show and state.step < total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=state.step, desc="NCT", unit="step",
                       dynamic_ncols=True)
        done = 0
        try:
            while state.step < total:
                state, stats = self.step(state)
                done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(
                        f"F={stats['free_energy'] * self.scale:.4f}"
                        f"±{stats['free_energy_err'] * self.scale:.4f} {self.unit}")
                out_of_time = (time_limit is not None
                               and time.perf_counter() - t_begin > time_limit)
                last = state.step >= total or out_of_time
                if checkpoint is not None and (state.step % self.config.checkpoint_every == 0
                                               or last):
                    save_checkpoint(checkpoint, state, self.config, self.system)
                if callback is not None:
                    callback(state, stats)
                if (stop_after is not None and done >= stop_after) or out_of_time:
                    break
        finally:
            if bar is not None:
                bar.close()
        return state

    # ---- evaluation -------------------------------------------------------------------------
    def sample_batches(self, state: TrainState, n_batches: int, key=None):
        """Yield (batch, local values) for ``n_batches`` batches at fixed parameters.

        Uses its own RNG stream (does not change ``state``); Metropolis chains continue from
        the state's walkers.
        """
        key = jax.random.fold_in(state.key, 7919) if key is None else key
        sampler_state = state.sampler_state
        for _ in range(int(n_batches)):
            key, k_samp, k_loc = jax.random.split(key, 3)
            batch, sampler_state, info = self._sample(k_samp, state.params, sampler_state)
            self._prepare(batch)
            aux = self._local_values(state.params, batch, k_loc)
            yield batch, {k: np.asarray(v) for k, v in aux.items()}, info

    def evaluate(self, state: TrainState, n_batches: int | None = None, key=None) -> dict:
        """Local values of ``n_batches`` batches, stacked (n_batches, B) per quantity."""
        n_batches = self.config.eval_batches if n_batches is None else int(n_batches)
        values: dict = {}
        for _, aux, info in self.sample_batches(state, n_batches, key):
            for k, v in aux.items():
                values.setdefault(k, []).append(v)
            values.setdefault("acceptance", []).append(float(info["acceptance"]))
        return {k: np.asarray(v) for k, v in values.items()}
