// The activation kernels, forward and backward, elementwise over flat arrays (grid-stride
// loops). The functions themselves are in activation_math.cuh.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

template <class T>
__global__ void activation_kernel(int64_t n, gptr<const T> x, gptr<T> y, int act, T param) {
  DG_GRID_STRIDE(i, n) { y[i] = act_forward(act, x[i], param); }
}

template <class T>
__global__ void activation_backward_kernel(int64_t n, gptr<const T> dy, gptr<const T> saved,
                                           gptr<T> dx, int act, T param) {
  DG_GRID_STRIDE(i, n) { dx[i] = act_backward(act, dy[i], saved[i], param); }
}

}  // namespace cuda
}  // namespace dg
