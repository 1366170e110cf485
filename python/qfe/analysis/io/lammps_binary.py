"""Binary LAMMPS dumps (``dump custom ... file.bin``); errors name the file and byte offset."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numpy as np

from qfe.analysis.io._lammps import Columns, box_from_bounds, make_frame
from qfe.analysis.io.frames import DumpFormatError, Frame, parse_type_map


def iter_lammps_dump_binary(path, *, type_map=None) -> Iterator[Frame]:
    """Frames of a binary LAMMPS dump (``dump custom ... file.bin``, format revision >= 2,
    which stores the column names; LAMMPS_SMALLBIG integer sizes, native little endian)."""
    path = os.fspath(path)
    type_map = parse_type_map(type_map)
    cols_cache: dict[str, Columns] = {}
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
                raise DumpFormatError(f"{path}: byte {start}: old binary dump format without "
                                      "column names; convert it with LAMMPS tools/binary2txt")
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
                cols_cache[names] = Columns(names.split(), where)
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
            cell, origin = box_from_bounds(bounds, tilts)
            pbc = np.array([boundary[2 * d] == 0 for d in range(3)])
            block = data[:, cols.numeric]
            yield make_frame(block, None, cols, cell, origin, pbc, int(ntimestep), time, where,
                              type_map)
            frame_no += 1
