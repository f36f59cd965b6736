// Optimizer updates, one pass over each parameter, in place (torch.optim semantics).
// Compiled once per ISA (cmake/cpu_isa.cmake).
#include <cmath>
#include <limits>
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

// v as rounded to T, kept out of any fused multiply-add the compiler would form with it: the
// kernels below repeat the array path's roundings (optim/_more.py, optim/adagrad.py), and
// GCC contracts a product feeding a sum (-ffp-contract=fast) across the Vec operators.
template <class T>
inline Vec<T> rounded(Vec<T> v) {
#if defined(__AVX512F__)
  asm("" : "+v"(v.v));
#else
  asm("" : "+x"(v.v));
#endif
  return v;
}

// The gradient an update uses: -g with maximize, plus wd * p where weight decay is on (the
// product rounded before the sum, as the array path's multiply then add; (wd p) - g is
// (-g) + wd p to the bit).
template <class T, bool kWd, bool kNeg>
inline Vec<T> update_grad(Vec<T> g, Vec<T> p, Vec<T> wd) {
  if (kWd) {
    const Vec<T> d = rounded(wd * p);
    return kNeg ? d - g : d + g;
  }
  return kNeg ? -g : g;
}

// torch's lerp_(end, w) of `start` as the array path rounds it (optim/_more.py _lerp_into):
// start + w (end - start) for |w| < 0.5, else end + (w - 1) (end - start), two roundings each.
template <class T>
inline Vec<T> lerp2(Vec<T> start, Vec<T> end, Vec<T> w, Vec<T> w1, bool small) {
  const Vec<T> d = end - start;
  return small ? start + rounded(d * w) : end + rounded(d * w1);
}

// body(wd_tag, neg_tag) with the two flags as std::true_type / std::false_type: one
// instantiation of the loop per combination, the branches resolved at compile time.
template <class F>
inline void with_wd_neg(bool wd, bool neg, F&& body) {
  if (wd)
    neg ? body(std::true_type{}, std::true_type{}) : body(std::true_type{}, std::false_type{});
  else
    neg ? body(std::false_type{}, std::true_type{}) : body(std::false_type{}, std::false_type{});
}

// The loop of the updates below: [0, n) in kOptimGrain chunks across the threads, vector by
// vector (for_vectors), once per (weight decay on, maximize) pair (with_wd_neg). f(i, r, pv, gv)
// updates the r elements at i: pv = prep(p[i, i + r)) (NAdam decays it first), gv the gradient
// that update_grad makes of g[i, i + r) at pv.
template <class T, class Prep, class F>
void update_vectors(const T* p, const T* g, int64_t n, double wd, bool neg, Prep&& prep, F&& f) {
  const Vec<T> vwd = Vec<T>::set1(T(wd));
  with_wd_neg(wd != 0.0, neg, [&](auto wd_tag, auto neg_tag) {
    constexpr bool kWd = decltype(wd_tag)::value, kNeg = decltype(neg_tag)::value;
    parallel_chunks(n, kOptimGrain, [&](int64_t b, int64_t e) {
      // copies local to the thread: the constants f and prep capture (by value) stay in
      // registers, where a store through p or a state could otherwise alias them
      const auto body = f;
      const auto pre = prep;
      const Vec<T> w = vwd;
      for_vectors<T>(b, e, [&](int64_t i, int r) {
        const Vec<T> pv = pre(load_n(p + i, r));
        body(i, r, pv, update_grad<T, kWd, kNeg>(load_n(g + i, r), pv, w));
      });
    });
  });
}

// update_vectors with p as loaded.
template <class T, class F>
void update_vectors(const T* p, const T* g, int64_t n, double wd, bool neg, F&& f) {
  update_vectors<T>(p, g, n, wd, neg, [](Vec<T> pv) { return pv; }, f);
}

