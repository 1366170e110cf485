"""ctypes binding of the QTB noise kernel (``libqfe_qtb.so``), the code ``fix qtb`` runs.

The LAMMPS plugin and this library link the same compiled kernel, so for the same
(seed, atom IDs, masses, velocities, step) :meth:`QTBBath.forces` returns bit-for-bit the bath
force that ``fix qtb`` adds in LAMMPS.  Units follow LAMMPS: pass the unit constants of the
LAMMPS unit style (:func:`lammps_metal_units` for ``units metal``: eV, A, ps, amu, K).

>>> bath = QTBBath(temperature=300.0, damp=0.1, f_max=100.0, n_f=50, seed=42, timestep=0.001)
>>> f = bath.forces(step=0, tags=[1, 2], masses=[1.008, 1.008], velocities=np.zeros((2, 3)))
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

import numpy as np

from qfe._plugin_path import NOISE_LIBRARY_FILENAME, plugin_dir

__all__ = [
    "QTBBath",
    "QTBKernelError",
    "UnitConstants",
    "lammps_metal_units",
    "philox4x32_10",
    "normals",
    "load_library",
    "DECONVOLUTION",
    "broadening_matrix",
    "segment_spectra",
    "interval_average_gain",
    "adapt_k_max",
    "adapt_memory",
    "adapt_gamma",
    "PARAMETERS",
    "defaults",
    "limits",
    "requirement",
    "check_bath_parameters",
    "check_adapt_parameters",
    "deconvolution_code",
    "adapt_scheme_code",
    "remove_net_force",
    "finish_segment",
]

#: values of the ``deconvolution`` option (fix qtb keyword values) -> kernel codes
DECONVOLUTION = {"no": 0, "yes": 1, "kinetic": 1, "potential": 2}

#: the kernel's parameter ids (qfe::QTBParameterId, as the checks report them) by kernel name;
#: verified against the library when it is loaded
PARAMETERS = {"temperature": 1, "temperature (ramp end)": 2, "damp": 3, "f_max": 4, "N_f": 5,
              "seed": 6, "timestep": 7, "nyquist": 8, "deconvolution": 9, "zero": 10,
              "adapt_rate": 11, "adapt_skip": 12, "adapt_min": 13, "adapt_scheme": 14,
              "fdt_every": 15}
_INT64 = (-2 ** 63, 2 ** 63 - 1)

_LIB = None
_c_double_p = ctypes.POINTER(ctypes.c_double)
_c_float_p = ctypes.POINTER(ctypes.c_float)
_c_int64_p = ctypes.POINTER(ctypes.c_int64)
_c_uint32_p = ctypes.POINTER(ctypes.c_uint32)
_c_int_p = ctypes.POINTER(ctypes.c_int)


class QTBKernelError(RuntimeError):
    """A failure reported by the C kernel (message from ``qfe_qtb_last_error``)."""


def load_library(path: str | None = None) -> ctypes.CDLL:
    """Load ``libqfe_qtb.so`` (installed next to the LAMMPS plugin) once and declare its API."""
    global _LIB
    if _LIB is not None and path is None:
        return _LIB
    path = path or os.path.join(plugin_dir(), NOISE_LIBRARY_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"QTB noise library not found at {path}; qfe was installed without its compiled "
            "part (reinstall with `make venv` or `pip install .`)")
    lib = ctypes.CDLL(path)
    sig = {
        "qfe_qtb_last_error": (ctypes.c_char_p, []),
        "qfe_qtb_abi_version": (ctypes.c_int, []),
        "qfe_qtb_philox4x32_10": (ctypes.c_int, [_c_uint32_p, _c_uint32_p, _c_uint32_p]),
        "qfe_qtb_normals": (ctypes.c_int, [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                           ctypes.c_int64, _c_double_p]),
        "qfe_qtb_units_lammps_metal": (ctypes.c_int, [_c_double_p]),
        "qfe_qtb_bath_create": (ctypes.c_int, [ctypes.c_double, ctypes.c_double, ctypes.c_double,
                                               ctypes.c_int, ctypes.c_int64, ctypes.c_double,
                                               _c_double_p, ctypes.POINTER(ctypes.c_void_p)]),
        "qfe_qtb_bath_create2": (ctypes.c_int, [ctypes.c_double, ctypes.c_double,
                                                ctypes.c_double, ctypes.c_int, ctypes.c_int64,
                                                ctypes.c_double, ctypes.c_int, _c_double_p,
                                                ctypes.POINTER(ctypes.c_void_p)]),
        "qfe_qtb_bath_spectrum": (ctypes.c_int, [ctypes.c_void_p, _c_double_p, _c_double_p,
                                                 _c_double_p, _c_double_p]),
        "qfe_qtb_broadening_matrix": (ctypes.c_int, [ctypes.c_int, ctypes.c_double,
                                                     ctypes.c_double, ctypes.c_int, ctypes.c_int,
                                                     ctypes.c_double, _c_double_p]),
        "qfe_qtb_bath_set_slots": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        "qfe_qtb_bath_set_slot_scale": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int,
                                                       _c_double_p]),
        "qfe_qtb_bath_forces_slots": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64,
                                                     _c_int64_p, _c_double_p, _c_double_p,
                                                     _c_int_p, ctypes.c_int64, _c_float_p,
                                                     _c_int64_p, _c_double_p, _c_double_p]),
        "qfe_qtb_segment_spectra": (ctypes.c_int, [_c_float_p, _c_float_p, ctypes.c_int,
                                                   _c_double_p, _c_double_p]),
        "qfe_qtb_interval_average_gain": (ctypes.c_double, [ctypes.c_int, ctypes.c_int,
                                                             ctypes.c_int]),
        "qfe_qtb_adapt_gamma": (ctypes.c_int, [ctypes.c_int, _c_double_p, _c_double_p,
                                               _c_double_p, ctypes.c_double, ctypes.c_double,
                                               _c_double_p, ctypes.c_double, ctypes.c_double,
                                               ctypes.c_double, ctypes.c_int, ctypes.c_int,
                                               _c_double_p, _c_double_p, _c_double_p]),
        "qfe_qtb_adapt_k_max": (ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
        "qfe_qtb_adapt_memory": (ctypes.c_double, []),
        "qfe_qtb_finish_segment": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_double,
                                                  ctypes.c_int, ctypes.c_double, ctypes.c_int,
                                                  ctypes.c_int, _c_double_p, _c_int64_p,
                                                  _c_double_p] + [_c_double_p] * 7
                                   + [_c_int64_p, _c_double_p, _c_int_p]),
        "qfe_qtb_bath_destroy": (None, [ctypes.c_void_p]),
        "qfe_qtb_bath_sizes": (ctypes.c_int, [ctypes.c_void_p, _c_int_p, _c_int_p, _c_int_p]),
        "qfe_qtb_bath_times": (ctypes.c_int, [ctypes.c_void_p, _c_double_p, _c_double_p,
                                              _c_double_p]),
        "qfe_qtb_bath_set_temperature": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_double]),
        "qfe_qtb_bath_taps": (ctypes.c_int, [ctypes.c_void_p, _c_double_p]),
        "qfe_qtb_nothing_cached": (ctypes.c_int64, []),
        "qfe_qtb_bath_forces": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64, _c_int64_p,
                                               _c_double_p, _c_double_p, ctypes.c_int64,
                                               _c_float_p, _c_int64_p, _c_double_p]),
        "qfe_qtb_defaults": (ctypes.c_int, [_c_double_p]),
        "qfe_qtb_limits": (ctypes.c_int, [_c_int_p, _c_int_p]),
        "qfe_qtb_requirement": (ctypes.c_char_p, [ctypes.c_int]),
        "qfe_qtb_parameter_name": (ctypes.c_char_p, [ctypes.c_int]),
        "qfe_qtb_parse_deconvolution": (ctypes.c_int, [ctypes.c_char_p]),
        "qfe_qtb_parse_adapt_scheme": (ctypes.c_int, [ctypes.c_char_p]),
        "qfe_qtb_check": (ctypes.c_int, [ctypes.c_double, ctypes.c_double, ctypes.c_double,
                                         ctypes.c_double, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_double, ctypes.c_int, ctypes.c_int, _c_int_p]),
        "qfe_qtb_check_adapt": (ctypes.c_int, [ctypes.c_double, ctypes.c_int64, ctypes.c_double,
                                               ctypes.c_int, ctypes.c_int64, _c_int_p]),
        "qfe_qtb_bath_create3": (ctypes.c_int, [ctypes.c_double, ctypes.c_double,
                                                ctypes.c_double, ctypes.c_double, ctypes.c_int,
                                                ctypes.c_int64, ctypes.c_double, ctypes.c_int,
                                                _c_double_p, ctypes.POINTER(ctypes.c_void_p)]),
        "qfe_qtb_bath_set_ramp_step": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64,
                                                      ctypes.c_int64, ctypes.c_int64]),
        "qfe_qtb_remove_net_force": (ctypes.c_int, [ctypes.c_int64, _c_double_p]),
        "qfe_qtb_bath_tally": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64,
                                              _c_double_p, _c_double_p, ctypes.c_double,
                                              _c_double_p]),
        "qfe_qtb_bath_energy_to_bath": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_double,
                                                       _c_double_p]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    if lib.qfe_qtb_abi_version() != 4:
        raise QTBKernelError(f"{path}: unexpected ABI version {lib.qfe_qtb_abi_version()}")
    for name, pid in PARAMETERS.items():
        kernel_name = lib.qfe_qtb_parameter_name(pid).decode()
        if kernel_name != ("f_max" if name == "nyquist" else name):
            raise QTBKernelError(f"{path}: parameter {pid} is {kernel_name!r}, not {name!r}")
    if path == os.path.join(plugin_dir(), NOISE_LIBRARY_FILENAME):
        _LIB = lib
    return lib


def _check(lib, status: int, exc=QTBKernelError) -> None:
    if status != 0:
        message = lib.qfe_qtb_last_error().decode()
        raise (ValueError if status == 1 else exc)(message)


def _ptr(array, ctype):
    return array.ctypes.data_as(ctypes.POINTER(ctype))


@dataclass(frozen=True)
class UnitConstants:
    """LAMMPS unit-style constants used by the kernel."""

    boltz: float     # Boltzmann constant, energy/K
    hplanck: float   # Planck constant h, energy*time
    mvv2e: float     # mass*velocity^2 -> energy
    ftm2v: float     # force*time/mass -> velocity

    def as_array(self) -> np.ndarray:
        return np.array([self.boltz, self.hplanck, self.mvv2e, self.ftm2v], dtype=np.float64)


def lammps_metal_units() -> UnitConstants:
    """The constants LAMMPS uses for ``units metal`` (from the kernel, so they cannot drift)."""
    lib = load_library()
    out = np.zeros(4)
    _check(lib, lib.qfe_qtb_units_lammps_metal(_ptr(out, ctypes.c_double)))
    return UnitConstants(*map(float, out))


def philox4x32_10(counter, key) -> np.ndarray:
    """One Philox4x32-10 block (4 uint32) for a 4-word counter and a 2-word key."""
    lib = load_library()
    c = np.ascontiguousarray(counter, dtype=np.uint32)
    k = np.ascontiguousarray(key, dtype=np.uint32)
    if c.shape != (4,) or k.shape != (2,):
        raise ValueError(f"counter must have 4 words and key 2 (got {c.shape}, {k.shape})")
    out = np.zeros(4, dtype=np.uint32)
    _check(lib, lib.qfe_qtb_philox4x32_10(_ptr(c, ctypes.c_uint32), _ptr(k, ctypes.c_uint32),
                                          _ptr(out, ctypes.c_uint32)))
    return out


def normals(seed: int, tag: int, first: int, count: int) -> np.ndarray:
    """Standard normals R_n (shape (count, 3): x, y, z) of atom `tag` for noise steps
    first..first+count-1, exactly as the bath draws them."""
    lib = load_library()
    out = np.zeros((int(count), 3))
    _check(lib, lib.qfe_qtb_normals(int(seed), int(tag), int(first), int(count),
                                    _ptr(out, ctypes.c_double)))
    return out


def _int64(value) -> int:
    """An integer clamped to int64 (out-of-range values still fail the kernel's range check)."""
    return min(max(int(value), _INT64[0]), _INT64[1])


def defaults() -> dict:
    """The kernel's parameter defaults (those of fix qtb, LAMMPS units: K, ps, THz): keys
    temperature, damp, f_max, n_f, seed, timestep, deconvolution, zero, adapt_rate, adapt_skip,
    adapt_min, adapt_scheme, fdt_every."""
    lib = load_library()
    out = np.zeros(13)
    _check(lib, lib.qfe_qtb_defaults(_ptr(out, ctypes.c_double)))
    keys = ("temperature", "damp", "f_max", "n_f", "seed", "timestep", "deconvolution", "zero",
            "adapt_rate", "adapt_skip", "adapt_min", "adapt_scheme", "fdt_every")
    ints = {"n_f", "seed", "deconvolution", "zero", "adapt_skip", "adapt_scheme", "fdt_every"}
    return {k: int(v) if k in ints else float(v) for k, v in zip(keys, out)}


def limits() -> tuple[int, int]:
    """(largest N_f, largest N_f with deconvolution) accepted by the kernel."""
    lib = load_library()
    a, b = ctypes.c_int(), ctypes.c_int()
    _check(lib, lib.qfe_qtb_limits(ctypes.byref(a), ctypes.byref(b)))
    return a.value, b.value


def requirement(parameter: int) -> str:
    """What parameter `parameter` (a :data:`PARAMETERS` id) must satisfy, e.g. 'must be > 0'."""
    return load_library().qfe_qtb_requirement(int(parameter)).decode()


def _checked(lib, status: int, bad: ctypes.c_int) -> tuple[int, str]:
    if status == 0:
        return 0, ""
    if status != 1:
        _check(lib, status)
    return bad.value, lib.qfe_qtb_last_error().decode()


def check_bath_parameters(temperature, temperature_stop, damp, f_max, n_f, seed, timestep,
                          deconvolution=0, zero=0) -> tuple[int, str]:
    """The kernel's checks of the bath parameters (kernel units): (0, '') when valid, else the
    :data:`PARAMETERS` id of the first bad one and its requirement ('must be > 0', ...)."""
    lib = load_library()
    bad = ctypes.c_int()
    return _checked(lib, lib.qfe_qtb_check(
        float(temperature), float(temperature_stop), float(damp), float(f_max), _int64(n_f),
        _int64(seed), float(timestep), int(deconvolution), int(zero), ctypes.byref(bad)), bad)


def check_adapt_parameters(rate, skip, min_ratio, scheme: int, fdt_every) -> tuple[int, str]:
    """The kernel's checks of the adaptive-QTB parameters, reported as
    :func:`check_bath_parameters`."""
    lib = load_library()
    bad = ctypes.c_int()
    return _checked(lib, lib.qfe_qtb_check_adapt(float(rate), _int64(skip), float(min_ratio),
                                                 int(scheme), _int64(fdt_every),
                                                 ctypes.byref(bad)), bad)


def deconvolution_code(value) -> int:
    """Kernel code of a ``deconvolution`` setting: False/None/'no' -> 0, True/'yes'/'kinetic'
    -> 1, 'potential' -> 2 (the kernel parses the words); ValueError naming anything else."""
    if value is False or value is None:
        return 0
    if value is True:
        return 1
    code = load_library().qfe_qtb_parse_deconvolution(value.encode()) \
        if isinstance(value, str) else -1
    if code < 0:
        raise ValueError(f"deconvolution {requirement(PARAMETERS['deconvolution'])} (or "
                         f"False/True), got {value!r}")
    return code


def adapt_scheme_code(value) -> int:
    """Kernel code of an adaptation scheme ('simple', 'normalised'/'normalized'); ValueError
    naming anything else."""
    code = load_library().qfe_qtb_parse_adapt_scheme(value.encode()) \
        if isinstance(value, str) else -1
    if code < 0:
        raise ValueError(f"adapt_scheme {requirement(PARAMETERS['adapt_scheme'])}, got "
                         f"{value!r}")
    return code


def remove_net_force(forces) -> np.ndarray:
    """fix qtb ``zero yes`` (the kernel's): forces (n, 3) minus their mean, rounded to float32
    as the fix stores them (the input holds float32 values, as :meth:`QTBBath.forces` returns)."""
    lib = load_library()
    f = np.array(forces, dtype=np.float64, order="C")
    n = f.shape[0] if f.ndim == 2 else 0
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"forces must have shape (n, 3), got {f.shape}")
    _check(lib, lib.qfe_qtb_remove_net_force(n, _ptr(f, ctypes.c_double)))
    return f


