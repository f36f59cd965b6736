// The _simt extension module: the csrc/cuda kernels run by the SIMT emulator on host memory,
// for the test suite. Same raw API as _cuda, plus the buffer registry the checked pointers use.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "bindings/op_names_py.h"
#include "bindings/cuda_raw_ops.h"
#include "simt/selftest.cuh"
#include "simt/simt.h"

namespace py = pybind11;

namespace {

// Launches one of the self-test kernels (simt/selftest.cuh) on float32 buffers x (n) and y.
void selftest(const std::string& name, int64_t n, uintptr_t x_addr, uintptr_t y_addr,
              unsigned threads) {
  using namespace dg::simt_selftest;
  const auto* x = reinterpret_cast<const float*>(x_addr);
  auto* y = reinterpret_cast<float*>(y_addr);
  const dim3 grid(static_cast<unsigned>((n + threads - 1) / threads)), block(threads);
  py::gil_scoped_release nogil;
  if (name == "reverse_block") {
    simt::launch(&reverse_block_kernel<true>, grid, block, n, x, y);
  } else if (name == "reverse_block_missing_sync") {
    simt::launch(&reverse_block_kernel<false>, grid, block, n, x, y);
  } else if (name == "rotate_block") {
    simt::launch(&rotate_block_kernel<true>, grid, block, n, x, y);
  } else if (name == "rotate_block_missing_sync") {
    simt::launch(&rotate_block_kernel<false>, grid, block, n, x, y);
  } else if (name == "divergent_barrier") {
    simt::launch(&divergent_barrier_kernel, grid, block, n, x, y);
  } else if (name == "scale") {
    simt::launch(&scale_kernel<true>, grid, block, n, x, y);
  } else if (name == "scale_unguarded") {
    simt::launch(&scale_kernel<false>, grid, block, n, x, y);
  } else if (name == "warp_sum") {
    simt::launch(&warp_sum_kernel<false>, grid, block, x, y);
  } else if (name == "warp_sum_divergent") {
    simt::launch(&warp_sum_kernel<true>, grid, block, x, y);
  } else {
    throw std::invalid_argument("selftest: unknown kernel '" + name + "'");
  }
}

// Launches one warp of a tensor-core self-test kernel (simt/selftest.cuh) on float32 buffers:
// "mma", "mma_unrounded", "ldmatrix_x1/x2/x4", "pipeline_s<1-4>", "pipeline_s<n>_scalar"
// (4-byte copies), "pipeline_s<n>_vec" (16-byte copies even when misaligned),
// "pipeline_s3_missing_wait"; k and lda are the pipeline's.
void selftest_tc(const std::string& name, int64_t k, int64_t lda, uintptr_t x_addr,
                 uintptr_t y_addr) {
  using namespace dg::simt_selftest;
  const auto* x = reinterpret_cast<const float*>(x_addr);
  auto* y = reinterpret_cast<float*>(y_addr);
  const dim3 grid(1), block(32);
  const bool scalar = name.size() > 7 && name.compare(name.size() - 7, 7, "_scalar") == 0;
  const bool force_vec = name.size() > 4 && name.compare(name.size() - 4, 4, "_vec") == 0;
  const bool vec = force_vec || (!scalar && lda % 4 == 0 && x_addr % 16 == 0);
  py::gil_scoped_release nogil;
  if (name == "mma") {
    simt::launch(&tc_mma_kernel<true>, grid, block, x, y);
  } else if (name == "mma_unrounded") {
    simt::launch(&tc_mma_kernel<false>, grid, block, x, y);
  } else if (name == "ldmatrix_x1") {
    simt::launch(&tc_ldmatrix_kernel<1>, grid, block, x, y);
  } else if (name == "ldmatrix_x2") {
    simt::launch(&tc_ldmatrix_kernel<2>, grid, block, x, y);
  } else if (name == "ldmatrix_x4") {
    simt::launch(&tc_ldmatrix_kernel<4>, grid, block, x, y);
  } else if (name.rfind("pipeline_s1", 0) == 0) {
    simt::launch(&tc_pipeline_kernel<1, true>, grid, block, k, lda, vec, x, y);
  } else if (name.rfind("pipeline_s2", 0) == 0) {
    simt::launch(&tc_pipeline_kernel<2, true>, grid, block, k, lda, vec, x, y);
  } else if (name == "pipeline_s3_missing_wait") {
    simt::launch(&tc_pipeline_kernel<3, false>, grid, block, k, lda, vec, x, y);
  } else if (name.rfind("pipeline_s3", 0) == 0) {
    simt::launch(&tc_pipeline_kernel<3, true>, grid, block, k, lda, vec, x, y);
  } else if (name.rfind("pipeline_s4", 0) == 0) {
    simt::launch(&tc_pipeline_kernel<4, true>, grid, block, k, lda, vec, x, y);
  } else {
    throw std::invalid_argument("selftest_tc: unknown kernel '" + name + "'");
  }
}

}  // namespace

PYBIND11_MODULE(_simt, m) {
  m.doc() = "deltagrad CUDA kernels run by the SIMT emulator (tests only)";
  py::register_exception<simt::Fault>(m, "SimtFault", PyExc_RuntimeError);
  m.def(
      "register_buffer",
      [](uintptr_t p, size_t nbytes) { simt::register_buffer(reinterpret_cast<void*>(p), nbytes); },
      py::arg("ptr"), py::arg("nbytes"),
      "Allow kernels launched from this thread to access [ptr, ptr + nbytes).");
  m.def("clear_buffers", &simt::clear_buffers, "Forget every registered buffer of this thread.");
  m.def("set_race_check", &simt::set_race_check, py::arg("on"),
        "Turn the shared-memory race / uninitialized-read detector on (default) or off.");
  m.def("set_reverse_schedule", &simt::set_reverse_schedule, py::arg("reverse"),
        "Run the threads of a block last-first (to expose races the other order hides).");
  m.def("selftest", &selftest, py::arg("name"), py::arg("n"), py::arg("x"), py::arg("y"),
        py::arg("threads"), "Launch a self-test kernel (simt/selftest.cuh) on float32 buffers.");
  m.def("selftest_tc", &selftest_tc, py::arg("name"), py::arg("k"), py::arg("lda"), py::arg("x"),
        py::arg("y"), "Launch a tensor-core self-test kernel (simt/selftest.cuh), one warp.");
  dg::cuda::bind::bind_raw_ops(m);
  dg::bind::export_op_names(m);  // ACTIVATIONS, SAVES_INPUT, LOSSES, REDUCTIONS
}
