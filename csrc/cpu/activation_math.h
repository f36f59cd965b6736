// The activation functions on vectors: one ActOp<A> per dg::Act (common/op_names.h) with its
// forward fwd(x, param) and backward bwd(dy, saved, param), saved as act_saves_input(). Every
// kernel that applies an activation -- the activation op (activation.h), the linear layer's GEMM
// epilogue and its dz pass (linear.h) -- shares this one source. with_act() turns a runtime Act
// into the compile-time one.
#pragma once

#ifndef DG_ISA_NS
#error "define DG_ISA_NS before including cpu/activation_math.h"
#endif

#include <type_traits>

#include "common/op_names.h"
#include "cpu/simd.h"
#include "cpu/simd_math.h"

namespace dg {
namespace DG_ISA_NS {

template <Act A>
struct ActOp;

template <>
struct ActOp<Act::identity> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return x;
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T>) {
    return dy;
  }
};
template <>
struct ActOp<Act::relu> {
  // max returns its second operand when either is NaN: NaN propagates
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return max(Vec<T>::zero(), x);
  }
  // dy where y is not <= 0: a NaN y passes dy through, as torch's threshold_backward
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> y, Vec<T>) {
    return select(y <= Vec<T>::zero(), Vec<T>::zero(), dy);
  }
};
template <>
struct ActOp<Act::leaky_relu> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T> slope) {
    return select(x > Vec<T>::zero(), x, x * slope);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T> slope) {
    return select(x > Vec<T>::zero(), dy, dy * slope);
  }
};
template <>
struct ActOp<Act::sigmoid> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return vsigmoid(x);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> y, Vec<T>) {
    return dy * y * (Vec<T>::set1(T(1)) - y);
  }
};
template <>
struct ActOp<Act::tanh> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return vtanh(x);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> y, Vec<T>) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return dy * ((one - y) * (one + y));  // 1 - y^2 without cancellation near |y| = 1
  }
};
template <>
struct ActOp<Act::gelu> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return vgelu(x);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    return dy * fmadd(x, vnormpdf(x), vnormcdf(x));
  }
};
template <>
struct ActOp<Act::gelu_tanh> {
  // 0.5 x (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation
  // in the negative tail.
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    Vec<T> s, sc;
    vgelu_tanh_sigmoid2(x, s, sc);
    return x * s;
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    Vec<T> s, sc;
    vgelu_tanh_sigmoid2(x, s, sc);
    // d/dx x s(2u) = s + x * 2 s (1 - s) * u'
    const Vec<T> du = fmadd(Vec<T>::set1(T(0.7978845608028654 * 3 * 0.044715)), x * x,
                            Vec<T>::set1(T(0.7978845608028654)));
    const Vec<T> t = x * (Vec<T>::set1(T(2)) * s * sc);
    const Vec<T> term = select(t == Vec<T>::zero(), Vec<T>::zero(), t * du);  // 0 * inf at |x| huge
    return dy * (s + term);
  }
};
template <>
struct ActOp<Act::softplus> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return max(Vec<T>::zero(), x) + vlog1p_unit(vexp_upto88(-abs(x)));
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    return dy * vsigmoid(x);
  }
};
template <>
struct ActOp<Act::silu> {
  // swish: x sigmoid(x), -0 where sigmoid underflows (vswish, simd_math.h).
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return vswish(x);
  }
  // s + x s (1 - s) with s and 1 - s = sigmoid(-x) each without cancellation; the product is 0
  // where s (1 - s) underflows (inf * 0 at x = +-inf).
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    Vec<T> s, sc;
    vsigmoid2(x, s, sc);
    const Vec<T> p = s * sc;
    return dy * (s + select(p == Vec<T>::zero(), Vec<T>::zero(), x * p));
  }
};

