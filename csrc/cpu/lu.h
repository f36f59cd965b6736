// LU with partial pivoting of a batch of square row-major matrices (LAPACK's getrf) and the
// solves with it (getrs: A X = B and A^T X = B), for linalg.solve: the forward factors A once and
// the backward's A^-T G reuses the factors (torch's solve saves its LU the same way).
//
// lu_factor: right-looking, blocked by panels of kPanel columns (kPanelInL1 for a matrix of at
// most kL1Bytes). The panel (all rows below the diagonal, its columns) is factored column by
// column: the pivot is the first largest |a_ij| (LAPACK's i?amax), the whole row is swapped at
// once (row-major: contiguous), the column below the diagonal is scaled by the pivot's reciprocal
// (divided where the reciprocal would overflow, LAPACK's sfmin test) and the rest of the panel
// gets the rank-1 update; for a matrix past L1 in one pass over the rows per column (the next
// pivot found on the way), in L1 a pass each (faster there). Then U12 = L11^-1 A12 (rows of the
// panel, row axpys) and A22 -= L21 U12 by this ISA's GEMM. An exact zero pivot is recorded
// (info = its index + 1, the first one) and the factorization goes on, as LAPACK's; the caller
// raises. Measured against torch 2.13 (MKL getrf), 1 thread, Zen 4 shared: 64 x (64 x 64) 2.4x
// float32 / 2.0x float64; 4 x (256 x 256) 1.9x / 1.4x (one pass per column: 0.95x before);
// 256 x (8 x 8) 0.7x (per-matrix overhead: a small-n path would pay).
//
// lu_solve: B (n, k) row-major, the dot form of the triangular solves: each row of the result is
// accumulated in registers (k columns at a time in vectors) from the rows already solved, so a row
// is stored once; the transposed solve reads the factors down their columns (U^T y = b, then
// L^T z = y, then the row swaps in reverse).
//
// Threads: the batch is split between the threads (dynamic chunks of whole matrices); GEMM runs on
// the calling thread there. A batch smaller than the team runs its matrices in turn, each with the
// team in its GEMM.
#include <cmath>
#include <limits>
#include <utility>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// The panel width of the blocked factorization, and for a matrix of at most kL1Bytes (measured:
// 64 x 64 float32, 16 columns 0.62 ms for 64 matrices, 32 columns 0.70)
constexpr int64_t kPanel = 32;
constexpr int64_t kPanelInL1 = 16;
constexpr int64_t kL1Bytes = int64_t(48) << 10;

// y[0, len) -= s * x[0, len)
template <class T>
inline void axpy_neg(T* y, const T* x, T s, int64_t len) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V vs = V::set1(s);
  int64_t i = 0;
  for (; i + W <= len; i += W) fnmadd(vs, V::load(x + i), V::load(y + i)).store(y + i);
  if (i < len) {
    const int r = static_cast<int>(len - i);
    fnmadd(vs, V::load(x + i, r), V::load(y + i, r)).store(y + i, r);
  }
}

template <class T>
inline void swap_rows(T* x, T* y, int64_t len) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = 0;
  for (; i + W <= len; i += W) {
    const V a = V::load(x + i), b = V::load(y + i);
    b.store(x + i);
    a.store(y + i);
  }
  for (; i < len; ++i) std::swap(x[i], y[i]);
}

// The first row i >= j of the largest |a_ij| (LAPACK's i?amax: a NaN is never larger).
template <class T>
inline int64_t pivot_row(const T* a, int64_t n, int64_t j) {
  int64_t p = j;
  T best = std::abs(a[j * n + j]);
  for (int64_t i = j + 1; i < n; ++i) {
    const T v = std::abs(a[i * n + j]);
    if (v > best) {
      best = v;
      p = i;
    }
  }
  return p;
}

