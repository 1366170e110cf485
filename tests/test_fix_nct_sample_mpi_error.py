"""A LAMMPS error raised inside an energy evaluation of fix nct_sample on a 2-rank run
(``error->one`` of a pair style, on whichever rank owns the offending pair) ends the run
with the pair style's message instead of hanging (issue 15, item 4)."""

from __future__ import annotations

import subprocess

import numpy as np

A_FCC = float(2.0 * np.sqrt(2.0))          # nearest neighbours at 2.0 A
MASS = 6.94


def _morse_section(name, rin, d=0.3, a=2.0, r0=2.0, rout=3.2, n=400):
    """A pair_style table section of the Morse potential (eV, A) on [rin, rout]."""
    r = np.linspace(rin, rout, n)
    ex = np.exp(-a * (r - r0))
    e = d * (ex**2 - 2 * ex)
    f = 2 * a * d * (ex**2 - ex)               # -dE/dr
    rows = "\n".join(f"{i + 1} {ri:.10f} {ei:.12e} {fi:.12e}"
                     for i, (ri, ei, fi) in enumerate(zip(r, e, f)))
    return f"{name}\nN {n} R {rin} {rout}\n\n{rows}\n\n"


def _morse_table(path):
    path.write_text(_morse_section("WIDE", 1.0) + _morse_section("NARROW", 1.9))


def test_error_one_inside_an_evaluation_on_two_ranks_does_not_hang(tmp_path):
    from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

    _morse_table(tmp_path / "morse.table")
    # x0 has all pairs >= 2.0 A - 0.04; type 2-2 pairs use a table that starts at 1.9 A, so
    # the MD set-up and the finite-difference Hessian are fine, but the 1500 K harmonic samples
    # of the first training step bring 2-2 pairs inside 1.9 A: `Pair distance < table inner
    # cutoff` (error->one), on rank 0 only (all type-2 atoms and their 2-2 pairs are its own)
    deck = "\n".join([
        "units metal", "atom_style atomic", f"lattice fcc {A_FCC!r}",
        "region box block 0 2 0 2 0 2",
        "processors 2 1 1", "create_box 2 box", "create_atoms 1 box",
        # type 2: the atom plane x = 1.41 A, inside rank 0's half (x < 2.83 A) of the box
        "region mid block 1.0 2.0 INF INF INF INF units box", "set region mid type 2",
        f"mass * {MASS}", "pair_style table linear 400", "pair_coeff 1 * morse.table WIDE 3.2",
        "pair_coeff 2 2 morse.table NARROW 3.2",
        "displace_atoms all random 0.01 0.01 0.01 4711 units box",
        "fix nct all nct_sample 1500.0 batch_size 64 seed 3 flow identity steps 10",
        "thermo 1", "run 2"]) + "\n"
    (tmp_path / "in.nct").write_text(deck)
    proc = subprocess.run([mpiexec_executable(), "-n", "2", lmp_executable(), "-in", "in.nct",
                           "-log", "log.lammps"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, env=lammps_environment())
    out = proc.stdout + proc.stderr
    # MPI_Abort can kill the launcher's stderr forwarding before it delivers rank 0's last
    # lines (seen under load); the fix also writes its message to the log file, straight to disk
    log = tmp_path / "log.lammps"
    out += log.read_text(errors="replace") if log.is_file() else ""
    assert proc.returncode != 0, out[-3000:]
    assert "ERROR on proc 0: Pair distance < table inner cutoff: ijtype 2 2" in out, out[-3000:]
    assert ("ERROR on proc 0: Fix nct_sample: LAMMPS error inside an energy evaluation on this "
            "rank; the other 1 rank(s) cannot be told, aborting the run. The error: ERROR on "
            "proc 0: Pair distance < table inner cutoff") in out, out[-3000:]
    assert "ERROR on proc 1" not in out                     # the error was rank 0's alone
    # ended by the fix's MPI_Abort, not by mismatched collectives (before the fix: MPICH
    # "Message truncated" after rank 0 went on while rank 1 waited in the evaluation)
    assert "truncated" not in out and "Assertion failed" not in out, out[-3000:]
