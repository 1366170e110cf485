/* qfe QTB noise kernel: the one implementation of quantum-thermal-bath noise.
 *
 * Used by the LAMMPS `fix qtb` (lammps_fixes/fix_qtb.cpp) and, through the C API in
 * qtb_noise_capi.cpp, by Python (qfe.qtb).  Both link this very object code, so for the same
 * inputs they produce bit-identical forces.
 *
 * Physics (Dammak et al., PRL 103, 190601 (2009); filter of Barrat & Rodney, J. Stat. Phys.
 * 144, 679 (2011), as in LAMMPS's QTB package): an atom of mass m in the bath feels
 *
 *     F(t) = -m gamma v(t) + sqrt(2 m gamma / h) * sum_{j=0}^{2N_f-1} H_j R_{n-j},
 *
 * gamma = 1/damp, h = alpha*dt the noise interval (alpha = int(1/(2 f_max dt))), n = floor(t/h)
 * the noise step index and R_m independent standard normal numbers.  The taps H_j are the
 * cosine transform of sqrt(theta(f_k, T)) on the grid f_k = (k - N_f)/(2 N_f h),
 * k = 0..2N_f-1, theta(omega, T) = hbar omega [1/2 + 1/(exp(hbar omega/kT) - 1)], times the
 * zero-order-hold correction alpha sin(pi f dt)/sin(pi f h) (the force is held for alpha
 * steps).  Then the random force, held piecewise constant, has the two-sided power spectral
 * density 2 m gamma theta(f, T) at the grid frequencies (|f| <= f_max); classical limit:
 * H_j = sqrt(kT) delta_{j,N_f}, i.e. the Langevin force.
 *
 * Random numbers: counter-based Philox4x32-10 (Salmon et al., SC11), keyed by (seed, atom tag,
 * noise step index); the Cartesian component selects the output lane.  So R does not depend on
 * which rank owns the atom, and any past normal can be regenerated: the per-atom ring buffer of
 * the last 2N_f normals (float32) is only a cache.
 *
 * Units follow the LAMMPS conventions (boltz, hplanck, mvv2e, ftm2v of the unit style).
 */
#ifndef QFE_QTB_NOISE_H
#define QFE_QTB_NOISE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qfe {

// ---------------------------------------------------------------- random numbers

/// Philox4x32-10 block: out = Philox(counter, key) (Random123 reference algorithm).
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/// The three standard normal numbers R_{n}(tag) (x, y, z) for one atom and noise step.
void qtb_normals(uint32_t seed, int64_t tag, int64_t noise_index, double out[3]);

// ---------------------------------------------------------------- units and spectra

/// Unit constants in the LAMMPS convention (see LAMMPS Force class).
struct QTBUnits {
  double boltz;     // Boltzmann constant, energy/K
  double hplanck;   // Planck constant h (not hbar), energy*time
  double mvv2e;     // mass*velocity^2 -> energy
  double ftm2v;     // force*time/mass -> velocity
};

/// LAMMPS `units metal` constants (eV, A, ps, amu), as LAMMPS's Force sets them.
QTBUnits qtb_units_lammps_metal();

/// theta(f, T) = h|f| [1/2 + 1/(exp(h|f|/kT) - 1)] (energy; f in 1/time), kT at f = 0.
double qtb_theta(double frequency, double temperature, const QTBUnits &units);

// ---------------------------------------------------------------- deconvolution

/// Image bands of the held force included in the broadening model (their weight falls like
/// 1/band^4 in the kinetic energy).
constexpr int kQTBImageBands = 8;

/// Which friction-broadened energy the deconvolved spectrum makes exact (keyword
/// `deconvolution`): none (plain QTB), the kinetic energy of every harmonic mode of the grid, or
/// its potential energy.  One spectrum cannot do both (see docs/fix_qtb.md).
enum QTBDeconvolution { QTB_DECONV_NONE = 0, QTB_DECONV_KINETIC = 1, QTB_DECONV_POTENTIAL = 2 };

