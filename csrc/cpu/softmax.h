// Softmax, log-softmax and logsumexp over any axis (forward, backward; the last axis row by row,
// another by blocks of neighbouring slices read at their stride) and the fused softmax
// cross-entropy: per row one pass for the max, one for exp and its sum (the exponentials are
// parked in dlogits), one to scale them into the gradient -- as llm.c's fused kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

template <class T>
T row_max(const T* x, int64_t c) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V ninf = V::set1(-std::numeric_limits<T>::infinity());
  V m0 = ninf, m1 = ninf;
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    m0 = max(V::load(x + j), m0);
    m1 = max(V::load(x + j + W), m1);
  }
  for (; j < c; j += W) {
    const int r = c - j < W ? static_cast<int>(c - j) : W;
    m0 = max(select(lanes_below<T>(r), V::load(x + j, r), ninf), m0);
  }
  return max(m0, m1).reduce_max();
}

// sum_j exp(x_j - m); the exponentials are stored into e when it is not null.
template <class T>
T row_sum_exp(const T* x, T* e, int64_t c, T m) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V vm = V::set1(m);
  V s0 = V::zero(), s1 = V::zero();
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    // x - max <= 0: no overflow clamp needed
    const V e0 = vexp_upto88(V::load(x + j) - vm), e1 = vexp_upto88(V::load(x + j + W) - vm);
    if (e) {
      e0.store(e + j);
      e1.store(e + j + W);
    }
    s0 = s0 + e0;
    s1 = s1 + e1;
  }
  for (; j < c; j += W) {
    const int r = c - j < W ? static_cast<int>(c - j) : W;
    const V e0 = select(lanes_below<T>(r), vexp_upto88(V::load(x + j, r) - vm), V::zero());
    if (e) e0.store(e + j, r);
    s0 = s0 + e0;
  }
  return (s0 + s1).reduce_add();
}

template <class T>
void softmax_row(const T* x, T* y, int64_t c, bool log) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const T m = row_max(x, c);
  if (!log) {
    const T s = row_sum_exp(x, y, c, m);
    const V inv = V::set1(T(1) / s);
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      (V::load(y + j, r) * inv).store(y + j, r);
    }
  } else {
    const T s = row_sum_exp<T>(x, nullptr, c, m);
    const V vm = V::set1(m), ls = V::set1(std::log(s));
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      (V::load(x + j, r) - vm - ls).store(y + j, r);
    }
  }
}

template <class T>
void softmax_backward_row(const T* dy, const T* y, T* dx, int64_t c, bool log) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V acc = V::zero();
  if (!log) {
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      acc = fmadd(V::load(dy + j, r), V::load(y + j, r), acc);
    }
    const V dot = V::set1(acc.reduce_add());
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      (V::load(y + j, r) * (V::load(dy + j, r) - dot)).store(dx + j, r);
    }
  } else {
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      acc = acc + V::load(dy + j, r);
    }
    const V s = V::set1(acc.reduce_add());
    for (int64_t j = 0; j < c; j += W) {
      const int r = c - j < W ? static_cast<int>(c - j) : W;
      fnmadd(vexp(V::load(y + j, r)), s, V::load(dy + j, r)).store(dx + j, r);
    }
  }
}

// log(sum_j exp(x_j)) of one row (torch.logsumexp over the last axis): the max, then the sum
// of exp(x - max) (each term <= 1). A row whose max is not finite has no shift: +inf where an
// element is +inf, -inf where all are -inf (or the row is empty), NaN where one is NaN, as
// torch. (row_max may pass over a NaN lane; its exp(NaN - m) then makes the sum NaN.)
template <class T>
T logsumexp_row(const T* x, int64_t c) {
  constexpr T inf = std::numeric_limits<T>::infinity();
  if (c == 0) return -inf;
  const T m = row_max(x, c);
  if (!std::isfinite(m)) {
    bool pos = false;
    for (int64_t j = 0; j < c; ++j) {
      if (std::isnan(x[j])) return x[j];
      pos = pos || x[j] == inf;
    }
    return pos ? inf : -inf;
  }
  return m + std::log(row_sum_exp<T>(x, nullptr, c, m));
}

