"""DeePMD models as pure JAX energy functions (plus their ASE and LAMMPS forms).

Any model file in :data:`MODEL_SUFFIXES` is serialized by deepmd-kit itself and rebuilt as
deepmd-kit's JAX model.  The energy of a
configuration is then a pure function of (positions, cell):

* neighbor data (the list and the integer image shifts of ghost atoms) is built on the host
  around reference positions with a skin (:mod:`qfe.potentials.neighbors`), so nothing
  data-dependent happens under ``jit``;
* ghost coordinates are ``r[src] + S @ cell``, so ``grad`` w.r.t. positions gives forces and
  the strain derivative gives the stress;
* se_e2_a models (the common Li models) go through a lean evaluation of the same deepmd-kit
  modules (its environment matrix, embedding nets, fitting net and output bias) that
  contracts the embedding with one ``einsum``; other descriptors (hybrid, se_e3, DPA...) use
  deepmd-kit's own atomic model.  Both equal deepmd-kit's ``DeepPot`` to round-off
  (tests/test_potentials_deepmd.py).

deepmd-kit's JAX backend switches on ``jax_enable_x64`` globally when it is imported.

Example
-------
>>> from ase.build import bulk
>>> pot = load_deepmd("model.pb", bulk("Li", "bcc", a=3.44, cubic=True).repeat(3))
>>> e = jax.jit(pot.energy)(jnp.asarray(pot.reference_positions))      # eV
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qfe.potentials.base import Potential
from qfe.potentials.neighbors import (
    NeighborData,
    build_neighbor_data,
    displacement_margin,
    extended_positions,
)

# The model files qfe reads: those deepmd-kit 3.2 serializes here (its serialize_hook) --
# TensorFlow graphs, backend-neutral .dp/.yaml/.yml, JAX checkpoints (.jax directories) and
# exported JAX models (.hlo, which carry the serialized model).  Not: .pth/.pt (the PyTorch
# backend needs torch, which the pinned deepmd-kit cannot use here), .savedmodel (deepmd-kit
# refuses to serialize JAX SavedModels), .savedmodeltf, .pte/.pt2, .pd/.json.  Matched exactly:
# deepmd-kit's readers refuse ".DP" or ".HLO".  ``qfe.nct.api.make_potential`` routes these too.
MODEL_SUFFIXES = (".pb", ".dp", ".yaml", ".yml", ".jax", ".hlo")

# neighbor data stays valid up to this round-off (A); a pair this close to rcut has a zero
# weight (the switch vanishes with its first two derivatives there)
MARGIN_TOLERANCE = 1e-9

# deepmd-kit 3.2's JAX networks convert flax Variables with the deprecated ``.value``
warnings.filterwarnings("ignore", message=".*'.value' access is now deprecated",
                        category=DeprecationWarning)

__all__ = [
    "MODEL_SUFFIXES",
    "is_model_file",
    "DeepMDModel",
    "DeepMDPotential",
    "load_deepmd",
    "read_deepmd_model",
    "deepmd_ase_calculator",
    "deepmd_pair_lines",
]


def _quiet_tensorflow():
    """Context manager around TensorFlow / deepmd-kit loading: drops their start-up chatter
    from stderr and keeps every other line (see :func:`qfe._environment.quiet_native_stderr`)."""
    from qfe._environment import quiet_native_stderr

    return quiet_native_stderr()


def is_model_file(path) -> bool:
    """True if ``path`` names a DeePMD model file qfe reads (by suffix: :data:`MODEL_SUFFIXES`)."""
    return Path(path).suffix in MODEL_SUFFIXES


def _check_model_file(path) -> Path:
    path = Path(path)
    if not is_model_file(path):
        raise ValueError(f"unsupported DeePMD model file {str(path)!r}: suffix {path.suffix!r} is "
                         f"not one of {', '.join(MODEL_SUFFIXES)}")
    if not path.exists():
        raise FileNotFoundError(f"DeePMD model file not found: {path}")
    return path


def read_deepmd_model(path) -> dict:
    """The model as deepmd-kit's backend-neutral dictionary (``serialize_hook`` of its backend)."""
    path = _check_model_file(path)
    with _quiet_tensorflow():
        from deepmd.backend.backend import Backend

        backend = Backend.detect_backend_by_model(str(path))()
        return backend.serialize_hook(str(path))


