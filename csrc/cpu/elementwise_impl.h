// Activations forward and backward, and the vector math functions, over flat arrays. Compiled
// once per ISA by elementwise_{avx512,avx2,generic}.cpp.
#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

template <class T, Act A>
void act_forward_range(const T* x, T* y, int64_t b, int64_t e, T param) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V p = V::set1(param);
  int64_t i = b;
  for (; i + 2 * W <= e; i += 2 * W) {
    const V v0 = ActOp<A>::fwd(V::load(x + i), p);
    const V v1 = ActOp<A>::fwd(V::load(x + i + W), p);
    v0.store(y + i);
    v1.store(y + i + W);
  }
  for (; i < e; i += W) {
    const int r = e - i < W ? static_cast<int>(e - i) : W;
    ActOp<A>::fwd(V::load(x + i, r), p).store(y + i, r);
  }
}

template <class T, Act A>
void act_backward_range(const T* dy, const T* s, T* dx, int64_t b, int64_t e, T param) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V p = V::set1(param);
  int64_t i = b;
  for (; i + W <= e; i += W) ActOp<A>::bwd(V::load(dy + i), V::load(s + i), p).store(dx + i);
  if (i < e) {
    const int r = static_cast<int>(e - i);
    ActOp<A>::bwd(V::load(dy + i, r), V::load(s + i, r), p).store(dx + i, r);
  }
}

template <class T>
Vec<T> apply_math(MathFn fn, Vec<T> x) {
  switch (fn) {
    case MathFn::exp: return vexp(x);
    case MathFn::log: return vlog(x);
    case MathFn::log1p: return vlog1p(x);
    case MathFn::tanh: return vtanh(x);
    case MathFn::erf: return verf(x);
    case MathFn::erfc: return verfc(x);
    case MathFn::sigmoid: return vsigmoid(x);
    case MathFn::normcdf: return vnormcdf(x);
  }
  return x;
}

template <class T>
void activation_forward_t(Act act, const T* x, T* y, int64_t n, T param) {
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
      act_forward_range<T, A>(x, y, b, e, param);
    });
  });
}

template <class T>
void activation_backward_t(Act act, const T* dy, const T* s, T* dx, int64_t n, T param) {
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
      act_backward_range<T, A>(dy, s, dx, b, e, param);
    });
  });
}

template <class T>
void math_fn_t(MathFn fn, const T* x, T* y, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W) {
      const int r = e - i < W ? static_cast<int>(e - i) : W;
      apply_math(fn, V::load(x + i, r)).store(y + i, r);
    }
  });
}

}  // namespace

#define DG_ELEMENTWISE_DEFS(T)                                                              \
  void activation_forward(Act act, const T* x, T* y, int64_t n, T param) {                 \
    activation_forward_t(act, x, y, n, param);                                             \
  }                                                                                         \
  void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, T param) {  \
    activation_backward_t(act, dy, s, dx, n, param);                                       \
  }                                                                                         \
  void math_fn(MathFn fn, const T* x, T* y, int64_t n) { math_fn_t(fn, x, y, n); }
DG_ELEMENTWISE_DEFS(float)
DG_ELEMENTWISE_DEFS(double)
#undef DG_ELEMENTWISE_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