def broadening_matrix(n: int, dw: float, gamma: float, kind: str = "kinetic", alpha: int = 1,
                      dt: float = 0.0) -> np.ndarray:
    """Friction-broadening matrix B ((n+1, n+1)) of the kernel on the grid w_k = k dw
    (rad/time): (B s)_i = int_0^{n dw} L(w_i, w) s(w) dw for s piecewise linear, L the kinetic
    ((2/pi) gamma w^2/((w^2-w_i^2)^2 + gamma^2 w^2)) or potential (w_i^2 in the numerator)
    response of a Langevin oscillator w_i with friction gamma (1/time).  alpha > 1: the force
    is held for alpha steps of dt (time), adding the image bands above the cutoff n dw."""
    lib = load_library()
    code = {"kinetic": 1, "potential": 2}.get(kind)
    if code is None:
        raise ValueError(f"kind must be 'kinetic' or 'potential', got {kind!r}")
    out = np.zeros((int(n) + 1, int(n) + 1))
    _check(lib, lib.qfe_qtb_broadening_matrix(int(n), float(dw), float(gamma), code, int(alpha),
                                              float(dt), _ptr(out, ctypes.c_double)))
    return out


def segment_spectra(v, r, n_f: int):
    """Spectra of one atom's segment (kernel ``qtb_segment_spectra``): v, r float32 arrays of
    3 * 2 n_f values (x, y, z blocks of the velocity and random force per noise interval);
    returns (sum_c |v_k|^2, sum_c Re v_k conj(r_k)), k = 0..n_f, unnormalised DFT sums."""
    lib = load_library()
    v = np.ascontiguousarray(v, dtype=np.float32).reshape(-1)
    r = np.ascontiguousarray(r, dtype=np.float32).reshape(-1)
    if v.size != 6 * n_f or r.size != 6 * n_f:
        raise ValueError(f"v and r must have 6 n_f = {6 * n_f} values (got {v.size}, {r.size})")
    cvv, cvr = np.zeros(n_f + 1), np.zeros(n_f + 1)
    _check(lib, lib.qfe_qtb_segment_spectra(_ptr(v, ctypes.c_float), _ptr(r, ctypes.c_float),
                                            int(n_f), _ptr(cvv, ctypes.c_double),
                                            _ptr(cvr, ctypes.c_double)))
    return cvv, cvr


