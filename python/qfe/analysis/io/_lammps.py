"""What the text and binary LAMMPS dump readers share: the box and the column layout.

A dump's ``ITEM: ATOMS`` columns are understood in any order, extra columns ignored:
``id``, ``type``, ``element``, ``mass``, positions as ``x y z`` (wrapped), ``xs ys zs``
(scaled, wrapped), ``xu yu zu`` (unwrapped) or ``xsu ysu zsu`` (scaled, unwrapped), image
flags ``ix iy iz`` and velocities ``vx vy vz``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qfe.analysis.io.frames import DumpFormatError, Frame


def box_from_bounds(bounds: np.ndarray, tilts) -> tuple[np.ndarray, np.ndarray]:
    """LAMMPS bounding box (+ tilt factors xy, xz, yz) -> (cell rows, origin)."""
    (xlo_b, xhi_b), (ylo_b, yhi_b), (zlo_b, zhi_b) = bounds
    if tilts is None:
        xy = xz = yz = 0.0
        xlo, xhi, ylo, yhi = xlo_b, xhi_b, ylo_b, yhi_b
    else:
        xy, xz, yz = tilts
        xlo = xlo_b - min(0.0, xy, xz, xy + xz)
        xhi = xhi_b - max(0.0, xy, xz, xy + xz)
        ylo = ylo_b - min(0.0, yz)
        yhi = yhi_b - max(0.0, yz)
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi_b - zlo_b]])
    return cell, np.array([xlo, ylo, zlo_b])


_POSITION_KINDS = (  # (columns, scaled, unwrapped), in order of preference
    (("xu", "yu", "zu"), False, True),
    (("xsu", "ysu", "zsu"), True, True),
    (("x", "y", "z"), False, False),
    (("xs", "ys", "zs"), True, False),
)


class Columns:
    """Which dump columns hold what; built once per distinct ``ITEM: ATOMS`` line."""

    def __init__(self, names: Sequence[str], where: str):
        self.names = list(names)
        index = {n: k for k, n in enumerate(self.names)}
        for kind, scaled, unwrapped in _POSITION_KINDS:
            if all(c in index for c in kind):
                self.pos = [index[c] for c in kind]
                self.scaled, self.unwrapped = scaled, unwrapped
                break
        else:
            raise DumpFormatError(
                f"{where}: no complete set of position columns in 'ITEM: ATOMS {' '.join(names)}' "
                "(need x y z, xs ys zs, xu yu zu or xsu ysu zsu)")

        def trio(cols):
            present = [c in index for c in cols]
            if any(present) and not all(present):
                missing = [c for c, p in zip(cols, present) if not p]
                raise DumpFormatError(f"{where}: column(s) {missing} missing (have {self.names})")
            return [index[c] for c in cols] if all(present) else None

        self.img = trio(("ix", "iy", "iz"))
        self.vel = trio(("vx", "vy", "vz"))
        self.id = index.get("id")
        self.type = index.get("type")
        self.mass = index.get("mass")
        self.element = index.get("element")
        numeric = [self.id, self.type, self.mass, *self.pos, *(self.img or []), *(self.vel or [])]
        self.numeric = sorted({c for c in numeric if c is not None})
        # column -> position in the parsed block
        self.slot = {c: k for k, c in enumerate(self.numeric)}

    def take(self, block: np.ndarray, cols):
        if isinstance(cols, list):
            return block[:, [self.slot[c] for c in cols]]
        return block[:, self.slot[cols]]


def make_frame(block: np.ndarray, elements, cols: Columns, cell, origin, pbc, timestep, time,
                where: str, type_map) -> Frame:
    pos = cols.take(block, cols.pos).astype(float)
    if cols.scaled:
        pos = origin + pos @ cell
    n = len(pos)
    if cols.id is not None:
        ids = cols.take(block, cols.id).astype(np.int64)
        order = np.argsort(ids, kind="stable")
        if n > 1 and np.any(ids[order][1:] == ids[order][:-1]):
            dup = ids[order][1:][ids[order][1:] == ids[order][:-1]][0]
            raise DumpFormatError(f"{where}: atom id {dup} appears twice in one frame")
    else:
        ids = np.arange(1, n + 1)
        order = np.arange(n)
    types = None if cols.type is None else cols.take(block, cols.type).astype(np.int64)[order]
    symbols = None if elements is None else np.asarray(elements)[order]
    if symbols is None and type_map and types is not None:
        unknown = sorted(set(np.unique(types).tolist()) - set(type_map))
        if unknown:
            raise ValueError(f"{where}: types {unknown} not in the type map {type_map}")
        symbols = np.array([type_map[t] for t in types.tolist()])
    masses = None if cols.mass is None else cols.take(block, cols.mass)[order]
    return Frame(
        positions=np.ascontiguousarray(pos[order]), cell=cell, origin=origin, pbc=pbc,
        ids=ids[order], types=types, symbols=symbols,
        velocities=(None if cols.vel is None
                    else np.ascontiguousarray(cols.take(block, cols.vel)[order])),
        images=None if cols.img is None else cols.take(block, cols.img).astype(np.int32)[order],
        masses=masses, unwrapped=cols.unwrapped, timestep=timestep, time=time, source=where)