// dx = g * exp(x - lse) of one row (lse its logsumexp: every x - lse <= 0 unless it is NaN).
template <class T>
void logsumexp_backward_row(T g, const T* x, T lse, T* dx, int64_t c) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V vg = V::set1(g), vl = V::set1(lse);
  for (int64_t j = 0; j < c; j += W) {
    const int r = c - j < W ? static_cast<int>(c - j) : W;
    (vg * vexp_upto88(V::load(x + j, r) - vl)).store(dx + j, r);
  }
}

// The same without lse: dx = g * softmax(x) = g * exp(x - m) / sum exp(x - m), m the row's max.
// Where lse is large, its rounding (an ulp of the max logit) shifts every exp(x - lse) by that
// much relative error (float32 logits of scale 1000: 6e-5 in a cross-entropy's gradient,
// torch's 8e-8); the max-shifted exponentials are exact to a few ulps at any scale.
template <class T>
void softmax_scaled_row(T g, const T* x, T* dx, int64_t c) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const T m = row_max(x, c);
  const V scale = V::set1(g / row_sum_exp(x, dx, c, m));
  for (int64_t j = 0; j < c; j += W) {
    const int r = c - j < W ? static_cast<int>(c - j) : W;
    (V::load(dx + j, r) * scale).store(dx + j, r);
  }
}

// Vector v of a block of `lanes` lanes from p: whole, partial (the rest 0) or none.
template <class T>
struct BlockLanes {
  using V = Vec<T>;
  static constexpr int W = V::width;
  int lanes;
  V load(const T* p, int v) const {
    const int r = lanes - v * W;
    return r >= W ? V::load(p + v * W) : V::load(p + v * W, r > 0 ? r : 0);
  }
  void store(V a, T* p, int v) const {
    const int r = lanes - v * W;
    if (r >= W)
      a.store(p + v * W);
    else if (r > 0)
      a.store(p + v * W, r);
  }
};

// acc[v] += the sum over rows k < c of f(k, part)'s terms: f adds row k's terms into part, which
// is folded into acc every kFoldRows rows, so that no float32 lane adds up more than
// kFoldRows + c / kFoldRows terms one after another (a running float32 sum of 2^25 ones stops
// at 2^24; numpy's pairwise sums do not). Up to kFoldRows rows: the plain running sum's bits.
template <class T, int NB, class F>
void fold_rows(int64_t c, Vec<T> (&acc)[NB], F&& f) {
  constexpr int64_t kFoldRows = 256;
  for (int64_t k0 = 0; k0 < c; k0 += kFoldRows) {
    Vec<T> part[NB];
    for (int v = 0; v < NB; ++v) part[v] = Vec<T>::zero();
    const int64_t k1 = std::min(c, k0 + kFoldRows);
    for (int64_t k = k0; k < k1; ++k) f(k, part);
    for (int v = 0; v < NB; ++v) acc[v] = k0 ? acc[v] + part[v] : part[v];
  }
}

// The first two passes over a block of c rows inner apart (softmax_block's layout): m = each
// lane's max, sum = the sum of exp(x - m) (folded: fold_rows), the exponentials stored into e
// when it is not null.
template <class T, int NB>
void block_max_sum_exp(const T* x, T* e, int64_t c, int64_t inner, const BlockLanes<T>& bl,
                       Vec<T> (&m)[NB], Vec<T> (&sum)[NB]) {
  using V = Vec<T>;
  for (int v = 0; v < NB; ++v) {
    m[v] = V::set1(-std::numeric_limits<T>::infinity());
    sum[v] = V::zero();
  }
  for (int64_t k = 0; k < c; ++k)
    for (int v = 0; v < NB; ++v) m[v] = max(bl.load(x + k * inner, v), m[v]);
  fold_rows(c, sum, [&](int64_t k, V(&part)[NB]) {
    for (int v = 0; v < NB; ++v) {
      const V ex = vexp_upto88(bl.load(x + k * inner, v) - m[v]);
      if (e) bl.store(ex, e + k * inner, v);
      part[v] = part[v] + ex;
    }
  });
}

