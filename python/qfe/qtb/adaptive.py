"""Adaptive QTB bookkeeping for the Python side (ASE's QTBDynamics), step for step what
``fix qtb ... adaptive yes`` does in LAMMPS, on the same kernel functions.

Per atom and noise interval n (segment s = n // 2N_f, position j = n - 2N_f s) it records the
random force (at force evaluation) and the full-step velocity averaged over the alpha steps of
the interval (at the end of each MD step).  When the first force of segment s is computed,
segment s - 1 is processed: per-atom spectra (kernel ``qtb_segment_spectra``), summed per atom
type in fixed point exactly as the fix sums them over MPI ranks, then handed to the kernel's
``qtb_finish_segment`` (the fix's code: normalisation to spectral densities per degree of
freedom, interval-average correction, averages, Delta_FDT and, with ``adaptive`` after ``skip``
segments, the gamma_r step).

Units are the kernel's (LAMMPS metal: ps, A/ps, eV, amu).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from qfe.qtb.noise_kernel import (
    PARAMETERS,
    QTBBath,
    adapt_scheme_code,
    check_adapt_parameters,
    defaults,
    finish_segment,
    requirement,
    segment_spectra,
)

__all__ = ["AdaptiveSpectra", "SCHEMES"]

SCHEMES = ("simple", "normalised")      # by kernel code (QTBAdaptScheme)
_NO_SEGMENT = -(2 ** 31)


def _bad(name, why, value) -> ValueError:
    shown = "adapt_min (lower bound of gamma_r/gamma)" if name == "adapt_min" else name
    return ValueError(f"{shown} {why}, got {value!r}")


def _llround(x: np.ndarray) -> np.ndarray:
    """C's llround (half away from zero) for doubles, exactly."""
    big = np.abs(x) >= 2.0 ** 52                       # already integers
    r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.where(big, x, r).astype(np.int64)


