// The launchers of every non-GEMM kernel (the GEMM's: gemm_launch.cuh): grid / block sizes and
// host-side constants.
// Compiled by nvcc (ops.cu) and by the emulator (simt_kernels.cpp).
#pragma once

#include <cmath>

#include "cuda/activation.cuh"
#include "cuda/launch_check.cuh"
#include "cuda/loss.cuh"
#include "cuda/ops.h"
#include "cuda/optim.cuh"
#include "cuda/reduce.cuh"
#include "cuda/softmax.cuh"

namespace dg {
namespace cuda {

constexpr unsigned kElementwiseThreads = 256;
constexpr unsigned kMaxRowBlocks = 65535u * 8;

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Blocks for an elementwise kernel over `work` items: enough for every item, at most 8 blocks
// of 256 threads per SM (the grid-stride loops do the rest, several items per thread).
inline unsigned elementwise_blocks(int64_t work) {
#ifdef DG_SIMT
  const int64_t sms = 2;  // the emulator: small grids, so its tests run the grid-stride loops
#else
  static thread_local int dev = -1, sms_cached = 0;
  int cur = 0;
  if (cudaGetDevice(&cur) != cudaSuccess) cur = 0;
  if (cur != dev) {
    dev = cur;
    if (cudaDeviceGetAttribute(&sms_cached, cudaDevAttrMultiProcessorCount, cur) != cudaSuccess)
      sms_cached = 132;
  }
  const int64_t sms = sms_cached;
#endif
  return blocks_for(work, kElementwiseThreads, static_cast<unsigned>(sms * 8));
}

template <class T>
void activation(int64_t n, const T* x, T* y, int act, T param, void* stream) {
  if (n <= 0) return;
  const bool vec = aligned16(x) && aligned16(y);
  DG_LAUNCH(activation_kernel<T>, dim3(elementwise_blocks((n + 3) / 4)), dim3(kElementwiseThreads),
            stream, n, x, y, act, param, vec);
  check_launch("activation");
}

template <class T>
void activation_backward(int64_t n, const T* dy, const T* saved, T* dx, int act, T param,
                         void* stream) {
  if (n <= 0) return;
  const bool vec = aligned16(dy) && aligned16(saved) && aligned16(dx);
  DG_LAUNCH(activation_backward_kernel<T>, dim3(elementwise_blocks((n + 3) / 4)),
            dim3(kElementwiseThreads), stream, n, dy, saved, dx, act, param, vec);
  check_launch("activation_backward");
}

inline unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(rows < kMaxRowBlocks ? rows : kMaxRowBlocks);
}

// Row kernels: one warp per row (8 rows per block of 256) up to kWarpRowCols columns, else one
// block per row.
inline bool warp_rows(int64_t cols) { return cols <= kWarpRowCols; }
inline dim3 row_grid(int64_t rows, int64_t cols) {
  return dim3(warp_rows(cols) ? row_blocks((rows + 7) / 8) : row_blocks(rows));
}
inline dim3 row_block(int64_t cols) { return dim3(warp_rows(cols) ? 256 : row_threads(cols)); }

template <class T>
void softmax(int64_t rows, int64_t cols, const T* x, T* y, bool log, void* stream) {
  if (rows <= 0 || cols <= 0) return;
  if (warp_rows(cols)) {
    auto kernel = &softmax_kernel<T, true>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, x, y, log);
  } else {
    auto kernel = &softmax_kernel<T, false>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, x, y, log);
  }
  check_launch("softmax");
}

template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* dy, const T* y, T* dx, bool log,
                      void* stream) {
  if (rows <= 0 || cols <= 0) return;
  if (warp_rows(cols)) {
    auto kernel = &softmax_backward_kernel<T, true>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, dy, y, dx, log);
  } else {
    auto kernel = &softmax_backward_kernel<T, false>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, dy, y, dx, log);
  }
  check_launch("softmax_backward");
}

template <class T>
void softmax_xent(int64_t rows, int64_t cols, const T* logits, const int64_t* target, T* loss,
                  T* dlogits, T scale, void* stream) {
  if (rows <= 0 || cols <= 0) return;
  if (warp_rows(cols)) {
    auto kernel = &softmax_xent_kernel<T, true>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, logits, target,
              loss, dlogits, scale);
  } else {
    auto kernel = &softmax_xent_kernel<T, false>;
    DG_LAUNCH(kernel, row_grid(rows, cols), row_block(cols), stream, rows, cols, logits, target,
              loss, dlogits, scale);
  }
  check_launch("softmax_cross_entropy");
}

template <class T>
void pointwise_loss(int64_t n, int kind, const T* y, const T* t, T* loss, T* grad, T scale,
                    void* stream) {
  if (n <= 0) return;
  DG_LAUNCH(pointwise_loss_kernel<T>, dim3(blocks_for(n, kElementwiseThreads)),
            dim3(kElementwiseThreads), stream, n, kind, y, t, loss, grad, scale);
  check_launch("loss");
}

constexpr int64_t kSegment = 4096;  // elements per block in the first pass of a long row
// Column sums: split the rows into segments when there are fewer than kColBlocks column tiles
// (about 4 blocks per SM of an H100 / H200), each segment at least kColMinRows rows.
constexpr int64_t kColBlocks = 512, kColMinRows = 64;

