// Activation functions and their derivatives, shared by the elementwise kernels and the fused
// linear epilogue of the GEMM. Semantics follow the ops table in docs/ARCHITECTURE.md.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// The order is part of the binding contract (python/deltagrad/_cuda_ops.py ACTIVATIONS).
enum Act : int {
  kIdentity = 0,
  kRelu = 1,
  kLeakyRelu = 2,
  kSigmoid = 3,
  kTanh = 4,
  kGelu = 5,
  kGeluTanh = 6,
  kSoftplus = 7,
};

// True when the backward needs the pre-activation x; otherwise it needs the output y.
inline bool act_backward_needs_input(int act) {
  return act == kLeakyRelu || act == kGelu || act == kGeluTanh || act == kSoftplus;
}

template <class T>
__device__ __forceinline__ T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + dexp(-x));
  const T e = dexp(x);
  return e / (T(1) + e);
}

template <class T>
__device__ __forceinline__ T act_forward(int act, T x, T param) {
  switch (act) {
    case kRelu: return x > T(0) ? x : T(0);
    case kLeakyRelu: return x > T(0) ? x : param * x;
    case kSigmoid: return sigmoid_of(x);
    case kTanh: return dtanh(x);
    case kGelu: return T(0.5) * x * (T(1) + derf(x * T(0.70710678118654752440)));
    case kGeluTanh: {
      const T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + dtanh(u));
    }
    case kSoftplus: return dmax(x, T(0)) + dlog1p(dexp(-dabs(x)));
    default: return x;
  }
}

// dx from dy and `saved` (y for identity / relu / sigmoid / tanh, x for the others).
template <class T>
__device__ __forceinline__ T act_backward(int act, T dy, T saved, T param) {
  switch (act) {
    case kRelu: return saved > T(0) ? dy : T(0);
    case kLeakyRelu: return saved > T(0) ? dy : dy * param;
    case kSigmoid: return dy * saved * (T(1) - saved);
    case kTanh: return dy * (T(1) - saved * saved);
    case kGelu: {
      const T x = saved;
      const T cdf = T(0.5) * (T(1) + derf(x * T(0.70710678118654752440)));
      const T pdf = dexp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return dy * (cdf + x * pdf);
    }
    case kGeluTanh: {
      const T x = saved;
      const T k = T(0.79788456080286535588);
      const T t = dtanh(k * (x + T(0.044715) * x * x * x));
      const T du = k * (T(1) + T(3) * T(0.044715) * x * x);
      return dy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
    }
    case kSoftplus: return dy * sigmoid_of(saved);
    default: return dy;
  }
}

}  // namespace cuda
}  // namespace dg
