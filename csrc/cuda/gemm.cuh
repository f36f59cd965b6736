// GEMM kernels: C = act(alpha * op(A) @ op(B) + beta * C + bias), with op() given by strides.
//
// gemm_simt_kernel: the FP32/FP64 SIMT kernel. A block computes a BM x BN tile of C, stepping
// over K in BK slices staged in shared memory (A transposed, so both operands are read along
// the tile's rows), two stages with register prefetch (the next slice's global loads are in
// flight during the FMAs). The block's warps split the tile into WM x WN warp tiles, and each
// lane computes WMITER x WNITER sub-tiles of 4 x 4 outputs from register fragments, read from
// shared memory four at a time without bank conflicts. Global loads are 16-byte vectors when
// the operand is contiguous along k or along m / n and aligned, scalar otherwise. Tiles inside
// M and N take a path without bounds checks and with 4-wide epilogue stores; edge tiles check
// and zero-fill every element, so any M, N, K works.
//
// gemm_load_a / gemm_load_b / gemm_store below are the tensor-core kernel's (one k slice, no
// prefetch).
//
// The TF32 tensor-core kernel lives in gemm_tc.cuh.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"
#include "cuda/gemm_params.h"

namespace dg {
namespace cuda {

// How the SIMT kernel fetches an operand tile (gemm_fetch): groups of 4 elements along k or
// along the operand's M / N dimension (o), as one 16-byte vector or as 4 scalars.
constexpr int kOperandVecK = 0, kOperandVecO = 1, kOperandScalarK = 2, kOperandScalarO = 3;

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
  int a_mode, b_mode;    // the SIMT kernel's kOperand* per operand (o = m for A, n for B)
  bool c_vec;            // C (and z) rows 16-byte aligned, unit stride: 4-wide epilogue stores
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

// ---- The FP32 / FP64 SIMT kernel ----------------------------------------------------------
//
// An operand tile is BO (the M or N extent of the block tile) x BK, staged in shared memory as
// S[k * LD + o]. How a thread fetches its share from global memory (GemmOperandMode, chosen on
// the host by gemm_dev): 16-byte vectors along k (A = x, or B = W.T in x @ W.T: the rows are
// contiguous along k) or along o (B in x @ W, A transposed), scalars otherwise. Every thread
// holds BO * BK / (4 * NT) four-element groups in registers: the fetch of slice k + 1 overlaps
// the FMAs on slice k (register-prefetch double buffering, two shared stages, one barrier per
// slice).

// The 32 lanes of a warp read 16 bytes each at word offset ((lane / div) % mod) * step of a
// shared array: whether the distinct addresses take the fewest wavefronts (8 distinct 16-byte
// chunks per wavefront, in distinct groups of 4 banks; lanes reading one address share it).
__host__ __device__ constexpr bool simt_fragment_reads_conflict_free(int div, int mod, int step) {
  int per_quad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int distinct = 0;
  for (int lane = 0; lane < 32; ++lane) {
    const int off = ((lane / div) % mod) * step;
    bool seen = false;
    for (int l = 0; l < lane; ++l) seen = seen || ((l / div) % mod) * step == off;
    if (seen) continue;
    ++distinct;
    ++per_quad[(off / 4) % 8];
  }
  int worst = 0;
  for (int q = 0; q < 8; ++q) worst = per_quad[q] > worst ? per_quad[q] : worst;
  return step % 4 == 0 && worst <= (distinct + 7) / 8;
}
// A fragments (8 lane rows x TM) and B fragments (4 lane columns x TN) of the tiles below:
static_assert(simt_fragment_reads_conflict_free(4, 8, 4) &&
                  simt_fragment_reads_conflict_free(1, 4, 4),
              "TM = TN = 4: conflict-free");
static_assert(!simt_fragment_reads_conflict_free(4, 8, 8),
              "TM = 8 read 4 at a time (the previous 128x128 tile): 2-way conflicts on A");

// Group v of this thread: 4 elements at (o, c + q) (along k) or (o + q, c) (along o), q < 4;
// consecutive threads take consecutive groups along the same dimension.
template <int BO, int BK, int NT>
__device__ __forceinline__ void gemm_group(int v, int tid, bool along_k, int& o, int& c) {
  const int f = tid + v * NT;
  o = along_k ? f / (BK / 4) : (f % (BO / 4)) * 4;
  c = along_k ? (f % (BK / 4)) * 4 : f / (BO / 4);
}

// Load one operand tile's share of this thread into registers: 16-byte vectors (vec modes) or
// four scalars per group. CHECK: zero outside o < lo, k < kl (a vector only when all four are
// inside); else the tile is known to be inside and nothing is checked.
template <class T, int BO, int BK, int NT, bool CHECK>
__device__ __forceinline__ void gemm_fetch(V4<T> (&r)[BO * BK / (4 * NT)], const gptr<const T>& src,
                                           int mode, int64_t so, int64_t sk, int64_t o0, int64_t lo,
                                           int64_t k0, int64_t kl, int tid) {
  constexpr int kRegs = BO * BK / (4 * NT);
  const bool along_k = mode == kOperandVecK || mode == kOperandScalarK;
  const bool vec = mode == kOperandVecK || mode == kOperandVecO;
  const int64_t step = along_k ? sk : so;
  DG_UNROLL
  for (int v = 0; v < kRegs; ++v) {
    int o, c;
    gemm_group<BO, BK, NT>(v, tid, along_k, o, c);
    const int64_t go = o0 + o, gk = k0 + c, base = go * so + gk * sk;
    // the last of the four elements: inside when all are
    const bool all = !CHECK || (along_k ? go < lo && gk + 3 < kl : go + 3 < lo && gk < kl);
    if (vec && all) {
      r[v] = ld4(src, base);
    } else {
      T e[4];
      DG_UNROLL
      for (int q = 0; q < 4; ++q) {
        const bool in = !CHECK || (along_k ? go < lo && gk + q < kl : go + q < lo && gk < kl);
        e[q] = in ? src[base + q * step] : T(0);
      }
      r[v].x = e[0];
      r[v].y = e[1];
      r[v].z = e[2];
      r[v].w = e[3];
    }
  }
}

// Store the registers of gemm_fetch into the shared stage S[base + k * LD + o].
template <class T, int BO, int BK, int LD, int NT, class S>
__device__ __forceinline__ void gemm_stage(const V4<T> (&r)[BO * BK / (4 * NT)], S& s, int base,
                                           int mode, int tid) {
  constexpr int kRegs = BO * BK / (4 * NT);
  const bool along_k = mode == kOperandVecK || mode == kOperandScalarK;
  DG_UNROLL
  for (int v = 0; v < kRegs; ++v) {
    int o, c;
    gemm_group<BO, BK, NT>(v, tid, along_k, o, c);
    if (along_k) {
      s[base + (c + 0) * LD + o] = r[v].x;
      s[base + (c + 1) * LD + o] = r[v].y;
      s[base + (c + 2) * LD + o] = r[v].z;
      s[base + (c + 3) * LD + o] = r[v].w;
    } else {
      st4(s, base + c * LD + o, r[v]);
    }
  }
}

// C = act(alpha * A @ B + beta * C + bias). A block computes a BM x BN tile of C; its warps
// split it into WM x WN warp tiles, and each lane computes WMITER x WNITER sub-tiles of TM x TN
// outputs from register fragments read 4 at a time from shared memory (conflict-free: checked
// above). A block whose tile lies inside M and N runs the K slices with no bounds checks
// (INSIDE; only a partial last K slice is fetched checked) and stores 4-wide; the others check
// and zero-fill every element.
template <class T, int BM, int BN, int BK, int WM, int WN, int WNITER, int TM, int TN, int NT,
          bool INSIDE, class SA, class SB>
__device__ __forceinline__ void gemm_simt_tile(const GemmDev<T>& p, SA& As, SB& Bs, int64_t m0,
                                               int64_t n0, int tid) {
  constexpr int LDA = BM + 4, LDB = BN + 4;  // padding: fewer conflicts on the staging stores
  constexpr int WMITER = (WM * WN) / (32 * TM * TN * WNITER);
  constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
  constexpr int LANES_N = WSUBN / TN;
  constexpr int kRa = BM * BK / (4 * NT), kRb = BN * BK / (4 * NT);
  static_assert(simt_fragment_reads_conflict_free(LANES_N, 32 / LANES_N, TM) &&
                    simt_fragment_reads_conflict_free(1, LANES_N, TN),
                "the fragment reads of As / Bs must be conflict-free");
  static_assert(TM == 4 && TN == 4, "one 16-byte fragment read per sub-tile row / column");

  const int warp = tid / 32, lane = tid % 32;
  const int warp_m = warp / (BN / WN), warp_n = warp % (BN / WN);
  const int lane_m = lane / LANES_N, lane_n = lane % LANES_N;
  const int a_off = warp_m * WM + lane_m * TM, b_off = warp_n * WN + lane_n * TN;

  T acc[WMITER * TM][WNITER * TN];
  DG_UNROLL
  for (int i = 0; i < WMITER * TM; ++i) {
    DG_UNROLL
    for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = T(0);
  }

  V4<T> pa[kRa], pb[kRb];
  auto fetch = [&](int64_t k0) {
    if (INSIDE && k0 + BK <= p.k) {
      gemm_fetch<T, BM, BK, NT, false>(pa, p.a, p.a_mode, p.rsa, p.csa, m0, p.m, k0, p.k, tid);
      gemm_fetch<T, BN, BK, NT, false>(pb, p.b, p.b_mode, p.csb, p.rsb, n0, p.n, k0, p.k, tid);
    } else {
      gemm_fetch<T, BM, BK, NT, true>(pa, p.a, p.a_mode, p.rsa, p.csa, m0, p.m, k0, p.k, tid);
      gemm_fetch<T, BN, BK, NT, true>(pb, p.b, p.b_mode, p.csb, p.rsb, n0, p.n, k0, p.k, tid);
    }
  };
  auto stage = [&](int st) {
    gemm_stage<T, BM, BK, LDA, NT>(pa, As, st * BK * LDA, p.a_mode, tid);
    gemm_stage<T, BN, BK, LDB, NT>(pb, Bs, st * BK * LDB, p.b_mode, tid);
  };

  const int64_t slices = (p.k + BK - 1) / BK;
  if (slices > 0) {
    fetch(0);
    stage(0);
    __syncthreads();
  }
  for (int64_t s = 0; s < slices; ++s) {
    const bool more = s + 1 < slices;
    if (more) fetch((s + 1) * BK);  // in flight during the FMAs below
    const int sa = static_cast<int>(s % 2) * BK * LDA, sb = static_cast<int>(s % 2) * BK * LDB;
    DG_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      V4<T> ra[WMITER], rb[WNITER];
      DG_UNROLL
      for (int wm = 0; wm < WMITER; ++wm) ra[wm] = ld4(As, sa + kk * LDA + a_off + wm * WSUBM);
      DG_UNROLL
      for (int wn = 0; wn < WNITER; ++wn) rb[wn] = ld4(Bs, sb + kk * LDB + b_off + wn * WSUBN);
      DG_UNROLL
      for (int wm = 0; wm < WMITER; ++wm) {
        const T a[4] = {ra[wm].x, ra[wm].y, ra[wm].z, ra[wm].w};
        DG_UNROLL
        for (int wn = 0; wn < WNITER; ++wn) {
          const T b[4] = {rb[wn].x, rb[wn].y, rb[wn].z, rb[wn].w};
          DG_UNROLL
          for (int i = 0; i < 4; ++i) {
            DG_UNROLL
            for (int j = 0; j < 4; ++j) acc[wm * 4 + i][wn * 4 + j] += a[i] * b[j];
          }
        }
      }
    }
    if (more) stage(static_cast<int>((s + 1) % 2));  // the stage read in the previous slice
    __syncthreads();
  }

