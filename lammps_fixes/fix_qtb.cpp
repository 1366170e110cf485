/* ----------------------------------------------------------------------
   qfe: fix qtb, quantum thermal bath (LAMMPS plugin style).

   Syntax and defaults follow LAMMPS's QTB package:
     fix ID group qtb [temp T | temp Tstart Tstop] [damp D] [seed S] [f_max F] [N_f N]
                      [zero yes|no] [deconvolution no|yes|kinetic|potential]
   The physics lives in qtb_noise.{h,cpp}, and so do the parameter defaults, limits and checks,
   the temperature ramp, `zero` and the energy tally (the ASE classes use the same code through
   the C API); this file adapts them to LAMMPS: keyword syntax, per-atom storage that migrates,
   MPI sums, restart and thermo output.

   Design notes
   - Noise step index n = floor(step/alpha) comes from the absolute timestep, the normals
     from a counter-based generator keyed by (seed, atom ID, n): a second `run` continues the
     noise and the force on an atom does not depend on the rank that owns it.
   - Per atom we keep one float32 row: the ring of the last 2 N_f normals of x, y, z (a cache,
     regenerated from the counters when missing) and the bath force applied at the last step
     (3 floats).  That is 4*(6 N_f + 3) bytes, half of the 8*(6 N_f + 3) of LAMMPS's fix qtb.
   - Exact restart: setup() at the step whose bath force is stored (continuation `run` or after
     read_restart) reapplies that stored force instead of recomputing the friction from the
     full-step velocity, so `run 2N` == `run N; run N` == `run N; write_restart; read_restart;
     run N`.  Only the 3 stored force components go into the restart file.
   - Energy tally: with velocity Verlet the work of a force applied at step t over its two half
     kicks is exactly F(t).v(t) dt, summed in end_of_step(); reported as the energy given to the
     bath (ecouple), half of the last step removed as fix langevin does.
------------------------------------------------------------------------- */

#include "fix_qtb.h"

#include "atom.h"
#include "comm.h"
#include "compute.h"
#include "error.h"
#include "force.h"
#include "group.h"
#include "memory.h"
#include "modify.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

using namespace LAMMPS_NS;
using namespace FixConst;

namespace {
constexpr double kRestartVersion = 2.0;
constexpr int kRestartGlobalSize = 9;
constexpr int kRestartAdaptiveHeader = 6;    // deconvolution, adaptive, ntypes, N_f+1, nseg, last
constexpr int32_t kNoSegment = INT32_MIN;
constexpr int kRestartPeratomValues = 3;
}    // namespace

/* ----------------------------------------------------------------------
   fix qtb keyword of a kernel parameter (qfe::QTBParameterId), for error messages
------------------------------------------------------------------------- */

static const char *keyword_of(int parameter)
{
  switch (parameter) {
    case qfe::QTB_PARAM_TEMPERATURE:
      return "temp";
    case qfe::QTB_PARAM_TEMPERATURE_STOP:
      return "temp (ramp end)";
    case qfe::QTB_PARAM_ADAPT_MIN:
      return "adapt_min (lower bound of gamma_r/gamma)";
    default:
      return qfe::qtb_parameter_name(parameter);    // damp, f_max, N_f, seed, ... as the keywords
  }
}

/* ---------------------------------------------------------------------- */

