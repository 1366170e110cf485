/* -*- c++ -*- ----------------------------------------------------------
   qfe: fix nct_sample, neural-canonical-transformation (NCT) density matrices trained and
   sampled inside a LAMMPS deck, with the deck's own force field (LAMMPS plugin style).

   The variational machinery (flow, occupations, estimators, Adam) is qfe's JAX engine, run
   by the embedded Python (nct_python.h) on rank 0 through qfe.nct.lammps_fix.  Every
   configuration it needs an energy for is evaluated here, by this LAMMPS instance's pair
   (bond, kspace) styles on all ranks, without other fixes' forces, and the MD state is put
   back afterwards.  See docs/fix_nct_sample.md.
------------------------------------------------------------------------- */

#ifndef QFE_FIX_NCT_SAMPLE_H
#define QFE_FIX_NCT_SAMPLE_H

#include "fix.h"

#include <cstdio>

#include <memory>
#include <string>
#include <vector>

namespace qfe {
class NCTPython;
}

namespace LAMMPS_NS {

class FixNCTSample : public Fix {
 public:
  FixNCTSample(class LAMMPS *, int, char **);
  ~FixNCTSample() override;
  int setmask() override;
  void init() override;
  void setup(int) override;
  void end_of_step() override;
  void post_run() override;
  double compute_vector(int) override;
  int modify_param(int, char **) override;
  void write_restart(FILE *) override;
  void restart(char *) override;

  // rank 0, called from Python (qfe_nct_evaluate): energies (eV), forces (eV/A, tag order)
  // and virials (eV, xx yy zz xy xz yz) of nconf configurations x (nconf x natoms x 3, A).
  // Returns 0, or -1 after a LAMMPS error (message kept for the caller).
  int evaluate_root(int nconf, const double *x, double *e, double *f, double *w);

 private:
  enum { TRAIN = 0, SAMPLE = 1 };
  static constexpr int kVectorSize = 12;
  double temperature;
  int mode;
  int sample_every;
  std::string options;                   // pass-through "key value ..." for qfe
  std::unique_ptr<qfe::NCTPython> py;    // rank 0 only
  bool built;
  int natoms_built;
  bigint trained_in_run;
  std::vector<double> vec;               // global vector (same on all ranks)
  std::vector<double> x0;                // reference positions by tag (all ranks)
  std::vector<imageint> image0;          // image flags at the reference
  std::vector<double> xbuf, fbuf;        // global (tag order) scratch
  std::string eval_error;
  std::vector<double> restart_x0;        // reference positions from a restart file
  std::vector<char> restart_state;       // NCT state (.npz bytes) from a restart file

  // state saved before the first evaluation of a call and restored after it
  bool saved;
  std::vector<double> save_x, save_f;
  std::vector<imageint> save_image;
  std::vector<double> save_acc;

  template <typename Fn> void collective(Fn &&root_fn);
  void serve();
  [[noreturn]] void abort_evaluation(const char *what);
  int evaluate_all(int nconf, const double *x, double *e, double *f, double *w);
  void evaluate_one(const double *xg, double &energy, double *fg, double *w6);
  void set_positions(const double *xg, const imageint *img);
  void reneighbor();
  void compute_forces();
  void accumulators(std::vector<double> &acc, bool store);
  void save_state();
  void restore_state();
  void gather_global(std::vector<double> &xg, std::vector<imageint> *img, double **src);
  void build_system();
};

}    // namespace LAMMPS_NS

#endif