  // Epilogue: alpha, beta * C, bias, z, the cheap activations; 4-wide stores inside.
  const bool cheap = act_is_cheap(p.act);
  const int64_t mb = m0 + a_off, nb = n0 + b_off;
  if (INSIDE && p.c_vec) {
    DG_UNROLL
    for (int wm = 0; wm < WMITER; ++wm) {
      DG_UNROLL
      for (int i = 0; i < 4; ++i) {
        DG_UNROLL
        for (int wn = 0; wn < WNITER; ++wn) {
          const int64_t n = nb + wn * WSUBN, ci = (mb + wm * WSUBM + i) * p.rsc + n;
          T v[4];
          DG_UNROLL
          for (int j = 0; j < 4; ++j) v[j] = p.alpha * acc[wm * 4 + i][wn * 4 + j];
          if (p.beta != T(0)) {  // beta == 0: C is not read (it may hold NaN)
            const V4<T> c = ld4(p.c, ci);
            v[0] += p.beta * c.x;
            v[1] += p.beta * c.y;
            v[2] += p.beta * c.z;
            v[3] += p.beta * c.w;
          }
          if (p.bias) {
            DG_UNROLL
            for (int j = 0; j < 4; ++j) v[j] += p.bias[n + j];
          }
          V4<T> out;
          out.x = v[0];
          out.y = v[1];
          out.z = v[2];
          out.w = v[3];
          if (p.z) st4(p.z, ci, out);
          if (cheap) {
            out.x = act_cheap(p.act, out.x, p.param);
            out.y = act_cheap(p.act, out.y, p.param);
            out.z = act_cheap(p.act, out.z, p.param);
            out.w = act_cheap(p.act, out.w, p.param);
          }
          st4(p.c, ci, out);
        }
      }
    }
  } else {
    DG_UNROLL
    for (int wm = 0; wm < WMITER; ++wm) {
      DG_UNROLL
      for (int i = 0; i < TM; ++i) {
        const int64_t m = mb + wm * WSUBM + i;
        if (m >= p.m) continue;
        DG_UNROLL
        for (int wn = 0; wn < WNITER; ++wn) {
          DG_UNROLL
          for (int j = 0; j < TN; ++j) {
            const int64_t n = nb + wn * WSUBN + j;
            if (n < p.n) gemm_store(p, m, n, acc[wm * TM + i][wn * TN + j], cheap);
          }
        }
      }
    }
  }
  if (!cheap) {
    gemm_act_pass<T, WMITER * TM, WNITER * TN>(
        p, [=](int i) { return mb + (i / TM) * WSUBM + i % TM; },
        [=](int j) { return nb + (j / TN) * WSUBN + j % TN; });
  }
}

// Three blocks per SM (__launch_bounds__(NT, 3)): at most 168 registers per thread for NT = 128.
template <class T, int BM, int BN, int BK, int WM, int WN, int WNITER, int TM, int TN, int NT>
__global__ void __launch_bounds__(NT, 3) gemm_simt_kernel(GemmDev<T> p) {
  static_assert((BM / WM) * (BN / WN) * 32 == NT, "the warps must cover the block tile");
  static_assert(BK % 4 == 0 && (BM * BK) % (4 * NT) == 0 && (BN * BK) % (4 * NT) == 0,
                "every thread fetches whole 4-element groups of both operands");
  DG_SHARED(T, As, 2 * BK * (BM + 4));  // two stages
  DG_SHARED(T, Bs, 2 * BK * (BN + 4));

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;
  // M tiles: blockIdx.y, and a loop when there are more than grid.y allows (65535).
  for (int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM; m0 < p.m;
       m0 += static_cast<int64_t>(gridDim.y) * BM) {
    if (m0 + BM <= p.m && n0 + BN <= p.n) {
      gemm_simt_tile<T, BM, BN, BK, WM, WN, WNITER, TM, TN, NT, true>(p, As, Bs, m0, n0, tid);
    } else {
      gemm_simt_tile<T, BM, BN, BK, WM, WN, WNITER, TM, TN, NT, false>(p, As, Bs, m0, n0, tid);
    }
  }  // M tiles
}

}  // namespace cuda
}  // namespace dg
