// The _cuda extension module: device discovery and the raw launch API of the csrc/cuda kernels.
// The CUDA runtime is linked statically, so this imports on machines without a driver; there
// availability() says why CUDA cannot be used instead of the import failing.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "bindings/op_names_py.h"
#include "bindings/cuda_raw_ops.h"

namespace py = pybind11;

namespace {

// (True, "") when at least one device is usable, else (False, why).
std::pair<bool, std::string> availability() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return {false, std::string("no CUDA driver/GPU: ") + cudaGetErrorString(e)};
  }
  if (count == 0) return {false, "no CUDA driver/GPU: the driver reports no devices"};
  return {true, ""};
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "deltagrad CUDA kernels (raw launch API; use deltagrad.ops with cupy arrays)";
  m.attr("cuda_runtime_version") = CUDART_VERSION;
  m.attr("tf32_compiled") = true;
  m.def("availability", &availability,
        "(available, reason): whether a CUDA device can be used, and why not when it cannot.");
  m.def("device_count", [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });
  m.def(
      "device_name",
      [](int i) {
        cudaDeviceProp prop;
        check(cudaGetDeviceProperties(&prop, i), "device_name");
        return std::string(prop.name);
      },
      py::arg("index") = 0);
  m.def(
      "compute_capability",
      [](int i) {
        int major = 0, minor = 0;
        check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, i),
              "compute_capability");
        check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, i),
              "compute_capability");
        return std::make_pair(major, minor);
      },
      py::arg("index") = 0);
  m.def("current_device", [] {
    int d = 0;
    check(cudaGetDevice(&d), "current_device");
    return d;
  });
  m.def("sync_after_launch", &dg::cuda::sync_mode,
        "Whether DG_CUDA_SYNC makes every launch synchronize and check (read once).");
  m.def("synchronize", [] {
    py::gil_scoped_release nogil;
    check(cudaDeviceSynchronize(), "synchronize");
  });
  dg::cuda::bind::bind_raw_ops(m);
  dg::bind::export_op_names(m);  // ACTIVATIONS, SAVES_INPUT, LOSSES, REDUCTIONS
}
