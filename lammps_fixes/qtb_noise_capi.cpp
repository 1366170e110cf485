/* C API of the qfe QTB noise kernel (libqfe_qtb.so), bound from Python by qfe.qtb.noise_kernel.
 *
 * Opaque handle, integer status codes (0 = success), the message of the last failure of the
 * calling thread from qfe_qtb_last_error().  No C++ exception crosses this boundary.
 *
 * Per-atom caches are owned by the caller: `floats_per_atom` float32 per atom, contiguous
 * (atom-major), plus one int64 `ring_index` shared by all atoms (the noise index the caches are
 * valid for; any value < -2^62 means "nothing cached yet").
 */

#include "qtb_noise.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#define QFE_API extern "C" __attribute__((visibility("default")))

namespace {

thread_local std::string last_error;

enum Status { OK = 0, INVALID_ARGUMENT = 1, NULL_POINTER = 2, INTERNAL = 3 };

int fail(int code, const std::string &message)
{
  last_error = message;
  return code;
}

template <typename F> int guarded(F &&body)
{
  try {
    body();
    return OK;
  } catch (const std::invalid_argument &e) {
    return fail(INVALID_ARGUMENT, e.what());
  } catch (const std::bad_alloc &) {
    return fail(INTERNAL, "out of memory");
  } catch (const std::exception &e) {
    return fail(INTERNAL, e.what());
  } catch (...) {
    return fail(INTERNAL, "unknown C++ exception");
  }
}

constexpr int64_t kNothingCached = INT64_MIN / 2;

int clamp_int(int64_t x)
{
  return static_cast<int>(std::max<int64_t>(INT_MIN, std::min<int64_t>(INT_MAX, x)));
}

/// status of a parameter check: the failing parameter in *parameter, its requirement (the
/// phrase that completes "<name> ...") as the last error
int checked(int parameter, const qfe::QTBProblem &problem, int *out)
{
  *out = parameter;
  if (parameter == qfe::QTB_PARAM_OK) return OK;
  return fail(INVALID_ARGUMENT, problem.requirement);
}

}    // namespace

struct qfe_qtb_bath {
  qfe::QTBBath bath;
  qfe::QTBEnergyTally tally;
};

QFE_API const char *qfe_qtb_last_error(void)
{
  return last_error.c_str();
}

QFE_API int qfe_qtb_abi_version(void)
{
  return 4;
}

QFE_API int qfe_qtb_philox4x32_10(const uint32_t *counter, const uint32_t *key, uint32_t *out)
{
  if (!counter || !key || !out) return fail(NULL_POINTER, "null pointer argument");
  qfe::philox4x32_10(counter, key, out);
  return OK;
}

/// normals for `count` consecutive noise indices first..first+count-1 of one atom: out[count][3]
QFE_API int qfe_qtb_normals(int64_t seed, int64_t tag, int64_t first, int64_t count, double *out)
{
  if (!out) return fail(NULL_POINTER, "null pointer argument");
  if (seed < 1 || seed > 4294967295LL)
    return fail(INVALID_ARGUMENT, "seed must be an integer in [1, 4294967295] (got " +
                                      std::to_string(seed) + ")");
  if (count < 0) return fail(INVALID_ARGUMENT, "count must be >= 0");
  for (int64_t i = 0; i < count; ++i)
    qfe::qtb_normals(static_cast<uint32_t>(seed), tag, first + i, out + 3 * i);
  return OK;
}

QFE_API int qfe_qtb_units_lammps_metal(double *out4)
{
  if (!out4) return fail(NULL_POINTER, "null pointer argument");
  const qfe::QTBUnits u = qfe::qtb_units_lammps_metal();
  out4[0] = u.boltz;
  out4[1] = u.hplanck;
  out4[2] = u.mvv2e;
  out4[3] = u.ftm2v;
  return OK;
}

/* ---------------------------------------------------------------- parameters: the kernel's
   defaults, limits and checks (fix qtb uses the same C++ functions) */