// torch.optim.Adagrad's step with clr = lr / (1 + (t - 1) lr_decay) already taken:
// s += g^2;  p -= clr * (g / (sqrt(s) + eps)).  20 bytes a float32 parameter (p, g, s read;
// p, s written) in one pass, where the chunked numpy step made seven.
template <class T>
void adagrad_t(T* p, const T* g, T* s, int64_t n, double clr, double eps, double wd, bool neg) {
  using V = Vec<T>;
  const V vclr = V::set1(T(clr)), veps = V::set1(T(eps));
  update_vectors<T>(p, g, n, wd, neg, [=](int64_t i, int r, V pv, V gv) {
    const V sv = load_n(s + i, r) + gv * gv;
    store_n(sv, s + i, r);
    store_n(pv - vclr * (gv / (sqrt(sv) + veps)), p + i, r);
  });
}

// torch.optim.RMSprop's step, in the array path's order of operations (optim/rmsprop.py
// `_rmsprop`; the compiler may fuse a product into a sum here, an ulp apart from that path):
// sq = alpha sq + ((1 - alpha) g) g; centered: ga += (1 - alpha) (g - ga) (torch's lerp) and
// avg = sqrt(sq - ga^2) + eps (inf where sq is: torch's addcmul rounds once, so an overflowed
// g^2 never meets inf - inf), else sqrt(sq) + eps; with momentum buf = mom buf + g / avg and
// p -= lr buf, else p -= lr (g / avg). ga / buf are null when unused.
template <class T>
void rmsprop_t(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, double lr, double alpha,
               double eps, double wd, double mom, bool neg) {
  using V = Vec<T>;
  const V vlr = V::set1(T(lr)), va = V::set1(T(alpha)), vc = V::set1(T(1.0 - alpha));
  const V veps = V::set1(T(eps)), vm = V::set1(T(mom));
  const V inf = V::set1(std::numeric_limits<T>::infinity());
  update_vectors<T>(p, g, n, wd, neg, [=](int64_t i, int r, V pv, V gv) {
    const V t = (gv * vc) * gv;
    const V sv = load_n(sq + i, r) * va + t;
    store_n(sv, sq + i, r);
    V d = sv;
    if (ga) {
      V gav = load_n(ga + i, r);
      const V step = (gv - gav) * vc;
      gav = gav + step;
      store_n(gav, ga + i, r);
      const V g2 = gav * gav;
      d = select(sv == inf, inf, sv - g2);
    }
    const V q = gv / (sqrt(d) + veps);
    if (buf) {
      const V bv = load_n(buf + i, r) * vm + q;
      store_n(bv, buf + i, r);
      store_n(pv - bv * vlr, p + i, r);
    } else {
      store_n(pv - q * vlr, p + i, r);
    }
  });
}

// torch.optim.Adamax's step (optim/_more.py _adamax, its roundings): m = lerp(m, g, c) with
// c = 1 - beta1 (one rounding, m - c (m - g), as torch's vectorized lerp, where |c| < 0.5);
// u = max(beta2 u, |g| + eps) (NaN wins, as torch.amax); p += (m * -clr) / u.
template <class T>
void adamax_t(T* p, const T* g, T* m, T* u, int64_t n, double clr, double b1, double b2, double eps,
              double wd, bool neg) {
  using V = Vec<T>;
  const double c = 1.0 - b1;
  const bool small = std::abs(c) < 0.5;
  const V vc = V::set1(T(c)), vc1 = V::set1(T(c - 1.0)), vb2 = V::set1(T(b2));
  const V veps = V::set1(T(eps)), vnclr = V::set1(T(-clr));
  update_vectors<T>(p, g, n, wd, neg, [=](int64_t i, int r, V pv, V gv) {
    V mv = load_n(m + i, r);
    mv = small ? fnmadd(vc, mv - gv, mv) : lerp2(mv, gv, vc, vc1, false);
    store_n(mv, m + i, r);
    const V a = rounded(load_n(u + i, r) * vb2), t = abs(gv) + veps;
    const V uv = select(is_nan(a) | is_nan(t), a + t, max(a, t));
    store_n(uv, u + i, r);
    store_n(pv + rounded(mv * vnclr) / uv, p + i, r);
  });
}