/// Friction broadening on the frequency grid w_k = k dw, k = 0..n (rad/time), as a matrix
/// B[i*(n+1)+j] such that sum_j B_ij s_j = int_0^{n dw} L(w_i, w) s(w) dw for s piecewise linear
/// between the nodes.  L is the Langevin response of an oscillator w0 = w_i with friction gamma
/// (1/time) to a noise spectrum s: kinetic energy  L = (2/pi) gamma w^2  /((w^2-w0^2)^2+gamma^2 w^2),
/// potential energy L = (2/pi) gamma w0^2/((w^2-w0^2)^2+gamma^2 w^2); both integrate to 1 over
/// w in [0, inf).  Quadrature: 4-point Gauss-Legendre in u = atan(2(w - w_i)/gamma), which makes
/// the Lorentzian peak smooth whatever gamma/dw.  With alpha > 1 the force is held for alpha
/// steps dt = h/alpha, and its spectrum continues above the cutoff n dw in image bands
/// (mirrored copies of the grid spectrum weighted by sin^2(w_base dt/2)/sin^2(w dt/2)); those
/// below half the Nyquist frequency pi/dt, at most kQTBImageBands, are included, so that B
/// describes the noise the MD really sees.
std::vector<double> qtb_broadening_matrix(int n, double dw, double gamma, int kind,
                                          int alpha = 1, double dt = 0.0);

/// Solve B theta_d = theta for theta_d > 0 by the multiplicative iteration
/// theta_d <- theta_d * theta / (B theta_d) from theta_d = theta (rows with zero weight keep
/// theta).  Stops when max_i |(B theta_d)_i/theta_i - 1| <= tol or after max_iter iterations;
/// returns that residual.
double qtb_deconvolve(const std::vector<double> &matrix, const std::vector<double> &theta,
                      std::vector<double> &theta_d, int max_iter = 500, double tol = 1e-10);

// ---------------------------------------------------------------- parameters

/// Largest N_f accepted (fix qtb, the C API and Python all use this one limit).  10^5: the
/// filter is built in O(N_f^2) operations (4 10^10 at the limit, about a minute, and again at
/// every temperature change of a ramp), the per-atom cache takes 24 N_f bytes (2.4 MB per atom
/// at the limit), and the grid spacing f_max/N_f is then far below any physical linewidth
/// (1 GHz for f_max = 100 THz); larger values are typing mistakes, not physics.
constexpr int kQTBMaxNf = 100000;
/// Largest N_f with deconvolution: the broadening matrix is (N_f+1)^2 doubles (34 MB) and its
/// construction O(N_f^2 * quadrature).
constexpr int kQTBMaxNfDeconvolution = 2048;

/// Parameters of the bath; the member initialisers are THE defaults (those of LAMMPS's QTB
/// package), used by fix qtb and, through qfe_qtb_defaults(), by Python.
struct QTBParameters {
  double temperature = 300.0;        // target quantum temperature (K); start of a ramp
  double temperature_stop = 300.0;   // end of a ramp (K); = temperature: no ramp
  double damp = 1.0;                 // 1/gamma (time units)
  double f_max = 200.0;              // upper cutoff frequency (1/time units)
  int n_f = 100;                     // frequency grid size N_f (filter has 2 N_f taps)
  int64_t seed = 880302;             // in [1, 2^32-1]
  double dt = 0.001;                 // MD timestep (time units)
  int deconvolution = QTB_DECONV_NONE;   // QTBDeconvolution
  int zero = 0;                      // 1: remove the net bath force every step
};

