"""Text LAMMPS dumps (``dump atom``/``custom``, ``.gz`` read transparently): reader and writer.

Orthogonal, restricted triclinic (``xy xz yz``) and general triclinic (``abc origin``) boxes
are read.  Errors name the file and the line.
"""

from __future__ import annotations

import gzip
import itertools
import os
from collections.abc import Iterator

import numpy as np

from qfe.analysis.io._lammps import Columns, box_from_bounds, make_frame
from qfe.analysis.io.frames import DumpFormatError, Frame, parse_type_map


def _open_text(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


class _LineReader:
    """Binary line reader that counts lines (1-based number of the last line returned)."""

    def __init__(self, fh, path):
        self.fh, self.path, self.lineno = fh, path, 0

    def readline(self) -> bytes:
        line = self.fh.readline()
        if line:
            self.lineno += 1
        return line

    def expect(self, what: str) -> bytes:
        line = self.readline()
        if not line:
            raise DumpFormatError(f"{self.path}:{self.lineno + 1}: file ends where {what} was "
                                  "expected (truncated dump?)")
        return line

    def where(self, lineno=None) -> str:
        return f"{self.path}:{self.lineno if lineno is None else lineno}"

    def check_item(self, line: bytes, item: str) -> bytes:
        """``line`` if it starts with ``item`` (e.g. "ITEM: ATOMS"), else an error naming it."""
        if not line.startswith(item.encode()):
            raise DumpFormatError(f"{self.where()}: expected '{item}', got "
                                  f"{line.decode(errors='replace').strip()!r}")
        return line

    def read_item(self, item: str) -> bytes:
        return self.check_item(self.expect(item), item)

    def read_int(self, what: str, name: str) -> int:
        """The integer that starts the next line (``what`` for messages, ``name`` if bad)."""
        line = self.expect(what)
        try:
            return int(line.split()[0])
        except (ValueError, IndexError):
            raise DumpFormatError(f"{self.where()}: bad {name} "
                                  f"{line.decode(errors='replace').strip()!r}") from None


def _parse_floats(reader: _LineReader, line: bytes, count: int, what: str) -> list[float]:
    try:
        vals = [float(v) for v in line.split()]
    except ValueError:
        vals = []
    if len(vals) < count:
        raise DumpFormatError(f"{reader.where()}: expected {count} numbers for {what}, "
                              f"got {line.decode(errors='replace').strip()!r}")
    return vals


def iter_lammps_dump(path, *, type_map=None) -> Iterator[Frame]:
    """Frames of a text LAMMPS dump (``dump atom``/``custom``; ``.gz`` read transparently)."""
    path = os.fspath(path)
    type_map = parse_type_map(type_map)
    cols_cache: dict[bytes, Columns] = {}
    with _open_text(path) as fh:
        rd = _LineReader(fh, path)
        while True:
            line = rd.readline()
            while line and not line.strip():
                line = rd.readline()
            if not line:
                return
            time = None
            header_line = rd.lineno
            while line.strip() in (b"ITEM: UNITS", b"ITEM: TIME"):
                value = rd.expect("the value after " + line.decode().strip())
                if line.strip() == b"ITEM: TIME":
                    time = _parse_floats(rd, value, 1, "ITEM: TIME")[0]
                line = rd.expect("ITEM: TIMESTEP")
            rd.check_item(line, "ITEM: TIMESTEP")
            timestep = rd.read_int("the timestep number", "timestep")
            rd.read_item("ITEM: NUMBER OF ATOMS")
            natoms = rd.read_int("the number of atoms", "number of atoms")
            if natoms < 0:
                raise DumpFormatError(f"{rd.where()}: negative number of atoms {natoms}")
            line = rd.read_item("ITEM: BOX BOUNDS")
            words = line.decode().split()[3:]
            flags = [w for w in words if w not in ("xy", "xz", "yz", "abc", "origin")]
            pbc = np.array([f.startswith("pp") if len(f) == 2 else True for f in flags[:3]]
                           + [True] * (3 - len(flags[:3])))
            if "abc" in words:            # general triclinic: a, b, c vectors and origin
                rows = [_parse_floats(rd, rd.expect("a box line"), 4, "a box vector")
                        for _ in range(3)]
                cell = np.array([r[:3] for r in rows])
                origin = np.array([r[3] for r in rows])
            else:
                tric = "xy" in words
                rows = [_parse_floats(rd, rd.expect("a box bounds line"), 3 if tric else 2,
                                      "box bounds") for _ in range(3)]
                bounds = np.array([r[:2] for r in rows])
                cell, origin = box_from_bounds(bounds, [r[2] for r in rows] if tric else None)
            line = rd.read_item("ITEM: ATOMS")
            key = line
            if key not in cols_cache:
                cols_cache[key] = Columns(line.decode().split()[2:], rd.where())
            cols = cols_cache[key]
            first = rd.lineno + 1
            lines = list(itertools.islice(fh, natoms))
            rd.lineno += len(lines)
            if len(lines) < natoms:
                raise DumpFormatError(
                    f"{path}:{rd.lineno + 1}: file ends after {len(lines)} of {natoms} atom "
                    f"lines of the frame at timestep {timestep} (header at line {header_line}); "
                    "truncated dump?")
            block = _parse_block(lines, cols, path, first)
            elements = None
            if cols.element is not None:
                elements = np.array([ln.split()[cols.element].decode() for ln in lines])
            yield make_frame(block, elements, cols, cell, origin, pbc, timestep, time,
                              f"{path}:{header_line}", type_map)


def _parse_block(lines: list[bytes], cols: Columns, path: str, first_line: int) -> np.ndarray:
    """Parse atom lines into a (n, len(cols.numeric)) float array; errors name the line."""
    ncol = len(cols.names)
    if not lines:
        return np.zeros((0, len(cols.numeric)))
    try:
        if len(cols.numeric) == ncol:
            block = np.loadtxt(lines, dtype=float, ndmin=2)
        else:
            block = np.loadtxt(lines, dtype=float, ndmin=2, usecols=cols.numeric)
    except ValueError:
        block = None
    if block is not None and block.shape == (len(lines), len(cols.numeric)):
        # loadtxt with usecols ignores extra trailing columns: check the widths cheaply
        if len(lines[0].split()) == ncol and len(lines[-1].split()) == ncol:
            return block
    for k, ln in enumerate(lines):   # slow path: find the offending line
        words = ln.split()
        if len(words) != ncol:
            raise DumpFormatError(
                f"{path}:{first_line + k}: {len(words)} values on an atom line, expected {ncol} "
                f"({' '.join(cols.names)}); truncated or corrupted dump?")
        for c in cols.numeric:
            try:
                float(words[c])
            except ValueError:
                raise DumpFormatError(f"{path}:{first_line + k}: column {cols.names[c]!r} is not a "
                                      f"number: {words[c].decode(errors='replace')!r}") from None
    raise DumpFormatError(f"{path}:{first_line}: could not parse the atom block")


def write_lammps_dump(path, positions, cell, types, *, ids=None, velocities=None, images=None,
                      timesteps=None, origin=(0.0, 0.0, 0.0), append: bool = False,
                      precision: int = 6) -> None:
    """Write frames as a text LAMMPS dump (``id type x y z [ix iy iz] [vx vy vz]``).

    positions (F, N, 3) or (N, 3) in A; cell (3, 3) rows a, b, c (LAMMPS restricted triclinic:
    a along x, b in the xy plane) or (F, 3, 3); velocities A/ps.  ``.gz`` names are gzipped.
    Used to convert trajectories for LAMMPS tools and to make test data.
    """
    pos = np.asarray(positions, float)
    if pos.ndim == 2:
        pos = pos[None]
    nf, n, _ = pos.shape
    cells = np.asarray(cell, float)
    cells = np.broadcast_to(cells, (nf, 3, 3)) if cells.ndim == 2 else cells
    if np.any(np.abs(cells[:, 0, 1:]) > 1e-12) or np.any(np.abs(cells[:, 1, 2]) > 1e-12):
        raise ValueError("cell must be LAMMPS restricted triclinic (a along x, b in the xy plane)")
    types = np.asarray(types, int)
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids, int)
    vel = None if velocities is None else np.asarray(velocities, float).reshape(nf, n, 3)
    img = None if images is None else np.asarray(images, int).reshape(nf, n, 3)
    steps = np.arange(nf) if timesteps is None else np.asarray(timesteps, int)
    origin = np.asarray(origin, float)
    columns = "id type x y z" + (" ix iy iz" if img is not None else "") + \
              (" vx vy vz" if vel is not None else "")
    ffmt = f"%.{precision}f"
    fmt = " ".join(["%d", "%d"] + [ffmt] * 3 + (["%d"] * 3 if img is not None else [])
                   + ([ffmt] * 3 if vel is not None else []))
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "at" if append else "wt") as fh:
        for f in range(nf):
            c = cells[f]
            lx, ly, lz = c[0, 0], c[1, 1], c[2, 2]
            xy, xz, yz = c[1, 0], c[2, 0], c[2, 1]
            lo = origin
            fh.write(f"ITEM: TIMESTEP\n{int(steps[f])}\nITEM: NUMBER OF ATOMS\n{n}\n")
            if xy == 0 and xz == 0 and yz == 0:
                fh.write("ITEM: BOX BOUNDS pp pp pp\n")
                for k, length in enumerate((lx, ly, lz)):
                    fh.write(f"{lo[k]:.10f} {lo[k] + length:.10f}\n")
            else:
                fh.write("ITEM: BOX BOUNDS xy xz yz pp pp pp\n")
                xlo_b = lo[0] + min(0.0, xy, xz, xy + xz)
                xhi_b = lo[0] + lx + max(0.0, xy, xz, xy + xz)
                ylo_b = lo[1] + min(0.0, yz)
                yhi_b = lo[1] + ly + max(0.0, yz)
                fh.write(f"{xlo_b:.10f} {xhi_b:.10f} {xy:.10f}\n"
                         f"{ylo_b:.10f} {yhi_b:.10f} {xz:.10f}\n"
                         f"{lo[2]:.10f} {lo[2] + lz:.10f} {yz:.10f}\n")
            fh.write(f"ITEM: ATOMS {columns}\n")
            cols = [ids[:, None].astype(float), types[:, None].astype(float), pos[f]]
            if img is not None:
                cols.append(img[f].astype(float))
            if vel is not None:
                cols.append(vel[f])
            np.savetxt(fh, np.hstack(cols), fmt=fmt)
