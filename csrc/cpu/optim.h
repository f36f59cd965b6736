// Optimizer updates, one pass over each parameter, in place (torch.optim semantics).
// Compiled once per ISA (cmake/cpu_isa.cmake).
#include <cmath>
#include <type_traits>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// f(i, r) over [b, e) vector by vector (r valid lanes): the body on full vectors, two at a time
// so the loads of one overlap the arithmetic of the other, and one masked tail. (Masked loads
// and stores on every vector cost the AVX2 path about 2x: vmaskmovps stores are microcoded on
// AMD cores.) Flattened: without it GCC 12 kept f out of line, one call per vector reloading
// every captured pointer, and SGD's step took 1.7x a copy of its bytes at one thread.
template <class T, class F>
[[gnu::flatten]] inline void for_vectors(int64_t b, int64_t e, F&& f) {
  constexpr int W = Vec<T>::width;
  int64_t i = b;
  for (; i + 2 * W <= e; i += 2 * W) {
    f(i, W);
    f(i + W, W);
  }
  for (; i + W <= e; i += W) f(i, W);
  if (i < e) f(i, static_cast<int>(e - i));
}

template <class T>
inline Vec<T> load_n(const T* p, int r) {
  return r == Vec<T>::width ? Vec<T>::load(p) : Vec<T>::load(p, r);
}
template <class T>
inline void store_n(Vec<T> v, T* p, int r) {
  if (r == Vec<T>::width)
    v.store(p);
  else
    v.store(p, r);
}

// Chunks of this many elements per task (20 bytes per float32 parameter: 1.3 MiB), so both
// threads share even the 512x512 weight.

inline constexpr int64_t kOptimGrain = int64_t(1) << 16;

// kMode: 0 no momentum, 1 momentum (first step: buf = g), 2 momentum, 3 nesterov first step,
// 4 nesterov.
template <class T, bool kWd, int kMode>
void sgd_kernel(T* p, const T* g, T* buf, int64_t n, double lr, double mom, double damp,
                double wd) {
  using V = Vec<T>;
  const V vlr = V::set1(T(lr)), vm = V::set1(T(mom)), vd = V::set1(T(1.0 - damp));
  const V vwd = V::set1(T(wd));
  parallel_chunks(n, kOptimGrain, [&](int64_t b, int64_t e) {
    for_vectors<T>(b, e, [&](int64_t i, int r) {
      const V pv = load_n(p + i, r);
      V gv = load_n(g + i, r);
      if (kWd) gv = fmadd(vwd, pv, gv);
      if (kMode != 0) {
        const bool first = kMode == 1 || kMode == 3;
        const V bv = first ? gv : fmadd(load_n(buf + i, r), vm, vd * gv);
        store_n(bv, buf + i, r);
        gv = (kMode >= 3) ? fmadd(vm, bv, gv) : bv;
      }
      store_n(fnmadd(vlr, gv, pv), p + i, r);
    });
  });
}

template <class T>
void sgd_t(T* p, const T* g, T* buf, int64_t n, double lr, double mom, double damp, double wd,
           bool nesterov, bool first) {
  const int mode = mom == 0.0 ? 0 : (nesterov ? 3 : 1) + (first ? 0 : 1);
  auto run = [&](auto wd_tag) {
    constexpr bool kWd = decltype(wd_tag)::value;
    switch (mode) {
      case 0:
        return sgd_kernel<T, kWd, 0>(p, g, buf, n, lr, mom, damp, wd);
      case 1:
        return sgd_kernel<T, kWd, 1>(p, g, buf, n, lr, mom, damp, wd);
      case 2:
        return sgd_kernel<T, kWd, 2>(p, g, buf, n, lr, mom, damp, wd);
      case 3:
        return sgd_kernel<T, kWd, 3>(p, g, buf, n, lr, mom, damp, wd);
      default:
        return sgd_kernel<T, kWd, 4>(p, g, buf, n, lr, mom, damp, wd);
    }
  };
  if (wd != 0.0)
    run(std::true_type{});
  else
    run(std::false_type{});
}

template <class T, bool kWd, bool kDecoupled>
void adam_kernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2,
                 double eps, double wd, int64_t t) {
  using V = Vec<T>;
  const double bc1 = 1.0 - std::pow(b1, double(t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, double(t)));
  const V vb1 = V::set1(T(b1)), vb2 = V::set1(T(b2));
  const V c1 = V::set1(T(1.0 - b1)), c2 = V::set1(T(1.0 - b2));
  const V vwd = V::set1(T(wd)), decay = V::set1(T(1.0 - lr * wd)), step = V::set1(T(lr / bc1));
  // sqrt(v) / sqrt(1 - b2^t) as a product with the reciprocal: one division per vector, not two
  const V inv_bc2 = V::set1(T(1.0 / bc2_sqrt)), veps = V::set1(T(eps));
  parallel_chunks(n, kOptimGrain, [&](int64_t b, int64_t e) {
    for_vectors<T>(b, e, [&](int64_t i, int r) {
      V pv = load_n(p + i, r);
      V gv = load_n(g + i, r);
      if (kWd) {
        if (kDecoupled)
          pv = pv * decay;
        else
          gv = gv + vwd * pv;
      }
      const V mv = load_n(m + i, r) * vb1 + c1 * gv;
      const V vv = load_n(v + i, r) * vb2 + c2 * (gv * gv);
      store_n(mv, m + i, r);
      store_n(vv, v + i, r);
      const V denom = fmadd(sqrt(vv), inv_bc2, veps);
      store_n(pv - step * (mv / denom), p + i, r);
    });
  });
}

template <class T>
void adam_t(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps,
            double wd, bool decoupled, int64_t t) {
  if (wd == 0.0)
    adam_kernel<T, false, false>(p, g, m, v, n, lr, b1, b2, eps, wd, t);
  else if (decoupled)
    adam_kernel<T, true, true>(p, g, m, v, n, lr, b1, b2, eps, wd, t);
  else
    adam_kernel<T, true, false>(p, g, m, v, n, lr, b1, b2, eps, wd, t);
}

}  // namespace

#define DG_OPTIM_DEFS(T)                                                                          \
  void sgd_update(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum,         \
                  double dampening, double weight_decay, bool nesterov, bool first_step) {        \
    sgd_t(param, grad, buf, n, lr, momentum, dampening, weight_decay, nesterov, first_step);      \
  }                                                                                               \
  void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, double lr, double beta1,       \
                   double beta2, double eps, double weight_decay, bool decoupled, int64_t step) { \
    adam_t(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, decoupled, step);           \
  }
DG_OPTIM_DEFS(float)
DG_OPTIM_DEFS(double)
#undef DG_OPTIM_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
