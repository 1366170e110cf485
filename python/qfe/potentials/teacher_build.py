"""``qfe model build``: a DeePMD model learnt from a teacher of :mod:`qfe.teachers`.

First version, structure family ``lah10`` only (Fm-3m LaH10 cells from :mod:`qfe.lah10`):

1. ``configs``  seeded configurations: the primitive (or conventional) Fm-3m cell at each
                lattice parameter, with random homogeneous strains (|e_ij| <= max_strain) and
                Gaussian displacements of every atom (each sigma, ``frames_per`` frames);
2. ``labels``   energy, forces, stress of every configuration from the teacher (ASE), saved
                every 10 frames (resumable);
3. ``data``     train/validation split, deepmd-kit npy systems (type_map La, H; virial =
                -V stress);
4. ``train``    ``dp --tf train`` (se_e2_a, two types, float64), resumable;
5. ``freeze``   ``model.pb`` (+ ``model.dp``);
6. ``validate`` energy/force/virial RMSE on the held-out frames (``report.json``), with the
                spread of the teacher labels for scale.

Not yet: MD sampling with the teacher, distorted (C2/m, P-1) cells, phonon/EOS/enthalpy-order
checks of the Li report.  Units: A, eV, GPa for settings; the teacher's ASE units inside.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STAGES = ("configs", "labels", "data", "train", "freeze", "validate")
SYSTEMS = ("lah10",)


@dataclass
class TeacherBuildSettings:
    """Knobs of ``qfe model build`` (lengths A, strains dimensionless)."""

    seed: int = 20261205
    teacher: str = "chgnet"
    system: str = "lah10"
    type_map: list = field(default_factory=lambda: ["La", "H"])
    # CHGNet Fm-3m: a = 5.415, 5.132, 5.008, 4.914, 4.852 A at 100, 150, 200, 250, 300 GPa
    lattice_parameters: list = field(default_factory=lambda: [4.85, 4.95, 5.05, 5.15, 5.3,
                                                              5.45])
    x: float = 0.12
    primitive: bool = True
    displacement_sigmas: list = field(default_factory=lambda: [0.03, 0.06, 0.1])
    frames_per: int = 6
    max_strain: float = 0.02
    validation_fraction: float = 0.15
    rcut: float = 5.0
    rcut_smth: float = 1.0
    sel: list = field(default_factory=lambda: [24, 200])
    embedding_neurons: list = field(default_factory=lambda: [16, 32])
    axis_neuron: int = 8
    fitting_neurons: list = field(default_factory=lambda: [64, 64])
    training_steps: int = 50000
    start_lr: float = 2e-3
    stop_lr: float = 2e-5
    decay_steps: int = 500
    pref_e: list = field(default_factory=lambda: [0.02, 1.0])
    pref_f: list = field(default_factory=lambda: [1000.0, 1.0])
    pref_v: list = field(default_factory=lambda: [0.02, 1.0])
    training_threads: int = 1

    @classmethod
    def quick(cls, **kw) -> TeacherBuildSettings:
        """A tiny smoke-test build (minutes on one core); the model is NOT accurate."""
        base = dict(lattice_parameters=[4.9, 5.1, 5.3], displacement_sigmas=[0.04, 0.08],
                    frames_per=3, rcut=4.0, rcut_smth=1.0, sel=[16, 120],
                    embedding_neurons=[8, 16], axis_neuron=4, fitting_neurons=[32, 32],
                    training_steps=600, decay_steps=50, validation_fraction=0.2)
        base.update(kw)
        return cls(**base)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TeacherBuildSettings:
        from qfe.potentials.li_model.settings import settings_from_dict

        return settings_from_dict(cls, d)

    def check(self) -> None:
        if self.system not in SYSTEMS:
            raise ValueError(f"unknown system {self.system!r}; known: {', '.join(SYSTEMS)}")
        if len(self.sel) != len(self.type_map):
            raise ValueError(f"sel {self.sel} needs one entry per type {self.type_map}")
        if not 0 < self.rcut_smth < self.rcut:
            raise ValueError(f"need 0 < rcut_smth ({self.rcut_smth}) < rcut ({self.rcut})")


def configurations(s: TeacherBuildSettings) -> list:
    """The seeded ``ase.Atoms`` configurations of the build (see the module doc)."""
    from qfe.lah10 import lah10_fm3m, strained

    s.check()
    rng = np.random.default_rng(s.seed)
    out = []
    for a in s.lattice_parameters:
        ideal = lah10_fm3m(a, s.x, primitive=s.primitive)
        out.append(ideal.copy())
        for sigma in s.displacement_sigmas:
            for _ in range(s.frames_per):
                e = rng.uniform(-s.max_strain, s.max_strain, (3, 3))
                at = strained(ideal, np.eye(3) + 0.5 * (e + e.T))
                at.positions += rng.normal(0.0, sigma, at.positions.shape)
                at.wrap()
                out.append(at)
    return out


def training_input(s: TeacherBuildSettings, train_systems, valid_systems) -> dict:
    """deepmd-kit input (v2) of a two-type se_e2_a float64 energy model."""
    return {
        "model": {
            "type_map": list(s.type_map),
            "descriptor": {"type": "se_e2_a", "rcut": s.rcut, "rcut_smth": s.rcut_smth,
                           "sel": list(s.sel), "neuron": list(s.embedding_neurons),
                           "axis_neuron": s.axis_neuron, "resnet_dt": False,
                           "type_one_side": True, "precision": "float64",
                           "seed": s.seed % 2**31},
            "fitting_net": {"neuron": list(s.fitting_neurons), "resnet_dt": True,
                            "precision": "float64", "seed": (s.seed + 1) % 2**31},
        },
        "learning_rate": {"type": "exp", "start_lr": s.start_lr, "stop_lr": s.stop_lr,
                          "decay_steps": s.decay_steps},
        "loss": {"type": "ener",
                 "start_pref_e": s.pref_e[0], "limit_pref_e": s.pref_e[1],
                 "start_pref_f": s.pref_f[0], "limit_pref_f": s.pref_f[1],
                 "start_pref_v": s.pref_v[0], "limit_pref_v": s.pref_v[1]},
        "training": {
            "training_data": {"systems": [str(p) for p in train_systems], "batch_size": "auto"},
            "validation_data": {"systems": [str(p) for p in valid_systems],
                                "batch_size": "auto", "numb_btch": 1},
            "numb_steps": s.training_steps, "seed": (s.seed + 2) % 2**31,
            "disp_file": "lcurve.out", "disp_freq": max(s.training_steps // 100, 10),
            "save_freq": max(s.training_steps // 10, 10), "save_ckpt": "model.ckpt",
        },
    }


def _log(msg: str) -> None:
    print(f"[qfe model build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class TeacherModelBuild:
    """The build in ``workdir``; :meth:`run` executes the stages (finished ones are skipped)."""

    def __init__(self, workdir, output=None, settings: TeacherBuildSettings | None = None,
                 teacher=None):
        self.workdir = Path(workdir).resolve()
        self.output = Path(output).resolve() if output else self.workdir / "model"
        self.workdir.mkdir(parents=True, exist_ok=True)
        saved = self.workdir / "build_settings.json"
        if settings is None:
            settings = (TeacherBuildSettings.from_dict(json.loads(saved.read_text()))
                        if saved.exists() else TeacherBuildSettings())
        elif saved.exists() and json.loads(saved.read_text()) != settings.to_dict():
            prev = json.loads(saved.read_text())
            changed = sorted(k for k, v in settings.to_dict().items() if prev.get(k) != v)
            raise ValueError(f"{self.workdir} holds a build with different settings "
                             f"(changed: {changed}); use a fresh work directory")
        settings.check()
        self.settings = settings
        saved.write_text(json.dumps(settings.to_dict(), indent=2) + "\n")
        self._teacher = teacher

    @property
    def teacher(self):
        if self._teacher is None:
            from qfe.teachers import get_teacher

            self._teacher = get_teacher(self.settings.teacher)
        return self._teacher

    def run(self, stages=STAGES) -> dict | None:
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
        for stage in STAGES:
            if stage in stages:
                getattr(self, f"stage_{stage}")()
        report = self.output / "report.json"
        return json.loads(report.read_text()) if report.exists() else None

    # ------------------------------------------------------------------ stages
    def stage_configs(self) -> None:
        path = self.workdir / "configs.npz"
        if path.exists():
            return
        confs = configurations(self.settings)
        np.savez(path, positions=np.stack([c.positions for c in confs]),
                 cells=np.stack([c.cell.array for c in confs]),
                 numbers=confs[0].numbers)
        _log(f"configs: {len(confs)} configurations of {len(confs[0])} atoms")

    def _configs(self):
        from ase import Atoms

        d = np.load(self.workdir / "configs.npz")
        return [Atoms(numbers=d["numbers"], positions=p, cell=c, pbc=True)
                for p, c in zip(d["positions"], d["cells"])]

    def stage_labels(self) -> None:
        from tqdm import tqdm

        path = self.workdir / "labels.npz"
        confs = self._configs()
        done = dict(np.load(path)) if path.exists() else {}
        n_done = len(done.get("energy", []))
        if n_done == len(confs):
            return
        e = list(done.get("energy", []))
        f = list(done.get("forces", []))
        st = list(done.get("stress", []))
        _log(f"labels: {len(confs) - n_done} configurations with teacher {self.teacher.name} "
             f"({self.teacher.level_of_theory})")
        for i in tqdm(range(n_done, len(confs)), desc="labelling", unit="frame"):
            lab = self.teacher.label(confs[i])
            e.append(lab["energy"])
            f.append(lab["forces"])
            st.append(lab["stress"])
            if (i + 1) % 10 == 0 or i + 1 == len(confs):
                tmp = self.workdir / "labels.tmp.npz"
                np.savez(tmp, energy=np.array(e), forces=np.array(f), stress=np.array(st))
                tmp.replace(path)

    def stage_data(self) -> None:
        from qfe.potentials.li_model.dataset import split_indices, write_system

        ddir = self.workdir / "data"
        if (ddir / "valid" / "type.raw").exists():
            return
        confs = self._configs()
        lab = np.load(self.workdir / "labels.npz")
        s = self.settings
        rng = np.random.default_rng(s.seed + 7)
        train, valid = split_indices(len(confs), s.validation_fraction, rng)
        pos = np.stack([c.positions for c in confs])
        cells = np.stack([c.cell.array for c in confs])
        vols = np.abs(np.linalg.det(cells))
        virial = -vols[:, None, None] * np.stack([_voigt_to_matrix(v) for v in lab["stress"]])
        symbols = confs[0].get_chemical_symbols()
        types = [s.type_map.index(x) for x in symbols]
        for name, idx in (("train", train), ("valid", valid)):
            write_system(ddir / name, pos[idx], cells[idx], lab["energy"][idx],
                         lab["forces"][idx], virial[idx], type_map=tuple(s.type_map),
                         types=types)
        _log(f"data: {len(train)} training, {len(valid)} validation frames")

    def stage_train(self) -> None:
        from qfe.potentials.li_model.training import run_training

        tdir = self.workdir / "train"
        tdir.mkdir(exist_ok=True)
        ddir = self.workdir / "data"
        inp = training_input(self.settings, [ddir / "train"], [ddir / "valid"])
        (tdir / "input.json").write_text(json.dumps(inp, indent=2) + "\n")
        if not (tdir / "TRAINING_DONE").exists():
            _log(f"train: dp --tf train, {self.settings.training_steps} steps")
        run_training(tdir, self.settings)

    def stage_freeze(self) -> None:
        from qfe.potentials.li_model.training import freeze_and_convert

        if (self.output / "model.pb").exists():
            return
        pb, _ = freeze_and_convert(self.workdir / "train", self.output)
        _log(f"freeze: {pb}")

    def stage_validate(self) -> None:
        from qfe.potentials.li_model.validation import error_summary, evaluate_systems
        from qfe.units import EV_TO_MEV

        ddir = self.workdir / "data"
        pred = evaluate_systems(self.output / "model.pb", [ddir / "valid"])
        summary = error_summary(pred)
        g = next(iter(pred.values()))
        n = g["natoms"]
        teacher_e = g["energy"][1] / n
        summary["teacher_spread"] = {
            "energy_std_meV_per_atom": float(EV_TO_MEV * np.std(teacher_e)),
            "force_rms_eV_per_A": float(np.sqrt(np.mean(g["forces"][1] ** 2))),
        }
        report = {"teacher": self.teacher.name,
                  "level_of_theory": self.teacher.level_of_theory,
                  "system": self.settings.system, "held_out": summary,
                  "settings": self.settings.to_dict()}
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        _log(f"validate: held-out force RMSE {summary['force_rmse_eV_per_A']:.3f} eV/A "
             f"(teacher force rms {summary['teacher_spread']['force_rms_eV_per_A']:.3f}), "
             f"energy RMSE {summary['energy_rmse_meV_per_atom']:.1f} meV/atom "
             f"(teacher spread {summary['teacher_spread']['energy_std_meV_per_atom']:.1f})")


def _voigt_to_matrix(v) -> np.ndarray:
    xx, yy, zz, yz, xz, xy = v
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
