"""Frames and trajectories as read from any format, and the rules they share.

:class:`Frame` is one snapshot, :class:`Trajectory` frames stacked into arrays; both are sorted
by atom id.  Units: positions and cells in A, velocities in A/ps, masses in amu, times in ps.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class DumpFormatError(ValueError):
    """A trajectory file is malformed; the message names the file and line."""


def species_labels(symbols, types, n_atoms: int) -> np.ndarray:
    """The species label of each atom: its element symbol if known, else its LAMMPS type as a
    string, else "X".  Every selection by species (``--species``, masses, RDF pairs) uses it."""
    if symbols is not None:
        return np.asarray(symbols, dtype=str)
    if types is not None:
        return np.asarray(types).astype(str)
    return np.full(n_atoms, "X")


def selection_label(species) -> str:
    """Name of a species selection in results: "all" for None, else the labels joined by ","."""
    return "all" if species is None else ",".join(map(str, np.atleast_1d(species)))


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
        """Per-atom species labels (see :func:`species_labels`)."""
        return species_labels(self.symbols, self.types, self.n_atoms)

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


def masses_for_symbols(symbols: np.ndarray) -> np.ndarray:
    """Standard atomic masses (amu) of element ``symbols``; ValueError for unknown ones."""
    from ase.data import atomic_masses, atomic_numbers

    out = np.empty(len(symbols))
    for s in np.unique(symbols):
        if s not in atomic_numbers:
            raise ValueError(f"unknown element symbol {s!r}: cannot assign a mass (give masses)")
        out[symbols == s] = atomic_masses[atomic_numbers[s]]
    return out