/// defaults (QTBParameters, QTBAdaptParameters): out13 = {temperature, damp, f_max, n_f, seed,
/// dt, deconvolution, zero, adapt_rate, adapt_skip, adapt_min, adapt_scheme, fdt_every}
QFE_API int qfe_qtb_defaults(double *out13)
{
  if (!out13) return fail(NULL_POINTER, "null pointer argument");
  const qfe::QTBParameters p;
  const qfe::QTBAdaptParameters a;
  const double v[13] = {p.temperature, p.damp, p.f_max, static_cast<double>(p.n_f),
                        static_cast<double>(p.seed), p.dt, static_cast<double>(p.deconvolution),
                        static_cast<double>(p.zero), a.rate, static_cast<double>(a.skip),
                        a.min_ratio, static_cast<double>(a.scheme),
                        static_cast<double>(a.fdt_every)};
  for (int i = 0; i < 13; ++i) out13[i] = v[i];
  return OK;
}

/// largest N_f, and largest N_f with deconvolution
QFE_API int qfe_qtb_limits(int *max_n_f, int *max_n_f_deconvolution)
{
  if (!max_n_f || !max_n_f_deconvolution) return fail(NULL_POINTER, "null pointer argument");
  *max_n_f = qfe::kQTBMaxNf;
  *max_n_f_deconvolution = qfe::kQTBMaxNfDeconvolution;
  return OK;
}

/// general requirement and kernel name of a parameter (qfe::QTBParameterId)
QFE_API const char *qfe_qtb_requirement(int parameter)
{
  return qfe::qtb_requirement(parameter);
}

QFE_API const char *qfe_qtb_parameter_name(int parameter)
{
  return qfe::qtb_parameter_name(parameter);
}

/// keyword values -> codes (-1: unknown)
QFE_API int qfe_qtb_parse_deconvolution(const char *word)
{
  return word ? qfe::qtb_parse_deconvolution(word) : -1;
}

QFE_API int qfe_qtb_parse_adapt_scheme(const char *word)
{
  return word ? qfe::qtb_parse_adapt_scheme(word) : -1;
}

/// qtb_check_parameters + qtb_check_timestep: 0, or INVALID_ARGUMENT with the failing
/// qfe::QTBParameterId in *parameter and its requirement as the last error
QFE_API int qfe_qtb_check(double temperature, double temperature_stop, double damp,
                          double f_max, int64_t n_f, int64_t seed, double dt, int deconvolution,
                          int zero, int *parameter)
{
  if (!parameter) return fail(NULL_POINTER, "null pointer argument");
  qfe::QTBParameters p;
  p.temperature = temperature;
  p.temperature_stop = temperature_stop;
  p.damp = damp;
  p.f_max = f_max;
  p.n_f = clamp_int(n_f);
  p.seed = seed;
  p.dt = dt;
  p.deconvolution = deconvolution;
  p.zero = zero;
  qfe::QTBProblem problem;
  int bad = qfe::qtb_check_parameters(p, problem);
  if (bad == qfe::QTB_PARAM_OK) bad = qfe::qtb_check_timestep(p, problem);
  return checked(bad, problem, parameter);
}

/// qtb_check_adapt, reported as qfe_qtb_check
QFE_API int qfe_qtb_check_adapt(double rate, int64_t skip, double min_ratio, int scheme,
                                int64_t fdt_every, int *parameter)
{
  if (!parameter) return fail(NULL_POINTER, "null pointer argument");
  qfe::QTBAdaptParameters a;
  a.rate = rate;
  a.skip = clamp_int(skip);
  a.min_ratio = min_ratio;
  a.scheme = scheme;
  a.fdt_every = clamp_int(fdt_every);
  qfe::QTBProblem problem;
  return checked(qfe::qtb_check_adapt(a, problem), problem, parameter);
}

/// a bath with a temperature ramp temperature -> temperature_stop (see
/// qfe_qtb_bath_set_ramp_step); otherwise as qfe_qtb_bath_create2
QFE_API int qfe_qtb_bath_create3(double temperature, double temperature_stop, double damp,
                                 double f_max, int n_f, int64_t seed, double dt,
                                 int deconvolution, const double *units4, qfe_qtb_bath **out)
{
  if (!out || !units4) return fail(NULL_POINTER, "null pointer argument");
  *out = nullptr;
  return guarded([&] {
    qfe::QTBParameters p;
    p.temperature = temperature;
    p.temperature_stop = temperature_stop;
    p.damp = damp;
    p.f_max = f_max;
    p.n_f = n_f;
    p.seed = seed;
    p.dt = dt;
    p.deconvolution = deconvolution;
    qfe::QTBUnits u{units4[0], units4[1], units4[2], units4[3]};
    *out = new qfe_qtb_bath{qfe::QTBBath(p, u), qfe::QTBEnergyTally()};
  });
}

