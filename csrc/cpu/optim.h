// Optimizer updates, one pass over each parameter, in place (torch.optim semantics).
// Compiled once per ISA (cmake/cpu_isa.cmake).
#include <cmath>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

template <class T>
void sgd_t(T* p, const T* g, T* buf, int64_t n, double lr, double mom, double damp, double wd,
           bool nesterov, bool first) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V vlr = V::set1(T(lr)), vm = V::set1(T(mom)), vd = V::set1(T(1.0 - damp));
  const V vwd = V::set1(T(wd));
  const bool has_mom = mom != 0.0;
  parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W) {
      const int r = e - i < W ? static_cast<int>(e - i) : W;
      const V pv = V::load(p + i, r);
      V gv = V::load(g + i, r);
      if (wd != 0.0) gv = gv + vwd * pv;
      if (has_mom) {
        V bv = first ? gv : V::load(buf + i, r) * vm + vd * gv;
        bv.store(buf + i, r);
        gv = nesterov ? gv + vm * bv : bv;
      }
      (pv - vlr * gv).store(p + i, r);
    }
  });
}

template <class T>
void adam_t(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps,
            double wd, bool decoupled, int64_t t) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const double bc1 = 1.0 - std::pow(b1, double(t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, double(t)));
  const V vb1 = V::set1(T(b1)), vb2 = V::set1(T(b2));
  const V c1 = V::set1(T(1.0 - b1)), c2 = V::set1(T(1.0 - b2));
  const V vwd = V::set1(T(wd)), decay = V::set1(T(1.0 - lr * wd)), step = V::set1(T(lr / bc1));
  const V vbc2 = V::set1(T(bc2_sqrt)), veps = V::set1(T(eps));
  parallel_chunks(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W) {
      const int r = e - i < W ? static_cast<int>(e - i) : W;
      V pv = V::load(p + i, r);
      V gv = V::load(g + i, r);
      if (wd != 0.0) {
        if (decoupled)
          pv = pv * decay;
        else
          gv = gv + vwd * pv;
      }
      const V mv = V::load(m + i, r) * vb1 + c1 * gv;
      const V vv = V::load(v + i, r) * vb2 + c2 * (gv * gv);
      mv.store(m + i, r);
      vv.store(v + i, r);
      const V denom = sqrt(vv) / vbc2 + veps;
      (pv - step * (mv / denom)).store(p + i, r);
    }
  });
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
