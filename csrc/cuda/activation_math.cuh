// The activation functions and their derivatives, one case per dg::Act, shared by the activation
// kernels (activation.cuh) and the fused linear epilogue of the GEMM (gemm.cuh). Semantics follow
// the ops table in docs/ARCHITECTURE.md.
#pragma once

#include "common/op_names.h"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// The activation codes are dg::Act (common/op_names.h), shared with the CPU kernels and the
// bindings; kernels take them as int (the raw launch API) and switch on the enum.

template <class T>
__device__ __forceinline__ T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + dexp(-x));
  const T e = dexp(x);
  return e / (T(1) + e);
}

// Phi(x), the standard normal CDF, accurate in both tails (erfc, not 1 + erf).
template <class T>
__device__ __forceinline__ T normal_cdf(T x) {
  return T(0.5) * derfc(x * T(-0.70710678118654752440));
}

// 2u of gelu_tanh, u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 x (1 + tanh u) = x sigmoid(2u),
// which has no cancellation in the negative tail.
template <class T>
__device__ __forceinline__ T gelu_tanh_2u(T x) {
  return T(2) * T(0.79788456080286535588) * x * (T(1) + T(0.044715) * x * x);
}

// The elu family (elu, selu, celu): x < 0 ? scale alpha expm1(x inv) : scale x (x itself at
// +-0 and NaN, as torch, whatever alpha; cpu/activation_math.h), and its derivative with torch's
// elu_backward (x <= 0 ? dy scale alpha inv exp(x inv) : dy scale).
template <class T>
__device__ __forceinline__ T elu_of(T x, T scale, T alpha, T inv) {
  return x < T(0) ? scale * (alpha * dexpm1(x * inv)) : scale * x;
}
template <class T>
__device__ __forceinline__ T elu_grad(T dy, T x, T scale, T alpha, T inv) {
  return x <= T(0) ? dy * (scale * alpha * inv * dexp(x * inv)) : dy * scale;
}
#define DG_SELU_ALPHA 1.6732632423543772848170429916717
#define DG_SELU_SCALE 1.0507009873554804934193349852946

// hardsigmoid: clamp((x + 3) / 6, 0, 1) (x + 3 exact near -3), NaN passing (fmin / fmax
// would drop it)
template <class T>
__device__ __forceinline__ T hardsigmoid_of(T x) {
  const T v = (x + T(3)) * (T(1) / T(6));
  return v != v ? v : (v < T(0) ? T(0) : (v > T(1) ? T(1) : v));
}

// mish's tanh(softplus(x)) = q / (q + 2), q = n (n + 2), n = e^min(x, 40) (cpu/activation_math.h)
template <class T>
__device__ __forceinline__ T mish_n(T x) {
  return dexp(x < T(40) || x != x ? x : T(40));
}
template <class T>
__device__ __forceinline__ T mish_q(T x) {
  const T n = mish_n(x);
  return n * (n + T(2));
}

template <class T>
__device__ __forceinline__ T act_forward(int act, T x, T param) {
  switch (static_cast<Act>(act)) {
    case Act::relu:
      return x > T(0) || x != x ? x : T(0);  // NaN propagates, as torch
    case Act::leaky_relu:
      return x > T(0) ? x : param * x;
    case Act::sigmoid:
      return sigmoid_of(x);
    case Act::tanh:
      return dtanh(x);
    case Act::gelu:
      return x * normal_cdf(x);
    case Act::gelu_tanh:
      return x * sigmoid_of(gelu_tanh_2u(x));
    case Act::softplus:
      return dmax(x, T(0)) + dlog1p(dexp(-dabs(x)));
    case Act::silu: {  // x sigmoid(x); -0 where sigmoid underflows (x = -inf: not -inf * 0)
      const T s = sigmoid_of(x);
      return s == T(0) ? T(-0.0) : x * s;
    }
    case Act::elu:
      return elu_of(x, T(1), param, T(1));
    case Act::selu:
      return elu_of(x, T(DG_SELU_SCALE), T(DG_SELU_ALPHA), T(1));
    case Act::celu:
      return elu_of(x, T(1), param, T(1) / param);
    case Act::relu6:  // NaN propagates, as torch's hardtanh
      return x != x ? x : (x < T(0) ? T(0) : (x > T(6) ? T(6) : x));
    case Act::hardsigmoid:
      return hardsigmoid_of(x);
    case Act::hardswish:  // -0 at -inf (x at max(x, -3), where hardsigmoid is 0); NaN passes
      return (x < T(-3) ? T(-3) : x) * hardsigmoid_of(x);
    case Act::mish: {  // x clamped at -800: -0, not -inf * 0, where the tanh underflows
      const T q = mish_q(x);
      return (x < T(-800) ? T(-800) : x) * (q / (q + T(2)));
    }
    case Act::logsigmoid:
      return dmin(x, T(0)) - dlog1p(dexp(-dabs(x)));
    case Act::softsign: {  // +-1 at +-inf (the limit); NaN passes
      const T xc = x > T(1e30) ? T(1e30) : (x < T(-1e30) ? T(-1e30) : x);
      return xc / (T(1) + dabs(xc));
    }
    case Act::identity:
      return x;
  }  // no default: a dg::Act without its case here is a -Wswitch error (the _simt build)
  return x;  // a code outside dg::Act (the Python layer validates names)
}

