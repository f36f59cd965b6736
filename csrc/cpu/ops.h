// The API of the CPU kernels behind dg.ops: GEMM, activations, softmax and cross-entropy,
// losses, the fused linear layer, optimizer updates and reductions.
//
// Every function exists for float and double, in four namespaces: dg (dispatch.cpp picks the
// build for dg::active_isa()) and dg::avx512 / dg::avx2 / dg::generic (one build each of the
// op's kernel template, csrc/cpu/<op>.h). Pointers are to C-contiguous buffers, except GEMM's
// strided views; validation happened at the binding.
//
// GEMM: C = alpha * op(A) @ op(B) + beta * C on strided row-major views, float32 and float64.
// Transposes never move data: op(A) is A read with its strides swapped, so every view the
// binding receives (transposed, sliced, negative strides) is handled by the packing routines.
// gemm_batched runs a batch of such products whose operands sit at strided offsets.
#pragma once

#include <cstdint>

#include "common/cpu_isa.h"
#include "common/op_names.h"
#include "cpu/pool_geom.h"

namespace dg {

// Called on each finished block of C (rows x cols, row stride rsc, unit column stride), while it
// is still in cache, with the block's first column index `col0`. This is how the fused linear
// layer applies bias + activation without another pass over C. Must be thread-safe, must not
// throw, and must not call gemm() itself (the scratch buffers belong to the calling thread). The
// blocks are disjoint and cover C exactly once; their shape depends on the path taken (up to MR
// rows x a few hundred columns when packed, a whole row panel for small products, a few elements
// for a thin C), and `c` points at the block's first element, not at C's.
template <class T>
struct GemmEpilogue {
  void (*fn)(T* c, int64_t rsc, int64_t rows, int64_t cols, int64_t col0,
             const void* ctx) = nullptr;
  const void* ctx = nullptr;
};

template <class T>
struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;  // op(A) is m x k, op(B) is k x n, C is m x n
  const T* a = nullptr;
  int64_t rsa = 0, csa = 0;  // element strides of op(A): op(A)[i][p] = a[i*rsa + p*csa]
  const T* b = nullptr;
  int64_t rsb = 0, csb = 0;  // op(B)[p][j] = b[p*rsb + j*csb]
  T* c = nullptr;
  int64_t rsc = 0, csc = 0;  // C[i][j] = c[i*rsc + j*csc]
  T alpha = 1, beta = 0;     // beta == 0: C is not read (NaN in C does not propagate, as BLAS)
  GemmEpilogue<T> epilogue;  // applied only when csc == 1
  int threads = 0;           // at most this many threads (0: dg::num_threads())
};

// The GemmArgs of C = op(A) @ op(B) on strided views (alpha 1, beta 0, no epilogue), op(A) being
// m x k with element strides (rsa, csa), op(B) k x n with (rsb, csb), C m x n with (rsc, csc).
template <class T>
GemmArgs<T> strided_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t rsa, int64_t csa,
                         const T* b, int64_t rsb, int64_t csb, T* c, int64_t rsc, int64_t csc) {
  GemmArgs<T> g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.rsa = rsa;
  g.csa = csa;
  g.b = b;
  g.rsb = rsb;
  g.csb = csb;
  g.c = c;
  g.rsc = rsc;
  g.csc = csc;
  return g;
}

