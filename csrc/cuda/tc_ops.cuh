// Tensor-core and asynchronous-copy primitives (sm_80+) behind small wrappers, so one kernel
// source serves the GPU (inline PTX) and the SIMT emulator (simt::mma_tf32_m16n8k8,
// simt::ldmatrix, simt::cp_async*; see simt/simt.h for the emulated semantics).
//
// Shared memory is passed as (base, element index): a float* on the GPU, a checked
// simt::SharedPtr<float> in the emulator. Global sources are gptr<const float> plus an index.
#pragma once

#include "cuda/common.cuh"

// Dynamic shared memory of `count` T (the launch passes the bytes; above 48 KB it must also
// raise cudaFuncAttributeMaxDynamicSharedMemorySize, see DG_LAUNCH_SMEM).
#ifdef DG_SIMT
#define DG_DYNAMIC_SHARED(T, name, count) ::simt::SharedPtr<T> name = ::simt::shared_array<T>(count)
#define DG_LAUNCH_SMEM(kernel, grid, block, smem_bytes, stream, ...) \
  ((void)(stream), (void)(smem_bytes), ::simt::launch(kernel, grid, block, __VA_ARGS__))
#else
#define DG_DYNAMIC_SHARED(T, name, count)              \
  extern __shared__ __align__(16) T dg_dynamic_smem[]; \
  T* name = dg_dynamic_smem
#define DG_LAUNCH_SMEM(kernel, grid, block, smem_bytes, stream, ...)                     \
  do {                                                                                   \
    if ((smem_bytes) > 48 * 1024)                                                        \
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,          \
                           static_cast<int>(smem_bytes));                                \
    kernel<<<grid, block, smem_bytes, static_cast<cudaStream_t>(stream)>>>(__VA_ARGS__); \
  } while (0)
#endif

namespace dg {
namespace cuda {

#ifdef DG_SIMT

inline uint32_t dg_to_tf32(float x) { return ::simt::tf32_round(x); }
// A register holding fp32 bits (from ldmatrix), rounded to TF32 in place.
inline uint32_t dg_round_tf32_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return ::simt::tf32_round(x);
}

inline void dg_mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  ::simt::mma_tf32_m16n8k8(d, a, b);
}

template <int X>
inline void dg_ldmatrix(uint32_t (&r)[X], const ::simt::SharedPtr<float>& s, int64_t i) {
  static_assert(X == 1 || X == 2 || X == 4, "ldmatrix .x1, .x2 or .x4");
  // Only lanes 0 .. 8X - 1 give row addresses; the others' are not read (nor checked).
  const bool used = ::simt::lane_id() < 8u * X;
  ::simt::ldmatrix(r, X, used ? s.raw_at(i, 4, 16) : nullptr);
}

// cp.async of N floats (N = 1, 2 or 4: 4, 8 or 16 bytes), the first n_src of them read from
// src[si..] and the rest zero-filled (n_src = 0: nothing is read, src need not be valid).
template <int N>
inline void dg_cp_async(const ::simt::SharedPtr<float>& s, int64_t di, const gptr<const float>& src,
                        int64_t si, int n_src) {
  static_assert(N == 1 || N == 2 || N == 4, "cp.async of 4, 8 or 16 bytes");
  float* d = s.raw_at(di, N, 4 * N);
  const float* g = n_src > 0 ? src.at(si, n_src, 4 * N) : nullptr;
  ::simt::cp_async(d, g, 4 * N, 4 * n_src);
}

inline void dg_cp_async_commit() { ::simt::cp_async_commit(); }
template <int N>
inline void dg_cp_async_wait() {
  ::simt::cp_async_wait(N);
}

#else  // the GPU: inline PTX (sm_80+; only reached from code compiled for sm_80 and up)

__device__ __forceinline__ uint32_t dg_to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ uint32_t dg_round_tf32_bits(uint32_t u) {
  return dg_to_tf32(__uint_as_float(u));
}

// D = A(16x8, row) * B(8x8, col) + D in TF32 with FP32 accumulation.
__device__ __forceinline__ void dg_mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4],
                                                   const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t dg_smem_addr(const float* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

template <int X>
__device__ __forceinline__ void dg_ldmatrix(uint32_t (&r)[X], const float* s, int64_t i) {
  static_assert(X == 1 || X == 2 || X == 4, "ldmatrix .x1, .x2 or .x4");
  const uint32_t a = dg_smem_addr(s + i);
  if constexpr (X == 4) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
  } else if constexpr (X == 2) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
  }
}

template <int N>
__device__ __forceinline__ void dg_cp_async(float* s, int64_t di, const float* src, int64_t si,
                                            int n_src) {
  static_assert(N == 1 || N == 2 || N == 4, "cp.async of 4, 8 or 16 bytes");
  const uint32_t d = dg_smem_addr(s + di);
  // With src-size 0 nothing is read; src must still be a valid generic address form.
  const float* g = n_src > 0 ? src + si : src;
  if constexpr (N == 4) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(g),
                 "r"(4 * n_src));
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(g), "n"(4 * N),
                 "r"(4 * n_src));
  }
}

__device__ __forceinline__ void dg_cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void dg_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

#endif  // DG_SIMT

}  // namespace cuda
}  // namespace dg