// dx from dy and `saved` (y for identity / relu / sigmoid / tanh, x for the others).
template <class T>
__device__ __forceinline__ T act_backward(int act, T dy, T saved, T param) {
  switch (static_cast<Act>(act)) {
    case Act::relu:
      return saved <= T(0) ? T(0) : dy;  // a NaN y passes dy through, as torch
    case Act::leaky_relu:
      return saved > T(0) ? dy : dy * param;
    case Act::sigmoid:
      return dy * saved * (T(1) - saved);
    case Act::tanh:
      return dy * ((T(1) - saved) * (T(1) + saved));
    case Act::gelu: {
      const T x = saved;
      const T pdf = dexp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return dy * (normal_cdf(x) + x * pdf);
    }
    case Act::gelu_tanh: {
      // d/dx x s(2u) = s(2u) + x 2 s(2u) s(-2u) u'
      const T x = saved, two_u = gelu_tanh_2u(x);
      const T sg = sigmoid_of(two_u), sc = sigmoid_of(-two_u);
      const T du = T(0.79788456080286535588) * (T(1) + T(3) * T(0.044715) * x * x);
      const T t = x * (T(2) * sg * sc);
      return dy * (sg + (t == T(0) ? T(0) : t * du));  // 0 * inf when |x| is huge
    }
    case Act::softplus:
      return dy * sigmoid_of(saved);
    case Act::silu: {
      // s + x s (1 - s), 1 - s = sigmoid(-x) without cancellation; 0 * inf at x = +-inf
      const T x = saved, s = sigmoid_of(x), p = s * sigmoid_of(-x);
      return dy * (s + (p == T(0) ? T(0) : x * p));
    }
    case Act::elu:
      return elu_grad(dy, saved, T(1), param, T(1));
    case Act::selu:
      return elu_grad(dy, saved, T(DG_SELU_SCALE), T(DG_SELU_ALPHA), T(1));
    case Act::celu:
      return elu_grad(dy, saved, T(1), param, T(1) / param);
    case Act::relu6:  // saved = y: 0 where x <= 0 or x >= 6 (torch's hardtanh_backward)
      return saved <= T(0) || saved >= T(6) ? T(0) : dy;
    case Act::hardsigmoid:  // NaN x: 0, as torch
      return saved > T(-3) && saved < T(3) ? dy * (T(1) / T(6)) : T(0);
    case Act::hardswish:  // torch 2.13's: 0 up to -3, the formula on (-3, 3); NaN x: dy
      return saved <= T(-3) ? T(0) : (saved < T(3) ? dy * ((saved + T(1.5)) * (T(1) / T(3))) : dy);
    case Act::mish: {
      // t + x sigmoid(x) (1 - t^2), 1 - t^2 = 4 (q + 1) / (q + 2)^2; x clamped to [-800, 40]
      // in the second term (its limits at +-inf are 0)
      const T x = saved, n = mish_n(x), q = n * (n + T(2));
      const T w = T(1) / (q + T(2));
      const T xc = x < T(-800) ? T(-800) : (x > T(40) ? T(40) : x);
      return dy * (xc * (n / (T(1) + n)) * (T(4) * (q + T(1)) * w * w) + q * w);
    }
    case Act::logsigmoid:
      return dy * sigmoid_of(-saved);
    case Act::softsign: {
      const T d = T(1) + dabs(saved);
      return dy / (d * d);
    }
    case Act::identity:
      return dy;
  }
  return dy;
}

}  // namespace cuda
}  // namespace dg
