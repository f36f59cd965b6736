// cdist with p = 1 (torch.cdist(x1, x2, p=1)) on batches of C-contiguous matrices:
// a (n, P, M), c (n, R, M), the distances D (n, P, R), D[b, i, j] = sum_k |a[b, i, k] - c[b, j,
// k]|.
//
// Forward: vectorized over j. Each batch's c is first transposed into panels of 2 vectors of
// columns j, k-major (kFwdCols x M, the last panel zero-padded), so that one step of k loads two
// vectors of c[j, k] and broadcasts a[i, k] for a few rows i: a register block of kFwdRows rows x
// 2 vectors of j, three vector ops (subtract, abs, add) per W terms and no horizontal sums. The
// terms are added in k order, one (i, j) at a time, by one thread: the same bits at any thread
// count. NaN and inf - inf give NaN, as torch.
//
// Backward: gx[i, k] = sum_j g(i, j) * sign(x[i, k] - y[j, k]), vectorized over k (the rows'
// contiguous axis): a register block of kBwdRows rows of x (up to 2 vectors of k) and their
// sums, one row y[j] loaded and g(i, j) broadcast per step of j. sign is torch's: 0 at a zero
// difference, NaN at NaN (min(1, max(-1, d * 2^e * 2^e)): the two scalings take the least
// denormal past 1, and max / min pass a NaN second operand through). x1's gradient is this with
// (x, y) = (a, c) and g(i, j) = G[i, j]; x2's with (x, y) = (c, a) and g(j, i) = G[i, j]:
// -sign(a - c) = sign(c - a) exactly (a rounded difference is odd in its operands). Two passes
// over the differences, each output row owned by one task: deterministic at any thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// the register blocks: rows of a x 2 vectors (forward), rows of x x 2 vectors of k (backward);
// 32 vector registers (AVX-512) hold 4 rows of the backward's x and sums, 16 (AVX2) only 2
constexpr int kFwdRows = 4;
constexpr int kBwdRows = sizeof(Vec<float>) >= 64 ? 4 : 2;
// rows of a (x) per task: large enough that a task's fixed costs (the panel walk) are small
constexpr int64_t kTaskRows = 32;
// element terms (i, j, k) below which a call runs on the calling thread
constexpr int64_t kCdistSerialTerms = int64_t(1) << 17;

// c[j0 .. j0 + cols) (rows of M, cols <= 2 W) into panel[k * 2W + jj], the columns past cols 0.
template <class T>
void cdist_pack_panel(const T* c, int64_t cols, int64_t M, T* panel) {
  constexpr int JB = 2 * Vec<T>::width;
  for (int64_t k = 0; k < M; ++k) {
    T* dst = panel + k * JB;
    for (int64_t jj = 0; jj < cols; ++jj) dst[jj] = c[jj * M + k];
    for (int64_t jj = cols; jj < JB; ++jj) dst[jj] = T(0);
  }
}

// out[r * R + jj] = sum_k |a[r * M + k] - panel[k][jj]| for r < RB, jj < cols (<= 2 W).
template <class T, int RB>
inline void cdist_fwd_block(const T* a, int64_t M, const T* panel, T* out, int64_t R, int cols) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V acc0[RB], acc1[RB];
  for (int r = 0; r < RB; ++r) acc0[r] = acc1[r] = V::zero();
  for (int64_t k = 0; k < M; ++k) {
    const V c0 = V::load(panel + k * 2 * W), c1 = V::load(panel + k * 2 * W + W);
    for (int r = 0; r < RB; ++r) {
      const V av = V::set1(a[r * M + k]);
      acc0[r] = acc0[r] + abs(av - c0);
      acc1[r] = acc1[r] + abs(av - c1);
    }
  }
  for (int r = 0; r < RB; ++r) {
    T* o = out + r * R;
    if (cols > W) {
      acc0[r].store(o);
      store_n(acc1[r], o + W, cols - W);
    } else {
      store_n(acc0[r], o, cols);
    }
  }
}

