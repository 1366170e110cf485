/* qfe QTB noise kernel (see qtb_noise.h). */

#include "qtb_noise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace qfe {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Philox4x32 constants (Salmon et al., SC11; Random123).
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;    // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;    // sqrt(3) - 1

// Second key word: a fixed domain tag so that qfe's QTB streams differ from other uses of
// Philox with the same seed.  ASCII "QTB1".
constexpr uint32_t kQTBStream = 0x51544231u;

inline void mulhilo32(uint32_t a, uint32_t b, uint32_t &hi, uint32_t &lo)
{
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// uniform in the open interval (0, 1) from 32 random bits
inline double uniform_open(uint32_t x)
{
  return (static_cast<double>(x) + 0.5) * (1.0 / 4294967296.0);
}

template <typename T> std::string str(const T &value)
{
  std::ostringstream os;
  os.precision(10);
  os << value;
  return os.str();
}

inline int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

inline int64_t floor_mod(int64_t a, int64_t b)
{
  int64_t r = a % b;
  if (r < 0) r += b;
  return r;
}

}    // namespace

// ---------------------------------------------------------------- Philox4x32-10

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kPhiloxM0, c0, hi0, lo0);
    mulhilo32(kPhiloxM1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void qtb_normals(uint32_t seed, int64_t tag, int64_t noise_index, double out[3])
{
  const uint64_t n = static_cast<uint64_t>(noise_index);
  const uint64_t t = static_cast<uint64_t>(tag);
  const uint32_t counter[4] = {static_cast<uint32_t>(n), static_cast<uint32_t>(n >> 32),
                               static_cast<uint32_t>(t), static_cast<uint32_t>(t >> 32)};
  const uint32_t key[2] = {seed, kQTBStream};
  uint32_t bits[4];
  philox4x32_10(counter, key, bits);
  // Box-Muller on two pairs of 32-bit uniforms; lane c -> Cartesian component c.
  const double r0 = std::sqrt(-2.0 * std::log(uniform_open(bits[0])));
  const double a0 = 2.0 * kPi * uniform_open(bits[1]);
  const double r1 = std::sqrt(-2.0 * std::log(uniform_open(bits[2])));
  const double a1 = 2.0 * kPi * uniform_open(bits[3]);
  out[0] = r0 * std::cos(a0);
  out[1] = r0 * std::sin(a0);
  out[2] = r1 * std::cos(a1);
}

// ---------------------------------------------------------------- units and spectra

QTBUnits qtb_units_lammps_metal()
{
  // the values LAMMPS's Force::init / update.cpp set for `units metal`
  QTBUnits u;
  u.boltz = 8.617343e-5;
  u.hplanck = 4.135667403e-3;
  u.mvv2e = 1.0364269e-4;
  u.ftm2v = 1.0 / 1.0364269e-4;
  return u;
}

double qtb_theta(double frequency, double temperature, const QTBUnits &units)
{
  const double kT = units.boltz * temperature;
  const double e = units.hplanck * std::fabs(frequency);
  if (e == 0.0) return kT;
  if (kT <= 0.0) return 0.5 * e;
  const double x = e / kT;
  if (x > 700.0) return 0.5 * e;
  return e * (0.5 + 1.0 / std::expm1(x));
}

int qtb_alpha(double f_max, double dt)
{
  // tolerate round-off when f_max is exactly the Nyquist frequency of dt
  const double ratio = 1.0 / (2.0 * f_max * dt);
  return static_cast<int>(std::floor(ratio * (1.0 + 1e-12)));
}

namespace {

const char *const kParameterNames[QTB_PARAM_COUNT] = {
    "", "temperature", "temperature (ramp end)", "damp", "f_max", "N_f", "seed", "timestep",
    "f_max", "deconvolution", "zero", "adapt_rate", "adapt_skip", "adapt_min", "adapt_scheme",
    "fdt_every"};

const char *const kRequirements[QTB_PARAM_COUNT] = {
    "",
    "must be >= 0",
    "must be >= 0",
    "must be > 0",
    "must be > 0",
    "must be a positive integer",
    "must be an integer in [1, 4294967295]",
    "must be > 0",
    "must be at most the Nyquist frequency 1/(2 dt)",
    "must be no, yes, kinetic or potential",
    "must be yes or no",
    "must be > 0",
    "must be an integer >= 0",
    "must be in (0, 1]",
    "must be simple or normalised",
    "must be a positive integer"};

template <typename T>
int problem_of(int parameter, const std::string &requirement, const T &value,
               QTBProblem &problem)
{
  problem.parameter = parameter;
  problem.requirement = requirement;
  problem.message = std::string("QTB ") + kParameterNames[parameter] + " " + requirement +
      " (got " + str(value) + ")";
  return parameter;
}

template <typename T> int problem_of(int parameter, const T &value, QTBProblem &problem)
{
  return problem_of(parameter, kRequirements[parameter], value, problem);
}

inline bool non_negative(double x)
{
  return x >= 0.0 && std::isfinite(x);
}

inline bool positive(double x)
{
  return x > 0.0 && std::isfinite(x);
}

}    // namespace

const char *qtb_requirement(int parameter)
{
  if (parameter <= QTB_PARAM_OK || parameter >= QTB_PARAM_COUNT) return "";
  return kRequirements[parameter];
}

const char *qtb_parameter_name(int parameter)
{
  if (parameter <= QTB_PARAM_OK || parameter >= QTB_PARAM_COUNT) return "";
  return kParameterNames[parameter];
}

int qtb_parse_deconvolution(const std::string &word)
{
  if (word == "no") return QTB_DECONV_NONE;
  if (word == "yes" || word == "kinetic") return QTB_DECONV_KINETIC;
  if (word == "potential") return QTB_DECONV_POTENTIAL;
  return -1;
}

int qtb_parse_adapt_scheme(const std::string &word)
{
  if (word == "simple") return QTB_ADAPT_SIMPLE;
  if (word == "normalised" || word == "normalized") return QTB_ADAPT_NORMALISED;
  return -1;
}

int qtb_check_parameters(const QTBParameters &p, QTBProblem &problem)
{
  problem = QTBProblem();
  if (!non_negative(p.temperature))
    return problem_of(QTB_PARAM_TEMPERATURE, p.temperature, problem);
  if (!non_negative(p.temperature_stop))
    return problem_of(QTB_PARAM_TEMPERATURE_STOP, p.temperature_stop, problem);
  if (!positive(p.damp)) return problem_of(QTB_PARAM_DAMP, p.damp, problem);
  if (!positive(p.f_max)) return problem_of(QTB_PARAM_F_MAX, p.f_max, problem);
  if (p.n_f < 1) return problem_of(QTB_PARAM_N_F, p.n_f, problem);
  if (p.n_f > kQTBMaxNf)
    return problem_of(QTB_PARAM_N_F, "must be <= " + str(kQTBMaxNf), p.n_f, problem);
  if (p.deconvolution != QTB_DECONV_NONE && p.deconvolution != QTB_DECONV_KINETIC &&
      p.deconvolution != QTB_DECONV_POTENTIAL)
    return problem_of(QTB_PARAM_DECONVOLUTION, p.deconvolution, problem);
  if (p.deconvolution != QTB_DECONV_NONE && p.n_f > kQTBMaxNfDeconvolution)
    return problem_of(QTB_PARAM_N_F,
                      "must be <= " + str(kQTBMaxNfDeconvolution) + " with deconvolution",
                      p.n_f, problem);
  if (p.seed < 1 || p.seed > 4294967295LL) return problem_of(QTB_PARAM_SEED, p.seed, problem);
  if (p.zero != 0 && p.zero != 1) return problem_of(QTB_PARAM_ZERO, p.zero, problem);
  return QTB_PARAM_OK;
}

int qtb_check_timestep(const QTBParameters &p, QTBProblem &problem)
{
  problem = QTBProblem();
  if (!positive(p.dt)) return problem_of(QTB_PARAM_TIMESTEP, p.dt, problem);
  if (positive(p.f_max) && qtb_alpha(p.f_max, p.dt) < 1) {
    problem.parameter = QTB_PARAM_NYQUIST;
    problem.requirement = kRequirements[QTB_PARAM_NYQUIST];
    problem.message = "QTB f_max = " + str(p.f_max) +
        " is above the Nyquist frequency 1/(2 dt) = " + str(0.5 / p.dt) +
        " of timestep dt = " + str(p.dt);
    return QTB_PARAM_NYQUIST;
  }
  return QTB_PARAM_OK;
}

int qtb_check_adapt(const QTBAdaptParameters &a, QTBProblem &problem)
{
  problem = QTBProblem();
  if (!positive(a.rate)) return problem_of(QTB_PARAM_ADAPT_RATE, a.rate, problem);
  if (a.skip < 0) return problem_of(QTB_PARAM_ADAPT_SKIP, a.skip, problem);
  if (!(a.min_ratio > 0.0 && a.min_ratio <= 1.0))
    return problem_of(QTB_PARAM_ADAPT_MIN, a.min_ratio, problem);
  if (a.scheme != QTB_ADAPT_SIMPLE && a.scheme != QTB_ADAPT_NORMALISED)
    return problem_of(QTB_PARAM_ADAPT_SCHEME, a.scheme, problem);
  if (a.fdt_every < 1) return problem_of(QTB_PARAM_FDT_EVERY, a.fdt_every, problem);
  return QTB_PARAM_OK;
}

void qtb_validate(const QTBParameters &p)
{
  QTBProblem problem;
  if (qtb_check_parameters(p, problem) != QTB_PARAM_OK ||
      qtb_check_timestep(p, problem) != QTB_PARAM_OK)
    throw std::invalid_argument(problem.message);
}

double qtb_ramp_temperature(double temperature, double temperature_stop, int64_t begin,
                            int64_t end, int64_t step)
{
  if (temperature_stop == temperature) return temperature;
  const int64_t span = end - begin;
  if (span <= 0) return temperature;
  int64_t s = step;
  if (s < begin) s = begin;
  if (s > end) s = end;
  const double delta = static_cast<double>(s - begin) / static_cast<double>(span);
  return temperature + delta * (temperature_stop - temperature);
}

void qtb_net_force_add(const float f[3], double sum[4])
{
  sum[0] += f[0];
  sum[1] += f[1];
  sum[2] += f[2];
  sum[3] += 1.0;
}

void qtb_net_force_remove(const double total[4], float f[3])
{
  for (int c = 0; c < 3; c++) f[c] = static_cast<float>(f[c] - total[c] / total[3]);
}

double QTBEnergyTally::power(const float f[3], const double v[3])
{
  return f[0] * v[0] + f[1] * v[1] + f[2] * v[2];
}

double QTBEnergyTally::power(const double f[3], const double v[3])
{
  return f[0] * v[0] + f[1] * v[1] + f[2] * v[2];
}

void QTBEnergyTally::setup(double power_sum, double dt)
{
  onestep = power_sum;
  work += 0.5 * power_sum * dt;
}

void QTBEnergyTally::step(double power_sum, double dt)
{
  onestep = power_sum;
  work += power_sum * dt;
}

double QTBEnergyTally::energy_to_bath(double work_sum, double onestep_sum, double dt)
{
  return -(work_sum - 0.5 * onestep_sum * dt);
}

// ---------------------------------------------------------------- deconvolution

std::vector<double> qtb_broadening_matrix(int n, double dw, double gamma, int kind, int alpha,
                                          double dt)
{
  if (n < 1 || !(dw > 0.0) || !(gamma > 0.0) || alpha < 1 || (alpha > 1 && !(dt > 0.0)) ||
      (kind != QTB_DECONV_KINETIC && kind != QTB_DECONV_POTENTIAL))
    throw std::invalid_argument("qtb_broadening_matrix: bad arguments");
  static const double gx[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                               0.8611363115940526};
  static const double gw[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                               0.3478548451374538};
  const int m = n + 1;
  const double wc = n * dw;    // cutoff 2 pi/(2h)
  // image bands up to half the Nyquist frequency of dt: there velocity Verlet still responds
  // like the continuous-time oscillator (closer to pi/dt it does not)
  const int bands = std::max(1, std::min(alpha / 2, kQTBImageBands + 1));
  std::vector<double> b(static_cast<size_t>(m) * m, 0.0);
  const double g2 = gamma * gamma;
  for (int i = 0; i < m; ++i) {
    const double wi = i * dw;
    const double wi2 = wi * wi;
    double *row = b.data() + static_cast<size_t>(i) * m;
    // band 0 is the grid itself; band k > 0 the k-th image of the held force: frequencies
    // w' in [k wc, (k+1) wc] carry the spectrum of the base frequency (mirrored for odd k)
    // times sin^2(w_base dt/2)/sin^2(w' dt/2)
    for (int band = 0; band < bands; ++band) {
      for (int j = 0; j < n; ++j) {
        const double lo = band * wc + j * dw;    // cell of w' (before mirroring)
        const double ua = std::atan(2.0 * (lo - wi) / gamma);
        const double ub = std::atan(2.0 * (lo + dw - wi) / gamma);
        const int sub = (band == 0 && (j == i || j + 1 == i)) ? 8 : 4;
        const double du = (ub - ua) / sub;
        double left = 0.0, right = 0.0;
        for (int s = 0; s < sub; ++s) {
          const double c = ua + (s + 0.5) * du;
          for (int q = 0; q < 4; ++q) {
            const double u = c + 0.5 * du * gx[q];
            const double t = std::tan(u);
            const double w = wi + 0.5 * gamma * t;
            const double w2 = w * w;
            const double d = w2 - wi2;
            const double num = (kind == QTB_DECONV_KINETIC) ? w2 : wi2;
            double val = (2.0 / kPi) * gamma * num / (d * d + g2 * w2) * 0.5 * gamma *
                (1.0 + t * t) * 0.5 * du * gw[q];
            double x = (w - lo) / dw;    // position in the cell, 0..1
            if (band > 0) {
              const double wb = (band % 2) ? (band + 1) * wc - w : w - band * wc;
              const double sb = std::sin(0.5 * wb * dt), sw = std::sin(0.5 * w * dt);
              val *= (sb * sb) / (sw * sw);
              if (band % 2) x = 1.0 - x;
            }
            left += val * (1.0 - x);
            right += val * x;
          }
        }
        const int jl = (band % 2) ? n - 1 - j : j;    // base cell [jl, jl+1]
        row[jl] += left;
        row[jl + 1] += right;
      }
    }
  }
  return b;
}

double qtb_deconvolve(const std::vector<double> &matrix, const std::vector<double> &theta,
                      std::vector<double> &theta_d, int max_iter, double tol)
{
  const size_t m = theta.size();
  if (matrix.size() != m * m) throw std::invalid_argument("qtb_deconvolve: size mismatch");
  std::vector<char> active(m, 0);
  for (size_t i = 0; i < m; ++i) {
    double sum = 0.0;
    for (size_t j = 0; j < m; ++j) sum += matrix[i * m + j];
    active[i] = (sum > 1e-12 && theta[i] > 0.0) ? 1 : 0;
  }
  theta_d = theta;
  std::vector<double> conv(m);
  double residual = 0.0;
  for (int it = 0; it <= max_iter; ++it) {
    residual = 0.0;
    for (size_t i = 0; i < m; ++i) {
      double sum = 0.0;
      const double *row = matrix.data() + i * m;
      for (size_t j = 0; j < m; ++j) sum += row[j] * theta_d[j];
      conv[i] = sum;
      if (active[i]) residual = std::max(residual, std::fabs(sum / theta[i] - 1.0));
    }
    if (residual <= tol || it == max_iter) break;
    for (size_t i = 0; i < m; ++i)
      if (active[i] && conv[i] > 0.0) theta_d[i] *= theta[i] / conv[i];
  }
  return residual;
}

// ---------------------------------------------------------------- bath

QTBBath::QTBBath(const QTBParameters &params, const QTBUnits &units) :
    params_(params), units_(units)
{
  qtb_validate(params_);
  t_start_ = params_.temperature;
  t_stop_ = params_.temperature_stop;
  if (!(units.boltz > 0.0 && units.hplanck > 0.0 && units.mvv2e > 0.0 && units.ftm2v > 0.0))
    throw std::invalid_argument("QTB unit constants must all be > 0");
  alpha_ = qtb_alpha(params_.f_max, params_.dt);
  h_ = alpha_ * params_.dt;
  gamma_ = 1.0 / params_.damp;
  const int L = ring_length();
  const int nf = params_.n_f;
  cos_table_.resize(L);
  for (int m = 0; m < L; ++m) cos_table_[m] = std::cos(kPi * m / nf);
  if (params_.deconvolution != QTB_DECONV_NONE)
    broadening_ = qtb_broadening_matrix(nf, kPi / (nf * h_), gamma_, params_.deconvolution,
                                       alpha_, params_.dt);
  build_filter();
}

void QTBBath::set_ramp_step(int64_t step, int64_t run_begin, int64_t run_end)
{
  set_temperature(qtb_ramp_temperature(t_start_, t_stop_, run_begin, run_end,
                                       noise_index(step) * alpha_));
}

void QTBBath::set_temperature(double temperature)
{
  if (temperature == params_.temperature) return;
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    throw std::invalid_argument("QTB temperature must be >= 0 (got " + str(temperature) + ")");
  params_.temperature = temperature;
  build_filter();
}

std::vector<double> QTBBath::angular_grid() const
{
  std::vector<double> w(params_.n_f + 1);
  for (int k = 0; k <= params_.n_f; ++k) w[k] = kPi * k / (params_.n_f * h_);
  return w;
}

void QTBBath::build_filter()
{
  const int nf = params_.n_f;
  const int L = 2 * nf;
  // target theta on the positive grid; deconvolved so that the friction-broadened response of
  // each grid oscillator returns theta (kinetic or potential energy)
  theta_.resize(nf + 1);
  for (int k = 0; k <= nf; ++k) theta_[k] = qtb_theta(k / (L * h_), params_.temperature, units_);
  if (params_.deconvolution != QTB_DECONV_NONE)
    deconv_residual_ = qtb_deconvolve(broadening_, theta_, theta_applied_);
  else
    theta_applied_ = theta_;
  // amplitude sqrt(theta) on the grid f_k = (k - N_f)/(2 N_f h), with the zero-order-hold
  // correction alpha sin(pi f dt)/sin(pi f h) for a force held over alpha MD steps
  amplitude_.assign(L, 0.0);
  for (int k = 0; k < L; ++k) {
    const int kk = k - nf;
    double a = std::sqrt(theta_applied_[kk < 0 ? -kk : kk]);
    if (kk != 0 && alpha_ > 1)
      a *= alpha_ * std::sin(kPi * kk / (2.0 * alpha_ * nf)) / std::sin(kPi * kk / (2.0 * nf));
    amplitude_[k] = a;
  }
  make_taps(nullptr, taps_, taps_wrapped_);
  for (size_t slot = 0; slot < slot_scale_.size(); ++slot)
    make_taps(slot_scale_[slot].data(), slot_taps_[slot], slot_taps_wrapped_[slot]);
}

void QTBBath::make_taps(const double *scale, std::vector<double> &taps,
                        std::vector<float> &wrapped) const
{
  const int nf = params_.n_f;
  const int L = 2 * nf;
  // H_j = (1/L) sum_k A_k cos(2 pi f_k (j - N_f) h) = (1/L) sum_k A_k cos(pi (k-N_f)(j-N_f)/N_f)
  // (A_k times sqrt(scale_|k-N_f|) for a rescaled spectrum)
  std::vector<double> amplitude(amplitude_);
  if (scale)
    for (int k = 0; k < L; ++k) amplitude[k] *= std::sqrt(scale[k < nf ? nf - k : k - nf]);
  taps.assign(L, 0.0);
  for (int j = 0; j < L; ++j) {
    double sum = 0.0;
    for (int k = 0; k < L; ++k) {
      const int64_t m = floor_mod(static_cast<int64_t>(k - nf) * (j - nf), L);
      sum += amplitude[k] * cos_table_[m];
    }
    taps[j] = sum / L;
  }
  // Q[m] = H[(L-1-m) mod L] so that sum_j H_j R_{n-j} = sum_i ring[i] Q[s+i], s = L-1-(n mod L)
  wrapped.assign(2 * L + 8, 0.0f);
  for (int m = 0; m < 2 * L - 1; ++m)
    wrapped[m] = static_cast<float>(taps[floor_mod(L - 1 - m, L)]);
}

void QTBBath::set_slots(int count)
{
  if (count < 0) throw std::invalid_argument("QTB: number of spectrum slots must be >= 0");
  const size_t m = params_.n_f + 1;
  slot_scale_.assign(count, std::vector<double>(m, 1.0));
  slot_taps_.assign(count, taps_);
  slot_taps_wrapped_.assign(count, taps_wrapped_);
}

void QTBBath::set_slot_scale(int slot, const std::vector<double> &scale)
{
  if (slot < 0 || slot >= static_cast<int>(slot_scale_.size()))
    throw std::invalid_argument("QTB: spectrum slot " + str(slot) + " does not exist");
  if (scale.size() != static_cast<size_t>(params_.n_f + 1))
    throw std::invalid_argument("QTB: spectrum scale must have N_f + 1 values");
  for (double x : scale)
    if (!(x >= 0.0) || !std::isfinite(x))
      throw std::invalid_argument("QTB: spectrum scale must be finite and >= 0 (got " + str(x) +
                                  ")");
  slot_scale_[slot] = scale;
  make_taps(scale.data(), slot_taps_[slot], slot_taps_wrapped_[slot]);
}

int64_t QTBBath::noise_index(int64_t step) const
{
  return floor_div(step, alpha_);
}

void QTBBath::invalidate(float *ring)
{
  ring[0] = std::numeric_limits<float>::quiet_NaN();
}

bool QTBBath::is_valid(const float *ring)
{
  return !std::isnan(ring[0]);
}

int QTBBath::update(float *ring, int64_t tag, int64_t cached, int64_t target) const
{
  const int L = ring_length();
  const uint32_t seed = static_cast<uint32_t>(params_.seed);
  int64_t first;
  if (!is_valid(ring) || target < cached || target - cached > L)
    first = target - L + 1;    // regenerate the whole window R_{target-L+1..target}
  else
    first = cached + 1;
  int drawn = 0;
  double z[3];
  for (int64_t m = first; m <= target; ++m) {
    qtb_normals(seed, tag, m, z);
    const int64_t slot = floor_mod(m, L);
    ring[slot] = static_cast<float>(z[0]);
    ring[L + slot] = static_cast<float>(z[1]);
    ring[2 * L + slot] = static_cast<float>(z[2]);
    ++drawn;
  }
  return drawn;
}

void QTBBath::random_force(const float *ring, int64_t n, double mass, double out[3],
                           int slot) const
{
  const int L = ring_length();
  const int64_t p = floor_mod(n, L);
  const float *q = (slot < 0 ? taps_wrapped_.data() : slot_taps_wrapped_[slot].data()) +
      (L - 1 - p);
  const double prefactor =
      std::sqrt(2.0 * mass * gamma_ / (units_.mvv2e * h_)) / units_.ftm2v;
  const int L8 = L - L % 8;
  for (int c = 0; c < 3; ++c) {
    const float *r = ring + c * L;
    // eight independent float32 partial sums in a fixed order: vectorizable and
    // deterministic (no reassociation by the compiler, no FMA contraction)
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int i = 0; i < L8; i += 8)
      for (int l = 0; l < 8; ++l) acc[l] += r[i + l] * q[i + l];
    for (int i = L8; i < L; ++i) acc[i - L8] += r[i] * q[i];
    const double sum = (static_cast<double>(acc[0]) + acc[1] + acc[2] + acc[3]) +
        (static_cast<double>(acc[4]) + acc[5] + acc[6] + acc[7]);
    out[c] = prefactor * sum;
  }
}

