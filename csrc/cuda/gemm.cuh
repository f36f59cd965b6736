// GEMM kernels: C = act(alpha * op(A) @ op(B) + beta * C + bias), with op() given by strides.
//
// gemm_simt_kernel: the FP32/FP64 SIMT kernel. A block computes a BM x BN tile of C, stepping
// over K in BK slices staged in shared memory (A transposed, so both operands are read along
// the tile's rows). The block's warps split the tile into WM x WN warp tiles, and each lane
// computes WMITER x WNITER sub-tiles of TM x TN outputs from register fragments, loaded from
// shared memory four at a time. Global loads are 16-byte vectors when the operand is
// contiguous along the loaded dimension and aligned (float only), scalar otherwise; every
// edge element is bounds-checked and zero-filled, so any M, N, K works.
//
// The TF32 tensor-core kernel lives in gemm_tc.cuh.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"
#include "cuda/gemm_params.h"

namespace dg {
namespace cuda {

// The kernel's view: checked pointers in the emulator, plus the load strategy per operand.
template <class T>
struct GemmDev {
  int64_t m, n, k;
  gptr<const T> a;
  int64_t rsa, csa;
  gptr<const T> b;
  int64_t rsb, csb;
  gptr<T> c;
  int64_t rsc, csc;
  T alpha, beta;
  gptr<const T> bias;
  int act;
  T param;
  gptr<T> z;
  bool a_vec, a_kmajor;  // A: 16-byte loads along k / scalar loads along k (else along m)
  bool b_vec, b_nmajor;  // B: 16-byte loads along n / scalar loads along n (else along k)
};

// Elements base + j .. base + j + 3 of one operand row: a 16-byte load when the row exists and
// all four columns are inside (j + 3 < limit), else one by one, zero outside the matrix.
template <class T>
__device__ __forceinline__ V4<T> ld4_edge(const gptr<const T>& src, bool row, int64_t base,
                                          int64_t j, int64_t limit) {
  if (row && j + 3 < limit) return ld4(src, base + j);
  V4<T> v;
  v.x = row && j + 0 < limit ? src[base + j + 0] : T(0);
  v.y = row && j + 1 < limit ? src[base + j + 1] : T(0);
  v.z = row && j + 2 < limit ? src[base + j + 2] : T(0);
  v.w = row && j + 3 < limit ? src[base + j + 3] : T(0);
  return v;
}

// Stage the BM x BK slice of A at (m0, k0) into As[k * LDA + m], zero outside the matrix.
template <class T, int BM, int BK, int LDA, int NT, class S>
__device__ __forceinline__ void gemm_load_a(const GemmDev<T>& p, S& As, int64_t m0, int64_t k0,
                                            int tid) {
  if (p.a_vec) {
    constexpr int kVecs = BK / 4;
    for (int f = tid; f < BM * kVecs; f += NT) {
      const int r = f / kVecs, c = (f % kVecs) * 4;
      const int64_t gm = m0 + r, gk = k0 + c;
      const V4<T> v = ld4_edge(p.a, gm < p.m, gm * p.rsa, gk, p.k);
      As[(c + 0) * LDA + r] = v.x;
      As[(c + 1) * LDA + r] = v.y;
      As[(c + 2) * LDA + r] = v.z;
      As[(c + 3) * LDA + r] = v.w;
    }
  } else if (p.a_kmajor) {
    for (int f = tid; f < BM * BK; f += NT) {
      const int r = f / BK, c = f % BK;
      const int64_t gm = m0 + r, gk = k0 + c;
      As[c * LDA + r] = gm < p.m && gk < p.k ? p.a[gm * p.rsa + gk * p.csa] : T(0);
    }
  } else {
    for (int f = tid; f < BM * BK; f += NT) {
      const int c = f / BM, r = f % BM;
      const int64_t gm = m0 + r, gk = k0 + c;
      As[c * LDA + r] = gm < p.m && gk < p.k ? p.a[gm * p.rsa + gk * p.csa] : T(0);
    }
  }
}

// Stage the BK x BN slice of B at (k0, n0) into Bs[k * LDB + n], zero outside the matrix.
template <class T, int BN, int BK, int LDB, int NT, class S>
__device__ __forceinline__ void gemm_load_b(const GemmDev<T>& p, S& Bs, int64_t k0, int64_t n0,
                                            int tid) {
  if (p.b_vec) {
    constexpr int kVecs = BN / 4;
    for (int f = tid; f < BK * kVecs; f += NT) {
      const int r = f / kVecs, c = (f % kVecs) * 4;
      const int64_t gk = k0 + r, gn = n0 + c;
      const V4<T> v = ld4_edge(p.b, gk < p.k, gk * p.rsb, gn, p.n);
      st4(Bs, r * LDB + c, v);
    }
  } else if (p.b_nmajor) {
    for (int f = tid; f < BK * BN; f += NT) {
      const int r = f / BN, c = f % BN;
      const int64_t gk = k0 + r, gn = n0 + c;
      Bs[r * LDB + c] = gk < p.k && gn < p.n ? p.b[gk * p.rsb + gn * p.csb] : T(0);
    }
  } else {
    for (int f = tid; f < BK * BN; f += NT) {
      const int c = f / BK, r = f % BK;
      const int64_t gk = k0 + r, gn = n0 + c;
      Bs[r * LDB + c] = gk < p.k && gn < p.n ? p.b[gk * p.rsb + gn * p.csb] : T(0);
    }
  }
}

// Activations cheap enough to inline into the unrolled epilogue of every output (a compare and
// a select); the others (erf, exp, tanh, log1p: 20-60 instructions each) are applied by
// gemm_act_pass in a loop that is not unrolled, so each kernel holds one copy of them.
__host__ __device__ inline bool act_is_cheap(int act) {
  return act == static_cast<int>(Act::identity) || act == static_cast<int>(Act::relu) ||
         act == static_cast<int>(Act::leaky_relu);
}

template <class T>
__device__ __forceinline__ T act_cheap(int act, T x, T param) {
  if (act == static_cast<int>(Act::relu)) return x > T(0) || x != x ? x : T(0);
  if (act == static_cast<int>(Act::leaky_relu)) return x > T(0) ? x : param * x;
  return x;
}

// The epilogue of one output element (the caller checks m < M and n < N). With an expensive
// activation it stores the pre-activation, which gemm_act_pass then rewrites in place.
template <class T, class Acc>
__device__ __forceinline__ void gemm_store(const GemmDev<T>& p, int64_t m, int64_t n, Acc acc,
                                           bool cheap) {
  const int64_t ci = m * p.rsc + n * p.csc;
  T v = p.alpha * static_cast<T>(acc);
  if (p.beta != T(0)) v += p.beta * p.c[ci];  // beta == 0: C is not read (it may hold NaN)
  if (p.bias) v += p.bias[n];
  if (p.z) p.z[ci] = v;
  p.c[ci] = cheap ? act_cheap(p.act, v, p.param) : v;
}

// The expensive activation over this thread's outputs (rows m0 + rm(i), columns n0 + cn(j)),
// which it stored itself: a rolled loop, one inlined copy of act_forward per kernel.
template <class T, int RI, int CJ, class RowOf, class ColOf>
__device__ __forceinline__ void gemm_act_pass(const GemmDev<T>& p, RowOf rm, ColOf cn) {
#ifndef DG_SIMT
#pragma unroll 1
#endif
  for (int f = 0; f < RI * CJ; ++f) {
    const int64_t m = rm(f / CJ), n = cn(f % CJ);
    if (m < p.m && n < p.n) {
      const int64_t ci = m * p.rsc + n * p.csc;
      p.c[ci] = act_forward(p.act, static_cast<T>(p.c[ci]), p.param);
    }
  }
}

template <class T, int BM, int BN, int BK, int WM, int WN, int WNITER, int TM, int TN, int NT>
__global__ void __launch_bounds__(NT) gemm_simt_kernel(GemmDev<T> p) {
  constexpr int LDA = BM + 4, LDB = BN + 4;  // padding: fewer bank conflicts on staging stores
  constexpr int WMITER = (WM * WN) / (32 * TM * TN * WNITER);
  constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
  constexpr int LANES_N = WSUBN / TN;
  static_assert(LANES_N * (WSUBM / TM) == 32, "a sub-tile must be covered by one warp");
  static_assert((BM / WM) * (BN / WN) * 32 == NT, "the warps must cover the block tile");
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BK % 4 == 0, "fragments are loaded 4-wide");

