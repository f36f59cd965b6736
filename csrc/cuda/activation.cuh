// The activation kernels, forward and backward, elementwise over flat arrays (128-bit vectors,
// a scalar tail, grid-stride loops). The functions themselves are in activation_math.cuh.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// Elementwise over n elements: the first n4 = n / 4 groups of four as 16-byte vectors (float4;
// two 16-byte halves for double) when the launcher found every pointer 16-byte aligned (vec),
// then the scalar tail; grid-stride loops over a grid sized to the GPU, so each thread handles
// several vectors.
template <class T>
__global__ void activation_kernel(int64_t n, gptr<const T> x, gptr<T> y, int act, T param,
                                  bool vec) {
  const int64_t n4 = vec ? n / 4 : 0;
  DG_GRID_STRIDE(i, n4) {
    V4<T> v = ld4(x, 4 * i);
    v.x = act_forward(act, v.x, param);
    v.y = act_forward(act, v.y, param);
    v.z = act_forward(act, v.z, param);
    v.w = act_forward(act, v.w, param);
    st4(y, 4 * i, v);
  }
  DG_GRID_STRIDE(j, n - 4 * n4) {
    const int64_t i = 4 * n4 + j;
    y[i] = act_forward(act, x[i], param);
  }
}

template <class T>
__global__ void activation_backward_kernel(int64_t n, gptr<const T> dy, gptr<const T> saved,
                                           gptr<T> dx, int act, T param, bool vec) {
  const int64_t n4 = vec ? n / 4 : 0;
  DG_GRID_STRIDE(i, n4) {
    const V4<T> g = ld4(dy, 4 * i), s = ld4(saved, 4 * i);
    V4<T> d;
    d.x = act_backward(act, g.x, s.x, param);
    d.y = act_backward(act, g.y, s.y, param);
    d.z = act_backward(act, g.z, s.z, param);
    d.w = act_backward(act, g.w, s.w, param);
    st4(dx, 4 * i, d);
  }
  DG_GRID_STRIDE(j, n - 4 * n4) {
    const int64_t i = 4 * n4 + j;
    dx[i] = act_backward(act, dy[i], saved[i], param);
  }
}

}  // namespace cuda
}  // namespace dg