def adapt_k_max(n_f: int, alpha: int) -> int:
    """Highest grid bin adapted (N_f/2 when alpha > 1: aliasing above; N_f when alpha = 1)."""
    return int(load_library().qfe_qtb_adapt_k_max(int(n_f), int(alpha)))


def adapt_memory() -> float:
    """Memory (segments) of the normalised scheme's moving average of the spectra
    (kQTBAdaptMemory): C <- C + beta (C_segment - C), beta = max(1/n, 1/memory)."""
    return float(load_library().qfe_qtb_adapt_memory())


def finish_segment(bath, adaptive: bool, rate: float, skip: int, min_ratio: float,
                   scheme: int, type_masses, counts, sums, state, nseg_measured: int):
    """One completed segment of adaptive QTB / the FDT diagnostic (kernel
    ``qtb_finish_segment``, what fix qtb runs after its exact sums over atoms): counts (ntypes,)
    atoms per type, sums (ntypes, 2, N_f+1) their summed C_vv and Re C_vR; state = (gamma_r,
    cvv_sum, cvr_sum, cvv_ema, cvr_ema, cvv_last, cvr_last), C-contiguous float64 arrays
    (ntypes, N_f+1) updated in place.  Returns (nseg_measured, fdt_scalar, adapted)."""
    lib = load_library()
    masses = np.ascontiguousarray(type_masses, dtype=np.float64)
    ntypes = masses.size
    cnt = np.ascontiguousarray(counts, dtype=np.int64)
    sm = np.ascontiguousarray(sums, dtype=np.float64)
    shape = (ntypes, bath.n_f + 1)
    if cnt.shape != (ntypes,) or sm.shape != (ntypes, 2, bath.n_f + 1):
        raise ValueError(f"counts must have shape ({ntypes},) and sums {(ntypes, 2) + shape[1:]}")
    for a in state:
        if a.shape != shape or a.dtype != np.float64 or not a.flags.c_contiguous:
            raise ValueError(f"state arrays must be C-contiguous float64 of shape {shape}")
    n = ctypes.c_int64(int(nseg_measured))
    scalar, adapted = ctypes.c_double(), ctypes.c_int()
    _check(lib, lib.qfe_qtb_finish_segment(
        bath._handle, int(bool(adaptive)), float(rate), int(skip), float(min_ratio), int(scheme),
        ntypes, _ptr(masses, ctypes.c_double), _ptr(cnt, ctypes.c_int64),
        _ptr(sm, ctypes.c_double), *[_ptr(a, ctypes.c_double) for a in state], ctypes.byref(n),
        ctypes.byref(scalar), ctypes.byref(adapted)))
    return n.value, scalar.value, bool(adapted.value)