/// Which parameter a validation failure concerns (adapters name it by their keyword).
enum QTBParameterId {
  QTB_PARAM_OK = 0,
  QTB_PARAM_TEMPERATURE,
  QTB_PARAM_TEMPERATURE_STOP,
  QTB_PARAM_DAMP,
  QTB_PARAM_F_MAX,
  QTB_PARAM_N_F,
  QTB_PARAM_SEED,
  QTB_PARAM_TIMESTEP,
  QTB_PARAM_NYQUIST,    // f_max above the Nyquist frequency 1/(2 dt) of the timestep
  QTB_PARAM_DECONVOLUTION,
  QTB_PARAM_ZERO,
  QTB_PARAM_ADAPT_RATE,
  QTB_PARAM_ADAPT_SKIP,
  QTB_PARAM_ADAPT_MIN,
  QTB_PARAM_ADAPT_SCHEME,
  QTB_PARAM_FDT_EVERY,
  QTB_PARAM_COUNT
};

/// A failed check: the parameter, what it must satisfy (completes "<name> ..."), and the full
/// message in the kernel's own names, "QTB <name> <requirement> (got <value>)".
struct QTBProblem {
  int parameter = QTB_PARAM_OK;
  std::string requirement;
  std::string message;
};

/// The general requirement of a parameter ("must be > 0", ...), for adapters whose own parsing
/// of a value fails (not a number, not an integer) before the kernel can check it.
const char *qtb_requirement(int parameter);
/// The kernel's name of a parameter ("damp", "N_f", ...).
const char *qtb_parameter_name(int parameter);

/// Keyword values of `deconvolution` (no, yes, kinetic, potential) and `adapt_scheme`
/// (simple, normalised, normalized) -> codes; -1 for anything else.
int qtb_parse_deconvolution(const std::string &word);
int qtb_parse_adapt_scheme(const std::string &word);

/// Checks everything but the timestep (T, T_stop >= 0, damp > 0, f_max > 0, 1 <= N_f <=
/// kQTBMaxNf (kQTBMaxNfDeconvolution with deconvolution), seed in [1, 2^32-1], known
/// deconvolution, zero 0/1), in that order.  Returns QTB_PARAM_OK or the failing parameter,
/// described in `problem`.
int qtb_check_parameters(const QTBParameters &p, QTBProblem &problem);
/// dt > 0 and f_max <= 1/(2 dt) (QTB_PARAM_NYQUIST; alpha = int(1/(2 f_max dt)) >= 1).
int qtb_check_timestep(const QTBParameters &p, QTBProblem &problem);

/// Throws std::invalid_argument(problem.message) for the first failed check of both.
void qtb_validate(const QTBParameters &p);

/// noise interval multiple alpha = int(1/(2 f_max dt)) (>= 1 for valid parameters).
int qtb_alpha(double f_max, double dt);

/// Linear temperature ramp of fix qtb: temperature + (s - begin)/(end - begin) (stop -
/// temperature), s = step clamped to [begin, end]; the start value when there is no ramp or the
/// run is empty.
double qtb_ramp_temperature(double temperature, double temperature_stop, int64_t begin,
                            int64_t end, int64_t step);

/// `zero yes`: removal of the net bath force.  Sums (x, y, z, count) of float32 forces,
/// accumulated atom by atom in the caller's order (then reduced over ranks by the caller) ...
void qtb_net_force_add(const float f[3], double sum[4]);
/// ... and subtracted as a mean, rounded back to float32 (total[3] > 0).
void qtb_net_force_remove(const double total[4], float f[3]);

/// Energy tally of the bath for velocity Verlet: a force F(t) applied at step t does the work
/// F(t).v(t) dt over its two half kicks.  work: cumulative work on the atoms (energy); onestep:
/// the last step's sum F.v (energy/time).  The energy given to the bath at the current full
/// step is -(work - onestep dt/2) (half of the last transfer is still to come).
struct QTBEnergyTally {
  double work = 0.0;
  double onestep = 0.0;
  /// F.v of one atom (float32 force, double velocity)
  static double power(const float f[3], const double v[3]);
  static double power(const double f[3], const double v[3]);    // (constrained forces)
  /// first force of a fresh run: only its half kick at the next step counts so far
  void setup(double power_sum, double dt);
  /// end of a full step
  void step(double power_sum, double dt);
  /// energy given to the bath from (rank-summed) work and onestep
  static double energy_to_bath(double work_sum, double onestep_sum, double dt);
};

