// What every kernel header includes: the portability layer between nvcc and the SIMT emulator
// (checked pointers, shared arrays, launches, 4-wide vector loads), math helpers per dtype and
// warp / block reductions.
#pragma once

#include <cstdint>

#include <cmath>

#ifdef DG_SIMT

#include "simt/simt.h"
#define DG_UNROLL
// Declare shared arrays once, at kernel scope (the emulator hands out arena offsets in
// declaration order, the same for every thread of the block).
#define DG_SHARED(T, name, count) ::simt::SharedPtr<T> name = ::simt::shared_array<T>(count)
#define DG_LAUNCH(kernel, grid, block, stream, ...) \
  ((void)(stream), ::simt::launch(kernel, grid, block, __VA_ARGS__))
#else
#include <cuda_runtime.h>
#define DG_UNROLL _Pragma("unroll")
#define DG_SHARED(T, name, count) __shared__ __align__(16) T name[count]
#define DG_LAUNCH(kernel, grid, block, stream, ...) \
  kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(__VA_ARGS__)
#endif

namespace dg {
namespace cuda {

// A global-memory pointer in kernel signatures: raw on the GPU, bounds-checked in the emulator.
#ifdef DG_SIMT
template <class T>
using gptr = ::simt::Ptr<T>;
#else
template <class T>
using gptr = T*;
#endif

// Four consecutive elements, aligned so that nvcc emits one 16-byte load for float (two for
// double; 16 bytes is the widest load and the alignment we guarantee for shared arrays).
template <class T>
struct alignas(4 * sizeof(T) < 16 ? 4 * sizeof(T) : 16) V4 {
  T x, y, z, w;
};

#ifdef DG_SIMT
template <class P>
auto ld4(const P& p, int64_t i) {
  using T = std::remove_const_t<std::remove_pointer_t<decltype(p.read_at(0, 1, 1))>>;
  V4<T> v;
  std::memcpy(&v, p.read_at(i, 4, alignof(V4<T>)), sizeof v);
  return v;
}
template <class P, class T>
void st4(const P& p, int64_t i, const V4<T>& v) {
  std::memcpy(p.write_at(i, 4, alignof(V4<T>)), &v, sizeof v);
}
#else
template <class T>
__device__ __forceinline__ V4<T> ld4(const T* p, int64_t i) {
  return *reinterpret_cast<const V4<T>*>(p + i);
}
template <class T>
__device__ __forceinline__ void st4(T* p, int64_t i, const V4<T>& v) {
  *reinterpret_cast<V4<T>*>(p + i) = v;
}
#endif

// Math by dtype: float calls the f-suffixed functions, double the plain ones.
__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ float dlog(float x) { return logf(x); }
__device__ __forceinline__ double dlog(double x) { return log(x); }
__device__ __forceinline__ float dlog1p(float x) { return log1pf(x); }
__device__ __forceinline__ double dlog1p(double x) { return log1p(x); }
__device__ __forceinline__ float dexpm1(float x) { return expm1f(x); }
__device__ __forceinline__ double dexpm1(double x) { return expm1(x); }
__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }
__device__ __forceinline__ float derf(float x) { return erff(x); }
__device__ __forceinline__ double derf(double x) { return erf(x); }
__device__ __forceinline__ float derfc(float x) { return erfcf(x); }
__device__ __forceinline__ double derfc(double x) { return erfc(x); }
__device__ __forceinline__ float dsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dsqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float dabs(float x) { return fabsf(x); }
__device__ __forceinline__ double dabs(double x) { return fabs(x); }
__device__ __forceinline__ float dmax(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double dmax(double a, double b) { return fmax(a, b); }
__device__ __forceinline__ float dmin(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ double dmin(double a, double b) { return fmin(a, b); }
template <class T>
__device__ __forceinline__ T dinf() {
  return static_cast<T>(INFINITY);
}

constexpr unsigned kFullMask = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  DG_UNROLL
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  DG_UNROLL
  for (int o = 16; o > 0; o >>= 1) v = dmax(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Block-wide sum / max for a 1-D block whose size is a multiple of 32 (at most 1024); every
// thread gets the result. `scratch` holds 32 values of shared memory.
template <class T, class S>
__device__ __forceinline__ T block_sum(T v, S& scratch) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read from a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : T(0);
  return warp_sum(v);
}

template <class T, class S>
__device__ __forceinline__ T block_max(T v, S& scratch) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -dinf<T>();
  return warp_max(v);
}

// Threads for a row kernel: a multiple of 32, at most 256, not many more than the row needs.
inline unsigned row_threads(int64_t cols) {
  int64_t t = (cols + 31) / 32 * 32;
  return static_cast<unsigned>(t < 32 ? 32 : (t > 256 ? 256 : t));
}

inline unsigned blocks_for(int64_t n, unsigned threads, unsigned cap = 65535u * 8) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b));
}

// for (i = this thread's first index; i < n; i += the grid's thread count): the loop of every
// elementwise kernel (activation.cuh, loss.cuh, optim.cuh).
#define DG_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

}  // namespace cuda
}  // namespace dg