  DG_SHARED(T, As, BK * LDA);
  DG_SHARED(T, Bs, BK * LDB);

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32;
  const int warp_m = warp / (BN / WN), warp_n = warp % (BN / WN);
  const int lane_m = lane / LANES_N, lane_n = lane % LANES_N;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;
  // M tiles: blockIdx.y, and a loop when there are more than grid.y allows (65535).
  for (int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM; m0 < p.m;
       m0 += static_cast<int64_t>(gridDim.y) * BM) {
    T acc[WMITER * TM][WNITER * TN];
    DG_UNROLL
    for (int i = 0; i < WMITER * TM; ++i) {
      DG_UNROLL
      for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = T(0);
    }
    T ra[WMITER * TM], rb[WNITER * TN];

    for (int64_t k0 = 0; k0 < p.k; k0 += BK) {
      gemm_load_a<T, BM, BK, LDA, NT>(p, As, m0, k0, tid);
      gemm_load_b<T, BN, BK, LDB, NT>(p, Bs, k0, n0, tid);
      __syncthreads();
      DG_UNROLL
      for (int kk = 0; kk < BK; ++kk) {
        DG_UNROLL
        for (int wm = 0; wm < WMITER; ++wm) {
          DG_UNROLL
          for (int i = 0; i < TM; i += 4) {
            const V4<T> v = ld4(As, kk * LDA + warp_m * WM + wm * WSUBM + lane_m * TM + i);
            ra[wm * TM + i + 0] = v.x;
            ra[wm * TM + i + 1] = v.y;
            ra[wm * TM + i + 2] = v.z;
            ra[wm * TM + i + 3] = v.w;
          }
        }
        DG_UNROLL
        for (int wn = 0; wn < WNITER; ++wn) {
          DG_UNROLL
          for (int j = 0; j < TN; j += 4) {
            const V4<T> v = ld4(Bs, kk * LDB + warp_n * WN + wn * WSUBN + lane_n * TN + j);
            rb[wn * TN + j + 0] = v.x;
            rb[wn * TN + j + 1] = v.y;
            rb[wn * TN + j + 2] = v.z;
            rb[wn * TN + j + 3] = v.w;
          }
        }
        DG_UNROLL
        for (int i = 0; i < WMITER * TM; ++i) {
          DG_UNROLL
          for (int j = 0; j < WNITER * TN; ++j) acc[i][j] += ra[i] * rb[j];
        }
      }
      __syncthreads();  // the next slice overwrites As / Bs
    }

    const bool cheap = act_is_cheap(p.act);
    DG_UNROLL
    for (int wm = 0; wm < WMITER; ++wm) {
      DG_UNROLL
      for (int i = 0; i < TM; ++i) {
        const int64_t m = m0 + warp_m * WM + wm * WSUBM + lane_m * TM + i;
        if (m >= p.m) continue;
        DG_UNROLL
        for (int wn = 0; wn < WNITER; ++wn) {
          DG_UNROLL
          for (int j = 0; j < TN; ++j) {
            const int64_t n = n0 + warp_n * WN + wn * WSUBN + lane_n * TN + j;
            if (n < p.n) gemm_store(p, m, n, acc[wm * TM + i][wn * TN + j], cheap);
          }
        }
      }
    }
    if (!cheap) {
      const int64_t mb = m0 + warp_m * WM + lane_m * TM, nb = n0 + warp_n * WN + lane_n * TN;
      gemm_act_pass<T, WMITER * TM, WNITER * TN>(
          p, [=](int i) { return mb + (i / TM) * WSUBM + i % TM; },
          [=](int j) { return nb + (j / TN) * WSUBN + j % TN; });
    }
  }  // M tiles
}

}  // namespace cuda
}  // namespace dg
