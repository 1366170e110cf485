"""Training loop: optax Adam per parameter group, atomic checkpoints, exact resume.

State is explicit (:class:`TrainState`: parameters, optimiser state, RNG key, sampler state,
step, history) and every step is a pure function of it, so a run killed after a checkpoint
and resumed from it ends bit-for-bit where an uninterrupted run with the same seed ends.
Checkpoints are ``.npz`` archives (arrays plus JSON metadata, no pickles) written to a
temporary file and moved into place with ``os.replace`` (atomic on POSIX), so a kill during a
write leaves the previous one.
A non-finite loss, gradient or parameter stops training with :class:`NCTDivergenceError`;
the state at fault is never checkpointed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qfe._io import atomic_write
from qfe._jax import jax, jnp
from qfe.nct.config import NCTConfig
from qfe.nct.convergence import monitor
from qfe.nct.estimators import FreeEnergyObjective, LocalEnergy
from qfe.nct.flow import Flow
from qfe.nct.occupation import OccupationModel
from qfe.nct.sampler import make_sampler
from qfe.nct.system import ModeSystem, align_degenerate_modes
from qfe.nct.wavefunction import Wavefunction
from qfe.units import EV_TO_MEV

CHECKPOINT_NAME = "checkpoint.npz"
CHECKPOINT_FORMAT = "qfe-nct-checkpoint"
CHECKPOINT_VERSION = 2


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
    return report_units(system.energy_unit, system.natoms)


def report_units(energy_unit: str, natoms: int) -> tuple[float, str]:
    """:func:`report_scale` from the energy unit and the atom count alone."""
    if energy_unit == "eV":
        return EV_TO_MEV / natoms, "meV/atom"
    return 1.0 / natoms, ("natural" if natoms == 1 else "natural/atom")


def learning_rate_schedule(config: NCTConfig, lr: float, lr_min: float):
    """optax schedule step -> learning rate.

    ``"cosine"`` (default): linear warm-up from lr_min over lr_warmup * steps, then cosine
    decay to lr_min at ``steps`` (so a run of any length ends at small steps and its final
    parameters are an average over the noise); ``"exponential"``: lr_decay_rate every
    lr_decay_steps from step lr_decay_begin, floored at lr_min.
    """
    import optax

    lr_min = min(lr_min, lr)
    if config.lr_schedule == "cosine":
        total = max(int(config.steps), 1)
        warmup = int(round(config.lr_warmup * total))
        return optax.warmup_cosine_decay_schedule(
            init_value=lr_min if warmup else lr, peak_value=lr, warmup_steps=warmup,
            decay_steps=max(total, warmup + 1), end_value=lr_min)
    return optax.exponential_decay(init_value=lr, transition_steps=config.lr_decay_steps,
                                   decay_rate=config.lr_decay_rate,
                                   transition_begin=config.lr_decay_begin, end_value=lr_min)


def build_optimizer(config: NCTConfig, energy_unit: float = 1.0):
    """Adam for the occupation logits and for the flow, each with its own learning-rate
    schedule and global-norm gradient clipping.

    Gradient components below ``grad_floor * energy_unit`` (energy_unit: the mean phonon
    energy) are set to zero before Adam sees them.  At an exact optimum (a harmonic crystal
    at its Boltzmann state) the STL gradient is zero up to float64 roundoff, ~1e-16 hbar w;
    Adam divides by the running gradient RMS and so turns that roundoff into full steps of
    size lr, a drift that raised F by 0.4-1 meV/atom in 60 steps on a 16-atom crystal.
    Real gradients, signal or sampling noise, are many orders of magnitude above the floor.
    Adam's epsilon is ``adam_eps * energy_unit``.
    With ``occupations = "thermal"`` the free logits are frozen (only the level spacing of
    each mode is learned: thermal occupations of effective frequencies).
    """
    import optax

    floor = config.grad_floor * float(energy_unit)

    def drop_roundoff(updates, params=None):
        del params
        return jax.tree_util.tree_map(lambda g: jnp.where(jnp.abs(g) > floor, g, 0.0), updates)

    eps = config.adam_eps * float(energy_unit)
    schedules = {"occupation": learning_rate_schedule(config, config.lr_occupation,
                                                      config.min_lr_occupation),
                 "flow": learning_rate_schedule(config, config.lr_flow, config.min_lr_flow)}

    def group(schedule):
        parts = [optax.stateless(drop_roundoff)]
        if config.grad_clip > 0:
            parts.append(optax.clip_by_global_norm(config.grad_clip))
        return optax.chain(*parts, optax.adam(schedule, eps=eps))

    thermal = config.occupation_model == "thermal"

    def labels(params):
        out = {name: jax.tree_util.tree_map(lambda _: name, params[name]) for name in params}
        if thermal and "logits" in out.get("occupation", {}):
            out["occupation"] = {**out["occupation"], "logits": "frozen"}
        return out

    tx = optax.multi_transform(
        {"occupation": group(schedules["occupation"]), "flow": group(schedules["flow"]),
         "frozen": optax.set_to_zero()}, labels)
    return tx, schedules


def snr_gate(updates, grads, noise, state, threshold: float, decay: float = 0.99):
    """Scale each parameter tensor's update by a gain that opens only when its averaged
    gradient carries power beyond the noise.

    ``noise`` is the per-component variance of the batch gradient (measured from equal parts
    of the batch).  The moving average m = b m + (1 - b) g (b = ``decay``; a long memory
    lets a weak but consistent gradient through) has noise variance
    s = b^2 s + (1 - b)^2 var.  Per tensor, the power of m in excess of the noise,
    sum(m^2) - sum(s), is compared with its own standard deviation on pure noise,
    sqrt(2 sum(s^2)): z = (sum(m^2) - sum(s)) / sqrt(2 sum(s^2)) and the gain is
    max(0, 1 - c / z) (c = ``threshold``), so on pure noise (z ~ N(0, 1)) the tensor does
    not move.  The test is on the excess, not on the ratio sum(m^2)/sum(s): a large tensor
    whose useful gradient lives in a few directions then needs a signal ~sqrt(N) times the
    per-component noise, not ~N times (measured on the rotated quartic of docs/nct.md: 49 %
    of the Gaussian-to-limit gap against 32 % with the ratio rule).
    Plain Adam divides by the RMS gradient, so at an optimum of an anharmonic crystal, where
    the true gradient is zero but the sampled one is not, it takes full steps of size lr in
    random directions; each raises the variational F (measured on Li: +1.2 meV/atom in 38
    steps).  Returns (updates, new state, {group: mean gain})."""
    tm = jax.tree_util.tree_map
    b = decay
    mean = tm(lambda m, g: b * m + (1 - b) * g, state["mean"], grads)
    var = tm(lambda s, v: b * b * s + (1 - b) ** 2 * v, state["noise"], noise)

    def gain(m, s):
        if threshold <= 0:                      # c = 0: plain Adam steps
            return jnp.ones(())
        excess = jnp.sum(m * m) - jnp.sum(s)
        sd = jnp.sqrt(2.0 * jnp.sum(s * s))
        z = jnp.where(sd > 0, excess / jnp.where(sd > 0, sd, 1.0), 0.0)
        open_ = z > threshold
        return jnp.where(open_, 1.0 - threshold / jnp.where(open_, z, 1.0), 0.0)

    gains = tm(gain, mean, var)
    updates = tm(lambda u, r: u * r, updates, gains)
    summary = {name: jnp.mean(jnp.stack(jax.tree_util.tree_leaves(gains[name])))
               for name in gains if jax.tree_util.tree_leaves(gains[name])}
    return updates, {"mean": mean, "noise": var}, summary


def _leaves(tree) -> list:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _fingerprint(system: ModeSystem) -> dict:
    return {"n_modes": int(system.n_modes),
            "hbar_omega": np.asarray(system.hbar_omega, dtype=float).tolist(),
            "x0": np.asarray(system.x0, dtype=float).tolist()}


def save_checkpoint(path, state: TrainState, config: NCTConfig, system: ModeSystem) -> Path:
    """Write ``state`` atomically (temp file + fsync + os.replace) as an ``.npz`` archive:
    the leaves of params, optimiser and sampler state as arrays, everything else (version,
    step, history, config, a fingerprint of the system, leaf counts) as JSON text stored in a
    byte array.  Nothing in it is executable (loaded with ``allow_pickle=False``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    counts = {}
    for group, tree in (("params", state.params), ("opt_state", state.opt_state),
                        ("sampler_state", state.sampler_state)):
        leaves = _leaves(tree)
        counts[group] = len(leaves)
        for i, leaf in enumerate(leaves):
            arrays[f"{group}/{i}"] = leaf
    arrays["key"] = np.asarray(state.key)
    meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": int(state.step),
            "history": list(state.history), "config": config.to_dict(),
            "system": _fingerprint(system), "leaves": counts}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_checkpoint(path, allow_pickle: bool = False) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`: a dict with ``step``,
    ``history``, ``config``, ``system`` and the leaf lists ``params``, ``opt_state``,
    ``sampler_state`` and ``key``.  Checkpoints of qfe <= 0.x were pickles; those are read
    only with ``allow_pickle=True`` (unpickling runs code stored in the file: use it only
    for files you made yourself)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NCT checkpoint not found: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != b"PK":                          # not a zip (npz) archive
        if not allow_pickle:
            raise ValueError(f"{path} is not an .npz NCT checkpoint (an old pickle "
                             f"checkpoint?); pickles can run code when opened, so they are "
                             f"read only with load_checkpoint(path, allow_pickle=True)")
        import pickle

        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        if not isinstance(payload, dict) or payload.get("version") != 1:
            raise ValueError(f"{path} is not a qfe NCT checkpoint")
        for group in ("params", "opt_state", "sampler_state"):
            payload[group] = _leaves(payload[group])
        return payload
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("format") != CHECKPOINT_FORMAT:
                raise ValueError("wrong format tag")
            payload = {k: meta[k] for k in ("version", "step", "history", "config", "system")}
            for group, n in meta["leaves"].items():
                payload[group] = [data[f"{group}/{i}"] for i in range(n)]
            payload["key"] = data["key"]
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a qfe NCT checkpoint ({exc})") from None
    if payload["version"] != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {payload['version']}, this qfe reads "
                         f"version {CHECKPOINT_VERSION}")
    return payload


class Trainer:
    """Variational free-energy minimisation for a :class:`ModeSystem` (see module doc)."""

    def __init__(self, system: ModeSystem, config: NCTConfig):
        self.config = config.validate()
        self.kT = system.kT(config.temperature)
        if config.align_degenerate:
            system = align_degenerate_modes(system, self.kT, config.align_degenerate,
                                            seed=config.seed)
        self.system = system
        m = system.n_modes
        self.flow = Flow(m, kind=config.flow, depth=config.flow_depth, width=config.flow_width,
                         mlp_layers=config.flow_mlp_layers, elementwise=config.flow_elementwise)
        self.occupation = OccupationModel(m, config.n_levels)
        self.wavefunction = Wavefunction(self.flow, config.n_levels - 1)
        self.local_energy = LocalEnergy(system, self.wavefunction, config.kinetic,
                                        config.n_probes)
        self.energy_unit = float(np.mean(system.hbar_omega))
        self.objective = FreeEnergyObjective(self.local_energy, self.occupation, self.kT,
                                             gradient=config.gradient, clip=config.clip_factor,
                                             train_occupation=self.kT > 0)
        mc = {}
        if config.sampler == "metropolis":
            mc = {"mc_steps": config.mc_steps, "step_size": config.mc_step_size}
        self.sampler = make_sampler(config.sampler, self.occupation, self.wavefunction,
                                    config.batch_size, **mc)
        self.optimizer, self.schedules = build_optimizer(config, self.energy_unit)
        self.scale, self.unit = report_scale(system)
        self._build()

    # ---- jitted pieces ------------------------------------------------------------------
    def _build(self):
        objective, optimizer, sampler = self.objective, self.optimizer, self.sampler
        schedules, occupation = self.schedules, self.occupation

        config = self.config
        groups = config.gradient_groups if config.step_control == "snr" else 1

        def grads_and_aux(params, batch, key):
            if groups == 1:
                return jax.grad(objective.loss, has_aux=True)(params, batch, key), None
            # gradients of `groups` equal parts of the batch (whole-batch baselines): their
            # mean is the batch gradient, their spread its sampling noise
            split = jax.tree_util.tree_map(
                lambda x: x.reshape((groups, x.shape[0] // groups) + x.shape[1:]), batch)
            part = jax.grad(lambda p, b, k: objective.loss(p, b, k, axis_name="groups"),
                            has_aux=True)
            g_parts, aux = jax.vmap(part, in_axes=(None, 0, 0), axis_name="groups")(
                params, split, jax.random.split(key, groups))
            grads = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), g_parts)
            noise = jax.tree_util.tree_map(lambda g: jnp.var(g, axis=0, ddof=1) / groups,
                                           g_parts)
            aux = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), aux)
            return (grads, aux), noise

        def update(params, opt_state, batch, key, step):
            import optax

            (grads, aux), noise = grads_and_aux(params, batch, key)
            updates, adam_state = optimizer.update(grads, opt_state["adam"], params)
            new_state = {"adam": adam_state}
            gains = {}
            if noise is not None:
                updates, new_state["snr"], gains = snr_gate(
                    updates, grads, noise, opt_state["snr"], config.snr_threshold,
                    config.snr_decay)
            opt_state = new_state
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
                if name in gains:
                    info["snr_gain_" + name] = gains[name]
            finite = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(new_params)]
            info["nonfinite_samples"] = jnp.sum(~jnp.isfinite(aux["free_energy"]))
            info["finite"] = (jnp.all(jnp.stack(finite)) & (info["nonfinite_samples"] == 0)
                              & jnp.isfinite(info["grad_norm_occupation"])
                              & jnp.isfinite(info["grad_norm_flow"]))
            return new_params, opt_state, info

        def local_values(params, batch, key):
            return objective.loss(params, batch, key)[1]

        self._sample = jax.jit(sampler.sample)
        self._gradients = jax.jit(grads_and_aux)     # (grads, aux), noise variance or None
        self._update = jax.jit(update)
        self._local_values = jax.jit(local_values)

    def precompile(self, state: TrainState) -> float:
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
        opt_state = self.init_optimizer(params)
        sampler_state = self.sampler.init_state(k_samp, params)
        state = TrainState(params, opt_state, key, sampler_state, 0, [])
        if thermalise and self.config.sampler == "metropolis":
            for _ in range(self.config.mc_therm):
                state.key, k = jax.random.split(state.key)
                _, state.sampler_state, _ = self._sample(k, params, state.sampler_state)
        return state

    def init_optimizer(self, params) -> dict:
        """Optimiser state for ``params``: Adam's, and the step-control moments."""
        state = {"adam": self.optimizer.init(params)}
        if self.config.step_control == "snr":
            zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
            state["snr"] = {"mean": zeros, "noise": zeros}
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

        def restore(tmpl, leaves):
            treedef = jax.tree_util.tree_structure(tmpl)
            if treedef.num_leaves != len(leaves):
                raise ValueError(f"checkpoint holds {len(leaves)} arrays where this run's "
                                 f"state has {treedef.num_leaves} (flow or optimiser changed)")
            for have, want in zip(leaves, jax.tree_util.tree_leaves(tmpl)):
                if np.shape(have) != np.shape(want):
                    raise ValueError(f"checkpoint array of shape {np.shape(have)} where this "
                                     f"run needs {np.shape(want)} (flow size changed)")
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
        With config.stop_when_converged, training ends at the first step where the
        convergence monitor (:mod:`qfe.nct.convergence`) over the last
        config.convergence_window steps says converged.
        """
        t_begin = time.perf_counter()
        total = self.config.steps if steps is None else int(steps)
        if state is None:
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
                if self.config.stop_when_converged and not last and \
                        monitor(state.history, self.config.convergence_window)["converged"]:
                    if checkpoint is not None:
                        save_checkpoint(checkpoint, state, self.config, self.system)
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
