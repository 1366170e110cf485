"""``qfe model build-li``: the default Li DeePMD model, end to end, resumable.

Stages (each skipped when its outputs exist, so an interrupted build resumes):

1. ``configs``  bcc/fcc/hcp lattices, random displacements, strained cells (host) and
   Langevin MD snapshots with the Li SNAP teacher in LAMMPS (parallel workers)
2. ``labels``   teacher energies, forces, virials (LAMMPS, SNAP)
3. ``data``     train/validation split, deepmd-kit npy systems
4. ``train``    ``dp --tf train`` (resumes from its checkpoint)
5. ``freeze``   ``dp --tf freeze`` -> model.pb, ``dp convert-backend`` -> model.dp
6. ``validate`` held-out errors, phonons, bcc-fcc energy, plots -> report.json, plots/

Work files live in ``workdir``; the deliverables (model.pb, model.dp, input.json,
data_settings.json, report.json, plots/) are copied to ``output``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from qfe._io import atomic_write
from qfe.potentials.li_model import sampling
from qfe.potentials.li_model.dataset import split_indices, write_system
from qfe.potentials.li_model.settings import BuildSettings
from qfe.potentials.li_model.training import (
    freeze_and_convert,
    run_training,
    training_input,
    write_json,
)

STAGES = ("configs", "labels", "data", "train", "freeze", "validate")


def _save_npz(path: Path, **arrays) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def _log(msg: str) -> None:
    print(f"[qfe build-li {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class LithiumModelBuild:
    """The build in ``workdir`` with ``settings``; :meth:`run` executes the stages."""

    def __init__(self, workdir, output, settings: BuildSettings | None = None):
        self.workdir = Path(workdir).resolve()
        self.output = Path(output).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        saved = self.workdir / "data_settings.json"
        if settings is None:
            settings = BuildSettings.load(saved) if saved.exists() else BuildSettings()
        elif saved.exists() and BuildSettings.load(saved).to_dict() != settings.to_dict():
            prev = BuildSettings.load(saved).to_dict()
            changed = sorted(k for k, v in settings.to_dict().items() if prev.get(k) != v)
            raise ValueError(f"{self.workdir} holds a build with different settings "
                             f"(changed: {changed}); use a fresh work directory")
        self.settings = settings
        settings.save(saved)
        self.timings: dict = {}
        timing_file = self.workdir / "timings.json"
        if timing_file.exists():
            import json

            self.timings = json.loads(timing_file.read_text())

    # ---------------------------------------------------------------- stages
    def run(self, stages=STAGES) -> dict | None:
        for stage in STAGES:
            if stage not in stages:
                continue
            t0 = time.time()
            did = getattr(self, f"stage_{stage}")()
            if did:
                self.timings[stage] = round(time.time() - t0, 1)
                write_json(self.workdir / "timings.json", self.timings)
        report = self.output / "report.json"
        if report.exists():
            import json

            return json.loads(report.read_text())
        return None

    def stage_configs(self) -> bool:
        s = self.settings
        cdir = self.workdir / "configs"
        (cdir / "md").mkdir(parents=True, exist_ok=True)
        did = False
        for phase in s.phases:
            if all((cdir / f"{phase}_{k}.npz").exists() for k in ("lattice", "displaced",
                                                                  "strained")):
                continue
            for kind, arrays in sampling.static_configurations(s, phase).items():
                _save_npz(cdir / f"{phase}_{kind}.npz", **arrays)
            did = True
        tasks = [t for t in sampling.md_tasks(s) if not (cdir / "md" / f"{t['name']}.npz").exists()]
        if tasks:
            did = True
            _log(f"configs: {len(tasks)} Langevin MD runs with the SNAP teacher "
                 f"({s.workers} workers)")
            self._run_md(tasks, cdir / "md")
        if did:
            _log("configs: done")
        return did

    def _run_md(self, tasks, md_dir: Path) -> None:
        from tqdm import tqdm

        s = self.settings
        bar = tqdm(total=len(tasks), desc="MD sampling", unit="run")
        if s.workers <= 1:
            for t in tasks:
                res = sampling.run_md_task(t, s)
                _save_npz(md_dir / f"{t['name']}.npz", **_md_arrays(res))
                bar.update()
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with ctx.Pool(s.workers) as pool:
                args = [(t, s.to_dict()) for t in tasks]
                for res in pool.imap_unordered(sampling._md_worker, args):
                    _save_npz(md_dir / f"{res['name']}.npz", **_md_arrays(res))
                    bar.update()
        bar.close()

    def _groups(self):
        """(group name, configs dict) for every phase and kind."""
        s = self.settings
        cdir = self.workdir / "configs"
        for phase in s.phases:
            for kind in ("lattice", "displaced", "strained"):
                with np.load(cdir / f"{phase}_{kind}.npz") as z:
                    yield f"{phase}_{kind}", {k: z[k] for k in z.files}
            parts = []
            for t in sampling.md_tasks(s):
                if t["phase"] == phase:
                    with np.load(cdir / "md" / f"{t['name']}.npz") as z:
                        parts.append({k: z[k] for k in z.files})
            yield f"{phase}_md", {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def stage_labels(self) -> bool:
        from tqdm import tqdm

        from qfe.potentials.lammps_potential import lithium_snap_potential

        ldir = self.workdir / "labels"
        ldir.mkdir(exist_ok=True)
        todo = [(name, g) for name, g in self._groups() if not (ldir / f"{name}.npz").exists()]
        if not todo:
            return False
        total = sum(len(g["positions"]) for _, g in todo)
        bar = tqdm(total=total, desc="teacher labels", unit="config")
        teachers = {}
        for name, g in todo:
            n = g["positions"].shape[1]
            if n not in teachers:
                teachers[n] = lithium_snap_potential(symbols=["Li"] * n,
                                                     positions=g["positions"][0],
                                                     cell=g["cells"][0])
            lab = teachers[n].compute_batch(g["positions"], g["cells"], progress=bar.update)
            _save_npz(ldir / f"{name}.npz", **g, **lab)
        bar.close()
        for t in teachers.values():
            t.close()
        _log(f"labels: {total} configurations labelled with SNAP")
        return True

    def stage_data(self) -> bool:
        ddir = self.workdir / "data"
        if (ddir / "DATA_DONE").exists():
            return False
        s = self.settings
        counts = {}
        for phase in s.phases:
            for kind in sampling.KINDS:
                name = f"{phase}_{kind}"
                with np.load(self.workdir / "labels" / f"{name}.npz") as z:
                    lab = {k: z[k] for k in z.files}
                rng = sampling.rng_for(s, "split", name)
                train, valid = split_indices(len(lab["energy"]), s.validation_fraction, rng)
                for part, idx in (("train", train), ("valid", valid)):
                    write_system(ddir / part / name, lab["positions"][idx], lab["cells"][idx],
                                 lab["energy"][idx], lab["forces"][idx], lab["virial"][idx])
                    np.savez(ddir / part / name / "meta.npz", volume=lab["volume"][idx],
                             temperature=lab["temperature"][idx])
                counts[name] = {"train": int(len(train)), "valid": int(len(valid)),
                                "natoms": int(lab["positions"].shape[1])}
        write_json(ddir / "counts.json", counts)
        (ddir / "DATA_DONE").write_text("ok\n")
        ntr = sum(c["train"] for c in counts.values())
        nva = sum(c["valid"] for c in counts.values())
        _log(f"data: {ntr} training and {nva} held-out configurations")
        return True

    def systems(self, part: str) -> list[Path]:
        return sorted(p for p in (self.workdir / "data" / part).iterdir() if p.is_dir())

    def stage_train(self) -> bool:
        from tqdm import tqdm

        tdir = self.workdir / "train"
        if (tdir / "TRAINING_DONE").exists():
            return False
        tdir.mkdir(exist_ok=True)
        inp = training_input(self.settings, self.systems("train"), self.systems("valid"))
        write_json(tdir / "input.json", inp)
        _log(f"train: dp --tf train, {self.settings.training_steps} steps "
             f"({self.settings.training_threads} threads); log in {tdir / 'train.log'}")
        bar = tqdm(total=self.settings.training_steps, desc="dp train", unit="step")

        def progress(step, total):
            bar.n = min(step, total)
            bar.refresh()

        try:
            run_training(tdir, self.settings, progress)
        finally:
            bar.close()
        return True

    def stage_freeze(self) -> bool:
        if (self.output / "model.pb").exists() and (self.output / "model.dp").exists():
            return False
        tdir = self.workdir / "train"
        pb, dpf = freeze_and_convert(tdir, self.output)
        inp = training_input(self.settings, [], [])
        # ship the input with portable system names instead of work-dir paths
        inp["training"]["training_data"]["systems"] = [p.name for p in self.systems("train")]
        inp["training"]["validation_data"]["systems"] = [p.name for p in self.systems("valid")]
        write_json(self.output / "input.json", inp)
        self.settings.save(self.output / "data_settings.json")
        shutil.copyfile(tdir / "lcurve.out", self.output / "lcurve.out")
        _log(f"freeze: {pb} ({pb.stat().st_size / 1e6:.2f} MB), {dpf}")
        return True

    def stage_validate(self) -> bool:
        if (self.output / "report.json").exists():
            return False
        from qfe.potentials.li_model.validation import validate_build

        report = validate_build(self)
        report["build_timings_s"] = dict(self.timings)
        write_json(self.output / "report.json", report)
        _log(f"validate: report in {self.output / 'report.json'}")
        return True


def _md_arrays(res: dict) -> dict:
    return {k: res[k] for k in ("positions", "cells", "volume", "temperature")}


def build_lithium_model(workdir="runs/li-build", output=None, settings=None,
                        stages=STAGES) -> dict | None:
    """Run (or resume) the build; returns the validation report (dict) when finished."""
    output = Path(workdir) / "model" if output is None else output
    return LithiumModelBuild(workdir, output, settings).run(stages)