/// as qfe_qtb_bath_create, with deconvolution = 0 (none), 1 (kinetic) or 2 (potential)
QFE_API int qfe_qtb_bath_create2(double temperature, double damp, double f_max, int n_f,
                                 int64_t seed, double dt, int deconvolution,
                                 const double *units4, qfe_qtb_bath **out)
{
  return qfe_qtb_bath_create3(temperature, temperature, damp, f_max, n_f, seed, dt,
                              deconvolution, units4, out);
}

/// units4 = {boltz, hplanck, mvv2e, ftm2v}; no deconvolution
QFE_API int qfe_qtb_bath_create(double temperature, double damp, double f_max, int n_f,
                                int64_t seed, double dt, const double *units4,
                                qfe_qtb_bath **out)
{
  return qfe_qtb_bath_create2(temperature, damp, f_max, n_f, seed, dt, 0, units4, out);
}

/// positive frequency grid w_k (rad/time), target theta and applied spectrum (energy),
/// k = 0..N_f (arrays of N_f + 1), and the deconvolution residual
QFE_API int qfe_qtb_bath_spectrum(const qfe_qtb_bath *bath, double *omega, double *theta,
                                  double *applied, double *residual)
{
  if (!bath || !omega || !theta || !applied || !residual)
    return fail(NULL_POINTER, "null pointer argument");
  const auto w = bath->bath.angular_grid();
  const auto &t = bath->bath.target_spectrum();
  const auto &a = bath->bath.applied_spectrum();
  for (size_t k = 0; k < w.size(); ++k) {
    omega[k] = w[k];
    theta[k] = t[k];
    applied[k] = a[k];
  }
  *residual = bath->bath.deconvolution_residual();
  return OK;
}

/// friction-broadening matrix (n+1)^2 (see qtb_noise.h), kind 1 kinetic, 2 potential; force
/// held for alpha steps of dt (alpha = 1: no image bands)
QFE_API int qfe_qtb_broadening_matrix(int n, double dw, double gamma, int kind, int alpha,
                                      double dt, double *out)
{
  if (!out) return fail(NULL_POINTER, "null pointer argument");
  if (n < 1 || n > qfe::kQTBMaxNfDeconvolution)
    return fail(INVALID_ARGUMENT, "n must be in [1, " +
                                      std::to_string(qfe::kQTBMaxNfDeconvolution) + "]");
  return guarded([&] {
    const auto b = qfe::qtb_broadening_matrix(n, dw, gamma, kind, alpha, dt);
    for (size_t i = 0; i < b.size(); ++i) out[i] = b[i];
  });
}

QFE_API void qfe_qtb_bath_destroy(qfe_qtb_bath *bath)
{
  delete bath;
}

/// info: alpha, ring length L = 2 N_f, floats per atom (3 L)
QFE_API int qfe_qtb_bath_sizes(const qfe_qtb_bath *bath, int *alpha, int *ring_length,
                               int *floats_per_atom)
{
  if (!bath || !alpha || !ring_length || !floats_per_atom)
    return fail(NULL_POINTER, "null pointer argument");
  *alpha = bath->bath.alpha();
  *ring_length = bath->bath.ring_length();
  *floats_per_atom = bath->bath.floats_per_atom();
  return OK;
}

/// info: noise interval h, effective cutoff 1/(2h), current temperature
QFE_API int qfe_qtb_bath_times(const qfe_qtb_bath *bath, double *h, double *cutoff,
                               double *temperature)
{
  if (!bath || !h || !cutoff || !temperature) return fail(NULL_POINTER, "null pointer argument");
  *h = bath->bath.noise_interval();
  *cutoff = bath->bath.cutoff_frequency();
  *temperature = bath->bath.temperature();
  return OK;
}

QFE_API int qfe_qtb_bath_set_temperature(qfe_qtb_bath *bath, double temperature)
{
  if (!bath) return fail(NULL_POINTER, "null pointer argument");
  return guarded([&] { bath->bath.set_temperature(temperature); });
}

/// temperature ramp: the target of the noise interval containing MD step `step` of a run
/// run_begin..run_end (the kernel's qtb_ramp_temperature, as fix qtb)
QFE_API int qfe_qtb_bath_set_ramp_step(qfe_qtb_bath *bath, int64_t step, int64_t run_begin,
                                       int64_t run_end)
{
  if (!bath) return fail(NULL_POINTER, "null pointer argument");
  return guarded([&] { bath->bath.set_ramp_step(step, run_begin, run_end); });
}

