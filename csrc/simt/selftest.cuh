// Deliberately broken kernels (and their fixed twins) that the emulator must catch: a missing
// __syncthreads, an unguarded tail read, a warp shuffle that half the warp never reaches.
// Written exactly as CUDA kernels; only the tests launch them.
#pragma once

#include "cuda/common.cuh"

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

}  // namespace simt_selftest
}  // namespace dg
