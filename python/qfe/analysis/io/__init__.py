"""Trajectory readers: LAMMPS dump files (text, gzip, binary) and ASE trajectories.

Frames are streamed one at a time (:func:`iter_frames`) or stacked into a
:class:`Trajectory` (:func:`read_trajectory`).  Atoms are sorted by id in every frame.

Units: positions and cells in A, velocities in A/ps, masses in amu, times in ps
(LAMMPS ``metal`` units; ASE velocities are converted).

LAMMPS dump columns understood (any order, extra columns ignored):
``id``, ``type``, ``element``, ``mass``, positions as ``x y z`` (wrapped), ``xs ys zs``
(scaled, wrapped), ``xu yu zu`` (unwrapped) or ``xsu ysu zsu`` (scaled, unwrapped), image
flags ``ix iy iz`` and velocities ``vx vy vz``.  Orthogonal, restricted triclinic
(``xy xz yz``) and general triclinic (``abc origin``) boxes are read.

Errors name the file and the line (text) or byte offset (binary) where the problem is.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import struct
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = [
    "DumpFormatError",
    "Frame",
    "Trajectory",
    "iter_frames",
    "read_trajectory",
    "iter_lammps_dump",
    "iter_lammps_dump_binary",
    "iter_ase",
    "detect_format",
    "parse_type_map",
    "write_lammps_dump",
]


class DumpFormatError(ValueError):
    """A trajectory file is malformed; the message names the file and line."""


@dataclasses.dataclass
class Frame:
    """One snapshot.  Arrays are sorted by atom id.

    positions : (N, 3) Cartesian coordinates in A, as stored (wrapped unless ``unwrapped``)
    cell      : (3, 3) lattice vectors as rows, A
    origin    : (3,) lower corner of the box, A
    pbc       : (3,) periodic directions
    ids       : (N,) atom ids (LAMMPS ids, or 1..N)
    types     : (N,) integer LAMMPS types, or None
    symbols   : (N,) element names, or None
    velocities: (N, 3) A/ps, or None
    images    : (N, 3) integer image flags, or None
    masses    : (N,) amu, or None
    unwrapped : positions are unwrapped (``xu``/``xsu`` columns, or ASE positions)
    timestep  : MD step number, or None
    time      : simulation time in ps, or None
    source    : "file:line" of the frame header (for messages)
    """

    positions: np.ndarray
    cell: np.ndarray
    origin: np.ndarray
    pbc: np.ndarray
    ids: np.ndarray
    types: np.ndarray | None = None
    symbols: np.ndarray | None = None
    velocities: np.ndarray | None = None
    images: np.ndarray | None = None
    masses: np.ndarray | None = None
    unwrapped: bool = False
    timestep: int | None = None
    time: float | None = None
    source: str = ""

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    def unwrapped_positions(self) -> np.ndarray | None:
        """Unwrapped Cartesian positions (A) if the frame carries them (xu or image flags)."""
        if self.unwrapped:
            return self.positions
        if self.images is not None:
            return self.positions + self.images @ self.cell
        return None

    def to_ase(self):
        """This frame as an ``ase.Atoms`` (symbols if known, else types as atomic numbers)."""
        import ase

        kwargs = dict(positions=self.positions, cell=self.cell, pbc=self.pbc)
        if self.symbols is not None:
            kwargs["symbols"] = list(self.symbols)
        else:
            kwargs["numbers"] = self.types if self.types is not None else np.ones(self.n_atoms, int)
        atoms = ase.Atoms(**kwargs)
        if self.masses is not None:
            atoms.set_masses(self.masses)
        return atoms


@dataclasses.dataclass
class Trajectory:
    """Frames stacked into arrays; per-atom arrays are sorted by id and equal in all frames.

    positions  : (F, N, 3) as stored, A
    cells      : (F, 3, 3) lattice vectors as rows, A
    origins    : (F, 3)
    pbc        : (3,)
    ids        : (N,)
    types, symbols, masses : (N,) or None
    velocities : (F, N, 3) A/ps or None
    images     : (F, N, 3) or None
    unwrapped  : positions are unwrapped
    timesteps  : (F,) MD step numbers or None
    times      : (F,) ps or None (needed for MSD and DOS)
    path       : source file
    """

    positions: np.ndarray
    cells: np.ndarray
    origins: np.ndarray
    pbc: np.ndarray
    ids: np.ndarray
    types: np.ndarray | None = None
    symbols: np.ndarray | None = None
    masses: np.ndarray | None = None
    velocities: np.ndarray | None = None
    images: np.ndarray | None = None
    unwrapped: bool = False
    timesteps: np.ndarray | None = None
    times: np.ndarray | None = None
    path: str = ""

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    def species(self) -> np.ndarray:
        """Per-atom species labels: element symbols if known, else LAMMPS types as strings."""
        if self.symbols is not None:
            return np.asarray(self.symbols, dtype=str)
        if self.types is not None:
            return self.types.astype(str)
        return np.full(self.n_atoms, "X")

    def select(self, species=None) -> np.ndarray:
        """Indices of the atoms of ``species`` (a label, a type number, or a list of them;
        None: all atoms).  Raises ValueError naming the species when none match."""
        if species is None:
            return np.arange(self.n_atoms)
        labels = self.species()
        wanted = [species] if isinstance(species, (str, int, np.integer)) else list(species)
        mask = np.zeros(self.n_atoms, bool)
        for w in wanted:
            hit = labels == str(w)
            if self.types is not None and not hit.any():
                try:
                    hit = self.types == int(w)
                except (TypeError, ValueError):
                    pass
            if not hit.any():
                raise ValueError(f"species {w!r} not found in {self.path or 'trajectory'}; "
                                 f"present: {sorted(set(labels.tolist()))}")
            mask |= hit
        return np.flatnonzero(mask)

    def require_times(self) -> np.ndarray:
        if self.times is None:
            raise ValueError(
                f"{self.path or 'trajectory'}: frame times unknown (the dump has no ITEM: TIME); "
                "give the MD timestep in ps (timestep=..., CLI --timestep) or the time between "
                "frames for ASE files (frame_interval=..., CLI --frame-interval)")
        return self.times

    def frame(self, i: int) -> Frame:
        def pick(a):
            return None if a is None else a[i]

        return Frame(positions=self.positions[i], cell=self.cells[i], origin=self.origins[i],
                     pbc=self.pbc, ids=self.ids, types=self.types, symbols=self.symbols,
                     velocities=pick(self.velocities), images=pick(self.images),
                     masses=self.masses, unwrapped=self.unwrapped,
                     timestep=None if self.timesteps is None else int(self.timesteps[i]),
                     time=None if self.times is None else float(self.times[i]),
                     source=self.path)


# --------------------------------------------------------------------------- helpers

def parse_type_map(spec) -> dict[int, str] | None:
    """``"La,H"`` (types 1, 2, ... in order) or ``"1=La,2=H"`` or a dict/list -> {type: symbol}."""
    if spec is None or isinstance(spec, dict):
        return spec
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    out = {}
    for k, item in enumerate(items, start=1):
        if "=" in str(item):
            t, sym = str(item).split("=", 1)
            try:
                out[int(t)] = sym.strip()
            except ValueError:
                raise ValueError(f"type map entry {item!r}: expected TYPE=SYMBOL") from None
        else:
            out[k] = str(item)
    return out


def _masses_for_symbols(symbols: np.ndarray) -> np.ndarray:
    from ase.data import atomic_masses, atomic_numbers

    out = np.empty(len(symbols))
    for s in np.unique(symbols):
        if s not in atomic_numbers:
            raise ValueError(f"unknown element symbol {s!r}: cannot assign a mass (give masses)")
        out[symbols == s] = atomic_masses[atomic_numbers[s]]
    return out


def detect_format(path) -> str:
    """'lammps-dump' (text, .gz allowed), 'lammps-dump-binary' or 'ase', from the file."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            head = fh.read(64)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise DumpFormatError(f"{path}: zstd-compressed file; decompress it first (zstd -d)")
    text = head.lstrip()
    if text.startswith(b"ITEM:"):
        return "lammps-dump"
    if len(head) >= 8:
        (first,) = struct.unpack("<q", head[:8])
        if first < 0 and -first <= 32 and head[8:8 - first].startswith(b"DUMP"):
            return "lammps-dump-binary"
        if path.endswith(".bin") and 0 <= first < 2**62:
            return "lammps-dump-binary"   # old binary format without magic string
    return "ase"