/// zero yes: subtract the mean of forces[count][3] (float32 values stored as double, as
/// qfe_qtb_bath_forces returns them) from each, rounded to float32 as fix qtb does
QFE_API int qfe_qtb_remove_net_force(int64_t count, double *forces)
{
  if (count > 0 && !forces) return fail(NULL_POINTER, "null pointer argument");
  if (count <= 0) return OK;
  double sum[4] = {0.0, 0.0, 0.0, 0.0};
  for (int64_t i = 0; i < count; ++i) {
    const float f[3] = {static_cast<float>(forces[3 * i]), static_cast<float>(forces[3 * i + 1]),
                        static_cast<float>(forces[3 * i + 2])};
    qfe::qtb_net_force_add(f, sum);
  }
  for (int64_t i = 0; i < count; ++i) {
    float f[3] = {static_cast<float>(forces[3 * i]), static_cast<float>(forces[3 * i + 1]),
                  static_cast<float>(forces[3 * i + 2])};
    qfe::qtb_net_force_remove(sum, f);
    for (int c = 0; c < 3; ++c) forces[3 * i + c] = f[c];
  }
  return OK;
}

/// energy tally of the bath (qfe::QTBEnergyTally) kept in the handle: sum_i F_i.v_i of
/// forces[count][3] and velocities[count][3] added as the setup (setup = 1,
/// half kick) or a full step; then energy_to_bath (energy given to the bath so far).
/// Units: whatever consistent units the caller uses (force*velocity*dt = energy).
QFE_API int qfe_qtb_bath_tally(qfe_qtb_bath *bath, int setup, int64_t count,
                               const double *forces, const double *velocities, double dt,
                               double *energy_to_bath)
{
  if (!bath || !energy_to_bath || (count > 0 && (!forces || !velocities)))
    return fail(NULL_POINTER, "null pointer argument");
  double power = 0.0;
  for (int64_t i = 0; i < count; ++i)
    power += qfe::QTBEnergyTally::power(forces + 3 * i, velocities + 3 * i);
  if (setup)
    bath->tally.setup(power, dt);
  else
    bath->tally.step(power, dt);
  *energy_to_bath = qfe::QTBEnergyTally::energy_to_bath(bath->tally.work, bath->tally.onestep,
                                                        dt);
  return OK;
}

/// energy given to the bath so far, without tallying a step
QFE_API int qfe_qtb_bath_energy_to_bath(const qfe_qtb_bath *bath, double dt, double *out)
{
  if (!bath || !out) return fail(NULL_POINTER, "null pointer argument");
  *out = qfe::QTBEnergyTally::energy_to_bath(bath->tally.work, bath->tally.onestep, dt);
  return OK;
}

/// filter taps H_j, j = 0..2N_f-1 (sqrt(energy) units)
QFE_API int qfe_qtb_bath_taps(const qfe_qtb_bath *bath, double *out)
{
  if (!bath || !out) return fail(NULL_POINTER, "null pointer argument");
  const auto &t = bath->bath.taps();
  for (size_t i = 0; i < t.size(); ++i) out[i] = t[i];
  return OK;
}

QFE_API int64_t qfe_qtb_nothing_cached(void)
{
  return kNothingCached;
}

/// Bath forces (friction + random, float32-rounded, stored as double) on `count` atoms at MD
/// step `step`.  tags[count], masses[count], velocities[count][3], caches[count][floats_per_atom]
/// (updated in place), *ring_index (in: noise index the caches hold, out: the new one),
/// forces[count][3] (out).  Atoms whose cache is invalid are regenerated from the counters.
QFE_API int qfe_qtb_bath_forces(const qfe_qtb_bath *bath, int64_t count, const int64_t *tags,
                                const double *masses, const double *velocities, int64_t step,
                                float *caches, int64_t *ring_index, double *forces)
{
  if (!bath || !ring_index || (count > 0 && (!tags || !masses || !velocities || !caches || !forces)))
    return fail(NULL_POINTER, "null pointer argument");
  if (count < 0) return fail(INVALID_ARGUMENT, "count must be >= 0");
  for (int64_t i = 0; i < count; ++i)
    if (!(masses[i] > 0.0) || !std::isfinite(masses[i]))
      return fail(INVALID_ARGUMENT, "mass of atom " + std::to_string(i) + " (tag " +
                                        std::to_string(tags[i]) + ") must be > 0 (got " +
                                        std::to_string(masses[i]) + ")");
  return guarded([&] {
    const qfe::QTBBath &b = bath->bath;
    const int64_t n = b.noise_index(step);
    const int64_t stride = b.floats_per_atom();
    for (int64_t i = 0; i < count; ++i) {
      float *ring = caches + i * stride;
      if (*ring_index <= kNothingCached) qfe::QTBBath::invalidate(ring);
      b.update(ring, tags[i], *ring_index, n);
      float f[3];
      b.force(ring, n, masses[i], velocities + 3 * i, f);
      for (int c = 0; c < 3; ++c) forces[3 * i + c] = f[c];
    }
    *ring_index = n;
  });
}

