// Row kernels over the last axis: softmax / log-softmax forward and backward, and the fused
// softmax cross-entropy (loss and dlogits in one pass). WARP = false: one block per row, block
// reductions; WARP = true (rows up to kWarpRowCols columns): one warp per row, warp shuffles
// only (no shared memory, no barrier). Grid-stride over rows either way.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

constexpr int64_t kWarpRowCols = 1024;

// The rows of one kernel: each group (a warp, or the block) takes rows first, first + step, ...;
// its threads take columns lane, lane + width, ...
template <bool WARP>
struct RowGroup {
  int64_t first, step, lane, width;
  __device__ RowGroup() {
    if (WARP) {
      const int64_t warps = blockDim.x / 32;
      first = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32;
      step = static_cast<int64_t>(gridDim.x) * warps;
      lane = threadIdx.x % 32;
      width = 32;
    } else {
      first = blockIdx.x;
      step = gridDim.x;
      lane = threadIdx.x;
      width = blockDim.x;
    }
  }
};

template <bool WARP, class T, class S>
__device__ __forceinline__ T group_max(T v, S& scratch) {
  if constexpr (WARP) {
    (void)scratch;
    return warp_max(v);
  } else {
    return block_max(v, scratch);
  }
}

template <bool WARP, class T, class S>
__device__ __forceinline__ T group_sum(T v, S& scratch) {
  if constexpr (WARP) {
    (void)scratch;
    return warp_sum(v);
  } else {
    return block_sum(v, scratch);
  }
}

// y = softmax(x) or log_softmax(x) along rows of length cols.
template <class T, bool WARP>
__global__ void softmax_kernel(int64_t rows, int64_t cols, gptr<const T> x, gptr<T> y, bool log) {
  DG_SHARED(T, scratch, 32);
  const RowGroup<WARP> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const gptr<const T> xr = x + r * cols;
    const gptr<T> yr = y + r * cols;
    T mx = -dinf<T>();
    for (int64_t j = g.lane; j < cols; j += g.width) mx = dmax(mx, xr[j]);
    mx = group_max<WARP>(mx, scratch);
    T s = T(0);
    for (int64_t j = g.lane; j < cols; j += g.width) s += dexp(xr[j] - mx);
    s = group_sum<WARP>(s, scratch);
    if (log) {
      // (x - max) - log(s), not x - (max + log(s)): the latter rounds log(s) to the ulp of max
      const T ls = dlog(s);
      for (int64_t j = g.lane; j < cols; j += g.width) yr[j] = (xr[j] - mx) - ls;
    } else {
      const T inv = T(1) / s;
      for (int64_t j = g.lane; j < cols; j += g.width) yr[j] = dexp(xr[j] - mx) * inv;
    }
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
template <class T, bool WARP>
__global__ void softmax_backward_kernel(int64_t rows, int64_t cols, gptr<const T> dy,
                                        gptr<const T> y, gptr<T> dx, bool log) {
  DG_SHARED(T, scratch, 32);
  const RowGroup<WARP> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const gptr<const T> dyr = dy + r * cols, yr = y + r * cols;
    const gptr<T> dxr = dx + r * cols;
    T s = T(0);
    for (int64_t j = g.lane; j < cols; j += g.width) s += log ? dyr[j] : dyr[j] * yr[j];
    s = group_sum<WARP>(s, scratch);
    for (int64_t j = g.lane; j < cols; j += g.width)
      dxr[j] = log ? dyr[j] - dexp(yr[j]) * s : yr[j] * (dyr[j] - s);
  }
}

// loss[r] = logsumexp(logits[r]) - logits[r, target[r]];
// dlogits[r] = scale * (softmax(logits[r]) - onehot(target[r])). A target outside [0, cols)
// gives NaN (the binding validates targets before the launch).
template <class T, bool WARP>
__global__ void softmax_xent_kernel(int64_t rows, int64_t cols, gptr<const T> logits,
                                    gptr<const int64_t> target, gptr<T> loss, gptr<T> dlogits,
                                    T scale) {
  DG_SHARED(T, scratch, 32);
  const RowGroup<WARP> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const gptr<const T> xr = logits + r * cols;
    const gptr<T> dr = dlogits + r * cols;
    const int64_t t = target[r];
    const bool valid = t >= 0 && t < cols;
    T mx = -dinf<T>();
    for (int64_t j = g.lane; j < cols; j += g.width) mx = dmax(mx, xr[j]);
    mx = group_max<WARP>(mx, scratch);
    T s = T(0);
    for (int64_t j = g.lane; j < cols; j += g.width) s += dexp(xr[j] - mx);
    s = group_sum<WARP>(s, scratch);
    const T inv = T(1) / s;
    for (int64_t j = g.lane; j < cols; j += g.width)
      dr[j] = valid ? scale * (dexp(xr[j] - mx) * inv - (j == t ? T(1) : T(0))) : T(NAN);
    if (g.lane == 0) loss[r] = valid ? dlog(s) - (xr[t] - mx) : T(NAN);
  }
}

}  // namespace cuda
}  // namespace dg
