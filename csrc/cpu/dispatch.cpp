// Dispatch of every kernel in ops.h to its avx512 / avx2 / generic build by dg::active_isa(),
// the fused linear layer's GEMM calls (forward with the epilogue,
// backward dw = dz.T @ x and dx = dz @ w on strided views: no transposed copies), and the
// strided-batched GEMM's loop over its products.
#include "cpu/ops.h"

#include <algorithm>
#include <exception>
#include <vector>

#include "common/cpu_isa.h"
#include "common/threads.h"
#include "cpu/gemm_blocking.h"
#include "cpu/optim_multi.h"

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
  GemmArgs<T> g = strided_gemm(m, n, k, x, k, 1, w, 1, k, y, n, 1);  // op(B) = w.T
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

// dw = dz.T @ x of a layer with few outputs (dw has at most kThinDwRows rows, e.g. a classifier's
// 10): packing x into panels (the whole batch x in_features) would cost as much as the product,
// which reuses each panel for only those few rows. Column slices of at most kThinDwSliceWork
// multiply-adds each take the GEMM's direct path (x read in place). Bit-identical: every element
// of dw is the same chain of FMAs over the batch on either path, only which columns a call
// covers changes. (256 x 10 x 512, 1 thread: 59 -> 32 us AVX-512, 74 -> 42 us AVX2.)
constexpr int64_t kThinDwRows = 16;
constexpr double kThinDwSliceWork = double(int64_t(1) << 20);  // gemm.h's direct-path bound
// At most this many slices on one thread; 2 where the product may take the team (from gemm.h's
// 2^21 multiply-adds, which the slices, each on the calling thread, would give up).
constexpr int64_t kThinDwMaxSlices = 8;
// Where the team may run it, a dw of at most this many rows is one GEMM: the vector ISAs read x
// in place there too (gemm.h's row form up to 4 rows, gemm_few up to 12; whenever the slices
// apply on 2 threads, x fits the L3 that gemm_few asks for) and split its columns between the
// threads, where the slices run in turn on the calling thread. Same bits (gemm_few's one block of
// k is the direct path's chain; past KC both paths are gemm_few's). Zen 1, 256 x 10 x 512 float32,
// 2 threads: 88 -> 48 us (1 thread: the slices, 83 us, as gemm_few).
constexpr int64_t kThinDwTeamRows = 12;

template <class T>
void gemm_dw(const GemmArgs<T>& gw) {
  const double work = double(gw.m) * double(gw.n) * double(gw.k);
  const int64_t slices = static_cast<int64_t>(work / kThinDwSliceWork) + 1;
  const bool team = gw.threads != 1 && num_threads() > 1;
  const int64_t max_slices = team ? 2 : kThinDwMaxSlices;
  if (gw.m > kThinDwRows || work <= kThinDwSliceWork || slices > max_slices || gw.csb != 1 ||
      gw.csc != 1 || (team && gw.m <= kThinDwTeamRows && active_isa() != Isa::generic)) {
    gemm(gw);
    return;
  }
  // slices of whole 64-column groups (every ISA's vector tile divides 64)
  const int64_t width = (gw.n + slices - 1) / slices;
  const int64_t step = (width + 63) / 64 * 64;
  for (int64_t j = 0; j < gw.n; j += step) {
    GemmArgs<T> s = gw;
    s.n = std::min(step, gw.n - j);
    s.b += j;
    s.c += j;
    gemm(s);
  }
}

// Below this many multiply-adds per product, the backward's dw and dx stay one after the other
// (each then on the calling thread: starting the team costs more than the overlap saves).
constexpr double kConcurrentBackwardMinWork = double(int64_t(1) << 18);

