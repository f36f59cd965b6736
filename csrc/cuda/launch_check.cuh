// After-launch error check shared by the launchers (a no-op in the emulator, which throws).
// DG_CUDA_SYNC=1 (read once per process) makes every check also synchronize the device, so a
// fault inside a kernel is reported by the op that launched it, not by a later unrelated call.
#pragma once

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// Whether DG_CUDA_SYNC is set to something other than "" or "0".
inline bool sync_after_launch() {
  static const bool on = [] {
    const char* e = std::getenv("DG_CUDA_SYNC");
    return e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0;
  }();
  return on;
}

inline void check_launch(const char* what) {
#ifdef DG_SIMT
  (void)what;
#else
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) +
                             ": kernel launch failed: " + cudaGetErrorString(e));
  if (sync_after_launch()) {
    e = cudaDeviceSynchronize();
    if (e != cudaSuccess)
      throw std::runtime_error(std::string(what) +
                               ": kernel failed (DG_CUDA_SYNC=1): " + cudaGetErrorString(e));
  }
#endif
}

}  // namespace cuda
}  // namespace dg
