// After-launch error check shared by the launchers (a no-op in the emulator, which throws).
#pragma once

#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

inline void check_launch(const char* what) {
#ifdef DG_SIMT
  (void)what;
#else
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) +
                             ": kernel launch failed: " + cudaGetErrorString(e));
#endif
}

}  // namespace cuda
}  // namespace dg
