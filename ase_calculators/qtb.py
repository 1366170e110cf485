"""Quantum thermal bath (QTB) for ASE: a force wrapper and a ready molecular-dynamics class.

The bath force is computed by the same compiled kernel as the LAMMPS ``fix qtb``
(:class:`qfe.qtb.QTBBath`, ``libqfe_qtb.so``): friction -m gamma v plus colored noise whose
spectrum is that of a quantum harmonic oscillator (zero-point energy included).  See
``docs/fix_qtb.md`` for the physics and ``docs/ase.md`` for this interface.

Units at the interface are ASE's: positions A, energies eV, masses amu, time in ASE time units
(A sqrt(amu/eV)), temperatures in K.  The kernel works in LAMMPS ``metal`` units (ps); the time
conversion is

    1 ps = :data:`PS` = sqrt(ftm2v) = 98.2269506 ASE time units,

with ftm2v = 1/1.0364269e-4 the LAMMPS metal constant, because that is the only factor for
which the kernel's friction -m gamma v is exactly -m gamma v in ASE units and for which ASE's
velocity Verlet in ASE units is LAMMPS's ``fix nve`` in metal units.  ``1000 * ase.units.fs``
(CODATA 2014) differs from it by 2.8e-8 (relative), which matters only for bit-level
comparisons with LAMMPS.  Write times as ``0.5 * PS`` (0.5 ps) or ``1 * ase.units.fs``.

Atoms are identified by index: atom ``i`` gets the noise of LAMMPS atom ID ``i + 1``, so an
ASE run and a LAMMPS run of the same system (atoms in ID order) see the same noise.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.md.md import MolecularDynamics

from qfe.units import PS_ASE

__all__ = ["PS", "QTBCalculator", "QTBDynamics", "check_masses"]

# LAMMPS metal: ftm2v = 1/mvv2e with LAMMPS's rounded mvv2e (the kernel's constant)
PS = PS_ASE
"""One picosecond in ASE time units, consistent with the kernel's LAMMPS metal constants."""


def check_masses(atoms) -> np.ndarray:
    """Masses (amu, shape (n,)) of `atoms`, or ValueError naming the first atom without a
    usable mass (zero, negative or not finite, or a dummy atom 'X' whose mass was never set)."""
    masses = np.asarray(atoms.get_masses(), dtype=float)
    bad = ~np.isfinite(masses) | (masses <= 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"atom {i} ({atoms[i].symbol}) has no usable mass (got "
                         f"{float(masses[i])!r} amu; {int(bad.sum())} such atoms): set positive "
                         "masses with atoms.set_masses()")
    if not atoms.has("masses"):
        dummy = np.flatnonzero(atoms.numbers == 0)
        if dummy.size:
            raise ValueError(f"atom {int(dummy[0])} is a dummy atom 'X' without a mass: set its "
                             "mass with atoms.set_masses()")
    return masses


# argument names and unit hints of the kernel's parameters (qfe.qtb.noise_kernel.PARAMETERS)
_NAMES = {"temperature": ("temperature_K", "K"),
          "temperature (ramp end)": ("temperature_K (ramp end)", "K"),
          "damp": ("damp", "1/gamma, a time in ASE units: e.g. 0.5 * PS for 0.5 ps"),
          "f_max": ("f_max", "a frequency in 1/ASE time units: e.g. 100 / PS for 100 THz"),
          "N_f": ("n_f", ""), "seed": ("seed", ""),
          "timestep": ("timestep", "ASE time units: e.g. 1 * ase.units.fs"),
          "deconvolution": ("deconvolution", ""), "zero": ("zero", "")}


def _bad(kernel_name, requirement, value) -> ValueError:
    """ValueError naming the argument of a kernel parameter and the offending value."""
    name, hint = _NAMES.get(kernel_name, (kernel_name, ""))
    return ValueError(f"{name} {requirement}, got {value!r}" + (f" ({hint})" if hint else ""))


