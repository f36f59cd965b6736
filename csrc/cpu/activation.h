// Activations forward and backward, and the vector math functions, over flat arrays. Compiled
// once per ISA (cmake/cpu_isa.cmake).
#include <algorithm>
#include <cstdint>

#include "cpu/activation_math.h"
#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// Outputs at least this large bypass the cache (non-temporal stores): they cannot stay in cache
// for the next op anyway, and streaming saves the read-for-ownership of every output line.
inline constexpr int64_t kStreamBytes = int64_t(16) << 20;
// How far ahead the large-array loops prefetch their inputs (measured: gelu_tanh on 16M float32,
// one thread, 1.18 -> 0.74 ns per element; sigmoid 0.45 -> 0.31).
inline constexpr int64_t kPrefetchBytes = 4096;

// y[i] = f(i) for i in [b, e): f returns the Vec of elements i.. (r lanes valid); with kStream
// the aligned body uses non-temporal stores. down: the body from its last pair of vectors to its
// first (stream_downward, kernel_common.h), the same vectors and bits.
template <class T, bool kStream, class F>
inline void store_range(T* y, int64_t b, int64_t e, F f, bool down = false) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = b;
  // peel to a vector-aligned output on every path, not only the streaming one: NumPy's large
  // arrays start 16 bytes past a 64-byte boundary, so without it every 64-byte AVX-512 store
  // (every other AVX2 one) splits two cache lines (measured: relu at 262K, 1 thread, 0.92x ->
  // see docs/BENCHMARKS.md; an input allocated the same way becomes aligned too)
  if (e - i >= 4 * W) {
    const auto mis = (reinterpret_cast<uintptr_t>(y + i) / sizeof(T)) % W;
    if (mis) {
      const int64_t r0 = static_cast<int64_t>(W - mis);
      f(i, static_cast<int>(r0)).store(y + i, static_cast<int>(r0));
      i += r0;
    }
  }
  const int64_t pairs = (e - i) / (2 * W), step = down ? -2 * W : 2 * W;
  const bool aligned = kStream && reinterpret_cast<uintptr_t>(y + i) % (W * sizeof(T)) == 0;
  for (int64_t k = 0, j = down ? i + (pairs - 1) * 2 * W : i; k < pairs; ++k, j += step) {
    const V v0 = f(j, W), v1 = f(j + W, W);
    if (aligned) {
      v0.store_stream(y + j);
      v1.store_stream(y + j + W);
    } else {
      v0.store(y + j);
      v1.store(y + j + W);
    }
  }
  for (i += pairs * 2 * W; i < e; i += W) {
    const int r = e - i < W ? static_cast<int>(e - i) : W;
    f(i, r).store(y + i, r);
  }
  if (kStream) stream_fence();
}

// The range loops are flattened: every call in them, the vector math included, is inlined.
// activation.cpp instantiates each vector function in dozens of loops, and GCC's size
// heuristics then called vgelu, vsigmoid, vswish and vtanh out of line once per vector (a call,
// a zmm spill and reload, the constants reloaded): issue 18, round 5, docs/BENCHMARKS.md
// "round 5: act5".
#if defined(__GNUC__)
#define DG_FLATTEN __attribute__((flatten))
#else
#define DG_FLATTEN
#endif

// Cached (non-streaming) forward ranges longer than kReverseMin elements run their kReverseBlock
// blocks last to first on every other call of a thread. A pass front to back over an input and
// output that together fill the L2 (262K float32: 1 + 1 MiB against SPR's 2 MiB) evicts the
// lines the next pass needs first, so every pass reads from L3; the reversed pass starts where
// the previous one ended, on the lines still in L2 (and an op after one that wrote its output
// front to back does the same). Issue 18, round 6: relu at 262K, 1 thread, alone
// 49 -> 39 us per call. The results do not depend on the order.
inline constexpr int64_t kReverseBlock = 4096;
inline constexpr int64_t kReverseMin = 16 * kReverseBlock;

