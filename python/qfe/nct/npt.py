"""Constant-pressure NCT: the Gibbs energy G = F + P Omega, minimised over the cell.

    import qfe.nct
    r = qfe.nct.run_npt("bcc.vasp", "default", temperature=100, pressure=1.0, steps=400)
    print(r.summary())        # G, V, a, b, c, P with error bars; one line per cell update

At fixed cell the NCT engine gives F and the full stress tensor (potential part plus the
kinetic part -2 K_ab / Omega, :func:`qfe.nct.observables.stress`).  The cell is updated by
quasi-Newton steps on the stress, the phonon basis is re-derived at the new cell, and the
trained flow and occupations carry over (a warm start: the flow acts on dimensionless mode
coordinates, which change little from one cell to the next).  The loop stops when the
measured pressure is within ``tolerance_sigma`` error bars of the target (and within
``pressure_tolerance`` GPa when the error bar is smaller than that).  At the last cell
G = F + P* Omega: a residual |P - P*| shifts G only in second order, (P - P*)^2 Omega/(2 B).

Cell updates (strain epsilon_a along each axis, stiffness 3 B with B the bulk modulus):

- ``relax="isotropic"`` (cubic cells): Omega -> Omega (1 + (P - P*) / B), all lengths alike;
- ``relax="axes"`` (orthorhombic cells): L_a -> L_a (1 + (P_aa - P*) / (3 B)) per axis, with
  P_aa = -sigma_aa.  3 B >= C11 for ordinary solids, so these per-axis steps undershoot and
  converge monotonically.
- ``relax="full"`` (any cell, shape included): h -> h (1 + epsilon) with the symmetric strain
  epsilon_ab = (P_ab - P* delta_ab) / (3 B), P_ab = -(sigma_ab + sigma_ba) / 2; shear steps
  undershoot as well (C44 < 3 B).

With ``axes`` and ``full`` the run also needs every relaxed component of P_ab - P* delta_ab
within 3 of its error bars (or ``pressure_tolerance``): the mean pressure alone can be right
while the axes are not.

B starts from the static lattice (finite differences of the static pressure, or
``bulk_modulus`` in GPa) and is updated by secants between successive cells when their
pressures differ by more than three combined error bars.

With ``output_dir`` every cell trains in ``output_dir/cell-NN`` (checkpointed by the trainer)
and the cell history is kept in ``output_dir/npt.json`` (written atomically); a run started
again resumes from there without repeating any finished cell.

Units: GPa for pressures, A^3/atom for volumes, A for lengths, meV/atom for reports.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import qfe._jax
from qfe import units
from qfe._io import write_json_atomic

NPT_JSON = "npt.json"
RELAX_MODES = ("isotropic", "axes", "full")
COMPONENT_SIGMA = 3.0        # error bars allowed per relaxed stress component (axes, full)


@dataclass
class NPTResult:
    """Outcome of :func:`run_npt`.  Energies in meV/atom, volumes in A^3/atom, GPa."""

    temperature: float
    pressure: float                          # target P*, GPa
    natoms: int
    relax: str
    converged: bool
    G: tuple                                 # (value, error) meV/atom, at the last cell
    F: tuple                                 # (value, error) meV/atom, at the last cell
    volume: tuple                            # (value, error) A^3/atom
    lattice: list                            # |a|, |b|, |c| of the last cell, A
    cell: list                               # last cell (3, 3), A, rows = lattice vectors
    measured_pressure: tuple                 # (value, error) GPa at the last cell
    bulk_modulus: float                      # the last estimate used for the steps, GPa
    iterations: list = field(default_factory=list)   # one dict per cell
    final: object = None                     # NCTResult of the last cell
    params: list | None = None               # trained parameter leaves of the last cell
                                             # (warm start of a neighbouring T or P)

    def summary(self) -> str:
        lines = [f"NCT at constant pressure: {self.natoms} atoms, T = {self.temperature:g} K, "
                 f"P* = {self.pressure:g} GPa, {self.relax} cell updates"]
        lines.append(f"  {'cell':>4} {'V (A^3/atom)':>13} {'P (GPa)':>18} "
                     f"{'F (meV/atom)':>22} {'steps':>6}")
        for it in self.iterations:
            lines.append(f"  {it['index']:>4} {it['volume']:13.5f} {it['pressure']:10.4f} +- "
                         f"{it['pressure_err']:.4f} {it['F']:13.4f} +- {it['F_err']:.4f} "
                         f"{it['steps']:>6}")
        state = "converged" if self.converged else "NOT converged"
        lines.append(f"  pressure {state}: P = {self.measured_pressure[0]:.4f} +- "
                     f"{self.measured_pressure[1]:.4f} GPa")
        lines.append(f"  {'Gibbs energy G':<16} {self.G[0]:14.4f} +- {self.G[1]:.4f} meV/atom")
        lines.append(f"  {'free energy F':<16} {self.F[0]:14.4f} +- {self.F[1]:.4f} meV/atom")
        lines.append(f"  {'volume V':<16} {self.volume[0]:14.5f} +- {self.volume[1]:.5f} "
                     f"A^3/atom")
        lines.append(f"  {'lattice |a,b,c|':<16} " + " ".join(f"{x:.5f}" for x in self.lattice)
                     + " A")
        lines.append(f"  {'bulk modulus B':<16} {self.bulk_modulus:14.3f} GPa (step estimate)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"temperature_K": self.temperature, "pressure_GPa": self.pressure,
                "natoms": self.natoms, "relax": self.relax, "converged": self.converged,
                "G_meV_per_atom": list(self.G), "F_meV_per_atom": list(self.F),
                "volume_A3_per_atom": list(self.volume), "lattice_A": list(self.lattice),
                "cell_A": [list(map(float, r)) for r in self.cell],
                "measured_pressure_GPa": list(self.measured_pressure),
                "bulk_modulus_GPa": self.bulk_modulus, "iterations": self.iterations}

    def to_json(self, path) -> Path:
        return write_json_atomic(path, self.to_dict())

    def plot(self, path) -> Path:
        """Pressure against volume over the cell updates, with the target line."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        v = [it["volume"] for it in self.iterations]
        p = [it["pressure"] for it in self.iterations]
        pe = [it["pressure_err"] for it in self.iterations]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.errorbar(v, p, yerr=pe, marker="o", lw=1, capsize=3)
        for it in self.iterations:
            ax.annotate(str(it["index"]), (it["volume"], it["pressure"]), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
        ax.axhline(self.pressure, color="k", ls="--", lw=1, label="target P*")
        ax.set_xlabel("volume (A$^3$/atom)")
        ax.set_ylabel("NCT pressure (GPa)")
        ax.set_title(f"T = {self.temperature:g} K")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)


