"""Distortion angle theta between the H quadrilaterals of the LaH10 (H32) cage.

Definition (ours; Qin et al., PRB 108, 064102 (2023) use "the angle between the H
quadrilaterals of the cage" as the order parameter, whose precise construction we could not
read, so this module states its own):

1. **Cage directions.**  For each metal atom M (La) the 6 second-nearest M neighbours (the
   fcc neighbours at distance a along the cubic axes; ranks 13-18 by distance) give 6 unit
   vectors d_k, k = 1..6: the directions from M to the 6 octahedral holes around it (the
   midpoints), where the H8 units sit.
2. **Quadrilaterals.**  Among the ``cage_size`` (32) H nearest to M (with periodic images),
   quadrilateral k is the 4 H whose direction from M makes the smallest angle with d_k (23.6 deg
   in the ideal structure at x = 0.12; the 8c H of the cage are at 54.7 deg from every d_k).
   The 6 quadrilaterals must be disjoint; otherwise the cage is reported as not identified.
3. **Planes.**  The unit normal n_k of quadrilateral k is the direction of least variance of
   its 4 positions (smallest right-singular vector of the centred 4 x 3 matrix), oriented with
   n_k . d_k > 0 (pointing away from M).
4. **Angles.**  For the 12 pairs (k, l) of *adjacent* quadrilaterals (d_k . d_l > -1/2, i.e.
   not opposite), the distortion angle is the angle between the two planes,

       theta_kl = arccos |n_k . n_l|   in degrees, 0 < theta <= 90,

   and phi_kl = arccos(n_k . n_l) (0..180) keeps the sense (opening vs closing).  In the ideal
   Fm-3m structure every theta_kl is exactly 90 deg.  A homogeneous strain F maps the normals
   to F^-T n (exact reference used in the tests); e.g. the simple shear x -> x + g y gives
   theta = 90 - atan(g) for the 4 (x, y) pairs and 90 for the 8 others.

Per structure we report theta for every (M, pair), their mean, minimum and standard deviation,
and the mean of |phi - 90| (the rms of phi - 90 is the natural small-distortion measure).  For a
thermal frame every theta_kl lies below 90 by the noise alone (|cos| >= 0): compare runs at the
same temperature, or analyse time-averaged structures (``average_structure``), as for the
symmetry analysis.  Invariant under translations, rotations, atom order and supercells.
Units: positions in A, angles in degrees.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from qfe.analysis.neighbors import check_cell, fractional, periodic_images

__all__ = ["CageAngles", "cage_angles", "cage_angles_trajectory"]


@dataclasses.dataclass
class CageAngles:
    theta: np.ndarray          # (n_metal, 12) degrees, angle between adjacent quadrilateral planes
    phi: np.ndarray            # (n_metal, 12) degrees, angle between outward normals
    pairs: np.ndarray          # (n_metal, 12, 2) indices k, l of the quadrilaterals in each cage
    normals: np.ndarray        # (n_metal, 6, 3) unit outward normals
    quadrilaterals: np.ndarray  # (n_metal, 6, 4) H indices (into the input atoms)
    metal_indices: np.ndarray  # (n_metal,) indices of the metal atoms

    @property
    def mean(self) -> float:
        return float(self.theta.mean())

    @property
    def minimum(self) -> float:
        return float(self.theta.min())

    @property
    def std(self) -> float:
        return float(self.theta.std())

    @property
    def mean_abs_phi_deviation(self) -> float:
        return float(np.abs(self.phi - 90.0).mean())

    def as_dict(self) -> dict:
        return {"theta_mean_deg": self.mean, "theta_min_deg": self.minimum,
                "theta_std_deg": self.std,
                "mean_abs_phi_minus_90_deg": self.mean_abs_phi_deviation,
                "n_cages": int(self.theta.shape[0]), "pairs_per_cage": int(self.theta.shape[1])}

    def summary(self) -> str:
        return (f"cage angle theta over {self.theta.shape[0]} cages x {self.theta.shape[1]} "
                f"quadrilateral pairs: mean {self.mean:.3f} deg, min {self.minimum:.3f} deg, "
                f"std {self.std:.3f} deg; <|phi - 90|> = {self.mean_abs_phi_deviation:.3f} deg")


def _nearest_images(centres, points_frac, cell, pbc, k, cutoff):
    """Vectors (n_centres, k, 3) from each centre to its k nearest periodic images of the points
    and the indices of those points; ``cutoff`` must exceed the k-th distance."""
    xyz, index = periodic_images(points_frac, cell, pbc, cutoff)
    if len(xyz) < k:
        raise ValueError(f"only {len(xyz)} periodic images within {cutoff:.3f} A; need {k}")
    dist, j = cKDTree(xyz).query(centres, k=k)
    if np.any(dist[:, -1] > cutoff):
        raise ValueError("neighbour search radius too small (internal error)")
    return xyz[j] - centres[:, None, :], index[j], dist


def cage_angles(atoms, metal: str = "La", hydrogen: str = "H", cage_size: int = 32,
                symbols=None, positions=None, cell=None, pbc=True) -> CageAngles:
    """theta (and phi) of every La cage of one structure (``ase.Atoms``, or ``symbols``,
    ``positions`` (A) and ``cell`` (rows, A)); see the module doc for the definition.

    Raises ValueError naming the problem: no metal/hydrogen atoms, fewer H than a cage, or a
    cage whose 6 quadrilaterals cannot be identified (overlapping sets: not an H32 cage)."""
    if atoms is not None:
        symbols = atoms.get_chemical_symbols()
        positions = atoms.get_positions()
        cell = atoms.cell.array
        pbc = atoms.pbc
    symbols = np.asarray(symbols)
    positions = np.asarray(positions, float)
    cell, pbc = check_cell(np.asarray(cell, float), pbc)
    m_idx = np.flatnonzero(symbols == metal)
    h_idx = np.flatnonzero(symbols == hydrogen)
    if len(m_idx) == 0:
        raise ValueError(f"no {metal!r} atoms in the structure (species: {sorted(set(symbols))})")
    if len(h_idx) < 24:
        raise ValueError(f"{len(h_idx)} {hydrogen!r} atoms: too few for H32 cages")
    vol = abs(np.linalg.det(cell))
    a_est = (4.0 * vol / len(m_idx)) ** (1.0 / 3.0)      # fcc conventional edge from density
    m_pos = positions[m_idx]
    frac = fractional(positions, cell)
    frac = np.where(pbc, frac - np.floor(frac), frac)
    # 1. second-nearest metal neighbours (ranks 13..18; rank 0 is the atom itself)
    vec_m, _, dist_m = _nearest_images(m_pos, frac[m_idx], cell, pbc, 20, 2.0 * a_est)
    second = vec_m[:, 13:19, :]
    # ideal fcc shells: 12 at a/sqrt(2), 6 at a, 24 at a sqrt(3/2)
    if np.any(dist_m[:, 13] < 1.1 * dist_m[:, 12]) or np.any(dist_m[:, 19] < 1.03 * dist_m[:, 18]):
        raise ValueError(f"{metal} sublattice is not fcc-like: no clear shell of 6 second "
                         "neighbours")
    d = second / np.linalg.norm(second, axis=2, keepdims=True)          # (n, 6, 3)
    # 2. the cage: nearest H images
    vec_h, idx_h, _ = _nearest_images(m_pos, frac[h_idx], cell, pbc, cage_size, 1.5 * a_est)
    u = vec_h / np.linalg.norm(vec_h, axis=2, keepdims=True)            # (n, 32, 3)
    cosang = np.einsum("nkc,nhc->nkh", d, u)                             # (n, 6, 32)
    quad = np.argsort(-cosang, axis=2)[:, :, :4]                         # (n, 6, 4)
    flat = np.sort(quad.reshape(len(m_idx), -1), axis=1)
    bad = np.flatnonzero(np.any(flat[:, 1:] == flat[:, :-1], axis=1))
    if len(bad):
        raise ValueError(f"cage of {metal} atom {int(m_idx[bad[0]])}: the 6 quadrilaterals "
                         "overlap (not an H32 clathrate cage)")
    pts = np.take_along_axis(vec_h[:, None, :, :], quad[..., None], axis=2)   # (n, 6, 4, 3)
    centred = pts - pts.mean(axis=2, keepdims=True)
    _, _, vt = np.linalg.svd(centred)
    n = vt[..., -1, :]                                                   # (n, 6, 3)
    n = n * np.sign(np.einsum("nkc,nkc->nk", n, d))[..., None]
    # 4. adjacent pairs
    dd = np.einsum("nkc,nlc->nkl", d, d)
    k_i, l_i = np.triu_indices(6, 1)
    adjacent = dd[:, k_i, l_i] > -0.5                                    # (n, 15)
    if np.any(adjacent.sum(axis=1) != 12):
        raise ValueError("cage directions are not those of an fcc metal sublattice")
    pairs = np.stack([np.broadcast_to(k_i, adjacent.shape)[adjacent].reshape(-1, 12),
                      np.broadcast_to(l_i, adjacent.shape)[adjacent].reshape(-1, 12)], axis=2)
    nn = np.einsum("nkc,nlc->nkl", n, n)
    c = np.take_along_axis(nn.reshape(len(m_idx), 36),
                           pairs[..., 0] * 6 + pairs[..., 1], axis=1)
    c = np.clip(c, -1.0, 1.0)
    theta = np.degrees(np.arccos(np.abs(c)))
    phi = np.degrees(np.arccos(c))
    return CageAngles(theta=theta, phi=phi, pairs=pairs, normals=n,
                      quadrilaterals=h_idx[idx_h[np.arange(len(m_idx))[:, None, None], quad]],
                      metal_indices=m_idx)


def cage_angles_trajectory(traj, metal: str = "La", hydrogen: str = "H", n_blocks: int = 5):
    """Per-frame mean theta (degrees) of a :class:`qfe.analysis.io.Trajectory` and the mean over
    frames with a block-averaging standard error (``n_blocks`` consecutive blocks).

    Returns dict(frame_mean, frame_min, mean, error)."""
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    species = traj.species()
    means, mins = [], []
    for f in range(traj.n_frames):
        res = cage_angles(None, metal, hydrogen, symbols=species,
                          positions=traj.positions[f], cell=traj.cells[f], pbc=traj.pbc)
        means.append(res.mean)
        mins.append(res.minimum)
    means = np.asarray(means)
    err = float("nan")
    if n_blocks > 1 and len(means) >= n_blocks:
        blocks = np.array([b.mean() for b in np.array_split(means, n_blocks)])
        err = float(blocks.std(ddof=1) / np.sqrt(n_blocks))
    return {"frame_mean": means, "frame_min": np.asarray(mins), "mean": float(means.mean()),
            "error": err}