// ---------------------------------------------------------------- bath

class QTBBath {
 public:
  QTBBath(const QTBParameters &params, const QTBUnits &units);

  const QTBParameters &parameters() const { return params_; }
  const QTBUnits &units() const { return units_; }
  int alpha() const { return alpha_; }
  double noise_interval() const { return h_; }                  // h = alpha dt
  double cutoff_frequency() const { return 0.5 / h_; }          // effective f_max = 1/(2h)
  int ring_length() const { return 2 * params_.n_f; }           // L = 2 N_f normals per component
  int floats_per_atom() const { return 3 * ring_length(); }     // per-atom cache size (float32)
  double temperature() const { return params_.temperature; }
  const std::vector<double> &taps() const { return taps_; }     // H_j, j = 0..L-1 (sqrt energy)

  /// The positive half of the frequency grid, w_k = 2 pi k/(2 N_f h), k = 0..N_f (rad/time),
  /// the target theta(w_k, T) and the spectrum the filter realises on it (theta_d with
  /// deconvolution, else theta); energies.  residual: max relative error of the deconvolution
  /// on the grid (0 without).
  std::vector<double> angular_grid() const;
  const std::vector<double> &target_spectrum() const { return theta_; }
  const std::vector<double> &applied_spectrum() const { return theta_applied_; }
  double deconvolution_residual() const { return deconv_residual_; }

  /// Rebuild the filter for a new target temperature (no-op when unchanged).
  void set_temperature(double temperature);

  /// Temperature ramp: set the target of the noise interval that contains MD step `step` of a
  /// run from run_begin to run_end (qtb_ramp_temperature at the interval's first step, so the
  /// filter changes once per noise interval); without a ramp, the start temperature.
  void set_ramp_step(int64_t step, int64_t run_begin, int64_t run_end);
  double temperature_start() const { return t_start_; }
  double temperature_stop() const { return t_stop_; }

  /// Noise step index of MD step `step`: floor(step / alpha).
  int64_t noise_index(int64_t step) const;

  /// Mark a per-atom cache as invalid; the next update() regenerates it.
  static void invalidate(float *ring);
  static bool is_valid(const float *ring);

  /// Bring one atom's cache from noise index `cached` to `target`: draws only the missing
  /// normals when 0 < target - cached <= L, regenerates everything when the cache is invalid
  /// or the gap is larger or negative.  Returns the number of normals (per component) drawn.
  int update(float *ring, int64_t tag, int64_t cached, int64_t target) const;

  /// Bath force on one atom at noise index n (cache must be up to date):
  /// out[c] = float( sqrt(2 m gamma/(mvv2e h))/ftm2v * sum_j H_j R_{n-j,c} - m gamma v[c]/ftm2v ).
  /// The result is rounded to float32 so that it can be stored and reapplied exactly.
  void force(const float *ring, int64_t n, double mass, const double v[3], float out[3]) const
  {
    force(ring, n, mass, v, out, -1, nullptr);
  }

  /// Random part only (no friction), in force units, not rounded.  slot >= 0 uses that
  /// slot's rescaled spectrum (adaptive QTB: one slot per atom type).
  void random_force(const float *ring, int64_t n, double mass, double out[3],
                    int slot = -1) const;

  /// Force with a slot's spectrum; random_out (if given) receives the random part (double).
  void force(const float *ring, int64_t n, double mass, const double v[3], float out[3],
             int slot, double *random_out) const;

  /// Spectrum slots: `count` extra filters whose power spectrum is the applied one times
  /// scale(w_k) >= 0, k = 0..N_f (adaptive QTB: gamma_r(w)/gamma per type).  Kept across
  /// temperature changes.
  void set_slots(int count);
  void set_slot_scale(int slot, const std::vector<double> &scale);
  int slots() const { return static_cast<int>(slot_scale_.size()); }
  double gamma() const { return gamma_; }

