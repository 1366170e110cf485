"""Configuration of an NCT calculation: one validated dataclass, loadable from TOML/JSON/YAML.

Temperatures in K for crystals (natural units for model systems); learning rates per step.
Unknown option names and out-of-range values raise ``ValueError`` naming the option and value.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path

FLOW_KINDS = ("full", "realnvp", "gaussian", "identity")
SAMPLERS = ("exact", "metropolis")
KINETIC_ESTIMATORS = ("stochastic", "laplacian", "gradient")
GRADIENT_ESTIMATORS = ("stl", "pathwise", "score")
LR_SCHEDULES = ("cosine", "exponential")
STEP_CONTROLS = ("snr", "none")
OCCUPATION_MODELS = ("auto", "table", "thermal")
BASELINES = ("occupations", "gaussian")


@dataclass
class NCTConfig:
    """All knobs of an NCT run (defaults: the paper's choices where they exist)."""

    temperature: float = 100.0          # K (crystals) or natural units (model systems)
    # occupation model
    n_levels: int = 20                  # K levels per mode (>= 2)
    occupations: str = "auto"           # "table" (free logits, the paper), "thermal" (ladder
                                        # spacing per mode only), "auto": thermal for gaussian
    # flow
    flow: str = "full"                  # "full", "realnvp", "gaussian" (SCHA) or "identity"
    flow_depth: int = 6                 # blocks (full) / coupling layers (realnvp)
    flow_width: int = 128               # MLP width
    flow_mlp_layers: int = 2            # hidden layers per coupling MLP
    flow_elementwise: int = 0           # realnvp only: trailing sinh-arcsinh layers
    # sampling and estimators
    sampler: str = "exact"              # "exact" (qfe) or "metropolis" (paper)
    kinetic: str = "stochastic"         # "stochastic", "laplacian" or "gradient"
    n_probes: int = 1                   # probe vectors of the stochastic Laplacian
    align_degenerate: int = 4           # thermal samples whose Hessians fix the basis inside
                                        # degenerate frequency subspaces (0: keep the
                                        # eigensolver's basis); see system.align_degenerate_modes
    gradient: str = "stl"               # flow gradient: "stl" (sticking the landing),
                                        # "pathwise" or "score" (paper)
    clip_factor: float = 5.0            # clip local values at mean +- c * mean-abs-deviation
    mc_steps: int = 3000                # Metropolis moves per training step
    mc_step_size: float = 0.03          # initial proposal width (phonon coordinates)
    mc_therm: int = 10                  # Metropolis thermalisation calls before training
    batch_size: int = 256
    # optimisation (optax Adam per parameter group, global-norm clipping)
    steps: int = 1000
    lr_occupation: float = 2e-2
    lr_flow: float = 1e-3
    min_lr_occupation: float = 5e-4
    min_lr_flow: float = 5e-6
    lr_schedule: str = "cosine"         # "cosine": warm-up, then cosine decay to min_lr at
                                        # `steps`; "exponential": lr_decay_* below
    lr_warmup: float = 0.05             # cosine: warm-up length as a fraction of steps
    lr_decay_rate: float = 0.97
    lr_decay_steps: int = 100
    lr_decay_begin: int = 500
    adam_eps: float = 1e-8              # Adam epsilon, in units of the mean hbar w
    grad_floor: float = 1e-9            # gradient components below this (units of the mean
                                        # hbar w) are roundoff and are set to zero
    grad_clip: float = 10.0             # max global gradient norm per group (<= 0: off)
    step_control: str = "snr"           # "snr": scale each parameter tensor's Adam step by
                                        # its gradient's signal-to-noise gain (the batch is
                                        # split into gradient_groups to measure the noise);
                                        # "none": plain Adam
    gradient_groups: int = 8            # equal parts of the batch for the noise estimate
    snr_threshold: float = 4.0          # step gain max(0, 1 - c / z), z: excess power of the
                                        # EMA gradient over its noise, in noise std units
    snr_decay: float = 0.99             # memory of that gradient moving average (per step)
    # convergence monitor (see qfe.nct.convergence)
    convergence_window: int = 50        # steps in the sliding window
    stop_when_converged: bool = False   # end training once the window shows convergence
    # evaluation after training
    eval_batches: int = 20
    baselines: list = dataclasses.field(default_factory=list)
                                        # extra trainings reported beside F: "occupations"
                                        # (identity flow) and/or "gaussian" (SCHA)
    compute_stress: bool = True
    phonon_spectrum: bool = False       # anharmonic single-phonon energies (M extra estimates)
    spectrum_batch: int = 64
    # bookkeeping
    seed: int = 42
    checkpoint_every: int = 50
    output_dir: str | None = None       # checkpoints and results; None: nothing written
    resume: bool = True                 # continue from output_dir/checkpoint.npz if present
    progress: bool = True

    def __post_init__(self):
        self.validate()

    # ---- validation ----------------------------------------------------------------------
    def validate(self) -> NCTConfig:
        def need(cond, name, what):
            if not cond:
                raise ValueError(f"invalid NCT option {name} = {getattr(self, name)!r}: {what}")

        def finite(name):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                 name, "must be a finite number")

        def integer(name, lo):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool), name, "must be an integer")
            need(v >= lo, name, f"must be >= {lo}")

        finite("temperature")
        need(self.temperature >= 0, "temperature", "must be >= 0 (absolute temperature)")
        integer("n_levels", 2)
        need(self.occupations in OCCUPATION_MODELS, "occupations",
             f"choose from {OCCUPATION_MODELS}")
        need(self.flow in FLOW_KINDS, "flow", f"choose from {FLOW_KINDS}")
        integer("flow_depth", 0)
        integer("flow_width", 1)
        integer("flow_mlp_layers", 1)
        integer("flow_elementwise", 0)
        need(self.sampler in SAMPLERS, "sampler", f"choose from {SAMPLERS}")
        need(self.kinetic in KINETIC_ESTIMATORS, "kinetic", f"choose from {KINETIC_ESTIMATORS}")
        integer("n_probes", 1)
        integer("align_degenerate", 0)
        need(self.gradient in GRADIENT_ESTIMATORS, "gradient",
             f"choose from {GRADIENT_ESTIMATORS}")
        # STL drops E[d E_loc/d theta at fixed q], which vanishes only for H Psi / Psi forms;
        # measured: kinetic="gradient" with STL diverged on the rotated quartic (F -> 1e6)
        need(not (self.kinetic == "gradient" and self.gradient == "stl"), "kinetic",
             "the gradient form of the kinetic energy is not H Psi / Psi, so the default "
             "flow gradient 'stl' would be biased; use it with gradient='pathwise' or 'score'")
        finite("clip_factor")
        need(self.clip_factor >= 0, "clip_factor", "must be >= 0 (0 disables clipping)")
        integer("mc_steps", 1)
        finite("mc_step_size")
        need(self.mc_step_size > 0, "mc_step_size", "must be > 0")
        integer("mc_therm", 0)
        integer("batch_size", 2)
        integer("steps", 0)
        for name in ("lr_occupation", "lr_flow", "min_lr_occupation", "min_lr_flow"):
            finite(name)
            need(getattr(self, name) >= 0, name, "must be >= 0")
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"choose from {LR_SCHEDULES}")
        finite("lr_warmup")
        need(0 <= self.lr_warmup < 1, "lr_warmup", "must be in [0, 1) (fraction of steps)")
        finite("adam_eps")
        need(self.adam_eps > 0, "adam_eps", "must be > 0")
        finite("grad_floor")
        need(self.grad_floor >= 0, "grad_floor", "must be >= 0")
        integer("convergence_window", 4)
        need(isinstance(self.stop_when_converged, bool), "stop_when_converged",
             "must be true or false")
        finite("lr_decay_rate")
        need(0 < self.lr_decay_rate <= 1, "lr_decay_rate", "must be in (0, 1]")
        integer("lr_decay_steps", 1)
        integer("lr_decay_begin", 0)
        finite("grad_clip")
        need(self.step_control in STEP_CONTROLS, "step_control", f"choose from {STEP_CONTROLS}")
        integer("gradient_groups", 2)
        if self.step_control == "snr":
            need(self.batch_size % self.gradient_groups == 0, "gradient_groups",
                 f"must divide batch_size = {self.batch_size} (the batch is split into equal "
                 f"groups to measure the gradient noise)")
        finite("snr_threshold")
        need(self.snr_threshold >= 0, "snr_threshold", "must be >= 0 (0: plain Adam steps)")
        finite("snr_decay")
        need(0 <= self.snr_decay < 1, "snr_decay", "must be in [0, 1)")
        integer("eval_batches", 0)
        need(isinstance(self.baselines, (list, tuple))
             and all(b in BASELINES for b in self.baselines), "baselines",
             f"must be a list of names from {BASELINES}")
        self.baselines = list(dict.fromkeys(self.baselines))
        integer("spectrum_batch", 2)
        integer("seed", 0)
        integer("checkpoint_every", 1)
        return self

    # ---- conversions ---------------------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, options: dict) -> NCTConfig:
        names = cls.option_names()
        unknown = [k for k in options if k not in names]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(k, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown NCT option {k!r}{hint}; known options: "
                             f"{', '.join(names)}")
        return cls(**options)

    def replace(self, **changes) -> NCTConfig:
        return NCTConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path, **overrides) -> NCTConfig:
        return cls.from_dict({**load_options(path), **overrides})

    # options whose change makes an old checkpoint meaningless for this run
    PHYSICS_OPTIONS = ("temperature", "n_levels", "occupations", "flow", "flow_depth", "flow_width",
                       "flow_mlp_layers", "flow_elementwise", "sampler", "kinetic", "n_probes",
                       "align_degenerate",
                       "gradient", "clip_factor", "mc_steps", "mc_step_size", "mc_therm",
                       "batch_size", "lr_occupation", "lr_flow", "min_lr_occupation",
                       "min_lr_flow", "lr_schedule", "lr_warmup", "lr_decay_rate",
                       "lr_decay_steps", "lr_decay_begin", "adam_eps", "grad_floor", "grad_clip",
                       "step_control", "gradient_groups", "snr_threshold", "snr_decay",
                       "seed")

    @property
    def occupation_model(self) -> str:
        """"table" or "thermal" (``occupations`` with "auto" resolved)."""
        if self.occupations != "auto":
            return self.occupations
        return "thermal" if self.flow == "gaussian" else "table"


def load_options(path) -> dict:
    """Options from a .toml, .json or .yaml/.yml file (a table ``[nct]`` is used if present)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NCT config file not found: {path}")
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    elif suffix == ".json":
        data = json.loads(text)
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"config file {path}: unknown format {suffix!r} "
                         f"(use .toml, .json or .yaml)")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: expected a table of options")
    if "nct" in data and isinstance(data["nct"], dict):
        data = data["nct"]
    return data

