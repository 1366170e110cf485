/* -*- c++ -*- ----------------------------------------------------------
   qfe: fix qtb, quantum thermal bath (LAMMPS plugin style).

   A thin LAMMPS adapter over the QTB noise kernel (qtb_noise.h), which also owns the
   defaults, checks, ramp, zero and energy tally: keyword syntax, per-atom storage that
   migrates with atoms, MPI sums, restart and thermo output.  See docs/fix_qtb.md.
------------------------------------------------------------------------- */

#ifndef QFE_FIX_QTB_H
#define QFE_FIX_QTB_H

#include "fix.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "qtb_noise.h"


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
  // parameters of the fix command; defaults, limits and checks are the kernel's
  qfe::QTBParameters params;
  std::string given[qfe::QTB_PARAM_COUNT];    // each parameter's value as typed (messages)

  // adaptive QTB and the FDT diagnostic (docs/fix_qtb.md)
  int adaptive_flag;
  qfe::QTBAdaptParameters adapt;    // adapt.fdt_every: diagnostic every fdt_every segments
  std::string fdt_file;
  FILE *fdt_fp;
  int spectra_flag;          // per-atom segment buffers kept (adaptive or fdt_file)
  int seg_floats;            // 12 N_f + 2: v and random-force buffers, segment id and count
  int ntypes_fix;            // number of atom types at creation
  qfe::QTBAdaptState astate;    // gamma_r and spectra per type (the kernel's bookkeeping)
  bigint last_segment;       // index of the last processed segment (-1: none)

  std::unique_ptr<qfe::QTBBath> bath;
  double bath_dt;            // timestep the bath was built for

  // per-atom row of float32: [x ring L][y ring L][z ring L][bath force x y z]
  float **state;
  int nmax_state;             // rows allocated in state
  double **bath_force;       // per-atom output f_ID[i][1..3]: the bath force of this step
  int ring_floats;           // 6 N_f
  int row_floats;            // 6 N_f + 3
  int exchange_doubles;      // row packed two floats per double

  bigint ring_index;         // noise index the rings hold (same for all atoms)
  bigint force_step;         // MD step the stored bath forces belong to, -1 if none
  qfe::QTBEnergyTally tally;    // the kernel's tally, this rank's atoms (rank 0: + restart)

  void apply_bath(bool setup_call);
  void check_overlapping_fixes();
  void rebuild_bath();
  void accumulate_segment(int i, bigint n, const double *v, const double *random);
  void accumulate_velocity();
  void process_segment(bigint segment);
  void write_fdt(bigint segment);
  void apply_gamma_r();
};

}    // namespace LAMMPS_NS

#endif
