// Elementwise losses with the gradient fused into the same pass: sum of squares, MSE, binary
// cross-entropy on probabilities and on logits. Compiled once per ISA (cmake/cpu_isa.cmake).
#include <limits>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// eval gives each element's loss and its gradient, before the reduction's scale.
template <LossKind K>
struct LossOp;

template <>
struct LossOp<LossKind::sum_of_squares> {
  template <class T>
  static void eval(Vec<T> y, Vec<T> t, Vec<T>& loss, Vec<T>& grad) {
    const Vec<T> r = y - t;
    loss = Vec<T>::set1(T(0.5)) * (r * r);
    grad = r;
  }
};
template <>
struct LossOp<LossKind::mse> {  // the gradient's 2 goes into the scale (loss_t)
  template <class T>
  static void eval(Vec<T> y, Vec<T> t, Vec<T>& loss, Vec<T>& grad) {
    const Vec<T> r = y - t;
    loss = r * r;
    grad = r;
  }
};
template <>
struct LossOp<LossKind::bce> {
  template <class T>
  static void eval(Vec<T> p, Vec<T> t, Vec<T>& loss, Vec<T>& grad) {
    using V = Vec<T>;
    const V one = V::set1(T(1)), floor = V::set1(T(-100));
    const V lp = max(floor, vlog(p));  // max(floor, NaN) is NaN: NaN propagates
    const V lq = max(floor, vlog1p(-p));
    loss = -(t * lp + (one - t) * lq);
    // a target outside [0, 1] (or NaN) makes the loss NaN: the binding then finds and refuses it
    loss =
        select((t >= V::zero()) & (t <= one), loss, V::set1(std::numeric_limits<T>::quiet_NaN()));
    grad = (p - t) / max(V::set1(T(1e-12)), p * (one - p));
  }
};
template <>
struct LossOp<LossKind::bce_with_logits> {
  template <class T>
  static void eval(Vec<T> z, Vec<T> t, Vec<T>& loss, Vec<T>& grad) {
    using V = Vec<T>;
    // max(z, 0) - z t as (1 - t) z for z >= 0, -t z below: inf - inf at z = +-inf otherwise. A
    // zero factor gives 0 (the limit: z = +inf with t = 1, -inf with t = 0), not 0 * inf.
    const V c = select(z >= V::zero(), V::set1(T(1)) - t, -t);
    loss = select(c == V::zero(), V::zero(), c * z) + vlog1p_unit(vexp_upto88(-abs(z)));
    // sigmoid(z) - t as (1 - t) sigmoid(z) - t sigmoid(-z): no cancellation for 0/1 targets
    V s, sc;
    vsigmoid2(z, s, sc);
    grad = (V::set1(T(1)) - t) * s - t * sc;
  }
};

// Elements per inner accumulation block: partial sums stay short for float32 accuracy.
inline constexpr int64_t kSumBlock = 1024;

template <class T, LossKind K>
double loss_range(const T* y, const T* t, T* g, T* le, int64_t b, int64_t e, T scale) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V s = V::set1(scale);
  double total = 0.0;
  for (int64_t b0 = b; b0 < e; b0 += kSumBlock) {
    const int64_t e0 = b0 + kSumBlock < e ? b0 + kSumBlock : e;
    V acc = V::zero();
    for (int64_t i = b0; i < e0; i += W) {
      const int r = e0 - i < W ? static_cast<int>(e0 - i) : W;
      V loss, grad;
      LossOp<K>::eval(V::load(y + i, r), V::load(t + i, r), loss, grad);
      (grad * s).store(g + i, r);
      if (le) loss.store(le + i, r);
      acc = acc + select(lanes_below<T>(r), loss, V::zero());
    }
    total += static_cast<double>(acc.reduce_add());
  }
  return total;
}

template <class T>
double loss_t(LossKind kind, const T* y, const T* t, T* g, T* le, int64_t n, T scale) {
  double total = 0.0;
  auto run = [&](auto tag) {
    constexpr LossKind K = decltype(tag)::value;
    // MSE's 2 (y - t) / n as (y - t) (2 / n): the gradient of a residual near the float range
    // does not overflow before the 1 / n (torch's order; otherwise the same bits, 2 is exact)
    const T gs = K == LossKind::mse ? T(2) * scale : scale;
    const int64_t chunks = (n + kParallelGrain - 1) / kParallelGrain;
    const int nt = n > kParallelGrain ? num_threads() : 1;
    double sum = 0.0;
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : sum) if (nt > 1)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t b = c * kParallelGrain;
      sum += loss_range<T, K>(y, t, g, le, b, b + kParallelGrain < n ? b + kParallelGrain : n, gs);
    }
    total = sum;
  };
  switch (kind) {
    case LossKind::sum_of_squares:
      run(std::integral_constant<LossKind, LossKind::sum_of_squares>{});
      break;
    case LossKind::mse:
      run(std::integral_constant<LossKind, LossKind::mse>{});
      break;
    case LossKind::bce:
      run(std::integral_constant<LossKind, LossKind::bce>{});
      break;
    case LossKind::bce_with_logits:
      run(std::integral_constant<LossKind, LossKind::bce_with_logits>{});
      break;
  }
  return total;
}

}  // namespace

double loss_forward_backward(LossKind kind, const float* y, const float* t, float* grad,
                             float* loss_elem, int64_t n, float scale) {
  return loss_t(kind, y, t, grad, loss_elem, n, scale);
}
double loss_forward_backward(LossKind kind, const double* y, const double* t, double* grad,
                             double* loss_elem, int64_t n, double scale) {
  return loss_t(kind, y, t, grad, loss_elem, n, scale);
}

}  // namespace DG_ISA_NS
}  // namespace dg
