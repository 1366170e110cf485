"""Python API of the NCT engine.

    import qfe.nct
    result = qfe.nct.run("POSCAR", potential, temperature=100.0, steps=500)
    print(result.summary())            # F, E, K, V, S, P with error bars in meV/atom, GPa
    result.to_json("nct.json"); result.plot_training("training.png")

``potential`` is a :class:`qfe.potentials.Potential` or a spec string (see
:func:`make_potential`).  :func:`run_system` does the same for any
:class:`qfe.nct.system.ModeSystem` (e.g. 1D model problems in natural units).
"""

from __future__ import annotations

import csv
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import qfe._jax
from qfe._io import write_json_atomic
from qfe.nct.config import NCTConfig
from qfe.units import EV_TO_MEV

RESULT_JSON = "result.json"
HISTORY_CSV = "history.csv"


# ---- potentials from strings ---------------------------------------------------------------
def _parse_kv(text: str) -> dict:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"potential parameter {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ValueError(f"potential parameter {k.strip()} = {v!r} is not a number") from None
    return out


def make_potential(spec, atoms):
    """A :class:`qfe.potentials.Potential` for ``atoms`` from a spec:

    - a Potential instance (returned as is);
    - ``"default"``: qfe's default lithium DeePMD model (JAX path);
    - a DeePMD model file (suffix in ``qfe.potentials.MODEL_SUFFIXES``): ``load_deepmd``;
    - ``"einstein:k=1.0,k4=0.1"``, ``"pair-spring:k=1,cutoff=3.6"``,
      ``"morse:D=0.5,a=1.5,r0=3.0,cutoff=5,r_switch=4.5"``,
      ``"quasi-harmonic:k=1,gamma=1,bulk_modulus=10,v0=20,cutoff=3.6"``: analytic models
      (eV, A, GPa);
    - ``"lammps:pair_style morse 5.0; pair_coeff * * 0.1 1.5 2.0"`` or ``"lammps:FILE"``: any
      LAMMPS pair style, evaluated by LAMMPS (:func:`qfe.potentials.lammps_potential.
      lammps_potential_from_spec`).
    """
    import qfe.potentials as pots

    if isinstance(spec, pots.Potential):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"potential must be a Potential or a spec string, got {spec!r}")
    common = {"symbols": atoms.get_chemical_symbols(), "masses": atoms.get_masses(),
              "cell": np.asarray(atoms.get_cell()) if atoms.pbc.any() else None,
              "reference_positions": atoms.get_positions()}
    name, _, params = spec.partition(":")
    analytic = {"einstein": "EinsteinCrystal", "pair-spring": "PairSpringCrystal",
                "morse": "MorseCrystal", "quasi-harmonic": "QuasiHarmonicCrystal"}
    if name in analytic:
        return getattr(pots, analytic[name])(**common, **_parse_kv(params))
    if name == "lammps":
        from qfe.potentials.lammps_potential import lammps_potential_from_spec

        return lammps_potential_from_spec(params, atoms)
    if spec == "default":
        if hasattr(pots, "default_lithium"):
            return pots.default_lithium(atoms)
        raise ValueError("the default lithium model is not available in this build "
                         "(qfe.potentials.default_lithium is missing)")
    path = Path(spec)
    if pots.is_model_file(path):
        if not path.exists():
            raise FileNotFoundError(f"potential model file not found: {path}")
        if not hasattr(pots, "load_deepmd"):
            raise ValueError("DeePMD models are not available in this build "
                             "(qfe.potentials.load_deepmd is missing)")
        return pots.load_deepmd(str(path), atoms)
    raise ValueError(f"unknown potential spec {spec!r}: use 'default', a DeePMD model file "
                     f"({', '.join(pots.MODEL_SUFFIXES)}), one of {sorted(analytic)} with "
                     "key=value parameters, or 'lammps:pair_style ...; pair_coeff ...' "
                     "(or 'lammps:FILE')")