def _number(kernel_name, value, integer=False):
    """`value` as float (int with `integer`), or the kernel's requirement as a ValueError."""
    from qfe.qtb.noise_kernel import PARAMETERS, requirement

    if isinstance(value, bool) or not isinstance(value, Integral if integer else Real):
        raise _bad(kernel_name, requirement(PARAMETERS[kernel_name]), value)
    return int(value) if integer else float(value)


def _temperatures(temperature_K):
    """(t_start, t_stop) in K from a number or a pair (the kernel checks the values)."""
    if temperature_K is None:
        raise ValueError("temperature_K is required (target quantum temperature in K)")
    if isinstance(temperature_K, Real) and not isinstance(temperature_K, bool):
        pair = (temperature_K, temperature_K)
    else:
        try:
            pair = tuple(temperature_K)
        except TypeError:
            raise ValueError(f"temperature_K must be a number or a pair (Tstart, Tstop) in K, "
                             f"got {temperature_K!r}") from None
        if len(pair) != 2:
            raise ValueError(f"temperature_K ramp must be a pair (Tstart, Tstop) in K, got "
                             f"{temperature_K!r}")
    return (_number("temperature", pair[0]), _number("temperature (ramp end)", pair[1]),
            pair)


class _Bath:
    """The kernel bath in ASE units, shared by :class:`QTBCalculator` and :class:`QTBDynamics`:
    unit conversion and atom IDs here; defaults, checks, temperature ramp, zeroing and the energy
    tally are the kernel's (those of fix qtb)."""

    def __init__(self, timestep, temperature_K, damp=None, f_max=None, n_f=None, seed=None,
                 zero=False, deconvolution=False):
        from qfe.qtb.noise_kernel import (
            PARAMETERS,
            QTBBath,
            check_bath_parameters,
            deconvolution_code,
            defaults,
            lammps_metal_units,
        )

        # defaults, limits and checks are the kernel's (fix qtb's); here only ASE units and
        # Python types
        d = defaults()
        self.ps = PS
        self.t_start, self.t_stop, given_t = _temperatures(temperature_K)
        self.timestep = _number("timestep", timestep)
        self.damp = d["damp"] * PS if damp is None else _number("damp", damp)
        self.f_max = d["f_max"] / PS if f_max is None else _number("f_max", f_max)
        self.n_f = d["n_f"] if n_f is None else _number("N_f", n_f, integer=True)
        self.seed = d["seed"] if seed is None else _number("seed", seed, integer=True)
        self.zero = bool(zero)
        code = deconvolution_code(deconvolution)          # ValueError naming a bad value
        self.deconvolution = deconvolution
        bad, requirement = check_bath_parameters(
            self.t_start, self.t_stop, self.damp / PS, self.f_max * PS, self.n_f, self.seed,
            self.timestep / PS, code, int(self.zero))
        if bad == PARAMETERS["nyquist"]:
            nyquist = 0.5 / self.timestep
            raise ValueError(f"f_max = {self.f_max:.6g} /ASE time ({self.f_max * PS:.6g} THz) is "
                             f"above the Nyquist frequency 1/(2 timestep) = {nyquist:.6g} /ASE "
                             f"time ({nyquist * PS:.6g} THz); lower f_max or the timestep")
        if bad:
            given = {"temperature": given_t[0], "temperature (ramp end)": given_t[1],
                     "damp": damp, "f_max": f_max, "N_f": n_f, "seed": seed,
                     "timestep": timestep, "deconvolution": deconvolution, "zero": zero}
            name = next(k for k, v in PARAMETERS.items() if v == bad)
            raise _bad(name, requirement, given.get(name))

        units = lammps_metal_units()
        self.kernel = QTBBath(temperature=self.t_start, temperature_stop=self.t_stop,
                              damp=self.damp / self.ps, f_max=self.f_max * self.ps, n_f=self.n_f,
                              seed=self.seed, timestep=self.timestep / self.ps, units=units,
                              deconvolution=deconvolution)
        self.alpha = self.kernel.alpha
        self.run_begin = self.run_end = 0
        # energy tally (eV): the kernel's QTBEnergyTally in the bath handle
        self._energy_to_bath = 0.0

    spectra = None      # qfe.qtb.adaptive.AdaptiveSpectra with adaptive QTB / FDT diagnostic

    def enable_spectra(self, numbers, masses, **options) -> None:
        """Adaptive QTB / FDT diagnostic (``options`` of AdaptiveSpectra); atom types are the
        atomic numbers, each of which must have one mass."""
        from qfe.qtb.adaptive import AdaptiveSpectra

        numbers = np.asarray(numbers)
        kinds, types = np.unique(numbers, return_inverse=True)
        type_masses = np.zeros(kinds.size)
        for t in range(kinds.size):
            m = np.unique(np.asarray(masses)[types == t])
            if m.size != 1:
                raise ValueError(f"adaptive QTB adapts per atom type: atoms with atomic number "
                                 f"{kinds[t]} must share one mass (got {m.tolist()})")
            type_masses[t] = m[0]
        self.spectra = AdaptiveSpectra(self.kernel, types, type_masses, **options)

    def record_velocity(self, step: int, velocities) -> None:
        """Full-step velocities (A/ASE time) at the end of MD step `step`."""
        if self.spectra is not None:
            self.spectra.record_velocity(step, np.asarray(velocities, dtype=float) * self.ps)

    def forces(self, step: int, masses, velocities) -> np.ndarray:
        """Bath force (eV/A, (n, 3)) at MD step `step` for velocities in A/ASE time."""
        from qfe.qtb.noise_kernel import remove_net_force

        n = len(masses)
        # temperature ramp (the kernel's, as fix qtb): once per noise interval
        self.kernel.set_ramp_step(int(step), self.run_begin, self.run_end)
        if self.spectra is None:
            f = self.kernel.forces(int(step), np.arange(1, n + 1), masses,
                                   np.asarray(velocities, dtype=float) * self.ps)
        else:
            self.spectra.before_forces(int(step))
            f, random = self.kernel.forces_and_random(
                int(step), np.arange(1, n + 1), masses,
                np.asarray(velocities, dtype=float) * self.ps, self.spectra.slots)
            self.spectra.record_random(int(step), random)
        if self.zero and n:
            f = remove_net_force(f)         # fix qtb zero yes (the kernel's)
        return f

    # -- the kernel's tally (exact for velocity Verlet: a force applied at step t works
    # F(t).v(t) dt), in eV
    def tally_setup(self, bath_force, velocities) -> None:
        self._energy_to_bath = self.kernel.tally(bath_force, velocities, self.timestep,
                                                 setup=True)

    def tally_step(self, bath_force, velocities) -> None:
        self._energy_to_bath = self.kernel.tally(bath_force, velocities, self.timestep)

    @property
    def energy_to_bath(self) -> float:
        """Energy given to the bath so far (eV) at the current full step: E_total +
        energy_to_bath is conserved (LAMMPS ``ecouple``, fix qtb's scalar)."""
        return self._energy_to_bath

    def describe(self) -> dict:
        return {"temperature_K": (self.t_start, self.t_stop) if self.t_stop != self.t_start
                else self.t_start, "damp": self.damp, "f_max": self.f_max, "n_f": self.n_f,
                "seed": self.seed, "zero": self.zero, "deconvolution": self.deconvolution,
                "alpha": self.alpha}