def _dicts(node):
    """Every dictionary nested in ``node`` (dicts and lists of a serialized model), outermost
    first; callers may modify them in place."""
    if isinstance(node, dict):
        yield node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return
    for child in children:
        yield from _dicts(child)


def _is_two_side_se_a(node: dict) -> bool:
    return node.get("type") in ("se_e2_a", "se_a") and node.get("type_one_side") is False


def _one_side_if_single_type(model_dict):
    """Rewrite se_e2_a ``type_one_side=False`` as ``True`` where there is one atom type.

    With one type both forms are the same function (one embedding net, indexed (0, 0) or (0,)),
    but deepmd-kit's two-side JAX code counts atoms per type with ``int(...)``, which fails under
    ``jit``/``vmap``.  Works in place on the serialized dictionary.
    """
    for node in _dicts(model_dict):
        if _is_two_side_se_a(node) and node.get("embeddings", {}).get("ntypes") == 1:
            node["type_one_side"] = True
            node["embeddings"]["ndim"] = 1


def _float32_cutoffs(descriptor_dict):
    """Round descriptor cutoffs to float32, in place.

    deepmd-kit's TensorFlow graphs pass ``rcut``/``rcut_smth`` to their environment-matrix ops
    as 32-bit float attributes, so a ``.pb`` model computes with float32(rcut) (5.2 becomes
    5.19999981); its serialized dictionary keeps the float64 value.  Rounding makes the JAX
    path reproduce what the ``.pb`` (``DeepPot``, LAMMPS) actually computes.
    """
    for node in _dicts(descriptor_dict):
        for key in ("rcut", "rcut_smth"):
            if isinstance(node.get(key), float):
                node[key] = float(np.float32(node[key]))


