"""Partial radial distribution functions g_ab(r) and coordination numbers.

For species a, b and a bin [r_k, r_k+1):

    g_ab = V n_ab / (N_a N'_b 4/3 pi (r_k+1^3 - r_k^3)),   N'_b = N_b - 1 if a == b else N_b

(N'_b = N_b also for a == b when r_max reaches the cell width, where atoms see their own images)

with n_ab the number of ordered (a, b) pairs in the bin, every periodic image counted (so
cutoffs beyond half the box are fine), averaged over frames.  The coordination number
n_ab(r) = (pairs with distance < r) / N_a is the mean number of b atoms within r of an a atom.
Pairs come from one ``cKDTree`` query per frame (periodic ``boxsize`` for orthogonal cells with
r_max below half the box, explicit periodic images otherwise) and are binned for all species
pairs at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from qfe.analysis.io.frames import Trajectory
from qfe.analysis.neighbors import fractional, is_orthogonal, periodic_images, perpendicular_widths

__all__ = ["RDFResult", "rdf_counts", "rdf", "parse_pairs"]


@dataclasses.dataclass
class RDFResult:
    """r: bin centres (A); edges (A); g[(a, b)]; coordination[(a, b)] at the upper bin edges."""

    r: np.ndarray
    edges: np.ndarray
    g: dict
    coordination: dict
    n_frames: int

    def table(self) -> tuple[list[str], np.ndarray]:
        names = ["r_A"]
        cols = [self.r]
        for (a, b), g in self.g.items():
            names += [f"g_{a}-{b}", f"n_{a}-{b}"]
            cols += [g, self.coordination[(a, b)]]
        return names, np.column_stack(cols)

    def first_peaks(self) -> dict:
        """"a-b" -> (r of the highest bin (A), g there): the first-shell peak of a solid."""
        return {f"{a}-{b}": (float(self.r[int(g.argmax())]), float(g.max()))
                for (a, b), g in self.g.items()}

    def as_dict(self) -> dict:
        return {"n_frames": self.n_frames, "r_max_A": float(self.edges[-1]), "bins": len(self.r),
                "pairs": {name: {"first_peak_A": r, "g_max": g}
                          for name, (r, g) in self.first_peaks().items()}}

    def summary(self) -> str:
        return "\n".join(
            f"{name}: first peak at {r:.3f} A (g = {g:.3g}), "
            f"n({self.edges[-1]:.2f} A) = {self.coordination[pair][-1]:.3f}"
            for (name, (r, g)), pair in zip(self.first_peaks().items(), self.g))


def _ordered_pair_histograms(positions, codes, n_species, cell, pbc, r_max, n_bins,
                             chunk: int = 1 << 20):
    """Histogram (n_species, n_species, n_bins) of ordered pairs (i != j, every periodic image)
    by distance on [0, r_max), species codes ``codes`` (N,) in 0..n_species-1.

    Pairs are processed in chunks so that no large temporary arrays are allocated (at 44,000
    atoms and 6 A there are ~7 million pairs per frame).
    """
    cell = np.asarray(cell, float)
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    frac = fractional(positions, cell)
    frac = np.where(pbc, frac - np.floor(frac), frac)
    inv_dr = n_bins / r_max
    size = n_species * n_species * n_bins
    hist = np.zeros(size, np.int64)
    if np.all(pbc) and is_orthogonal(cell) and r_max < 0.5 * np.diag(cell).min():
        # each unordered pair once (periodic tree), binned under (min code, max code)
        box = np.diag(cell)
        xyz = np.mod(frac * box, box)
        pairs = cKDTree(xyz, boxsize=box).query_pairs(r_max, output_type="ndarray")
        comps = [np.ascontiguousarray(xyz[:, k]) for k in range(3)]
        for lo in range(0, len(pairs), chunk):
            i = pairs[lo:lo + chunk, 0]
            j = pairs[lo:lo + chunk, 1]
            r2 = np.zeros(len(i))
            for k in range(3):
                d = comps[k][i] - comps[k][j]
                d -= box[k] * np.round(d * (1.0 / box[k]))
                r2 += d * d
            bins = (np.sqrt(r2) * inv_dr).astype(np.int64)
            ci, cj = codes[i], codes[j]
            flat = (np.minimum(ci, cj) * n_species + np.maximum(ci, cj)) * n_bins + bins
            hist += np.bincount(flat[bins < n_bins], minlength=size)
        hist = hist.reshape(n_species, n_species, n_bins)
        return (hist + hist.transpose(1, 0, 2)).astype(float)
    # general cell or long cutoff: ordered pairs against explicit periodic images
    xyz_b, index_b = periodic_images(frac, cell, pbc, r_max)
    tree_b = cKDTree(xyz_b)
    xyz_a = frac @ cell
    rows = max(1, chunk // 512)
    for lo in range(0, len(xyz_a), rows):
        sdm = cKDTree(xyz_a[lo:lo + rows]).sparse_distance_matrix(tree_b, r_max,
                                                                   output_type="ndarray")
        i, g, d = sdm["i"] + lo, sdm["j"], sdm["v"]
        keep = g != i                      # the unshifted copy of every atom comes first
        bins = (d[keep] * inv_dr).astype(np.int64)
        flat = (codes[i[keep]] * n_species + codes[index_b[g[keep]]]) * n_bins + bins
        hist += np.bincount(flat[bins < n_bins], minlength=size)
    return hist.reshape(n_species, n_species, n_bins).astype(float)


def _normalise(hist_ab, na, nb, same, cell, pbc, edges):
    vol = abs(np.linalg.det(cell))
    shell = 4.0 / 3.0 * np.pi * np.diff(edges ** 3)
    # an atom sees N_b - 1 others, plus its own periodic images once r_max reaches the
    # shortest lattice translation (>= the smallest width): then the reference density is N_b/V
    own_images = (bool(np.any(pbc))
                  and edges[-1] >= perpendicular_widths(cell)[np.asarray(pbc)].min())
    nb_eff = nb - 1 if same and not own_images else nb
    g = vol * hist_ab / (na * nb_eff * shell)
    return g, np.cumsum(hist_ab) / na


def rdf_counts(positions_a: np.ndarray, positions_b: np.ndarray | None, cell: np.ndarray,
               r_max: float, n_bins: int, pbc=True):
    """(edges, g, coordination) of one configuration on ``n_bins`` bins of [0, r_max] (A).

    ``positions_b=None``: the a-a function (self pairs excluded, N'_b = N_a - 1).
    """
    if not r_max > 0 or n_bins < 1:
        raise ValueError(f"need r_max > 0 and n_bins >= 1 (got {r_max}, {n_bins})")
    same = positions_b is None
    pos = positions_a if same else np.concatenate([positions_a, positions_b])
    codes = np.zeros(len(pos), np.int64)
    if not same:
        codes[len(positions_a):] = 1
    na = len(positions_a)
    nb = na if same else len(positions_b)
    if na == 0 or nb == 0:
        raise ValueError(f"need atoms of both species (got {na} and {nb})")
    hist = _ordered_pair_histograms(pos, codes, 1 if same else 2, cell, pbc, r_max, n_bins)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    g, n = _normalise(hist[0, 0] if same else hist[0, 1], na, nb, same, np.asarray(cell, float),
                      np.broadcast_to(np.asarray(pbc, bool), (3,)), edges)
    return edges, g, n


def parse_pairs(spec, labels) -> list[tuple[str, str]]:
    """'Li-Li,La-H' or [('La', 'H')] -> list of pairs; None -> all unordered pairs of labels."""
    present = sorted(set(map(str, labels)))
    if spec is None:
        return [(a, b) for k, a in enumerate(present) for b in present[k:]]
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        a, b = item.split("-") if isinstance(item, str) else item
        for s in (a, b):
            if str(s) not in present:
                raise ValueError(f"species {s!r} of pair {item!r} not present; have {present}")
        out.append((str(a), str(b)))
    return out


def rdf(traj: Trajectory, pairs=None, *, r_max: float | None = None, n_bins: int = 200,
        frames=None, progress: bool = False) -> RDFResult:
    """Partial RDFs of ``pairs`` (default: all species pairs), averaged over ``frames``
    (indices or a slice; default all).  ``r_max`` defaults to half the smallest width of the
    first cell."""
    labels = traj.species()
    pairs = parse_pairs(pairs, labels)
    fidx = np.arange(traj.n_frames)[frames if frames is not None else slice(None)]
    if len(fidx) == 0:
        raise ValueError("no frames selected")
    if r_max is None:
        r_max = 0.5 * float(perpendicular_widths(traj.cells[fidx[0]]).min())
    if not r_max > 0 or n_bins < 1:
        raise ValueError(f"need r_max > 0 and n_bins >= 1 (got {r_max}, {n_bins})")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    species = sorted(set(labels.tolist()))
    codes = np.searchsorted(species, labels).astype(np.int64)
    counts = {s: int(np.count_nonzero(labels == s)) for s in species}
    g_sum = {p: np.zeros(n_bins) for p in pairs}
    n_sum = {p: np.zeros(n_bins) for p in pairs}
    it = fidx
    if progress:
        from tqdm import tqdm

        it = tqdm(fidx, desc="RDF", unit="frame", leave=False, disable=None)
    for f in it:
        cell = traj.cells[f]
        hist = _ordered_pair_histograms(traj.positions[f] - traj.origins[f], codes, len(species),
                                        cell, traj.pbc, r_max, n_bins)
        for a, b in pairs:
            g, n = _normalise(hist[species.index(a), species.index(b)], counts[a], counts[b],
                              a == b, cell, traj.pbc, edges)
            g_sum[(a, b)] += g
            n_sum[(a, b)] += n
    nf = len(fidx)
    return RDFResult(r=0.5 * (edges[1:] + edges[:-1]), edges=edges,
                     g={p: v / nf for p, v in g_sum.items()},
                     coordination={p: v / nf for p, v in n_sum.items()}, n_frames=nf)
