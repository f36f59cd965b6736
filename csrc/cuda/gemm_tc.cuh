// gemm_tf32_kernel: TF32 tensor-core GEMM (sm_80+): a multi-stage cp.async pipeline of k tiles
// in swizzled shared memory, read by ldmatrix into mma.sync.m16n8k8 fragments. Through the
// wrappers of tc_ops.cuh: inline PTX on the GPU, the emulator's models under DG_SIMT.
//
// Shared memory: kStages stages, each As[BM][32] then Bs[BN][32], both k-contiguous (the layout
// ldmatrix needs for 32-bit elements: lane l of matrix j gets word l % 4 of row l / 4, which is
// the m16n8k8 A fragment (g, t) when rows are m and the B fragment (k = t, n = g) when rows
// are n). A row is 32 floats = 128 bytes = 8 chunks of 16 bytes; chunk q of row r is stored at
// chunk q ^ (r % 8) (tf32_swizzle), so the 8 row reads of an ldmatrix matrix and the 8 chunk
// writes of a quarter warp's 16-byte cp.async each hit 8 distinct 16-byte bank groups
// (tf32_swizzle_conflict_free).
//
// Copies: 16-byte cp.async.cg (zero-filling past the matrix through src-size) when the operand
// is k-contiguous with 16-byte aligned rows; otherwise (strided, transposed for this layout,
// misaligned) one 4-byte cp.async.ca per element, threads walking the operand's contiguous
// dimension, zero-filled outside the matrix. Both go straight to shared memory, so the TF32
// rounding (cvt.rna) is applied once per fragment register right after ldmatrix: there is no
// register pass at the shared store to round in, and each warp rounds only what it loads.
#pragma once

#include "cuda/gemm.cuh"
#include "cuda/tc_ops.cuh"