class DeepMDModel:
    """A DeePMD energy model in JAX, independent of any particular configuration.

    Parameters
    ----------
    path : str or Path
        Model file, any of :data:`MODEL_SUFFIXES` (``.pb``, ``.dp``, ``.jax``...).
    float32_cutoffs : bool, optional
        Round ``rcut``/``rcut_smth`` to float32 as deepmd-kit's TensorFlow ops do.  Default:
        only for ``.pb`` files, so the JAX path computes what ``DeepPot`` and LAMMPS compute
        with the same file.  Pass True for a ``.dp`` converted from a ``.pb`` to get the
        ``.pb``'s function (the two differ by ~1e-8 eV/atom otherwise).
    """

    def __init__(self, path, float32_cutoffs: bool | None = None):
        self.path = _check_model_file(path).resolve()
        data = read_deepmd_model(self.path)
        model_dict = copy.deepcopy(data["model"])
        _one_side_if_single_type(model_dict)
        if float32_cutoffs is None:
            float32_cutoffs = self.path.suffix == ".pb"
        self.float32_cutoffs = bool(float32_cutoffs)
        if self.float32_cutoffs:
            _float32_cutoffs(model_dict["descriptor"])
        from deepmd.jax.model.model import BaseModel  # (this import registers the JAX classes)

        self.jax_model = BaseModel.deserialize(model_dict)
        self.type_map = list(self.jax_model.get_type_map())
        self.rcut = float(self.jax_model.get_rcut())
        self.sel = list(self.jax_model.get_sel())
        self.nnei = int(sum(self.sel))
        if self.jax_model.get_dim_fparam() or self.jax_model.get_dim_aparam():
            raise NotImplementedError(
                f"{self.path.name}: models with frame/atomic parameters (fparam/aparam) are not "
                "supported by qfe's JAX path")
        if "energy" not in self.jax_model.model_output_def().keys():
            raise ValueError(f"{self.path.name} is not an energy model "
                             f"(outputs: {list(self.jax_model.model_output_def().keys())})")
        self._sort_nlist = bool(self.jax_model.need_sorted_nlist_for_lower())
        self.lean_path = self._lean_path_applies()
        if not self.lean_path:
            self._check_generic_jittable(model_dict)

    def __repr__(self):
        return (f"DeepMDModel({str(self.path)!r}, type_map={self.type_map}, rcut={self.rcut}, "
                f"sel={self.sel}, lean_path={self.lean_path})")

    # ------------------------------------------------------------------ set-up
    def _lean_path_applies(self) -> bool:
        from deepmd.dpmodel.atomic_model.dp_atomic_model import DPAtomicModel
        from deepmd.dpmodel.fitting.ener_fitting import EnergyFittingNet

        atomic = getattr(self.jax_model, "atomic_model", None)
        fit = getattr(atomic, "fitting_net", None)
        return (
            isinstance(atomic, DPAtomicModel)
            and _lean_descriptor_supported(getattr(atomic, "descriptor", None))
            and isinstance(fit, EnergyFittingNet)
            and not list(getattr(atomic, "atom_exclude_types", []) or [])
            and not list(getattr(atomic, "pair_exclude_types", []) or [])
        )

    @staticmethod
    def _check_generic_jittable(model_dict):
        if any(_is_two_side_se_a(node) for node in _dicts(model_dict)):
            raise NotImplementedError(
                "this model nests an se_e2_a descriptor with type_one_side=False and several atom "
                "types inside another descriptor; deepmd-kit's JAX code for it cannot run under "
                "jit (it counts atoms per type with int()); only plain se_e2_a models with that "
                "setting are supported")

    def atom_types(self, symbols) -> np.ndarray:
        """Model type index of each chemical symbol; ValueError names symbols it lacks."""
        index = {s: k for k, s in enumerate(self.type_map)}
        missing = sorted({s for s in symbols if s not in index})
        if missing:
            first = next(i for i, s in enumerate(symbols) if s in missing)
            raise ValueError(
                f"atoms of type {missing} (first: atom {first}) are not in the type map "
                f"{self.type_map} of model {self.path.name}")
        return np.array([index[s] for s in symbols], dtype=np.int64)

    # ------------------------------------------------------------------ numerics (pure JAX)
    def atomic_energies(self, ext_positions, ext_types, nlist, center_types):
        """Energy per local atom (eV) from extended coordinates (nall, 3), extended types
        (nall,), a neighbor list (nloc, width) of extended indices and the local types as a
        *host* int array (static: they select embedding nets)."""
        import jax.numpy as jnp

        model = self.jax_model
        ext = ext_positions[None]
        ext_t = jnp.asarray(ext_types)[None]
        nl = model.format_nlist(ext, ext_t, jnp.asarray(nlist)[None],
                                extra_nlist_sort=self._sort_nlist)
        if self.lean_path:
            atomic = model.atomic_model
            center = jnp.asarray(center_types)[None]
            descriptor, rot = _lean_descriptor(atomic.descriptor, ext, ext_t, nl,
                                               np.asarray(center_types))
            out = atomic.fitting_net(descriptor[None], center, gr=rot[None], g2=None, h2=None)
            out = atomic.apply_out_stat(out, center)
            return out["energy"][0, :, 0]
        out = model.atomic_model.forward_common_atomic(ext, ext_t, nl)
        return out["energy"][0, :, 0]


def _lean_descriptor_supported(desc) -> bool:
    from deepmd.dpmodel.descriptor.hybrid import DescrptHybrid
    from deepmd.dpmodel.descriptor.se_e2_a import DescrptSeA
    from deepmd.dpmodel.descriptor.se_t import DescrptSeT

    if isinstance(desc, DescrptHybrid):
        return all(_lean_descriptor_supported(d) and d.mixed_types() == desc.mixed_types()
                   for d in desc.descrpt_list)
    return (isinstance(desc, (DescrptSeA, DescrptSeT))
            and not getattr(desc, "compress", False)
            and not list(getattr(desc, "exclude_types", []) or []))


