"""Same deck on 1 and 2 MPI ranks (mpiexec of the mpich wheel): identical trajectories for
independent particles, including atoms that migrate between ranks many times.

The atoms start at rest: `velocity create` rescales with a global (rank-order dependent) sum,
which would make the initial velocities differ in the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from qtb_decks import rank_invariance_deck, run_on_ranks

pytestmark = pytest.mark.mpi


def _run(tmp_path, nprocs, free):
    deck = rank_invariance_deck(free, "f_max 100 N_f 50")
    rows, log = run_on_ranks(tmp_path / f"np{nprocs}-{'free' if free else 'tethered'}",
                             nprocs, deck)
    assert f"{nprocs} by" in log or nprocs == 1
    return rows


@pytest.mark.parametrize("free", [False, True], ids=["einstein", "free-migrating"])
def test_one_vs_two_ranks_identical(tmp_path, free):
    one = _run(tmp_path, 1, free)
    two = _run(tmp_path, 2, free)
    assert one.shape == two.shape == (64, 7)
    assert np.array_equal(one, two), np.max(np.abs(one - two))
    if free:
        # the free particles diffused over several box lengths: they changed rank many times
        assert np.max(np.abs(one[:, 1:4])) > 2 * 12.0
