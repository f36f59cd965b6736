// Reductions: y[o, i] = scale * sum_j x[o, j, i] for x viewed as (outer, n, inner), contiguous.
// inner == 1 (rows, or the whole array): one block per row with a block reduction;
// inner > 1 (columns, e.g. the bias gradient = column sums of dz): one thread per output,
// walking down its column, neighbouring threads reading neighbouring addresses.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

template <class T>
__global__ void reduce_rows_kernel(int64_t outer, int64_t n, gptr<const T> x, gptr<T> y, T scale) {
  DG_SHARED(T, scratch, 32);
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const gptr<const T> xr = x + o * n;
    T s = T(0);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) y[o] = scale * s;
  }
}

template <class T>
__global__ void reduce_cols_kernel(int64_t outer, int64_t n, int64_t inner, gptr<const T> x,
                                   gptr<T> y, T scale) {
  const int64_t total = outer * inner;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < total;
       q += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const gptr<const T> xc = x + o * n * inner + i;
    T s = T(0);
    for (int64_t j = 0; j < n; ++j) s += xc[j * inner];
    y[q] = scale * s;
  }
}

}  // namespace cuda
}  // namespace dg
