"""Speed of qfe.analysis on LaH10-sized data (Qin et al., PRB 108, 064102 (2023): 44,000 atoms).

1. Reordered MSD' for one frame of 40,000 hydrogen atoms (H sublattice of 10x10x10 LaH10
   cells) with thermal displacements and nearest-neighbour site swaps: time of the certified
   sparse assignment (target <= 2 s on 2 cores), and sparse vs dense (scipy
   linear_sum_assignment) side by side on 2,560 H atoms (4x4x4 cells) where both run.
2. 100 frames of 44,000 atoms: a text dump is written first, then timed: reading it, MSD of
   every species (FFT), RDF of all species pairs up to 6 A.  Ratios against straightforward
   alternatives are measured in the same run: ASE's dump reader, the direct O(F^2) MSD.

Writes benchmarks/results/analysis_speed.txt.  Timings on a shared machine: compare the
ratios, which are measured side by side.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from qfe.analysis.io import read_trajectory, write_lammps_dump
from qfe.analysis.msd import msd
from qfe.analysis.rdf import rdf
from qfe.analysis.reordered_msd import optimal_assignment

A_LAH10 = 5.10          # A, Fm-3m LaH10 near 200 GPa
X_32F = 0.379     # H at 32f (x, x, x): La-H 2.12 A, shortest H-H 1.14 A


def lah10_supercell(n: int):
    from ase.spacegroup import crystal

    cell = crystal(["La", "H", "H"], [(0, 0, 0), (0.25, 0.25, 0.25), (X_32F,) * 3],
                   spacegroup=225, cellpar=[A_LAH10] * 3 + [90] * 3) * (n, n, n)
    return cell.positions.copy(), np.array(cell.cell[:]), np.array(cell.get_chemical_symbols())


def swap_neighbours(positions, cell, n_pairs, rng):
    """Exchange n_pairs disjoint nearest-neighbour pairs (returns new positions, moved count)."""
    from qfe.analysis.neighbors import pairs_within

    i, j, _ = pairs_within(positions, positions, cell, 1.3)
    keep = i < j
    i, j = i[keep], j[keep]
    order = rng.permutation(len(i))
    used = np.zeros(len(positions), bool)
    out = positions.copy()
    done = 0
    for k in order:
        a, b = i[k], j[k]
        if not used[a] and not used[b]:
            out[[a, b]] = out[[b, a]]
            used[[a, b]] = True
            done += 1
            if done == n_pairs:
                break
    return out, 2 * done


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def bench_reordered(lines, rng):
    pos, cell, sym = lah10_supercell(10)
    h = pos[sym == "H"]
    assert len(h) == 40000
    lines.append("reordered MSD', one frame of 40,000 H atoms (LaH10 10x10x10 H sublattice)")
    t_main = None
    for sigma, label in ((0.10, "zero-point-like"), (0.25, "hot, strongly anharmonic")):
        cur = h + rng.normal(0, sigma, h.shape)
        cur, n_swapped = swap_neighbours(cur, cell, 200, rng)
        t, res = timed(lambda: optimal_assignment(h, cur, cell, method="sparse"), repeat=3)
        t_main = t if t_main is None else t_main
        naive = float(np.mean(np.sum((cur - h) ** 2, axis=1)))
        lines.append(f"  sigma = {sigma} A per component ({label}), {n_swapped} atoms on swapped "
                     "sites:")
        lines.append(f"    certified sparse assignment {t:.3f} s (best of 3; target <= 2 s); "
                     f"cutoff {res.cutoff:.3f} A, {res.n_candidates / len(h):.2f} candidates "
                     "per atom, "
                     f"{res.attempts} solve(s), certified optimal: {res.certified}")
        lines.append(f"    MSD' = {res.msd_prime:.5f} A^2 (3 sigma^2 = {3 * sigma ** 2:.5f}), "
                     f"plain MSD = {naive:.5f} A^2, atoms reassigned: {res.n_moved}")
    sigma = 0.10
    # side by side with the dense solver on a cut both can handle
    pos2, cell2, sym2 = lah10_supercell(4)
    h2 = pos2[sym2 == "H"]
    cur2 = h2 + rng.normal(0, sigma, h2.shape)
    cur2, _ = swap_neighbours(cur2, cell2, 20, rng)
    td, dense = timed(lambda: optimal_assignment(h2, cur2, cell2, method="dense"))
    ts, sparse = timed(lambda: optimal_assignment(h2, cur2, cell2, method="sparse"), repeat=3)
    equal = abs(dense.cost - sparse.cost) < 1e-9 * dense.cost
    lines.append(f"  side by side on {len(h2)} H atoms (4x4x4 cells): dense {td:.3f} s, sparse "
                 f"{ts:.4f} s, ratio {td / ts:.0f}x; costs equal: {equal}")
    return t_main


def bench_trajectory(lines, rng, workdir: Path, n_frames=100):
    pos, cell, sym = lah10_supercell(10)
    n = len(pos)
    types = np.where(sym == "La", 1, 2)
    path = workdir / "lah10.lammpstrj"
    # thermal vibrations around the sites plus a slow random walk of H (diffusing state)
    walk = np.zeros((n, 3))
    t0 = time.perf_counter()
    frac_cell = np.linalg.inv(cell)
    for f in range(n_frames):
        walk[types == 2] += rng.normal(0, 0.03, ((types == 2).sum(), 3))
        x = pos + walk + rng.normal(0, 0.08, pos.shape)
        s = x @ frac_cell
        img = np.floor(s).astype(int)
        write_lammps_dump(path, (s - img) @ cell, cell, types, images=img, timesteps=[10 * f],
                          append=f > 0, precision=5)
    t_write = time.perf_counter() - t0
    size_mb = path.stat().st_size / 2 ** 20
    lines.append(f"trajectory: {n_frames} frames x {n} atoms (LaH10 10x10x10), text dump "
                 f"{size_mb:.0f} MB written in {t_write:.1f} s (not counted below)")

    t_read, traj = timed(lambda: read_trajectory(path, timestep=0.001, type_map="La,H"))
    t_msd, res = timed(lambda: {sp: msd(traj, sp) for sp in ("La", "H")})
    t_rdf, g = timed(lambda: rdf(traj, "La-La,La-H,H-H", r_max=6.0, n_bins=300))
    total = t_read + t_msd + t_rdf
    lines.append(f"  read dump:            {t_read:7.1f} s "
                 f"({t_read / n_frames * 1e3:.0f} ms/frame)")
    lines.append(f"  MSD (La, H; FFT):     {t_msd:7.2f} s   "
                 f"MSD_H(last lag) = {res['H'].msd[-1]:.3f} A^2")
    lines.append(f"  RDF (3 pairs, 6 A):   {t_rdf:7.1f} s ({t_rdf / n_frames * 1e3:.0f} ms/frame)")
    lines.append(f"  total read + MSD + RDF: {total:.1f} s")
    from qfe.analysis.rdf import rdf_counts

    p1, c1, s1 = lah10_supercell(1)
    ideal_lah = rdf_counts(p1[s1 == "La"], p1[s1 == "H"], c1, 2.5, 1)[2][-1]
    ideal_hh = rdf_counts(p1[s1 == "H"], None, c1, 1.4, 1)[2][-1]

    def cn(pair, r):
        return g.coordination[pair][np.searchsorted(g.edges, r) - 1]

    lines.append(f"    neighbours: H of La within 2.5 A {cn(('La', 'H'), 2.5):.2f} (perfect "
                 f"lattice {ideal_lah:.0f}), H of H within 1.4 A {cn(('H', 'H'), 1.4):.2f} "
                 f"(perfect {ideal_hh:.0f})")
    # ratios against straightforward alternatives, same data, same run
    import ase.io

    t_ase, _ = timed(lambda: ase.io.read(path, index="0:5", format="lammps-dump-text"))
    t_ours5, _ = timed(lambda: read_trajectory(path, stop=5))
    lines.append(f"  reader vs ase.io.read (5 frames): ours {t_ours5:.2f} s, ASE {t_ase:.2f} s, "
                 f"ratio {t_ase / t_ours5:.1f}x")
    from qfe.analysis.msd import msd_fft, unwrap

    sub = unwrap(traj, np.arange(0, n, 10))
    t_fft, fast = timed(lambda: msd_fft(sub))

    def direct():
        return np.array([np.mean(np.sum((sub[m:] - sub[:n_frames - m]) ** 2, axis=(1, 2)))
                         for m in range(n_frames)])

    t_dir, slow = timed(direct)
    same = np.allclose(fast.sum(axis=1), slow, rtol=1e-8, atol=1e-8)
    lines.append(f"  MSD FFT vs direct origin loop ({sub.shape[1]} atoms, {n_frames} frames): "
                 f"FFT {t_fft:.3f} s, direct {t_dir:.3f} s, ratio {t_dir / t_fft:.1f}x, "
                 f"equal: {same}")
    return total


def main() -> int:
    rng = np.random.default_rng(2026)
    lines = [f"qfe analysis benchmark  ({time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}; "
             "shared machine: compare ratios)"]
    bench_reordered(lines, rng)
    print("\n".join(lines), flush=True)
    start = len(lines)
    with tempfile.TemporaryDirectory() as tmp:
        bench_trajectory(lines, rng, Path(tmp))
    lines.append(f"load average at end {os.getloadavg()[0]:.2f}")
    print("\n".join(lines[start:]))
    out = HERE / "results" / "analysis_speed.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
