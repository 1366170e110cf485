/* qfe LAMMPS plugin entry: registers every qfe style with the running LAMMPS instance.
 *
 * LAMMPS dlopen()s this module (auto-loaded from LAMMPS_PLUGIN_PATH because the file name
 * ends in "plugin.so", or by `plugin load <path>`) and calls lammpsplugin_init().
 */

#include "lammpsplugin_abi.h"

#include "lammps.h"

#include "fix_nct_sample.h"
#include "fix_qtb.h"

using namespace LAMMPS_NS;

static void *fix_qtb_creator(void *lmp, int argc, char **argv)
{
  return (void *) new FixQTB(static_cast<LAMMPS *>(lmp), argc, argv);
}

static void *fix_nct_sample_creator(void *lmp, int argc, char **argv)
{
  return (void *) new FixNCTSample(static_cast<LAMMPS *>(lmp), argc, argv);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto *lammps = static_cast<LAMMPS *>(lmp);
  auto register_style = reinterpret_cast<lammpsplugin_regfunc>(regfunc);

  lammpsplugin_t plugin;
  plugin.version = lammps->version;    // built against the headers of this very LAMMPS
  plugin.style = "fix";
  plugin.name = "qtb";
  plugin.info = "qfe quantum thermal bath (counter-based noise, exact restart) v0.1";
  plugin.author = "qfe developers";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_qtb_creator;
  plugin.handle = handle;
  register_style(&plugin, lmp);

  plugin.name = "nct_sample";
  plugin.info = "qfe NCT density matrices trained and sampled with the deck's force field v0.1";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_nct_sample_creator;
  register_style(&plugin, lmp);
}
