/* ----------------------------------------------------------------------
   qfe: fix qtb, quantum thermal bath (LAMMPS plugin style).

   Syntax and defaults follow LAMMPS's QTB package:
     fix ID group qtb [temp T | temp Tstart Tstop] [damp D] [seed S] [f_max F] [N_f N]
                      [zero yes|no] [deconvolution no|yes|kinetic|potential]
   The physics lives in qtb_noise.{h,cpp}; this file adapts it to LAMMPS.

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

#include "qtb_noise.h"

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

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

using namespace LAMMPS_NS;
using namespace FixConst;

namespace {
constexpr double kRestartVersion = 1.0;
constexpr int kRestartGlobalSize = 9;
constexpr int kRestartPeratomValues = 3;
}    // namespace

/* ---------------------------------------------------------------------- */

FixQTB::FixQTB(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), bath_dt(0.0), state(nullptr), nmax_state(0), ring_index(-1), force_step(-1),
    work_local(0.0), onestep_local(0.0), work_restart(0.0), onestep_restart(0.0)
{
  // LAMMPS QTB package defaults
  t_start = t_stop = 300.0;
  damp = 1.0;
  seed = 880302;
  f_max = 200.0;
  n_f = 100;
  zero_flag = 0;
  deconvolution = qfe::QTB_DECONV_NONE;

  int iarg = 3;
  auto need_value = [&](const char *keyword) {
    if (iarg + 1 >= narg)
      error->all(FLERR, "Fix qtb: missing value after keyword '{}'", keyword);
  };
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (key == "temp") {
      need_value("temp");
      t_start = t_stop = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
      if (iarg < narg && utils::is_double(arg[iarg])) {
        t_stop = utils::numeric(FLERR, arg[iarg], false, lmp);
        iarg += 1;
      }
      if (!(t_start >= 0.0) || !std::isfinite(t_start))
        error->all(FLERR, "Fix qtb temp must be >= 0 (got {})", t_start);
      if (!(t_stop >= 0.0) || !std::isfinite(t_stop))
        error->all(FLERR, "Fix qtb temp (ramp end) must be >= 0 (got {})", t_stop);
    } else if (key == "damp") {
      need_value("damp");
      damp = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(damp > 0.0) || !std::isfinite(damp))
        error->all(FLERR, "Fix qtb damp must be > 0 (got {})", damp);
      iarg += 2;
    } else if (key == "seed") {
      need_value("seed");
      if (!utils::is_integer(arg[iarg + 1]))
        error->all(FLERR, "Fix qtb seed must be a positive integer (got '{}')", arg[iarg + 1]);
      seed = utils::bnumeric(FLERR, arg[iarg + 1], false, lmp);
      if (seed < 1 || seed > 4294967295LL)
        error->all(FLERR, "Fix qtb seed must be a positive integer <= 4294967295 (got {})",
                   seed);
      iarg += 2;
    } else if (key == "f_max") {
      need_value("f_max");
      f_max = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(f_max > 0.0) || !std::isfinite(f_max))
        error->all(FLERR, "Fix qtb f_max must be > 0 (got {})", f_max);
      iarg += 2;
    } else if (key == "N_f") {
      need_value("N_f");
      if (!utils::is_integer(arg[iarg + 1]))
        error->all(FLERR, "Fix qtb N_f must be a positive integer (got '{}')", arg[iarg + 1]);
      n_f = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (n_f < 1) error->all(FLERR, "Fix qtb N_f must be a positive integer (got {})", n_f);
      if (n_f > qfe::kQTBMaxNf)
        error->all(FLERR, "Fix qtb N_f = {} is unreasonably large (at most {})", n_f,
                   qfe::kQTBMaxNf);
      iarg += 2;
    } else if (key == "zero") {
      need_value("zero");
      zero_flag = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "deconvolution") {
      need_value("deconvolution");
      const std::string value = arg[iarg + 1];
      if (value == "no")
        deconvolution = qfe::QTB_DECONV_NONE;
      else if (value == "yes" || value == "kinetic")
        deconvolution = qfe::QTB_DECONV_KINETIC;
      else if (value == "potential")
        deconvolution = qfe::QTB_DECONV_POTENTIAL;
      else
        error->all(FLERR, "Fix qtb deconvolution must be no, yes, kinetic or potential (got '{}')",
                   value);
      iarg += 2;
    } else {
      error->all(FLERR,
                 "Fix qtb: unknown keyword '{}' (expected temp, damp, seed, f_max, N_f, zero or "
                 "deconvolution)",
                 key);
    }
  }
  if (deconvolution != qfe::QTB_DECONV_NONE && n_f > qfe::kQTBMaxNfDeconvolution)
    error->all(FLERR, "Fix qtb deconvolution supports N_f <= {} (got N_f = {})",
               qfe::kQTBMaxNfDeconvolution, n_f);

  if (atom->rmass_flag)
    error->all(FLERR, "Fix qtb requires per-type masses: atom style {} has per-atom masses "
                      "(rmass), which fix qtb does not support", atom->atom_style);
  if (!atom->tag_enable)
    error->all(FLERR, "Fix qtb requires atom IDs (atom_modify id yes)");

  scalar_flag = 1;
  vector_flag = 1;
  size_vector = 6;
  global_freq = 1;
  extscalar = 1;
  extvector = -1;
  extlist = new int[size_vector]{1, 0, 0, 0, 0, 0};
  ecouple_flag = 1;
  nevery = 1;
  restart_global = 1;
  restart_peratom = 1;
  create_attribute = 1;

  ring_floats = 6 * n_f;
  row_floats = ring_floats + 3;
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
  qfe::QTBParameters p;
  p.temperature = t_start;
  p.damp = damp;
  p.f_max = f_max;
  p.n_f = n_f;
  p.seed = seed;
  p.dt = update->dt;
  p.deconvolution = deconvolution;
  qfe::QTBUnits u{force->boltz, force->hplanck, force->mvv2e, force->ftm2v};
  try {
    bath = std::make_unique<qfe::QTBBath>(p, u);
  } catch (const std::invalid_argument &e) {
    // the kernel validates everything; f_max vs dt is the one check that needs the timestep
    error->all(FLERR, "Fix qtb: {}", e.what());
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

  const double dt = update->dt;
  if (0.5 / dt < f_max * (1.0 - 1e-12))
    error->all(FLERR,
               "Fix qtb f_max = {} is above the Nyquist frequency 1/(2*dt) = {} of timestep {}",
               f_max, 0.5 / dt, dt);
  rebuild_bath();
  check_overlapping_fixes();

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "Fix qtb {}: noise refreshed every {} steps (h = {}), effective cutoff "
                   "frequency 1/(2h) = {}, {} filter taps, {} bytes per atom\n",
                   id, bath->alpha(), bath->noise_interval(), bath->cutoff_frequency(),
                   2 * n_f, row_floats * sizeof(float));
  if (comm->me == 0 && deconvolution != qfe::QTB_DECONV_NONE)
    utils::logmesg(lmp, "Fix qtb {}: {} spectrum deconvolved for friction gamma = {}, largest "
                   "relative residual on the grid {:.3g}\n", id,
                   deconvolution == qfe::QTB_DECONV_KINETIC ? "kinetic-energy" : "potential-energy",
                   1.0 / damp, bath->deconvolution_residual());
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

