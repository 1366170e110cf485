"""qfe._io: atomic writes leave either the old or the new file, never a partial one."""

import json

import numpy as np
import pytest

from qfe._io import atomic_write, write_json_atomic


def test_write_json_atomic_round_trip_and_no_temporary_left(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_json_atomic(path, {"F": [1.5, 0.25]})
    assert json.loads(path.read_text()) == {"F": [1.5, 0.25]}
    assert path.read_text().endswith("\n")
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"old": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"new": object()})      # not JSON-serialisable mid-write
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_binary_atomic_write_with_numpy(tmp_path):
    path = tmp_path / "a.npz"
    with atomic_write(path, "wb") as fh:
        np.savez(fh, x=np.arange(3.0))
    assert np.load(path)["x"].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(path, "a"):
            pass