/* ---------------------------------------------------------------- adaptive QTB */

QFE_API int qfe_qtb_bath_set_slots(qfe_qtb_bath *bath, int count)
{
  if (!bath) return fail(NULL_POINTER, "null pointer argument");
  return guarded([&] { bath->bath.set_slots(count); });
}

/// scale[N_f + 1] = gamma_r(w_k)/gamma for spectrum slot `slot`
QFE_API int qfe_qtb_bath_set_slot_scale(qfe_qtb_bath *bath, int slot, const double *scale)
{
  if (!bath || !scale) return fail(NULL_POINTER, "null pointer argument");
  return guarded([&] {
    std::vector<double> s(scale, scale + bath->bath.parameters().n_f + 1);
    bath->bath.set_slot_scale(slot, s);
  });
}

/// as qfe_qtb_bath_forces, with a spectrum slot per atom (slots[count], -1: plain) and the
/// random part of the force (double, not rounded) in random[count][3]
QFE_API int qfe_qtb_bath_forces_slots(const qfe_qtb_bath *bath, int64_t count,
                                      const int64_t *tags, const double *masses,
                                      const double *velocities, const int *slots, int64_t step,
                                      float *caches, int64_t *ring_index, double *forces,
                                      double *random)
{
  if (!bath || !ring_index ||
      (count > 0 && (!tags || !masses || !velocities || !slots || !caches || !forces || !random)))
    return fail(NULL_POINTER, "null pointer argument");
  if (count < 0) return fail(INVALID_ARGUMENT, "count must be >= 0");
  for (int64_t i = 0; i < count; ++i) {
    if (!(masses[i] > 0.0) || !std::isfinite(masses[i]))
      return fail(INVALID_ARGUMENT, "mass of atom " + std::to_string(i) + " must be > 0");
    if (slots[i] < -1 || slots[i] >= bath->bath.slots())
      return fail(INVALID_ARGUMENT, "spectrum slot " + std::to_string(slots[i]) + " of atom " +
                                        std::to_string(i) + " does not exist");
  }
  return guarded([&] {
    const qfe::QTBBath &b = bath->bath;
    const int64_t n = b.noise_index(step);
    const int64_t stride = b.floats_per_atom();
    for (int64_t i = 0; i < count; ++i) {
      float *ring = caches + i * stride;
      if (*ring_index <= kNothingCached) qfe::QTBBath::invalidate(ring);
      b.update(ring, tags[i], *ring_index, n);
      float f[3];
      b.force(ring, n, masses[i], velocities + 3 * i, f, slots[i], random + 3 * i);
      for (int c = 0; c < 3; ++c) forces[3 * i + c] = f[c];
    }
    *ring_index = n;
  });
}

