// The GEMM launcher: picks the operand load strategy, the tile configuration and the FP32 SIMT
// or TF32 tensor-core kernel. Compiled by nvcc (gemm.cu) and by the emulator (simt_kernels.cpp).
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <type_traits>

#include "cuda/gemm.cuh"
#include "cuda/gemm_tc.cuh"
#include "cuda/launch_check.cuh"
#include "cuda/ops.h"

namespace dg {
namespace cuda {

#ifdef DG_SIMT
constexpr int64_t kGemmMaxGridY = 3;
#else
constexpr int64_t kGemmMaxGridY = 65535;
#endif

template <class T>
GemmDev<T> gemm_dev(const GemmParams<T>& p) {
  GemmDev<T> d;
  d.m = p.m;
  d.n = p.n;
  // alpha == 0: an empty product, so A and B are not read and C = beta * C, as BLAS and the CPU
  // kernels (a NaN or inf in A or B must not turn 0 * (A @ B) into NaN)
  d.k = p.alpha == T(0) ? 0 : p.k;
  d.a = p.a;
  d.rsa = p.rsa;
  d.csa = p.csa;
  d.b = p.b;
  d.rsb = p.rsb;
  d.csb = p.csb;
  d.c = p.c;
  d.rsc = p.rsc;
  d.csc = p.csc;
  d.alpha = p.alpha;
  d.beta = p.beta;
  d.bias = p.bias;
  d.act = p.act;
  d.param = p.param;
  d.z = p.z;
  const bool f32 = std::is_same<T, float>::value;
  auto aligned16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  // A 16-byte load needs 4 consecutive elements (unit stride), every row start aligned.
  d.a_vec = f32 && p.csa == 1 && (p.m == 1 || p.rsa % 4 == 0) && aligned16(p.a);
  d.a_kmajor = std::llabs(p.csa) <= std::llabs(p.rsa);
  d.b_vec = f32 && p.csb == 1 && (p.k == 1 || p.rsb % 4 == 0) && aligned16(p.b);
  d.b_nmajor = std::llabs(p.csb) <= std::llabs(p.rsb);
  // The SIMT kernel's fetch per operand: so / sk are the strides along o (m or n) and along k.
  // A 16-byte vector (V4<T>: 16-byte aligned for float and double) needs unit stride along the
  // loaded dimension, the other stride a multiple of 4 (every group starts aligned) and an
  // aligned base. x @ W.T: B = W.T is contiguous along k, so it is fetched 16 bytes at a time.
  auto mode = [&](const void* q, int64_t so, int64_t sk, int64_t o, int64_t k) {
    if (sk == 1 && (o == 1 || so % 4 == 0) && aligned16(q)) return kOperandVecK;
    if (so == 1 && (k == 1 || sk % 4 == 0) && aligned16(q)) return kOperandVecO;
    return std::llabs(sk) <= std::llabs(so) ? kOperandScalarK : kOperandScalarO;
  };
  d.a_mode = mode(p.a, p.rsa, p.csa, p.m, p.k);
  d.b_mode = mode(p.b, p.csb, p.rsb, p.n, p.k);
  d.c_vec = p.csc == 1 && (p.m == 1 || p.rsc % 4 == 0) && aligned16(p.c) &&
            (p.z == nullptr || aligned16(p.z));
  return d;
}

#ifndef DG_SIMT
inline bool device_has_tf32() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return false;
  return major >= 8;
}
#endif

template <class T>
void gemm(const GemmParams<T>& p, Precision precision, GemmTile tile, void* stream) {
  if (p.m <= 0 || p.n <= 0) return;
  const GemmDev<T> d = gemm_dev(p);
  const int64_t tiles128 = ((p.m + 127) / 128) * ((p.n + 127) / 128);
  // Too few large tiles to fill the GPU: use the 64x64 configuration (more blocks). The TF32
  // kernel's large tile is 128 x 128 (two blocks per SM); the FP32 SIMT kernel's 128 x 64 (three
  // per SM, so twice the 128 x 128 count, under two blocks per SM of a 132-SM GPU).
  const bool tf32_path = std::is_same<T, float>::value && precision == Precision::tf32;
  const bool small = tile == GemmTile::small ||
                     (tile == GemmTile::automatic && (tf32_path ? tiles128 < 96 : tiles128 < 132));
  // N tiles in grid.x (up to 2^31 - 1), M tiles in grid.y, capped: the kernels loop over the
  // M tiles past the cap (grid.y allows 65535; the emulator build uses 3, so its tests cover
  // the loop).
  auto grid = [&](int bm, int bn) {
    const int64_t tn = (p.n + bn - 1) / bn, tm = (p.m + bm - 1) / bm;
    if (tn > 0x7fffffff) throw std::invalid_argument("matmul: n too large for the grid");
    return dim3(static_cast<unsigned>(tn),
                static_cast<unsigned>(tm < kGemmMaxGridY ? tm : kGemmMaxGridY));
  };
  if constexpr (std::is_same<T, float>::value) {
    // TF32 falls back to FP32 on GPUs without TF32 tensor cores (as torch's allow_tf32 does);
    // the emulator models them (simt::mma_tf32_m16n8k8).
#ifdef DG_SIMT
    const bool tf32 = precision == Precision::tf32;
#else
    const bool tf32 = precision == Precision::tf32 && device_has_tf32();
#endif
    if (tf32) {
      // 16-byte cp.async needs a k-contiguous operand with 16-byte aligned rows.
      auto al16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
      TcCopy cp;
      cp.a_vec = p.csa == 1 && (p.m == 1 || p.rsa % 4 == 0) && al16(p.a);
      cp.a_kmajor = std::llabs(p.csa) <= std::llabs(p.rsa);
      cp.b_vec = p.rsb == 1 && (p.n == 1 || p.csb % 4 == 0) && al16(p.b);
      cp.b_kmajor = std::llabs(p.rsb) <= std::llabs(p.csb);
      // 4 stages of 64 x 32 (64 KB) / 3 stages of 128 x 32 (96 KB): dynamic shared memory
      // above 48 KB (DG_LAUNCH_SMEM raises the kernel's limit).
      if (small) {
        auto kernel = &gemm_tf32_kernel<64, 64, 32, 32, 128, 4, 2>;
        constexpr int smem = tf32_smem_bytes<64, 64, 4>();
        DG_LAUNCH_SMEM(kernel, grid(64, 64), dim3(128), smem, stream, d, cp);
      } else {
        auto kernel = &gemm_tf32_kernel<128, 128, 64, 32, 256, 3, 2>;
        constexpr int smem = tf32_smem_bytes<128, 128, 3>();
        DG_LAUNCH_SMEM(kernel, grid(128, 128), dim3(256), smem, stream, d, cp);
      }
      check_launch("matmul (tf32)");
      return;
    }
  }
  // Block tile BM x BN x BK, warp tile WM x WN, WNITER sub-tiles across n, 4 x 4 per lane and
  // sub-tile, 128 threads, three blocks per SM. FP32: 128 x 64 (64 outputs per thread, at most
  // 168 registers) or 64 x 64 for small problems; FP64: 64 x 64 always (a larger double tile
  // does not fit the registers without spilling).
  constexpr bool f32 = std::is_same<T, float>::value;
  bool launched = false;
  if constexpr (f32) {
    if (!small) {
      auto kernel = &gemm_simt_kernel<T, 128, 64, 16, 64, 32, 2, 4, 4, 128>;
      DG_LAUNCH(kernel, grid(128, 64), dim3(128), stream, d);
      launched = true;
    }
  }
  if (!launched) {
    auto kernel = &gemm_simt_kernel < T, 64, 64, f32 ? 16 : 8, 32, 32, 2, 4, 4, 128 > ;
    DG_LAUNCH(kernel, grid(64, 64), dim3(128), stream, d);
  }
  check_launch("matmul");
}

template <class T>
void gemm_batched(const GemmParams<T>& p, int ndim, const int64_t* shape, const int64_t* sa,
                  const int64_t* sb, const int64_t* sc, Precision precision, GemmTile tile,
                  void* stream) {
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) count *= shape[d];
  for (int64_t i = 0; i < count; ++i) {
    GemmParams<T> q = p;
    for (int64_t d = ndim - 1, r = i; d >= 0; --d) {
      const int64_t j = r % shape[d];
      r /= shape[d];
      q.a += j * sa[d];
      q.b += j * sb[d];
      q.c += j * sc[d];
    }
    gemm<T>(q, precision, tile, stream);
  }
}

#define DG_INSTANTIATE_GEMM(T)                                                             \
  template void gemm<T>(const GemmParams<T>&, Precision, GemmTile, void*);                 \
  template void gemm_batched<T>(const GemmParams<T>&, int, const int64_t*, const int64_t*, \
                                const int64_t*, const int64_t*, Precision, GemmTile, void*);

}  // namespace cuda
}  // namespace dg