def _open_text(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _box_from_bounds(bounds: np.ndarray, tilts) -> tuple[np.ndarray, np.ndarray]:
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


class _Columns:
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
        self.slot = {c: k for k, c in enumerate(self.numeric)}   # column -> position in parsed block

    def take(self, block: np.ndarray, cols):
        return block[:, [self.slot[c] for c in cols]] if isinstance(cols, list) else block[:, self.slot[cols]]


def _make_frame(block: np.ndarray, elements, cols: _Columns, cell, origin, pbc, timestep, time,
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
        velocities=None if cols.vel is None else np.ascontiguousarray(cols.take(block, cols.vel)[order]),
        images=None if cols.img is None else cols.take(block, cols.img).astype(np.int32)[order],
        masses=masses, unwrapped=cols.unwrapped, timestep=timestep, time=time, source=where)


# --------------------------------------------------------------------------- text dump

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
            raise DumpFormatError(f"{self.path}:{self.lineno + 1}: file ends where {what} was expected "
                                  "(truncated dump?)")
        return line

    def where(self, lineno=None) -> str:
        return f"{self.path}:{self.lineno if lineno is None else lineno}"


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
    cols_cache: dict[bytes, _Columns] = {}
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
            if not line.startswith(b"ITEM: TIMESTEP"):
                raise DumpFormatError(f"{rd.where()}: expected 'ITEM: TIMESTEP', got "
                                      f"{line.decode(errors='replace').strip()!r}")
            ts_line = rd.expect("the timestep number")
            try:
                timestep = int(ts_line.split()[0])
            except (ValueError, IndexError):
                raise DumpFormatError(f"{rd.where()}: bad timestep {ts_line.decode(errors='replace').strip()!r}") from None
            line = rd.expect("ITEM: NUMBER OF ATOMS")
            if not line.startswith(b"ITEM: NUMBER OF ATOMS"):
                raise DumpFormatError(f"{rd.where()}: expected 'ITEM: NUMBER OF ATOMS', got "
                                      f"{line.decode(errors='replace').strip()!r}")
            n_line = rd.expect("the number of atoms")
            try:
                natoms = int(n_line.split()[0])
            except (ValueError, IndexError):
                raise DumpFormatError(f"{rd.where()}: bad number of atoms "
                                      f"{n_line.decode(errors='replace').strip()!r}") from None
            if natoms < 0:
                raise DumpFormatError(f"{rd.where()}: negative number of atoms {natoms}")
            line = rd.expect("ITEM: BOX BOUNDS")
            if not line.startswith(b"ITEM: BOX BOUNDS"):
                raise DumpFormatError(f"{rd.where()}: expected 'ITEM: BOX BOUNDS', got "
                                      f"{line.decode(errors='replace').strip()!r}")
            words = line.decode().split()[3:]
            flags = [w for w in words if w not in ("xy", "xz", "yz", "abc", "origin")]
            pbc = np.array([f.startswith("pp") if len(f) == 2 else True for f in flags[:3]]
                           + [True] * (3 - len(flags[:3])))
            if "abc" in words:            # general triclinic: a, b, c vectors and origin
                rows = [_parse_floats(rd, rd.expect("a box line"), 4, "a box vector") for _ in range(3)]
                cell = np.array([r[:3] for r in rows])
                origin = np.array([r[3] for r in rows])
            else:
                tric = "xy" in words
                rows = [_parse_floats(rd, rd.expect("a box bounds line"), 3 if tric else 2, "box bounds")
                        for _ in range(3)]
                bounds = np.array([r[:2] for r in rows])
                cell, origin = _box_from_bounds(bounds, [r[2] for r in rows] if tric else None)
            line = rd.expect("ITEM: ATOMS")
            if not line.startswith(b"ITEM: ATOMS"):
                raise DumpFormatError(f"{rd.where()}: expected 'ITEM: ATOMS', got "
                                      f"{line.decode(errors='replace').strip()!r}")
            key = line
            if key not in cols_cache:
                cols_cache[key] = _Columns(line.decode().split()[2:], rd.where())
            cols = cols_cache[key]
            first = rd.lineno + 1
            lines = list(itertools.islice(fh, natoms))
            rd.lineno += len(lines)
            if len(lines) < natoms:
                raise DumpFormatError(
                    f"{path}:{rd.lineno + 1}: file ends after {len(lines)} of {natoms} atom lines of "
                    f"the frame at timestep {timestep} (header at line {header_line}); truncated dump?")
            block = _parse_block(lines, cols, path, first)
            elements = None
            if cols.element is not None:
                elements = np.array([ln.split()[cols.element].decode() for ln in lines])
            yield _make_frame(block, elements, cols, cell, origin, pbc, timestep, time,
                              f"{path}:{header_line}", type_map)


def _parse_block(lines: list[bytes], cols: _Columns, path: str, first_line: int) -> np.ndarray:
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


# --------------------------------------------------------------------------- binary dump

def iter_lammps_dump_binary(path, *, type_map=None) -> Iterator[Frame]:
    """Frames of a binary LAMMPS dump (``dump custom ... file.bin``, format revision >= 2,
    which stores the column names; LAMMPS_SMALLBIG integer sizes, native little endian)."""
    path = os.fspath(path)
    type_map = parse_type_map(type_map)
    cols_cache: dict[str, _Columns] = {}
    with open(path, "rb") as fh:
        def read(nbytes: int, what: str) -> bytes:
            pos = fh.tell()
            buf = fh.read(nbytes)
            if len(buf) != nbytes:
                raise DumpFormatError(f"{path}: byte {pos}: file ends while reading {what} "
                                      "(truncated binary dump?)")
            return buf

        frame_no = 0
        while True:
            start = fh.tell()
            head = fh.read(8)
            if not head:
                return
            if len(head) < 8:
                raise DumpFormatError(f"{path}: byte {start}: truncated frame header")
            (ntimestep,) = struct.unpack("<q", head)
            if ntimestep >= 0:
                raise DumpFormatError(f"{path}: byte {start}: old binary dump format without column "
                                      "names; convert it with LAMMPS tools/binary2txt")
            magic = read(-ntimestep, "the magic string").decode(errors="replace")
            if magic not in ("DUMPATOM", "DUMPCUSTOM"):
                raise DumpFormatError(f"{path}: byte {start}: unknown binary dump kind {magic!r}")
            endian, revision = struct.unpack("<ii", read(8, "endian/revision"))
            if endian != 1:
                raise DumpFormatError(f"{path}: byte {start}: written with the other byte order")
            if revision < 2:
                raise DumpFormatError(f"{path}: byte {start}: binary dump revision {revision} has "
                                      "no column names; convert it with tools/binary2txt")
            ntimestep, natoms = struct.unpack("<qq", read(16, "timestep/natoms"))
            (triclinic,) = struct.unpack("<i", read(4, "triclinic flag"))
            boundary = struct.unpack("<6i", read(24, "boundary flags"))
            bounds = np.frombuffer(read(48, "box bounds"), "<f8").reshape(3, 2)
            tilts = np.frombuffer(read(24, "tilt factors"), "<f8") if triclinic else None
            (size_one,) = struct.unpack("<i", read(4, "columns per atom"))
            (ulen,) = struct.unpack("<i", read(4, "units length"))
            if ulen:
                read(ulen, "unit style")
            time = None
            if read(1, "time flag") != b"\x00":
                (time,) = struct.unpack("<d", read(8, "time"))
            (clen,) = struct.unpack("<i", read(4, "columns length"))
            names = read(clen, "column names").decode(errors="replace")
            (nchunk,) = struct.unpack("<i", read(4, "chunk count"))
            where = f"{path}: frame {frame_no} (byte {start})"
            if names not in cols_cache:
                cols_cache[names] = _Columns(names.split(), where)
            cols = cols_cache[names]
            if size_one != len(cols.names):
                raise DumpFormatError(f"{where}: {size_one} values per atom but {len(cols.names)} "
                                      f"column names ({names})")
            chunks = []
            for _ in range(nchunk):
                (n,) = struct.unpack("<i", read(4, "chunk size"))
                chunks.append(np.frombuffer(read(8 * n, "atom data"), "<f8"))
            data = np.concatenate(chunks) if chunks else np.zeros(0)
            if data.size != natoms * size_one:
                raise DumpFormatError(f"{where}: {data.size // max(size_one, 1)} atoms stored, "
                                      f"header says {natoms}")
            data = data.reshape(natoms, size_one)
            cell, origin = _box_from_bounds(bounds, tilts)
            pbc = np.array([boundary[2 * d] == 0 for d in range(3)])
            block = data[:, cols.numeric]
            yield _make_frame(block, None, cols, cell, origin, pbc, int(ntimestep), time, where,
                              type_map)
            frame_no += 1


# --------------------------------------------------------------------------- ASE

def iter_ase(path, *, index=":", ase_format=None) -> Iterator[Frame]:
    """Frames of any file ``ase.io`` reads (``.traj``, extxyz, ...), streamed by ``ase.io.iread``.

    Velocities (if the file has momenta) are converted to A/ps; ASE positions are taken as
    they are (unwrapping is done by tracking unless they are continuous).
    """
    import ase.io
    import ase.units

    path = os.fspath(path)
    to_a_per_ps = 1000.0 * ase.units.fs
    for k, atoms in enumerate(ase.io.iread(path, index=index, format=ase_format)):
        n = len(atoms)
        ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, n + 1)
        order = np.argsort(ids, kind="stable")
        vel = None
        if atoms.has("momenta"):
            vel = atoms.get_velocities()[order] * to_a_per_ps
        types = np.asarray(atoms.arrays["type"])[order] if "type" in atoms.arrays else None
        yield Frame(positions=atoms.get_positions()[order], cell=np.array(atoms.cell[:]),
                    origin=np.zeros(3), pbc=np.array(atoms.pbc), ids=ids[order], types=types,
                    symbols=np.array(atoms.get_chemical_symbols())[order], velocities=vel,
                    masses=atoms.get_masses()[order], unwrapped=False,
                    timestep=atoms.info.get("timestep"), time=atoms.info.get("time"),
                    source=f"{path}: frame {k}")


