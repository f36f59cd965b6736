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
    case Act::identity:
      return dy;
  }
  return dy;
}

}  // namespace cuda
}  // namespace dg