/// one completed segment of adaptive QTB / the FDT diagnostic (qfe::qtb_finish_segment) on the
/// caller's state arrays [ntypes][N_f+1] (gamma_r, cvv_sum, cvr_sum, cvv_ema, cvr_ema, cvv_last,
/// cvr_last; updated in place), *nseg_measured (in/out), *fdt_scalar (out), *adapted (out: 1 when
/// gamma_r changed); count[ntypes], sums[ntypes][2][N_f+1] as in qtb_noise.h
QFE_API int qfe_qtb_finish_segment(const qfe_qtb_bath *bath, int adaptive, double rate, int skip,
                                   double min_ratio, int scheme, int ntypes,
                                   const double *type_masses, const int64_t *count,
                                   const double *sums, double *gamma_r, double *cvv_sum,
                                   double *cvr_sum, double *cvv_ema, double *cvr_ema,
                                   double *cvv_last, double *cvr_last, int64_t *nseg_measured,
                                   double *fdt_scalar, int *adapted)
{
  if (!bath || !type_masses || !count || !sums || !gamma_r || !cvv_sum || !cvr_sum ||
      !cvv_ema || !cvr_ema || !cvv_last || !cvr_last || !nseg_measured || !fdt_scalar || !adapted)
    return fail(NULL_POINTER, "null pointer argument");
  if (ntypes < 1) return fail(INVALID_ARGUMENT, "ntypes must be >= 1");
  return guarded([&] {
    const size_t size = static_cast<size_t>(ntypes) * (bath->bath.parameters().n_f + 1);
    double *arrays[7] = {gamma_r, cvv_sum, cvr_sum, cvv_ema, cvr_ema, cvv_last, cvr_last};
    qfe::QTBAdaptState state;
    std::vector<double> *vectors[7] = {&state.gamma_r, &state.cvv_sum, &state.cvr_sum,
                                       &state.cvv_ema, &state.cvr_ema, &state.cvv_last,
                                       &state.cvr_last};
    for (int i = 0; i < 7; ++i) vectors[i]->assign(arrays[i], arrays[i] + size);
    state.nseg_measured = *nseg_measured;
    qfe::QTBAdaptParameters p;
    p.rate = rate;
    p.skip = skip;
    p.min_ratio = min_ratio;
    p.scheme = scheme;
    *adapted = qfe::qtb_finish_segment(bath->bath, p, adaptive != 0, ntypes, type_masses, count,
                                       sums, state) ? 1 : 0;
    for (int i = 0; i < 7; ++i) std::copy(vectors[i]->begin(), vectors[i]->end(), arrays[i]);
    *nseg_measured = state.nseg_measured;
    *fdt_scalar = state.fdt_scalar;
  });
}

/// one atom's segment spectra added into cvv[N_f+1], cvr[N_f+1] (see qtb_noise.h)
QFE_API int qfe_qtb_segment_spectra(const float *v, const float *r, int n_f, double *cvv,
                                    double *cvr)
{
  if (!v || !r || !cvv || !cvr) return fail(NULL_POINTER, "null pointer argument");
  if (n_f < 1) return fail(INVALID_ARGUMENT, "n_f must be >= 1");
  qfe::qtb_segment_spectra(v, r, n_f, cvv, cvr);
  return OK;
}

QFE_API double qfe_qtb_interval_average_gain(int k, int n_f, int alpha)
{
  return qfe::qtb_interval_average_gain(k, n_f, alpha);
}

/// memory (segments) of the normalised scheme's moving average (kQTBAdaptMemory)
QFE_API double qfe_qtb_adapt_memory(void)
{
  return qfe::kQTBAdaptMemory;
}

QFE_API int qfe_qtb_adapt_k_max(int n_f, int alpha)
{
  return qfe::qtb_adapt_k_max(n_f, alpha);
}

/// one adaptation step on m = N_f + 1 values (see qtb_adapt_gamma); rate 0: diagnostic only
QFE_API int qfe_qtb_adapt_gamma(int m, double *gamma_r, const double *cvv, const double *cvr,
                                double mass, double gamma, const double *theta, double rate,
                                double min_ratio, double max_ratio, int scheme, int k_max,
                                const double *units4, double *delta, double *scalar)
{
  if (!gamma_r || !cvv || !cvr || !theta || !units4 || !delta || !scalar)
    return fail(NULL_POINTER, "null pointer argument");
  return guarded([&] {
    std::vector<double> g(gamma_r, gamma_r + m), cv(cvv, cvv + m), cr(cvr, cvr + m),
        th(theta, theta + m), d;
    qfe::QTBAdaptParameters p;
    p.rate = rate;
    p.min_ratio = min_ratio;
    p.max_ratio = max_ratio;
    p.scheme = scheme;
    p.k_max = k_max;
    qfe::QTBUnits u{units4[0], units4[1], units4[2], units4[3]};
    *scalar = qfe::qtb_adapt_gamma(g, cv, cr, mass, gamma, th, p, u, d);
    for (int k = 0; k < m; ++k) {
      gamma_r[k] = g[k];
      delta[k] = d[k];
    }
  });
}