template <class T>
void linear_backward_t(const T* dy, const T* x, const T* w, const T* saved, T* dz_scratch, T* dx,
                       T* dw, T* db, int64_t m, int64_t k, int64_t n, Act act, T param,
                       bool accumulate = false) {
  const T* dz = act == Act::identity ? dy : dz_scratch;
  if (accumulate && db) {  // db += the column sums (a small temporary of n values)
    std::vector<T> sums(static_cast<size_t>(n));
    linear_dz_db(dy, saved, dz_scratch, sums.data(), m, n, act, param);
    for (int64_t j = 0; j < n; ++j) db[j] += sums[static_cast<size_t>(j)];
  } else {
    linear_dz_db(dy, saved, dz_scratch, db, m, n, act, param);
  }
  if (n > 0 && k > 0 && m > 0) {
    GemmArgs<T> gw = strided_gemm(n, k, m, dz, 1, n, x, k, 1, dw, k, 1);  // dw (n, k) = dz.T @ x
    if (accumulate) gw.beta = T(1);  // into the kept buffer: no temporary, no second pass
    // On two threads, dw and dx (the same number of multiply-adds) run side by side, one
    // whole product per thread: no packing of A twice, no barriers inside the products.
    const double work = double(m) * double(n) * double(k);
    if (dx && num_threads() == 2 && work >= kConcurrentBackwardMinWork) {
      GemmArgs<T> gx = strided_gemm(m, k, n, dz, n, 1, w, k, 1, dx, k, 1);  // dx (m, k) = dz @ w
      gw.threads = gx.threads = 1;
      std::exception_ptr error;  // (only bad_alloc of a thread's scratch buffer can be thrown)
      place_team(2);
#pragma omp parallel for num_threads(2) schedule(dynamic)
      for (int i = 0; i < 2; ++i) {
        try {
          if (i == 0)
            gemm_dw(gw);
          else
            gemm(gx);
        } catch (...) {
#pragma omp critical(dg_linear_backward_error)
          if (!error) error = std::current_exception();
        }
      }
      if (error) std::rethrow_exception(error);
      return;
    }
    gemm_dw(gw);
  } else if (n > 0 && k > 0 && !accumulate) {  // m == 0: dw = 0
    for (int64_t i = 0; i < n * k; ++i) dw[i] = T(0);
  }
  if (dx && m > 0 && k > 0) {
    if (n == 0) {
      for (int64_t i = 0; i < m * k; ++i) dx[i] = T(0);
    } else {
      gemm(strided_gemm(m, k, n, dz, n, 1, w, k, 1, dx, k, 1));  // dx (m, k) = dz @ w
    }
  }
}

// Batches of products smaller than this many multiply-adds each stay on the calling thread, and
// so does the whole batch when its total is (gemm.h's kParallelMinWork: below it, starting the
// thread team costs more than it saves).
constexpr double kBatchParallelMinWork = double(int64_t(1) << 21);

