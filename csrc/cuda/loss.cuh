// The elementwise losses, value and gradient in one pass (grid-stride loop).
#pragma once

#include "common/op_names.h"
#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace dg {
namespace cuda {

// loss[i] = the pointwise loss `kind` (a dg::LossKind, common/op_names.h),
// grad[i] = scale * d(loss[i]) / d(y[i]).
template <class T>
__global__ void pointwise_loss_kernel(int64_t n, int kind, gptr<const T> y, gptr<const T> t,
                                      gptr<T> loss, gptr<T> grad, T scale) {
  DG_GRID_STRIDE(i, n) {
    const T yi = y[i], ti = t[i];
    T l, g, gs = scale;
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
        g = d, gs = T(2) * scale;  // 2 d / n as d (2 / n): no overflow before the 1 / n
        break;
      }
      case LossKind::bce: {
        // As torch: each log is clamped at -100 so p = 0 or 1 gives a finite loss.
        const T lp = dmax(dlog(yi), T(-100)), l1p = dmax(dlog1p(-yi), T(-100));
        l = -(ti * lp + (T(1) - ti) * l1p);
        g = (yi - ti) / dmax((T(1) - yi) * yi, T(1e-12));
        break;
      }
      case LossKind::bce_with_logits:  // in the overflow-free form
      default: {
        // max(z, 0) - z t as (1 - t) z for z >= 0, -t z below, a zero factor giving 0 (the
        // limit): inf - inf at z = +-inf otherwise (csrc/cpu/loss.h)
        const T c = yi >= T(0) ? T(1) - ti : -ti;
        l = (c == T(0) ? T(0) : c * yi) + dlog1p(dexp(-dabs(yi)));
        g = (T(1) - ti) * sigmoid_of(yi) - ti * sigmoid_of(-yi);  // no cancellation at t = 0/1
        break;
      }
    }
    loss[i] = l;
    grad[i] = gs * g;
  }
}

}  // namespace cuda
}  // namespace dg
