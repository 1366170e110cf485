"""deepmd-kit training of the default Li model (TensorFlow backend), freezing and conversion.

Runs the real ``dp`` command line (``dp --tf train``, ``dp --tf freeze``,
``dp convert-backend``) in a work directory; progress is read from ``lcurve.out``.
Interrupted training resumes from deepmd-kit's checkpoint (``--restart``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from qfe._io import write_json_atomic
from qfe.potentials.li_model.settings import BuildSettings


def dp_executable() -> str:
    cand = Path(sys.executable).parent / "dp"
    if cand.exists():
        return str(cand)
    found = shutil.which("dp")
    if not found:
        raise FileNotFoundError("deepmd-kit's `dp` command not found (pip install deepmd-kit)")
    return found


def dp_environment(threads: int) -> dict:
    env = dict(os.environ)
    env.update({
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": str(threads),
        "DP_INTRA_OP_PARALLELISM_THREADS": str(threads),
        "DP_INTER_OP_PARALLELISM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    })
    return env


def descriptor_input(settings: BuildSettings) -> dict:
    """se_e2_a over the teacher's cutoff, plus (when ``three_body_rcut`` is set) a short-range
    se_e3 in a hybrid: the same pair of descriptors as the published lithium models."""
    s = settings
    two_body = {
        "type": "se_e2_a", "rcut": s.rcut, "rcut_smth": s.rcut_smth, "sel": [s.sel],
        "neuron": list(s.embedding_neurons), "axis_neuron": s.axis_neuron,
        "resnet_dt": False, "type_one_side": True, "precision": "float64",
        "seed": s.seed % 2**31,
    }
    if s.three_body_rcut is None:
        return two_body
    if not 0.0 < s.three_body_rcut_smth < s.three_body_rcut <= s.rcut:
        raise ValueError(f"need 0 < three_body_rcut_smth ({s.three_body_rcut_smth} A) < "
                         f"three_body_rcut ({s.three_body_rcut} A) <= rcut ({s.rcut} A)")
    three_body = {
        "type": "se_e3", "rcut": s.three_body_rcut, "rcut_smth": s.three_body_rcut_smth,
        "sel": [s.three_body_sel], "neuron": list(s.three_body_neurons), "resnet_dt": False,
        "precision": "float64", "seed": (s.seed + 3) % 2**31,
    }
    return {"type": "hybrid", "list": [two_body, three_body]}


def descriptor_parts(desc: dict) -> list:
    """The plain descriptors of a deepmd-kit descriptor input (the members of a hybrid)."""
    return desc["list"] if desc["type"] == "hybrid" else [desc]


def training_input(settings: BuildSettings, train_systems, valid_systems) -> dict:
    """deepmd-kit input (v2 format) for a small float64 energy model."""
    s = settings
    loss = {
        "type": "ener",
        "start_pref_e": s.pref_e[0], "limit_pref_e": s.pref_e[1],
        "start_pref_f": s.pref_f[0], "limit_pref_f": s.pref_f[1],
        "start_pref_v": s.pref_v[0], "limit_pref_v": s.pref_v[1],
    }
    if s.relative_f is not None:
        loss["relative_f"] = s.relative_f
    return {
        "model": {
            "type_map": ["Li"],
            "descriptor": descriptor_input(s),
            "fitting_net": {
                "neuron": list(s.fitting_neurons), "resnet_dt": True, "precision": "float64",
                "seed": (s.seed + 1) % 2**31,
            },
        },
        "learning_rate": {"type": "exp", "start_lr": s.start_lr, "stop_lr": s.stop_lr,
                          "decay_steps": s.decay_steps},
        "loss": loss,
        "training": {
            "training_data": {"systems": [str(p) for p in train_systems], "batch_size": "auto"},
            "validation_data": {"systems": [str(p) for p in valid_systems],
                                "batch_size": "auto", "numb_btch": 1},
            "numb_steps": s.training_steps,
            "seed": (s.seed + 2) % 2**31,
            "disp_file": "lcurve.out",
            "disp_freq": max(s.training_steps // 200, 10),
            "save_freq": max(s.training_steps // 20, 10),
            "save_ckpt": "model.ckpt",
        },
    }


def _last_step(lcurve: Path) -> int:
    if not lcurve.exists():
        return 0
    last = 0
    with open(lcurve) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                try:
                    last = int(float(line.split()[0]))
                except ValueError:
                    pass
    return last


def run_training(train_dir, settings: BuildSettings, progress=None) -> Path:
    """``dp --tf train input.json`` in ``train_dir`` (which holds input.json); resumes from
    the checkpoint if one exists.  ``progress(step, total)`` is called while it runs."""
    train_dir = Path(train_dir)
    done = train_dir / "TRAINING_DONE"
    if done.exists():
        return train_dir
    cmd = [dp_executable(), "--tf", "train", "input.json"]
    if (train_dir / "checkpoint").exists():
        cmd += ["--restart", "model.ckpt"]
    log = open(train_dir / "train.log", "a")
    proc = subprocess.Popen(cmd, cwd=train_dir, env=dp_environment(settings.training_threads),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        while proc.poll() is None:
            time.sleep(2.0)
            if progress is not None:
                progress(_last_step(train_dir / "lcurve.out"), settings.training_steps)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    finally:
        log.close()
    if proc.returncode != 0:
        tail = (train_dir / "train.log").read_text().splitlines()[-25:]
        raise RuntimeError(f"dp train failed (exit {proc.returncode}); end of "
                           f"{train_dir / 'train.log'}:\n" + "\n".join(tail))
    if progress is not None:
        progress(settings.training_steps, settings.training_steps)
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return train_dir


def _run(cmd, cwd, threads=1):
    res = subprocess.run(cmd, cwd=cwd, env=dp_environment(threads), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed (exit {res.returncode}):\n"
                           + "\n".join((res.stdout + res.stderr).splitlines()[-25:]))
    return res


def freeze_and_convert(train_dir, output_dir) -> tuple[Path, Path]:
    """``dp --tf freeze`` to ``model.pb`` and ``dp convert-backend`` to ``model.dp``."""
    train_dir, output_dir = Path(train_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pb = output_dir / "model.pb"
    dpf = output_dir / "model.dp"
    tmp_pb = train_dir / "frozen_model.pb"
    _run([dp_executable(), "--tf", "freeze", "-c", ".", "-o", str(tmp_pb.name)], cwd=train_dir)
    tmp_dp = train_dir / "frozen_model.dp"
    _run([dp_executable(), "convert-backend", str(tmp_pb.name), str(tmp_dp.name)], cwd=train_dir)
    os.replace(tmp_pb, pb)
    os.replace(tmp_dp, dpf)
    return pb, dpf


def write_json(path, data) -> None:
    write_json_atomic(path, data, indent=2)
