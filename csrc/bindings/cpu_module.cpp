// The _cpu extension module: build and runtime info, thread and ISA control, and the
// registration of every CPU op (one cpu_*.cpp file per op family, each with a bind_* function).
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/op_names_py.h"
#include "common/cpu_isa.h"
#include "common/threads.h"

namespace py = pybind11;

#ifndef DG_VERSION
#define DG_VERSION "0.0.0"
#endif
#ifndef DG_BUILD_TYPE
#define DG_BUILD_TYPE "unknown"
#define DG_CXX_FLAGS ""
#define DG_OPENMP_VERSION ""
#endif

namespace dg {
namespace bind {
void bind_gemm(py::module_& m);
void bind_activation(py::module_& m);
void bind_softmax(py::module_& m);
void bind_loss(py::module_& m);
void bind_linear(py::module_& m);
void bind_optim(py::module_& m);
void bind_reduce(py::module_& m);
}  // namespace bind
}  // namespace dg

namespace {

dg::Isa isa_from_name(const std::string& s) {
  if (s == "generic") return dg::Isa::generic;
  if (s == "avx2") return dg::Isa::avx2;
  if (s == "avx512") return dg::Isa::avx512;
  throw py::value_error("isa: expected 'generic', 'avx2' or 'avx512', got '" + s + "'");
}

std::string compiler_string() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "deltagrad CPU kernels (AVX-512 / AVX2+FMA with a portable fallback)";
  m.attr("__version__") = DG_VERSION;
  m.attr("compiler") = compiler_string();
  // How this module was built (deltagrad info): CMake build type, C++ flags of the portable
  // build (the per-ISA kernel files add their flags: cmake/cpu_isa.cmake), OpenMP version.
  py::dict build;
  build["build_type"] = DG_BUILD_TYPE;
  build["cxx_flags"] = DG_CXX_FLAGS;
  build["openmp"] = DG_OPENMP_VERSION;
  build["kernel_isas"] = py::make_tuple("generic", "avx2", "avx512");
  m.attr("build") = build;

  m.def(
      "active_isa", [] { return std::string(dg::isa_name(dg::active_isa())); },
      "The instruction set the kernels run with: 'avx512', 'avx2' or 'generic'.");
  m.def(
      "detected_isa", [] { return std::string(dg::isa_name(dg::detected_isa())); },
      "The best instruction set this CPU supports.");
  m.def(
      "set_active_isa",
      [](const std::string& name) {
        return std::string(dg::isa_name(dg::set_active_isa(isa_from_name(name))));
      },
      py::arg("isa"), "Cap the instruction set (for tests); returns the one now in use.");
  m.def("get_num_threads", &dg::num_threads);
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1)
          throw py::value_error("set_num_threads: expected n >= 1, got " + std::to_string(n));
        dg::set_num_threads(n);
      },
      py::arg("n"));

  dg::bind::bind_gemm(m);
  dg::bind::bind_activation(m);
  dg::bind::bind_softmax(m);
  dg::bind::bind_loss(m);
  dg::bind::bind_linear(m);
  dg::bind::bind_optim(m);
  dg::bind::bind_reduce(m);
  dg::bind::export_op_names(m);  // ACTIVATIONS, SAVES_INPUT, LOSSES, REDUCTIONS
}
