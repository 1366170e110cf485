/* ----------------------------------------------------------------------
   qfe: fix nct_sample (see fix_nct_sample.h and docs/fix_nct_sample.md).

     fix ID all nct_sample T [mode train|sample] [every N] [checkpoint FILE] [output DIR]
                             [NCT option value] ...

   Control flow of one call into Python (collective()): rank 0 calls a function of
   qfe.nct.lammps_fix; while it runs, the other ranks wait in serve() for commands that rank
   0 broadcasts whenever Python asks for energies (evaluate_root(), through the C function
   qfe_nct_evaluate whose address Python holds): EVAL (a batch of configurations follows) or
   DONE.  After DONE every rank restores the MD state (if anything was evaluated) and
   receives rank 0's result: an error message, which becomes ERROR on all ranks, and the
   global vector.

   One evaluation (evaluate_one()) is the pattern of FixGCMC::energy_full: set positions by
   atom ID, pbc/exchange/borders/neighbor build, clear forces, pair (bond, ..., kspace)
   compute, reverse communication; no fix is called, so bath noise or restraints of other
   fixes never enter NCT energies.  Before the first evaluation of a call, positions, image
   flags, forces and the energy/virial accumulators are saved (by atom ID); afterwards they
   are put back bit for bit and ghosts/neighbor lists rebuilt.
------------------------------------------------------------------------- */

#include "fix_nct_sample.h"

#include "nct_python.h"

#include "angle.h"
#include "atom.h"
#include "bond.h"
#include "comm.h"
#include "dihedral.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "improper.h"
#include "kspace.h"
#include "modify.h"
#include "neighbor.h"
#include "pair.h"
#include "update.h"
#include "utils.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

using namespace LAMMPS_NS;
using namespace FixConst;

namespace {
enum { CMD_DONE = 0, CMD_EVAL = 1 };
const char *kModule = "qfe.nct.lammps_fix";
constexpr double kRestartVersion = 1.0;

// a fresh temporary file name (the file exists, empty); "" on failure
std::string temp_path()
{
  const char *dir = getenv("TMPDIR");
  std::string templ = std::string(dir && *dir ? dir : "/tmp") + "/qfe-nct-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd < 0) return "";
  close(fd);
  return std::string(buf.data());
}
}    // namespace

// called by Python (ctypes) on rank 0
extern "C" int qfe_nct_evaluate(void *fix, int nconf, const double *x, double *e, double *f,
                                double *w)
{
  return static_cast<FixNCTSample *>(fix)->evaluate_root(nconf, x, e, f, w);
}

/* ---------------------------------------------------------------------- */

