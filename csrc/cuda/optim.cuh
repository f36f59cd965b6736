// The SGD / Adam parameter updates, in place, elementwise (grid-stride loops).
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// torch.optim.SGD: g += wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g on the
// first step); g = nesterov ? g + momentum * buf : buf; p -= lr * g. buf is null when
// momentum == 0.
template <class T>
__global__ void sgd_kernel(int64_t n, gptr<T> param, gptr<const T> grad, gptr<T> buf, T lr,
                           T momentum, T weight_decay, bool nesterov, T dampening,
                           bool first_step) {
  DG_GRID_STRIDE(i, n) {
    const T p = param[i];
    T g = grad[i] + weight_decay * p;
    if (buf) {
      const T b = first_step ? g : momentum * buf[i] + (T(1) - dampening) * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    param[i] = p - lr * g;
  }
}

// torch.optim.Adam / AdamW (decoupled): bias-corrected moments; bc1 = 1 - beta1^step,
// bc2 = 1 - beta2^step are computed on the host.
template <class T>
__global__ void adam_kernel(int64_t n, gptr<T> param, gptr<const T> grad, gptr<T> m, gptr<T> v,
                            T lr, T beta1, T beta2, T eps, T weight_decay, bool decoupled, T bc1,
                            T bc2) {
  DG_GRID_STRIDE(i, n) {
    T p = param[i];
    T g = grad[i];
    if (decoupled) {
      p *= T(1) - lr * weight_decay;
    } else {
      g += weight_decay * p;
    }
    const T mi = beta1 * m[i] + (T(1) - beta1) * g;
    const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    // divide before scaling by lr: lr * m_hat can be subnormal (tiny gradients) and lose bits
    param[i] = p - (lr / bc1) * (mi / (dsqrt(vi / bc2) + eps));
  }
}

}  // namespace cuda
}  // namespace dg