class QTBCalculator(Calculator):
    """Adds the quantum-thermal-bath force to the forces of another ASE calculator.

    With ASE's :class:`~ase.md.verlet.VelocityVerlet` this gives QTB dynamics identical to
    LAMMPS ``fix nve`` + ``fix qtb`` (same parameters, atom ``i`` <-> atom ID ``i + 1``)::

        atoms.calc = QTBCalculator(DP("graph.pb"), timestep=0.5 * units.fs,
                                   temperature_K=50, damp=0.2 * PS, f_max=30 / PS, seed=1234)
        VelocityVerlet(atoms, timestep=0.5 * units.fs).run(1000)

    Parameters
    ----------
    calc : the ASE calculator of the potential energy surface (e.g. ``deepmd.calculator.DP``)
    timestep : MD timestep (ASE time units); must equal the integrator's
    temperature_K : target quantum temperature (K), or a ramp ``(Tstart, Tstop)`` over
        ``ramp_steps`` steps from the first evaluation
    damp : 1/gamma (ASE time units), default (the kernel's, as fix qtb) 1 ps = ``1 * PS``
    f_max : upper cutoff frequency (1/ASE time units), default 200 THz = ``200 / PS``;
        at most 1/(2 timestep)
    n_f : frequency grid size N_f (the filter has 2 N_f taps), default 100
    seed : positive integer below 2^32, default 880302
    zero : remove the net bath force every step (fix qtb ``zero yes``), default False
    deconvolution : fix qtb ``deconvolution``: False (default), True/'kinetic' or 'potential'
    ramp_steps : length of the temperature ramp in steps (required for a ramp)
    first_step : MD step number of the first force evaluation (default 0)

    The step counter.  The bath force depends on the MD step (the noise is refreshed every
    ``alpha`` steps) and on the velocities.  This wrapper counts force evaluations: the first
    one is step ``first_step`` (the "setup" of the run, with the velocities as they are), and
    every later evaluation at *new* positions (or cell, numbers, ...) is the next step.  Velocity
    Verlet evaluates forces exactly once per step, at the half-step velocities, so the count is
    the integrator's step number (``dyn.nsteps + first_step``) and a second ``dyn.run`` continues
    the noise.  Asking again at unchanged positions returns the cached forces (same step).  If
    the same calculator is also used for something else (an optimisation, single points), call
    :meth:`reset_step` before the MD run; :attr:`step` is the step of the current forces.

    ``results['energy']`` is the wrapped calculator's energy (the bath is not conservative);
    :attr:`energy_to_bath` is the energy given to the bath (eV), tallied assuming velocity
    Verlet with ``timestep`` and no constraints, so that E_total + energy_to_bath is conserved.
    ``results['bath_forces']`` holds the bath part of the forces.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, calc=None, *, timestep, temperature_K, damp=None,
                 f_max=None, n_f=None, seed=None, zero=False,
                 deconvolution=False, ramp_steps=None, first_step=0, **kwargs):
        if calc is None or not hasattr(calc, "get_property"):
            raise ValueError("QTBCalculator needs the ASE calculator of the potential energy "
                             f"surface as its first argument (got {calc!r})")
        super().__init__(**kwargs)
        self.calc = calc
        self.bath = _Bath(timestep, temperature_K, damp, f_max, n_f, seed, zero, deconvolution)
        if self.bath.t_stop != self.bath.t_start:
            if isinstance(ramp_steps, bool) or not isinstance(ramp_steps, Integral) \
                    or ramp_steps < 1:
                raise ValueError("a temperature ramp (Tstart, Tstop) needs ramp_steps, a "
                                 f"positive number of MD steps (got {ramp_steps!r})")
        if isinstance(first_step, bool) or not isinstance(first_step, Integral) \
                or first_step < 0:
            raise ValueError(f"first_step must be an integer >= 0, got {first_step!r}")
        self._ramp_steps = int(ramp_steps or 0)
        self.reset_step(first_step)

    def reset_step(self, first_step: int = 0) -> None:
        """Make the next force evaluation the setup of a run at MD step `first_step`."""
        self._next_step = int(first_step)
        self._setup = True
        self.step = None
        self.bath.run_begin = int(first_step)
        self.bath.run_end = int(first_step) + self._ramp_steps
        self.results = {}
        self.atoms = None

    @property
    def energy_to_bath(self) -> float:
        """Energy given to the bath so far (eV); see the class docstring."""
        return self.bath.energy_to_bath

    def todict(self):
        return {"calculator": getattr(self.calc, "name", type(self.calc).__name__),
                "timestep": self.bath.timestep, **self.bath.describe()}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if "forces" not in self.results:        # a new configuration: the next MD step
            masses = check_masses(atoms)
            energy = self.calc.get_property("energy", atoms)
            forces = np.array(self.calc.get_property("forces", atoms), dtype=float)
            velocities = atoms.get_velocities()
            if velocities is None:
                velocities = np.zeros((len(atoms), 3))
            step = self._next_step
            bath_force = self.bath.forces(step, masses, velocities)
            total = forces + bath_force
            if self._setup:
                self.bath.tally_setup(bath_force, velocities)
            else:
                # full-step velocities that velocity Verlet will produce with these forces
                v_full = velocities + 0.5 * self.bath.timestep * total / masses[:, None]
                self.bath.tally_step(bath_force, v_full)
            self._setup = False
            self.step, self._next_step = step, step + 1
            try:
                free_energy = self.calc.get_property("free_energy", atoms)
            except PropertyNotImplementedError:     # no separate free energy
                free_energy = energy
            self.results.update(energy=energy, free_energy=free_energy, forces=total,
                                bath_forces=bath_force)
        if "stress" in properties and "stress" not in self.results:
            self.results["stress"] = self.calc.get_property("stress", atoms)


class QTBDynamics(MolecularDynamics):
    """Velocity Verlet + quantum thermal bath: ASE's equivalent of LAMMPS ``fix nve`` +
    ``fix qtb`` (same parameters, defaults and noise; atom ``i`` is LAMMPS atom ID ``i + 1``).

    >>> from qfe.ase_calculators import PS, QTBDynamics
    >>> dyn = QTBDynamics(atoms, timestep=0.5 * units.fs, temperature_K=300, damp=0.2 * PS,
    ...                   f_max=100 / PS, seed=4242)
    >>> dyn.run(2000); dyn.energy_to_bath

    Parameters
    ----------
    atoms : Atoms with a calculator (any ASE calculator) and positive masses
    timestep : MD timestep (ASE time units)
    temperature_K : target quantum temperature (K), or ``(Tstart, Tstop)``: ramped linearly over
        each ``run(steps)`` call, updated at the start of every noise interval, like fix qtb
    damp : 1/gamma (ASE time units), default (the kernel's, as fix qtb) 1 ps = ``1 * PS``
    f_max : upper cutoff frequency (1/ASE time units), default 200 THz = ``200 / PS``;
        at most 1/(2 timestep); the noise is refreshed every alpha = int(1/(2 f_max timestep))
        steps
    n_f : frequency grid size N_f, default 100
    seed : positive integer below 2^32, default 880302
    zero : remove the net bath force every step, default False
    deconvolution : False (plain QTB, default); True or 'kinetic': the noise spectrum is
        deconvolved so that the friction-broadened kinetic energy of each harmonic mode is
        exact (fix qtb ``deconvolution yes``); 'potential': its potential energy instead
    adaptive : adaptive QTB per atomic number (fix qtb ``adaptive yes``), default False
    adapt_rate, adapt_skip, adapt_min, adapt_scheme, fdt_file, fdt_every : as the fix qtb
        keywords of the same names (defaults, the kernel's: 0.1, 5, 0.01, 'normalised', None,
        10); with
        ``fdt_file`` (or ``adaptive``) :attr:`fdt` holds the spectra, gamma_r and Delta_FDT
    trajectory, logfile, loginterval : as for any ASE MolecularDynamics

    The first step of the first run computes the bath force with the current (full-step)
    velocities; later steps with the half-step velocities, as LAMMPS does.  A second ``run``
    continues the noise and reuses the bath force of the step it starts at, so ``run(2N)``
    equals ``run(N); run(N)``.  Averages of instantaneous quantities should use every step
    (sampling in phase with the noise refresh biases them; see docs/fix_qtb.md).
    """

    def __init__(self, atoms, timestep, temperature_K=None, damp=None,
                 f_max=None, n_f=None, seed=None, zero=False,
                 deconvolution=False, adaptive=False, adapt_rate=None, adapt_skip=None,
                 adapt_min=None, adapt_scheme=None, fdt_file=None, fdt_every=None,
                 **kwargs):
        if getattr(atoms, "calc", None) is None:
            raise ValueError("QTBDynamics: the atoms have no calculator; attach the potential "
                             "first (atoms.calc = ...)")
        check_masses(atoms)
        self.bath = _Bath(timestep, temperature_K, damp, f_max, n_f, seed, zero, deconvolution)
        if adaptive or fdt_file is not None:
            self.bath.enable_spectra(atoms.numbers, check_masses(atoms), adaptive=bool(adaptive),
                                     rate=adapt_rate, skip=adapt_skip, min_ratio=adapt_min,
                                     scheme=adapt_scheme, fdt_file=fdt_file,
                                     fdt_every=fdt_every)
        self._bath_force = None
        self._bath_step = None
        self.reference_positions = atoms.get_positions().copy()
        super().__init__(atoms, timestep, **kwargs)

    @property
    def fdt(self):
        """The adaptive-QTB state (:class:`qfe.qtb.adaptive.AdaptiveSpectra`: gamma_r in 1/ps,
        averaged spectra, ``delta_fdt(t)``, ``fdt_scalar``), or None."""
        return self.bath.spectra

    @property
    def energy_to_bath(self) -> float:
        """Energy given to the bath so far (eV): E_kin + E_pot + energy_to_bath is conserved."""
        return self.bath.energy_to_bath

    def virial_kinetic_energy(self) -> float:
        """Virial estimate of the quantum kinetic energy (eV, summed over atoms):
        -1/2 sum_i u_i . F_i, with u_i the displacement from :attr:`reference_positions` (the
        positions when the dynamics was created; set it to the lattice sites if known) and F_i
        the force of the potential (the bath force excluded).  Exact for the quantum canonical
        ensemble of a solid at fixed cell (2 <T> = <u . dV/du>), so with
        ``deconvolution='potential'`` (positions right, velocities friction-broadened) its
        average is the kinetic energy to use; LAMMPS: the same from ``compute displace/atom``
        and fix qtb's per-atom bath force (docs/fix_qtb.md).  Not valid when atoms diffuse or
        the cell changes."""
        u = self.atoms.get_positions() - self.reference_positions
        return -0.5 * float(np.sum(u * self.atoms.get_forces(md=True)))

    def conserved_energy(self) -> float:
        """E_kin + E_pot + energy given to the bath (eV); drifts only by integration error."""
        return (self.atoms.get_kinetic_energy() + self.atoms.get_potential_energy()
                + self.energy_to_bath)

    def todict(self):
        d = super().todict()
        d.update(self.bath.describe())
        return d

    def irun(self, steps=50):
        # a temperature ramp spans each run, like LAMMPS's run command
        self.bath.run_begin, self.bath.run_end = self.nsteps, self.nsteps + steps
        yield from super().irun(steps)

    def _constrained(self, force):
        for constraint in self.atoms.constraints:
            constraint.adjust_forces(self.atoms, force)
        return force

    def _bath_now(self, masses):
        """Bath force at the current step: reused when it was applied at this step already
        (continuation), else computed from the full-step velocities (start of a run)."""
        if self._bath_step != self.nsteps or self._bath_force is None:
            v = self.atoms.get_velocities()
            self._bath_force = self._constrained(self.bath.forces(self.nsteps, masses, v))
            self._bath_step = self.nsteps
            self.bath.tally_setup(self._bath_force, v)
        return self._bath_force

    def step(self, forces=None):
        atoms = self.atoms
        masses = check_masses(atoms)[:, None]
        if forces is None:
            forces = atoms.get_forces(md=True)
        forces = forces + self._bath_now(masses[:, 0])

        p = atoms.get_momenta()
        p += 0.5 * self.dt * forces
        r = atoms.get_positions()
        atoms.set_positions(r + self.dt * p / masses)
        if atoms.constraints:
            p = (atoms.get_positions() - r) * masses / self.dt
        atoms.set_momenta(p, apply_constraint=False)

        step = self.nsteps + 1
        bath = self._constrained(self.bath.forces(step, masses[:, 0], p / masses))
        forces = atoms.get_forces(md=True) + bath
        atoms.set_momenta(atoms.get_momenta() + 0.5 * self.dt * forces)
        self._bath_force, self._bath_step = bath, step
        self.bath.tally_step(bath, atoms.get_velocities())
        self.bath.record_velocity(step, atoms.get_velocities())
        return forces