double FixQTB::target_temperature(bigint step) const
{
  if (t_stop == t_start) return t_start;
  const bigint span = update->endstep - update->beginstep;
  if (span <= 0) return t_start;
  bigint s = step;
  if (s < update->beginstep) s = update->beginstep;
  if (s > update->endstep) s = update->endstep;
  const double delta = static_cast<double>(s - update->beginstep) / static_cast<double>(span);
  return t_start + delta * (t_stop - t_start);
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
  // a ramp changes the filter once per noise interval, at the interval's first step
  bath->set_temperature(target_temperature(n * bath->alpha()));

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

  for (int i = 0; i < nlocal; i++) {
    float *row = state[i];
    if (!(mask[i] & groupbit)) {
      set_arrays(i);    // outside the group: nothing cached, nothing stored
      continue;
    }
    float *fb = row + ring_floats;
    if (!(reuse && !std::isnan(fb[0]))) {
      bath->update(row, tag[i], ring_index, n);
      bath->force(row, n, mass[type[i]], v[i], fb);
    }
  }
  // rings that were not brought to n (reuse) stay at their index; regenerated on demand
  // (normals are counter-based: drawing an index twice gives the same number, so a ring that
  // is older than ring_index claims is impossible, and one that is newer is merely redrawn)
  if (!reuse) ring_index = n;

  if (zero_flag && !reuse) {
    double sum[4] = {0.0, 0.0, 0.0, 0.0}, all[4];
    for (int i = 0; i < nlocal; i++)
      if (mask[i] & groupbit) {
        const float *fb = state[i] + ring_floats;
        sum[0] += fb[0];
        sum[1] += fb[1];
        sum[2] += fb[2];
        sum[3] += 1.0;
      }
    MPI_Allreduce(sum, all, 4, MPI_DOUBLE, MPI_SUM, world);
    if (all[3] > 0.0)
      for (int i = 0; i < nlocal; i++)
        if (mask[i] & groupbit) {
          float *fb = state[i] + ring_floats;
          for (int c = 0; c < 3; c++) fb[c] = static_cast<float>(fb[c] - all[c] / all[3]);
        }
  }

  double onestep = 0.0;
  for (int i = 0; i < nlocal; i++)
    if (mask[i] & groupbit) {
      const float *fb = state[i] + ring_floats;
      f[i][0] += fb[0];
      f[i][1] += fb[1];
      f[i][2] += fb[2];
      onestep += fb[0] * v[i][0] + fb[1] * v[i][1] + fb[2] * v[i][2];
    }

  if (setup_call && !reuse) {
    // first force of a fresh run: its work is its half kick at the next step
    onestep_local = onestep;
    work_local += 0.5 * onestep * update->dt;
  }
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
    if (mask[i] & groupbit) {
      const float *fb = state[i] + ring_floats;
      onestep += fb[0] * v[i][0] + fb[1] * v[i][1] + fb[2] * v[i][2];
    }
  onestep_local = onestep;
  work_local += onestep * update->dt;
}