// Columns [j0, j1) of a (n x n, row-major) factored in place, rows j0.. below them; the row swaps
// span whole rows. One pass over the rows below the pivot per column: each row's multiplier is
// scaled, its part of the panel updated, and its entry in the next column, now final, offered as
// the next pivot (a pass each would read the strided column three times).
template <class T>
void factor_panel(T* a, int64_t n, int64_t j0, int64_t j1, int64_t* piv, int64_t& info) {
  const T sfmin = std::numeric_limits<T>::min();
  int64_t p = pivot_row(a, n, j0);
  for (int64_t j = j0; j < j1; ++j) {
    piv[j] = p;
    const T pivot = a[p * n + j];
    bool scale = false, divide = false;
    T r = T(1);
    if (pivot != T(0)) {
      if (p != j) swap_rows(a + j * n, a + p * n, n);
      // LAPACK's sfmin test: the reciprocal of a tiny pivot would overflow
      if (std::abs(pivot) >= sfmin) {
        r = T(1) / pivot;
        scale = true;
      } else {
        divide = true;
      }
    } else if (info == 0) {
      info = j + 1;  // LAPACK goes on, the column below left unscaled
    }
    const T* urow = a + j * n + j + 1;
    const int64_t len = j1 - j - 1;
    int64_t next = j + 1;
    T best = T(0);
    const auto offer = [&](int64_t i) {  // rows in order: the first largest, as pivot_row
      const T v = std::abs(a[i * n + j + 1]);
      if (i == j + 1 || v > best) {
        best = v;
        next = i;
      }
    };
    for (int64_t i = j + 1; i < n; ++i) {
      T* row = a + i * n;
      T l = row[j];
      if (scale)
        l *= r;
      else if (divide)
        l /= pivot;
      row[j] = l;
      if (len > 0) {
        axpy_neg(row + j + 1, urow, l, len);
        // the row before: reading back the masked store just made would stall its forwarding
        if (i > j + 1) offer(i - 1);
      }
    }
    if (len > 0 && j + 1 < n) offer(n - 1);
    p = next;
  }
}

// factor_panel for a matrix that L1 holds: a pass each for the pivot, the scaling and the update
// is faster there than the fused pass (64 x 64 float32: 0.62 against 0.88 ms for 64 matrices;
// 256 x 256: 2.8 against 1.8 ms for 4 float64 matrices the other way round).
template <class T>
void factor_panel_in_l1(T* a, int64_t n, int64_t j0, int64_t j1, int64_t* piv, int64_t& info) {
  const T sfmin = std::numeric_limits<T>::min();
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t p = pivot_row(a, n, j);
    piv[j] = p;
    const T pivot = a[p * n + j];
    if (pivot != T(0)) {
      if (p != j) swap_rows(a + j * n, a + p * n, n);
      if (std::abs(pivot) >= sfmin) {
        const T r = T(1) / pivot;
        for (int64_t i = j + 1; i < n; ++i) a[i * n + j] *= r;
      } else {
        for (int64_t i = j + 1; i < n; ++i) a[i * n + j] /= pivot;
      }
    } else if (info == 0) {
      info = j + 1;
    }
    const T* urow = a + j * n + j + 1;
    for (int64_t i = j + 1; i < n; ++i) axpy_neg(a + i * n + j + 1, urow, a[i * n + j], j1 - j - 1);
  }
}

template <class T>
int64_t factor_one(T* a, int64_t n, int64_t* piv, int gemm_threads) {
  int64_t info = 0;
  const bool in_l1 = n * n * int64_t(sizeof(T)) <= kL1Bytes;
  const int64_t nb = in_l1 ? kPanelInL1 : kPanel;
  for (int64_t k0 = 0; k0 < n; k0 += nb) {
    const int64_t k1 = std::min(n, k0 + nb);
    if (in_l1)
      factor_panel_in_l1(a, n, k0, k1, piv, info);
    else
      factor_panel(a, n, k0, k1, piv, info);
    if (k1 == n) break;
    // U12 = L11^-1 A12 (L11 unit lower): row i of the panel less its L-weighted rows above it
    for (int64_t i = k0 + 1; i < k1; ++i)
      for (int64_t j = k0; j < i; ++j)
        axpy_neg(a + i * n + k1, a + j * n + k1, a[i * n + j], n - k1);
    // A22 -= L21 U12
    const int64_t m = n - k1;
    GemmArgs<T> g = strided_gemm<T>(m, m, k1 - k0, a + k1 * n + k0, n, 1, a + k0 * n + k1, n, 1,
                                    a + k1 * n + k1, n, 1);
    g.alpha = T(-1);
    g.beta = T(1);
    g.threads = gemm_threads;
    DG_ISA_NS::gemm(g);
  }
  return info;
}

// acc - sum_{j in [j0, j1)} f[j * fs] x[j * k, w lanes): four chains of FMAs (one chain would
// wait on the FMA's latency at every step: the solves are dot products of length up to n)
template <class T>
inline Vec<T> dot_sub(Vec<T> acc, const T* f, int64_t fs, const T* x, int64_t k, int64_t j0,
                      int64_t j1, int w) {
  using V = Vec<T>;
  V s0 = V::set1(T(0)), s1 = s0, s2 = s0, s3 = s0;
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    s0 = fmadd(V::set1(f[j * fs]), load_n(x + j * k, w), s0);
    s1 = fmadd(V::set1(f[(j + 1) * fs]), load_n(x + (j + 1) * k, w), s1);
    s2 = fmadd(V::set1(f[(j + 2) * fs]), load_n(x + (j + 2) * k, w), s2);
    s3 = fmadd(V::set1(f[(j + 3) * fs]), load_n(x + (j + 3) * k, w), s3);
  }
  for (; j < j1; ++j) s0 = fmadd(V::set1(f[j * fs]), load_n(x + j * k, w), s0);
  return acc - ((s0 + s1) + (s2 + s3));
}