# ---- results ------------------------------------------------------------------------------
@dataclass
class NCTResult:
    """Everything a run produces.  Energies in the system's units (eV for crystals) in
    ``thermo`` etc.; :meth:`report` converts to meV/atom (natural units: per atom)."""

    config: dict
    temperature: float
    natoms: int
    n_modes: int
    energy_unit: str
    report_unit: str
    report_scale: float
    thermo: dict                                  # name -> (value, error)
    harmonic: dict                                # F, ZPE of the harmonic approximation
    zpe: dict                                     # harmonic, anharmonic (value, error)
    stress: dict | None = None
    spectrum: dict | None = None
    history: list = field(default_factory=list)
    baselines: dict = field(default_factory=dict)  # name -> {"F": (value, error), ...}
    convergence: dict = field(default_factory=dict)
    frequencies: list = field(default_factory=list)  # harmonic hbar w (energy unit), <0: imag.
    timing: dict = field(default_factory=dict)

    def report(self, name: str) -> tuple[float, float]:
        """(value, error) of an energy-like quantity in report units (meV/atom)."""
        v, e = self.thermo[name]
        return v * self.report_scale, e * self.report_scale

    @property
    def free_energy(self) -> float:
        return self.thermo["F"][0]

    @property
    def free_energy_error(self) -> float:
        return self.thermo["F"][1]

    def summary(self) -> str:
        u = self.report_unit
        lines = [f"NCT: {self.natoms} atoms, {self.n_modes} modes, T = {self.temperature:g}"
                 + (" K" if self.energy_unit == "eV" else "")]
        for name, label in (("F", "free energy F"), ("E", "energy E"), ("K", "kinetic K"),
                            ("V", "potential V")):
            v, e = self.report(name)
            lines.append(f"  {label:<16} {v:14.4f} +- {e:.4f} {u}")
        s = self.thermo["S"][0] / self.natoms
        lines.append(f"  {'entropy S':<16} {s:14.6f} kB/atom (occupation model, exact)")
        fh = self.harmonic["F"] * self.report_scale
        lines.append(f"  {'harmonic F':<16} {fh:14.4f} {u}")
        for name, label in (("gaussian", "Gaussian F"), ("occupations", "occupations F")):
            if name in self.baselines:
                v, e = (x * self.report_scale for x in self.baselines[name]["F"])
                lines.append(f"  {label:<16} {v:14.4f} +- {e:.4f} {u}")
        zh = self.zpe["harmonic"] * self.report_scale
        lines.append(f"  {'harmonic ZPE':<16} {zh:14.4f} {u}")
        if self.zpe.get("anharmonic") is not None:
            za, zae = self.zpe["anharmonic"]
            lines.append(f"  {'anharmonic ZPE':<16} {za * self.report_scale:14.4f} +- "
                         f"{zae * self.report_scale:.4f} {u}")
        if self.stress is not None:
            p, pe = self.stress["pressure_GPa"]
            lines.append(f"  {'pressure P':<16} {p:14.4f} +- {pe:.4f} GPa")
        c = self.convergence
        if c:
            state = "converged" if c.get("converged") else "NOT converged"
            drift = c.get("drift")
            detail = "" if drift is None else (
                f": F changed by {drift * self.report_scale:.4f} +- "
                f"{c['drift_err'] * self.report_scale:.4f} {u} over the last {c['window']} steps")
            lines.append(f"  training {state} after {c.get('steps_used')} steps{detail}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def clean(x):
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, np.ndarray):
                return clean(x.tolist())
            if isinstance(x, (np.floating, np.integer)):
                return x.item()
            return x

        d = {"temperature": self.temperature, "natoms": self.natoms, "n_modes": self.n_modes,
             "energy_unit": self.energy_unit, "report_unit": self.report_unit,
             "thermo": {k: {"value": v, "error": e} for k, (v, e) in self.thermo.items()},
             "thermo_report": {k: dict(zip(("value", "error"), self.report(k)))
                               for k in ("F", "E", "K", "V")},
             "harmonic": self.harmonic, "zpe": self.zpe, "stress": self.stress,
             "spectrum": self.spectrum, "frequencies": self.frequencies,
             "baselines": self.baselines, "convergence": self.convergence,
             "converged": bool(self.convergence.get("converged", False)),
             "steps_used": self.convergence.get("steps_used"),
             "timing": self.timing, "config": self.config, "history": self.history}
        return clean(d)

    def to_json(self, path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> NCTResult:
        """The inverse of :meth:`to_dict` (e.g. a stored ``result.json``); (value, error)
        pairs come back as tuples."""
        from qfe.nct.trainer import report_units

        thermo = {k: (v["value"], v["error"]) for k, v in d["thermo"].items()}
        scale, _ = report_units(d["energy_unit"], d["natoms"])

        def pair(x):
            return tuple(x) if isinstance(x, list) and len(x) == 2 else x

        baselines = {name: {k: pair(v) for k, v in b.items()}
                     for name, b in (d.get("baselines") or {}).items()}
        zpe = {k: pair(v) for k, v in d["zpe"].items()}
        stress = d.get("stress")
        if stress is not None:
            stress = {k: pair(v) for k, v in stress.items()}
        return cls(config=d.get("config") or {}, temperature=d["temperature"],
                   natoms=d["natoms"], n_modes=d["n_modes"], energy_unit=d["energy_unit"],
                   report_unit=d["report_unit"], report_scale=scale, thermo=thermo,
                   harmonic=d["harmonic"], zpe=zpe, stress=stress, spectrum=d.get("spectrum"),
                   history=d.get("history") or [], baselines=baselines,
                   convergence=d.get("convergence") or {},
                   frequencies=d.get("frequencies") or [], timing=d.get("timing") or {})

    def to_csv(self, path) -> Path:
        """Training history, one row per step (energies in report units)."""
        path = Path(path)
        keys = ["step", "free_energy", "free_energy_err", "energy", "energy_err", "kinetic",
                "potential", "entropy", "acceptance", "lr_occupation", "lr_flow", "time"]
        energy_keys = {"free_energy", "free_energy_err", "energy", "energy_err", "kinetic",
                       "potential"}
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([k + (f" [{self.report_unit}]" if k in energy_keys else "") for k in keys])
            for h in self.history:
                w.writerow([h.get(k, "") * (self.report_scale if k in energy_keys else 1)
                            if isinstance(h.get(k), (int, float)) else h.get(k, "")
                            for k in keys])
        return path

    def plot_training(self, path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = np.array([h["step"] for h in self.history])
        f = np.array([h["free_energy"] for h in self.history]) * self.report_scale
        fe = np.array([h["free_energy_err"] for h in self.history]) * self.report_scale
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(steps, f, lw=1, label="F (batch)")
        ax.fill_between(steps, f - fe, f + fe, alpha=0.3)
        ax.axhline(self.harmonic["F"] * self.report_scale, color="k", ls="--", lw=1,
                   label="harmonic F")
        for i, (name, b) in enumerate(sorted(self.baselines.items())):
            ax.axhline(b["F"][0] * self.report_scale, color=f"C{i + 1}", ls=":", lw=1,
                       label=f"{name} F")
        ax.axhline(self.thermo["F"][0] * self.report_scale, color="C3", lw=1, label="final F")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"free energy ({self.report_unit})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)

    def plot_dos(self, path, width: float | None = None) -> Path:
        """Harmonic and (if computed) anharmonic phonon DOS versus energy in meV."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from qfe.nct.observables import phonon_dos

        to_mev = EV_TO_MEV if self.energy_unit == "eV" else 1.0
        harm = np.asarray(self.frequencies) * to_mev
        top = float(np.max(np.abs(harm)))
        if self.spectrum is not None:
            top = max(top, float(np.max(np.abs(self.spectrum["w"]))) * to_mev)
        grid = np.linspace(min(0.0, harm.min()) - 0.05 * top, 1.15 * top, 500)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(*phonon_dos(harm, grid, width), label="harmonic")
        if self.spectrum is not None:
            ax.plot(*phonon_dos(np.asarray(self.spectrum["w"]) * to_mev, grid, width),
                    label="anharmonic (NCT)")
        ax.set_xlabel("phonon energy (meV)" if to_mev != 1 else "excitation energy")
        ax.set_ylabel("DOS (modes per energy)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)


# ---- runs ---------------------------------------------------------------------------------
def _config_from(config, options) -> NCTConfig:
    """The one NCTConfig of a run: ``config`` itself when nothing overrides it, else one
    merge of config (NCTConfig, dict or None) and options, validated once."""
    if isinstance(config, NCTConfig) and not options:
        return config
    base = {} if config is None else (config.to_dict() if isinstance(config, NCTConfig)
                                      else dict(config))
    return NCTConfig.from_dict({**base, **options})


def run(structure, potential, temperature: float | None = None, config=None,
        **options) -> NCTResult:
    """NCT free energy of a crystal at ``temperature`` (K; or config.temperature).

    ``structure``: ASE Atoms or a file (POSCAR, CIF, LAMMPS data, ...); ``potential``: a
    Potential or a spec string (:func:`make_potential`); ``config``: an :class:`NCTConfig`,
    a dict, or None; further keyword options override it (see :class:`NCTConfig`).
    """
    from qfe.nct.phonons import crystal_system, load_structure

    if temperature is not None:
        options = {**options, "temperature": temperature}
    cfg = _config_from(config, options)
    atoms = load_structure(structure)
    pot = make_potential(potential, atoms)
    system = crystal_system(pot, atoms)
    return run_system(system, cfg)


def run_system(system, config=None, **options) -> NCTResult:
    """Train and evaluate on any :class:`qfe.nct.system.ModeSystem`; with config.baselines,
    also the occupations-only and/or Gaussian (SCHA) ansatz (one more training each)."""
    from qfe.nct.trainer import CHECKPOINT_NAME, Trainer

    cfg = _config_from(config, options)
    t0 = time.perf_counter()
    trainer = Trainer(system, cfg)
    out = Path(cfg.output_dir) if cfg.output_dir else None
    checkpoint = out / CHECKPOINT_NAME if out else None
    state = trainer.train(checkpoint=checkpoint)
    t_train = time.perf_counter() - t0
    baselines = {name: baseline(trainer.system, cfg, name) for name in cfg.baselines}
    return evaluate_state(trainer, state, t_train=t_train, baselines=baselines)


BASELINE_FLOWS = {"occupations": "identity", "gaussian": "gaussian"}


def baseline(system, config: NCTConfig, name: str, steps: int | None = None,
             time_limit: float | None = None) -> dict:
    """Train and evaluate a baseline ansatz with ``config``'s settings: ``"occupations"``
    (identity flow: harmonic states, learned occupations) or ``"gaussian"`` (affine + linear
    flow with thermal occupations: the self-consistent harmonic, SCHA, density matrix).
    Checkpointed under output_dir/baseline-NAME.  Returns {"F": (value, error), "flow",
    "steps_used", "converged"} in the system's energy unit.  ``steps`` overrides
    config.steps; ``time_limit`` (s) ends the training early."""
    from qfe.nct.convergence import monitor
    from qfe.nct.trainer import CHECKPOINT_NAME, Trainer

    if name not in BASELINE_FLOWS:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINE_FLOWS)}")
    out = Path(config.output_dir) / f"baseline-{name}" if config.output_dir else None
    cfg = config.replace(flow=BASELINE_FLOWS[name], baselines=[], occupations="auto",
                         output_dir=str(out) if out else None,
                         steps=config.steps if steps is None else int(steps))
    trainer = Trainer(system, cfg)
    state = trainer.train(checkpoint=out / CHECKPOINT_NAME if out else None,
                          time_limit=time_limit)
    f = np.asarray(trainer.evaluate(state, max(cfg.eval_batches, 1))["free_energy"]).ravel()
    conv = monitor(state.history, min(cfg.convergence_window, max(len(state.history), 4)))
    return {"F": (float(f.mean()), float(f.std(ddof=1) / np.sqrt(f.size))),
            "flow": cfg.flow, "steps_used": int(state.step),
            "converged": bool(conv["converged"])}


def evaluate_state(trainer, state, t_train: float = 0.0, baselines: dict | None = None,
                   stress_batches: int | None = None) -> NCTResult:
    """Observables of a trained state (config.eval_batches batches) as an :class:`NCTResult`;
    written to config.output_dir when set.  The stress uses ``stress_batches`` batches
    (default min(eval_batches, 4)).  Warns when the convergence monitor says the
    training had not converged."""
    from qfe.nct import observables
    from qfe.nct.convergence import monitor
    from qfe.nct.trainer import report_scale

    system, cfg = trainer.system, trainer.config
    t1 = time.perf_counter()
    convergence = {"steps_used": int(state.step)}
    if len(state.history) >= 4:
        convergence.update(monitor(state.history,
                                   min(cfg.convergence_window, len(state.history))))
        if not convergence["converged"]:
            scale_, unit_ = report_scale(system)
            warnings.warn(
                f"NCT training did not converge in {state.step} steps: over the last "
                f"{convergence['window']} steps F changed by "
                f"{convergence['drift'] * scale_:.4f} +- {convergence['drift_err'] * scale_:.4f}"
                f" {unit_} (batch error {convergence['sigma_F'] * scale_:.4f}); train longer "
                f"(steps = {cfg.steps}) or use a larger batch", stacklevel=2)
    blocked = cfg.sampler == "metropolis"
    values = trainer.evaluate(state, cfg.eval_batches) if cfg.eval_batches > 0 else None
    entropy = float(trainer.occupation.entropy(state.params["occupation"]))
    if values is not None:
        thermo = observables.thermodynamics(values, system, cfg.temperature, entropy, blocked)
    else:
        last = state.history[-1] if state.history else None
        if last is None:
            raise ValueError("nothing to report: no training steps and eval_batches = 0")
        thermo = {"F": (last["free_energy"], last["free_energy_err"]),
                  "E": (last["energy"], last["energy_err"]),
                  "K": (last["kinetic"], last["kinetic_err"]),
                  "V": (last["potential"], last["potential_err"]), "S": (entropy, 0.0)}
    t_eval = time.perf_counter() - t1
    e0 = observables.ground_state_energy(trainer, state, batch_size=cfg.batch_size,
                                         n_batches=max(1, min(cfg.eval_batches, 4)))
    zpe = {"harmonic": system.harmonic_zpe(), "anharmonic": (e0[0] - system.v0, e0[1]),
           "ground_state_energy": e0}
    stress = None
    if cfg.compute_stress and system.stress_fn is not None and system.cell is not None:
        n_stress = max(1, min(cfg.eval_batches, 4)) if stress_batches is None else stress_batches
        stress = observables.stress(trainer, state, n_batches=n_stress)
    spectrum = None
    if cfg.phonon_spectrum:
        sp = observables.excitation_energies(trainer, state, batch_size=cfg.spectrum_batch)
        spectrum = {"w": sp["w"], "w_err": sp["w_err"], "w_harmonic": sp["w_harmonic"]}
    scale, unit = report_scale(system)
    # signed harmonic hbar w in the system's energy unit (negative: imaginary mode)
    freqs = np.where(system.imaginary, -system.hbar_omega, system.hbar_omega)
    result = NCTResult(
        config=cfg.to_dict(), temperature=cfg.temperature, natoms=system.natoms,
        n_modes=system.n_modes, energy_unit=system.energy_unit, report_unit=unit,
        report_scale=scale, thermo=thermo,
        harmonic={"F": system.harmonic_free_energy(cfg.temperature),
                  "F_truncated": system.harmonic_free_energy(cfg.temperature, cfg.n_levels),
                  "V0": system.v0, "ZPE": system.harmonic_zpe()},
        zpe=zpe, stress=stress, spectrum=spectrum, history=list(state.history),
        baselines=dict(baselines or {}), convergence=convergence,
        frequencies=list(np.asarray(freqs, dtype=float)),
        timing={"train_s": t_train, "evaluate_s": t_eval,
                "total_s": t_train + time.perf_counter() - t1})
    if cfg.output_dir:
        out = Path(cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        result.to_json(out / RESULT_JSON)
        result.to_csv(out / HISTORY_CSV)
        if result.history:
            result.plot_training(out / "training.png")
        result.plot_dos(out / "dos.png")
    return result
