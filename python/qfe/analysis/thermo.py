"""Thermodynamic curves E / (3 N kB) versus T from sets of runs (LAMMPS logs or thermo CSV).

For each run the energy per atom is averaged over the production part (the first ``discard``
fraction of the samples is dropped); its standard error comes from block averaging
(``n_blocks`` consecutive blocks).  The reported quantity is

    (E / N - E0) / (3 kB)      in K,

with E0 the static-lattice energy per atom.  A classical harmonic solid gives exactly T, a
quantum one tends to the zero-point temperature T_zero at T -> 0 (see qfe.analysis.vdos).
E0 is given by the user or taken as the T = 0 intercept of a straight line through the
classical points (``e0="classical-fit"``), which is exact for a harmonic classical solid.

LAMMPS logs: every ``Step ...`` thermo block (one-line style) and ``thermo_style yaml``
block is read; ``units`` and ``thermo_modify norm`` lines in the log decide whether energies
are extensive (metal, real: default) or already per atom (lj default, or ``norm yes``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re

import numpy as np

from qfe import units

__all__ = [
    "ThermoRun",
    "read_lammps_log",
    "read_thermo_csv",
    "ThermoPoint",
    "block_average",
    "thermo_point",
    "parse_run_spec",
    "EnergyCurve",
    "energy_curves",
    "read_points",
    "parse_e0",
    "curves_table",
    "harmonic_curve",
]


@dataclasses.dataclass
class ThermoRun:
    """One thermo block: columns by keyword, number of atoms (None if unknown), per-atom flag."""

    columns: dict
    natoms: int | None
    normalized: bool
    source: str

    def __len__(self):
        return len(next(iter(self.columns.values()))) if self.columns else 0


_NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(nan|inf)$", re.IGNORECASE)


def read_lammps_log(path) -> list[ThermoRun]:
    """All thermo blocks of a LAMMPS log file, in order."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"log file not found: {path}")
    runs: list[ThermoRun] = []
    unit_style, norm = "lj", None
    header, rows, start = None, [], 0
    yaml_keys, in_yaml_data = None, False

    def norm_flag():
        return norm if norm is not None else unit_style == "lj"

    def close(lineno):
        nonlocal header, rows
        if header is not None:
            if not rows:
                raise ValueError(f"{path}:{start}: thermo header without data lines")
            arr = np.array(rows, float)
            runs.append(ThermoRun({k: arr[:, c] for c, k in enumerate(header)}, None, norm_flag(),
                                  f"{path}:{start}"))
        header, rows = None, []

    with open(path, errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            words = line.split()
            if not words:
                continue
            if words[0] == "units" and len(words) >= 2:
                unit_style = words[1]
            elif words[0] == "thermo_modify" and "norm" in words:
                k = words.index("norm")
                if k + 1 < len(words):
                    norm = words[k + 1] == "yes"
            if yaml_keys is not None:
                if words[0] == "data:":
                    in_yaml_data = True
                    continue
                if in_yaml_data and words[0] == "-":
                    vals = line.strip()[1:].strip().strip("[]").split(",")
                    rows.append([float(v) for v in vals if v.strip()])
                    continue
                if words[0] == "...":
                    if not rows:
                        raise ValueError(f"{path}:{start}: yaml thermo block without data")
                    arr = np.array(rows, float)
                    runs.append(ThermoRun({k: arr[:, c] for c, k in enumerate(yaml_keys)}, None,
                                          norm_flag(), f"{path}:{start}"))
                    yaml_keys, in_yaml_data, rows = None, False, []
                continue
            if words[0] == "keywords:":
                yaml_keys = [w.strip().strip("[]'\" ") for w in line.split(":", 1)[1].split(",")]
                yaml_keys = [k for k in yaml_keys if k]
                start, rows = lineno, []
                continue
            if words[0] == "Step" and header is None and len(words) > 1:
                header, rows, start = words, [], lineno
                continue
            if header is not None:
                if words[0] == "Loop":
                    close(lineno)
                    m = re.search(r"with (\d+) atoms", line)
                    if m:
                        runs[-1].natoms = int(m.group(1))
                    continue
                if len(words) == len(header) and all(_NUM.match(w) for w in words):
                    rows.append([float(w) for w in words])
                # other lines (warnings) inside a thermo block are skipped
            elif words[0] == "Loop" and runs and runs[-1].natoms is None:
                m = re.search(r"with (\d+) atoms", line)
                if m:
                    runs[-1].natoms = int(m.group(1))
    if header is not None:       # log cut short (run still going or killed): keep the data
        close(None)
    if not runs:
        raise ValueError(f"{path}: no thermo output found (expected a 'Step ...' header or "
                         "thermo_style yaml blocks)")
    return runs


def read_thermo_csv(path, natoms: int | None = None, normalized: bool = False) -> ThermoRun:
    """A CSV file with a header row of thermo keywords (e.g. Step,Temp,PotEng,KinEng,TotEng)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"thermo CSV not found: {path}")
    with open(path, newline="") as fh:
        lines = [ln for ln in fh if not ln.lstrip().startswith("#") and ln.strip()]
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader)]
    rows = []
    for k, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: data row {k} has {len(row)} fields, header has "
                             f"{len(header)}")
        try:
            rows.append([float(v) for v in row])
        except ValueError:
            raise ValueError(f"{path}: data row {k} is not numeric: {row}") from None
    if not rows:
        raise ValueError(f"{path}: no data rows")
    arr = np.array(rows)
    cols = {h: arr[:, c] for c, h in enumerate(header)}
    if natoms is None and "Atoms" in cols:
        natoms = int(cols["Atoms"][0])
    return ThermoRun(cols, natoms, normalized, path)


def block_average(samples: np.ndarray, n_blocks: int = 5) -> tuple[float, float]:
    """(mean, standard error) from ``n_blocks`` consecutive block means."""
    x = np.asarray(samples, float)
    if n_blocks < 2 or len(x) < n_blocks:
        raise ValueError(f"{len(x)} samples cannot make {n_blocks} blocks (need >= 2 blocks)")
    nb = len(x) // n_blocks
    means = x[: nb * n_blocks].reshape(n_blocks, nb).mean(axis=1)
    return float(x.mean()), float(means.std(ddof=1) / math.sqrt(n_blocks))


@dataclasses.dataclass
class ThermoPoint:
    """Mean energy per atom (eV) of one run at ``temperature`` (K), with standard error."""

    label: str
    temperature: float
    energy_per_atom: float
    energy_err: float
    n_samples: int
    source: str


def _energy_column(run: ThermoRun, column: str | None) -> np.ndarray:
    cols = run.columns
    if column is not None:
        if column not in cols:
            raise ValueError(f"{run.source}: no thermo column {column!r}; have {list(cols)}")
        return cols[column]
    if "TotEng" in cols:
        return cols["TotEng"]
    if "PotEng" in cols and "KinEng" in cols:
        return cols["PotEng"] + cols["KinEng"]
    raise ValueError(f"{run.source}: need TotEng or PotEng + KinEng columns; have {list(cols)} "
                     "(or name one with column=...)")


def thermo_point(path, temperature: float | None = None, label: str = "", *,
                 column: str | None = None,
                 discard: float = 0.2, n_blocks: int = 5, natoms: int | None = None,
                 run_index: int = -1) -> ThermoPoint:
    """Average energy per atom of run ``run_index`` (default: last) of a log or CSV file.

    ``temperature`` None: the mean of the ``Temp`` column (right for classical runs only: a
    QTB run's kinetic temperature is not its bath temperature).
    """
    path = os.fspath(path)
    if path.endswith(".csv"):
        run = read_thermo_csv(path, natoms=natoms)
    else:
        runs = read_lammps_log(path)
        try:
            run = runs[run_index]
        except IndexError:
            raise ValueError(f"{path}: has {len(runs)} thermo blocks, asked for "
                             f"{run_index}") from None
    if not 0 <= discard < 1:
        raise ValueError(f"discard must be in [0, 1), got {discard}")
    energy = _energy_column(run, None if column is None else column)
    n = natoms or run.natoms
    if not run.normalized:
        if not n:
            raise ValueError(f"{run.source}: number of atoms unknown (no 'Loop time ... with N "
                             "atoms' line): give natoms")
        energy = energy / n
    keep = energy[int(discard * len(energy)):]
    mean, err = block_average(keep, n_blocks)
    if temperature is None:
        if "Temp" not in run.columns:
            raise ValueError(f"{run.source}: no Temp column; give the temperature")
        temperature = float(run.columns["Temp"][int(discard * len(energy)):].mean())
    return ThermoPoint(label, float(temperature), mean, err, len(keep), run.source)


def parse_run_spec(spec: str) -> tuple[float | None, str]:
    """'300=log.lammps' -> (300.0, 'log.lammps'); 'log.lammps' -> (None, 'log.lammps')."""
    if "=" in spec:
        t, path = spec.split("=", 1)
        try:
            return float(t), path
        except ValueError:
            pass
    return None, spec


def read_points(quantum=(), classical=(), *, column: str | None = None, discard: float = 0.2,
                n_blocks: int = 5, natoms: int | None = None) -> list[ThermoPoint]:
    """:func:`thermo_point` of each run, labelled "quantum" or "classical".  Runs are given as
    "T=FILE" (or "FILE" for classical runs: T is then the mean Temp column; a quantum run's
    kinetic temperature is not its bath temperature, so quantum runs must give T)."""
    if not quantum and not classical:
        raise ValueError("give runs with --quantum T=FILE ... and/or --classical T=FILE ...")
    points = []
    for label, specs in (("quantum", quantum), ("classical", classical)):
        for spec in specs:
            temp, path = parse_run_spec(spec)
            if temp is None and label == "quantum":
                raise ValueError(f"--quantum {spec!r}: give the bath temperature as T=FILE (the "
                                 "kinetic temperature of a quantum run is not T)")
            points.append(thermo_point(path, temp, label, column=column, discard=discard,
                                       n_blocks=n_blocks, natoms=natoms))
    return points


def parse_e0(text: str) -> float | str:
    """``--e0`` value: a number (eV/atom) or the name of a rule ("classical-fit")."""
    try:
        return float(text)
    except ValueError:
        return text


@dataclasses.dataclass
class EnergyCurve:
    """(E/N - E0) / (3 kB) in K, with errors, for one label, sorted by temperature."""

    label: str
    temperature: np.ndarray
    reduced_energy: np.ndarray
    reduced_err: np.ndarray
    energy_per_atom: np.ndarray


def _classical_intercept(points: list[ThermoPoint]) -> float:
    pts = sorted(points, key=lambda p: p.temperature)
    if len(pts) < 2:
        raise ValueError("e0='classical-fit' needs at least two classical runs")
    use = pts[: max(2, min(3, len(pts)))]
    t = np.array([p.temperature for p in use])
    e = np.array([p.energy_per_atom for p in use])
    w = 1.0 / np.maximum(np.array([p.energy_err for p in use]), 1e-12)
    slope, intercept = np.polyfit(t, e, 1, w=w)
    return float(intercept)


def energy_curves(points: list[ThermoPoint], e0: float | str) -> tuple[list[EnergyCurve], float]:
    """Group points by label into E/(3 N kB) curves.  ``e0``: eV/atom, or "classical-fit"
    (intercept of a line through the 2-3 lowest-T points labelled 'classical')."""
    if isinstance(e0, str):
        if e0 != "classical-fit":
            raise ValueError(f"e0 must be a number (eV/atom) or 'classical-fit', got {e0!r}")
        e0 = _classical_intercept([p for p in points if p.label == "classical"])
    curves = []
    for label in dict.fromkeys(p.label for p in points):
        pts = sorted((p for p in points if p.label == label), key=lambda p: p.temperature)
        t = np.array([p.temperature for p in pts])
        e = np.array([p.energy_per_atom for p in pts])
        err = np.array([p.energy_err for p in pts])
        curves.append(EnergyCurve(label, t, (e - e0) / (3 * units.KB), err / (3 * units.KB), e))
    return curves, float(e0)


def curves_table(curves: list[EnergyCurve]) -> list[tuple]:
    """Rows (label, T (K), E (eV/atom), (E/N - E0)/3kB (K), its error (K)) of all curves."""
    return [(c.label, float(t), float(e), float(y), float(dy)) for c in curves
            for t, y, dy, e in zip(c.temperature, c.reduced_energy, c.reduced_err,
                                   c.energy_per_atom)]


def harmonic_curve(nu_thz, g, t_max: float, n_points: int = 100):
    """(T, E_harmonic/(3 N kB)) on [0, t_max] K from a vibrational DOS g(nu) (modes per THz on
    an even grid): the quantum harmonic reference of an E/(3 N kB) plot."""
    from qfe.analysis.vdos import harmonic_energy

    nu, g = np.asarray(nu_thz, float), np.asarray(g, float)
    dnu = float(nu[1] - nu[0])
    n_modes = float(g.sum() * dnu)
    temperatures = np.linspace(0.0, t_max, n_points)
    energy = np.asarray(harmonic_energy(nu, g, dnu, temperatures))
    return temperatures, energy / (n_modes * units.KB)