// b (n x k) := A^-1 b or A^-T b from the factors of A. The transposed solve of a matrix past L1
// (column; rows of b of whole vectors) takes the axpy form: each solved row is subtracted from the
// rows below (above) it, the factors read along their rows; the dot form reads them down their
// columns, a cache line per element there (4 x 256 x 256 float64, k = 8: 0.69x torch's getrs,
// 1.06x in the axpy form).
template <class T>
void solve_one(const T* lu, const int64_t* piv, T* b, int64_t n, int64_t k, bool trans,
               bool column) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (trans && column) {
    for (int64_t j = 0; j < n; ++j) {  // U^T y = b: row j of U
      T* bj = b + j * k;
      const V d = V::set1(lu[j * n + j]);
      for (int64_t c = 0; c < k; c += W) {
        const int w = static_cast<int>(std::min<int64_t>(W, k - c));
        store_n(load_n(bj + c, w) / d, bj + c, w);
      }
      for (int64_t i = j + 1; i < n; ++i) axpy_neg(b + i * k, bj, lu[j * n + i], k);
    }
    for (int64_t j = n - 1; j > 0; --j) {  // L^T z = y (unit diagonal): row j of L
      const T* bj = b + j * k;
      for (int64_t i = 0; i < j; ++i) axpy_neg(b + i * k, bj, lu[j * n + i], k);
    }
  } else {
    if (!trans) {
      for (int64_t j = 0; j < n; ++j)
        if (piv[j] != j) swap_rows(b + j * k, b + piv[j] * k, k);
    }
    for (int64_t c = 0; c < k; c += W) {
      const int w = static_cast<int>(std::min<int64_t>(W, k - c));
      T* bc = b + c;
      if (!trans) {
        for (int64_t i = 1; i < n; ++i)  // L y = P b (unit diagonal): row i of L
          store_n(dot_sub(load_n(bc + i * k, w), lu + i * n, 1, bc, k, 0, i, w), bc + i * k, w);
        for (int64_t i = n - 1; i >= 0; --i) {  // U x = y: row i of U
          const V acc = dot_sub(load_n(bc + i * k, w), lu + i * n, 1, bc, k, i + 1, n, w);
          store_n(acc / V::set1(lu[i * n + i]), bc + i * k, w);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {  // U^T y = b: column i of U
          const V acc = dot_sub(load_n(bc + i * k, w), lu + i, n, bc, k, 0, i, w);
          store_n(acc / V::set1(lu[i * n + i]), bc + i * k, w);
        }
        for (int64_t i = n - 2; i >= 0; --i)  // L^T z = y (unit diagonal): column i of L
          store_n(dot_sub(load_n(bc + i * k, w), lu + i, n, bc, k, i + 1, n, w), bc + i * k, w);
      }
    }
  }
  if (trans) {
    for (int64_t j = n - 1; j >= 0; --j)
      if (piv[j] != j) swap_rows(b + j * k, b + piv[j] * k, k);
  }
}

// The triangular solves of solve_one by blocks of kSolveBlock rows for a wide b (k >= kWideB): the
// rows of a block less the factors' block left of (right of) it times the rows solved before, by
// this ISA's GEMM (the factors read through strides: transposed for A^T, no copy), then the block
// itself in the dot form. Row by row, a wide b re-read the factors once per vector of columns
// (4 x 256 x 256 float64, k = 256: 0.46x torch's getrs; blocks of 32 rows 1.5x, of 64 0.8x). f(i,
// j) = lu[i * rs + j * cs] is the triangle: L (rs n, cs 1), U, or U^T, L^T (rs 1, cs n).
constexpr int64_t kSolveBlock = 32;
constexpr int64_t kWideB = 32;