// The partial sums a reduction's first pass writes (reduce_work_len; 0: one pass), the same
// formula as backends/cuda.py's _reduce, which allocates `work`.
inline int64_t reduce_parts(int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) return (n + kSegment - 1) / kSegment;
  const int64_t tiles = outer * ((inner + kColTile - 1) / kColTile);
  const int64_t want = (kColBlocks + tiles - 1) / tiles, most = n / kColMinRows;
  return want < most ? want : most;
}

template <class T>
void reduce_sum(int64_t outer, int64_t n, int64_t inner, const T* x, T* y, T scale, T* work,
                int64_t work_len, void* stream) {
  if (outer <= 0 || inner <= 0) return;
  int64_t parts = reduce_parts(outer, n, inner);
  // Never more partial sums than `work` holds: fewer, longer segments (not one block per row).
  if (work == nullptr || outer * inner <= 0) parts = 1;
  if (parts > 1 && outer * inner * parts > work_len) parts = work_len / (outer * inner);
  if (parts < 2) parts = 1;
  const int64_t seg = (n + parts - 1) / parts;
  if (inner == 1) {
    if (parts == 1) {
      DG_LAUNCH(reduce_rows_kernel<T>, dim3(row_blocks(outer)), dim3(row_threads(n)), stream, outer,
                n, int64_t{1}, n, x, y, scale);
    } else {
      DG_LAUNCH(reduce_rows_kernel<T>, dim3(row_blocks(outer * parts)), dim3(256), stream, outer, n,
                parts, seg, x, work, T(1));
      check_launch("sum (first pass)");
      DG_LAUNCH(reduce_rows_kernel<T>, dim3(row_blocks(outer)), dim3(row_threads(parts)), stream,
                outer, parts, int64_t{1}, parts, static_cast<const T*>(work), y, scale);
    }
  } else {
    const int64_t tiles = outer * ((inner + kColTile - 1) / kColTile);
    if (parts == 1) {
      DG_LAUNCH(reduce_cols_kernel<T>, dim3(row_blocks(tiles)), dim3(kColTile, kColRows), stream,
                outer, n, inner, int64_t{1}, n, x, y, scale);
    } else {
      DG_LAUNCH(reduce_cols_kernel<T>, dim3(row_blocks(tiles * parts)), dim3(kColTile, kColRows),
                stream, outer, n, inner, parts, seg, x, work, T(1));
      check_launch("sum (first pass)");
      DG_LAUNCH(reduce_cols_kernel<T>, dim3(row_blocks(tiles)), dim3(kColTile, kColRows), stream,
                outer, parts, inner, int64_t{1}, parts, static_cast<const T*>(work), y, scale);
    }
  }
  check_launch("sum");
}

template <class T>
void sgd_update(int64_t n, T* param, const T* grad, T* buf, double lr, double momentum,
                double weight_decay, bool nesterov, double dampening, bool first_step,
                void* stream) {
  if (n <= 0) return;
  DG_LAUNCH(sgd_kernel<T>, dim3(blocks_for(n, kElementwiseThreads)), dim3(kElementwiseThreads),
            stream, n, param, grad, buf, static_cast<T>(lr), static_cast<T>(momentum),
            static_cast<T>(weight_decay), nesterov, static_cast<T>(1.0 - dampening), first_step);
  check_launch("sgd_update");
}

template <class T>
void adam_update(int64_t n, T* param, const T* grad, T* m, T* v, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 void* stream) {
  if (n <= 0) return;
  const double t = static_cast<double>(step);
  AdamConsts<T> k;
  k.beta1 = static_cast<T>(beta1);
  k.c1 = static_cast<T>(1.0 - beta1);
  k.beta2 = static_cast<T>(beta2);
  k.c2 = static_cast<T>(1.0 - beta2);
  k.eps = static_cast<T>(eps);
  k.weight_decay = static_cast<T>(weight_decay);
  k.decay = static_cast<T>(1.0 - lr * weight_decay);
  k.step_size = static_cast<T>(lr / (1.0 - std::pow(beta1, t)));
  k.inv_bc2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(beta2, t)));
  k.decoupled = decoupled;
  DG_LAUNCH(adam_kernel<T>, dim3(blocks_for(n, kElementwiseThreads)), dim3(kElementwiseThreads),
            stream, n, param, grad, m, v, k);
  check_launch("adam_update");
}

#define DG_INSTANTIATE_OPS(T)                                                                  \
  template void activation<T>(int64_t, const T*, T*, int, T, void*);                           \
  template void activation_backward<T>(int64_t, const T*, const T*, T*, int, T, void*);        \
  template void softmax<T>(int64_t, int64_t, const T*, T*, bool, void*);                       \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*, bool, void*);    \
  template void softmax_xent<T>(int64_t, int64_t, const T*, const int64_t*, T*, T*, T, void*); \
  template void pointwise_loss<T>(int64_t, int, const T*, const T*, T*, T*, T, void*);         \
  template void reduce_sum<T>(int64_t, int64_t, int64_t, const T*, T*, T, T*, int64_t, void*); \
  template void sgd_update<T>(int64_t, T*, const T*, T*, double, double, double, bool, double, \
                              bool, void*);                                                    \
  template void adam_update<T>(int64_t, T*, const T*, T*, T*, int64_t, double, double, double, \
                               double, double, bool, void*);

}  // namespace cuda
}  // namespace dg
