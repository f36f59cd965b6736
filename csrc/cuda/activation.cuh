// The activation kernels, forward and backward, elementwise over flat arrays (128-bit vectors,
// a scalar tail, grid-stride loops). The functions themselves are in activation_math.cuh.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// Component q of a vector, and its update: selects, so the vector stays in registers when q is
// not a compile-time constant.
template <class T>
__device__ __forceinline__ T v4_get(const V4<T>& v, int q) {
  return q == 0 ? v.x : (q == 1 ? v.y : (q == 2 ? v.z : v.w));
}
template <class T>
__device__ __forceinline__ void v4_set(V4<T>& v, int q, T x) {
  v.x = q == 0 ? x : v.x;
  v.y = q == 1 ? x : v.y;
  v.z = q == 2 ? x : v.z;
  v.w = q == 3 ? x : v.w;
}

// Four elements from i0 on: one 16-byte vector when vec and all four exist, else scalars
// (zero past n).
template <class T>
__device__ __forceinline__ V4<T> ld4_tail(const gptr<const T>& p, int64_t i0, int64_t n,
                                          bool full) {
  if (full) return ld4(p, i0);
  V4<T> v;
  v.x = p[i0];
  v.y = i0 + 1 < n ? p[i0 + 1] : T(0);
  v.z = i0 + 2 < n ? p[i0 + 2] : T(0);
  v.w = i0 + 3 < n ? p[i0 + 3] : T(0);
  return v;
}

template <class T>
__device__ __forceinline__ void st4_tail(const gptr<T>& p, int64_t i0, int64_t n, bool full,
                                         const V4<T>& v) {
  if (full) return st4(p, i0, v);
  p[i0] = v.x;
  if (i0 + 1 < n) p[i0 + 1] = v.y;
  if (i0 + 2 < n) p[i0 + 2] = v.z;
  if (i0 + 3 < n) p[i0 + 3] = v.w;
}

// Elementwise over n elements in groups of four: a 16-byte vector (float4; two 16-byte halves
// for double) when the launcher found every pointer 16-byte aligned (vec) and the group is
// whole, else four scalars; grid-stride loops over a grid sized to the GPU, so each thread
// handles several groups. The four elements go through one rolled loop: each kernel holds one
// inlined copy of the activation switch, not five (four unrolled vector lanes and a scalar
// tail: the sm_90 cubin of ops.cu was 1.48 MB with them, see docs/CUDA.md). The loads and
// stores, which bound the kernel, are the same 16-byte vectors.
template <class T>
__global__ void activation_kernel(int64_t n, gptr<const T> x, gptr<T> y, int act, T param,
                                  bool vec) {
  DG_GRID_STRIDE(g, (n + 3) / 4) {
    const int64_t i0 = 4 * g;
    const bool full = vec && i0 + 3 < n;
    V4<T> v = ld4_tail(x, i0, n, full);
#ifndef DG_SIMT
#pragma unroll 1
#endif
    for (int q = 0; q < 4; ++q) v4_set(v, q, act_forward(act, v4_get(v, q), param));
    st4_tail(y, i0, n, full, v);
  }
}

template <class T>
__global__ void activation_backward_kernel(int64_t n, gptr<const T> dy, gptr<const T> saved,
                                           gptr<T> dx, int act, T param, bool vec) {
  DG_GRID_STRIDE(g, (n + 3) / 4) {
    const int64_t i0 = 4 * g;
    const bool full = vec && i0 + 3 < n;
    V4<T> d = ld4_tail(dy, i0, n, full);
    const V4<T> s = ld4_tail(saved, i0, n, full);
#ifndef DG_SIMT
#pragma unroll 1
#endif
    for (int q = 0; q < 4; ++q) v4_set(d, q, act_backward(act, v4_get(d, q), v4_get(s, q), param));
    st4_tail(dx, i0, n, full, d);
  }
}

}  // namespace cuda
}  // namespace dg
