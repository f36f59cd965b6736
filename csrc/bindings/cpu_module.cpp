// The _cpu extension module: build and runtime info, thread and ISA control, and the
// registration of every CPU op (one cpu_*.cpp file per op family, each with a bind_* function).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <string>
#include <thread>

#include "bindings/cpu_common.h"
#include "bindings/fastcall.h"
#include "bindings/index_error.h"
#include "bindings/op_names_py.h"
#include "common/cpu_isa.h"
#include "common/host_memory.h"
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
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_pool3d(py::module_& m);
void bind_norm(py::module_& m);
void bind_layout(py::module_& m);
void bind_select(py::module_& m);
void bind_sample(py::module_& m);
void bind_rnn(py::module_& m);
void bind_ctc(py::module_& m);
void bind_gather(py::module_& m);
void bind_cdist(py::module_& m);
void bind_lu(py::module_& m);
}  // namespace bind
}  // namespace dg

void dg::bind::test_hold_wait() {
  std::atomic<int>& state = test_hold_state();
  int armed = 1;
  if (!state.compare_exchange_strong(armed, 2)) return;  // another op holds, or not armed
  for (int i = 0; i < 10000 && state.load() == 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  state.store(0);
}

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
#if defined(DG_NO_AVX512)
  build["kernel_isas"] = py::make_tuple("generic", "avx2");
#else
  build["kernel_isas"] = py::make_tuple("generic", "avx2", "avx512");
#endif
  m.attr("build") = build;

  // IndexRangeError (bindings/index_error.h): an IndexError and a RuntimeError, created once; the
  // module keeps the reference for the process's life
  if (!dg::bind::index_range_error_type()) {
    PyObject* bases = PyTuple_Pack(2, PyExc_IndexError, PyExc_RuntimeError);
    if (!bases) throw py::error_already_set();
    PyObject* t = PyErr_NewException("deltagrad._cpu.IndexRangeError", bases, nullptr);
    Py_DECREF(bases);
    if (!t) throw py::error_already_set();
    dg::bind::index_range_error_type() = t;
  }
  m.attr("IndexRangeError") = py::handle(dg::bind::index_range_error_type());

  // glibc's thresholds for the buffers of results (common/host_memory.h), set once at import
  dg::tune_host_malloc();
  m.def("host_malloc", [] {
    const dg::HostMallocPolicy& malloc_policy = dg::tune_host_malloc();
    py::dict d;
    d["tuned"] = malloc_policy.tuned;
    d["why_not"] = malloc_policy.why;
    d["mmap_threshold"] = malloc_policy.tuned ? dg::kMmapThreshold : 0;
    d["trim_threshold"] = malloc_policy.tuned ? dg::kTrimThreshold : 0;
    return d;
  });

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
  m.def("get_num_threads", &dg::get_num_threads);
  m.def("max_threads", &dg::max_threads,
        "The bound of set_num_threads: 4 x the CPUs this process may run on.");
  int requested = 1;
  dg::initial_num_threads(&requested);
  m.attr("requested_threads") = requested;  // OMP_NUM_THREADS's value (or the CPU count)
  m.def("in_forked_child", &dg::in_forked_child,
        "True in a process forked after a parallel region ran: the kernels use 1 thread.");
  m.def(
      "set_num_threads",
      [](py::handle obj) {
        // n: an int (a bool is not a count), 1 <= n <= max_threads(); returns (the count set,
        // why it is less than n: "" / "resources" / "forked")
        if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr()))
          throw py::type_error("set_num_threads: n: expected an int, got " +
                               std::string(Py_TYPE(obj.ptr())->tp_name));
        const py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
        if (!v) throw py::error_already_set();
        const long long n = PyLong_AsLongLong(v.ptr());
        if (n == -1 && PyErr_Occurred()) PyErr_Clear();  // overflow: out of range below
        const bool big = n == -1 ? py::int_(0) < v : n > dg::max_threads();
        if (n < 1 && !big)
          throw py::value_error("set_num_threads: n: expected n >= 1, got " +
                                py::str(v).cast<std::string>());
        if (big)
          throw py::value_error(
              "set_num_threads: n: expected n >= 1 and <= " + std::to_string(dg::max_threads()) +
              ", got " + py::str(v).cast<std::string>());
        dg::ThreadLimit why = dg::ThreadLimit::none;
        const int set = dg::set_num_threads(static_cast<int>(n), &why);
        const char* reason = why == dg::ThreadLimit::resources ? "resources"
                             : why == dg::ThreadLimit::forked  ? "forked"
                                                               : "";
        return py::make_tuple(set, reason);
      },
      py::arg("n"));

  // thread placement (dg::place_team): DG_PIN_THREADS, for the A/B tools and tests
  m.def("_pin_threads", &dg::pin_threads);
  m.def("_set_pin_threads", &dg::set_pin_threads, py::arg("on"));
  m.def("_team_cpus", &dg::team_cpus);
  m.def(
      "_team_masks",
      [](int nt) {
        py::gil_scoped_release nogil;
        return dg::team_masks(nt);
      },
      py::arg("nt"));

  // test-only (tests/test_label_race.py): see test_hold_point in bindings/cpu_common.h
  m.def("_test_hold_arm", [] { dg::bind::test_hold_state().store(1); });
  m.def("_test_hold_state", [] { return dg::bind::test_hold_state().load(); });
  m.def("_test_hold_release", [] {
    int waiting = 2;
    if (!dg::bind::test_hold_state().compare_exchange_strong(waiting, 3))
      dg::bind::test_hold_state().store(0);  // nothing waits: disarm
  });

  dg::bind::bind_gemm(m);
  dg::bind::bind_activation(m);
  dg::bind::bind_softmax(m);
  dg::bind::bind_loss(m);
  dg::bind::bind_linear(m);
  dg::bind::bind_optim(m);
  dg::bind::bind_reduce(m);
  dg::bind::bind_conv(m);
  dg::bind::bind_pool(m);
  dg::bind::bind_pool3d(m);
  dg::bind::bind_norm(m);
  dg::bind::bind_layout(m);
  dg::bind::bind_select(m);
  dg::bind::bind_sample(m);
  dg::bind::bind_rnn(m);
  dg::bind::bind_ctc(m);
  dg::bind::bind_gather(m);
  dg::bind::bind_cdist(m);
  dg::bind::bind_lu(m);
  dg::bind::export_op_names(m);  // ACTIVATIONS, SAVES_INPUT, LOSSES, REDUCTIONS

  // dg.backends.use_host_backend: while this thread's flag is set, the fast entries
  // (bindings/fastcall.h) answer NotImplemented, so dg.ops sends numpy arrays to the override.
  m.def(
      "_set_host_override",
      [](bool on) {
        const bool prev = dg::bind::host_override_flag();
        dg::bind::host_override_flag() = on;
        return prev;
      },
      py::arg("on"),
      "Set this thread's host-backend override flag (the fast entries then decline every call); "
      "returns the previous value.");
}