// Softmax over an axis that is not the last: x as (outer, c, inner), the c values of a slice
// inner apart. A block of up to NB vectors of neighbouring slices (lanes along inner) goes
// through the three passes together, each pass reading the block's c rows at stride inner, so
// every load is a whole vector of contiguous values (torch's channels-first softmax; moving the
// axis last cost two transposes, 6 of 7.4 ms at (32, 64, 32, 32) over dim 1). lanes: how many
// of the block's NB * W lanes exist (the rest are neither read nor written).
template <class T, int NB>
void softmax_block(const T* x, T* y, int64_t c, int64_t inner, int lanes, bool log) {
  using V = Vec<T>;
  const BlockLanes<T> bl{lanes};
  V m[NB], sum[NB];
  block_max_sum_exp<T, NB>(x, log ? nullptr : y, c, inner, bl, m, sum);
  if (!log) {
    for (int v = 0; v < NB; ++v) sum[v] = V::set1(T(1)) / sum[v];
    for (int64_t k = 0; k < c; ++k)
      for (int v = 0; v < NB; ++v) bl.store(bl.load(y + k * inner, v) * sum[v], y + k * inner, v);
  } else {
    for (int v = 0; v < NB; ++v) sum[v] = m[v] + vlog(sum[v]);
    for (int64_t k = 0; k < c; ++k)
      for (int v = 0; v < NB; ++v) bl.store(bl.load(x + k * inner, v) - sum[v], y + k * inner, v);
  }
}

// The backward of softmax_block: softmax dx = y (dy - sum_k dy y), log-softmax
// dx = dy - exp(y) sum_k dy, over the c values of each slice.
template <class T, int NB>
void softmax_backward_block(const T* dy, const T* y, T* dx, int64_t c, int64_t inner, int lanes,
                            bool log) {
  using V = Vec<T>;
  const BlockLanes<T> bl{lanes};
  V acc[NB];
  for (int v = 0; v < NB; ++v) acc[v] = V::zero();
  fold_rows(c, acc, [&](int64_t k, V(&part)[NB]) {
    for (int v = 0; v < NB; ++v)
      part[v] = log ? part[v] + bl.load(dy + k * inner, v)
                    : fmadd(bl.load(dy + k * inner, v), bl.load(y + k * inner, v), part[v]);
  });
  for (int64_t k = 0; k < c; ++k)
    for (int v = 0; v < NB; ++v) {
      const int64_t o = k * inner;
      const V r = log ? fnmadd(vexp(bl.load(y + o, v)), acc[v], bl.load(dy + o, v))
                      : bl.load(y + o, v) * (bl.load(dy + o, v) - acc[v]);
      bl.store(r, dx + o, v);
    }
}

// Lanes [l0, min(l0 + width, lanes)) of a logsumexp block that came out NaN, redone by a scan
// of their column: NaN where one is NaN, else +inf where one is +inf, else -inf (all -inf), as
// logsumexp_row. (A finite max and no NaN never give NaN: then every term is in [0, 1] and one
// is 1.)
template <class T>
void logsumexp_fix_lanes(const T* x, T* out, int64_t c, int64_t inner, int l0, int lanes) {
  constexpr T inf = std::numeric_limits<T>::infinity();
  const int l1 = std::min(l0 + Vec<T>::width, lanes);
  for (int l = l0; l < l1; ++l) {
    if (!std::isnan(out[l])) continue;
    T r = -inf;
    for (int64_t k = 0; k < c && !std::isnan(r); ++k) {
      const T xk = x[k * inner + l];
      if (std::isnan(xk) || xk == inf) r = xk;
    }
    out[l] = r;
  }
}

// logsumexp over the middle axis of (outer, c, inner) for one block of softmax_block's layout:
// the max and the sum of exp(x - max) over the block's c rows, out the block's lanes of the
// (outer, inner) result. A lane whose max is not finite (or whose column holds a NaN) comes out
// NaN: logsumexp_fix_lanes then gives it logsumexp_row's answer.
template <class T, int NB>
void logsumexp_block(const T* x, T* out, int64_t c, int64_t inner, int lanes) {
  using V = Vec<T>;
  const BlockLanes<T> bl{lanes};
  V m[NB], sum[NB];
  block_max_sum_exp<T, NB>(x, nullptr, c, inner, bl, m, sum);
  for (int v = 0; v < NB; ++v) {
    const V r = m[v] + vlog(sum[v]);
    bl.store(r, out, v);
    if (any(is_nan(r))) logsumexp_fix_lanes(x, out, c, inner, v * V::width, lanes);
  }
}