template <class T>
void tri_block(const T* lu, int64_t rs, int64_t cs, bool unit, bool forward, T* b, int64_t n,
               int64_t k, int gemm_threads) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t blocks = (n + kSolveBlock - 1) / kSolveBlock;
  for (int64_t s = 0; s < blocks; ++s) {
    const int64_t blk = forward ? s : blocks - 1 - s;
    const int64_t i0 = blk * kSolveBlock, i1 = std::min(n, i0 + kSolveBlock);
    // the rows already solved: [0, i0) going forward, [i1, n) going back
    const int64_t s0 = forward ? 0 : i1, s1 = forward ? i0 : n;
    if (s1 > s0) {
      GemmArgs<T> g = strided_gemm<T>(i1 - i0, k, s1 - s0, lu + i0 * rs + s0 * cs, rs, cs,
                                      b + s0 * k, k, 1, b + i0 * k, k, 1);
      g.alpha = T(-1);
      g.beta = T(1);
      g.threads = gemm_threads;
      DG_ISA_NS::gemm(g);
    }
    for (int64_t c = 0; c < k; c += W) {
      const int w = static_cast<int>(std::min<int64_t>(W, k - c));
      T* bc = b + c;
      for (int64_t t = 0; t < i1 - i0; ++t) {
        const int64_t i = forward ? i0 + t : i1 - 1 - t;
        const int64_t j0 = forward ? i0 : i + 1, j1 = forward ? i : i1;
        V acc = dot_sub(load_n(bc + i * k, w), lu + i * rs, cs, bc, k, j0, j1, w);
        if (!unit) acc = acc / V::set1(lu[i * n + i]);
        store_n(acc, bc + i * k, w);
      }
    }
  }
}

template <class T>
void solve_wide(const T* lu, const int64_t* piv, T* b, int64_t n, int64_t k, bool trans,
                int gemm_threads) {
  if (!trans) {
    for (int64_t j = 0; j < n; ++j)
      if (piv[j] != j) swap_rows(b + j * k, b + piv[j] * k, k);
    tri_block(lu, n, 1, true, true, b, n, k, gemm_threads);    // L y = P b
    tri_block(lu, n, 1, false, false, b, n, k, gemm_threads);  // U x = y
  } else {
    tri_block(lu, 1, n, false, true, b, n, k, gemm_threads);  // U^T y = b
    tri_block(lu, 1, n, true, false, b, n, k, gemm_threads);  // L^T z = y
    for (int64_t j = n - 1; j >= 0; --j)
      if (piv[j] != j) swap_rows(b + j * k, b + piv[j] * k, k);
  }
}

// Whole matrices per chunk: about kParallelGrain multiply-adds of work each.
inline int64_t matrix_grain(double work_per_matrix) {
  const double g = double(kParallelGrain) / (work_per_matrix > 1 ? work_per_matrix : 1);
  return g < 1 ? 1 : static_cast<int64_t>(g);
}

template <class T>
void lu_factor_batch(T* a, int64_t* piv, int64_t* info, int64_t batch, int64_t n) {
  if (batch <= 0) return;
  if (batch < num_threads() && n > kPanel) {  // few large matrices: the team in their GEMMs
    for (int64_t b = 0; b < batch; ++b) info[b] = factor_one(a + b * n * n, n, piv + b * n, 0);
    return;
  }
  const double work = double(n) * double(n) * double(n) / 3;
  parallel_chunks(batch, matrix_grain(work), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) info[b] = factor_one(a + b * n * n, n, piv + b * n, 1);
  });
}

template <class T>
void lu_solve_batch(const T* lu, const int64_t* piv, T* b, int64_t batch, int64_t n, int64_t k,
                    bool trans) {
  if (batch <= 0 || n == 0 || k == 0) return;
  if (k >= kWideB && n > kSolveBlock) {  // a wide b: blocks by GEMM (the team in it for few)
    if (batch < num_threads()) {
      for (int64_t i = 0; i < batch; ++i)
        solve_wide(lu + i * n * n, piv + i * n, b + i * n * k, n, k, trans, 0);
      return;
    }
    parallel_chunks(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i)
        solve_wide(lu + i * n * n, piv + i * n, b + i * n * k, n, k, trans, 1);
    });
    return;
  }
  const double work = double(n) * double(n) * double(k);
  parallel_chunks(batch, matrix_grain(work), [&](int64_t b0, int64_t b1) {
    // whole vectors only: a masked store per step would cost more than the strided reads
    // (float32, k = 8 on AVX-512: 6x slower; masked stores are slow on AMD cores)
    const bool column = n * n * int64_t(sizeof(T)) > kL1Bytes && k % Vec<T>::width == 0;
    for (int64_t i = b0; i < b1; ++i)
      solve_one(lu + i * n * n, piv + i * n, b + i * n * k, n, k, trans, column);
  });
}

}  // namespace

#define DG_LU_DEFS(T)                                                                       \
  void lu_factor(T* a, int64_t* piv, int64_t* info, int64_t batch, int64_t n) {             \
    lu_factor_batch(a, piv, info, batch, n);                                                \
  }                                                                                         \
  void lu_solve(const T* lu, const int64_t* piv, T* b, int64_t batch, int64_t n, int64_t k, \
                bool trans) {                                                               \
    lu_solve_batch(lu, piv, b, batch, n, k, trans);                                         \
  }
DG_LU_DEFS(float)
DG_LU_DEFS(double)
#undef DG_LU_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