// The batch of a strided-batched GEMM: one product C_i = alpha * op(A_i) @ op(B_i) + beta * C_i
// per index i = (i_0, .., i_{ndim-1}) of `shape`, the operands of product i starting at
// a + sum_d i_d * sa[d] (b with sb, c with sc): element strides, 0 along a dimension that
// broadcasts an operand (one matrix shared by those products, never copied). The products'
// C_i must not overlap each other; the A_i and B_i may.
struct GemmBatch {
  static constexpr int kMaxDims = 64;  // NumPy's NPY_MAXDIMS
  int ndim = 0;
  int64_t shape[kMaxDims] = {}, sa[kMaxDims] = {}, sb[kMaxDims] = {}, sc[kMaxDims] = {};

  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
  // The element offsets of product i (row-major over shape) in a, b and c.
  void offsets(int64_t i, int64_t* oa, int64_t* ob, int64_t* oc) const {
    int64_t x = 0, y = 0, z = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t q = shape[d] > 1 ? i % shape[d] : 0;
      if (shape[d] > 1) i /= shape[d];
      x += q * sa[d];
      y += q * sb[d];
      z += q * sc[d];
    }
    *oa = x;
    *ob = y;
    *oc = z;
  }
  // The same products with fewer dimensions: size-1 dimensions dropped, and a dimension merged
  // into the one before it when every operand steps uniformly across both.
  void simplify() {
    int n = 0;
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] == 1) continue;
      if (n > 0 && sa[n - 1] == sa[d] * shape[d] && sb[n - 1] == sb[d] * shape[d] &&
          sc[n - 1] == sc[d] * shape[d]) {
        shape[n - 1] *= shape[d];
        sa[n - 1] = sa[d];
        sb[n - 1] = sb[d];
        sc[n - 1] = sc[d];
        continue;
      }
      shape[n] = shape[d];
      sa[n] = sa[d];
      sb[n] = sb[d];
      sc[n] = sc[d];
      ++n;
    }
    ndim = n;
  }
};

// The test oracle: a plain triple loop, single-threaded, same contract (epilogue included).
void gemm_reference(const GemmArgs<float>& args);
void gemm_reference(const GemmArgs<double>& args);

// The vector math functions (cpu/simd_math.h), exposed for testing them over the whole float
// range: X(name) per function; the enum MathFn and the names of the math_fn binding.
#define DG_MATH_FNS(X) X(exp) X(log) X(log1p) X(tanh) X(erf) X(erfc) X(sigmoid) X(normcdf)
#define DG_MATH_FN_ENUM(name) name,
enum class MathFn : int { DG_MATH_FNS(DG_MATH_FN_ENUM) };
#undef DG_MATH_FN_ENUM

// Conv2d (csrc/cpu/conv.h), NCHW: x (n, c, h, w), w (o, c / groups, kh, kw), y (n, o, ho, wo).
struct Conv2dParams {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t o = 0, kh = 0, kw = 0;       // weight
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  int64_t ho = 0, wo = 0;  // output: (h + 2 ph - dh (kh - 1) - 1) / sh + 1
};
// automatic: the depthwise kernel when groups == c > 1, else im2col + GEMM (1x1 in place);
// gemm: im2col + GEMM always; direct: the single-threaded seven-deep loop (the test oracle).
// winograd: F(2x2, 3x3) for 3x3, stride 1, dilation 1, one group, padding <= 2
// (csrc/cpu/winograd.h; the bindings raise ValueError elsewhere); automatic picks it for the
// forward on AVX2 only.
enum class ConvAlgo : int { automatic = 0, gemm = 1, direct = 2, tap = 3, winograd = 4 };

// The geometry of a 3-D pooling pass (csrc/cpu/pool3d.h): planes = N * C volumes of d x h x w
// in, od x oh x ow out; kernel, stride, padding, dilation per axis (average pooling: dilation
// 1). The binding (csrc/bindings/cpu_pool3d.cpp) computed the output size as torch and checked
// every value.
struct Pool3dGeom {
  int64_t planes = 0, d = 0, h = 0, w = 0, od = 0, oh = 0, ow = 0;
  int64_t kd = 1, kh = 1, kw = 1, sd = 1, sh = 1, sw = 1, pd = 0, ph = 0, pw = 0;
  int64_t dd = 1, dh = 1, dw = 1;
};