// dx = g * exp(x - lse) over a block (g and lse: the block's lanes of (outer, inner)).
template <class T, int NB>
void logsumexp_backward_block(const T* g, const T* x, const T* lse, T* dx, int64_t c, int64_t inner,
                              int lanes) {
  using V = Vec<T>;
  const BlockLanes<T> bl{lanes};
  V vg[NB], vl[NB];
  for (int v = 0; v < NB; ++v) {
    vg[v] = bl.load(g, v);
    vl[v] = bl.load(lse, v);
  }
  for (int64_t k = 0; k < c; ++k)
    for (int v = 0; v < NB; ++v)
      bl.store(vg[v] * vexp_upto88(bl.load(x + k * inner, v) - vl[v]), dx + k * inner, v);
}

// dx = g * softmax(x) over a block, without lse (softmax_scaled_row's reason): softmax_block's
// two passes, then one scaling pass.
template <class T, int NB>
void softmax_scaled_block(const T* g, const T* x, T* dx, int64_t c, int64_t inner, int lanes) {
  using V = Vec<T>;
  const BlockLanes<T> bl{lanes};
  V m[NB], sum[NB];
  block_max_sum_exp<T, NB>(x, dx, c, inner, bl, m, sum);
  for (int v = 0; v < NB; ++v) sum[v] = bl.load(g, v) / sum[v];
  for (int64_t k = 0; k < c; ++k)
    for (int v = 0; v < NB; ++v) bl.store(bl.load(dx + k * inner, v) * sum[v], dx + k * inner, v);
}

// f(at, r, lanes, nb) over the blocks of nb vectors of lanes along inner (the last one
// partial) of every outer slice group, each thread a contiguous range of (outer, block) pairs:
// at is the block's offset in x (outer, c, inner), r its offset in an (outer, inner) result.
// nb = 4 where a slice group has 4 vectors of lanes or more, else 2 or 1: a short inner (8 at
// (64, 1000, 8)) would leave most of a 4-vector block empty, its masked loads and exps wasted.
template <class T, class F>
void over_inner_blocks(int64_t outer, int64_t c, int64_t inner, F&& f) {
  constexpr int W = Vec<T>::width;
  const int64_t vecs = (inner + W - 1) / W;
  const int nbv = vecs >= 4 ? 4 : vecs >= 2 ? 2 : 1;
  const int64_t bw = int64_t(nbv) * W, nb = (inner + bw - 1) / bw;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, c * bw));
  parallel_chunks(outer * nb, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t o = i / nb, j = (i % nb) * bw;
      f(o * c * inner + j, o * inner + j, static_cast<int>(std::min(bw, inner - j)), nbv);
    }
  });
}

// f(std::integral_constant<int, nb>) for nb = 4, 2 or 1: the block kernel of that width.
template <class F>
void with_block_width(int nb, F&& f) {
  if (nb == 4)
    f(std::integral_constant<int, 4>{});
  else if (nb == 2)
    f(std::integral_constant<int, 2>{});
  else
    f(std::integral_constant<int, 1>{});
}

// Rows per parallel chunk so that a chunk holds about kParallelGrain elements.
inline int64_t row_grain(int64_t cols) {
  const int64_t g = kParallelGrain / (cols > 0 ? cols : 1);
  return g > 0 ? g : 1;
}

