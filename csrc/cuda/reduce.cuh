// Reductions: y[o, i] = scale * sum_j x[o, j, i] for x viewed as (outer, n, inner), contiguous.
// inner == 1 (rows, or the whole array): one block per row with a block reduction, or, for a
// few long rows, one block per segment and a second pass over the partial sums;
// inner > 1 (columns, e.g. the bias gradient = column sums of dz): a block per 32 columns,
// 8 rows of threads per block, neighbouring threads reading neighbouring addresses; with few
// column tiles, also a block per segment of rows and a second pass over the partial sums.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// y[q] = scale * (the sum of segment p of row o), q = o * parts + p; segment p covers
// [p * seg, min((p + 1) * seg, n)) of the row. parts = 1 is a plain row sum; parts > 1 is the
// first pass of a two-pass reduction of a few long rows.
template <class T>
__global__ void reduce_rows_kernel(int64_t outer, int64_t n, int64_t parts, int64_t seg,
                                   gptr<const T> x, gptr<T> y, T scale) {
  DG_SHARED(T, scratch, 32);
  for (int64_t q = blockIdx.x; q < outer * parts; q += gridDim.x) {
    const int64_t o = q / parts, lo = (q % parts) * seg;
    const int64_t hi = n < lo + seg ? n : lo + seg;
    const gptr<const T> xr = x + o * n;
    T s = T(0);
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) s += xr[j];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) y[q] = scale * s;
  }
}

// Column sums: a (32 x 8) block owns 32 neighbouring columns of one outer slice and one segment
// of its n rows; its 8 rows of threads walk down the segment in a stride of 8 (each warp reads
// 32 consecutive elements), and the 8 partial sums are added through shared memory.
// y[q * inner + i], q = o * parts + p: segment p covers rows [p * seg, min((p + 1) * seg, n)).
// parts = 1 is a plain column sum; parts > 1 is the first pass when there are too few column
// tiles to fill the GPU (the bias gradient of 1,024 features: 32 tiles).
constexpr unsigned kColTile = 32, kColRows = 8;

template <class T>
__global__ void reduce_cols_kernel(int64_t outer, int64_t n, int64_t inner, int64_t parts,
                                   int64_t seg, gptr<const T> x, gptr<T> y, T scale) {
  DG_SHARED(T, part, kColRows * (kColTile + 1));
  const int64_t tiles = (inner + kColTile - 1) / kColTile;
  const unsigned tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t b = blockIdx.x; b < outer * parts * tiles; b += gridDim.x) {
    const int64_t q = b / tiles, o = q / parts, i = (b % tiles) * kColTile + tx;
    const int64_t lo = (q % parts) * seg, hi = n < lo + seg ? n : lo + seg;
    T s = T(0);
    if (i < inner) {
      const gptr<const T> xc = x + o * n * inner + i;
      for (int64_t j = lo + ty; j < hi; j += kColRows) s += xc[j * inner];
    }
    part[ty * (kColTile + 1) + tx] = s;
    __syncthreads();
    if (ty == 0) {
      T t = T(0);
      for (unsigned r = 0; r < kColRows; ++r) t += part[r * (kColTile + 1) + tx];
      if (i < inner) y[q * inner + i] = scale * t;
    }
    __syncthreads();  // part is rewritten by the next tile
  }
}

}  // namespace cuda
}  // namespace dg