def interval_average_gain(k: int, n_f: int, alpha: int) -> float:
    """|D(w_k)|^2 of averaging the velocity over the alpha steps of a noise interval."""
    return float(load_library().qfe_qtb_interval_average_gain(int(k), int(n_f), int(alpha)))


def adapt_gamma(gamma_r, cvv, cvr, mass: float, gamma: float, theta, rate: float,
                min_ratio: float, scheme: str, units: UnitConstants | None = None,
                max_ratio: float = 0.0, k_max: int = -1):
    """One adaptive-QTB step of the kernel (``qtb_adapt_gamma``) on the grid: returns
    (new gamma_r, Delta_FDT, sum|Delta|/sum m gamma_r C_vv); rate 0 only evaluates Delta.
    scheme 'simple' or 'normalised'; only bins k <= k_max (>= 0) are adapted and summed.
    Units: those of the kernel (LAMMPS metal by default)."""
    lib = load_library()
    code = adapt_scheme_code(scheme)
    g = np.array(gamma_r, dtype=np.float64)
    cv = np.ascontiguousarray(cvv, dtype=np.float64)
    cr = np.ascontiguousarray(cvr, dtype=np.float64)
    th = np.ascontiguousarray(theta, dtype=np.float64)
    m = g.size
    if not (cv.size == cr.size == th.size == m):
        raise ValueError("gamma_r, cvv, cvr and theta must have the same length")
    u = (units or lammps_metal_units()).as_array()
    delta = np.zeros(m)
    scalar = ctypes.c_double()
    _check(lib, lib.qfe_qtb_adapt_gamma(m, _ptr(g, ctypes.c_double), _ptr(cv, ctypes.c_double),
                                        _ptr(cr, ctypes.c_double), float(mass), float(gamma),
                                        _ptr(th, ctypes.c_double), float(rate), float(min_ratio),
                                        float(max_ratio), code, int(k_max),
                                        _ptr(u, ctypes.c_double),
                                        _ptr(delta, ctypes.c_double), ctypes.byref(scalar)))
    return g, delta, scalar.value