FixQTB::FixQTB(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), bath_dt(0.0), state(nullptr), nmax_state(0), bath_force(nullptr),
    ring_index(-1), force_step(-1)
{
  // defaults, limits and checks are the kernel's (qtb_noise.h); this parses the syntax only
  adaptive_flag = 0;
  fdt_fp = nullptr;
  last_segment = -1;

  int iarg = 3;
  auto need_value = [&](const char *keyword) {
    if (iarg + 1 >= narg)
      error->all(FLERR, "Fix qtb: missing value after keyword '{}'", keyword);
  };
  // an integer keyword value (parsing fails with the kernel's requirement for the parameter)
  auto integer = [&](const char *keyword, int parameter) -> int {
    if (!utils::is_integer(arg[iarg + 1]))
      error->all(FLERR, "Fix qtb {} {} (got '{}')", keyword, qfe::qtb_requirement(parameter),
                 arg[iarg + 1]);
    given[parameter] = arg[iarg + 1];
    const bigint value = utils::bnumeric(FLERR, arg[iarg + 1], false, lmp);
    return static_cast<int>(std::max<bigint>(INT_MIN, std::min<bigint>(INT_MAX, value)));
  };
  auto number = [&](int parameter, int offset) {
    given[parameter] = arg[iarg + offset];
    return utils::numeric(FLERR, arg[iarg + offset], false, lmp);
  };
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (key == "temp") {
      need_value("temp");
      params.temperature = params.temperature_stop = number(qfe::QTB_PARAM_TEMPERATURE, 1);
      given[qfe::QTB_PARAM_TEMPERATURE_STOP] = arg[iarg + 1];
      iarg += 2;
      if (iarg < narg && utils::is_double(arg[iarg])) {
        params.temperature_stop = number(qfe::QTB_PARAM_TEMPERATURE_STOP, 0);
        iarg += 1;
      }
    } else if (key == "damp") {
      need_value("damp");
      params.damp = number(qfe::QTB_PARAM_DAMP, 1);
      iarg += 2;
    } else if (key == "seed") {
      need_value("seed");
      if (!utils::is_integer(arg[iarg + 1]))
        error->all(FLERR, "Fix qtb seed {} (got '{}')", qfe::qtb_requirement(qfe::QTB_PARAM_SEED),
                   arg[iarg + 1]);
      given[qfe::QTB_PARAM_SEED] = arg[iarg + 1];
      params.seed = utils::bnumeric(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "f_max") {
      need_value("f_max");
      params.f_max = number(qfe::QTB_PARAM_F_MAX, 1);
      iarg += 2;
    } else if (key == "N_f") {
      need_value("N_f");
      params.n_f = integer("N_f", qfe::QTB_PARAM_N_F);
      iarg += 2;
    } else if (key == "zero") {
      need_value("zero");
      params.zero = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "deconvolution") {
      need_value("deconvolution");
      params.deconvolution = qfe::qtb_parse_deconvolution(arg[iarg + 1]);
      if (params.deconvolution < 0)
        error->all(FLERR, "Fix qtb deconvolution {} (got '{}')",
                   qfe::qtb_requirement(qfe::QTB_PARAM_DECONVOLUTION), arg[iarg + 1]);
      iarg += 2;
    } else if (key == "adaptive") {
      need_value("adaptive");
      adaptive_flag = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "adapt_rate") {
      need_value("adapt_rate");
      adapt.rate = number(qfe::QTB_PARAM_ADAPT_RATE, 1);
      iarg += 2;
    } else if (key == "adapt_skip") {
      need_value("adapt_skip");
      adapt.skip = integer("adapt_skip", qfe::QTB_PARAM_ADAPT_SKIP);
      iarg += 2;
    } else if (key == "adapt_min") {
      need_value("adapt_min");
      adapt.min_ratio = number(qfe::QTB_PARAM_ADAPT_MIN, 1);
      iarg += 2;
    } else if (key == "adapt_scheme") {
      need_value("adapt_scheme");
      adapt.scheme = qfe::qtb_parse_adapt_scheme(arg[iarg + 1]);
      if (adapt.scheme < 0)
        error->all(FLERR, "Fix qtb adapt_scheme {} (got '{}')",
                   qfe::qtb_requirement(qfe::QTB_PARAM_ADAPT_SCHEME), arg[iarg + 1]);
      iarg += 2;
    } else if (key == "fdt_file") {
      need_value("fdt_file");
      fdt_file = arg[iarg + 1];
      iarg += 2;
    } else if (key == "fdt_every") {
      need_value("fdt_every");
      adapt.fdt_every = integer("fdt_every", qfe::QTB_PARAM_FDT_EVERY);
      iarg += 2;
    } else {
      error->all(FLERR,
                 "Fix qtb: unknown keyword '{}' (expected temp, damp, seed, f_max, N_f, zero, "
                 "deconvolution, adaptive, adapt_rate, adapt_skip, adapt_min, adapt_scheme, "
                 "fdt_file or fdt_every)",
                 key);
    }
  }
  {
    qfe::QTBProblem problem;
    int bad = qfe::qtb_check_parameters(params, problem);
    if (bad == qfe::QTB_PARAM_OK) bad = qfe::qtb_check_adapt(adapt, problem);
    if (bad != qfe::QTB_PARAM_OK)
      error->all(FLERR, "Fix qtb {} {} (got {})", keyword_of(bad), problem.requirement,
                 given[bad]);
  }

  if (atom->rmass_flag)
    error->all(FLERR, "Fix qtb requires per-type masses: atom style {} has per-atom masses "
                      "(rmass), which fix qtb does not support", atom->atom_style);
  if (!atom->tag_enable)
    error->all(FLERR, "Fix qtb requires atom IDs (atom_modify id yes)");

  scalar_flag = 1;
  vector_flag = 1;
  size_vector = 7;
  global_freq = 1;
  extscalar = 1;
  extvector = -1;
  extlist = new int[size_vector]{1, 0, 0, 0, 0, 0, 0};
  ecouple_flag = 1;
  // per atom: the bath force applied at the current step (force units), so that a deck can
  // take the physical force f - f_ID (virial kinetic-energy estimator, docs/fix_qtb.md)
  peratom_flag = 1;
  size_peratom_cols = 3;
  peratom_freq = 1;
  nevery = 1;
  restart_global = 1;
  restart_peratom = 1;
  create_attribute = 1;

  spectra_flag = (adaptive_flag || !fdt_file.empty()) ? 1 : 0;
  ntypes_fix = atom->ntypes;
  astate.reset(ntypes_fix, params.n_f, 1.0 / params.damp);
  if (spectra_flag && !fdt_file.empty() && comm->me == 0) {
    fdt_fp = fopen(fdt_file.c_str(), "w");
    if (!fdt_fp)
      error->one(FLERR, "Fix qtb: cannot open fdt_file {}: {}", fdt_file, utils::getsyserror());
    fmt::print(fdt_fp, "# fix qtb {} FDT diagnostic (docs/fix_qtb.md): per segment block and atom "
               "type, averaged over the segments measured so far\n# columns: omega "
               "(rad/time) gamma_r (1/time) Delta_FDT (energy) C_vv (velocity^2*time) Re_C_vR "
               "(energy)\n", id);
    fflush(fdt_fp);
  }

  ring_floats = 6 * params.n_f;
  seg_floats = spectra_flag ? 12 * params.n_f + 2 : 0;
  row_floats = ring_floats + 3 + seg_floats;
  exchange_doubles = (row_floats + 1) / 2;
  maxexchange = exchange_doubles;

  grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
  atom->add_callback(Atom::RESTART);
}

