// The host-side launch API of the CUDA kernels (raw device pointers, element counts, a stream).
// Implemented twice from one source (cuda/launch.cuh): by nvcc for the GPU (_cuda) and by the
// host compiler for the SIMT emulator (_simt). Callers validate; these only launch.
#pragma once

#include <cstdint>

#include "cuda/gemm_params.h"

namespace dg {
namespace cuda {

// Whether DG_CUDA_SYNC makes every launch synchronize and check (cuda/launch_check.cuh).
bool sync_mode();

enum class Precision : int { fp32 = 0, tf32 = 1 };
// Which GEMM tiling to use: auto by size, the 128x128 block tile or the 64x64 one (tests).
enum class GemmTile : int { automatic = 0, large = 1, small = 2 };

template <class T>
void gemm(const GemmParams<T>& p, Precision precision, GemmTile tile, void* stream);
// The strided-batched GEMM: p is product 0 (no bias, act or z); product i of the ndim-D batch
// `shape` (row-major) has its operands at element offsets sum_d i_d * sa[d] (sb, sc) from p's,
// 0 along a broadcast dimension. For now one launch per product, in turn on `stream`.
template <class T>
void gemm_batched(const GemmParams<T>& p, int ndim, const int64_t* shape, const int64_t* sa,
                  const int64_t* sb, const int64_t* sc, Precision precision, GemmTile tile,
                  void* stream);
template <class T>
void activation(int64_t n, const T* x, T* y, int act, T param, void* stream);
template <class T>
void activation_backward(int64_t n, const T* dy, const T* saved, T* dx, int act, T param,
                         void* stream);
template <class T>
void softmax(int64_t rows, int64_t cols, const T* x, T* y, bool log, void* stream);
template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* dy, const T* y, T* dx, bool log,
                      void* stream);
template <class T>
void softmax_xent(int64_t rows, int64_t cols, const T* logits, const int64_t* target, T* loss,
                  T* dlogits, T scale, void* stream);
template <class T>
void pointwise_loss(int64_t n, int kind, const T* y, const T* t, T* loss, T* grad, T scale,
                    void* stream);
// work (may be null): scratch of work_len elements for the two-pass reduction of long rows.
template <class T>
void reduce_sum(int64_t outer, int64_t n, int64_t inner, const T* x, T* y, T scale, T* work,
                int64_t work_len, void* stream);
// The optimizers take their hyperparameters as double (as the CPU kernels): the constants
// derived from them (1 - beta, the bias corrections) are computed in double, then rounded.
template <class T>
void sgd_update(int64_t n, T* param, const T* grad, T* buf, double lr, double momentum,
                double weight_decay, bool nesterov, double dampening, bool first_step,
                void* stream);
template <class T>
void adam_update(int64_t n, T* param, const T* grad, T* m, T* v, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 void* stream);

}  // namespace cuda
}  // namespace dg