// The elu family: x < 0 ? scale alpha expm1(x inv) : scale x (inv = 1 / alpha for celu, else
// 1): x itself at +-0 and NaN, as torch, whatever alpha (alpha expm1(0) was NaN for an infinite
// alpha and lost the sign of -0). The backward, with torch's elu_backward: x <= 0 ? dy scale alpha
// inv exp(x inv) : dy scale (a NaN x passes dy scaled). celu with a negative alpha makes x inv >=
// 0: expm1 of a positive argument as -expm1(-u) e^u (no cancellation), on a branch every vector
// takes alike.
template <class T>
inline Vec<T> elu_fwd(Vec<T> x, Vec<T> scale, Vec<T> alpha, Vec<T> inv) {
  const Vec<T> u = min(Vec<T>::zero(), x) * inv;
  Vec<T> em;
  if (!all_lanes(inv >= Vec<T>::zero())) {
    const Vec<T> m = vexpm1_neg(-abs(u));
    em = select(u <= Vec<T>::zero(), m, -m * vexp(u));
  } else {
    em = vexpm1_neg(u);
  }
  return scale * select(x < Vec<T>::zero(), alpha * em, x);
}
template <class T>
inline Vec<T> elu_bwd(Vec<T> dy, Vec<T> x, Vec<T> scale, Vec<T> alpha, Vec<T> inv) {
  const Vec<T> e = vexp(min(Vec<T>::zero(), x) * inv);
  return dy * select(x <= Vec<T>::zero(), scale * alpha * inv * e, scale);
}
template <>
struct ActOp<Act::elu> {  // param: alpha
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T> alpha) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_fwd(x, one, alpha, one);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T> alpha) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_bwd(dy, x, one, alpha, one);
  }
};
// torch's constants (Klambauer et al. 2017)
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
template <>
struct ActOp<Act::selu> {
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_fwd(x, Vec<T>::set1(T(kSeluScale)), Vec<T>::set1(T(kSeluAlpha)), one);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_bwd(dy, x, Vec<T>::set1(T(kSeluScale)), Vec<T>::set1(T(kSeluAlpha)), one);
  }
};
template <>
struct ActOp<Act::celu> {  // param: alpha (x / alpha as x * (1 / alpha), as torch)
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T> alpha) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_fwd(x, one, alpha, one / alpha);
  }
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T> alpha) {
    const Vec<T> one = Vec<T>::set1(T(1));
    return elu_bwd(dy, x, one, alpha, one / alpha);
  }
};
template <>
struct ActOp<Act::relu6> {
  // min(max(x, 0), 6): max and min return their second operand, NaN, for a NaN x
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return min(Vec<T>::set1(T(6)), max(Vec<T>::zero(), x));
  }
  // torch's hardtanh_backward: 0 where x <= 0 or x >= 6, the same lanes as y <= 0 or y >= 6
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> y, Vec<T>) {
    const Vec<T> z = Vec<T>::zero();
    return select(y <= z, z, select(y >= Vec<T>::set1(T(6)), z, dy));
  }
};
template <>
struct ActOp<Act::hardsigmoid> {
  // clamp((x + 3) / 6, 0, 1), the division as a product (torch divides); x + 3 is exact near
  // -3, where x / 6 + 1/2 would cancel; NaN passes
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    const Vec<T> v = (x + Vec<T>::set1(T(3))) * Vec<T>::set1(T(1) / T(6));
    return min(Vec<T>::set1(T(1)), max(Vec<T>::zero(), v));
  }
  // dy / 6 where -3 < x < 3, else 0 (NaN x: 0, as torch)
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    const Vec<T> z = Vec<T>::zero();
    const Vec<T> g = select(x < Vec<T>::set1(T(3)), dy * Vec<T>::set1(T(1) / T(6)), z);
    return select(x > Vec<T>::set1(T(-3)), g, z);
  }
};
template <>
struct ActOp<Act::hardswish> {
  // x hardsigmoid(x), x taken at max(x, -3) where hardsigmoid is 0 anyway: -0 at -inf (the
  // limit; torch's -inf * 0 is NaN); max passes NaN through
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T> p) {
    return max(Vec<T>::set1(T(-3)), x) * ActOp<Act::hardsigmoid>::fwd(x, p);
  }
  // torch 2.13's: 0 up to -3, dy (x / 3 + 1/2) on (-3, 3), dy from 3 (and for a NaN x);
  // x / 3 + 1/2 as (x + 3/2) / 3, exact near its root -3/2
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    const Vec<T> mid = dy * ((x + Vec<T>::set1(T(1.5))) * Vec<T>::set1(T(1) / T(3)));
    const Vec<T> g = select(x < Vec<T>::set1(T(3)), mid, dy);
    return select(x <= Vec<T>::set1(T(-3)), Vec<T>::zero(), g);
  }
};
// mish = x tanh(softplus(x)). With n = e^x: tanh(log(1 + n)) = q / (q + 2), q = n (n + 2), and
// 1 - tanh^2 = 4 (q + 1) / (q + 2)^2: no cancellation in either tail. e^x is taken at
// min(x, 40): q stays finite in float32 (5.5e34), tanh(softplus) has rounded to 1 (from 9 in
// float32, 19 in float64) and the backward's second term, ~4 x e^-2x, to nothing next to it.
template <class T>
inline void mish_parts(Vec<T> x, Vec<T>& n, Vec<T>& q) {
  n = vexp_upto88(min(Vec<T>::set1(T(40)), x));
  q = n * (n + Vec<T>::set1(T(2)));
}
template <>
struct ActOp<Act::mish> {
  // x clamped at -800 as in vswish: -0, not -inf * 0, where the tanh underflows
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    Vec<T> n, q;
    mish_parts(x, n, q);
    return max(Vec<T>::set1(T(-800)), x) * (q / (q + Vec<T>::set1(T(2))));
  }
  // t + x sigmoid(x) (1 - t^2), sigmoid(x) = n / (1 + n); x clamped to [-800, 40] in the second
  // term only (its limits at +-inf are 0, where x times it would be inf * 0); (q + 2)^2 is
  // formed as two factors of 1 / (q + 2), which underflow to 0 rather than overflow
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    using V = Vec<T>;
    V n, q;
    mish_parts(x, n, q);
    const V w = V::set1(T(1)) / (q + V::set1(T(2)));
    const V one_minus_t2 = V::set1(T(4)) * (q + V::set1(T(1))) * w * w;
    const V xc = min(V::set1(T(40)), max(V::set1(T(-800)), x));
    const V sig = n / (V::set1(T(1)) + n);
    return dy * fmadd(xc * sig, one_minus_t2, q * w);
  }
};
template <>
struct ActOp<Act::logsigmoid> {
  // min(x, 0) - log1p(exp(-|x|)), torch's formulation
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    return min(Vec<T>::zero(), x) - vlog1p_unit(vexp_upto88(-abs(x)));
  }
  // sigmoid(-x)
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    return dy * vsigmoid(-x);
  }
};
template <>
struct ActOp<Act::softsign> {
  // x / (1 + |x|) with x clamped to +-1e30, where the quotient has rounded to +-1 (in float64
  // too): +-1 at +-inf, the limit (torch's x / (|x| + 1) is NaN there); NaN passes
  template <class T>
  static Vec<T> fwd(Vec<T> x, Vec<T>) {
    const Vec<T> b = Vec<T>::set1(T(1e30));
    const Vec<T> xc = min(b, max(-b, x));
    return xc / (Vec<T>::set1(T(1)) + abs(xc));
  }
  // dy / (1 + |x|)^2 (0 at +-inf)
  template <class T>
  static Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>) {
    const Vec<T> d = Vec<T>::set1(T(1)) + abs(x);
    return dy / (d * d);
  }
};

// f(std::integral_constant<Act, A>{}) for the runtime value `act` (every Act of
// common/op_names.h: each must have its ActOp above).
template <class F>
inline void with_act(Act act, F&& f) {
  switch (act) {
#define DG_WITH_ACT_CASE(name, saves_input)      \
  case Act::name:                                \
    f(std::integral_constant<Act, Act::name>{}); \
    break;
    DG_ACTIVATIONS(DG_WITH_ACT_CASE)
#undef DG_WITH_ACT_CASE
  }
}

}  // namespace DG_ISA_NS
}  // namespace dg