// One row of the fused cross-entropy with c <= 2 * width classes (a classifier's head): the
// row stays in two registers from load to store. The general loop parks the exponentials in d,
// reads them back and then fixes d[t] with a scalar load, each right after a masked store to the
// same bytes, which the store buffer cannot forward (on this Sapphire Rapids ~100 ns a row at
// 10 classes). The operations and their order are the general loop's, so the bits are the same.
template <class T>
T xent_row_short(const T* xi, T* di, int64_t t, int c, T scale) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V ninf = V::set1(-std::numeric_limits<T>::infinity());
  const int r0 = c < W ? c : W, r1 = c - r0;  // lanes in the first and the second register
  const V x0 = V::load(xi, r0), x1 = r1 ? V::load(xi + W, r1) : V::zero();
  // row_max: max(m0, m1) of the general loop (m1 is -inf unless c == 2W, where the paired
  // loop fills it)
  V m0 = ninf, m1 = ninf;
  if (r1 == W) {
    m0 = max(x0, m0);
    m1 = max(x1, m1);
  } else {
    m0 = max(select(lanes_below<T>(r0), x0, ninf), m0);
    if (r1) m0 = max(select(lanes_below<T>(r1), x1, ninf), m0);
  }
  const T m = max(m0, m1).reduce_max();
  // row_sum_exp: (s0 + s1).reduce_add() with the same additions
  const V vm = V::set1(m);
  V e0, e1 = V::zero(), s0 = V::zero(), s1 = V::zero();
  if (r1 == W) {
    e0 = vexp_upto88(x0 - vm);
    e1 = vexp_upto88(x1 - vm);
    s0 = s0 + e0;
    s1 = s1 + e1;
  } else {
    e0 = select(lanes_below<T>(r0), vexp_upto88(x0 - vm), V::zero());
    s0 = s0 + e0;
    if (r1) {
      e1 = select(lanes_below<T>(r1), vexp_upto88(x1 - vm), V::zero());
      s0 = s0 + e1;
    }
  }
  const T s = (s0 + s1).reduce_add();
  const T loss = std::log(s) - (xi[t] - m);
  // d = e * (scale / s), then d[t] -= scale, in the register that holds lane t
  const V k = V::set1(scale / s), vs = V::set1(scale);
  V d0 = e0 * k, d1 = e1 * k;
  if (t < W) {
    const int lt = static_cast<int>(t);
    d0 = select(lanes_below<T>(lt + 1), select(lanes_below<T>(lt), d0, d0 - vs), d0);
  } else {
    const int lt = static_cast<int>(t - W);
    d1 = select(lanes_below<T>(lt + 1), select(lanes_below<T>(lt), d1, d1 - vs), d1);
  }
  d0.store(di, r0);
  if (r1) d1.store(di + W, r1);
  return loss;
}

template <class T>
double softmax_xent_t(const T* x, const int64_t* target, T* d, T* loss_rows, int64_t rows,
                      int64_t c, T scale) {
  using V = Vec<T>;
  constexpr int W = V::width;
  double total = 0.0;
  const int64_t grain = row_grain(c);
  const int64_t chunks = (rows + grain - 1) / grain;
  const int nt = rows * c > kParallelGrain ? num_threads() : 1;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : total) if (nt > 1)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t r1 = (ch + 1) * grain < rows ? (ch + 1) * grain : rows;
    if (c <= 2 * W) {
      for (int64_t i = ch * grain; i < r1; ++i) {
        const T loss = xent_row_short(x + i * c, d + i * c, target[i], static_cast<int>(c), scale);
        if (loss_rows) loss_rows[i] = loss;
        total += static_cast<double>(loss);
      }
      continue;
    }
    for (int64_t i = ch * grain; i < r1; ++i) {
      const T* xi = x + i * c;
      T* di = d + i * c;
      const T m = row_max(xi, c);
      const T s = row_sum_exp(xi, di, c, m);
      const int64_t t = target[i];
      const T loss = std::log(s) - (xi[t] - m);
      if (loss_rows) loss_rows[i] = loss;
      total += static_cast<double>(loss);
      const V k = V::set1(scale / s);
      for (int64_t j = 0; j < c; j += W) {
        const int r = c - j < W ? static_cast<int>(c - j) : W;
        (V::load(di + j, r) * k).store(di + j, r);
      }
      di[t] -= scale;
    }
  }
  return total;
}

}  // namespace