 private:
  void build_filter();
  void make_taps(const double *scale, std::vector<double> &taps,
                 std::vector<float> &wrapped) const;

  QTBParameters params_;    // params_.temperature: the current target
  QTBUnits units_;
  double t_start_ = 0.0, t_stop_ = 0.0;
  int alpha_ = 1;
  double h_ = 0.0;
  double gamma_ = 1.0;
  std::vector<double> taps_;         // H_j
  std::vector<float> taps_wrapped_;  // Q[m] = H[(L-1-m) mod L], m = 0..2L-2, padded
  std::vector<double> cos_table_;    // cos(pi m / N_f), m = 0..L-1
  std::vector<double> broadening_;   // (N_f+1)^2 matrix, only with deconvolution
  std::vector<double> theta_;        // theta(w_k, T), k = 0..N_f
  std::vector<double> theta_applied_;
  double deconv_residual_ = 0.0;
  std::vector<double> amplitude_;    // sqrt(applied spectrum) with the hold correction, L values
  std::vector<std::vector<double>> slot_scale_;
  std::vector<std::vector<double>> slot_taps_;
  std::vector<std::vector<float>> slot_taps_wrapped_;
};

// ---------------------------------------------------------------- adaptive QTB

/// Adaptive QTB (Mangaud et al., JCTC 15, 2863 (2019)).  Per atom type and grid frequency
/// w_k the random force spectrum is 2 m gamma_r(w_k) theta(w_k) (friction stays gamma), and
/// gamma_r is adapted until the fluctuation-dissipation deviation
///     Delta_FDT(w) = m gamma_r(w) C_vv(w) - Re C_vR(w)
/// vanishes (C: spectra per degree of freedom over segments of 2 N_f noise intervals).  For a
/// harmonic system Re C_vR = m gamma C_vv exactly, so gamma_r = gamma is the fixed point.
enum QTBAdaptScheme { QTB_ADAPT_SIMPLE = 0, QTB_ADAPT_NORMALISED = 1 };

/// Memory (segments) of the moving average of the spectra used by the normalised scheme:
/// C <- C + beta (C_segment - C), beta = max(1/n_measured, 1/kQTBAdaptMemory).
constexpr double kQTBAdaptMemory = 10.0;

struct QTBAdaptParameters {
  double rate = 0.1;        // dimensionless adaptation rate per segment
  int skip = 5;             // segments measured before the first adaptation
  double min_ratio = 0.01;  // gamma_r >= min_ratio * gamma
  double max_ratio = 0.0;   // gamma_r <= max_ratio * gamma (0: no upper bound)
  int scheme = QTB_ADAPT_NORMALISED;
  int k_max = -1;           // adapt (and count in the returned deviation) bins k <= k_max only
  int fdt_every = 10;       // FDT diagnostic written every fdt_every segments (adapters)
};

/// Checks the user-facing adaptive parameters (adapt_rate > 0, adapt_skip >= 0, adapt_min in
/// (0, 1], known scheme, fdt_every >= 1), in that order; as qtb_check_parameters.
int qtb_check_adapt(const QTBAdaptParameters &a, QTBProblem &problem);

/// Highest grid bin whose spectra are trusted for adaptation: with alpha > 1 the velocity is
/// averaged over each noise interval and frequencies above the cutoff alias into the upper half
/// of the grid, so only k <= N_f/2 is adapted there; with alpha = 1 all bins.
int qtb_adapt_k_max(int n_f, int alpha);

/// One atom's segment of L = 2 N_f noise intervals: velocities v[c*L + j] and random forces
/// r[c*L + j] (c = x, y, z; j = interval within the segment).  Adds sum_c |v_k|^2 to cvv[k] and
/// sum_c Re(v_k conj(r_k)) to cvr[k], k = 0..N_f, with v_k = sum_j v_j exp(-2 pi i k j/L).
/// (Divide by 3 L/h per atom to get spectral densities per degree of freedom.)
void qtb_segment_spectra(const float *v, const float *r, int n_f, double *cvv, double *cvr);

