// gemm_tf32_kernel: the FP32 kernel's tiling feeding mma.sync.m16n8k8 TF32 tensor-core
// instructions (sm_80+), through the wrappers of tc_ops.cuh: inline PTX on the GPU, the
// emulator's warp-collective mma under DG_SIMT.
#pragma once

#include "cuda/gemm.cuh"
#include "cuda/tc_ops.cuh"

namespace dg {
namespace cuda {

// Whether the 32 lanes' reads of one m16n8k8 fragment register, at word offsets
// (lane % 4) * ld + lane / 4 of a shared array with leading dimension ld, hit 32 distinct banks.
__host__ __device__ constexpr bool tf32_fragment_reads_conflict_free(int ld) {
  unsigned banks = 0;
  for (int lane = 0; lane < 32; ++lane) banks |= 1u << (((lane % 4) * ld + lane / 4) % 32);
  return banks == 0xffffffffu;
}
static_assert(!tf32_fragment_reads_conflict_free(128 + 4), "BM + 4: 2-way conflicts");
static_assert(tf32_fragment_reads_conflict_free(128 + 8) && tf32_fragment_reads_conflict_free(72),
              "BM + 8: conflict-free");

// Fragment layout of m16n8k8 (PTX ISA, "Matrix Fragments for mma.m16n8k8"), with g = lane / 4
// and t = lane % 4: A a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4);
// B b0 (k = t, n = g), b1 (k = t + 4, n = g); C c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t),
// c3 (g + 8, 2t + 1). A lane reads As[(k0 + t) * LDA + r0 + g] and Bs[(k0 + t) * LDB + c0 + g]:
// bank (t * LD + g) % 32, distinct over the 32 lanes when LD % 32 == 8 (t * 8 + g covers 0..31;
// LD = BM + 4 would give 2-way conflicts), checked by tf32_fragment_reads_conflict_free.
template <int BM, int BN, int BK, int WM, int WN, int NT>
__global__ void __launch_bounds__(NT, 1) gemm_tf32_kernel(GemmDev<float> p) {
#if defined(DG_SIMT) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800)
  constexpr int LDA = BM + 8, LDB = BN + 8;
  static_assert(tf32_fragment_reads_conflict_free(LDA) && tf32_fragment_reads_conflict_free(LDB),
                "the fragment reads of As / Bs must hit 32 distinct banks");
  constexpr int MT = WM / 16, NTL = WN / 8;
  static_assert((BM / WM) * (BN / WN) * 32 == NT, "the warps must cover the block tile");
  static_assert(BK % 8 == 0, "k steps of 8");
  DG_SHARED(float, As, BK* LDA);
  DG_SHARED(float, Bs, BK* LDB);

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int wm0 = (warp / (BN / WN)) * WM, wn0 = (warp % (BN / WN)) * WN;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;
  for (int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM; m0 < p.m;
       m0 += static_cast<int64_t>(gridDim.y) * BM) {
    float acc[MT][NTL][4];
    DG_UNROLL
    for (int i = 0; i < MT; ++i) DG_UNROLL
    for (int j = 0; j < NTL; ++j) DG_UNROLL
    for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    for (int64_t k0 = 0; k0 < p.k; k0 += BK) {
      gemm_load_a<float, BM, BK, LDA, NT>(p, As, m0, k0, tid);
      gemm_load_b<float, BN, BK, LDB, NT>(p, Bs, k0, n0, tid);
      __syncthreads();
      DG_UNROLL
      for (int kk = 0; kk < BK; kk += 8) {
        uint32_t af[MT][4], bf[NTL][2];
        DG_UNROLL
        for (int i = 0; i < MT; ++i) {
          const int r = wm0 + i * 16 + g;
          af[i][0] = dg_to_tf32(As[(kk + t) * LDA + r]);
          af[i][1] = dg_to_tf32(As[(kk + t) * LDA + r + 8]);
          af[i][2] = dg_to_tf32(As[(kk + t + 4) * LDA + r]);
          af[i][3] = dg_to_tf32(As[(kk + t + 4) * LDA + r + 8]);
        }
        DG_UNROLL
        for (int j = 0; j < NTL; ++j) {
          const int c = wn0 + j * 8 + g;
          bf[j][0] = dg_to_tf32(Bs[(kk + t) * LDB + c]);
          bf[j][1] = dg_to_tf32(Bs[(kk + t + 4) * LDB + c]);
        }
        DG_UNROLL
        for (int i = 0; i < MT; ++i) DG_UNROLL
        for (int j = 0; j < NTL; ++j) dg_mma_tf32_16x8x8(acc[i][j], af[i], bf[j]);
      }
      __syncthreads();
    }

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
#endif
}

}  // namespace cuda
}  // namespace dg