namespace dg {
namespace cuda {

// The swizzled 16-byte chunk of logical chunk q in row r of a 32-float shared row.
__host__ __device__ constexpr int tf32_swizzle(int r, int q) { return q ^ (r & 7); }

// ldmatrix (8 consecutive rows, one logical chunk) and a quarter warp's 16-byte stores (one row,
// chunks 0..7) each touch 8 distinct 16-byte bank groups (a 128-byte row spans all 32 banks).
__host__ __device__ constexpr bool tf32_swizzle_conflict_free() {
  for (int r0 = 0; r0 < 16; r0 += 8)
    for (int q = 0; q < 8; ++q) {
      unsigned rows = 0, chunks = 0;
      for (int i = 0; i < 8; ++i) {
        rows |= 1u << tf32_swizzle(r0 + i, q);
        chunks |= 1u << tf32_swizzle(r0 + q, i);
      }
      if (rows != 0xffu || chunks != 0xffu) return false;
    }
  return true;
}
static_assert(tf32_swizzle_conflict_free(), "the swizzle must keep ldmatrix conflict-free");

// Which copies the operands take (set by the launcher from the raw pointers).
struct TcCopy {
  bool a_vec, a_kmajor;  // A: 16-byte copies along k / 4-byte copies, threads along k (else m)
  bool b_vec, b_kmajor;  // B: the same for B's k
};

// Issue the copies of one ROWS x 32 slice (rows row0.., k k0..) of an operand into shared
// floats [base, base + ROWS * 32): element (r, k) at src[r * rs + k * ks], zero outside
// rows < lim and k < kdim.
template <int ROWS, int NT, class S>
__device__ __forceinline__ void tc_load_tile(const S& sm, int64_t base,
                                             const gptr<const float>& src, int64_t rs, int64_t ks,
                                             int64_t row0, int64_t lim, int64_t k0, int64_t kdim,
                                             bool vec, bool kmajor, int tid) {
  static_assert(ROWS * 8 % NT == 0, "whole rounds of chunks per thread");
  if (vec) {  // ks == 1, rows 16-byte aligned
    DG_UNROLL
    for (int it = 0; it < ROWS * 8 / NT; ++it) {
      const int f = tid + it * NT;
      const int r = f >> 3, q = f & 7;
      const int64_t gr = row0 + r, gk = k0 + q * 4;
      const int64_t left = gr < lim ? kdim - gk : 0;
      const int n = static_cast<int>(left < 0 ? 0 : left > 4 ? 4 : left);
      dg_cp_async<4>(sm, base + r * 32 + tf32_swizzle(r, q) * 4, src, gr * rs + gk, n);
    }
  } else {
    // The fallback: rolled, so the compiler does not keep 16 element addresses per operand
    // live across the k loop (registers for the fast path).
#ifndef DG_SIMT
#pragma unroll 1
#endif
    for (int it = 0; it < ROWS * 8 / NT; ++it) {
      const int f = tid + it * NT;
      const int r = kmajor ? f >> 3 : f % ROWS, q = kmajor ? f & 7 : f / ROWS;
      const int64_t gr = row0 + r;
      const int64_t dst = base + r * 32 + tf32_swizzle(r, q) * 4;
      DG_UNROLL
      for (int e = 0; e < 4; ++e) {
        const int64_t gk = k0 + q * 4 + e;
        const bool in = gr < lim && gk < kdim;
        dg_cp_async<1>(sm, dst + e, src, in ? gr * rs + gk * ks : 0, in ? 1 : 0);
      }
    }
  }
}

template <int BM, int BN, int kStages>
constexpr int tf32_smem_bytes() {
  return kStages * (BM + BN) * 32 * 4;
}

// Fragment layout of m16n8k8 (PTX ISA, "Matrix Fragments for mma.m16n8k8"), with g = lane / 4
// and t = lane % 4: A a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4);
// B b0 (k = t, n = g), b1 (k = t + 4, n = g); C c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t),
// c3 (g + 8, 2t + 1). One ldmatrix.x4 loads a0..a3 of a 16-row m tile (matrices: rows 0-7 and
// 8-15 at k 0-3, then at k 4-7), another b0, b1 of two 8-column n tiles.
//
// The pipeline: kStages - 1 k tiles in flight before the loop; iteration kt waits for tile kt
// (cp.async.wait_group kStages - 2), syncs (so every thread's copies have landed and stage
// (kt - 1) % kStages is free), issues tile kt + kStages - 1 into that stage and computes tile kt.
template <int BM, int BN, int WM, int WN, int NT, int kStages, int kMinBlocks>
__global__ void __launch_bounds__(NT, kMinBlocks) gemm_tf32_kernel(GemmDev<float> p, TcCopy cp) {
#if defined(DG_SIMT) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800)
  constexpr int BK = 32, MT = WM / 16, NTL = WN / 8;
  constexpr int kStage = (BM + BN) * BK;  // floats per stage
  static_assert((BM / WM) * (BN / WN) * 32 == NT, "the warps must cover the block tile");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "m tiles of 16, n tiles in pairs of 8");
  static_assert(kStages >= 2, "a pipeline of at least two stages");
  DG_DYNAMIC_SHARED(float, sm, kStages* kStage);

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int mat = lane >> 3, mrow = lane & 7;  // the ldmatrix matrix / row this lane addresses
  const int wm0 = (warp / (BN / WN)) * WM, wn0 = (warp % (BN / WN)) * WN;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int64_t ktiles = (p.k + BK - 1) / BK;

