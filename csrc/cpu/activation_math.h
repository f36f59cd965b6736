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