#define DG_KERNEL_DECLS(T)                                                                         \
  /* the fast GEMM (in dg: for the active ISA), using dg::num_threads() threads */                 \
  void gemm(const GemmArgs<T>& args);                                                              \
  void activation_forward(Act act, const T* x, T* y, int64_t n, T param);                          \
  void activation_backward(Act act, const T* dy, const T* saved, T* dx, int64_t n, T param);       \
  void math_fn(MathFn fn, const T* x, T* y, int64_t n);                                            \
  /* softmax / log_softmax over rows of length cols */                                             \
  void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log);                    \
  void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log);     \
  /* the same over the middle axis of (outer, c, inner): the c values of a slice inner apart */    \
  void softmax_forward_inner(const T* x, T* y, int64_t outer, int64_t c, int64_t inner, bool log); \
  void softmax_backward_inner(const T* dy, const T* y, T* dx, int64_t outer, int64_t c,            \
                              int64_t inner, bool log);                                            \
  /* the k <= 64 best of each row of n (largest: greatest first; NaN above all, ties by index) */  \
  void topk_rows(const T* x, int64_t rows, int64_t n, int64_t k, bool largest, T* val,             \
                 int64_t* idx);                                                                    \
  /* LU with partial pivoting of a batch of n x n matrices, in place (cpu/lu.h): piv (batch, n)    \
     LAPACK's 0-based row swaps, info (batch) 0 or 1 + the first zero pivot's index */             \
  void lu_factor(T* a, int64_t* piv, int64_t* info, int64_t batch, int64_t n);                     \
  /* b (batch, n, k) := A^-1 b (A^-T b when trans) from lu_factor's lu, piv, in place */           \
  void lu_solve(const T* lu, const int64_t* piv, T* b, int64_t batch, int64_t n, int64_t k,        \
                bool trans);                                                                       \
  /* cdist p = 1: out (n, P, R) = sum_k |a (n, P, M) - c (n, R, M)|; gx (n, nx, M) = sum_j         \
     g(i, j) sign(x - y) for y (n, ny, M), g (n, nx, ny), or (n, ny, nx) when g_transposed */      \
  void cdist_p1_forward(const T* a, const T* c, T* out, int64_t n, int64_t P, int64_t R,           \
                        int64_t M);                                                                \
  void cdist_p1_grad(const T* g, const T* x, const T* y, T* gx, int64_t n, int64_t nx, int64_t ny, \
                     int64_t M, bool g_transposed);                                                \
  /* sampling at taps (grid_sample, cpu/sample.h): idx, wts (n, nt, m), index outside [0, npix)    \
     reads 0 / is dropped, wts null: weight 1. out (n, c, m) = sum_t wts * src (n, c, npix)[idx];  \
     gx (n, c, npix) = the scatter of wts * go (n, c, m) (set, not added to); sv (n, nt, m) =      \
     sum_c go * src[idx]. vector: the AVX2 / AVX-512 gathers (false: scalar loads) */              \
  void sample_forward(const T* src, const int64_t* idx, const T* wts, T* out, int64_t n,           \
                      int64_t c, int64_t npix, int64_t nt, int64_t m, bool vector);                \
  void sample_scatter(const T* go, const int64_t* idx, const T* wts, T* gx, int64_t n, int64_t c,  \
                      int64_t npix, int64_t nt, int64_t m);                                        \
  void sample_dot(const T* go, const T* src, const int64_t* idx, T* sv, int64_t n, int64_t c,      \
                  int64_t npix, int64_t nt, int64_t m, bool vector);                               \
  /* nn.LSTM's time loop, forward and backward through time (cpu/rnn.h has the layout) */          \
  void lstm_sequence_forward(T* pre, T* s, T* cs, T* tcs, const T* wt, int64_t seq, int64_t batch, \
                             int64_t hd, bool reverse);                                            \
  void lstm_sequence_backward(const T* pre, const T* cs, const T* tcs, const T* w, T* gacc, T* dc, \
                              T* dgates, int64_t seq, int64_t batch, int64_t hd, bool reverse);    \
  /* y = x flipped along the dims flagged in flip (x C-contiguous of shape[nd], nd >= 1) */        \
  void flip_copy(const T* x, T* y, const int64_t* shape, const uint8_t* flip, int nd);             \
  /* log(sum(exp(x))) over the middle axis of (outer, c, inner) (inner 1: rows of length c),       \
     with picked = x at class target (both (outer, inner)) when target is not null; its            \
     backward dx = g * exp(x - lse) (lse null: g * softmax(x), max-shifted), minus g_target at     \
     the targets when target is not null.                                                          \
     Targets are already validated. */                                                             \
  void logsumexp_forward(const T* x, T* out, int64_t outer, int64_t c, int64_t inner,              \
                         const int64_t* target, T* picked);                                        \
  void logsumexp_backward(const T* g, const T* x, const T* lse, T* dx, int64_t outer, int64_t c,   \
                          int64_t inner, const int64_t* target, const T* g_target);                \
  /* fused: per-row losses (loss_rows may be null), dlogits = (softmax - onehot) * scale;          \
     returns the sum of the row losses. Labels are already validated. */                           \
  double softmax_cross_entropy(const T* logits, const int64_t* target, T* dlogits, T* loss_rows,   \
                               int64_t rows, int64_t cols, T scale);                               \
  /* elementwise loss (into loss_elem when not null) and grad = dloss/dy * scale; returns the      \
     sum of the elementwise losses */                                                              \
  double loss_forward_backward(LossKind kind, const T* y, const T* t, T* grad, T* loss_elem,       \
                               int64_t n, T scale);                                                \
  /* y = act(x @ w.T + b), z = x @ w.T + b (when z is not null); x (m, k), w (n, k) */             \
  void linear_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t m, int64_t k,        \
                      int64_t n, Act act, T param);                                                \
  /* dz = dy * act'(saved) into dz (unless act is identity: dz may then alias dy), db = column     \
     sums of dz when db is not null; dy, saved, dz are (m, n) */                                   \
  void linear_dz_db(const T* dy, const T* saved, T* dz, T* db, int64_t m, int64_t n, Act act,      \
                    T param);                                                                      \
  /* optimizer hyper-parameters are doubles: derived constants such as 1 - beta2 are formed        \
     in double and rounded once to T, as torch does */                                             \
  void sgd_update(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum,          \
                  double dampening, double weight_decay, bool nesterov, bool first_step);          \
  void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, double lr, double beta1,        \
                   double beta2, double eps, double weight_decay, bool decoupled, int64_t step);   \
  /* Adagrad (clr: the step's decayed lr) and RMSprop (grad_avg / buf null when unused) */         \
  void adagrad_update(T* param, const T* grad, T* sum, int64_t n, double clr, double eps,          \
                      double weight_decay, bool maximize);                                         \
  void rmsprop_update(T* param, const T* grad, T* square_avg, T* grad_avg, T* buf, int64_t n,      \
                      double lr, double alpha, double eps, double weight_decay, double momentum,   \
                      bool maximize);                                                              \
  /* Adamax (clr = lr / (1 - beta1^t)) and NAdam (its step's scalars from optim/_more.py) */       \
  void adamax_update(T* param, const T* grad, T* exp_avg, T* exp_inf, int64_t n, double clr,       \
                     double beta1, double beta2, double eps, double weight_decay, bool maximize);  \
  void nadam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double decay,   \
                    double beta1, double beta2, double bc2, double eps, double c_g, double c_m,    \
                    double weight_decay, bool maximize);                                           \
  /* out[o, i] = scale * sum_j x[o, j, i] for x viewed as (outer, r, inner) */                     \
  void reduce_sum(const T* x, T* out, int64_t outer, int64_t r, int64_t inner, T scale);           \
  /* running sums (prod: products) along the middle axis of (outer, n, inner), from the end        \
     when reverse; accumulated in double */                                                        \
  void cumulative(const T* x, T* out, int64_t outer, int64_t n, int64_t inner, bool prod,          \
                  bool reverse);                                                                   \
  /* out (outer, n, inner) op= src (outer, m, inner) at rows idx (m), each in [0, n); op: 0 sum,   \
     1 prod, 2 amax, 3 amin */                                                                     \
  void index_reduce(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n, int64_t m, \
                    int64_t inner, int op);                                                        \
  /* out (outer, n, inner) op= src (outer, m, inner) at idx (outer, m, inner), each in [0, n);     \
     op: 0 sum, 1 prod, 2 amax, 3 amin */                                                          \
  void scatter_reduce(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n,          \
                      int64_t m, int64_t inner, int op);                                           \
  /* conv2d: y = conv(x, w) + b (b may be null); backward: dx, dw, db, each may be null */         \
  void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y,             \
                      ConvAlgo algo);                                                              \
  void conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,   \
                       T* db, ConvAlgo algo);                                                      \
  /* 2-D pooling over g.planes planes (cpu/pool.h); idx may be null (no indices wanted);           \
     divisor 0: none (else divisor_override) */                                                    \
  void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dGeom& g);                    \
  /* returns how many indices lay outside their window's rows (those are skipped) */               \
  int64_t max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g);        \
  /* the training path's 2x2/2 window codes (cpu/pool.h): false / -1 where this ISA has none */    \
  bool max_pool2d_forward_codes(const T* x, T* y, uint8_t* codes, const Pool2dGeom& g);            \
  int64_t max_pool2d_backward_codes(const T* dy, const uint8_t* codes, T* dx,                      \
                                    const Pool2dGeom& g);                                          \
  void avg_pool2d_forward(const T* x, T* y, const Pool2dGeom& g, bool include_pad,                 \
                          int64_t divisor);                                                        \
  void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeom& g, bool include_pad,              \
                           int64_t divisor);                                                       \
  void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w,         \
                                   int64_t oh, int64_t ow);                                        \
  void adaptive_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w,      \
                                    int64_t oh, int64_t ow);                                       \
  /* 3-D pooling over g.planes volumes (cpu/pool3d.h); idx may be null; divisor 0: none */         \
  void max_pool3d_forward(const T* x, T* y, int64_t* idx, const Pool3dGeom& g);                    \
  /* returns how many indices lay outside their window's depth slices (those are skipped) */       \
  int64_t max_pool3d_backward(const T* dy, const int64_t* idx, T* dx, const Pool3dGeom& g);        \
  void avg_pool3d_forward(const T* x, T* y, const Pool3dGeom& g, bool include_pad,                 \
                          int64_t divisor);                                                        \
  void avg_pool3d_backward(const T* dy, T* dx, const Pool3dGeom& g, bool include_pad,              \
                           int64_t divisor);                                                       \
  /* adaptive max pooling: y and the int64 flat index of each maximum in its h * w plane */        \
  void adaptive_max_pool2d_forward(const T* x, T* y, int64_t* idx, int64_t planes, int64_t h,      \
                                   int64_t w, int64_t oh, int64_t ow);                             \
  /* returns how many indices lay outside their window (those are skipped) */                      \
  int64_t adaptive_max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, int64_t planes,     \
                                       int64_t h, int64_t w, int64_t oh, int64_t ow);              \
  /* batch norm over x (n, c, s): per-channel mean, invstd = 1/sqrt(var + eps) (biased var);       \
     running_mean / running_var (null: none) updated with momentum, the variance unbiased */       \
  void batch_norm_stats(const T* x, T* mean, T* invstd, T* running_mean, T* running_var,           \
                        int64_t n, int64_t c, int64_t s, double momentum, double eps);             \
  /* y = (x - mean) * invstd * weight + bias per channel (weight, bias may be null) */             \
  void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight,               \
                        const T* bias, T* y, int64_t n, int64_t c, int64_t s);                     \
  /* dx (training: batch statistics; else affine only), dweight, dbias (each may be null) */       \
  void batch_norm_backward(const T* dy, const T* x, const T* mean, const T* invstd,                \
                           const T* weight, T* dx, T* dweight, T* dbias, int64_t n, int64_t c,     \
                           int64_t s, bool training);                                              \
  /* layer norm over rows of d: y, and the rows' mean and rstd */                                  \
  void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,              \
                          int64_t rows, int64_t d, double eps);                                    \
  void layer_norm_backward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd,      \
                           T* dx, T* dweight, T* dbias, int64_t rows, int64_t d);                  \
  /* group norm over x (n, c, s) in g groups (c % g == 0): y, and the (n, g) rows' mean, rstd */   \
  void group_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t n,   \
                          int64_t c, int64_t s, int64_t g, double eps);                            \
  void group_norm_backward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd,      \
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,           \
                           int64_t g);                                                             \
  /* batch_norm_stats then batch_norm_apply in one call (fused per channel where it can) */        \
  void batch_norm_train_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* invstd,      \
                                T* rmean, T* rvar, int64_t n, int64_t c, int64_t s,                \
                                double momentum, double eps);