// torch.optim.NAdam's step (optim/_more.py _nadam, its roundings), its scalars precomputed:
// p *= decay (decoupled weight decay, else wd on the gradient); m = lerp(m, g, 1 - beta1);
// v = beta2 v + ((1 - beta2) g) g; d = sqrt(v / bc2) + eps; p += (g c_g) / d; p += (m c_m) / d.
template <class T>
void nadam_t(T* p, const T* g, T* m, T* v, int64_t n, double decay, double b1, double b2,
             double bc2, double eps, double c_g, double c_m, double wd, bool neg) {
  using V = Vec<T>;
  const double c = 1.0 - b1;
  const bool small = std::abs(c) < 0.5, decayed = decay != 1.0;
  const V vc = V::set1(T(c)), vc1 = V::set1(T(c - 1.0)), vb2 = V::set1(T(b2));
  const V vb2c = V::set1(T(1.0 - b2)), vbc2 = V::set1(T(bc2)), veps = V::set1(T(eps));
  const V vdecay = V::set1(T(decay)), vcg = V::set1(T(c_g)), vcm = V::set1(T(c_m));
  const auto decay_p = [=](V pv) { return decayed ? rounded(pv * vdecay) : pv; };
  update_vectors<T>(p, g, n, wd, neg, decay_p, [=](int64_t i, int r, V pv, V gv) {
    const V mv = lerp2(load_n(m + i, r), gv, vc, vc1, small);
    store_n(mv, m + i, r);
    const V vv = rounded(load_n(v + i, r) * vb2) + rounded(rounded(gv * vb2c) * gv);
    store_n(vv, v + i, r);
    const V d = sqrt(vv / vbc2) + veps;
    pv = pv + rounded(gv * vcg) / d;
    store_n(pv + rounded(mv * vcm) / d, p + i, r);
  });
}

}  // namespace

#define DG_OPTIM_DEFS(T)                                                                           \
  void sgd_update(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum,          \
                  double dampening, double weight_decay, bool nesterov, bool first_step) {         \
    sgd_t(param, grad, buf, n, lr, momentum, dampening, weight_decay, nesterov, first_step);       \
  }                                                                                                \
  void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, double lr, double beta1,        \
                   double beta2, double eps, double weight_decay, bool decoupled, int64_t step) {  \
    adam_t(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, decoupled, step);            \
  }                                                                                                \
  void adagrad_update(T* param, const T* grad, T* sum, int64_t n, double clr, double eps,          \
                      double weight_decay, bool maximize) {                                        \
    adagrad_t(param, grad, sum, n, clr, eps, weight_decay, maximize);                              \
  }                                                                                                \
  void rmsprop_update(T* param, const T* grad, T* square_avg, T* grad_avg, T* buf, int64_t n,      \
                      double lr, double alpha, double eps, double weight_decay, double momentum,   \
                      bool maximize) {                                                             \
    rmsprop_t(param, grad, square_avg, grad_avg, buf, n, lr, alpha, eps, weight_decay, momentum,   \
              maximize);                                                                           \
  }                                                                                                \
  void adamax_update(T* param, const T* grad, T* exp_avg, T* exp_inf, int64_t n, double clr,       \
                     double beta1, double beta2, double eps, double weight_decay, bool maximize) { \
    adamax_t(param, grad, exp_avg, exp_inf, n, clr, beta1, beta2, eps, weight_decay, maximize);    \
  }                                                                                                \
  void nadam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double decay,   \
                    double beta1, double beta2, double bc2, double eps, double c_g, double c_m,    \
                    double weight_decay, bool maximize) {                                          \
    nadam_t(param, grad, exp_avg, exp_avg_sq, n, decay, beta1, beta2, bc2, eps, c_g, c_m,          \
            weight_decay, maximize);                                                               \
  }
DG_OPTIM_DEFS(float)
DG_OPTIM_DEFS(double)
#undef DG_OPTIM_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