// Rows [i0, i1) of one batch's distances, from its panels (cpanels: ceil(R / 2W) of them).
template <class T>
void cdist_fwd_rows(const T* a, const T* cpanels, T* out, int64_t i0, int64_t i1, int64_t R,
                    int64_t M) {
  constexpr int JB = 2 * Vec<T>::width;
  for (int64_t j0 = 0; j0 < R; j0 += JB) {
    const T* panel = cpanels + (j0 / JB) * JB * M;
    const int cols = static_cast<int>(std::min<int64_t>(JB, R - j0));
    int64_t i = i0;
    for (; i + kFwdRows <= i1; i += kFwdRows)
      cdist_fwd_block<T, kFwdRows>(a + i * M, M, panel, out + i * R + j0, R, cols);
    switch (i1 - i) {
      case 3:
        cdist_fwd_block<T, 3>(a + i * M, M, panel, out + i * R + j0, R, cols);
        break;
      case 2:
        cdist_fwd_block<T, 2>(a + i * M, M, panel, out + i * R + j0, R, cols);
        break;
      case 1:
        cdist_fwd_block<T, 1>(a + i * M, M, panel, out + i * R + j0, R, cols);
        break;
      default:
        break;
    }
  }
}

// the tasks (b, block of kTaskRows rows) of n batches of `rows` rows, and how many of them a
// chunk of parallel_chunks takes (all, below kCdistSerialTerms terms in all)
struct CdistTasks {
  int64_t per_batch, count, grain;
};
inline CdistTasks cdist_tasks(int64_t n, int64_t rows, int64_t cols, int64_t M) {
  CdistTasks t;
  t.per_batch = (rows + kTaskRows - 1) / kTaskRows;
  t.count = n * t.per_batch;
  const int64_t terms = n * rows * cols * M;
  t.grain = terms < kCdistSerialTerms ? std::max<int64_t>(t.count, 1) : 1;
  return t;
}

template <class T>
void cdist_p1_forward_t(const T* a, const T* c, T* out, int64_t n, int64_t P, int64_t R,
                        int64_t M) {
  if (n == 0 || P == 0 || R == 0) return;
  if (M == 0) {
    std::fill(out, out + n * P * R, T(0));
    return;
  }
  constexpr int JB = 2 * Vec<T>::width;
  const int64_t npanels = (R + JB - 1) / JB, bstride = npanels * JB * M;
  // a buffer of c's size, for this call only (a reused one would keep the largest c alive)
  const std::unique_ptr<T[]> buf(new T[size_t(n * bstride)]);
  T* panels = buf.get();
  // the transposes, by panel (a chunk of at least kParallelGrain elements)
  parallel_chunks(n * npanels, std::max<int64_t>(1, kParallelGrain / (JB * M)),
                  [&](int64_t t0, int64_t t1) {
                    for (int64_t t = t0; t < t1; ++t) {
                      const int64_t b = t / npanels, p = t % npanels;
                      cdist_pack_panel(c + (b * R + p * JB) * M, std::min<int64_t>(JB, R - p * JB),
                                       M, panels + b * bstride + p * JB * M);
                    }
                  });
  const CdistTasks tk = cdist_tasks(n, P, R, M);
  parallel_chunks(tk.count, tk.grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / tk.per_batch, i0 = (t % tk.per_batch) * kTaskRows;
      cdist_fwd_rows(a + b * P * M, panels + b * bstride, out + b * P * R, i0,
                     std::min<int64_t>(P, i0 + kTaskRows), R, M);
    }
  });
}

// g * sign(d), torch's sign (0 at 0, NaN at NaN); big = 2^100 (float), 2^600 (double)
template <class T>
inline Vec<T> cdist_signed(Vec<T> g, Vec<T> d, Vec<T> big, Vec<T> one, Vec<T> acc) {
  const Vec<T> s = min(one, max(-one, d * big * big));
  return fmadd(g, s, acc);
}