/* ---------------------------------------------------------------------- */

FixQTB::~FixQTB()
{
  if (copymode) return;
  atom->delete_callback(id, Atom::GROW);
  atom->delete_callback(id, Atom::RESTART);
  memory->destroy(state);
  memory->destroy(bath_force);
  if (fdt_fp) fclose(fdt_fp);
}

/* ---------------------------------------------------------------------- */

int FixQTB::setmask()
{
  int mask = 0;
  mask |= POST_FORCE;
  mask |= END_OF_STEP;
  return mask;
}

/* ---------------------------------------------------------------------- */

void FixQTB::rebuild_bath()
{
  qfe::QTBParameters p = params;
  p.dt = update->dt;
  qfe::QTBUnits u{force->boltz, force->hplanck, force->mvv2e, force->ftm2v};
  try {
    bath = std::make_unique<qfe::QTBBath>(p, u);
  } catch (const std::invalid_argument &e) {
    // checked in the constructor and init(); a safety net
    error->all(FLERR, "Fix qtb: {}", e.what());
  }
  if (adaptive_flag) {
    bath->set_slots(ntypes_fix);
    apply_gamma_r();
  }
  if (bath_dt != update->dt) {
    // alpha (noise steps per MD step) may have changed: cached normals no longer line up
    ring_index = -1;
    for (int i = 0; i < atom->nlocal; i++) qfe::QTBBath::invalidate(state[i]);
  }
  bath_dt = update->dt;
}

void FixQTB::init()
{
  if (utils::strmatch(update->integrate_style, "^respa"))
    error->all(FLERR, "Fix qtb does not support run_style respa");
  if (atom->rmass_flag)
    error->all(FLERR, "Fix qtb requires per-type masses (atom style has per-atom masses)");
  if (!atom->mass) error->all(FLERR, "Fix qtb requires per-type masses");
  for (int t = 1; t <= atom->ntypes; t++)
    if (!atom->mass_setflag[t])
      error->all(FLERR, "Fix qtb: mass of atom type {} is not set", t);
    else if (!(atom->mass[t] > 0.0))
      error->all(FLERR, "Fix qtb: mass of atom type {} must be > 0 (got {})", t, atom->mass[t]);

  if (atom->ntypes != ntypes_fix)
    error->all(FLERR, "Fix qtb {}: the number of atom types changed from {} to {}", id,
               ntypes_fix, atom->ntypes);
  // the timestep may change between runs: the kernel checks f_max against it
  qfe::QTBParameters p = params;
  p.dt = update->dt;
  qfe::QTBProblem problem;
  const int bad = qfe::qtb_check_timestep(p, problem);
  if (bad == qfe::QTB_PARAM_NYQUIST)
    error->all(FLERR,
               "Fix qtb f_max = {} is above the Nyquist frequency 1/(2*dt) = {} of timestep {}",
               params.f_max, 0.5 / p.dt, p.dt);
  else if (bad != qfe::QTB_PARAM_OK)
    error->all(FLERR, "Fix qtb: {}", problem.message);
  rebuild_bath();
  check_overlapping_fixes();

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "Fix qtb {}: noise refreshed every {} steps (h = {}), effective cutoff "
                   "frequency 1/(2h) = {}, {} filter taps, {} bytes per atom\n",
                   id, bath->alpha(), bath->noise_interval(), bath->cutoff_frequency(),
                   2 * params.n_f, row_floats * sizeof(float));
  if (comm->me == 0 && params.deconvolution != qfe::QTB_DECONV_NONE)
    utils::logmesg(lmp, "Fix qtb {}: {} spectrum deconvolved for friction gamma = {}, largest "
                   "relative residual on the grid {:.3g}\n", id,
                   params.deconvolution == qfe::QTB_DECONV_KINETIC ? "kinetic-energy"
                                                                   : "potential-energy",
                   1.0 / params.damp, bath->deconvolution_residual());
}

