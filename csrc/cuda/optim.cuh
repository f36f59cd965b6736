// The SGD / Adam parameter updates, in place, elementwise (grid-stride loops). The arithmetic is
// the CPU kernels' (csrc/cpu/optim.h): the launchers derive the constants from the
// hyperparameters in double and round each once to T, as torch does with its Python floats.
#pragma once

#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// torch.optim.SGD: g += wd * p (only when wd != 0: 0 * inf is NaN); buf = momentum * buf +
// (1 - dampening) * g (buf = g on the first step); g = nesterov ? g + momentum * buf : buf;
// p -= lr * g. buf is null when momentum == 0. undamped = 1 - dampening.
template <class T>
__global__ void sgd_kernel(int64_t n, gptr<T> param, gptr<const T> grad, gptr<T> buf, T lr,
                           T momentum, T weight_decay, bool nesterov, T undamped, bool first_step) {
  DG_GRID_STRIDE(i, n) {
    const T p = param[i];
    T g = grad[i];
    if (weight_decay != T(0)) g += weight_decay * p;
    if (buf) {
      const T b = first_step ? g : momentum * buf[i] + undamped * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    param[i] = p - lr * g;
  }
}

// torch.optim.Adam / AdamW (decoupled): bias-corrected moments. From the host: c1 = 1 - beta1,
// c2 = 1 - beta2, step_size = lr / (1 - beta1^step), inv_bc2 = 1 / sqrt(1 - beta2^step),
// decay = 1 - lr * weight_decay. Weight decay only when weight_decay != 0 (0 * inf is NaN).
template <class T>
struct AdamConsts {
  T beta1, c1, beta2, c2, eps, weight_decay, decay, step_size, inv_bc2;
  bool decoupled;
};

template <class T>
__global__ void adam_kernel(int64_t n, gptr<T> param, gptr<const T> grad, gptr<T> m, gptr<T> v,
                            AdamConsts<T> k) {
  DG_GRID_STRIDE(i, n) {
    T p = param[i];
    T g = grad[i];
    if (k.weight_decay != T(0)) {
      if (k.decoupled)
        p *= k.decay;
      else
        g += k.weight_decay * p;
    }
    const T mi = k.beta1 * m[i] + k.c1 * g;
    const T vi = k.beta2 * v[i] + k.c2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    // divide before scaling by lr: lr * m_hat can be subnormal (tiny gradients) and lose bits
    param[i] = p - k.step_size * (mi / (dsqrt(vi) * k.inv_bc2 + k.eps));
  }
}

}  // namespace cuda
}  // namespace dg