// gx[r * M + k0 ..) for r < RB over NV vectors of k (the last one `last` lanes) from k0:
// sum over j < ny of g[r * gsr + j * gsj] * sign(x[r * M + k] - y[j * M + k]).
template <class T, int RB, int NV>
inline void cdist_bwd_block(const T* x, const T* y, int64_t ny, int64_t M, const T* g, int64_t gsr,
                            int64_t gsj, T* gx, int last) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V big = V::set1(std::ldexp(T(1), sizeof(T) == 4 ? 100 : 600)), one = V::set1(T(1));
  V xv[RB][NV], acc[RB][NV];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) {
      xv[r][v] = load_n(x + r * M + v * W, v + 1 < NV ? W : last);
      acc[r][v] = V::zero();
    }
  for (int64_t j = 0; j < ny; ++j) {
    V yv[NV];
    for (int v = 0; v < NV; ++v) yv[v] = load_n(y + j * M + v * W, v + 1 < NV ? W : last);
    for (int r = 0; r < RB; ++r) {
      const V gv = V::set1(g[r * gsr + j * gsj]);
      for (int v = 0; v < NV; ++v)
        acc[r][v] = cdist_signed(gv, xv[r][v] - yv[v], big, one, acc[r][v]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) store_n(acc[r][v], gx + r * M + v * W, v + 1 < NV ? W : last);
}

template <class T, int RB>
inline void cdist_bwd_rows_k(const T* x, const T* y, int64_t ny, int64_t M, const T* g, int64_t gsr,
                             int64_t gsj, T* gx) {
  constexpr int W = Vec<T>::width;
  int64_t k = 0;
  for (; k + 2 * W <= M; k += 2 * W)
    cdist_bwd_block<T, RB, 2>(x + k, y + k, ny, M, g, gsr, gsj, gx + k, W);
  const int64_t rest = M - k;
  if (rest > W)
    cdist_bwd_block<T, RB, 2>(x + k, y + k, ny, M, g, gsr, gsj, gx + k, int(rest - W));
  else if (rest > 0)
    cdist_bwd_block<T, RB, 1>(x + k, y + k, ny, M, g, gsr, gsj, gx + k, int(rest));
}

// Rows [i0, i1) of gx (one batch): rows of x in blocks of kBwdRows, the rest one at a time.
template <class T>
void cdist_bwd_rows(const T* x, const T* y, int64_t ny, int64_t M, const T* g, int64_t gsr,
                    int64_t gsj, T* gx, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + kBwdRows <= i1; i += kBwdRows)
    cdist_bwd_rows_k<T, kBwdRows>(x + i * M, y, ny, M, g + i * gsr, gsr, gsj, gx + i * M);
  for (; i < i1; ++i)
    cdist_bwd_rows_k<T, 1>(x + i * M, y, ny, M, g + i * gsr, gsr, gsj, gx + i * M);
}

// gx (n, nx, M) = sum_j g(i, j) sign(x[i] - y[j]) for x (n, nx, M), y (n, ny, M); g(i, j) =
// g[b, i, j] of g (n, nx, ny), or g[b, j, i] of g (n, ny, nx) when g_transposed.
template <class T>
void cdist_p1_grad_t(const T* g, const T* x, const T* y, T* gx, int64_t n, int64_t nx, int64_t ny,
                     int64_t M, bool g_transposed) {
  if (n == 0 || nx == 0 || M == 0) return;
  if (ny == 0) {
    std::fill(gx, gx + n * nx * M, T(0));
    return;
  }
  const int64_t gsr = g_transposed ? 1 : ny, gsj = g_transposed ? nx : 1;
  const CdistTasks tk = cdist_tasks(n, nx, ny, M);
  parallel_chunks(tk.count, tk.grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / tk.per_batch, i0 = (t % tk.per_batch) * kTaskRows;
      cdist_bwd_rows(x + b * nx * M, y + b * ny * M, ny, M, g + b * nx * ny, gsr, gsj,
                     gx + b * nx * M, i0, std::min<int64_t>(nx, i0 + kTaskRows));
    }
  });
}

}  // namespace

#define DG_CDIST_DEFS(T)                                                                           \
  void cdist_p1_forward(const T* a, const T* c, T* out, int64_t n, int64_t P, int64_t R,           \
                        int64_t M) {                                                               \
    cdist_p1_forward_t(a, c, out, n, P, R, M);                                                     \
  }                                                                                                \
  void cdist_p1_grad(const T* g, const T* x, const T* y, T* gx, int64_t n, int64_t nx, int64_t ny, \
                     int64_t M, bool g_transposed) {                                               \
    cdist_p1_grad_t(g, x, y, gx, n, nx, ny, M, g_transposed);                                      \
  }
DG_CDIST_DEFS(float)
DG_CDIST_DEFS(double)
#undef DG_CDIST_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