def _potential_factory(potential):
    """atoms -> Potential.  A Potential instance cannot follow the cell (its neighbour data
    and reference belong to one cell), so NPT needs a spec string or a factory."""
    import qfe.potentials as pots
    from qfe.nct.api import make_potential

    if isinstance(potential, pots.Potential):
        raise ValueError("run_npt needs the potential as a spec string (e.g. 'default', a "
                         "model file, 'quasi-harmonic:...') or a callable atoms -> Potential, "
                         "not a Potential instance: the potential is rebuilt at every cell")
    if isinstance(potential, str):
        return lambda atoms: make_potential(potential, atoms)
    if callable(potential):
        return potential
    raise ValueError(f"potential must be a spec string or a callable atoms -> Potential, got "
                     f"{potential!r}")


def _scaled(atoms, cell):
    out = atoms.copy()
    out.set_cell(np.asarray(cell), scale_atoms=True)
    return out


def static_pressure(factory, atoms) -> float:
    """Pressure of the static lattice (atoms at their sites), GPa."""
    import jax.numpy as jnp

    pot = factory(atoms)
    s = np.asarray(pot.stress(jnp.asarray(atoms.get_positions()),
                              jnp.asarray(np.asarray(atoms.get_cell()))))
    return float(-np.trace(s) / 3.0 * units.EV_PER_A3_TO_GPA)


