// Elementwise kernels: activations forward / backward, the pointwise losses (value and
// gradient in one pass) and the SGD / Adam parameter updates. All use grid-stride loops.
#pragma once

#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

#define DG_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <class T>
__global__ void activation_kernel(int64_t n, gptr<const T> x, gptr<T> y, int act, T param) {
  DG_GRID_STRIDE(i, n) { y[i] = act_forward(act, x[i], param); }
}

template <class T>
__global__ void activation_backward_kernel(int64_t n, gptr<const T> dy, gptr<const T> saved,
                                           gptr<T> dx, int act, T param) {
  DG_GRID_STRIDE(i, n) { dx[i] = act_backward(act, dy[i], saved[i], param); }
}

// loss[i] = the pointwise loss `kind` (a dg::LossKind, common/op_names.h),
// grad[i] = scale * d(loss[i]) / d(y[i]).
template <class T>
__global__ void pointwise_loss_kernel(int64_t n, int kind, gptr<const T> y, gptr<const T> t,
                                      gptr<T> loss, gptr<T> grad, T scale) {
  DG_GRID_STRIDE(i, n) {
    const T yi = y[i], ti = t[i];
    T l, g;
    switch (static_cast<LossKind>(kind)) {
      case LossKind::sum_of_squares: {
        const T d = yi - ti;
        l = T(0.5) * d * d;
        g = d;
        break;
      }
      case LossKind::mse: {
        const T d = yi - ti;
        l = d * d;
        g = T(2) * d;
        break;
      }
      case LossKind::bce: {
        // As torch: each log is clamped at -100 so p = 0 or 1 gives a finite loss.
        const T lp = dmax(dlog(yi), T(-100)), l1p = dmax(dlog1p(-yi), T(-100));
        l = -(ti * lp + (T(1) - ti) * l1p);
        g = (yi - ti) / dmax((T(1) - yi) * yi, T(1e-12));
        break;
      }
      default: {  // LossKind::bce_with_logits, in the overflow-free form
        l = dmax(yi, T(0)) - yi * ti + dlog1p(dexp(-dabs(yi)));
        g = (T(1) - ti) * sigmoid_of(yi) - ti * sigmoid_of(-yi);  // no cancellation at t = 0/1
        break;
      }
    }
    loss[i] = l;
    grad[i] = scale * g;
  }
}

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