/* ----------------------------------------------------------------------
   an atom must not be in the group of two qtb fixes
------------------------------------------------------------------------- */

void FixQTB::check_overlapping_fixes()
{
  for (Fix *other : modify->get_fix_by_style("^qtb$")) {
    if (other == this) continue;
    bigint first_tag = -1;
    for (int i = 0; i < atom->nlocal; i++)
      if ((atom->mask[i] & groupbit) && (atom->mask[i] & other->groupbit)) {
        first_tag = atom->tag[i];
        break;
      }
    bigint any = first_tag;
    MPI_Allreduce(&first_tag, &any, 1, MPI_LMP_BIGINT, MPI_MAX, world);
    if (any >= 0)
      error->all(FLERR,
                 "Fix qtb {} and fix qtb {} both act on atom ID {} (groups {} and {}); an atom "
                 "can be in at most one fix qtb",
                 id, other->id, any, group->names[igroup], group->names[other->igroup]);
  }
}

/* ---------------------------------------------------------------------- */

void FixQTB::setup(int /*vflag*/)
{
  apply_bath(true);
}

void FixQTB::post_force(int /*vflag*/)
{
  apply_bath(false);
}

/* ----------------------------------------------------------------------
   add the bath force (friction + colored noise) to the group's atoms
------------------------------------------------------------------------- */

void FixQTB::apply_bath(bool setup_call)
{
  const bigint step = update->ntimestep;
  const bigint n = bath->noise_index(step);
  // the kernel's ramp over the run: the filter changes once per noise interval
  bath->set_ramp_step(step, update->beginstep, update->endstep);

  double **v = atom->v;
  double **f = atom->f;
  const int *mask = atom->mask;
  const int *type = atom->type;
  const tagint *tag = atom->tag;
  const double *mass = atom->mass;
  const int nlocal = atom->nlocal;

  // continuation of a run or restart: the bath force of this very step was already applied
  // in the previous run; reapply it (recomputing the friction from the full-step velocity
  // would change the trajectory)
  const bool reuse = setup_call && (step == force_step);

  // a segment of 2 N_f noise intervals is complete when the first step of the next begins
  if (spectra_flag && !reuse && n >= 0) {
    const bigint segment = n / (2 * params.n_f);
    if (segment - 1 > last_segment) process_segment(segment - 1);
  }

  double random[3];
  for (int i = 0; i < nlocal; i++) {
    float *row = state[i];
    if (!(mask[i] & groupbit)) {
      set_arrays(i);    // outside the group: nothing cached, nothing stored
      continue;
    }
    float *fb = row + ring_floats;
    if (!(reuse && !std::isnan(fb[0]))) {
      bath->update(row, tag[i], ring_index, n);
      bath->force(row, n, mass[type[i]], v[i], fb, adaptive_flag ? type[i] - 1 : -1, random);
      if (spectra_flag) accumulate_segment(i, n, v[i], random);
    }
  }
  // rings that were not brought to n (reuse) stay at their index; regenerated on demand
  // (normals are counter-based: drawing an index twice gives the same number, so a ring that
  // is older than ring_index claims is impossible, and one that is newer is merely redrawn)
  if (!reuse) ring_index = n;

  if (params.zero && !reuse) {
    // the kernel's net-force removal, its sums reduced over ranks here
    double sum[4] = {0.0, 0.0, 0.0, 0.0}, all[4];
    for (int i = 0; i < nlocal; i++)
      if (mask[i] & groupbit) qfe::qtb_net_force_add(state[i] + ring_floats, sum);
    MPI_Allreduce(sum, all, 4, MPI_DOUBLE, MPI_SUM, world);
    if (all[3] > 0.0)
      for (int i = 0; i < nlocal; i++)
        if (mask[i] & groupbit) qfe::qtb_net_force_remove(all, state[i] + ring_floats);
  }

  double onestep = 0.0;
  for (int i = 0; i < nlocal; i++) {
    if (mask[i] & groupbit) {
      const float *fb = state[i] + ring_floats;
      for (int c = 0; c < 3; c++) {
        f[i][c] += fb[c];
        bath_force[i][c] = fb[c];
      }
      onestep += qfe::QTBEnergyTally::power(fb, v[i]);
    }    // atoms outside the group had bath_force zeroed by set_arrays() above
  }

  // first force of a fresh run: its work is its half kick at the next step
  if (setup_call && !reuse) tally.setup(onestep, update->dt);
  force_step = step;
}