template <class T>
void gemm_batched_t(const GemmArgs<T>& g, GemmBatch batch) {
  batch.simplify();
  const int64_t count = batch.count();
  if (count == 0 || g.m <= 0 || g.n <= 0) return;
  if (batch.ndim == 0) {
    gemm(g);
    return;
  }
  // One op(B) for all, and A_i, C_i that continue each other's rows: a single GEMM of
  // count * m rows (a row stride is free when m == 1).
  if (batch.ndim == 1 && batch.sb[0] == 0 && (g.m == 1 || batch.sa[0] == g.m * g.rsa) &&
      (g.m == 1 || batch.sc[0] == g.m * g.rsc)) {
    GemmArgs<T> f = g;
    if (g.m == 1) {
      f.rsa = batch.sa[0];
      f.rsc = batch.sc[0];
    }
    f.m = g.m * count;
    gemm(f);
    return;
  }
  // Products with their own A each read it cold (gemm_operands_cold).
  bool own_a = false;
  for (int d = 0; d < batch.ndim; ++d) own_a = own_a || batch.sa[d] != 0;
  auto one = [&](int64_t i, int threads) {
    GemmArgs<T> f = batch_product(g, batch, i);
    f.threads = threads;
    const ColdOperandsScope cold(own_a);
    gemm(f);
  };
  // Spread the products over the threads, one whole product per thread at a time (no sharing,
  // no barriers), when each is too small for the GEMM's own threads or there are enough of them
  // to keep every thread equally busy; else run them in turn on the GEMM's threads.
  const int nt = static_cast<int>(std::min<int64_t>(std::max(1, num_threads()), count));
  const double work = double(g.m) * double(g.n) * double(g.k);
  const bool spread = nt > 1 && work * double(count) >= kBatchParallelMinWork &&
                      (work < kBatchParallelMinWork || count >= 4 * int64_t(nt));
  if (!spread) {
    for (int64_t i = 0; i < count; ++i) one(i, 0);
    return;
  }
  std::exception_ptr error;  // (only bad_alloc of a thread's scratch buffer can be thrown)
  // Dynamic: on a shared machine a thread that loses its core leaves its products to the others.
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic)
  for (int64_t i = 0; i < count; ++i) {
    try {
      one(i, 1);
    } catch (...) {
#pragma omp critical(dg_gemm_batched_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// sgd_update over several parameters in one call (torch's foreach SGD): on one thread each in
// turn; on more, every parameter cut in chunks of kSgdMultiChunk elements (at most the kernel's
// own chunk, so each call stays on its thread) and the chunks of all of them shared out
// dynamically, one parallel region for the whole step instead of one per parameter. The same
// arithmetic on every element as sgd_update: the results are bit-identical. The parameters must
// not share memory with each other (the binding checks, and else calls sgd_update in turn).
constexpr int64_t kSgdMultiChunk = int64_t(1) << 15;

template <class T>
void sgd_update_multi_t(T* const* p, const T* const* g, T* const* buf, const int64_t* n,
                        int64_t count, double lr, double momentum, double dampening,
                        double weight_decay, bool nesterov, bool first_step) {
  struct Chunk {
    int64_t t, b, e;
  };
  std::vector<Chunk> chunks;
  int64_t total = 0;
  for (int64_t t = 0; t < count; ++t) {
    total += n[t];
    for (int64_t b = 0; b < n[t]; b += kSgdMultiChunk)
      chunks.push_back({t, b, std::min(n[t], b + kSgdMultiChunk)});
  }
  const auto nchunks = static_cast<int64_t>(chunks.size());
  const int nt = static_cast<int>(std::min<int64_t>(std::max(1, num_threads()), nchunks));
  if (nt <= 1 || total <= 2 * kSgdMultiChunk) {
    for (int64_t t = 0; t < count; ++t)
      sgd_update(p[t], g[t], buf[t], n[t], lr, momentum, dampening, weight_decay, nesterov,
                 first_step);
    return;
  }
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t i = 0; i < nchunks; ++i) {
    const Chunk& c = chunks[static_cast<size_t>(i)];
    sgd_update(p[c.t] + c.b, g[c.t] + c.b, buf[c.t] ? buf[c.t] + c.b : nullptr, c.e - c.b, lr,
               momentum, dampening, weight_decay, nesterov, first_step);
  }
}

}  // namespace

void sgd_update_multi(float* const* p, const float* const* g, float* const* buf, const int64_t* n,
                      int64_t count, double lr, double momentum, double dampening,
                      double weight_decay, bool nesterov, bool first_step) {
  sgd_update_multi_t(p, g, buf, n, count, lr, momentum, dampening, weight_decay, nesterov,
                     first_step);
}
void sgd_update_multi(double* const* p, const double* const* g, double* const* buf,
                      const int64_t* n, int64_t count, double lr, double momentum, double dampening,
                      double weight_decay, bool nesterov, bool first_step) {
  sgd_update_multi_t(p, g, buf, n, count, lr, momentum, dampening, weight_decay, nesterov,
                     first_step);
}