template <class T, Act A, bool kStream>
DG_FLATTEN void act_forward_range(const T* x, T* y, int64_t b, int64_t e, T param) {
  const Vec<T> p = Vec<T>::set1(param);
  const bool down = kStream && stream_downward(y + b, {x + b});
  const int64_t ahead = (down ? -kPrefetchBytes : kPrefetchBytes) / int64_t(sizeof(T));
  const auto run = [&](int64_t lo, int64_t hi) {
    store_range<T, kStream>(
        y, lo, hi,
        [&](int64_t i, int r) {
          // the compute-heavy activations keep too few loads in flight for the hardware
          // prefetcher; also below kStreamBytes (issue 18: at 262K float32, 1 thread, x and y
          // together fill the 2 MiB L2, so x comes from L3: sigmoid 104 -> 96 us, gelu 160 ->
          // 157 us, tanh and relu within noise)
          __builtin_prefetch(x + i + ahead);
          return ActOp<A>::fwd(r == Vec<T>::width ? Vec<T>::load(x + i) : Vec<T>::load(x + i, r),
                               p);
        },
        down);
  };
  if (!kStream && e - b >= kReverseMin) {
    static thread_local bool reverse = false;
    reverse = !reverse;
    if (reverse) {
      for (int64_t hi = e; hi > b; hi -= kReverseBlock) run(std::max(b, hi - kReverseBlock), hi);
      return;
    }
  }
  run(b, e);
}

template <class T, Act A, bool kStream>
DG_FLATTEN void act_backward_range(const T* dy, const T* s, T* dx, int64_t b, int64_t e, T param) {
  using V = Vec<T>;
  const V p = V::set1(param);
  const bool down = kStream && stream_downward(dx + b, {dy + b, s + b});
  const int64_t ahead = (down ? -kPrefetchBytes : kPrefetchBytes) / int64_t(sizeof(T));
  store_range<T, kStream>(
      dx, b, e,
      [&](int64_t i, int r) {
        if (kStream) {
          __builtin_prefetch(dy + i + ahead);
          __builtin_prefetch(s + i + ahead);
        }
        return r == V::width ? ActOp<A>::bwd(V::load(dy + i), V::load(s + i), p)
                             : ActOp<A>::bwd(V::load(dy + i, r), V::load(s + i, r), p);
      },
      down);
}

template <class T>
void activation_forward_t(Act act, const T* x, T* y, int64_t n, T param) {
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    const bool stream = n * int64_t(sizeof(T)) >= kStreamBytes;
    parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
      if (stream)
        act_forward_range<T, A, true>(x, y, b, e, param);
      else
        act_forward_range<T, A, false>(x, y, b, e, param);
    });
  });
}

template <class T>
void activation_backward_t(Act act, const T* dy, const T* s, T* dx, int64_t n, T param) {
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    const bool stream = n * int64_t(sizeof(T)) >= kStreamBytes;
    parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
      if (stream)
        act_backward_range<T, A, true>(dy, s, dx, b, e, param);
      else
        act_backward_range<T, A, false>(dy, s, dx, b, e, param);
    });
  });
}

// y[i] = f(x[i]) for i in [b, e) (math_fn_t's loop, flattened as the activations' are)
template <class T, class F>
DG_FLATTEN void math_fn_range(const T* x, T* y, int64_t b, int64_t e, F f) {
  using V = Vec<T>;
  store_range<T, false>(y, b, e, [&](int64_t i, int r) {
    return f(r == V::width ? V::load(x + i) : V::load(x + i, r));
  });
}

// y = fn(x), the switch hoisted out of the loop; full vectors in the body (a masked load and
// store on every vector costs the AVX2 path dearly), the tail masked.
template <class T>
void math_fn_t(MathFn fn, const T* x, T* y, int64_t n) {
  using V = Vec<T>;
  auto run = [&](auto f) {
    parallel_chunks(n, kParallelGrain,
                    [&](int64_t b, int64_t e) { math_fn_range<T>(x, y, b, e, f); });
  };
  switch (fn) {
    case MathFn::exp:
      return run([](V v) { return vexp(v); });
    case MathFn::log:
      return run([](V v) { return vlog(v); });
    case MathFn::log1p:
      return run([](V v) { return vlog1p(v); });
    case MathFn::tanh:
      return run([](V v) { return vtanh(v); });
    case MathFn::erf:
      return run([](V v) { return verf(v); });
    case MathFn::erfc:
      return run([](V v) { return verfc(v); });
    case MathFn::sigmoid:
      return run([](V v) { return vsigmoid(v); });
    case MathFn::normcdf:
      return run([](V v) { return vnormcdf(v); });
  }
}

}  // namespace
#undef DG_FLATTEN

#define DG_ELEMENTWISE_DEFS(T)                                                            \
  void activation_forward(Act act, const T* x, T* y, int64_t n, T param) {                \
    activation_forward_t(act, x, y, n, param);                                            \
  }                                                                                       \
  void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, T param) { \
    activation_backward_t(act, dy, s, dx, n, param);                                      \
  }                                                                                       \
  void math_fn(MathFn fn, const T* x, T* y, int64_t n) { math_fn_t(fn, x, y, n); }
DG_ELEMENTWISE_DEFS(float)
DG_ELEMENTWISE_DEFS(double)
#undef DG_ELEMENTWISE_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