/// |D(w_k)|^2 = sin^2(w h/2)/(alpha sin(w dt/2))^2 at w_k = pi k/(N_f h): the power gain of
/// averaging the velocity over the alpha steps of a noise interval.  Dividing the segment C_vv
/// by it gives the spectrum of the step velocities, for which Re C_vR = m gamma C_vv holds
/// exactly in a harmonic system (Re C_vR needs no correction: the force is held over the same
/// steps).
double qtb_interval_average_gain(int k, int n_f, int alpha);

/// Delta_FDT(w_k) = mvv2e m gamma_r C_vv - Re C_vR (energy) into delta, then (rate > 0) one
/// adaptation step: simple      gamma_r -= rate * gamma * Delta/theta(w_k),
///                  normalised  gamma_r -= rate * gamma * Delta/(mvv2e m gamma_r C_vv),
/// clamped to [min_ratio, max_ratio] * gamma.  C_vv (velocity^2 time), C_vR (energy) are the
/// spectral densities per degree of freedom (averaged over segments for the normalised
/// scheme).  Returns sum |Delta| / sum mvv2e m gamma_r C_vv (before the step); both the step
/// and the sums stop at p.k_max (if >= 0).
double qtb_adapt_gamma(std::vector<double> &gamma_r, const std::vector<double> &cvv,
                       const std::vector<double> &cvr, double mass, double gamma,
                       const std::vector<double> &theta, const QTBAdaptParameters &p,
                       const QTBUnits &units, std::vector<double> &delta);

/// Adaptive QTB / FDT diagnostic state per atom type t and grid bin k (index t (N_f+1) + k):
/// gamma_r (1/time), spectral densities per degree of freedom summed over the measured segments,
/// their moving averages (normalised scheme) and those of the last segment.
struct QTBAdaptState {
  std::vector<double> gamma_r, cvv_sum, cvr_sum, cvv_ema, cvr_ema, cvv_last, cvr_last;
  int64_t nseg_measured = 0;
  double fdt_scalar = 0.0;    // sum |Delta_FDT| / sum m gamma_r C_vv (diagnostic spectra, all types)
  /// all types at gamma_r = gamma, nothing measured
  void reset(int ntypes, int n_f, double gamma);
};

/// The spectra the FDT diagnostic is evaluated on, at index t (N_f+1) + k: with adaptation the
/// moving average (the spectra of the current gamma_r; a whole-history mean would mix in noise
/// of gamma_r long gone), otherwise the mean over all measured segments.  Needs nseg_measured > 0.
double qtb_diagnostic_cvv(const QTBAdaptState &state, bool adaptive, size_t i);
double qtb_diagnostic_cvr(const QTBAdaptState &state, bool adaptive, size_t i);

/// One completed segment, after the adapter's exact (rank-independent) sums over its atoms:
/// count[t] atoms of type t contributed, sums[t 2m + k] and sums[t 2m + m + k] (m = N_f + 1)
/// are their summed qtb_segment_spectra C_vv and Re C_vR.  Normalises them to spectral densities
/// per degree of freedom (interval-average gain removed from C_vv), adds them to the sums and
/// moving averages, evaluates Delta_FDT on the diagnostic spectra (state.fdt_scalar) and, when
/// `adaptive` and more than adapt.skip segments are measured, adapts gamma_r (simple: last
/// segment, normalised: moving average).  Returns true when gamma_r changed (set the slot
/// scales again).  Types with count 0 are left alone; call only when some count is > 0.
bool qtb_finish_segment(const QTBBath &bath, const QTBAdaptParameters &adapt, bool adaptive,
                        int ntypes, const double *type_masses, const int64_t *count,
                        const double *sums, QTBAdaptState &state);

}    // namespace qfe

#endif