def _lean_descriptor(desc, ext, ext_types, nlist, center_types):
    """deepmd-kit's se_e2_a / se_e3 / hybrid descriptor of one frame: (nloc, dim), rot.

    The same modules and parameters as their ``call`` (environment matrix, embedding nets,
    normalisation), with the neighbor sums written as ``einsum`` contractions instead of the
    reference code's broadcast-and-sum (several times faster under ``grad``).  ``nlist`` is
    deepmd-kit's formatted list (1, nloc, nsel); ``center_types`` a host int array.
    """
    import jax.numpy as jnp
    from deepmd.dpmodel.descriptor.hybrid import DescrptHybrid
    from deepmd.dpmodel.descriptor.se_e2_a import DescrptSeA

    if isinstance(desc, DescrptHybrid):
        outs, rots = [], []
        for sub, cut in zip(desc.descrpt_list, desc.nlist_cut_idx, strict=True):
            d, r = _lean_descriptor(sub, ext, ext_types, nlist[:, :, np.asarray(cut)],
                                    center_types)
            outs.append(d)
            if r is not None:
                rots.append(r)
        return jnp.concatenate(outs, axis=-1), (jnp.concatenate(rots, axis=-2) if rots else None)
    rr, _, _ = desc.env_mat.call(ext, ext_types, nlist, desc.davg[...], desc.dstd[...])
    rr = rr[0].astype(desc.dstd[...].dtype)             # nloc x nnei x 4
    if isinstance(desc, DescrptSeA):
        return _se_a(desc, rr, center_types)
    return _se_t(desc, rr), None


def _se_a(desc, rr, center_types):
    """se_e2_a: G_i = (1/nnei) sum_j g(s_ij) R_ij, D = G G[:axis]^T (deepmd-kit's layout)."""
    import jax.numpy as jnp

    nloc = rr.shape[0]
    sec = desc.sel_cumsum
    ng = desc.neuron[-1]
    gr = jnp.zeros((nloc, ng, 4), dtype=rr.dtype)
    for tt in range(desc.ntypes):
        block = rr[:, sec[tt]:sec[tt + 1], :]
        if block.shape[1] == 0:
            continue
        if desc.type_one_side:
            g = desc.cal_g(block[..., 0:1], (tt,))
            gr = gr + jnp.einsum("inm,inc->imc", g, block)
        else:
            for ti in np.unique(center_types):
                rows = np.nonzero(center_types == ti)[0]
                g = desc.cal_g(block[rows][..., 0:1], (int(ti), tt))
                gr = gr.at[rows].add(jnp.einsum("inm,inc->imc", g, block[rows]))
    gr = gr / desc.nnei
    grrg = jnp.einsum("imc,ikc->imk", gr, gr[:, :desc.axis_neuron, :])
    return grrg.reshape(nloc, ng * desc.axis_neuron), gr[..., 1:]


def _se_t(desc, rr):
    """se_e3: sum over neighbor pairs (j, k) of t_jk g(t_jk), t_jk = R_j[1:] . R_k[1:]."""
    import jax.numpy as jnp

    nloc = rr.shape[0]
    sec = desc.sel_cumsum
    out = jnp.zeros((nloc, desc.neuron[-1]), dtype=rr.dtype)
    for ti in range(desc.ntypes):
        for tj in range(ti, desc.ntypes):
            ri = rr[:, sec[ti]:sec[ti + 1], 1:]
            rj = rr[:, sec[tj]:sec[tj + 1], 1:]
            if ri.shape[1] == 0 or rj.shape[1] == 0:
                continue
            env = jnp.einsum("ijc,ikc->ijk", ri, rj)
            gg = desc.embeddings[(ti, tj)].call(env[..., None])
            out = out + jnp.einsum("ijk,ijkm->im", env, gg) / (desc.sel[ti] * desc.sel[tj])
    return out


