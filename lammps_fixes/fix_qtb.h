/* -*- c++ -*- ----------------------------------------------------------
   qfe: fix qtb, quantum thermal bath (LAMMPS plugin style).

   A thin LAMMPS adapter over the QTB noise kernel (qtb_noise.h): argument parsing, per-atom
   storage that migrates with atoms, restart, energy tally and thermo output.  See
   docs/fix_qtb.md.
------------------------------------------------------------------------- */

#ifndef QFE_FIX_QTB_H
#define QFE_FIX_QTB_H

#include "fix.h"

#include <memory>

namespace qfe {
class QTBBath;
}

namespace LAMMPS_NS {

class FixQTB : public Fix {
 public:
  FixQTB(class LAMMPS *, int, char **);
  ~FixQTB() override;
  int setmask() override;
  void init() override;
  void setup(int) override;
  void post_force(int) override;
  void end_of_step() override;
  double compute_scalar() override;
  double compute_vector(int) override;
  int modify_param(int, char **) override;
  double memory_usage() override;

  void grow_arrays(int) override;
  void copy_arrays(int, int, int) override;
  void set_arrays(int) override;
  int pack_exchange(int, double *) override;
  int unpack_exchange(int, double *) override;

  void write_restart(FILE *) override;
  void restart(char *) override;
  int pack_restart(int, double *) override;
  void unpack_restart(int, int) override;
  int size_restart(int) override;
  int maxsize_restart() override;

 private:
  // parameters (as given in the fix command)
  double t_start, t_stop;    // target temperature, ramped over a run when they differ
  double damp;               // 1/gamma (time units)
  double f_max;              // requested cutoff frequency (1/time units)
  int n_f;                   // frequency grid size: the filter has 2 N_f taps
  bigint seed;
  int zero_flag;             // 1: remove the net bath force on the group every step
  int deconvolution;         // qfe::QTBDeconvolution

  std::unique_ptr<qfe::QTBBath> bath;
  double bath_dt;            // timestep the bath was built for

  // per-atom row of float32: [x ring L][y ring L][z ring L][bath force x y z]
  float **state;
  int nmax_state;             // rows allocated in state
  int ring_floats;           // 6 N_f
  int row_floats;            // 6 N_f + 3
  int exchange_doubles;      // row packed two floats per double

  bigint ring_index;         // noise index the rings hold (same for all atoms)
  bigint force_step;         // MD step the stored bath forces belong to, -1 if none
  double work_local;         // cumulative work of the bath on this rank's atoms (energy)
  double onestep_local;      // sum F.v of the last step on this rank (energy/time)
  double work_restart;       // global values read from a restart file (applied on rank 0)
  double onestep_restart;

  void apply_bath(bool setup_call);
  double target_temperature(bigint step) const;
  void check_overlapping_fixes();
  void rebuild_bath();
};

}    // namespace LAMMPS_NS

#endif
