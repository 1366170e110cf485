/* ----------------------------------------------------------------------
   qfe: the embedded Python interpreter used by fix nct_sample (see nct_python.h).
------------------------------------------------------------------------- */

#include "nct_python.h"

#include <cstdarg>
#include <dlfcn.h>
#include <mutex>
#include <string>

#ifndef QFE_LIBPYTHON
#define QFE_LIBPYTHON ""
#endif

namespace {

using PyObj = void;
using GILState = int;

struct API {
  int (*IsInitialized)();
  void (*InitializeEx)(int);
  GILState (*GILEnsure)();
  void (*GILRelease)(GILState);
  void *(*SaveThread)();
  int (*RunSimpleString)(const char *);
  PyObj *(*ImportModule)(const char *);
  PyObj *(*GetAttrString)(PyObj *, const char *);
  PyObj *(*BuildValue)(const char *, ...);
  PyObj *(*VaBuildValue)(const char *, va_list);
  PyObj *(*CallObject)(PyObj *, PyObj *);
  const char *(*AsUTF8)(PyObj *);
  PyObj *(*Str)(PyObj *);
  void (*Fetch)(PyObj **, PyObj **, PyObj **);
  void (*Normalize)(PyObj **, PyObj **, PyObj **);
  void (*Clear)();
  void (*DecRef)(PyObj *);
  bool loaded = false;
  std::string error;
};

API api;
std::once_flag api_once;

template <typename T> bool sym(void *handle, const char *name, T &fn)
{
  fn = reinterpret_cast<T>(dlsym(handle, name));
  return fn != nullptr;
}

bool bind(void *h)
{
  return sym(h, "Py_IsInitialized", api.IsInitialized) &&
      sym(h, "Py_InitializeEx", api.InitializeEx) &&
      sym(h, "PyGILState_Ensure", api.GILEnsure) && sym(h, "PyGILState_Release", api.GILRelease) &&
      sym(h, "PyEval_SaveThread", api.SaveThread) &&
      sym(h, "PyRun_SimpleString", api.RunSimpleString) &&
      sym(h, "PyImport_ImportModule", api.ImportModule) &&
      sym(h, "PyObject_GetAttrString", api.GetAttrString) &&
      sym(h, "_Py_BuildValue_SizeT", api.BuildValue) &&
      sym(h, "_Py_VaBuildValue_SizeT", api.VaBuildValue) &&
      sym(h, "PyObject_CallObject", api.CallObject) && sym(h, "PyUnicode_AsUTF8", api.AsUTF8) &&
      sym(h, "PyObject_Str", api.Str) && sym(h, "PyErr_Fetch", api.Fetch) &&
      sym(h, "PyErr_NormalizeException", api.Normalize) && sym(h, "PyErr_Clear", api.Clear) &&
      sym(h, "Py_DecRef", api.DecRef);
}

// site-packages directory of this plugin: <site>/qfe/lib/qfeplugin.so
std::string plugin_site_dir()
{
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&plugin_site_dir), &info) || !info.dli_fname) return "";
  std::string path(info.dli_fname);
  for (int up = 0; up < 3; up++) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos) return "";
    path.resize(pos);
  }
  return path;
}

void load_api()
{
  // 1. an interpreter already in the process (LAMMPS driven from Python)
  if (bind(RTLD_DEFAULT) && api.IsInitialized()) {
    api.loaded = true;
    return;
  }
  // 2. libpython of the build environment, loaded on demand
  std::string lib = QFE_LIBPYTHON;
  if (const char *env = getenv("QFE_LIBPYTHON")) lib = env;
  if (lib.empty()) {
    api.error = "no libpython known (qfe was built without one; set QFE_LIBPYTHON)";
    return;
  }
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    api.error = std::string("cannot load libpython ") + lib + ": " + dlerror();
    return;
  }
  if (!bind(h)) {
    api.error = "libpython " + lib + " lacks a needed C API function";
    return;
  }
  if (!api.IsInitialized()) {
    api.InitializeEx(0);    // no signal handlers: LAMMPS keeps its own
    std::string site = plugin_site_dir();
    std::string code = "import sys\nif not getattr(sys, 'argv', None): sys.argv = ['lmp']\n";
    if (!site.empty()) code += "import site\nsite.addsitedir(r'''" + site + "''')\n";
    api.RunSimpleString(code.c_str());
    api.SaveThread();       // release the GIL; each call takes it with PyGILState_Ensure
  }
  api.loaded = true;
}

}    // namespace

namespace qfe {

NCTPython::NCTPython(const std::string &module) : module_(nullptr)
{
  std::call_once(api_once, load_api);
  if (!api.loaded) {
    error_ = api.error;
    return;
  }
  GILState g = api.GILEnsure();
  module_ = api.ImportModule(module.c_str());
  if (!module_) error_ = "cannot import " + module + ": " + fetch_error();
  api.GILRelease(g);
}

NCTPython::~NCTPython()
{
  if (module_ && api.loaded && api.IsInitialized()) {
    GILState g = api.GILEnsure();
    api.DecRef(module_);
    api.GILRelease(g);
  }
}

std::string NCTPython::fetch_error()
{
  PyObj *type = nullptr, *value = nullptr, *tb = nullptr;
  api.Fetch(&type, &value, &tb);
  if (!type) return "unknown Python error";
  api.Normalize(&type, &value, &tb);
  std::string msg;
  PyObj *name = api.GetAttrString(type, "__name__");
  if (name) {
    const char *s = api.AsUTF8(name);
    if (s) msg = s;
    api.DecRef(name);
  }
  if (value) {
    PyObj *str = api.Str(value);
    if (str) {
      const char *s = api.AsUTF8(str);
      if (s) msg += std::string(": ") + s;
      api.DecRef(str);
    }
  }
  api.Clear();
  if (type) api.DecRef(type);
  if (value) api.DecRef(value);
  if (tb) api.DecRef(tb);
  return msg;
}

std::string NCTPython::call(const char *function, const char *format, ...)
{
  if (!module_) return error_;
  GILState g = api.GILEnsure();
  std::string result;
  PyObj *fn = api.GetAttrString(module_, function);
  if (!fn) {
    result = fetch_error();
  } else {
    va_list ap;
    va_start(ap, format);
    PyObj *args = api.VaBuildValue(format, ap);
    va_end(ap);
    PyObj *ret = args ? api.CallObject(fn, args) : nullptr;
    if (!ret) {
      result = fetch_error();
    } else {
      const char *s = api.AsUTF8(ret);
      if (s) result = s;
      else result = "Python function " + std::string(function) + " did not return a str: " +
          fetch_error();
      api.DecRef(ret);
    }
    if (args) api.DecRef(args);
    api.DecRef(fn);
  }
  api.GILRelease(g);
  return result;
}

}    // namespace qfe