def static_bulk_modulus(factory, atoms, strain: float = 0.005) -> float:
    """B = -V dP/dV of the static lattice by central differences in the volume, GPa."""
    cell = np.asarray(atoms.get_cell())
    s = (1.0 + strain) ** (1.0 / 3.0)
    p_plus = static_pressure(factory, _scaled(atoms, cell * s))
    p_minus = static_pressure(factory, _scaled(atoms, cell / s))
    dlnv = 2.0 * np.log(1.0 + strain)
    return float(-(p_plus - p_minus) / dlnv)


def _warm_state(trainer, params_leaves):
    """A fresh training state of ``trainer`` holding the given parameter leaves, except the
    occupations' harmonic ladder hbar w_k / kT, which is this trainer's (new cell, new
    temperature): the learned ladder scales and logits, the anharmonic corrections to the
    Boltzmann weights, carry over on top of the new harmonic weights."""
    import jax
    import jax.numpy as jnp

    state = trainer.init_state()
    treedef = jax.tree_util.tree_structure(state.params)
    template = jax.tree_util.tree_leaves(state.params)
    if len(params_leaves) != len(template) or any(
            np.shape(a) != np.shape(b) for a, b in zip(params_leaves, template)):
        raise ValueError("the previous cell's flow does not fit this cell's modes "
                         "(the number of atoms or the flow changed)")
    params = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in params_leaves])
    occupation = {**params["occupation"], "ladder": state.params["occupation"]["ladder"]}
    state.params = {**params, "occupation": occupation}
    state.opt_state = trainer.init_optimizer(state.params)
    state.sampler_state = trainer.sampler.init_state(jax.random.PRNGKey(trainer.config.seed),
                                                     state.params)
    return state