class QTBBath:
    """Quantum thermal bath force on a set of atoms (friction + colored noise).

    Parameters (LAMMPS ``fix qtb`` keywords and units)
    ----------
    Every parameter left at None takes the kernel's default (:func:`defaults`: those of
    fix qtb); the kernel checks them all (ValueError with its message).

    temperature : target quantum temperature (K), >= 0
    temperature_stop : end of a temperature ramp (K; default: no ramp), see
        :meth:`set_ramp_step`
    damp : 1/gamma (time units, ps in metal), > 0
    f_max : upper cutoff frequency (1/time units, THz in metal), <= 1/(2 timestep)
    n_f : frequency grid size N_f (the filter has 2 N_f taps)
    seed : positive integer (< 2^32)
    timestep : MD timestep (time units)
    units : :class:`UnitConstants`; default LAMMPS ``metal``
    deconvolution : False/'no' (plain QTB), True/'yes'/'kinetic' (the friction-broadened
        kinetic energy of each harmonic mode is theta/2) or 'potential' (its potential energy)

    The per-atom cache (ring buffer of past normals, float32) is kept in this object and
    regenerated from the counters when the set of atom IDs changes.

    Reproducing a LAMMPS ``fix nve`` + ``fix qtb`` trajectory: LAMMPS calls the bath at step t
    (``step=t``) with the velocities as they are after ``fix nve``'s first half kick and drift,
    v(t-1) + (dt/2) f(t-1) ftm2v/m, and adds the returned float32-valued force to f(t) with one
    double addition; the run's setup (step t0) uses the full-step velocities, except that a
    continued run or a restart reapplies the force stored at that step.  The masses are the
    per-type masses, the atom IDs LAMMPS's tags.
    """

    def __init__(self, temperature: float | None = None, damp: float | None = None,
                 f_max: float | None = None, n_f: int | None = None, seed: int | None = None,
                 timestep: float | None = None, units: UnitConstants | None = None,
                 deconvolution=False, temperature_stop: float | None = None):
        self._lib = load_library()
        self.units = units or lammps_metal_units()
        d = defaults()
        temperature = d["temperature"] if temperature is None else temperature
        temperature_stop = temperature if temperature_stop is None else temperature_stop
        damp = d["damp"] if damp is None else damp
        f_max = d["f_max"] if f_max is None else f_max
        n_f = d["n_f"] if n_f is None else n_f
        seed = d["seed"] if seed is None else seed
        timestep = d["timestep"] if timestep is None else timestep
        if isinstance(n_f, float) and not float(n_f).is_integer():
            raise ValueError(f"n_f must be an integer (got {n_f})")
        if isinstance(seed, float) and not float(seed).is_integer():
            raise ValueError(f"seed must be an integer (got {seed})")
        handle = ctypes.c_void_p()
        u = self.units.as_array()
        self.deconvolution = deconvolution_code(deconvolution)
        _check(self._lib, self._lib.qfe_qtb_bath_create3(
            float(temperature), float(temperature_stop), float(damp), float(f_max),
            max(min(int(n_f), 2 ** 31 - 1), -2 ** 31), _int64(seed), float(timestep),
            self.deconvolution, _ptr(u, ctypes.c_double), ctypes.byref(handle)))
        self._handle = handle
        self.damp = float(damp)
        self.f_max = float(f_max)
        self.n_f = int(n_f)
        self.seed = int(seed)
        self.timestep = float(timestep)
        self.temperature_start = float(temperature)
        self.temperature_stop = float(temperature_stop)
        a, L, fpa = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        _check(self._lib, self._lib.qfe_qtb_bath_sizes(handle, ctypes.byref(a), ctypes.byref(L),
                                                      ctypes.byref(fpa)))
        self.alpha, self.ring_length, self.floats_per_atom = a.value, L.value, fpa.value
        self._tags = None
        self._cache = None
        self._ring_index = ctypes.c_int64(self._lib.qfe_qtb_nothing_cached())

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            self._lib.qfe_qtb_bath_destroy(handle)
            self._handle = None

    # --- properties
    def _times(self):
        h, fc, t = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        _check(self._lib, self._lib.qfe_qtb_bath_times(self._handle, ctypes.byref(h),
                                                      ctypes.byref(fc), ctypes.byref(t)))
        return h.value, fc.value, t.value

    @property
    def noise_interval(self) -> float:
        """h = alpha * timestep: the random force is refreshed every h (time units)."""
        return self._times()[0]

    @property
    def cutoff_frequency(self) -> float:
        """Effective cutoff frequency 1/(2h) (1/time units)."""
        return self._times()[1]

    @property
    def temperature(self) -> float:
        return self._times()[2]

    @temperature.setter
    def temperature(self, value: float) -> None:
        _check(self._lib, self._lib.qfe_qtb_bath_set_temperature(self._handle, float(value)))

    def set_ramp_step(self, step: int, run_begin: int, run_end: int) -> None:
        """Temperature ramp (the kernel's, as fix qtb): target of the noise interval containing
        MD step `step` of a run from step run_begin to run_end, linear from the start to the
        stop temperature (without a ramp: the start temperature)."""
        _check(self._lib, self._lib.qfe_qtb_bath_set_ramp_step(self._handle, int(step),
                                                              int(run_begin), int(run_end)))

    def tally(self, forces, velocities, dt: float, setup: bool = False) -> float:
        """Energy tally of the bath (the kernel's, as fix qtb): add sum F.v of forces (n, 3) and
        velocities (n, 3) as the first force of a run (``setup``: half kick) or a full step of
        length dt; returns the energy given to the bath so far.  Any consistent units
        (force * velocity * dt = energy)."""
        f = np.ascontiguousarray(forces, dtype=np.float64)
        v = np.ascontiguousarray(velocities, dtype=np.float64)
        if f.shape != v.shape or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"forces and velocities must have one shape (n, 3), got {f.shape} "
                             f"and {v.shape}")
        out = ctypes.c_double()
        _check(self._lib, self._lib.qfe_qtb_bath_tally(
            self._handle, int(bool(setup)), f.shape[0], _ptr(f, ctypes.c_double),
            _ptr(v, ctypes.c_double), float(dt), ctypes.byref(out)))
        return out.value

    def energy_to_bath(self, dt: float) -> float:
        """Energy given to the bath so far (see :meth:`tally`; dt of the last step)."""
        out = ctypes.c_double()
        _check(self._lib, self._lib.qfe_qtb_bath_energy_to_bath(self._handle, float(dt),
                                                               ctypes.byref(out)))
        return out.value

    @property
    def taps(self) -> np.ndarray:
        """Filter taps H_j, j = 0..2N_f-1 (sqrt(energy)); H_0 multiplies the newest normal."""
        out = np.zeros(self.ring_length)
        _check(self._lib, self._lib.qfe_qtb_bath_taps(self._handle, _ptr(out, ctypes.c_double)))
        return out

    def spectrum(self):
        """(omega, theta, applied, residual): the positive frequency grid w_k = 2 pi k/(2 N_f h)
        (rad/time, k = 0..N_f), the target theta(w_k, T) and the spectrum the filter realises
        there (energy; the deconvolved theta_d with deconvolution), and the deconvolution's
        largest relative residual on the grid."""
        m = self.n_f + 1
        w, t, a = np.zeros(m), np.zeros(m), np.zeros(m)
        r = ctypes.c_double()
        _check(self._lib, self._lib.qfe_qtb_bath_spectrum(
            self._handle, _ptr(w, ctypes.c_double), _ptr(t, ctypes.c_double),
            _ptr(a, ctypes.c_double), ctypes.byref(r)))
        return w, t, a, r.value

    @property
    def bytes_per_atom(self) -> int:
        """Per-atom state of ``fix qtb``: the float32 ring (6 N_f) plus the stored force (3)."""
        return 4 * (self.floats_per_atom + 3)

    def noise_index(self, step: int) -> int:
        """floor(step / alpha)."""
        return int(step) // self.alpha

    def reset(self) -> None:
        """Forget the cached normals (they are regenerated on the next call)."""
        self._tags = None
        self._cache = None
        self._ring_index = ctypes.c_int64(self._lib.qfe_qtb_nothing_cached())

    def forces(self, step: int, tags, masses, velocities) -> np.ndarray:
        """Bath force (n, 3) at MD step `step` on atoms with IDs `tags` (n,), masses (n,)
        (mass units) and velocities (n, 3) (velocity units): -m gamma v + random force,
        rounded to float32 like ``fix qtb`` applies it."""
        tags = np.ascontiguousarray(tags, dtype=np.int64).reshape(-1)
        n = tags.shape[0]
        masses = np.ascontiguousarray(np.broadcast_to(np.asarray(masses, dtype=np.float64),
                                                      (n,)))
        velocities = np.ascontiguousarray(velocities, dtype=np.float64)
        if velocities.shape != (n, 3):
            raise ValueError(f"velocities must have shape ({n}, 3), got {velocities.shape}")
        if n and np.unique(tags).size != n:
            raise ValueError("atom IDs (tags) must be unique")
        if self._tags is None or self._tags.shape != tags.shape or np.any(self._tags != tags):
            self._tags = tags.copy()
            self._cache = np.full((n, self.floats_per_atom), np.nan, dtype=np.float32)
            self._ring_index = ctypes.c_int64(self._lib.qfe_qtb_nothing_cached())
        out = np.zeros((n, 3))
        _check(self._lib, self._lib.qfe_qtb_bath_forces(
            self._handle, n, _ptr(tags, ctypes.c_int64), _ptr(masses, ctypes.c_double),
            _ptr(velocities, ctypes.c_double), int(step), _ptr(self._cache, ctypes.c_float),
            ctypes.byref(self._ring_index), _ptr(out, ctypes.c_double)))
        return out

    def set_slots(self, count: int) -> None:
        """Create `count` spectrum slots (adaptive QTB: one per atom type), all at scale 1."""
        _check(self._lib, self._lib.qfe_qtb_bath_set_slots(self._handle, int(count)))
        self.slots = int(count)

    def set_slot_scale(self, slot: int, scale) -> None:
        """Noise power of slot `slot` = applied spectrum times scale(w_k) (N_f + 1 values,
        gamma_r/gamma)."""
        sc = np.ascontiguousarray(scale, dtype=np.float64)
        if sc.shape != (self.n_f + 1,):
            raise ValueError(f"scale must have N_f + 1 = {self.n_f + 1} values, got {sc.shape}")
        _check(self._lib, self._lib.qfe_qtb_bath_set_slot_scale(self._handle, int(slot),
                                                                _ptr(sc, ctypes.c_double)))

    def forces_and_random(self, step: int, tags, masses, velocities, slots):
        """As :meth:`forces`, with a spectrum slot per atom (-1: plain spectrum); returns the
        float32-valued bath forces and the random parts (double), both (n, 3)."""
        tags = np.ascontiguousarray(tags, dtype=np.int64).reshape(-1)
        n = tags.shape[0]
        masses = np.ascontiguousarray(np.broadcast_to(np.asarray(masses, dtype=np.float64),
                                                      (n,)))
        velocities = np.ascontiguousarray(velocities, dtype=np.float64)
        slots = np.ascontiguousarray(slots, dtype=np.intc).reshape(-1)
        if velocities.shape != (n, 3) or slots.shape != (n,):
            raise ValueError(f"velocities must have shape ({n}, 3) and slots ({n},)")
        if self._tags is None or self._tags.shape != tags.shape or np.any(self._tags != tags):
            self._tags = tags.copy()
            self._cache = np.full((n, self.floats_per_atom), np.nan, dtype=np.float32)
            self._ring_index = ctypes.c_int64(self._lib.qfe_qtb_nothing_cached())
        out = np.zeros((n, 3))
        rnd = np.zeros((n, 3))
        _check(self._lib, self._lib.qfe_qtb_bath_forces_slots(
            self._handle, n, _ptr(tags, ctypes.c_int64), _ptr(masses, ctypes.c_double),
            _ptr(velocities, ctypes.c_double), _ptr(slots, ctypes.c_int), int(step),
            _ptr(self._cache, ctypes.c_float), ctypes.byref(self._ring_index),
            _ptr(out, ctypes.c_double), _ptr(rnd, ctypes.c_double)))
        return out, rnd

    def random_force_intervals(self, tag: int, mass: float, first_index: int, count: int
                               ) -> np.ndarray:
        """Random force (friction excluded) on one atom for noise intervals
        first..first+count-1, shape (count, 3); the force is constant over each interval
        (alpha MD steps).  Leaves the bath's own cache untouched."""
        saved = (self._tags, self._cache, self._ring_index)
        self.reset()
        out = np.zeros((int(count), 3))
        zero_v = np.zeros((1, 3))
        try:
            for k in range(int(count)):
                out[k] = self.forces((first_index + k) * self.alpha, [tag], [mass], zero_v)[0]
        finally:
            self._tags, self._cache, self._ring_index = saved
        return out

    def __repr__(self):
        return (f"QTBBath(temperature={self.temperature}, damp={self.damp}, f_max={self.f_max}, "
                f"n_f={self.n_f}, seed={self.seed}, timestep={self.timestep}; alpha={self.alpha})")
