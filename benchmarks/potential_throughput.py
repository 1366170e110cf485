"""Energy+force throughput of the default Li DeePMD model, three routes, one run.

Batch: 64 configurations of 128-atom bcc Li (4x4x4 conventional cells, 19.2 A^3/atom, random
displacements of 0.1 A).  Routes, all on ONE thread (XLA, TensorFlow and LAMMPS alike):

* qfe JAX path: ``DeepMDPotential.batch_energy_and_forces`` (jit; default: the whole batch
  vectorised with vmap; with ``chunk_size``: lax.map over chunks, the memory-lean mode);
* deepmd-kit's own JAX atomic model (qfe's generic path) under the same jit/lax.map;
* deepmd-kit ``DeepPot.eval`` (TensorFlow graph, C++ ops) on the whole batch;
* LAMMPS ``pair_style deepmd`` (deepmd-kit's plugin), ``run 0`` per configuration.

Rounds are interleaved and the best of each route is kept, so the ratios are robust to other
load on the machine.  Prints a table and writes benchmarks/results/potential_throughput.txt.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
             "DP_INTER_OP_PARALLELISM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import platform
import sys
import time
from pathlib import Path

import numpy as np

BATCH, REPS, ROUNDS = 64, 4, 3


def main() -> int:
    import jax
    import jax.numpy as jnp
    from ase.build import bulk
    from deepmd.infer import DeepPot

    from qfe.potentials import default_lithium_jax_model, default_lithium_model
    from qfe.potentials.deepmd import DeepMDModel, deepmd_pair_lines, load_deepmd
    from qfe.potentials.lammps_potential import LammpsPotential

    atoms = bulk("Li", "bcc", a=(2 * 19.2) ** (1 / 3), cubic=True).repeat(REPS)
    n = len(atoms)
    rng = np.random.default_rng(0)
    batch = atoms.positions + rng.normal(scale=0.1, size=(BATCH, n, 3))
    cell = np.array(atoms.cell)
    pb, dpf = default_lithium_model("pb"), default_lithium_model("dp")

    # model.dp with model.pb's float32 cutoffs: the same function DeepPot and LAMMPS compute
    pot = load_deepmd(default_lithium_jax_model(), atoms, skin=1.0)
    pot.prepare(batch)
    generic_model = DeepMDModel(dpf, float32_cutoffs=True)
    generic_model.lean_path = False
    generic = load_deepmd(generic_model, atoms, skin=1.0)
    generic.prepare(batch)
    deeppot = DeepPot(str(pb))
    style, coeff = deepmd_pair_lines(pb, ["Li"])
    lmp = LammpsPotential(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                          cell=cell, reference_positions=atoms.positions,
                          pair_style=style.split(None, 1)[1], pair_coeff=[coeff.split(None, 1)[1]])
    jbatch = jnp.asarray(batch)

    routes = {
        "qfe JAX batch_energy_and_forces (vmap)": lambda: pot.batch_energy_and_forces(jbatch),
        "qfe JAX, memory-lean lax.map chunk 8": lambda: pot.batch_energy_and_forces(
            jbatch, chunk_size=8),
        "deepmd-kit JAX atomic model (generic path)": lambda: generic.batch_energy_and_forces(
            jbatch),
        "deepmd-kit DeepPot.eval (TensorFlow)": lambda: deeppot.eval(
            batch.reshape(BATCH, -1), np.tile(cell.reshape(1, 9), (BATCH, 1)),
            np.zeros(n, dtype=int)),
        "LAMMPS pair_style deepmd (run 0 each)": lambda: lmp.compute_batch(batch),
    }
    # correctness first: every route gives the same energies
    e_ref = deeppot.eval(batch.reshape(BATCH, -1), np.tile(cell.reshape(1, 9), (BATCH, 1)),
                         np.zeros(n, dtype=int))[0].ravel()
    checks = {}
    for name, fn in routes.items():
        out = fn()
        e = np.asarray(out["energy"] if isinstance(out, dict) else out[0]).ravel()
        checks[name] = float(np.max(np.abs(e - e_ref)) / n)
    best = {name: np.inf for name in routes}
    for _ in range(ROUNDS):
        for name, fn in routes.items():
            # let the previous route's thread pools go idle (TF's, inside LAMMPS's deepmd
            # plugin, spin for a while after a run and otherwise slow the route after it)
            time.sleep(1.0)
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - t0)
    lmp.close()

    ref_name = "deepmd-kit DeepPot.eval (TensorFlow)"
    lines = [
        "qfe benchmark: energy+force throughput of the default Li DeePMD model",
        f"batch: {BATCH} configurations x {n} atoms (bcc Li 4x4x4, 19.2 A^3/atom, 0.1 A "
        "displacements); one thread per route (XLA single-threaded, TF intra/inter = 1, "
        "LAMMPS serial); best of "
        f"{ROUNDS} interleaved rounds",
        f"host: {platform.node()} {platform.machine()}, python {sys.version.split()[0]}, "
        f"jax {jax.__version__}; {os.cpu_count()} cores, load average (1/5/15 min) at the end "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        f"{'route':46s} {'time (s)':>9s} {'atom-evals/s':>13s} {'vs DeepPot':>10s} "
        f"{'max|dE|/atom (eV)':>18s}",
    ]
    for name, t in best.items():
        rate = BATCH * n / t
        lines.append(f"{name:46s} {t:9.3f} {rate:13.0f} {best[ref_name] / t:10.2f} "
                     f"{checks[name]:18.2e}")
    ratio = best[ref_name] / best["qfe JAX batch_energy_and_forces (vmap)"]
    lines += ["", f"qfe JAX path / DeepPot.eval throughput ratio: {ratio:.2f} "
              f"({'meets' if ratio >= 1.0 else 'MISSES'} the target >= 1)"]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).resolve().parent / "results" / "potential_throughput.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