void QTBBath::force(const float *ring, int64_t n, double mass, const double v[3],
                    float out[3], int slot, double *random_out) const
{
  double fr[3];
  random_force(ring, n, mass, fr, slot);
  const double friction = mass * gamma_ / units_.ftm2v;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<float>(fr[c] - friction * v[c]);
  if (random_out)
    for (int c = 0; c < 3; ++c) random_out[c] = fr[c];
}

// ---------------------------------------------------------------- adaptive QTB

void qtb_segment_spectra(const float *v, const float *r, int n_f, double *cvv, double *cvr)
{
  const int L = 2 * n_f;
  // DFT x_k = sum_j x_j exp(-2 pi i k j/L), k = 0..N_f, with an exact table index (k j) mod L
  std::vector<double> c(L), sn(L);
  for (int m = 0; m < L; ++m) {
    c[m] = std::cos(kPi * m / n_f);
    sn[m] = std::sin(kPi * m / n_f);
  }
  for (int comp = 0; comp < 3; ++comp) {
    const float *vc = v + comp * L;
    const float *rc = r + comp * L;
    for (int k = 0; k <= n_f; ++k) {
      double vr = 0.0, vi = 0.0, rr = 0.0, ri = 0.0;
      int m = 0;
      for (int j = 0; j < L; ++j) {
        vr += vc[j] * c[m];
        vi -= vc[j] * sn[m];
        rr += rc[j] * c[m];
        ri -= rc[j] * sn[m];
        m += k;
        if (m >= L) m -= L;
      }
      cvv[k] += vr * vr + vi * vi;
      cvr[k] += vr * rr + vi * ri;
    }
  }
}

