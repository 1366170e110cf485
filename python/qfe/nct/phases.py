"""Quantum phase comparison at constant pressure: G(T) of several structures, Delta G and the
crossing temperature (``qfe phases``, :func:`compare_phases`).

    qfe phases bcc.vasp fcc.vasp --potential default --pressure 1 --temperatures 50:300:25 \\
        --steps 400 --output runs/li-1GPa

For every structure and temperature, :func:`qfe.nct.npt.run_npt` gives the NCT Gibbs energy
G = F + P* V at the pressure P*; successive temperatures start from the previous one's cell
and trained flow (warm start).  Beside it, in the same run:

- ``static``: the static lattice, H = min_V [E0(V) + P* V] (no zero-point motion);
- ``harmonic``: the quantum harmonic G at that static volume (no thermal expansion, no
  anharmonicity; not defined when the static lattice has imaginary modes);
- ``qha`` (opt-in; one Hessian per grid volume): the quasi-harmonic G from phonopy,
  min_V [E0(V) + F_harm(V, T) + P* V] on 9 isotropically scaled cells from 0.95 to 1.12 times
  the static volume (:func:`qfe.nct.qha.quasi_harmonic_gibbs`; thermal expansion and zero-point
  expansion, no anharmonicity; fitted on the stable volumes only where some have imaginary
  modes);
- ``gaussian`` / ``occupations`` (opt-in, one training each per point): the SCHA and the
  occupations-only ansatz at the NCT volume, F + P* V.  G is stationary in V only for the
  ansatz it was minimised with, so these are upper bounds whose volume error enters at second
  order.

Delta G(T) = G_a - G_b for every pair against the first structure, with errors from the two
independent runs, and the crossing temperature where Delta G changes sign: linear interpolation
between the two grid temperatures that bracket it, with the error propagated from the two
Delta G error bars, sigma_T = h sqrt(d2^2 s1^2 + d1^2 s2^2) / (d2 - d1)^2 (h the grid step).
A grid fine enough that Delta G is linear between neighbours is the user's choice; the
interpolation error is not in sigma_T.

Output (``output_dir``): ``phases.json`` (everything), ``phases.csv`` (one row per structure
and temperature), ``phases.png`` (G - G[first] against T with error bands, baselines dashed),
and one resumable ``run_npt`` directory per structure and temperature (and the QHA volume
grid, ``<label>/qha-grid-P<P>.npz``), so a run started again continues where it stopped.
Units: K, GPa, meV/atom, A^3/atom.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import qfe._jax
from qfe import units
from qfe._io import write_json_atomic

QHA_VOLUME_RANGE = (0.95, 1.12)     # QHA volume grid, fractions of the static volume
PHASE_BASELINES = ("static", "harmonic", "qha", "gaussian", "occupations")


def crossing_from_grid(temperatures, delta_g, delta_g_err) -> dict:
    """Temperature where Delta G changes sign (linear interpolation between grid points),
    with its propagated error.  Returns {"temperature": K or None, "error": K or None,
    "bracket": [T1, T2] or None, "n_crossings": int}."""
    t = np.asarray(temperatures, float)
    d = np.asarray(delta_g, float)
    s = np.asarray(delta_g_err, float)
    if not (t.shape == d.shape == s.shape) or t.ndim != 1:
        raise ValueError(f"need equal 1D arrays, got shapes {t.shape}, {d.shape}, {s.shape}")
    order = np.argsort(t)
    t, d, s = t[order], d[order], s[order]
    changes = [i for i in range(len(t) - 1) if np.sign(d[i]) != np.sign(d[i + 1])]
    out = {"temperature": None, "error": None, "bracket": None, "n_crossings": len(changes)}
    if not changes:
        return out
    i = changes[0]
    h = t[i + 1] - t[i]
    d1, d2 = d[i], d[i + 1]
    if d1 == d2:                                   # both zero
        out.update(temperature=float(t[i]), error=float(h), bracket=[float(t[i]),
                                                                     float(t[i + 1])])
        return out
    t_star = t[i] - d1 * h / (d2 - d1)
    err = h * np.sqrt(d2**2 * s[i] ** 2 + d1**2 * s[i + 1] ** 2) / (d2 - d1) ** 2
    out.update(temperature=float(t_star), error=float(err),
               bracket=[float(t[i]), float(t[i + 1])])
    return out


def static_enthalpy(factory, atoms, pressure: float, tol: float = 1e-5,
                    max_iter: int = 50) -> dict:
    """Static lattice at pressure P (GPa): isotropic Newton steps on the static pressure.
    Returns {"volume": A^3/atom, "H": meV/atom, "atoms": the scaled Atoms}."""
    import jax.numpy as jnp

    from qfe.nct.npt import _scaled, static_bulk_modulus, static_pressure

    cell = np.asarray(atoms.get_cell())
    current = atoms
    # one bulk modulus for all steps (each estimate costs two potential builds): the steps
    # then converge linearly instead of quadratically, to the same tolerance
    b = static_bulk_modulus(factory, current)
    if not b > 0:
        raise ValueError(f"the static lattice is unstable under compression (B = {b:.3g} "
                         f"GPa at {current.get_volume() / len(current):.3f} A^3/atom)")
    for _ in range(max_iter):
        p = static_pressure(factory, current)
        if abs(p - pressure) < tol:
            break
        dlnv = float(np.clip((p - pressure) / b, -0.1, 0.1))
        cell = cell * np.exp(dlnv / 3.0)
        current = _scaled(atoms, cell)
    else:
        raise RuntimeError(f"static lattice did not reach P = {pressure} GPa in {max_iter} "
                           f"steps (last {p:.4g} GPa)")
    n = len(current)
    pot = factory(current)
    e0 = float(pot.energy(jnp.asarray(current.get_positions()), jnp.asarray(cell)))
    v = current.get_volume() / n
    h = (e0 / n + pressure * v / units.EV_PER_A3_TO_GPA) * units.EV_TO_MEV
    return {"volume": v, "H": h, "atoms": current}


@dataclass
class PhaseComparison:
    """Result of :func:`compare_phases`.  meV/atom, K, GPa, A^3/atom."""

    pressure: float
    temperatures: list
    phases: dict                        # label -> {"G": [...], "G_err", "V", "V_err", ...}
    delta_g: dict = field(default_factory=dict)     # "a-b" -> {"value": [...], "error", ...}
    crossings: dict = field(default_factory=dict)   # "a-b" -> crossing_from_grid(...)

    def summary(self) -> str:
        labels = list(self.phases)
        lines = [f"Quantum (NCT) Gibbs energies at P = {self.pressure:g} GPa (meV/atom)"]
        head = f"  {'T (K)':>7}" + "".join(f" {lab + ' G':>24} {'V':>9}" for lab in labels)
        lines.append(head)
        for i, t in enumerate(self.temperatures):
            row = f"  {t:7.1f}"
            for lab in labels:
                ph = self.phases[lab]
                row += f" {ph['G'][i]:14.4f} +- {ph['G_err'][i]:6.4f} {ph['V'][i]:9.4f}"
            lines.append(row)
        for name, dg in self.delta_g.items():
            lines.append(f"  Delta G ({name}): " + ", ".join(
                f"{t:g} K: {v:+.3f} +- {e:.3f}" for t, v, e in
                zip(self.temperatures, dg["value"], dg["error"])))
            c = self.crossings[name]
            if c["temperature"] is None:
                lines.append(f"  no crossing of {name} in {self.temperatures[0]:g}-"
                             f"{self.temperatures[-1]:g} K")
            else:
                lines.append(f"  crossing {name}: T* = {c['temperature']:.1f} +- "
                             f"{c['error']:.1f} K (between {c['bracket'][0]:g} and "
                             f"{c['bracket'][1]:g} K)")
            for base, bc in dg.get("baseline_crossings", {}).items():
                tb = "none in range" if bc["temperature"] is None else \
                    f"{bc['temperature']:.1f} +- {bc['error']:.1f} K"
                lines.append(f"    {base} crossing: {tb}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"pressure_GPa": self.pressure, "temperatures_K": self.temperatures,
                "units": "G, H in meV/atom; V in A^3/atom; T in K; P in GPa",
                "phases": self.phases, "delta_g": self.delta_g, "crossings": self.crossings}

    def write(self, out) -> None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "phases.json", self.to_dict())
        with open(out / "phases.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            bases = sorted({b for ph in self.phases.values() for b in ph["baselines"]})
            w.writerow(["phase", "T [K]", "G [meV/atom]", "G_err [meV/atom]",
                        "V [A^3/atom]", "V_err [A^3/atom]", "P [GPa]", "P_err [GPa]",
                        "converged"] + [f"G_{b} [meV/atom]" for b in bases])
            for lab, ph in self.phases.items():
                for i, t in enumerate(self.temperatures):
                    w.writerow([lab, t, ph["G"][i], ph["G_err"][i], ph["V"][i], ph["V_err"][i],
                                ph["P"][i], ph["P_err"][i], ph["converged"][i]]
                               + [ph["baselines"].get(b, [None] * len(self.temperatures))[i]
                                  for b in bases])
        self.plot(out / "phases.png")

    def plot(self, path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = list(self.phases)
        ref = self.phases[labels[0]]
        t = np.asarray(self.temperatures)
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, lab in enumerate(labels):
            ph = self.phases[lab]
            g = np.asarray(ph["G"]) - np.asarray(ref["G"])
            e = np.hypot(ph["G_err"], ref["G_err"]) if i else np.zeros_like(g)
            ax.errorbar(t, g, yerr=e, marker="o", color=f"C{i}", capsize=3,
                        label=f"{lab} (NCT)")
            for j, (base, vals) in enumerate(sorted(ph["baselines"].items())):
                rb = ref["baselines"].get(base)
                if rb is None or any(v is None for v in vals + rb):
                    continue
                style = ["--", ":", "-.", (0, (1, 3))][j % 4]
                ax.plot(t, np.asarray(vals) - np.asarray(rb), ls=style, color=f"C{i}", lw=1,
                        label=f"{lab} ({base})" if i else None)
        for name, c in self.crossings.items():
            if c["temperature"] is not None:
                ax.axvspan(c["temperature"] - c["error"], c["temperature"] + c["error"],
                           color="grey", alpha=0.2)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_xlabel("T (K)")
        ax.set_ylabel(f"G - G[{labels[0]}] (meV/atom)")
        ax.set_title(f"P = {self.pressure:g} GPa")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)


def _harmonic_g(factory, static_atoms, temperature, pressure, h_static):
    """Quantum harmonic G at the static volume (meV/atom), or None with imaginary modes."""
    from qfe.nct.phonons import crystal_system

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        system = crystal_system(factory(static_atoms), static_atoms)
    if np.any(system.imaginary):
        return None
    n = system.natoms
    f_vib = system.harmonic_free_energy(temperature) - system.v0
    return h_static + f_vib / n * units.EV_TO_MEV


def compare_phases(structures, potential, pressure: float, temperatures, config=None, *,
                   labels=None, baselines=("static", "harmonic"), output_dir=None,
                   npt_options: dict | None = None, **options) -> PhaseComparison:
    """NCT G(T) at ``pressure`` (GPa) for every structure on the ``temperatures`` grid (K),
    Delta G against the first structure and the crossing temperatures.

    ``potential``: a spec string or a callable ``atoms -> Potential`` (as
    :func:`qfe.nct.run_npt`), or a list of them, one per structure.  ``config``/``options``:
    NCT options (:class:`NCTConfig`); ``npt_options``: keyword arguments of ``run_npt``
    (``relax``, ``steps_after_update``, ``max_cell_updates``, ...).  ``baselines``: any of
    ``static``, ``harmonic``, ``qha``, ``gaussian``, ``occupations``.
    """
    from qfe.nct.api import _config_from, baseline
    from qfe.nct.npt import _potential_factory, run_npt
    from qfe.nct.phonons import crystal_system, load_structure
    from qfe.nct.qha import load_grid, quasi_harmonic_gibbs, save_grid, volume_grid

    cfg = _config_from(config, options)
    structures = list(structures)
    if len(structures) < 2:
        raise ValueError(f"compare_phases needs at least two structures, got {len(structures)}")
    temps = sorted(float(t) for t in temperatures)
    if not temps or temps[0] <= 0:
        raise ValueError(f"temperatures must be positive K, got {temperatures!r}")
    bad = [b for b in baselines if b not in PHASE_BASELINES]
    if bad:
        raise ValueError(f"unknown baseline {bad[0]!r}; choose from {PHASE_BASELINES}")
    pots = list(potential) if isinstance(potential, (list, tuple)) else [potential] * len(
        structures)
    if len(pots) != len(structures):
        raise ValueError(f"{len(pots)} potentials for {len(structures)} structures")
    if labels is None:
        labels = [Path(s).stem if isinstance(s, (str, Path)) else
                  s.get_chemical_formula() + f"-{i}" for i, s in enumerate(structures)]
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"structure labels must differ, got {labels}")
    out = Path(output_dir) if output_dir else (Path(cfg.output_dir) if cfg.output_dir else None)
    npt_options = dict(npt_options or {})

    phases = {}
    for label, structure, pot in zip(labels, structures, pots):
        atoms = load_structure(structure)
        factory = _potential_factory(pot)
        ph = {"natoms": len(atoms), "G": [], "G_err": [], "V": [], "V_err": [], "P": [],
              "P_err": [], "F": [], "F_err": [], "converged": [], "cells": [],
              "baselines": {b: [] for b in baselines}}
        static = None
        if {"static", "harmonic", "qha"} & set(baselines):
            static = static_enthalpy(factory, atoms, pressure)
            ph["static_volume"] = static["volume"]
        if "qha" in baselines:
            # the Hessians are the cost: kept in the output directory for a resumed run
            grid_file = out / label / f"qha-grid-P{pressure:g}.npz" if out is not None else None
            if grid_file is not None and grid_file.is_file():
                grid = load_grid(grid_file)
            else:
                grid = volume_grid(factory, static["atoms"], QHA_VOLUME_RANGE)
                if grid_file is not None:
                    grid_file.parent.mkdir(parents=True, exist_ok=True)
                    save_grid(grid, grid_file)
            qha = quasi_harmonic_gibbs(None, None, temps, pressure, grid=grid)
            ph["baselines"]["qha"] = qha["G"]
            ph["qha"] = {k: qha[k] for k in ("V", "volumes", "E0", "min_frequency_THz",
                                              "eos", "message")}
            if qha["message"]:
                warnings.warn(f"{label}: QHA baseline: {qha['message']}", stacklevel=2)
        previous = None
        for t in temps:
            run_dir = out / label / f"T{t:g}" if out is not None else None
            r = run_npt(atoms, factory, temperature=t, pressure=pressure,
                        config=cfg.replace(output_dir=str(run_dir) if run_dir else None,
                                           temperature=t, baselines=[]),
                        warm_start=previous, **npt_options)
            previous = r
            for key, val in (("G", r.G[0]), ("G_err", r.G[1]), ("V", r.volume[0]),
                             ("V_err", r.volume[1]), ("P", r.measured_pressure[0]),
                             ("P_err", r.measured_pressure[1]), ("F", r.F[0]),
                             ("F_err", r.F[1]), ("converged", r.converged),
                             ("cells", len(r.iterations))):
                ph[key].append(val)
            if "static" in baselines:
                ph["baselines"]["static"].append(static["H"])
            if "harmonic" in baselines:
                ph["baselines"]["harmonic"].append(
                    _harmonic_g(factory, static["atoms"], t, pressure, static["H"]))
            for name in ("gaussian", "occupations"):
                if name not in baselines:
                    continue
                final_atoms = atoms.copy()
                final_atoms.set_cell(np.asarray(r.cell), scale_atoms=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    system = crystal_system(factory(final_atoms), final_atoms)
                b = baseline(system, cfg.replace(temperature=t, output_dir=str(run_dir)
                                                 if run_dir else None), name)
                ph["baselines"][name].append(
                    b["F"][0] / system.natoms * units.EV_TO_MEV
                    + pressure * r.volume[0] / units.EV_PER_A3_TO_GPA * units.EV_TO_MEV)
        phases[label] = ph

    result = PhaseComparison(pressure=float(pressure), temperatures=temps, phases=phases)
    ref = labels[0]
    for lab in labels[1:]:
        name = f"{ref}-{lab}"
        a, b = phases[ref], phases[lab]
        dg = (np.asarray(a["G"]) - np.asarray(b["G"])).tolist()
        err = np.hypot(a["G_err"], b["G_err"]).tolist()
        entry = {"value": dg, "error": err, "baseline_crossings": {}}
        for base in baselines:
            va, vb = a["baselines"][base], b["baselines"][base]
            if any(v is None for v in va + vb):
                continue
            d = (np.asarray(va) - np.asarray(vb)).tolist()
            entry[f"{base}_value"] = d
            entry["baseline_crossings"][base] = crossing_from_grid(temps, d, np.zeros(len(d)))
        result.delta_g[name] = entry
        result.crossings[name] = crossing_from_grid(temps, dg, err)
    if out is not None:
        result.write(out)
    return result