@dataclass(eq=False)
class DeepMDPotential(Potential):
    """A DeePMD model bound to a fixed set of atoms (species, cell), as a :class:`Potential`.

    Use :func:`load_deepmd` to create one.  ``energy(positions, cell=None)`` is pure JAX and
    works under ``jit``, ``vmap``, ``grad`` and ``hessian``.  It returns NaN (never a silently
    wrong number) if the positions/cell moved beyond what the neighbor data covers; call
    :meth:`prepare` on new configurations (it rebuilds and returns True when needed; jitted
    closures must then be re-created).
    """

    model: DeepMDModel | None = None
    skin: float = 1.0
    types: np.ndarray | None = field(default=None, repr=False)
    neighbors: NeighborData | None = field(default=None, repr=False)

    def __post_init__(self):
        super().__post_init__()
        if self.model is None:
            raise ValueError("DeepMDPotential needs a model (use load_deepmd)")
        if self.reference_positions is None:
            raise ValueError("DeepMDPotential needs reference_positions")
        if self.skin < 0:
            raise ValueError(f"skin must be >= 0 A, got {self.skin}")
        self.types = self.model.atom_types(self.symbols)
        self.name = f"deepmd:{self.model.path.name}"
        if self.neighbors is None:
            self._build(self.reference_positions, self.cell, self.skin)
        else:
            self.neighbors_version = 0
            self._ext_types = self.types[self.neighbors.mapping]
            self._bind_numerics()

    def _build(self, positions, cell, skin):
        self.neighbors = build_neighbor_data(positions, cell, self.model.rcut, skin)
        self.neighbors_version = getattr(self, "neighbors_version", -1) + 1
        self.reference_positions = self.neighbors.reference_positions
        self._ext_types = self.types[self.neighbors.mapping]
        dense = self.neighbors.max_neighbors_within(self.model.rcut)
        if dense > self.model.nnei:
            warnings.warn(
                f"{self.model.path.name}: an atom has {dense} neighbors within rcut = "
                f"{self.model.rcut} A but the model selects only sel = {self.model.sel}; "
                "the farthest are dropped (as in deepmd-kit), the model is used outside its "
                "design density", stacklevel=3)

        self._bind_numerics()

    # ---- pure numerics -------------------------------------------------------------------
    def _bind_numerics(self):
        """(Re)create ``atomic_energies``/``energy`` as closures over the current neighbor data.

        jax.jit caches traces by function identity, and a bound method of the same object is
        the same function to it: after a rebuild, ``jax.jit(pot.energy)`` would silently reuse
        the trace holding the old neighbor arrays.  Fresh closures per build avoid that, and a
        closure jitted earlier keeps its own (consistent) neighbor data and returns NaN when
        asked about configurations that data does not cover."""
        import jax.numpy as jnp

        model, types = self.model, self.types
        nbrs, ext_types, ref_cell = self.neighbors, self._ext_types, self.cell

        def atomic_energies(positions, cell=None):
            """Energy per atom (N,) in eV; pure JAX."""
            c = ref_cell if cell is None else cell
            c_arr = None if c is None else jnp.asarray(c)
            ext = extended_positions(positions, c_arr, nbrs)
            e = model.atomic_energies(ext, ext_types, nbrs.nlist, types)
            valid = displacement_margin(positions, c_arr, nbrs) >= -MARGIN_TOLERANCE
            return jnp.where(valid, e, jnp.nan)

        def energy(positions, cell=None):
            """Total energy (eV); pure JAX."""
            return jnp.sum(atomic_energies(positions, cell))

        self.atomic_energies = atomic_energies
        self.energy = energy

    def batch_energy(self, positions_batch, cell=None, chunk_size: int = 8):
        """Energies (B,) in eV of a batch (B, N, 3); pure JAX and differentiable.

        Same values as ``jax.vmap(self.energy)`` but evaluated ``chunk_size`` configurations at
        a time with ``jax.lax.map``: on CPU this is faster for large batches, and under
        ``grad`` it keeps only one chunk's activations alive (``vmap`` of 256 x 128 atoms
        would hold several GB).  Call :meth:`prepare` on the batch first."""
        import jax

        return jax.lax.map(lambda p: self.energy(p, cell), positions_batch,
                           batch_size=chunk_size)

    def batch_energy_and_forces(self, positions_batch, cell=None, chunk_size: int | None = None):
        """Energies (B,) eV and forces (B, N, 3) eV/A of a batch, jitted.  Calls
        :meth:`prepare` first (host).

        ``chunk_size=None`` (default) evaluates the whole batch at once (``jax.vmap``: fastest
        on CPU); an integer evaluates that many configurations at a time (``jax.lax.map``),
        which bounds the memory of very large batches at some cost in speed."""
        import jax
        import jax.numpy as jnp

        positions_batch = jnp.asarray(positions_batch)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {chunk_size}")
        self.prepare(np.asarray(positions_batch), cell)
        cache = getattr(self, "_batch_fns", None)
        if cache is None or cache["version"] != self.neighbors_version:
            cache = self._batch_fns = {"version": self.neighbors_version}   # stale: drop all
        key = (chunk_size, cell is None)
        if key not in cache:
            value_and_grad = jax.value_and_grad(self.energy)

            if chunk_size is None:
                def run(batch, c):
                    e, g = jax.vmap(value_and_grad, in_axes=(0, None))(batch, c)
                    return e, -g
            else:
                def run(batch, c):
                    e, g = jax.lax.map(lambda p: value_and_grad(p, c), batch,
                                       batch_size=chunk_size)
                    return e, -g

            cache[key] = jax.jit(run)
        return cache[key](positions_batch, None if cell is None else jnp.asarray(cell))

    # ---- host-side bookkeeping -------------------------------------------------------------
    def prepare(self, positions, cell=None) -> bool:
        """Rebuild the neighbor data if ``positions`` ((N,3) or (B,N,3)) or ``cell`` moved
        beyond the skin.  The new reference is the batch mean; the skin grows to cover the
        batch spread (one list serves the whole batch).  Returns True if rebuilt.  A batch whose
        configurations differ by more than rcut/2 for some atom (e.g. coordinates wrapped
        differently) is refused: pass consistently unwrapped positions."""
        pos = np.asarray(positions, dtype=float)
        if pos.shape[-2:] != (self.natoms, 3) or pos.ndim not in (2, 3):
            raise ValueError(f"positions must have shape ({self.natoms}, 3) or "
                             f"(B, {self.natoms}, 3), got {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError("positions contain NaN or inf")
        new_cell = self.cell if cell is None else np.asarray(cell, dtype=float)
        if displacement_margin(pos, new_cell, self.neighbors) >= -MARGIN_TOLERANCE:
            return False
        batch = pos.reshape(-1, self.natoms, 3)
        ref = batch.mean(axis=0)
        spread = np.max(np.linalg.norm(batch - ref, axis=-1))
        if spread > 0.5 * self.model.rcut:
            atom = int(np.argmax(np.max(np.linalg.norm(batch - ref, axis=-1), axis=0)))
            raise ValueError(
                f"atom {atom} is {spread:.2f} A from its batch-mean position, more than rcut/2 = "
                f"{0.5 * self.model.rcut} A: one neighbor list cannot serve this batch (wrapped "
                "coordinates?); pass unwrapped positions or smaller batches")
        skin = max(self.skin, 2.2 * spread)
        if cell is not None:
            self.cell = new_cell
        self._build(ref, self.cell, skin)
        return True


def load_deepmd(path, atoms=None, *, symbols=None, positions=None, cell=None, types=None,
                type_map=None, skin: float = 1.0, masses=None) -> DeepMDPotential:
    """Load a DeePMD model for a given set of atoms.

    Parameters
    ----------
    path : model file (:data:`MODEL_SUFFIXES`) or an already loaded :class:`DeepMDModel`.
    atoms : ase.Atoms, optional
        Species, positions (reference for the neighbor data) and cell (``None`` if no pbc).
    symbols, positions, cell : alternative to ``atoms``: chemical symbols (N,), positions
        (N, 3) A, cell (3, 3) A with rows = lattice vectors (None = isolated cluster).
    types : alternative to ``symbols``: model type index per atom (into the type map).
    type_map : list of str, optional
        Species names the caller assumes for the model's types; a ValueError is raised if
        they differ from the model's own type map.
    skin : A, extra neighbor radius (atoms may move skin/2 before a rebuild).
    masses : amu (N,), default from ASE's tables.
    """
    model = path if isinstance(path, DeepMDModel) else DeepMDModel(path)
    if type_map is not None and list(type_map) != model.type_map[:len(type_map)]:
        raise ValueError(f"type map {list(type_map)} does not match the type map "
                         f"{model.type_map} of model {model.path.name}")
    if atoms is not None:
        if symbols is not None or positions is not None or cell is not None:
            raise ValueError("give either atoms or symbols/positions/cell, not both")
        symbols = atoms.get_chemical_symbols()
        positions = atoms.get_positions()
        pbc = atoms.get_pbc()
        if pbc.all():
            cell = np.array(atoms.get_cell())
        elif pbc.any():
            raise ValueError(f"partial periodicity pbc={pbc.tolist()} is not supported; use all "
                             "True or all False")
        if masses is None:
            masses = atoms.get_masses()
    if types is not None:
        if symbols is not None:
            raise ValueError("give either symbols or types, not both")
        types = np.asarray(types)
        bad = types[(types < 0) | (types >= len(model.type_map))]
        if len(bad):
            raise ValueError(f"atom type {int(bad[0])} is out of range for the type map "
                             f"{model.type_map} of model {model.path.name}")
        symbols = [model.type_map[int(t)] for t in types]
    if symbols is None or positions is None:
        raise ValueError("need atoms, or symbols (or types) and positions")
    symbols = list(symbols)
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(symbols), 3):
        raise ValueError(f"positions shape {positions.shape} does not match {len(symbols)} symbols")
    if masses is None:
        from ase.data import atomic_masses, atomic_numbers

        unknown = [s for s in symbols if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"unknown chemical symbol(s) {sorted(set(unknown))}")
        masses = [atomic_masses[atomic_numbers[s]] for s in symbols]
    return DeepMDPotential(symbols=symbols, masses=np.asarray(masses, dtype=float), cell=cell,
                           reference_positions=positions, model=model, skin=skin)


def deepmd_ase_calculator(path, **kwargs):
    """deepmd-kit's own ASE calculator (``deepmd.calculator.DP``) for the model file."""
    path = _check_model_file(path)
    with _quiet_tensorflow():
        from deepmd.calculator import DP

        return DP(model=str(path), **kwargs)


def deepmd_pair_lines(path, species) -> list[str]:
    """LAMMPS lines that use the model: ``pair_style deepmd <file>``, ``pair_coeff * * <el>...``.

    ``species`` lists the element of each LAMMPS atom type (1, 2, ...).  The file must be a
    ``.pb`` (deepmd-kit's LAMMPS plugin needs the TensorFlow graph here).
    """
    path = _check_model_file(path).resolve()
    if path.suffix != ".pb":
        raise ValueError(f"pair_style deepmd needs the .pb (TensorFlow) model here, got "
                         f"{path.name}")
    species = [species] if isinstance(species, str) else list(species)
    if not species:
        raise ValueError("need at least one species for pair_coeff")
    return [f"pair_style deepmd {path}", "pair_coeff * * " + " ".join(species)]