void gemm_batched(const GemmArgs<float>& args, const GemmBatch& batch) {
  gemm_batched_t(args, batch);
}
void gemm_batched(const GemmArgs<double>& args, const GemmBatch& batch) {
  gemm_batched_t(args, batch);
}

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
  void softmax_forward_inner(const T* x, T* y, int64_t outer, int64_t c, int64_t inner,            \
                             bool log) {                                                           \
    DG_DISPATCH(softmax_forward_inner, x, y, outer, c, inner, log)                                 \
  }                                                                                                \
  void softmax_backward_inner(const T* dy, const T* y, T* dx, int64_t outer, int64_t c,            \
                              int64_t inner, bool log) {                                           \
    DG_DISPATCH(softmax_backward_inner, dy, y, dx, outer, c, inner, log)                           \
  }                                                                                                \
  void topk_rows(const T* x, int64_t rows, int64_t n, int64_t k, bool largest, T* val,             \
                 int64_t* idx) {                                                                   \
    DG_DISPATCH(topk_rows, x, rows, n, k, largest, val, idx)                                       \
  }                                                                                                \
  void lu_factor(T* a, int64_t* piv, int64_t* info, int64_t batch, int64_t n) {                    \
    DG_DISPATCH(lu_factor, a, piv, info, batch, n)                                                 \
  }                                                                                                \
  void lu_solve(const T* lu, const int64_t* piv, T* b, int64_t batch, int64_t n, int64_t k,        \
                bool trans) {                                                                      \
    DG_DISPATCH(lu_solve, lu, piv, b, batch, n, k, trans)                                          \
  }                                                                                                \
  void cdist_p1_forward(const T* a, const T* c, T* out, int64_t n, int64_t P, int64_t R,           \
                        int64_t M) {                                                               \
    DG_DISPATCH(cdist_p1_forward, a, c, out, n, P, R, M)                                           \
  }                                                                                                \
  void cdist_p1_grad(const T* g, const T* x, const T* y, T* gx, int64_t n, int64_t nx, int64_t ny, \
                     int64_t M, bool g_transposed) {                                               \
    DG_DISPATCH(cdist_p1_grad, g, x, y, gx, n, nx, ny, M, g_transposed)                            \
  }                                                                                                \
  void sample_forward(const T* src, const int64_t* idx, const T* wts, T* out, int64_t n,           \
                      int64_t c, int64_t npix, int64_t nt, int64_t m, bool vector) {               \
    DG_DISPATCH(sample_forward, src, idx, wts, out, n, c, npix, nt, m, vector)                     \
  }                                                                                                \
  void sample_scatter(const T* go, const int64_t* idx, const T* wts, T* gx, int64_t n, int64_t c,  \
                      int64_t npix, int64_t nt, int64_t m) {                                       \
    DG_DISPATCH(sample_scatter, go, idx, wts, gx, n, c, npix, nt, m)                               \
  }                                                                                                \
  void sample_dot(const T* go, const T* src, const int64_t* idx, T* sv, int64_t n, int64_t c,      \
                  int64_t npix, int64_t nt, int64_t m, bool vector) {                              \
    DG_DISPATCH(sample_dot, go, src, idx, sv, n, c, npix, nt, m, vector)                           \
  }                                                                                                \
  void lstm_sequence_forward(T* pre, T* s, T* cs, T* tcs, const T* wt, int64_t seq, int64_t batch, \
                             int64_t hd, bool reverse) {                                           \
    DG_DISPATCH(lstm_sequence_forward, pre, s, cs, tcs, wt, seq, batch, hd, reverse)               \
  }                                                                                                \
  void lstm_sequence_backward(const T* pre, const T* cs, const T* tcs, const T* w, T* gacc, T* dc, \
                              T* dgates, int64_t seq, int64_t batch, int64_t hd, bool reverse) {   \
    DG_DISPATCH(lstm_sequence_backward, pre, cs, tcs, w, gacc, dc, dgates, seq, batch, hd,         \
                reverse)                                                                           \
  }                                                                                                \
  void flip_copy(const T* x, T* y, const int64_t* shape, const uint8_t* flip, int nd) {            \
    DG_DISPATCH(flip_copy, x, y, shape, flip, nd)                                                  \
  }                                                                                                \
  void logsumexp_forward(const T* x, T* out, int64_t outer, int64_t c, int64_t inner,              \
                         const int64_t* target, T* picked) {                                       \
    DG_DISPATCH(logsumexp_forward, x, out, outer, c, inner, target, picked)                        \
  }                                                                                                \
  void logsumexp_backward(const T* g, const T* x, const T* lse, T* dx, int64_t outer, int64_t c,   \
                          int64_t inner, const int64_t* target, const T* g_target) {               \
    DG_DISPATCH(logsumexp_backward, g, x, lse, dx, outer, c, inner, target, g_target)              \
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
  void linear_backward_accumulate(const T* dy, const T* x, const T* w, const T* saved,             \
                                  T* dz_scratch, T* dx, T* dw, T* db, int64_t m, int64_t k,        \
                                  int64_t n, Act act, T param) {                                   \
    linear_backward_t(dy, x, w, saved, dz_scratch, dx, dw, db, m, k, n, act, param, true);         \
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
  void adagrad_update(T* param, const T* grad, T* sum, int64_t n, double clr, double eps,          \
                      double weight_decay, bool maximize) {                                        \
    DG_DISPATCH(adagrad_update, param, grad, sum, n, clr, eps, weight_decay, maximize)             \
  }                                                                                                \
  void rmsprop_update(T* param, const T* grad, T* square_avg, T* grad_avg, T* buf, int64_t n,      \
                      double lr, double alpha, double eps, double weight_decay, double momentum,   \
                      bool maximize) {                                                             \
    DG_DISPATCH(rmsprop_update, param, grad, square_avg, grad_avg, buf, n, lr, alpha, eps,         \
                weight_decay, momentum, maximize)                                                  \
  }                                                                                                \
  void adamax_update(T* param, const T* grad, T* exp_avg, T* exp_inf, int64_t n, double clr,       \
                     double beta1, double beta2, double eps, double weight_decay, bool maximize) { \
    DG_DISPATCH(adamax_update, param, grad, exp_avg, exp_inf, n, clr, beta1, beta2, eps,           \
                weight_decay, maximize)                                                            \
  }                                                                                                \
  void nadam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double decay,   \
                    double beta1, double beta2, double bc2, double eps, double c_g, double c_m,    \
                    double weight_decay, bool maximize) {                                          \
    DG_DISPATCH(nadam_update, param, grad, exp_avg, exp_avg_sq, n, decay, beta1, beta2, bc2, eps,  \
                c_g, c_m, weight_decay, maximize)                                                  \
  }                                                                                                \
  void reduce_sum(const T* x, T* out, int64_t outer, int64_t r, int64_t inner, T scale) {          \
    DG_DISPATCH(reduce_sum, x, out, outer, r, inner, scale)                                        \
  }                                                                                                \
  void cumulative(const T* x, T* out, int64_t outer, int64_t n, int64_t inner, bool prod,          \
                  bool reverse) {                                                                  \
    DG_DISPATCH(cumulative, x, out, outer, n, inner, prod, reverse)                                \
  }                                                                                                \
  void index_reduce(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n, int64_t m, \
                    int64_t inner, int op) {                                                       \
    DG_DISPATCH(index_reduce, out, idx, src, outer, n, m, inner, op)                               \
  }                                                                                                \
  void scatter_reduce(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n,          \
                      int64_t m, int64_t inner, int op) {                                          \
    DG_DISPATCH(scatter_reduce, out, idx, src, outer, n, m, inner, op)                             \
  }                                                                                                \
  void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y,             \
                      ConvAlgo algo) {                                                             \
    DG_DISPATCH(conv2d_forward, p, x, w, b, y, algo)                                               \
  }                                                                                                \
  void conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,   \
                       T* db, ConvAlgo algo) {                                                     \
    DG_DISPATCH(conv2d_backward, p, dy, x, w, dx, dw, db, algo)                                    \
  }                                                                                                \
  void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dGeom& g) {                   \
    DG_DISPATCH(max_pool2d_forward, x, y, idx, g)                                                  \
  }                                                                                                \
  void avg_pool2d_forward(const T* x, T* y, const Pool2dGeom& g, bool pad, int64_t divisor) {      \
    DG_DISPATCH(avg_pool2d_forward, x, y, g, pad, divisor)                                         \
  }                                                                                                \
  void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeom& g, bool pad, int64_t divisor) {   \
    DG_DISPATCH(avg_pool2d_backward, dy, dx, g, pad, divisor)                                      \
  }                                                                                                \
  void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w,         \
                                   int64_t oh, int64_t ow) {                                       \
    DG_DISPATCH(adaptive_avg_pool2d_forward, x, y, planes, h, w, oh, ow)                           \
  }                                                                                                \
  void adaptive_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w,      \
                                    int64_t oh, int64_t ow) {                                      \
    DG_DISPATCH(adaptive_avg_pool2d_backward, dy, dx, planes, h, w, oh, ow);                       \
  }                                                                                                \
  void adaptive_max_pool2d_forward(const T* x, T* y, int64_t* idx, int64_t planes, int64_t h,      \
                                   int64_t w, int64_t oh, int64_t ow) {                            \
    DG_DISPATCH(adaptive_max_pool2d_forward, x, y, idx, planes, h, w, oh, ow);                     \
  }                                                                                                \
  int64_t adaptive_max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, int64_t planes,     \
                                       int64_t h, int64_t w, int64_t oh, int64_t ow) {             \
    DG_DISPATCH(adaptive_max_pool2d_backward, dy, idx, dx, planes, h, w, oh, ow);                  \
  }                                                                                                \
  void max_pool3d_forward(const T* x, T* y, int64_t* idx, const Pool3dGeom& g) {                   \
    DG_DISPATCH(max_pool3d_forward, x, y, idx, g);                                                 \
  }                                                                                                \
  int64_t max_pool3d_backward(const T* dy, const int64_t* idx, T* dx, const Pool3dGeom& g) {       \
    DG_DISPATCH(max_pool3d_backward, dy, idx, dx, g);                                              \
  }                                                                                                \
  void avg_pool3d_forward(const T* x, T* y, const Pool3dGeom& g, bool pad, int64_t divisor) {      \
    DG_DISPATCH(avg_pool3d_forward, x, y, g, pad, divisor);                                        \
  }                                                                                                \
  void avg_pool3d_backward(const T* dy, T* dx, const Pool3dGeom& g, bool pad, int64_t divisor) {   \
    DG_DISPATCH(avg_pool3d_backward, dy, dx, g, pad, divisor);                                     \
  }                                                                                                \
  int64_t max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g) {       \
    DG_DISPATCH(max_pool2d_backward, dy, idx, dx, g)                                               \
  }                                                                                                \
  bool max_pool2d_forward_codes(const T* x, T* y, uint8_t* codes, const Pool2dGeom& g){            \
      DG_DISPATCH(max_pool2d_forward_codes, x, y, codes,                                           \
                  g)} int64_t max_pool2d_backward_codes(const T* dy, const uint8_t* codes, T* dx,  \
                                                        const Pool2dGeom& g) {                     \
    DG_DISPATCH(max_pool2d_backward_codes, dy, codes, dx, g)                                       \
  }                                                                                                \
  void batch_norm_stats(const T* x, T* mean, T* invstd, T* running_mean, T* running_var,           \
                        int64_t n, int64_t c, int64_t s, double momentum, double eps) {            \
    DG_DISPATCH(batch_norm_stats, x, mean, invstd, running_mean, running_var, n, c, s, momentum,   \
                eps)                                                                               \
  }                                                                                                \
  void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight,               \
                        const T* bias, T* y, int64_t n, int64_t c, int64_t s) {                    \
    DG_DISPATCH(batch_norm_apply, x, mean, invstd, weight, bias, y, n, c, s)                       \
  }                                                                                                \
  void batch_norm_backward(const T* dy, const T* x, const T* mean, const T* invstd,                \
                           const T* weight, T* dx, T* dweight, T* dbias, int64_t n, int64_t c,     \
                           int64_t s, bool training) {                                             \
    DG_DISPATCH(batch_norm_backward, dy, x, mean, invstd, weight, dx, dweight, dbias, n, c, s,     \
                training)                                                                          \
  }                                                                                                \
  void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,      \
                          int64_t rows, int64_t d, double eps) {                                   \
    DG_DISPATCH(layer_norm_forward, x, weight, bias, y, mean, rstd, rows, d, eps)                  \
  }                                                                                                \
  void layer_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, \
                           T* dx, T* dweight, T* dbias, int64_t rows, int64_t d) {                 \
    DG_DISPATCH(layer_norm_backward, dy, x, weight, mean, rstd, dx, dweight, dbias, rows, d)       \
  }                                                                                                \
  void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,      \
                          int64_t n, int64_t c, int64_t s, int64_t g, double eps) {                \
    DG_DISPATCH(group_norm_forward, x, weight, bias, y, mean, rstd, n, c, s, g, eps)               \
  }                                                                                                \
  void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, \
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,           \
                           int64_t g) {                                                            \
    DG_DISPATCH(group_norm_backward, dy, x, weight, mean, rstd, dx, dweight, dbias, n, c, s, g)    \
  }                                                                                                \
  void batch_norm_train_forward(const T* x, const T* weight, const T* bias, T* y, T* mean,         \
                                T* invstd, T* running_mean, T* running_var, int64_t n, int64_t c,  \
                                int64_t s, double momentum, double eps) {                          \
    DG_DISPATCH(batch_norm_train_forward, x, weight, bias, y, mean, invstd, running_mean,          \
                running_var, n, c, s, momentum, eps)                                               \
  }
DG_DISPATCH_DEFS(float)
DG_DISPATCH_DEFS(double)

}  // namespace dg