FixNCTSample::FixNCTSample(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), temperature(0.0), mode(TRAIN), sample_every(1), built(false),
    natoms_built(0), trained_in_run(0), vec(kVectorSize, NAN), saved(false)
{
  if (narg < 4) error->all(FLERR, "Illegal fix nct_sample command: missing temperature");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Fix nct_sample requires units metal (got units {})", update->unit_style);
  if (igroup != 0) error->all(FLERR, "Fix nct_sample must be applied to group all");
  if (!atom->tag_enable) error->all(FLERR, "Fix nct_sample requires atom IDs");
  if (domain->dimension != 3) error->all(FLERR, "Fix nct_sample requires a 3d system");
  if (!domain->xperiodic || !domain->yperiodic || !domain->zperiodic)
    error->all(FLERR, "Fix nct_sample requires a fully periodic box (boundary p p p)");
  for (auto *other : modify->get_fix_by_style("^nct_sample$"))
    if (strcmp(other->id, id) != 0)
      error->all(FLERR, "Fix nct_sample: only one fix nct_sample is allowed (fix {} exists)",
                 other->id);
  temperature = utils::numeric(FLERR, arg[3], false, lmp);
  if (!std::isfinite(temperature) || temperature < 0)
    error->all(FLERR, "Fix nct_sample temperature must be >= 0 (got {})", arg[3]);

  int iarg = 4;
  while (iarg < narg) {
    std::string key = arg[iarg];
    if (iarg + 1 >= narg) error->all(FLERR, "Fix nct_sample: missing value after keyword '{}'", key);
    std::string value = arg[iarg + 1];
    if (key == "mode") {
      if (value == "train") mode = TRAIN;
      else if (value == "sample") mode = SAMPLE;
      else error->all(FLERR, "Fix nct_sample mode must be train or sample (got '{}')", value);
    } else if (key == "every") {
      if (!utils::is_integer(value.c_str()) || std::stoll(value) < 1)
        error->all(FLERR, "Fix nct_sample every must be a positive integer (got '{}')", value);
      sample_every = utils::inumeric(FLERR, value, false, lmp);
    } else if (key == "temperature") {
      error->all(FLERR, "Fix nct_sample: the temperature is the first argument, not a keyword");
    } else {
      options += key + " " + value + " ";
    }
    iarg += 2;
  }
  if (atom->natoms > 100000000)
    error->all(FLERR, "Fix nct_sample: {} atoms is too many for NCT", atom->natoms);

  restart_global = 1;
  vector_flag = 1;
  size_vector = kVectorSize;
  global_freq = 1;
  extvector = 0;
  nevery = 1;

  // Python (rank 0): import qfe and validate the options, as `qfe nct` does
  collective([&]() -> std::string {
    py = std::make_unique<qfe::NCTPython>(kModule);
    if (!py->ok())
      return "cannot run qfe's NCT engine in the Python that fix nct_sample found: " + py->error();
    return py->call("configure", "(sdss)", id, temperature, options.c_str(),
                    mode == TRAIN ? "train" : "sample");
  });
}

/* ---------------------------------------------------------------------- */

FixNCTSample::~FixNCTSample()
{
  if (py && py->ok()) py->call("destroy", "(s)", id);
}

/* ---------------------------------------------------------------------- */

int FixNCTSample::setmask()
{
  return END_OF_STEP;
}

/* ---------------------------------------------------------------------- */