// The epilogue the fused linear forward hands to gemm(): bias + activation (+ z), per ISA.
template <class T>
struct LinearEpilogueCtx {
  const T* bias;  // may be null
  T* z;           // may be null: pre-activation copy, same layout as y
  const T* y;     // the base of y, to find a block's position in z
  T param;
};

#define DG_ISA_DECLS(T) \
  DG_KERNEL_DECLS(T)    \
  void linear_epilogue(Act act, bool has_bias, bool write_z, GemmEpilogue<T>* out);

DG_KERNEL_DECLS(float)
DG_KERNEL_DECLS(double)

// The fused linear layer's backward: dz = dy * act'(saved) with db fused (dz_scratch is (m, n);
// unused for identity), then dw = dz.T @ x and dx = dz @ w by gemm() on strided views. dx and
// db may be null (not wanted).
#define DG_LINEAR_BACKWARD_DECL(T)                                                                \
  void linear_backward(const T* dy, const T* x, const T* w, const T* saved, T* dz_scratch, T* dx, \
                       T* dw, T* db, int64_t m, int64_t k, int64_t n, Act act, T param);
DG_LINEAR_BACKWARD_DECL(float)
DG_LINEAR_BACKWARD_DECL(double)
#undef DG_LINEAR_BACKWARD_DECL
// The same with dw and db accumulated into (dw += dz.T @ x by the GEMM with beta = 1, db += the
// column sums): backward into a kept .grad buffer (zero_grad(set_to_none=False)) in one pass.
#define DG_LINEAR_BACKWARD_ACC_DECL(T)                                                      \
  void linear_backward_accumulate(const T* dy, const T* x, const T* w, const T* saved,      \
                                  T* dz_scratch, T* dx, T* dw, T* db, int64_t m, int64_t k, \
                                  int64_t n, Act act, T param);
DG_LINEAR_BACKWARD_ACC_DECL(float)
DG_LINEAR_BACKWARD_ACC_DECL(double)
#undef DG_LINEAR_BACKWARD_ACC_DECL

// The strided-batched GEMM: `args` describes product 0 (and alpha, beta), `batch` where the
// others are (see GemmBatch). Products of at least ~128^3 multiply-adds run one after another,
// each on the GEMM's own threads; smaller ones are spread over the threads, one product per
// thread at a time. When op(B) is shared by every product and the A_i and C_i continue each
// other's rows (x (batch, s, k) @ w (k, n)), it is one GEMM of batch * s rows.
void gemm_batched(const GemmArgs<float>& args, const GemmBatch& batch);
void gemm_batched(const GemmArgs<double>& args, const GemmBatch& batch);

namespace generic {
DG_ISA_DECLS(float) DG_ISA_DECLS(double)
}
namespace avx2 {
DG_ISA_DECLS(float) DG_ISA_DECLS(double)
}
#if !defined(DG_NO_AVX512)
namespace avx512 {
DG_ISA_DECLS(float) DG_ISA_DECLS(double)
}
#endif

#undef DG_ISA_DECLS
#undef DG_KERNEL_DECLS

}  // namespace dg