double qtb_interval_average_gain(int k, int n_f, int alpha)
{
  if (k == 0 || alpha <= 1) return 1.0;
  const double x = kPi * k / (2.0 * n_f);    // w h / 2
  const double a = std::sin(x) / (alpha * std::sin(x / alpha));
  return a * a;
}

int qtb_adapt_k_max(int n_f, int alpha)
{
  return alpha > 1 ? n_f / 2 : n_f;
}

double qtb_adapt_gamma(std::vector<double> &gamma_r, const std::vector<double> &cvv,
                       const std::vector<double> &cvr, double mass, double gamma,
                       const std::vector<double> &theta, const QTBAdaptParameters &p,
                       const QTBUnits &units, std::vector<double> &delta)
{
  const size_t m = gamma_r.size();
  if (cvv.size() != m || cvr.size() != m || theta.size() != m)
    throw std::invalid_argument("qtb_adapt_gamma: size mismatch");
  delta.assign(m, 0.0);
  const size_t top = (p.k_max >= 0 && static_cast<size_t>(p.k_max) < m) ? p.k_max + 1 : m;
  double num = 0.0, den = 0.0;
  for (size_t k = 0; k < m; ++k) {
    const double mg_cvv = units.mvv2e * mass * gamma_r[k] * cvv[k];    // energy
    delta[k] = mg_cvv - cvr[k];
    if (k < top) {
      num += std::fabs(delta[k]);
      den += mg_cvv;
    }
  }
  if (p.rate > 0.0) {
    const double floor = p.min_ratio * gamma;
    for (size_t k = 0; k < top; ++k) {
      double step;
      if (p.scheme == QTB_ADAPT_SIMPLE) {
        step = (theta[k] > 0.0) ? p.rate * gamma * delta[k] / theta[k] : 0.0;
      } else {
        const double mg_cvv = units.mvv2e * mass * gamma_r[k] * cvv[k];
        step = (mg_cvv > 0.0) ? p.rate * gamma * delta[k] / mg_cvv : 0.0;
      }
      gamma_r[k] = std::max(floor, gamma_r[k] - step);
      if (p.max_ratio > 0.0) gamma_r[k] = std::min(p.max_ratio * gamma, gamma_r[k]);
    }
  }
  return den > 0.0 ? num / den : 0.0;
}

