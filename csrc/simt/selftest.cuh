// Deliberately broken kernels (and their fixed twins) that the emulator must catch: a missing
// __syncthreads, an unguarded tail read, a warp shuffle that half the warp never reaches.
// Written exactly as CUDA kernels; only the tests launch them.
#pragma once

#include "cuda/common.cuh"
#include "cuda/tc_ops.cuh"

namespace dg {
namespace simt_selftest {

using cuda::gptr;

// y[i] = x[block_start + (blockDim - 1 - t)]: reverse each block's slice through shared memory.
// Without the barrier a thread reads a slot its partner has not written yet.
template <bool kBarrier>
__global__ void reverse_block_kernel(int64_t n, gptr<const float> x, gptr<float> y) {
  DG_SHARED(float, s, 256);
  const int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x;
  const unsigned t = threadIdx.x;
  s[t] = base + t < n ? x[base + t] : 0.f;
  if (kBarrier) __syncthreads();
  const unsigned r = blockDim.x - 1 - t;
  if (base + t < n) y[base + t] = s[r];
}

// y[t] = 2 x[t + 1] within each block (0 for the last thread): every thread reads its neighbour's
// slot and then overwrites its own. Without the middle barrier, thread t may overwrite s[t] before
// thread t - 1 has read it (a write-after-read race). Thread 0 running first hides it, so only
// the race detector (not the result) catches it in the default schedule.
template <bool kBarrier>
__global__ void rotate_block_kernel(int64_t n, gptr<const float> x, gptr<float> y) {
  DG_SHARED(float, s, 256);
  const int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x;
  const unsigned t = threadIdx.x;
  s[t] = base + t < n ? x[base + t] : 0.f;
  __syncthreads();
  const float v = t + 1 < blockDim.x ? static_cast<float>(s[t + 1]) : 0.f;
  if (kBarrier) __syncthreads();
  s[t] = 2.f * v;
  __syncthreads();
  if (base + t < n) y[base + t] = s[t];
}

// Even and odd threads wait at two different barriers (undefined behaviour in CUDA).
__global__ void divergent_barrier_kernel(int64_t n, gptr<const float> x, gptr<float> y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  if (i < n) y[i] = x[i];
}

// y[i] = 2 x[i] with (kGuard) and without the `i < n` tail check.
template <bool kGuard>
__global__ void scale_kernel(int64_t n, gptr<const float> x, gptr<float> y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (kGuard && i >= n) return;
  y[i] = 2.f * x[i];
}

// A warp sum where (kDiverge) only the low half of the warp reaches the shuffles.
template <bool kDiverge>
__global__ void warp_sum_kernel(gptr<const float> x, gptr<float> y) {
  const unsigned lane = threadIdx.x % 32;
  if (kDiverge && lane >= 16) return;
  const float v = cuda::warp_sum(x[threadIdx.x]);
  if (lane == 0) y[threadIdx.x / 32] = v;
}

// ---- Tensor cores: one warp per launch ----------------------------------------------------

// D (16x8) = A (16x8, row-major, x[0..128)) * B (8x8 stored n-major: x[128 + n * 8 + k]) +
// C (16x8, x[192..320)), each lane loading its fragments straight from global memory (the
// PTX ISA layout, independent of ldmatrix). kRound = false feeds unrounded fp32 to the mma.
template <bool kRound>
__global__ void tc_mma_kernel(gptr<const float> x, gptr<float> y) {
  const int lane = static_cast<int>(threadIdx.x % 32), g = lane / 4, t = lane % 4;
  auto cvt = [](float v) {
    uint32_t u;
    if (kRound) return cuda::dg_to_tf32(v);
    std::memcpy(&u, &v, 4);
    return u;
  };
  const uint32_t a[4] = {cvt(x[g * 8 + t]), cvt(x[(g + 8) * 8 + t]), cvt(x[g * 8 + t + 4]),
                         cvt(x[(g + 8) * 8 + t + 4])};
  const uint32_t b[2] = {cvt(x[128 + g * 8 + t]), cvt(x[128 + g * 8 + t + 4])};
  float d[4];
  for (int e = 0; e < 4; ++e) d[e] = x[192 + (g + (e >= 2 ? 8 : 0)) * 8 + 2 * t + (e & 1)];
  cuda::dg_mma_tf32_16x8x8(d, a, b);
  for (int e = 0; e < 4; ++e) y[(g + (e >= 2 ? 8 : 0)) * 8 + 2 * t + (e & 1)] = d[e];
}

// ldmatrix .xX of 32 rows of 4 floats (x) staged in shared memory: lane l gives the address of
// row (5 l + 3) % 32 (a permutation), and writes its registers to y[l * 4 + j].
template <int X>
__global__ void tc_ldmatrix_kernel(gptr<const float> x, gptr<float> y) {
  DG_SHARED(float, s, 32 * 4);
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int e = 0; e < 4; ++e) s[lane * 4 + e] = x[lane * 4 + e];
  __syncthreads();
  uint32_t r[X];
  cuda::dg_ldmatrix<X>(r, s, ((5 * lane + 3) % 32) * 4);
  for (int j = 0; j < X; ++j) {
    float v;
    std::memcpy(&v, &r[j], 4);
    y[lane * 4 + j] = v;
  }
}

// C (16x8, y) = A (16 x k, rows lda apart, x[0..)) * B^T (B: 8 x k, rows lda apart, from
// x[16 * lda]) by one warp over k tiles of 8 through a kStages-deep cp.async ring (16-byte
// copies when vec, else 4-byte ones), ldmatrix and mma: the pipeline of gemm_tf32_kernel in
// miniature. kWait = false drops the cp.async.wait_group.
template <int kStages, bool kWait>
__global__ void tc_pipeline_kernel(int64_t k, int64_t lda, bool vec, gptr<const float> x,
                                   gptr<float> y) {
  constexpr int LDS = 12;           // 8 + 4: row r's 16-byte chunks at 3 r mod 8, conflict-free
  constexpr int kStage = 24 * LDS;  // 16 rows of A, then 8 rows of B
  DG_DYNAMIC_SHARED(float, s, kStages* kStage);
  const int lane = static_cast<int>(threadIdx.x % 32), g = lane / 4, t = lane % 4;
  const int64_t ktiles = (k + 7) / 8;
  // Tile kt into stage st: 48 chunks of 4 floats (row 0..23, half 0..1), 2 per lane at most.
  auto load = [&](int64_t kt, int st) {
    for (int c = lane; c < 48; c += 32) {
      const int row = c / 2, half = c % 2;
      const int64_t gk = kt * 8 + half * 4, src = row * lda + gk;
      const int64_t dst = st * kStage + row * LDS + half * 4;
      const int64_t left = k - gk;
      if (vec) {
        cuda::dg_cp_async<4>(s, dst, x, src, static_cast<int>(left < 0 ? 0 : left > 4 ? 4 : left));
      } else {
        for (int e = 0; e < 4; ++e) cuda::dg_cp_async<1>(s, dst + e, x, src + e, e < left ? 1 : 0);
      }
    }
  };
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  auto compute = [&](int st) {
    uint32_t a[4], b[2];
    // A: matrices (rows 0-7, k 0-3), (8-15, 0-3), (0-7, 4-7), (8-15, 4-7) = a0..a3.
    const int m = lane / 8, i = lane % 8;
    cuda::dg_ldmatrix<4>(a, s, st * kStage + ((m % 2) * 8 + i) * LDS + (m / 2) * 4);
    // B: matrices (n 0-7, k 0-3), (n 0-7, k 4-7) = b0, b1; lanes 16-31 are not read.
    cuda::dg_ldmatrix<2>(b, s, st * kStage + (16 + i) * LDS + (m % 2) * 4);
    for (auto& v : a) {
      float f;
      std::memcpy(&f, &v, 4);
      v = cuda::dg_to_tf32(f);
    }
    for (auto& v : b) {
      float f;
      std::memcpy(&f, &v, 4);
      v = cuda::dg_to_tf32(f);
    }
    cuda::dg_mma_tf32_16x8x8(acc, a, b);
  };
  if constexpr (kStages == 1) {
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      load(kt, 0);
      cuda::dg_cp_async_commit();
      if (kWait) cuda::dg_cp_async_wait<0>();
      __syncthreads();
      compute(0);
      __syncthreads();
    }
  } else {
    for (int st = 0; st < kStages - 1; ++st) {  // the prologue: kStages - 1 groups
      if (st < ktiles) load(st, st);
      cuda::dg_cp_async_commit();
    }
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      if (kWait) cuda::dg_cp_async_wait<kStages - 2>();  // tile kt has landed
      __syncthreads();  // ... for every lane; and stage (kt - 1) % kStages is no longer read
      if (kt + kStages - 1 < ktiles) load(kt + kStages - 1, (kt + kStages - 1) % kStages);
      cuda::dg_cp_async_commit();
      compute(static_cast<int>(kt % kStages));
    }
  }
  for (int e = 0; e < 4; ++e) y[(g + (e >= 2 ? 8 : 0)) * 8 + 2 * t + (e & 1)] = acc[e];
}

}  // namespace simt_selftest
}  // namespace dg
