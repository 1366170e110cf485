"""Training data in deepmd-kit's npy format (one "system" per directory, fixed atom count).

Layout of a system directory (deepmd-kit "npy" format):
``type.raw`` (type index per atom), ``type_map.raw`` (element per type),
``set.000/{coord,box,energy,force,virial}.npy`` with shapes (M, 3N), (M, 9), (M,), (M, 3N),
(M, 9) in A, eV, eV/A and eV (virial = -dE/dstrain, deepmd-kit's sign).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qfe._io import atomic_write


def write_system(directory, positions, cells, energy, forces, virial, type_map=("Li",),
                 types=None) -> Path:
    """Write one deepmd-kit npy system (positions wrapped into the cell); returns its
    directory."""
    directory = Path(directory)
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    m, n, _ = positions.shape
    # wrap into the cell (deepmd-kit's cell list warns about atoms outside the box)
    frac = np.einsum("mia,mab->mib", positions, np.linalg.inv(cells))
    positions = np.einsum("mia,mab->mib", frac - np.floor(frac), cells)
    if types is None:
        types = np.zeros(n, dtype=int)
    arrays = {
        "coord": positions.reshape(m, 3 * n),
        "box": cells.reshape(m, 9),
        "energy": np.asarray(energy, dtype=float).reshape(m),
        "force": np.asarray(forces, dtype=float).reshape(m, 3 * n),
        "virial": np.asarray(virial, dtype=float).reshape(m, 9),
    }
    setdir = directory / "set.000"
    setdir.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        with atomic_write(setdir / f"{name}.npy", "wb") as fh:
            np.save(fh, arr)
    (directory / "type.raw").write_text("\n".join(str(int(t)) for t in types) + "\n")
    (directory / "type_map.raw").write_text("\n".join(type_map) + "\n")
    return directory


def read_system(directory) -> dict:
    """Read a system written by :func:`write_system` (positions (M,N,3), cells (M,3,3), ...)."""
    directory = Path(directory)
    if not (directory / "type.raw").exists():
        raise FileNotFoundError(f"not a deepmd-kit system (no type.raw): {directory}")
    types = np.loadtxt(directory / "type.raw", dtype=int, ndmin=1)
    n = len(types)
    out = {"types": types,
           "type_map": (directory / "type_map.raw").read_text().split()}
    sets = sorted(directory.glob("set.*"))
    parts = {k: [] for k in ("coord", "box", "energy", "force", "virial")}
    for s in sets:
        for k in parts:
            if (s / f"{k}.npy").exists():
                parts[k].append(np.load(s / f"{k}.npy"))
    m = sum(len(p) for p in parts["coord"])
    out["positions"] = np.concatenate(parts["coord"]).reshape(m, n, 3)
    out["cells"] = np.concatenate(parts["box"]).reshape(m, 3, 3)
    out["energy"] = np.concatenate(parts["energy"]).reshape(m)
    out["forces"] = np.concatenate(parts["force"]).reshape(m, n, 3)
    if parts["virial"]:
        out["virial"] = np.concatenate(parts["virial"]).reshape(m, 3, 3)
    return out


def split_indices(count: int, fraction: float, rng: np.random.Generator):
    """Random (train, validation) index arrays; at least one of each when count >= 2."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    perm = rng.permutation(count)
    n_valid = int(round(fraction * count))
    if count >= 2:
        n_valid = min(max(n_valid, 1), count - 1)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