/* ----------------------------------------------------------------------
   energy given to the bath so far (ecouple): minus the work done on the atoms,
   at the current full step (half of the last step's transfer is still to come)
------------------------------------------------------------------------- */

double FixQTB::compute_scalar()
{
  double local[2] = {work_local, onestep_local}, all[2];
  MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_SUM, world);
  const double dt = update->dt;
  return -(all[0] - 0.5 * all[1] * dt);
}

double FixQTB::compute_vector(int index)
{
  switch (index) {
    case 0:
      return compute_scalar();
    case 1:
      if (bath) return bath->cutoff_frequency();
      return 0.5 / (qfe::qtb_alpha(f_max, update->dt) * update->dt);
    case 2:
      return bath ? bath->temperature() : t_start;
    case 3:
      return bath ? bath->alpha() : qfe::qtb_alpha(f_max, update->dt);
    case 4:
      return static_cast<double>(row_floats * sizeof(float));
    case 5:
      return bath ? bath->deconvolution_residual() : 0.0;
    default:
      return 0.0;
  }
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
  double bytes = static_cast<double>(atom->nmax) * row_floats * sizeof(float);
  bytes += static_cast<double>(2 * n_f) * (sizeof(double) * 2 + sizeof(float) * 2);
  return bytes;
}

/* ----------------------------------------------------------------------
   per-atom arrays
------------------------------------------------------------------------- */

void FixQTB::grow_arrays(int nmax)
{
  memory->grow(state, nmax, row_floats, "qtb:state");
  for (int i = nmax_state; i < nmax; i++) set_arrays(i);    // fresh rows hold nothing
  nmax_state = nmax;
}

void FixQTB::copy_arrays(int i, int j, int /*delflag*/)
{
  std::memcpy(state[j], state[i], sizeof(float) * row_floats);
}

void FixQTB::set_arrays(int i)
{
  // a new atom: nothing cached, no stored force
  qfe::QTBBath::invalidate(state[i]);
  for (int c = 0; c < 3; c++) state[i][ring_floats + c] = std::nanf("");
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
  double local[2] = {work_local, onestep_local}, all[2];
  MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_SUM, world);
  if (comm->me == 0) {
    double list[kRestartGlobalSize] = {kRestartVersion,
                                       all[0],
                                       all[1],
                                       static_cast<double>(force_step),
                                       static_cast<double>(seed),
                                       static_cast<double>(n_f),
                                       damp,
                                       f_max,
                                       t_stop};
    int size = kRestartGlobalSize * sizeof(double);
    fwrite(&size, sizeof(int), 1, fp);
    fwrite(list, sizeof(double), kRestartGlobalSize, fp);
  }
}

void FixQTB::restart(char *buf)
{
  auto *list = reinterpret_cast<double *>(buf);
  if (list[0] != kRestartVersion)
    error->all(FLERR, "Fix qtb: restart data of version {} cannot be read (expected {})",
               list[0], kRestartVersion);
  // the cumulative tally lives on rank 0 after a restart
  work_local = (comm->me == 0) ? list[1] : 0.0;
  onestep_local = (comm->me == 0) ? list[2] : 0.0;
  force_step = static_cast<bigint>(list[3]);
  ring_index = -1;
}

int FixQTB::pack_restart(int i, double *buf)
{
  buf[0] = kRestartPeratomValues + 1;
  for (int c = 0; c < 3; c++) buf[1 + c] = state[i][ring_floats + c];
  return kRestartPeratomValues + 1;
}

void FixQTB::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  int m = 0;
  for (int k = 0; k < nth; k++) m += static_cast<int>(extra[nlocal][m]);
  m++;
  qfe::QTBBath::invalidate(state[nlocal]);
  for (int c = 0; c < 3; c++) state[nlocal][ring_floats + c] = static_cast<float>(extra[nlocal][m++]);
}

int FixQTB::size_restart(int /*nlocal*/)
{
  return kRestartPeratomValues + 1;
}

int FixQTB::maxsize_restart()
{
  return kRestartPeratomValues + 1;
}
