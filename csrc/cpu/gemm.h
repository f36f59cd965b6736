// GEMM: C = alpha * op(A) @ op(B) + beta * C on strided row-major views, float32 and float64.
//
// Transposes never move data: op(A) is A read with its strides swapped, so every view the
// binding receives (transposed, sliced, negative strides) is handled by the packing routines.
#pragma once

#include <cstdint>

namespace dg {

// Called on each finished block of C (rows x cols, row stride rsc, unit column stride), while it
// is still in cache, with the block's first column index `col0`. This is how the fused linear
// layer applies bias + activation without another pass over C. Must be thread-safe, must not
// throw, and must not call gemm() itself (the scratch buffers belong to the calling thread). The
// blocks are disjoint and cover C exactly once; their shape depends on the path taken (up to MR
// rows x a few hundred columns when packed, a whole row panel for small products, a few elements
// for a thin C), and `c` points at the block's first element, not at C's.
template <class T>
struct GemmEpilogue {
  void (*fn)(T* c, int64_t rsc, int64_t rows, int64_t cols, int64_t col0,
             const void* ctx) = nullptr;
  const void* ctx = nullptr;
};

template <class T>
struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;  // op(A) is m x k, op(B) is k x n, C is m x n
  const T* a = nullptr;
  int64_t rsa = 0, csa = 0;  // element strides of op(A): op(A)[i][p] = a[i*rsa + p*csa]
  const T* b = nullptr;
  int64_t rsb = 0, csb = 0;  // op(B)[p][j] = b[p*rsb + j*csb]
  T* c = nullptr;
  int64_t rsc = 0, csc = 0;  // C[i][j] = c[i*rsc + j*csc]
  T alpha = 1, beta = 0;     // beta == 0: C is not read (NaN in C does not propagate, as BLAS)
  GemmEpilogue<T> epilogue;  // applied only when csc == 1
};

// The fast kernel for the active ISA (cpu_isa.h), using dg::num_threads() threads.
void gemm(const GemmArgs<float>& args);
void gemm(const GemmArgs<double>& args);

// The test oracle: a plain triple loop, single-threaded, same contract (epilogue included).
void gemm_reference(const GemmArgs<float>& args);
void gemm_reference(const GemmArgs<double>& args);

}  // namespace dg