# --------------------------------------------------------------------------- front ends

def iter_frames(path, format: str = "auto", *, type_map=None, ase_format=None) -> Iterator[Frame]:
    """Stream frames of a trajectory file.  ``format``: auto, lammps-dump, lammps-dump-binary, ase."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"trajectory file not found: {path}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "lammps-dump":
        return iter_lammps_dump(path, type_map=type_map)
    if fmt == "lammps-dump-binary":
        return iter_lammps_dump_binary(path, type_map=type_map)
    if fmt == "ase":
        return iter_ase(path, ase_format=ase_format)
    raise ValueError(f"unknown trajectory format {format!r} (auto, lammps-dump, lammps-dump-binary, ase)")


def read_trajectory(path, format: str = "auto", *, start: int = 0, stop: int | None = None,
                    stride: int = 1, timestep: float | None = None,
                    frame_interval: float | None = None, type_map=None, masses=None,
                    ase_format=None, progress: bool = False) -> Trajectory:
    """Read frames ``start:stop:stride`` of a trajectory into a :class:`Trajectory`.

    timestep       : MD timestep in ps; frame time = step number x timestep (LAMMPS dumps)
    frame_interval : time between stored frames in ps (used when frames carry no step number)
    type_map       : "La,H" or {1: "La", 2: "H"}: element names of LAMMPS types
    masses         : {species: amu} overriding masses from elements / the ``mass`` column
    The atom set (ids) and count must be the same in every frame.
    """
    if stride < 1 or start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad frame selection start={start} stop={stop} stride={stride}")
    frames = iter_frames(path, format, type_map=type_map, ase_format=ase_format)
    sel = itertools.islice(frames, start, stop, stride)
    if progress:
        from tqdm import tqdm

        sel = tqdm(sel, desc=f"reading {os.path.basename(os.fspath(path))}", unit="frame",
                   leave=False, disable=None)
    pos, cells, origins, vel, img, steps, times = [], [], [], [], [], [], []
    first: Frame | None = None
    for fr in sel:
        if first is None:
            first = fr
        else:
            if fr.n_atoms != first.n_atoms:
                raise DumpFormatError(f"{fr.source}: {fr.n_atoms} atoms, but the first frame read "
                                      f"({first.source}) has {first.n_atoms}")
            if not np.array_equal(fr.ids, first.ids):
                raise DumpFormatError(f"{fr.source}: atom ids differ from the first frame read "
                                      f"({first.source})")
            if (fr.velocities is None) != (first.velocities is None) or \
                    (fr.images is None) != (first.images is None):
                raise DumpFormatError(f"{fr.source}: columns differ from the first frame ({first.source})")
        pos.append(fr.positions)
        cells.append(fr.cell)
        origins.append(fr.origin)
        if fr.velocities is not None:
            vel.append(fr.velocities)
        if fr.images is not None:
            img.append(fr.images)
        steps.append(fr.timestep)
        times.append(fr.time)
    if first is None:
        raise DumpFormatError(f"{path}: no frames in the selection start={start} stop={stop} "
                              f"stride={stride}")
    symbols = first.symbols
    ms = first.masses
    if masses:
        labels = symbols if symbols is not None else (
            first.types.astype(str) if first.types is not None else np.full(first.n_atoms, "X"))
        ms = np.array(ms if ms is not None else np.full(first.n_atoms, np.nan), dtype=float)
        for key, value in masses.items():
            hit = labels == str(key)
            if not hit.any():
                raise ValueError(f"mass given for species {key!r}, which is not in {path}")
            ms[hit] = float(value)
    elif ms is None and symbols is not None:
        ms = _masses_for_symbols(symbols)
    if ms is not None and np.isnan(ms).any():
        ms = None
    tsteps = np.array(steps, dtype=np.int64) if all(s is not None for s in steps) else None
    if all(t is not None for t in times):
        tarr = np.array(times, dtype=float)
    elif timestep is not None and tsteps is not None:
        tarr = tsteps * float(timestep)
    elif frame_interval is not None:
        tarr = (start + stride * np.arange(len(pos))) * float(frame_interval)
    else:
        tarr = None
    if tarr is not None and len(tarr) > 1 and np.any(np.diff(tarr) <= 0):
        k = int(np.flatnonzero(np.diff(tarr) <= 0)[0])
        raise DumpFormatError(f"{path}: frame times not increasing (frame {k + 1} of the selection: "
                              f"t={tarr[k + 1]} after t={tarr[k]}); several runs appended?")
    return Trajectory(
        positions=np.stack(pos), cells=np.stack(cells), origins=np.stack(origins), pbc=first.pbc,
        ids=first.ids, types=first.types, symbols=symbols, masses=ms,
        velocities=np.stack(vel) if vel else None, images=np.stack(img) if img else None,
        unwrapped=first.unwrapped, timesteps=tsteps, times=tarr, path=os.fspath(path))


# --------------------------------------------------------------------------- writer

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
                fh.write(f"{xlo_b:.10f} {xhi_b:.10f} {xy:.10f}\n{ylo_b:.10f} {yhi_b:.10f} {xz:.10f}\n"
                         f"{lo[2]:.10f} {lo[2] + lz:.10f} {yz:.10f}\n")
            fh.write(f"ITEM: ATOMS {columns}\n")
            cols = [ids[:, None].astype(float), types[:, None].astype(float), pos[f]]
            if img is not None:
                cols.append(img[f].astype(float))
            if vel is not None:
                cols.append(vel[f])
            np.savetxt(fh, np.hstack(cols), fmt=fmt)