int FixNCTSample::modify_param(int narg, char **arg)
{
  if (strcmp(arg[0], "mode") == 0) {
    if (narg < 2) error->all(FLERR, "Fix_modify nct_sample: missing value after 'mode'");
    if (strcmp(arg[1], "train") == 0) mode = TRAIN;
    else if (strcmp(arg[1], "sample") == 0) mode = SAMPLE;
    else error->all(FLERR, "Fix nct_sample mode must be train or sample (got '{}')", arg[1]);
    return 2;
  }
  if (strcmp(arg[0], "every") == 0) {
    if (narg < 2) error->all(FLERR, "Fix_modify nct_sample: missing value after 'every'");
    if (!utils::is_integer(arg[1]) || utils::inumeric(FLERR, arg[1], false, lmp) < 1)
      error->all(FLERR, "Fix nct_sample every must be a positive integer (got '{}')", arg[1]);
    sample_every = utils::inumeric(FLERR, arg[1], false, lmp);
    return 2;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::init()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Fix nct_sample requires units metal (got units {})", update->unit_style);
  if (domain->box_change)
    error->all(FLERR, "Fix nct_sample requires a fixed box (a fix changes the box)");
  if (!force->pair && !force->bond && !force->kspace)
    error->all(FLERR, "Fix nct_sample: no force field defined (pair_style ...)");
  if (built && atom->natoms != natoms_built)
    error->all(FLERR, "Fix nct_sample: the number of atoms changed from {} to {}", natoms_built,
               atom->natoms);
  if (atom->natoms * 3 > INT32_MAX) error->all(FLERR, "Fix nct_sample: too many atoms");
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::setup(int /*vflag*/)
{
  if (!built) build_system();
  trained_in_run = 0;
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::build_system()
{
  int n = (int) atom->natoms;
  natoms_built = n;
  x0.assign(3 * (size_t) n, 0.0);
  image0.assign(n, 0);
  gather_global(x0, &image0, atom->x);
  if (!restart_x0.empty()) {
    if (restart_x0.size() != x0.size())
      error->all(FLERR, "Fix nct_sample: the restart file holds an NCT state for {} atoms, this "
                 "system has {}", restart_x0.size() / 3, n);
    x0 = restart_x0;    // the reference of the restarted training, not the current positions
  }
  std::vector<double> mass(n, 0.0);
  for (int i = 0; i < atom->nlocal; i++)
    mass[atom->tag[i] - 1] = atom->rmass ? atom->rmass[i] : atom->mass[atom->type[i]];
  MPI_Allreduce(MPI_IN_PLACE, mass.data(), n, MPI_DOUBLE, MPI_SUM, world);
  std::vector<double> types(n, 0.0);
  for (int i = 0; i < atom->nlocal; i++) types[atom->tag[i] - 1] = atom->type[i];
  MPI_Allreduce(MPI_IN_PLACE, types.data(), n, MPI_DOUBLE, MPI_SUM, world);
  double cell[9] = {domain->xprd, 0.0, 0.0, domain->xy, domain->yprd, 0.0,
                    domain->xz, domain->yz, domain->zprd};
  collective([&]() -> std::string {
    std::string state_file;
    if (!restart_state.empty()) {
      state_file = temp_path();
      std::ofstream out(state_file, std::ios::binary);
      out.write(restart_state.data(), (std::streamsize) restart_state.size());
      if (!out) return "cannot write the restart state to a temporary file " + state_file;
    }
    std::string err =
        py->call("build", "(siKKKKKKs)", id, n, (unsigned long long) (uintptr_t) x0.data(),
                 (unsigned long long) (uintptr_t) mass.data(),
                 (unsigned long long) (uintptr_t) types.data(), (unsigned long long) (uintptr_t) cell,
                 (unsigned long long) (uintptr_t) &qfe_nct_evaluate,
                 (unsigned long long) (uintptr_t) this, state_file.c_str());
    if (!state_file.empty()) remove(state_file.c_str());
    if (err.empty())
      err = py->call("fill", "(sK)", id, (unsigned long long) (uintptr_t) vec.data());
    return err;
  });
  built = true;
  restart_state.clear();
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::end_of_step()
{
  if (mode == TRAIN) {
    collective([&]() -> std::string {
      return py->call("train_step", "(sK)", id, (unsigned long long) (uintptr_t) vec.data());
    });
    trained_in_run++;
    return;
  }
  if (update->ntimestep % sample_every) return;
  int n = natoms_built;
  xbuf.assign(3 * (size_t) n, 0.0);
  collective([&]() -> std::string {
    return py->call("sample", "(sKiK)", id, (unsigned long long) (uintptr_t) xbuf.data(), n,
                    (unsigned long long) (uintptr_t) vec.data());
  });
  MPI_Bcast(xbuf.data(), 3 * n, MPI_DOUBLE, 0, world);
  // positions <- the sample (image flags of the reference, so unwrapped coordinates are the
  // reference's plus the sampled displacement); forces, energy and virial of the sample
  set_positions(xbuf.data(), image0.data());
  reneighbor();
  compute_forces();
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::post_run()
{
  if (mode != TRAIN || trained_in_run == 0) return;
  collective([&]() -> std::string {
    return py->call("finish", "(sK)", id, (unsigned long long) (uintptr_t) vec.data());
  });
}

/* ----------------------------------------------------------------------
   restart: version, natoms, number of state bytes, the reference positions (3 natoms), then
   the NCT state as written by qfe.nct.trainer.save_checkpoint (an .npz archive of arrays and
   JSON text, read without pickle: a foreign restart file cannot run code)
------------------------------------------------------------------------- */

void FixNCTSample::write_restart(FILE *fp)
{
  std::vector<char> bytes;
  if (built) {
    std::string path;
    collective([&]() -> std::string {
      path = temp_path();
      if (path.empty()) return "cannot create a temporary file for the restart state";
      return py->call("save_state", "(ss)", id, path.c_str());
    });
    if (comm->me == 0) {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      remove(path.c_str());
    }
  }
  if (comm->me != 0) return;
  const size_t nx = built ? x0.size() : 0;
  double head[3] = {kRestartVersion, built ? (double) natoms_built : 0.0, (double) bytes.size()};
  size_t size = sizeof(head) + nx * sizeof(double) + bytes.size();
  if (size > (size_t) INT32_MAX) error->one(FLERR, "Fix nct_sample: NCT state too large for a restart file");
  int isize = (int) size;
  fwrite(&isize, sizeof(int), 1, fp);
  fwrite(head, sizeof(double), 3, fp);
  if (nx) fwrite(x0.data(), sizeof(double), nx, fp);
  if (!bytes.empty()) fwrite(bytes.data(), 1, bytes.size(), fp);
}

void FixNCTSample::restart(char *buf)
{
  double head[3];
  memcpy(head, buf, sizeof(head));
  if (head[0] != kRestartVersion)
    error->all(FLERR, "Fix nct_sample: restart data of version {}, this plugin reads version {}",
               head[0], kRestartVersion);
  const size_t n = (size_t) head[1], nbytes = (size_t) head[2];
  if (n == 0) return;    // written before the first run: nothing to continue
  if ((bigint) n != atom->natoms)
    error->all(FLERR, "Fix nct_sample: the restart file holds an NCT state for {} atoms, this "
               "system has {}", n, atom->natoms);
  restart_x0.resize(3 * n);
  memcpy(restart_x0.data(), buf + sizeof(head), 3 * n * sizeof(double));
  const char *state = buf + sizeof(head) + 3 * n * sizeof(double);
  restart_state.assign(state, state + nbytes);
}

/* ---------------------------------------------------------------------- */

double FixNCTSample::compute_vector(int i)
{
  return vec[i];
}

/* ----------------------------------------------------------------------
   run root_fn (a Python call) on rank 0 while the other ranks serve evaluations;
   then restore the MD state and turn an error on rank 0 into ERROR on all ranks
------------------------------------------------------------------------- */

template <typename Fn> void FixNCTSample::collective(Fn &&root_fn)
{
  std::string err;
  if (comm->me == 0) {
    try {
      err = root_fn();
    } catch (std::exception &e) {
      err = e.what();
    }
    int hdr[2] = {CMD_DONE, 0};
    MPI_Bcast(hdr, 2, MPI_INT, 0, world);
  } else {
    serve();
  }
  if (saved) restore_state();
  int len = (int) err.size();
  MPI_Bcast(&len, 1, MPI_INT, 0, world);
  err.resize(len);
  if (len) MPI_Bcast(&err[0], len, MPI_CHAR, 0, world);
  MPI_Bcast(vec.data(), kVectorSize, MPI_DOUBLE, 0, world);
  if (len) error->all(FLERR, "Fix nct_sample: {}", err);
}

void FixNCTSample::serve()
{
  while (true) {
    int hdr[2];
    MPI_Bcast(hdr, 2, MPI_INT, 0, world);
    if (hdr[0] == CMD_DONE) return;
    try {
      evaluate_all(hdr[1], nullptr, nullptr, nullptr, nullptr);
    } catch (std::exception &ex) {
      abort_evaluation(ex.what());
    }
  }
}

/* ----------------------------------------------------------------------
   a LAMMPS error inside an energy evaluation (e.g. error->one of a pair style) on one rank
   of several: the other ranks are blocked in the evaluation's communication (reverse_comm,
   the energy MPI_Allreduce) and cannot be told, so going on would mismatch collectives
   (hang or MPI failure); the only safe end is MPI_Abort, after a message naming the cause
------------------------------------------------------------------------- */

void FixNCTSample::abort_evaluation(const char *what)
{
  const auto mesg = fmt::format("ERROR on proc {}: Fix nct_sample: LAMMPS error inside an energy "
                                "evaluation on this rank; the other {} rank(s) cannot be told, "
                                "aborting the run. The error: {}\n",
                                comm->me, comm->nprocs - 1, utils::trim(what));
  fputs(mesg.c_str(), stderr);
  fflush(stderr);
  if (logfile) {
    fputs(mesg.c_str(), logfile);
    fflush(logfile);
  }
  MPI_Abort(world, 1);
  exit(1);
}

int FixNCTSample::evaluate_root(int nconf, const double *x, double *e, double *f, double *w)
{
  int hdr[2] = {CMD_EVAL, nconf};
  MPI_Bcast(hdr, 2, MPI_INT, 0, world);
  try {
    return evaluate_all(nconf, x, e, f, w);
  } catch (std::exception &ex) {
    if (comm->nprocs > 1) abort_evaluation(ex.what());
    eval_error = ex.what();
    return -1;
  }
}

/* ---------------------------------------------------------------------- */

int FixNCTSample::evaluate_all(int nconf, const double *x, double *e, double *f, double *w)
{
  const int n = natoms_built ? natoms_built : (int) atom->natoms;
  if (!saved) save_state();
  xbuf.resize(3 * (size_t) n);
  fbuf.resize(3 * (size_t) n);
  for (int c = 0; c < nconf; c++) {
    if (comm->me == 0) memcpy(xbuf.data(), x + 3 * (size_t) n * c, 3 * n * sizeof(double));
    MPI_Bcast(xbuf.data(), 3 * n, MPI_DOUBLE, 0, world);
    double energy, w6[6];
    set_positions(xbuf.data(), nullptr);
    evaluate_one(xbuf.data(), energy, fbuf.data(), w6);
    if (comm->me == 0) {
      e[c] = energy;
      memcpy(f + 3 * (size_t) n * c, fbuf.data(), 3 * n * sizeof(double));
      memcpy(w + 6 * (size_t) c, w6, 6 * sizeof(double));
    }
  }
  return 0;
}

void FixNCTSample::evaluate_one(const double * /*xg*/, double &energy, double *fg, double *w6)
{
  reneighbor();
  compute_forces();
  // energy and virial as compute pe / compute pressure sum them
  double one[7] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  auto add = [&](double eng, const double *vir) {
    one[0] += eng;
    for (int k = 0; k < 6; k++) one[1 + k] += vir[k];
  };
  if (force->pair) add(force->pair->eng_vdwl + force->pair->eng_coul, force->pair->virial);
  if (atom->molecular != Atom::ATOMIC) {
    if (force->bond) add(force->bond->energy, force->bond->virial);
    if (force->angle) add(force->angle->energy, force->angle->virial);
    if (force->dihedral) add(force->dihedral->energy, force->dihedral->virial);
    if (force->improper) add(force->improper->energy, force->improper->virial);
  }
  double all[7];
  MPI_Allreduce(one, all, 7, MPI_DOUBLE, MPI_SUM, world);
  if (force->kspace) {
    all[0] += force->kspace->energy;
    for (int k = 0; k < 6; k++) all[1 + k] += force->kspace->virial[k];
  }
  if (force->pair && force->pair->tail_flag) {
    double volume = domain->xprd * domain->yprd * domain->zprd;
    all[0] += force->pair->etail / volume;
    for (int k = 0; k < 3; k++) all[1 + k] += force->pair->ptail / volume;
  }
  energy = all[0];
  for (int k = 0; k < 6; k++) w6[k] = all[1 + k];
  const int n = natoms_built;
  std::vector<double> local(3 * (size_t) n, 0.0);
  for (int i = 0; i < atom->nlocal; i++)
    for (int k = 0; k < 3; k++) local[3 * (atom->tag[i] - 1) + k] = atom->f[i][k];
  MPI_Reduce(local.data(), fg, 3 * n, MPI_DOUBLE, MPI_SUM, 0, world);
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::set_positions(const double *xg, const imageint *img)
{
  for (int i = 0; i < atom->nlocal; i++) {
    tagint t = atom->tag[i] - 1;
    for (int k = 0; k < 3; k++) atom->x[i][k] = xg[3 * t + k];
    if (img) atom->image[i] = img[t];
  }
}

void FixNCTSample::reneighbor()
{
  if (domain->triclinic) domain->x2lamda(atom->nlocal);
  domain->pbc();
  comm->exchange();
  comm->borders();
  if (domain->triclinic) domain->lamda2x(atom->nlocal + atom->nghost);
  neighbor->build(1);
}

void FixNCTSample::compute_forces()
{
  size_t nall = atom->nlocal + (force->newton ? atom->nghost : 0);
  if (nall) memset(&atom->f[0][0], 0, 3 * nall * sizeof(double));
  const int eflag = ENERGY_GLOBAL;
  const int vflag = force->newton_pair ? VIRIAL_FDOTR : VIRIAL_PAIR;
  if (force->pair) force->pair->compute(eflag, vflag);
  if (atom->molecular != Atom::ATOMIC) {
    if (force->bond) force->bond->compute(eflag, VIRIAL_PAIR);
    if (force->angle) force->angle->compute(eflag, VIRIAL_PAIR);
    if (force->dihedral) force->dihedral->compute(eflag, VIRIAL_PAIR);
    if (force->improper) force->improper->compute(eflag, VIRIAL_PAIR);
  }
  if (force->kspace) force->kspace->compute(eflag, VIRIAL_PAIR);
  if (force->newton) comm->reverse_comm();
}

/* ---------------------------------------------------------------------- */

void FixNCTSample::gather_global(std::vector<double> &xg, std::vector<imageint> *img, double **src)
{
  const int n = natoms_built ? natoms_built : (int) atom->natoms;
  xg.assign(3 * (size_t) n, 0.0);
  for (int i = 0; i < atom->nlocal; i++)
    for (int k = 0; k < 3; k++) xg[3 * (atom->tag[i] - 1) + k] = src[i][k];
  MPI_Allreduce(MPI_IN_PLACE, xg.data(), 3 * n, MPI_DOUBLE, MPI_SUM, world);
  if (img) {
    std::vector<imageint> buf(n, 0);
    for (int i = 0; i < atom->nlocal; i++) buf[atom->tag[i] - 1] = atom->image[i];
    img->assign(n, 0);
    MPI_Allreduce(buf.data(), img->data(), n, MPI_LMP_IMAGEINT, MPI_SUM, world);
  }
}

void FixNCTSample::accumulators(std::vector<double> &acc, bool store)
{
  size_t k = 0;
  auto one = [&](double &v) {
    if (store) acc.push_back(v);
    else v = acc[k++];
  };
  auto six = [&](double *v) {
    for (int j = 0; j < 6; j++) one(v[j]);
  };
  if (store) acc.clear();
  if (Pair *p = force->pair) {
    one(p->eng_vdwl);
    one(p->eng_coul);
    six(p->virial);
  }
  if (force->bond) { one(force->bond->energy); six(force->bond->virial); }
  if (force->angle) { one(force->angle->energy); six(force->angle->virial); }
  if (force->dihedral) { one(force->dihedral->energy); six(force->dihedral->virial); }
  if (force->improper) { one(force->improper->energy); six(force->improper->virial); }
  if (force->kspace) { one(force->kspace->energy); six(force->kspace->virial); }
}

void FixNCTSample::save_state()
{
  gather_global(save_x, &save_image, atom->x);
  gather_global(save_f, nullptr, atom->f);
  accumulators(save_acc, true);
  saved = true;
}

void FixNCTSample::restore_state()
{
  set_positions(save_x.data(), save_image.data());
  reneighbor();
  // undo the wrapping of pbc(): positions and image flags exactly as before; ghosts follow
  set_positions(save_x.data(), save_image.data());
  for (int i = 0; i < atom->nlocal; i++) {
    tagint t = atom->tag[i] - 1;
    for (int k = 0; k < 3; k++) atom->f[i][k] = save_f[3 * t + k];
  }
  comm->forward_comm();
  accumulators(save_acc, false);
  saved = false;
}
