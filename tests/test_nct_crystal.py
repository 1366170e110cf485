"""Crystal layer and observables: structures, modes, stress (virial + kinetic), ZPE and
single-phonon energies, against exact harmonic results."""

import warnings

import numpy as np
import pytest

pytest.importorskip("jax")

from qfe import units
from qfe.nct import observables
from qfe.nct.config import NCTConfig
from qfe.nct.phonons import bcc_lithium, crystal_system, frequencies_thz, load_structure
from qfe.nct.trainer import Trainer
from qfe.potentials import EinsteinCrystal, PairSpringCrystal


@pytest.fixture(scope="module")
def einstein_trainer():
    """Harmonic Einstein crystal (4 atoms), identity flow at the exact Boltzmann weights."""
    atoms = bcc_lithium(1, a=3.5).repeat((2, 1, 1))
    pot = EinsteinCrystal(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                          cell=np.asarray(atoms.cell), reference_positions=atoms.positions,
                          k=1.2)
    system = crystal_system(pot, atoms)
    cfg = NCTConfig(temperature=300.0, flow="identity", n_levels=24, batch_size=512, steps=0,
                    progress=False)
    trainer = Trainer(system, cfg)
    return trainer, trainer.init_state()


def test_einstein_stress_is_zero_by_the_virial_theorem(einstein_trainer):
    """E = sum k u^2 / 2 with sites moving with the cell: F does not depend on the volume,
    so P = 0, while the potential and kinetic parts are -/+ N E_mode / V separately
    (E_mode = (hbar w / 2) coth(hbar w / 2 kT) per Cartesian component)."""
    trainer, state = einstein_trainer
    system = trainer.system
    out = observables.stress(trainer, state, n_batches=6)
    hw = float(system.hbar_omega[0])
    e_mode = 0.5 * hw / np.tanh(hw / (2 * units.KB * 300.0))
    volume = abs(np.linalg.det(system.cell))
    part = system.natoms * e_mode / volume * units.EV_PER_A3_TO_GPA
    pv, pv_err = out["potential_pressure_GPa"]
    pk, pk_err = out["kinetic_pressure_GPa"]
    p, p_err = out["pressure_GPa"]
    assert abs(pv + part) < 4 * pv_err
    assert abs(pk - part) < 4 * pk_err
    assert abs(p) < 4 * p_err
    # the tensor: isotropic, no shear
    sig, sig_err = out["stress_GPa"], out["stress_err_GPa"]
    off = ~np.eye(3, dtype=bool)
    assert np.all(np.abs(sig[off]) < 4.5 * sig_err[off])


def test_einstein_zpe_and_single_phonon_energies(einstein_trainer):
    trainer, state = einstein_trainer
    system = trainer.system
    e0, e0_err = observables.ground_state_energy(trainer, state, batch_size=64)
    assert abs(e0 - system.v0 - system.harmonic_zpe()) < 1e-9 * system.harmonic_zpe()
    sp = observables.excitation_energies(trainer, state, batch_size=16, modes=[0, 5, 11])
    np.testing.assert_allclose(sp["w"], system.hbar_omega[[0, 5, 11]], rtol=1e-9)
    assert abs(sp["zpe_anharmonic"][0] - sp["zpe_harmonic"]) < 1e-9 * sp["zpe_harmonic"]


def test_dos_and_rdf_helpers():
    grid, dos = observables.phonon_dos([10.0, 10.0, 20.0], width=0.5)
    assert abs(np.trapezoid(dos, grid) - 3.0) < 1e-3
    atoms = bcc_lithium(2, a=3.5)
    r, g = observables.radial_distribution(atoms.positions, np.asarray(atoms.cell), 3.4, 340)
    first = r[np.argmax(g)]
    assert abs(first - 3.5 * np.sqrt(3) / 2) < 0.02     # bcc nearest neighbours
    with pytest.raises(ValueError, match="r_max"):
        observables.radial_distribution(atoms.positions, np.asarray(atoms.cell), 20.0)


def test_imaginary_and_zero_modes():
    atoms = bcc_lithium(1, a=3.5)
    # double-well tethers: negative curvature at the sites -> imaginary modes, |w| used
    pot = EinsteinCrystal(symbols=atoms.get_chemical_symbols(), masses=atoms.get_masses(),
                          cell=np.asarray(atoms.cell), reference_positions=atoms.positions,
                          k=-0.5, k4=2.0)
    with pytest.warns(UserWarning, match="imaginary"):
        system = crystal_system(pot, atoms)
    assert system.imaginary.all() and np.all(frequencies_thz(system) < 0)
    np.testing.assert_allclose(system.hbar_omega,
                               units.HBAR * np.sqrt(0.5 * units.FTM2V / atoms.get_masses()[0]))
    # nearest-neighbour central springs leave bcc with zero-frequency shear modes
    big = bcc_lithium(2, a=3.44)
    springs = PairSpringCrystal(symbols=big.get_chemical_symbols(), masses=big.get_masses(),
                                cell=np.asarray(big.cell), reference_positions=big.positions,
                                cutoff=3.2)
    with pytest.raises(ValueError, match="zero-frequency"):
        crystal_system(springs, big)


def test_structures_from_files(tmp_path):
    import ase.io

    atoms = bcc_lithium(2, a=3.44)
    paths = {"POSCAR": "vasp", "li.cif": "cif", "data.li": "lammps-data", "li.xyz": "extxyz"}
    for name, fmt in paths.items():
        kwargs = {"masses": True} if fmt == "lammps-data" else {}
        ase.io.write(tmp_path / name, atoms, format=fmt, **kwargs)
        back = load_structure(tmp_path / name)
        assert len(back) == len(atoms), name
        assert back.get_chemical_symbols() == atoms.get_chemical_symbols(), name
        np.testing.assert_allclose(back.get_cell(), atoms.get_cell(), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        load_structure(tmp_path / "nothing.vasp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tmp_path / "junk.cif").write_text("not a cif")
        with pytest.raises(ValueError, match="could not read structure"):
            load_structure(tmp_path / "junk.cif")