  for (int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM; m0 < p.m;
       m0 += static_cast<int64_t>(gridDim.y) * BM) {
    // Tile kt into stage st: A's BM rows (m), then B's BN rows (n), k-contiguous.
    auto load = [&](int64_t kt, int st) {
      const int64_t base = static_cast<int64_t>(st) * kStage;
      tc_load_tile<BM, NT>(sm, base, p.a, p.rsa, p.csa, m0, p.m, kt * BK, p.k, cp.a_vec,
                           cp.a_kmajor, tid);
      tc_load_tile<BN, NT>(sm, base + BM * BK, p.b, p.csb, p.rsb, n0, p.n, kt * BK, p.k, cp.b_vec,
                           cp.b_kmajor, tid);
    };
    float acc[MT][NTL][4];
    DG_UNROLL
    for (int i = 0; i < MT; ++i) DG_UNROLL
    for (int j = 0; j < NTL; ++j) DG_UNROLL
    for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    DG_UNROLL
    for (int st = 0; st < kStages - 1; ++st) {  // the prologue
      if (st < ktiles) load(st, st);
      dg_cp_async_commit();
    }
#ifndef DG_SIMT
#pragma unroll 1
#endif
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      dg_cp_async_wait<kStages - 2>();  // this thread's copies of tile kt have landed
      __syncthreads();                  // ... everyone's; stage (kt - 1) % kStages is free
      const int64_t next = kt + kStages - 1;
      if (next < ktiles) load(next, static_cast<int>(next % kStages));
      dg_cp_async_commit();  // possibly empty: keeps the group count of the wait above exact
      const int64_t as = (kt % kStages) * kStage, bs = as + BM * BK;
      DG_UNROLL
      for (int kk = 0; kk < BK; kk += 8) {
        uint32_t af[MT][4], bf[NTL][2];
        DG_UNROLL
        for (int i = 0; i < MT; ++i) {
          const int r = wm0 + i * 16 + (mat & 1) * 8 + mrow, q = kk / 4 + (mat >> 1);
          dg_ldmatrix<4>(af[i], sm, as + r * BK + tf32_swizzle(r, q) * 4);
        }
        DG_UNROLL
        for (int j = 0; j < NTL; j += 2) {
          uint32_t b4[4];
          const int r = wn0 + j * 8 + (mat >> 1) * 8 + mrow, q = kk / 4 + (mat & 1);
          dg_ldmatrix<4>(b4, sm, bs + r * BK + tf32_swizzle(r, q) * 4);
          bf[j][0] = b4[0];
          bf[j][1] = b4[1];
          bf[j + 1][0] = b4[2];
          bf[j + 1][1] = b4[3];
        }
        DG_UNROLL
        for (int i = 0; i < MT; ++i) DG_UNROLL
        for (int e = 0; e < 4; ++e) af[i][e] = dg_round_tf32_bits(af[i][e]);
        DG_UNROLL
        for (int j = 0; j < NTL; ++j) DG_UNROLL
        for (int e = 0; e < 2; ++e) bf[j][e] = dg_round_tf32_bits(bf[j][e]);
        DG_UNROLL
        for (int i = 0; i < MT; ++i) DG_UNROLL
        for (int j = 0; j < NTL; ++j) dg_mma_tf32_16x8x8(acc[i][j], af[i], bf[j]);
      }
    }
    dg_cp_async_wait<0>();  // only empty groups are left; the next M tile reuses the stages
    __syncthreads();

    const bool cheap = act_is_cheap(p.act);
    DG_UNROLL
    for (int i = 0; i < MT; ++i) DG_UNROLL
    for (int j = 0; j < NTL; ++j) DG_UNROLL
    for (int e = 0; e < 4; ++e) {
      const int64_t m = m0 + wm0 + i * 16 + g + (e >= 2 ? 8 : 0);
      const int64_t n = n0 + wn0 + j * 8 + 2 * t + (e & 1);
      if (m < p.m && n < p.n) gemm_store(p, m, n, acc[i][j][e], cheap);
    }
    if (!cheap) {
      const int64_t mb = m0 + wm0 + g, nb = n0 + wn0 + 2 * t;
      // output f = (i, e >> 1) x (j, e & 1): rows i * 16 + 8 * h, columns j * 8 + c
      gemm_act_pass<float, MT * 2, NTL * 2>(
          p, [=](int r) { return mb + (r / 2) * 16 + (r % 2) * 8; },
          [=](int c) { return nb + (c / 2) * 8 + c % 2; });
    }
  }  // M tiles
#else
  (void)p;  // compiled for an architecture without TF32 tensor cores: never launched there
  (void)cp;
#endif
}

}  // namespace cuda
}  // namespace dg