#define DG_SOFTMAX_DEFS(T)                                                                       \
  void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {                 \
    parallel_chunks(rows, row_grain(cols), [&](int64_t b, int64_t e) {                           \
      for (int64_t i = b; i < e; ++i) softmax_row(x + i * cols, y + i * cols, cols, log);        \
    });                                                                                          \
  }                                                                                              \
  void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {  \
    parallel_chunks(rows, row_grain(cols), [&](int64_t b, int64_t e) {                           \
      for (int64_t i = b; i < e; ++i)                                                            \
        softmax_backward_row(dy + i * cols, y + i * cols, dx + i * cols, cols, log);             \
    });                                                                                          \
  }                                                                                              \
  void softmax_forward_inner(const T* x, T* y, int64_t outer, int64_t c, int64_t inner,          \
                             bool log) {                                                         \
    over_inner_blocks<T>(outer, c, inner, [&](int64_t at, int64_t /*r*/, int lanes, int nb) {    \
      with_block_width(nb, [&](auto k) {                                                         \
        softmax_block<T, decltype(k)::value>(x + at, y + at, c, inner, lanes, log);              \
      });                                                                                        \
    });                                                                                          \
  }                                                                                              \
  void softmax_backward_inner(const T* dy, const T* y, T* dx, int64_t outer, int64_t c,          \
                              int64_t inner, bool log) {                                         \
    over_inner_blocks<T>(outer, c, inner, [&](int64_t at, int64_t /*r*/, int lanes, int nb) {    \
      with_block_width(nb, [&](auto k) {                                                         \
        softmax_backward_block<T, decltype(k)::value>(dy + at, y + at, dx + at, c, inner, lanes, \
                                                      log);                                      \
      });                                                                                        \
    });                                                                                          \
  }                                                                                              \
  double softmax_cross_entropy(const T* logits, const int64_t* target, T* dlogits, T* loss_rows, \
                               int64_t rows, int64_t cols, T scale) {                            \
    return softmax_xent_t(logits, target, dlogits, loss_rows, rows, cols, scale);                \
  }                                                                                              \
  void logsumexp_forward(const T* x, T* out, int64_t outer, int64_t c, int64_t inner,            \
                         const int64_t* target, T* picked) {                                     \
    if (inner == 1) {                                                                            \
      parallel_chunks(outer, row_grain(c), [&](int64_t b, int64_t e) {                           \
        for (int64_t i = b; i < e; ++i) {                                                        \
          out[i] = logsumexp_row(x + i * c, c);                                                  \
          if (target) picked[i] = x[i * c + target[i]];                                          \
        }                                                                                        \
      });                                                                                        \
      return;                                                                                    \
    }                                                                                            \
    over_inner_blocks<T>(outer, c, inner, [&](int64_t at, int64_t r, int lanes, int nb) {        \
      with_block_width(nb, [&](auto k) {                                                         \
        logsumexp_block<T, decltype(k)::value>(x + at, out + r, c, inner, lanes);                \
      });                                                                                        \
      if (target) /* the block's lanes are in cache: one scalar read each */                     \
        for (int l = 0; l < lanes; ++l) picked[r + l] = x[at + target[r + l] * inner + l];       \
    });                                                                                          \
  }                                                                                              \
  void logsumexp_backward(const T* g, const T* x, const T* lse, T* dx, int64_t outer, int64_t c, \
                          int64_t inner, const int64_t* target, const T* g_target) {             \
    if (inner == 1) {                                                                            \
      parallel_chunks(outer, row_grain(c), [&](int64_t b, int64_t e) {                           \
        for (int64_t i = b; i < e; ++i) {                                                        \
          if (lse)                                                                               \
            logsumexp_backward_row(g[i], x + i * c, lse[i], dx + i * c, c);                      \
          else                                                                                   \
            softmax_scaled_row(g[i], x + i * c, dx + i * c, c);                                  \
          if (target) dx[i * c + target[i]] -= g_target[i];                                      \
        }                                                                                        \
      });                                                                                        \
      return;                                                                                    \
    }                                                                                            \
    over_inner_blocks<T>(outer, c, inner, [&](int64_t at, int64_t r, int lanes, int nb) {        \
      with_block_width(nb, [&](auto k) {                                                         \
        constexpr int NB = decltype(k)::value;                                                   \
        if (lse)                                                                                 \
          logsumexp_backward_block<T, NB>(g + r, x + at, lse + r, dx + at, c, inner, lanes);     \
        else                                                                                     \
          softmax_scaled_block<T, NB>(g + r, x + at, dx + at, c, inner, lanes);                  \
      });                                                                                        \
      if (target)                                                                                \
        for (int l = 0; l < lanes; ++l) dx[at + target[r + l] * inner + l] -= g_target[r + l];   \
    });                                                                                          \
  }
DG_SOFTMAX_DEFS(float)
DG_SOFTMAX_DEFS(double)
#undef DG_SOFTMAX_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