/* ----------------------------------------------------------------------
   work of the bath: F(t).v(t) dt per step (exact for velocity Verlet)
------------------------------------------------------------------------- */

void FixQTB::end_of_step()
{
  double **v = atom->v;
  const int *mask = atom->mask;
  double onestep = 0.0;
  for (int i = 0; i < atom->nlocal; i++)
    if (mask[i] & groupbit) onestep += qfe::QTBEnergyTally::power(state[i] + ring_floats, v[i]);
  tally.step(onestep, update->dt);
  if (spectra_flag) accumulate_velocity();
}

/* ----------------------------------------------------------------------
   energy given to the bath so far (ecouple): minus the work done on the atoms,
   at the current full step (half of the last step's transfer is still to come)
------------------------------------------------------------------------- */

double FixQTB::compute_scalar()
{
  double local[2] = {tally.work, tally.onestep}, all[2];
  MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_SUM, world);
  return qfe::QTBEnergyTally::energy_to_bath(all[0], all[1], update->dt);
}

double FixQTB::compute_vector(int index)
{
  switch (index) {
    case 0:
      return compute_scalar();
    case 1:
      if (bath) return bath->cutoff_frequency();
      return 0.5 / (qfe::qtb_alpha(params.f_max, update->dt) * update->dt);
    case 2:
      return bath ? bath->temperature() : params.temperature;
    case 3:
      return bath ? bath->alpha() : qfe::qtb_alpha(params.f_max, update->dt);
    case 4:
      return static_cast<double>(row_floats * sizeof(float));
    case 5:
      return bath ? bath->deconvolution_residual() : 0.0;
    case 6:
      return astate.fdt_scalar;
    default:
      return 0.0;
  }
}

/* ----------------------------------------------------------------------
   adaptive QTB: per-atom segment buffers of the velocity seen by the bath (averaged over the
   alpha steps of each noise interval) and the random force
------------------------------------------------------------------------- */

void FixQTB::accumulate_segment(int i, bigint n, const double * /*v*/, const double *random)
{
  const int L = 2 * params.n_f;
  const bigint segment = n / L;
  const int j = static_cast<int>(n - segment * L);
  float *buf = state[i] + ring_floats + 3;
  int32_t meta[2];
  std::memcpy(meta, buf + 6 * L, sizeof(meta));
  if (meta[0] != static_cast<int32_t>(segment)) {
    meta[0] = static_cast<int32_t>(segment);
    if (j == 0 && n * bath->alpha() == update->ntimestep) {
      std::memset(buf, 0, sizeof(float) * 6 * L);
      meta[1] = 0;
    } else {
      meta[1] = -1;    // joined (or resumed) mid-segment: not counted for this segment
    }
    std::memcpy(buf + 6 * L, meta, sizeof(meta));
  }
  if (meta[1] >= 0)
    for (int c = 0; c < 3; c++) buf[3 * L + c * L + j] = static_cast<float>(random[c]);
}

/* velocity at the time the force acts: the full-step v(t) of velocity Verlet, averaged over
   the alpha steps of the noise interval (called from end_of_step) */

void FixQTB::accumulate_velocity()
{
  const int L = 2 * params.n_f;
  const bigint n = bath->noise_index(update->ntimestep);
  if (n < 0) return;
  const bigint segment = n / L;
  const int j = static_cast<int>(n - segment * L);
  const float w = 1.0f / static_cast<float>(bath->alpha());
  double **v = atom->v;
  for (int i = 0; i < atom->nlocal; i++) {
    if (!(atom->mask[i] & groupbit)) continue;
    float *buf = state[i] + ring_floats + 3;
    int32_t meta[2];
    std::memcpy(meta, buf + 6 * L, sizeof(meta));
    if (meta[0] != static_cast<int32_t>(segment) || meta[1] < 0) continue;
    for (int c = 0; c < 3; c++) buf[c * L + j] += static_cast<float>(v[i][c]) * w;
    meta[1]++;
    std::memcpy(buf + 6 * L, meta, sizeof(meta));
  }
}

