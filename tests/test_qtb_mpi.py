"""Same deck on 1 and 2 MPI ranks (mpiexec of the mpich wheel): identical trajectories for
independent particles, including atoms that migrate between ranks many times.

The atoms start at rest: `velocity create` rescales with a global (rank-order dependent) sum,
which would make the initial velocities differ in the last bit."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from qfe.lammps import lammps_environment, lmp_executable, mpiexec_executable

pytestmark = pytest.mark.mpi


def _deck(free: bool) -> str:
    tether = "" if free else "fix tether all spring/self 5.0\n"
    return f"""units metal
atom_style atomic
atom_modify map array
boundary p p p
lattice sc 3.0
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.00794
timestep 0.0005
comm_modify cutoff 2.0
neighbor 0.5 bin
neigh_modify every 1 delay 0 check yes
fix nve all nve
fix q all qtb temp {3000 if free else 300} damp 0.1 seed 31 f_max 100 N_f 50
{tether}compute xu all property/atom xu yu zu
thermo 500
run 2000
write_dump all custom final.dump id xu yu zu vx vy vz modify sort id format float %.17g
"""


def _run(tmp_path, nprocs, free):
    d = tmp_path / f"np{nprocs}-{'free' if free else 'tethered'}"
    d.mkdir()
    (d / "in.qtb").write_text(_deck(free))
    cmd = [mpiexec_executable(), "-n", str(nprocs), lmp_executable(), "-in", "in.qtb",
           "-log", "log.lammps"]
    proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=300,
                          env=lammps_environment())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    log = (d / "log.lammps").read_text()
    assert f"{nprocs} by" in log or nprocs == 1
    return np.loadtxt(d / "final.dump", skiprows=9)


@pytest.mark.parametrize("free", [False, True], ids=["einstein", "free-migrating"])
def test_one_vs_two_ranks_identical(tmp_path, free):
    one = _run(tmp_path, 1, free)
    two = _run(tmp_path, 2, free)
    assert one.shape == two.shape == (64, 7)
    assert np.array_equal(one, two), np.max(np.abs(one - two))
    if free:
        # the free particles diffused over several box lengths: they changed rank many times
        assert np.max(np.abs(one[:, 1:4])) > 2 * 12.0
