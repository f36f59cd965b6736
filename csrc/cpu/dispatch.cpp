// Dispatch of every kernel in ops.h to its avx512 / avx2 / generic build by dg::active_isa(),
// and the fused linear layer's GEMM calls (forward with the epilogue,
// backward dw = dz.T @ x and dx = dz @ w on strided views: no transposed copies).
#include "cpu/ops.h"

#include "common/cpu_isa.h"

namespace dg {

#define DG_DISPATCH(fn, ...)           \
  switch (active_isa()) {              \
    case Isa::avx512:                  \
      return avx512::fn(__VA_ARGS__);  \
    case Isa::avx2:                    \
      return avx2::fn(__VA_ARGS__);    \
    default:                           \
      return generic::fn(__VA_ARGS__); \
  }

namespace {

template <class T>
void linear_forward_t(const T* x, const T* w, const T* b, T* y, T* z, int64_t m, int64_t k,
                      int64_t n, Act act, T param) {
  if (m == 0 || n == 0) return;
  GemmArgs<T> g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = x;
  g.rsa = k;
  g.csa = 1;
  g.b = w;
  g.rsb = 1;
  g.csb = k;  // op(B) = w.T
  g.c = y;
  g.rsc = n;
  g.csc = 1;
  const LinearEpilogueCtx<T> ctx{b, z, y, param};
  const bool epilogue = act != Act::identity || b != nullptr || z != nullptr;
  if (epilogue) {
    switch (active_isa()) {
      case Isa::avx512:
        avx512::linear_epilogue(act, b != nullptr, z != nullptr, &g.epilogue);
        break;
      case Isa::avx2:
        avx2::linear_epilogue(act, b != nullptr, z != nullptr, &g.epilogue);
        break;
      default:
        generic::linear_epilogue(act, b != nullptr, z != nullptr, &g.epilogue);
        break;
    }
    g.epilogue.ctx = &ctx;
  }
  if (k == 0) {  // an empty inner dimension: z = b (or 0), nothing for gemm to do
    for (int64_t i = 0; i < m * n; ++i) y[i] = T(0);
    if (epilogue) g.epilogue.fn(y, n, m, n, 0, &ctx);
    return;
  }
  gemm(g);
}

template <class T>
void linear_backward_t(const T* dy, const T* x, const T* w, const T* saved, T* dz_scratch, T* dx,
                       T* dw, T* db, int64_t m, int64_t k, int64_t n, Act act, T param) {
  const T* dz = act == Act::identity ? dy : dz_scratch;
  linear_dz_db(dy, saved, dz_scratch, db, m, n, act, param);
  if (n > 0 && k > 0) {
    GemmArgs<T> g;  // dw (n, k) = dz.T @ x
    g.m = n;
    g.n = k;
    g.k = m;
    g.a = dz;
    g.rsa = 1;
    g.csa = n;
    g.b = x;
    g.rsb = k;
    g.csb = 1;
    g.c = dw;
    g.rsc = k;
    g.csc = 1;
    if (m == 0) {
      for (int64_t i = 0; i < n * k; ++i) dw[i] = T(0);
    } else {
      gemm(g);
    }
  }
  if (dx && m > 0 && k > 0) {
    GemmArgs<T> g;  // dx (m, k) = dz @ w
    g.m = m;
    g.n = k;
    g.k = n;
    g.a = dz;
    g.rsa = n;
    g.csa = 1;
    g.b = w;
    g.rsb = k;
    g.csb = 1;
    g.c = dx;
    g.rsc = k;
    g.csc = 1;
    if (n == 0) {
      for (int64_t i = 0; i < m * k; ++i) dx[i] = T(0);
    } else {
      gemm(g);
    }
  }
}

}  // namespace

#define DG_DISPATCH_DEFS(T)                                                                        \
  void gemm(const GemmArgs<T>& args) { DG_DISPATCH(gemm, args) }                                   \
  void activation_forward(Act act, const T* x, T* y, int64_t n, T param) {                         \
    DG_DISPATCH(activation_forward, act, x, y, n, param)                                           \
  }                                                                                                \
  void activation_backward(Act act, const T* dy, const T* s, T* dx, int64_t n, T param) {          \
    DG_DISPATCH(activation_backward, act, dy, s, dx, n, param)                                     \
  }                                                                                                \
  void math_fn(MathFn fn, const T* x, T* y, int64_t n) { DG_DISPATCH(math_fn, fn, x, y, n) }       \
  void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {                   \
    DG_DISPATCH(softmax_forward, x, y, rows, cols, log)                                            \
  }                                                                                                \
  void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {    \
    DG_DISPATCH(softmax_backward, dy, y, dx, rows, cols, log)                                      \
  }                                                                                                \
  double softmax_cross_entropy(const T* logits, const int64_t* target, T* dlogits, T* loss_rows,   \
                               int64_t rows, int64_t cols, T scale) {                              \
    DG_DISPATCH(softmax_cross_entropy, logits, target, dlogits, loss_rows, rows, cols, scale)      \
  }                                                                                                \
  double loss_forward_backward(LossKind kind, const T* y, const T* t, T* grad, T* loss_elem,       \
                               int64_t n, T scale) {                                               \
    DG_DISPATCH(loss_forward_backward, kind, y, t, grad, loss_elem, n, scale)                      \
  }                                                                                                \
  void linear_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t m, int64_t k,        \
                      int64_t n, Act act, T param) {                                               \
    linear_forward_t(x, w, b, y, z, m, k, n, act, param);                                          \
  }                                                                                                \
  void linear_dz_db(const T* dy, const T* saved, T* dz, T* db, int64_t m, int64_t n, Act act,      \
                    T param) {                                                                     \
    DG_DISPATCH(linear_dz_db, dy, saved, dz, db, m, n, act, param)                                 \
  }                                                                                                \
  void linear_backward(const T* dy, const T* x, const T* w, const T* saved, T* dz_scratch, T* dx,  \
                       T* dw, T* db, int64_t m, int64_t k, int64_t n, Act act, T param) {          \
    linear_backward_t(dy, x, w, saved, dz_scratch, dx, dw, db, m, k, n, act, param);               \
  }                                                                                                \
  void sgd_update(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum,          \
                  double dampening, double weight_decay, bool nesterov, bool first_step) {         \
    DG_DISPATCH(sgd_update, param, grad, buf, n, lr, momentum, dampening, weight_decay, nesterov,  \
                first_step)                                                                        \
  }                                                                                                \
  void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, double lr, double beta1,        \
                   double beta2, double eps, double weight_decay, bool decoupled, int64_t step) {  \
    DG_DISPATCH(adam_update, param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, decoupled, \
                step)                                                                              \
  }                                                                                                \
  void reduce_sum(const T* x, T* out, int64_t outer, int64_t r, int64_t inner, T scale) {          \
    DG_DISPATCH(reduce_sum, x, out, outer, r, inner, scale)                                        \
  }
DG_DISPATCH_DEFS(float)
DG_DISPATCH_DEFS(double)

}  // namespace dg