void FixQTB::apply_gamma_r()
{
  const int m = params.n_f + 1;
  const double gamma = 1.0 / params.damp;
  std::vector<double> scale(m);
  for (int t = 0; t < ntypes_fix; t++) {
    for (int k = 0; k < m; k++)
      scale[k] = astate.gamma_r[static_cast<size_t>(t) * m + k] / gamma;
    bath->set_slot_scale(t, scale);
  }
}

/* ----------------------------------------------------------------------
   spectra of a completed segment, summed over atoms of each type in a rank-independent way
   (fixed-point integer sums), then the FDT deviation, adaptation and diagnostic
------------------------------------------------------------------------- */

void FixQTB::process_segment(bigint segment)
{
  const int L = 2 * params.n_f;
  const int m = params.n_f + 1;
  const int nt = ntypes_fix;
  const int complete = L * bath->alpha();
  const int *mask = atom->mask;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  last_segment = segment;

  // per-atom spectra (kept until the exact sum below)
  std::vector<int> who;
  for (int i = 0; i < nlocal; i++) {
    if (!(mask[i] & groupbit)) continue;
    int32_t meta[2];
    std::memcpy(meta, state[i] + ring_floats + 3 + 6 * L, sizeof(meta));
    if (meta[0] == static_cast<int32_t>(segment) && meta[1] == complete) who.push_back(i);
  }
  std::vector<double> spec(who.size() * 2 * m, 0.0);
  std::vector<double> local_max(2 * nt, 0.0);
  std::vector<bigint> count(nt, 0), count_all(nt, 0);
  for (size_t a = 0; a < who.size(); a++) {
    const int i = who[a];
    const float *buf = state[i] + ring_floats + 3;
    double *cvv = spec.data() + a * 2 * m;
    double *cvr = cvv + m;
    qfe::qtb_segment_spectra(buf, buf + 3 * L, params.n_f, cvv, cvr);
    const int t = type[i] - 1;
    count[t]++;
    for (int k = 0; k < m; k++) {
      local_max[2 * t] = std::max(local_max[2 * t], std::fabs(cvv[k]));
      local_max[2 * t + 1] = std::max(local_max[2 * t + 1], std::fabs(cvr[k]));
    }
  }
  std::vector<double> global_max(2 * nt, 0.0);
  MPI_Allreduce(local_max.data(), global_max.data(), 2 * nt, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(count.data(), count_all.data(), nt, MPI_LMP_BIGINT, MPI_SUM, world);
  bigint total = 0;
  for (int t = 0; t < nt; t++) total += count_all[t];
  if (total == 0) return;

  // exact, order-independent sums: each value as an integer multiple of 2^-e, |sum| < 2^62
  std::vector<double> unit(2 * nt, 0.0);
  for (int q = 0; q < 2 * nt; q++) {
    const bigint c = count_all[q / 2];
    if (c > 0 && global_max[q] > 0.0) {
      int e;
      std::frexp(global_max[q] * static_cast<double>(c), &e);
      unit[q] = std::ldexp(1.0, e - 61);
    }
  }
  std::vector<long long> isum(static_cast<size_t>(nt) * 2 * m, 0), iall(isum.size(), 0);
  for (size_t a = 0; a < who.size(); a++) {
    const int t = type[who[a]] - 1;
    const double *cvv = spec.data() + a * 2 * m;
    for (int k = 0; k < 2 * m; k++) {
      const double u = unit[2 * t + (k >= m ? 1 : 0)];
      if (u > 0.0) isum[static_cast<size_t>(t) * 2 * m + k] += std::llround(cvv[k] / u);
    }
  }
  MPI_Allreduce(isum.data(), iall.data(), static_cast<int>(isum.size()), MPI_LONG_LONG, MPI_SUM,
                world);

  // the kernel's bookkeeping: normalisation, averages, Delta_FDT, adaptation
  std::vector<double> sums(isum.size()), masses(nt);
  std::vector<int64_t> counts(count_all.begin(), count_all.end());
  for (int t = 0; t < nt; t++) {
    masses[t] = atom->mass[t + 1];
    for (int k = 0; k < 2 * m; k++)
      sums[static_cast<size_t>(t) * 2 * m + k] =
          iall[t * 2 * m + k] * unit[2 * t + (k >= m ? 1 : 0)];
  }
  const bool adapted = qfe::qtb_finish_segment(*bath, adapt, adaptive_flag, nt, masses.data(),
                                               counts.data(), sums.data(), astate);
  if (adapted) apply_gamma_r();
  if (fdt_fp && astate.nseg_measured % adapt.fdt_every == 0) write_fdt(segment);
}

void FixQTB::write_fdt(bigint segment)
{
  const int m = params.n_f + 1;
  const auto w = bath->angular_grid();
  for (int t = 0; t < ntypes_fix; t++) {
    const size_t o = static_cast<size_t>(t) * m;
    const double mass = atom->mass[t + 1];
    fmt::print(fdt_fp, "# segment {} step {} type {} segments_measured {} fdt_scalar {:.6g}\n",
               segment, update->ntimestep, t + 1, astate.nseg_measured, astate.fdt_scalar);
    for (int k = 0; k < m; k++) {
      const double cvv = qfe::qtb_diagnostic_cvv(astate, adaptive_flag, o + k);
      const double cvr = qfe::qtb_diagnostic_cvr(astate, adaptive_flag, o + k);
      const double delta = force->mvv2e * mass * astate.gamma_r[o + k] * cvv - cvr;
      fmt::print(fdt_fp, "{:.10g} {:.10g} {:.10g} {:.10g} {:.10g}\n", w[k],
                 astate.gamma_r[o + k], delta, cvv, cvr);
    }
    fmt::print(fdt_fp, "\n");
  }
  fflush(fdt_fp);
}

/* ----------------------------------------------------------------------
   fix_modify temp <compute-ID>: accepted for compatibility with LAMMPS's fix qtb decks
   (which accept it but do not use it); the compute must exist and compute a temperature
------------------------------------------------------------------------- */

int FixQTB::modify_param(int narg, char **arg)
{
  if (strcmp(arg[0], "temp") == 0) {
    if (narg < 2) error->all(FLERR, "Fix_modify {} temp: missing compute ID", id);
    Compute *temperature = modify->get_compute_by_id(arg[1]);
    if (!temperature)
      error->all(FLERR, "Fix_modify {} temp: compute ID {} does not exist", id, arg[1]);
    if (temperature->tempflag == 0)
      error->all(FLERR, "Fix_modify {} temp: compute {} does not compute a temperature", id,
                 arg[1]);
    return 2;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */

double FixQTB::memory_usage()
{
  double bytes =
      static_cast<double>(atom->nmax) * (row_floats * sizeof(float) + 3 * sizeof(double));
  bytes += static_cast<double>(2 * params.n_f) * (sizeof(double) * 2 + sizeof(float) * 2);
  return bytes;
}

/* ----------------------------------------------------------------------
   per-atom arrays
------------------------------------------------------------------------- */

void FixQTB::grow_arrays(int nmax)
{
  memory->grow(state, nmax, row_floats, "qtb:state");
  memory->grow(bath_force, nmax, 3, "qtb:bath_force");
  array_atom = bath_force;
  for (int i = nmax_state; i < nmax; i++) set_arrays(i);    // fresh rows hold nothing
  nmax_state = nmax;
}

void FixQTB::copy_arrays(int i, int j, int /*delflag*/)
{
  std::memcpy(state[j], state[i], sizeof(float) * row_floats);
  std::memcpy(bath_force[j], bath_force[i], sizeof(double) * 3);
}

void FixQTB::set_arrays(int i)
{
  // a new atom: nothing cached, no stored force
  qfe::QTBBath::invalidate(state[i]);
  for (int c = 0; c < 3; c++) {
    state[i][ring_floats + c] = std::nanf("");
    bath_force[i][c] = 0.0;
  }
  if (spectra_flag) {
    const int32_t meta[2] = {kNoSegment, -1};
    std::memcpy(state[i] + ring_floats + 3 + 12 * params.n_f, meta, sizeof(meta));
  }
}

int FixQTB::pack_exchange(int i, double *buf)
{
  buf[exchange_doubles - 1] = 0.0;
  std::memcpy(buf, state[i], sizeof(float) * row_floats);
  return exchange_doubles;
}

int FixQTB::unpack_exchange(int nlocal, double *buf)
{
  std::memcpy(state[nlocal], buf, sizeof(float) * row_floats);
  return exchange_doubles;
}

/* ----------------------------------------------------------------------
   restart: global tally and the step of the stored forces; per atom only the
   stored bath force (the normals are regenerated from the counters)
------------------------------------------------------------------------- */

void FixQTB::write_restart(FILE *fp)
{
  double local[2] = {tally.work, tally.onestep}, all[2];
  MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_SUM, world);
  if (comm->me == 0) {
    std::vector<double> list = {kRestartVersion,
                                all[0],
                                all[1],
                                static_cast<double>(force_step),
                                static_cast<double>(params.seed),
                                static_cast<double>(params.n_f),
                                params.damp,
                                params.f_max,
                                params.temperature_stop,
                                static_cast<double>(params.deconvolution),
                                static_cast<double>(adaptive_flag),
                                static_cast<double>(ntypes_fix),
                                static_cast<double>(params.n_f + 1),
                                static_cast<double>(astate.nseg_measured),
                                static_cast<double>(last_segment)};
    list.insert(list.end(), astate.gamma_r.begin(), astate.gamma_r.end());
    list.insert(list.end(), astate.cvv_sum.begin(), astate.cvv_sum.end());
    list.insert(list.end(), astate.cvr_sum.begin(), astate.cvr_sum.end());
    list.push_back(astate.fdt_scalar);
    list.insert(list.end(), astate.cvv_ema.begin(), astate.cvv_ema.end());
    list.insert(list.end(), astate.cvr_ema.begin(), astate.cvr_ema.end());
    int size = static_cast<int>(list.size() * sizeof(double));
    fwrite(&size, sizeof(int), 1, fp);
    fwrite(list.data(), sizeof(double), list.size(), fp);
  }
}

void FixQTB::restart(char *buf)
{
  auto *list = reinterpret_cast<double *>(buf);
  if (list[0] != kRestartVersion)
    error->all(FLERR, "Fix qtb: restart data of version {} cannot be read (expected {})",
               list[0], kRestartVersion);
  // the stored bath must be the one this fix line describes
  std::string differ;
  auto check = [&](const char *name, double stored, double now) {
    if (stored != now) differ += fmt::format(" {} (restart {}, fix line {})", name, stored, now);
  };
  check("seed", list[4], static_cast<double>(params.seed));
  check("N_f", list[5], params.n_f);
  check("damp", list[6], params.damp);
  check("f_max", list[7], params.f_max);
  check("deconvolution", list[kRestartGlobalSize], params.deconvolution);
  check("adaptive", list[kRestartGlobalSize + 1], adaptive_flag);
  check("atom types", list[kRestartGlobalSize + 2], ntypes_fix);
  if (!differ.empty())
    error->all(FLERR, "Fix qtb {}: the restart file was written with other parameters:{}", id,
               differ);
  // the cumulative tally lives on rank 0 after a restart
  tally.work = (comm->me == 0) ? list[1] : 0.0;
  tally.onestep = (comm->me == 0) ? list[2] : 0.0;
  force_step = static_cast<bigint>(list[3]);
  ring_index = -1;
  astate.nseg_measured = static_cast<bigint>(list[kRestartGlobalSize + 4]);
  last_segment = static_cast<bigint>(list[kRestartGlobalSize + 5]);
  const size_t n = astate.gamma_r.size();
  const double *p = list + kRestartGlobalSize + kRestartAdaptiveHeader;
  astate.gamma_r.assign(p, p + n);
  astate.cvv_sum.assign(p + n, p + 2 * n);
  astate.cvr_sum.assign(p + 2 * n, p + 3 * n);
  astate.fdt_scalar = p[3 * n];
  astate.cvv_ema.assign(p + 3 * n + 1, p + 4 * n + 1);
  astate.cvr_ema.assign(p + 4 * n + 1, p + 5 * n + 1);
  if (bath && adaptive_flag) apply_gamma_r();
}

int FixQTB::pack_restart(int i, double *buf)
{
  const int size = size_restart(i);
  buf[0] = size;
  for (int c = 0; c < 3; c++) buf[1 + c] = state[i][ring_floats + c];
  if (spectra_flag) {
    buf[size - 1] = 0.0;
    std::memcpy(buf + 1 + kRestartPeratomValues, state[i] + ring_floats + 3,
                sizeof(float) * seg_floats);
  }
  return size;
}

void FixQTB::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  int m = 0;
  for (int k = 0; k < nth; k++) m += static_cast<int>(extra[nlocal][m]);
  m++;
  qfe::QTBBath::invalidate(state[nlocal]);
  for (int c = 0; c < 3; c++)
    state[nlocal][ring_floats + c] = static_cast<float>(extra[nlocal][m + c]);
  if (spectra_flag)
    std::memcpy(state[nlocal] + ring_floats + 3, &extra[nlocal][m + kRestartPeratomValues],
                sizeof(float) * seg_floats);
}

int FixQTB::size_restart(int /*nlocal*/)
{
  return kRestartPeratomValues + 1 + (seg_floats + 1) / 2;
}

int FixQTB::maxsize_restart()
{
  return size_restart(0);
}