double qtb_diagnostic_cvv(const QTBAdaptState &state, bool adaptive, size_t i)
{
  return adaptive ? state.cvv_ema[i] : state.cvv_sum[i] / static_cast<double>(state.nseg_measured);
}

double qtb_diagnostic_cvr(const QTBAdaptState &state, bool adaptive, size_t i)
{
  return adaptive ? state.cvr_ema[i] : state.cvr_sum[i] / static_cast<double>(state.nseg_measured);
}

void QTBAdaptState::reset(int ntypes, int n_f, double gamma)
{
  const size_t size = static_cast<size_t>(ntypes) * (n_f + 1);
  gamma_r.assign(size, gamma);
  for (auto *v : {&cvv_sum, &cvr_sum, &cvv_ema, &cvr_ema, &cvv_last, &cvr_last})
    v->assign(size, 0.0);
  nseg_measured = 0;
  fdt_scalar = 0.0;
}

bool qtb_finish_segment(const QTBBath &bath, const QTBAdaptParameters &adapt, bool adaptive,
                        int ntypes, const double *type_masses, const int64_t *count,
                        const double *sums, QTBAdaptState &state)
{
  const int n_f = bath.parameters().n_f;
  const int L = 2 * n_f;
  const int m = n_f + 1;
  const size_t size = static_cast<size_t>(ntypes) * m;
  for (auto *v : {&state.gamma_r, &state.cvv_sum, &state.cvr_sum, &state.cvv_ema,
                  &state.cvr_ema, &state.cvv_last, &state.cvr_last})
    if (v->size() != size) throw std::invalid_argument("qtb_finish_segment: size mismatch");
  // spectral densities per degree of freedom: (h/L) |x_k|^2 / (3 atoms)
  const double h = bath.noise_interval();
  state.nseg_measured++;
  const bool adapt_now = adaptive && state.nseg_measured > adapt.skip;
  std::vector<double> cvv(m), cvr(m), gr(m), delta;
  const std::vector<double> &theta = bath.target_spectrum();
  // moving average for the normalised scheme: spectra measured with a gamma_r long gone would
  // pin the fixed point to the past
  const double beta = std::max(1.0 / static_cast<double>(state.nseg_measured),
                               1.0 / kQTBAdaptMemory);
  QTBAdaptParameters step = adapt;
  step.k_max = qtb_adapt_k_max(n_f, bath.alpha());
  QTBAdaptParameters probe = step;
  probe.rate = 0.0;
  double num = 0.0, den = 0.0;
  for (int t = 0; t < ntypes; t++) {
    if (count[t] == 0) continue;
    const double norm = h / (static_cast<double>(L) * 3.0 * static_cast<double>(count[t]));
    const size_t o = static_cast<size_t>(t) * m;
    const double *s = sums + static_cast<size_t>(t) * 2 * m;
    for (int k = 0; k < m; k++) {
      state.cvv_last[o + k] = s[k] * norm / qtb_interval_average_gain(k, n_f, bath.alpha());
      state.cvr_last[o + k] = s[m + k] * norm;
      state.cvv_sum[o + k] += state.cvv_last[o + k];
      state.cvr_sum[o + k] += state.cvr_last[o + k];
      state.cvv_ema[o + k] += beta * (state.cvv_last[o + k] - state.cvv_ema[o + k]);
      state.cvr_ema[o + k] += beta * (state.cvr_last[o + k] - state.cvr_ema[o + k]);
    }
    const double mass = type_masses[t];
    for (int k = 0; k < m; k++) {
      gr[k] = state.gamma_r[o + k];
      cvv[k] = qtb_diagnostic_cvv(state, adaptive, o + k);
      cvr[k] = qtb_diagnostic_cvr(state, adaptive, o + k);
    }
    // diagnostic on the averaged spectra (no step)
    qtb_adapt_gamma(gr, cvv, cvr, mass, bath.gamma(), theta, probe, bath.units(), delta);
    for (int k = 0; k <= step.k_max; k++) {
      num += std::fabs(delta[k]);
      den += bath.units().mvv2e * mass * gr[k] * cvv[k];
    }
    if (adapt_now) {
      const bool simple = adapt.scheme == QTB_ADAPT_SIMPLE;
      for (int k = 0; k < m; k++) {
        cvv[k] = simple ? state.cvv_last[o + k] : state.cvv_ema[o + k];
        cvr[k] = simple ? state.cvr_last[o + k] : state.cvr_ema[o + k];
      }
      qtb_adapt_gamma(gr, cvv, cvr, mass, bath.gamma(), theta, step, bath.units(), delta);
      for (int k = 0; k < m; k++) state.gamma_r[o + k] = gr[k];
    }
  }
  state.fdt_scalar = den > 0.0 ? num / den : 0.0;
  return adapt_now;
}

}    // namespace qfe