class AdaptiveSpectra:
    """Segment spectra, Delta_FDT and gamma_r(w) per atom type for a :class:`QTBBath`.

    kernel : the bath (its slots are created here when ``adaptive``)
    types : (n,) atom type index 0..ntypes-1 of each atom
    type_masses : (ntypes,) mass of each type (amu)
    adaptive, rate, skip, min_ratio, scheme : as fix qtb ``adaptive``, ``adapt_rate``,
        ``adapt_skip``, ``adapt_min``, ``adapt_scheme``
    """

    def __init__(self, kernel: QTBBath, types, type_masses, adaptive: bool = True,
                 rate: float | None = None, skip: int | None = None,
                 min_ratio: float | None = None, scheme: str | None = None, fdt_file=None,
                 fdt_every: int | None = None):
        # defaults and checks are the kernel's (fix qtb's); here only Python types
        d = defaults()
        rate = d["adapt_rate"] if rate is None else rate
        skip = d["adapt_skip"] if skip is None else skip
        min_ratio = d["adapt_min"] if min_ratio is None else min_ratio
        fdt_every = d["fdt_every"] if fdt_every is None else fdt_every
        code = d["adapt_scheme"] if scheme is None else adapt_scheme_code(scheme)
        given = {"adapt_rate": rate, "adapt_skip": skip, "adapt_min": min_ratio,
                 "fdt_every": fdt_every}
        for name, value in given.items():
            integer = name in ("adapt_skip", "fdt_every")
            if isinstance(value, bool) or not isinstance(
                    value, (Integral if integer else Real)):
                raise _bad(name, requirement(PARAMETERS[name]), value)
        bad, why = check_adapt_parameters(rate, skip, min_ratio, code, fdt_every)
        if bad:
            name = next(k for k, v in PARAMETERS.items() if v == bad)
            raise _bad(name, why, given.get(name, scheme))
        self.kernel = kernel
        self.types = np.asarray(types, dtype=np.intc)
        self.type_masses = np.asarray(type_masses, dtype=np.float64)
        self.ntypes = self.type_masses.size
        self.adaptive = bool(adaptive)
        self.rate, self.skip, self.min_ratio = float(rate), int(skip), float(min_ratio)
        self.scheme = SCHEMES[code]
        self.fdt_file, self.fdt_every = fdt_file, int(fdt_every)
        n = self.types.size
        nf = kernel.n_f
        self.L = 2 * nf
        m = nf + 1
        self.gamma = 1.0 / kernel.damp
        self.gamma_r = np.full((self.ntypes, m), self.gamma)
        self.cvv_sum = np.zeros((self.ntypes, m))
        self.cvr_sum = np.zeros((self.ntypes, m))
        self.cvv_ema = np.zeros((self.ntypes, m))
        self.cvr_ema = np.zeros((self.ntypes, m))
        self.cvv_last = np.zeros((self.ntypes, m))
        self.cvr_last = np.zeros((self.ntypes, m))
        self.nseg_measured = 0
        self.last_segment = -1
        self.fdt_scalar = 0.0
        self.vbuf = np.zeros((n, 3 * self.L), dtype=np.float32)
        self.rbuf = np.zeros((n, 3 * self.L), dtype=np.float32)
        self.seg = np.full(n, _NO_SEGMENT, dtype=np.int64)
        self.count = np.full(n, -1, dtype=np.int64)
        if self.adaptive:
            kernel.set_slots(self.ntypes)
            self._apply()
        if fdt_file is not None:
            with open(fdt_file, "w") as fh:
                fh.write("# QTBDynamics FDT diagnostic (docs/fix_qtb.md)\n# columns: omega "
                         "(rad/ps) gamma_r (1/ps) Delta_FDT (eV) C_vv (A^2/ps) Re_C_vR (eV)\n")

    @property
    def slots(self) -> np.ndarray:
        """Spectrum slot of each atom for the kernel (-1: plain spectrum)."""
        return self.types if self.adaptive else np.full(self.types.size, -1, dtype=np.intc)

    def _apply(self) -> None:
        for t in range(self.ntypes):
            self.kernel.set_slot_scale(t, self.gamma_r[t] / self.gamma)

    # -- the fix's apply_bath (non-reused force) and end_of_step
    def before_forces(self, step: int) -> None:
        n = int(step) // self.kernel.alpha
        if n >= 0:
            segment = n // self.L
            if segment - 1 > self.last_segment:
                self.process(segment - 1)

    def record_random(self, step: int, random) -> None:
        alpha = self.kernel.alpha
        n = int(step) // alpha
        segment = n // self.L
        j = n - segment * self.L
        new = self.seg != segment
        if np.any(new):
            self.seg[new] = segment
            if j == 0 and n * alpha == int(step):
                self.vbuf[new] = 0.0
                self.rbuf[new] = 0.0
                self.count[new] = 0
            else:
                self.count[new] = -1
        ok = self.count >= 0
        r = np.asarray(random, dtype=np.float64).astype(np.float32)
        for c in range(3):
            self.rbuf[ok, c * self.L + j] = r[ok, c]

    def record_velocity(self, step: int, velocities) -> None:
        """Full-step velocities (A/ps) at the end of MD step `step`."""
        alpha = self.kernel.alpha
        n = int(step) // alpha
        if n < 0:
            return
        segment = n // self.L
        j = n - segment * self.L
        ok = (self.seg == segment) & (self.count >= 0)
        w = np.float32(1.0) / np.float32(alpha)
        v = np.asarray(velocities, dtype=np.float64).astype(np.float32)
        for c in range(3):
            self.vbuf[ok, c * self.L + j] += v[ok, c] * w
        self.count[ok] += 1

    def process(self, segment: int) -> None:
        kernel = self.kernel
        nf, L, m = kernel.n_f, self.L, kernel.n_f + 1
        self.last_segment = segment
        complete = L * kernel.alpha
        who = np.flatnonzero((self.seg == segment) & (self.count == complete))
        counts = np.bincount(self.types[who], minlength=self.ntypes)
        if counts.sum() == 0:
            return
        spec = np.zeros((who.size, 2, m))
        for a, i in enumerate(who):
            spec[a] = segment_spectra(self.vbuf[i], self.rbuf[i], nf)
        # the fix's rank-independent fixed-point sums
        unit = np.zeros((self.ntypes, 2))
        for t in range(self.ntypes):
            sel = self.types[who] == t
            if counts[t] == 0:
                continue
            for q in range(2):
                gmax = np.max(np.abs(spec[sel, q]))
                if gmax > 0:
                    _, e = math.frexp(gmax * float(counts[t]))
                    unit[t, q] = math.ldexp(1.0, e - 61)
        # the kernel's bookkeeping (fix qtb's): normalisation, averages, Delta_FDT, adaptation
        sums = np.zeros((self.ntypes, 2, m))
        for t in range(self.ntypes):
            if counts[t] == 0:
                continue
            sel = self.types[who] == t
            for q in range(2):
                if unit[t, q] > 0:
                    sums[t, q] = np.sum(_llround(spec[sel, q] / unit[t, q]), axis=0).astype(
                        np.float64) * unit[t, q]
        state = (self.gamma_r, self.cvv_sum, self.cvr_sum, self.cvv_ema, self.cvr_ema,
                 self.cvv_last, self.cvr_last)
        self.nseg_measured, self.fdt_scalar, adapted = finish_segment(
            kernel, self.adaptive, self.rate, self.skip, self.min_ratio,
            adapt_scheme_code(self.scheme), self.type_masses, counts, sums, state,
            self.nseg_measured)
        if adapted:
            self._apply()
        if self.fdt_file is not None and self.nseg_measured % self.fdt_every == 0:
            self._write(segment, kernel.spectrum()[0])

    def diagnostic_spectra(self, t: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """C_vv, Re C_vR of type t that Delta_FDT is evaluated on: with adaptation their
        moving average (the spectra of the current gamma_r), otherwise the mean over all
        measured segments (the kernel's rule, qtb_diagnostic_cvv)."""
        if self.adaptive:
            return self.cvv_ema[t], self.cvr_ema[t]
        inv = 1.0 / max(self.nseg_measured, 1)
        return self.cvv_sum[t] * inv, self.cvr_sum[t] * inv

    def delta_fdt(self, t: int = 0) -> np.ndarray:
        """Delta_FDT(w_k) (eV) of type t on the diagnostic spectra."""
        cvv, cvr = self.diagnostic_spectra(t)
        return self.kernel.units.mvv2e * self.type_masses[t] * self.gamma_r[t] * cvv - cvr

    def _write(self, segment: int, w) -> None:
        with open(self.fdt_file, "a") as fh:
            for t in range(self.ntypes):
                fh.write(f"# segment {segment} type {t + 1} segments_measured "
                         f"{self.nseg_measured} fdt_scalar {self.fdt_scalar:.6g}\n")
                d = self.delta_fdt(t)
                cvv, cvr = self.diagnostic_spectra(t)
                for k in range(w.size):
                    fh.write(f"{w[k]:.10g} {self.gamma_r[t, k]:.10g} {d[k]:.10g} "
                             f"{cvv[k]:.10g} {cvr[k]:.10g}\n")
                fh.write("\n")
