// Row kernels over the last axis: softmax / log-softmax forward and backward, and the fused
// softmax cross-entropy (loss and dlogits in one pass). One block per row (grid-stride over
// rows), block reductions through warp shuffles.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// y = softmax(x) or log_softmax(x) along rows of length cols.
template <class T>
__global__ void softmax_kernel(int64_t rows, int64_t cols, gptr<const T> x, gptr<T> y, bool log) {
  DG_SHARED(T, scratch, 32);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const gptr<const T> xr = x + r * cols;
    const gptr<T> yr = y + r * cols;
    T mx = -dinf<T>();
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) mx = dmax(mx, xr[j]);
    mx = block_max(mx, scratch);
    T s = T(0);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += dexp(xr[j] - mx);
    s = block_sum(s, scratch);
    if (log) {
      // (x - max) - log(s), not x - (max + log(s)): the latter rounds log(s) to the ulp of max
      const T ls = dlog(s);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = (xr[j] - mx) - ls;
    } else {
      const T inv = T(1) / s;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = dexp(xr[j] - mx) * inv;
    }
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
template <class T>
__global__ void softmax_backward_kernel(int64_t rows, int64_t cols, gptr<const T> dy,
                                        gptr<const T> y, gptr<T> dx, bool log) {
  DG_SHARED(T, scratch, 32);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const gptr<const T> dyr = dy + r * cols, yr = y + r * cols;
    const gptr<T> dxr = dx + r * cols;
    T s = T(0);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += log ? dyr[j] : dyr[j] * yr[j];
    s = block_sum(s, scratch);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      dxr[j] = log ? dyr[j] - dexp(yr[j]) * s : yr[j] * (dyr[j] - s);
  }
}

// loss[r] = logsumexp(logits[r]) - logits[r, target[r]];
// dlogits[r] = scale * (softmax(logits[r]) - onehot(target[r])). A target outside [0, cols)
// gives NaN (the binding validates targets before the launch).
template <class T>
__global__ void softmax_xent_kernel(int64_t rows, int64_t cols, gptr<const T> logits,
                                    gptr<const int64_t> target, gptr<T> loss, gptr<T> dlogits,
                                    T scale) {
  DG_SHARED(T, scratch, 32);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const gptr<const T> xr = logits + r * cols;
    const gptr<T> dr = dlogits + r * cols;
    const int64_t t = target[r];
    const bool valid = t >= 0 && t < cols;
    T mx = -dinf<T>();
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) mx = dmax(mx, xr[j]);
    mx = block_max(mx, scratch);
    T s = T(0);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += dexp(xr[j] - mx);
    s = block_sum(s, scratch);
    const T inv = T(1) / s;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      dr[j] = valid ? scale * (dexp(xr[j] - mx) * inv - (j == t ? T(1) : T(0))) : T(NAN);
    if (threadIdx.x == 0) loss[r] = valid ? dlog(s) - (xr[t] - mx) : T(NAN);
  }
}

}  // namespace cuda
}  // namespace dg