def run_npt(structure, potential, temperature: float | None = None, pressure: float = 0.0,
            config=None, *, relax: str = "isotropic", max_cell_updates: int = 10,
            steps_after_update: int | None = None, bulk_modulus: float | None = None,
            tolerance_sigma: float = 2.0, pressure_tolerance: float = 1e-3,
            max_strain: float = 0.05, warm_start: NPTResult | None = None,
            **options) -> NPTResult:
    """NCT Gibbs energy of a crystal at ``temperature`` (K) and ``pressure`` (GPa).

    ``potential``: a spec string (:func:`qfe.nct.make_potential`) or a callable
    ``atoms -> Potential`` (rebuilt at every cell).  The first cell trains config.steps
    steps; every later one ``steps_after_update`` (default max(steps // 3, 50)) steps from
    the previous cell's flow.  Stops when |P - P*| <= max(tolerance_sigma * sigma_P,
    pressure_tolerance) or after ``max_cell_updates`` updates (then ``converged`` is False
    and a warning says so).  ``bulk_modulus`` (GPa) replaces the static-lattice estimate
    that sizes the first step; ``max_strain`` caps each step's linear strain.
    ``warm_start``: the result of a neighbouring temperature or pressure on the same
    structure: its last cell, flow and bulk modulus start this run, and the first cell
    trains only ``steps_after_update`` steps.
    """
    from qfe.nct.api import _config_from, evaluate_state
    from qfe.nct.phonons import crystal_system, load_structure
    from qfe.nct.trainer import CHECKPOINT_NAME, Trainer, load_checkpoint

    if temperature is not None:
        options = {**options, "temperature": temperature}
    cfg = _config_from(config, options)
    if relax not in RELAX_MODES:
        raise ValueError(f"relax must be one of {RELAX_MODES}, got {relax!r}")
    for name, value, ok in (("max_cell_updates", max_cell_updates, max_cell_updates >= 0),
                            ("tolerance_sigma", tolerance_sigma, tolerance_sigma > 0),
                            ("pressure_tolerance", pressure_tolerance, pressure_tolerance >= 0),
                            ("max_strain", max_strain, 0 < max_strain < 0.5)):
        if not ok:
            raise ValueError(f"run_npt: invalid {name} = {value!r}")
    if not np.isfinite(pressure):
        raise ValueError(f"pressure must be a finite number of GPa, got {pressure!r}")
    if not cfg.compute_stress:
        raise ValueError("run_npt needs compute_stress = True")
    atoms0 = load_structure(structure)
    if not atoms0.pbc.all():
        raise ValueError("run_npt needs a crystal periodic in all three directions")
    natoms = len(atoms0)
    factory = _potential_factory(potential)
    later_steps = max(cfg.steps // 3, 50) if steps_after_update is None else int(steps_after_update)
    if later_steps < 1:
        raise ValueError(f"steps_after_update must be >= 1, got {steps_after_update}")

    out = Path(cfg.output_dir) if cfg.output_dir else None
    record = {"temperature": cfg.temperature, "pressure": float(pressure), "relax": relax,
              "natoms": natoms, "cell": np.asarray(atoms0.get_cell()).tolist(),
              "bulk_modulus": None, "iterations": []}
    if out is not None and cfg.resume and (out / NPT_JSON).is_file():
        stored = json.loads((out / NPT_JSON).read_text())
        for key in ("temperature", "pressure", "relax", "natoms"):
            if stored.get(key) != record[key]:
                raise ValueError(f"{out / NPT_JSON} was made with {key} = {stored.get(key)!r}, "
                                 f"this run has {record[key]!r}; use another output directory "
                                 f"or resume=False")
        record = stored
    if warm_start is not None and not record["iterations"]:
        if warm_start.natoms != natoms or warm_start.params is None:
            raise ValueError("warm_start must be an NPTResult of this structure (same atoms) "
                             "from this session (it carries the trained parameters)")
        record["cell"] = [list(map(float, r)) for r in warm_start.cell]
        if bulk_modulus is None:
            record["bulk_modulus"] = float(warm_start.bulk_modulus)
    if record["bulk_modulus"] is None:
        record["bulk_modulus"] = (float(bulk_modulus) if bulk_modulus is not None
                                  else static_bulk_modulus(factory, atoms0))
        if not record["bulk_modulus"] > 0:
            raise ValueError(f"the static lattice has a non-positive bulk modulus "
                             f"({record['bulk_modulus']:.4g} GPa) at the starting cell; give "
                             f"bulk_modulus (GPa) or start from a stable volume")
    # the first estimate bounds the secant updates (stored, so a resumed run keeps it)
    b_static = record.setdefault("bulk_modulus_static", record["bulk_modulus"])

    previous_params = warm_start.params if warm_start is not None else None
    if record["iterations"] and out is not None:
        last_dir = out / f"cell-{record['iterations'][-1]['index']:02d}"
        previous_params = load_checkpoint(last_dir / CHECKPOINT_NAME)["params"]
    final = None
    converged = bool(record["iterations"]) and record["iterations"][-1]["converged"]
    while not converged and len(record["iterations"]) <= max_cell_updates:
        index = len(record["iterations"])
        cell = np.asarray(record["cell"], float)
        atoms = _scaled(atoms0, cell)
        system = crystal_system(factory(atoms), atoms)
        cell_dir = out / f"cell-{index:02d}" if out is not None else None
        steps = cfg.steps if index == 0 and warm_start is None else later_steps
        cell_cfg = cfg.replace(steps=steps, output_dir=str(cell_dir) if cell_dir else None,
                               baselines=[])
        trainer = Trainer(system, cell_cfg)
        checkpoint = cell_dir / CHECKPOINT_NAME if cell_dir is not None else None
        state = None
        if previous_params is not None and not (checkpoint is not None and cfg.resume
                                                and checkpoint.is_file()):
            state = _warm_state(trainer, previous_params)
        state = trainer.train(state=state, checkpoint=checkpoint)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # per-cell convergence is judged below
            result = evaluate_state(trainer, state, stress_batches=max(cfg.eval_batches, 1))
        p, p_err = result.stress["pressure_GPa"]
        sigma = np.asarray(result.stress["stress_GPa"])
        p_tensor = -0.5 * (sigma + sigma.T)
        p_tensor_err = np.asarray(result.stress["stress_err_GPa"])
        diag = np.diag(p_tensor)
        f, f_err = result.report("F")
        volume = abs(float(np.linalg.det(cell))) / natoms
        done = abs(p - pressure) <= max(tolerance_sigma * p_err, pressure_tolerance)
        if relax != "isotropic":
            relaxed = np.eye(3, dtype=bool) if relax == "axes" else np.ones((3, 3), bool)
            excess = np.abs(p_tensor - pressure * np.eye(3))[relaxed]
            done = done and bool(np.all(excess <= np.maximum(
                COMPONENT_SIGMA * p_tensor_err[relaxed], pressure_tolerance)))
        it = {"index": index, "cell": cell.tolist(), "volume": volume, "pressure": float(p),
              "pressure_err": float(p_err), "pressure_axes": diag.tolist(),
              "pressure_tensor": p_tensor.tolist(), "F": float(f),
              "F_err": float(f_err), "steps": int(state.step), "converged": bool(done),
              "bulk_modulus": float(record["bulk_modulus"])}
        iters = record["iterations"]
        if iters:
            prev = iters[-1]
            dp = p - prev["pressure"]
            dp_err = np.hypot(p_err, prev["pressure_err"])
            dlnv = np.log(volume / prev["volume"])
            if abs(dp) > 3.0 * dp_err and abs(dlnv) > 1e-9:
                b_sec = -dp / dlnv
                record["bulk_modulus"] = float(np.clip(b_sec, 0.25 * b_static, 4.0 * b_static))
        iters.append(it)
        if not done:
            b = record["bulk_modulus"]
            if relax == "isotropic":
                strain = np.eye(3) * (p - pressure) / (3.0 * b)
            elif relax == "axes":
                strain = np.diag(diag - pressure) / (3.0 * b)
            else:
                strain = (p_tensor - pressure * np.eye(3)) / (3.0 * b)
            strain = np.clip(strain, -max_strain, max_strain)
            record["cell"] = (cell @ (np.eye(3) + strain)).tolist()
        converged = done
        previous_params = [np.asarray(x) for x in _param_leaves(state.params)]
        final = result
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out / NPT_JSON, record)

    last = record["iterations"][-1]
    if final is None and out is not None:               # everything was already done
        final = _load_cell_result(out / f"cell-{last['index']:02d}")
    if not converged:
        warnings.warn(f"NPT NCT did not reach P* = {pressure} GPa in {max_cell_updates} cell "
                      f"updates: last P = {last['pressure']:.4f} +- {last['pressure_err']:.4f} "
                      f"GPa; raise max_cell_updates or train longer", stacklevel=2)
    cell = np.asarray(last["cell"], float)
    volume = last["volume"]
    b = record["bulk_modulus"]
    g = last["F"] + pressure * volume / units.EV_PER_A3_TO_GPA * 1e3
    result = NPTResult(
        temperature=cfg.temperature, pressure=float(pressure), natoms=natoms, relax=relax,
        converged=bool(converged), G=(g, last["F_err"]), F=(last["F"], last["F_err"]),
        volume=(volume, volume * last["pressure_err"] / b),
        lattice=np.linalg.norm(cell, axis=1).tolist(), cell=cell.tolist(),
        measured_pressure=(last["pressure"], last["pressure_err"]), bulk_modulus=b,
        iterations=list(record["iterations"]), final=final, params=previous_params)
    if out is not None:
        result.to_json(out / "npt_result.json")
        result.plot(out / "npt_pressure.png")
    return result


def _param_leaves(params) -> list:
    import jax

    return jax.tree_util.tree_leaves(params)


def _load_cell_result(cell_dir: Path):
    """The stored result of a finished cell, for resumed runs (None if it is missing)."""
    from qfe.nct.api import NCTResult

    path = cell_dir / "result.json"
    return NCTResult.from_dict(json.loads(path.read_text())) if path.is_file() else None
