// 3-D pooling over N*C volumes of (D, H, W): max (with torch's flat indices into each volume)
// and average (count_include_pad, divisor_override), forward and backward, float and double.
//
// Forward: the work is split over (volume, output depth, output row) units (parallel_chunks);
// each unit writes one output row. Its windows are walked in (d, h, w) order; vectorized along
// the output width where the stride is 1 (any dilation: every window row is a contiguous load)
// or 2 with dilation 1 (deinterleaving loads), gathered (Vec::gather, whole vectors) for other
// strides; the border columns (windows reaching into the padding) scalar.
// Max pooling follows torch's CPU kernel exactly: an element replaces the running maximum when
// it is greater or NaN (so a NaN wins, the last NaN's index is returned, and among equal maxima
// the first), starting from -inf with the index of the window's first tap inside the input (a
// window with no tap inside keeps -inf and that index, as torch).
//
// Backward: when the depth windows do not overlap (stride >= the dilated kernel depth, the
// common case), a unit is a (volume, output depth) slab that owns the input depth slices from
// its window's front to the next window's front: it zeroes them and scatters its gradients into
// them while they are in cache; otherwise a unit is a whole volume. Within a unit the outputs
// are visited in order, and nothing accumulates across units: the result does not depend on the
// schedule or the thread count. The max backward skips (and counts) an index outside its
// window's depth slices, and skips the windows that lie in the padding along some axis (their
// index is torch's start position, not an input element: no gradient, as before these kernels).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// The first tap i0 + j * d (j >= 0) that is >= 0: one step, not a loop over the padding's taps.
inline int64_t p3_first_inside(int64_t i0, int64_t d) {
  return i0 < 0 ? i0 + (-i0 + d - 1) / d * d : i0;
}

inline int64_t p3_grain(int64_t work_per_unit) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, work_per_unit));
}

template <class T>
inline Vec<T> p3_iota() {
  alignas(64) static const T lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return Vec<T>::load(lanes);
}

// Column kj of a window row for the n lanes starting at output o: row[s * l + kj] for l < n
// (s = 1: a plain load; s = 2: deinterleaved).
template <class T>
inline Vec<T> p3_column(const T* row, int64_t s, int64_t kj, int n) {
  constexpr int w = Vec<T>::width;
  if (s == 1) return load_n(row + kj, n);
  const T* p = row + (kj & ~int64_t(1));
  const int count = 2 * n - 1 + static_cast<int>(kj & 1);  // the elements lane n-1 needs
  const Vec<T> a = load_n(p, count < w ? count : w);
  const Vec<T> b = count > w ? load_n(p + w, count - w) : Vec<T>::zero();
  Vec<T> even, odd;
  Vec<T>::deinterleave(a, b, even, odd);
  return (kj & 1) ? odd : even;
}

// Columns kj and kj + 1 of a stride-2 window row (dilation 1) from one deinterleave.
template <class T>
inline void p3_column_pair(const T* row, int64_t kj, int n, Vec<T>& c0, Vec<T>& c1) {
  constexpr int w = Vec<T>::width;
  const T* p = row + kj;
  const int count = 2 * n;
  const Vec<T> a = load_n(p, count < w ? count : w);
  const Vec<T> b = count > w ? load_n(p + w, count - w) : Vec<T>::zero();
  Vec<T>::deinterleave(a, b, c0, c1);
}

// n lanes of integer-valued v as int64 at p.
template <class T>
inline void p3_store_index(Vec<T> v, int64_t* p, int n) {
  alignas(64) T tmp[16];
  v.store(tmp);
  for (int l = 0; l < n; ++l) p[l] = static_cast<int64_t>(tmp[l]);
}

// The output columns [lo, hi) whose windows (span wide, dilation included) lie inside [0, w).
inline void p3_interior(const Pool3dGeom& g, int64_t span, int64_t* lo, int64_t* hi) {
  *lo = std::min((g.pw + g.sw - 1) / g.sw, g.ow);
  const int64_t room = g.w + g.pw - span;  // the last window start that fits
  *hi = room < 0 ? *lo : std::max(*lo, std::min(g.ow, room / g.sw + 1));
}

inline bool p3_vector_ok(const Pool3dGeom& g) {
  return Vec<float>::width > 1 && (g.sw == 1 || (g.sw == 2 && g.dw == 1));
}
// Vec::gather's int32 lane offsets: stride * width < 2^31.
inline bool p3_gather_ok(const Pool3dGeom& g) {
  return Vec<float>::width > 1 && g.sw < (int64_t(1) << 24);
}

// The taps [a0, a1) (step d) of the window starting at `start` along an axis of n.
struct P3Range {
  int64_t a0, a1;
};
inline P3Range p3_taps(int64_t start, int64_t k, int64_t d, int64_t n) {
  return {p3_first_inside(start, d), std::min(start + (k - 1) * d + 1, n)};
}

// ---- max pooling, forward: output row (od, oh) of one volume
template <class T, bool kIdx>
void p3_max_row(const T* xp, T* yp, int64_t* ip, const Pool3dGeom& g, int64_t od, int64_t oh) {
  using V = Vec<T>;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  const int64_t H = g.h, W = g.w;
  const P3Range z = p3_taps(od * g.sd - g.pd, g.kd, g.dd, g.d);
  const P3Range r = p3_taps(oh * g.sh - g.ph, g.kh, g.dh, g.h);
  const int64_t span = (g.kw - 1) * g.dw + 1;
  const int64_t base0 = (z.a0 * H + r.a0) * W;  // the index of the first tap's row
  auto scalar = [&](int64_t ow) {
    const int64_t left = ow * g.sw - g.pw;
    const int64_t iw0 = p3_first_inside(left, g.dw);
    const int64_t iw1 = std::min(left + span, W);
    T m = ninf;
    int64_t mi = base0 + iw0;
    for (int64_t iz = z.a0; iz < z.a1; iz += g.dd)
      for (int64_t ih = r.a0; ih < r.a1; ih += g.dh) {
        const int64_t rb = (iz * H + ih) * W;
        for (int64_t iw = iw0; iw < iw1; iw += g.dw) {
          const T v = xp[rb + iw];
          if (v > m || v != v) {
            m = v;
            mi = rb + iw;
          }
        }
      }
    yp[ow] = m;
    if (kIdx) ip[ow] = mi;
  };
  int64_t lo = g.ow, hi = g.ow;  // the vectorized columns
  // (indices ride in T lanes: exact below 2^24 for float)
  const bool idx_exact = !kIdx || sizeof(T) == 8 || g.d * H * W <= (int64_t(1) << 24);
  // other strides (or stride 2 with dilation): gathered columns, whole vectors only (a gather
  // reads every lane), the rest scalar
  const bool gather = !p3_vector_ok(g);
  if ((!gather || p3_gather_ok(g)) && idx_exact && z.a0 < z.a1 && r.a0 < r.a1) {
    p3_interior(g, span, &lo, &hi);
    if (gather) hi = lo + (hi - lo) / V::width * V::width;
  }
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  const int64_t s = g.sw;
  const V lane = p3_iota<T>() * V::set1(T(s));
  for (int64_t o = lo; o < hi; o += V::width) {
    const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
    const int64_t c0 = o * s - g.pw;
    V m = V::set1(ninf), mi = V::set1(T(base0 + c0)) + lane;
    for (int64_t iz = z.a0; iz < z.a1; iz += g.dd)
      for (int64_t ih = r.a0; ih < r.a1; ih += g.dh) {
        const int64_t rb = (iz * H + ih) * W + c0;
        const T* row = xp + rb;
        auto step = [&](V v, int64_t col) {
          const auto t = (v > m) | is_nan(v);
          m = select(t, v, m);
          if (kIdx) mi = select(t, V::set1(T(rb + col)) + lane, mi);
        };
        if (gather) {
          for (int64_t kj = 0; kj < g.kw; ++kj) step(V::gather(row + kj * g.dw, s), kj * g.dw);
        } else if (s == 2) {  // dilation 1: columns in pairs from one deinterleave
          int64_t kj = 0;
          for (; kj + 1 < g.kw; kj += 2) {
            V a, b;
            p3_column_pair(row, kj, n, a, b);
            step(a, kj);
            step(b, kj + 1);
          }
          if (kj < g.kw) step(p3_column(row, s, kj, n), kj);
        } else {
          for (int64_t kj = 0; kj < g.kw; ++kj) step(p3_column(row, s, kj * g.dw, n), kj * g.dw);
        }
      }
    store_n(m, yp + o, n);
    if (kIdx) p3_store_index(mi, ip + o, n);
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

template <class T>
void p3_max_forward(const T* x, T* y, int64_t* idx, const Pool3dGeom& g) {
  const int64_t rows = g.od * g.oh, vol = g.d * g.h * g.w, orow = g.ow;
  const int64_t work = g.ow * g.kd * g.kh * g.kw;
  parallel_chunks(g.planes * rows, p3_grain(work), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / rows, r = i % rows;
      const int64_t od = r / g.oh, oh = r % g.oh;
      const T* xp = x + p * vol;
      T* yp = y + i * orow;
      if (idx)
        p3_max_row<T, true>(xp, yp, idx + i * orow, g, od, oh);
      else
        p3_max_row<T, false>(xp, yp, nullptr, g, od, oh);
    }
  });
}

// ---- backward units: (volume, output depth) slabs owning their depth slices, or volumes
inline bool p3_slabs(const Pool3dGeom& g, int64_t kd_span) { return g.sd >= kd_span; }

// The input depth slices [r0, r1) that output depth od owns (non-overlapping depth windows).
inline void p3_owned(const Pool3dGeom& g, int64_t od, int64_t* r0, int64_t* r1) {
  *r0 = od == 0 ? 0 : std::clamp<int64_t>(od * g.sd - g.pd, 0, g.d);
  *r1 = od == g.od - 1 ? g.d : std::clamp<int64_t>((od + 1) * g.sd - g.pd, 0, g.d);
}

// slab(p, od, dxp) for every output depth of every volume, dxp the volume's gradient, with the
// slices each call writes zeroed first; returns the sum of what the calls return.
template <class T, class SlabFn>
int64_t p3_run_backward(T* dx, const Pool3dGeom& g, int64_t kd_span, int64_t work_per_od,
                        SlabFn&& slab) {
  const int64_t hw = g.h * g.w, vol = g.d * hw;
  std::atomic<int64_t> bad{0};
  if (g.od == 0 || g.oh == 0 || g.ow == 0) {
    parallel_chunks(g.planes * vol, kParallelGrain,
                    [&](int64_t b, int64_t e) { std::fill(dx + b, dx + e, T(0)); });
    return 0;
  }
  if (p3_slabs(g, kd_span)) {
    parallel_chunks(g.planes * g.od, p3_grain(g.sd * hw + work_per_od), [&](int64_t b, int64_t e) {
      int64_t n = 0;
      for (int64_t i = b; i < e; ++i) {
        const int64_t p = i / g.od, od = i % g.od;
        int64_t r0, r1;
        p3_owned(g, od, &r0, &r1);
        T* dxp = dx + p * vol;
        std::fill(dxp + r0 * hw, dxp + r1 * hw, T(0));
        n += slab(p, od, dxp);
      }
      if (n) bad.fetch_add(n, std::memory_order_relaxed);
    });
  } else {
    parallel_chunks(g.planes, p3_grain(vol + g.od * work_per_od), [&](int64_t b, int64_t e) {
      int64_t n = 0;
      for (int64_t p = b; p < e; ++p) {
        T* dxp = dx + p * vol;
        std::fill(dxp, dxp + vol, T(0));
        for (int64_t od = 0; od < g.od; ++od) n += slab(p, od, dxp);
      }
      if (n) bad.fetch_add(n, std::memory_order_relaxed);
    });
  }
  return bad.load();
}

// Whether each output column's window has a tap inside [0, w).
inline std::vector<uint8_t> p3_live_columns(const Pool3dGeom& g, int64_t span) {
  std::vector<uint8_t> live(static_cast<size_t>(g.ow));
  for (int64_t ow = 0; ow < g.ow; ++ow) {
    const int64_t left = ow * g.sw - g.pw;
    live[ow] = p3_first_inside(left, g.dw) < std::min(left + span, g.w);
  }
  return live;
}

template <class T>
int64_t p3_max_backward(const T* dy, const int64_t* idx, T* dx, const Pool3dGeom& g) {
  const int64_t hw = g.h * g.w;
  const int64_t kd_span = (g.kd - 1) * g.dd + 1;
  const std::vector<uint8_t> live = p3_live_columns(g, (g.kw - 1) * g.dw + 1);
  const uint8_t* lv = live.data();
  return p3_run_backward(dx, g, kd_span, g.oh * g.ow, [&](int64_t p, int64_t od, T* dxp) {
    const P3Range z = p3_taps(od * g.sd - g.pd, g.kd, g.dd, g.d);
    if (z.a0 >= z.a1) return int64_t(0);  // all in the padding: no gradient
    const uint64_t lo = static_cast<uint64_t>(z.a0 * hw);
    const uint64_t len = static_cast<uint64_t>((z.a1 - z.a0) * hw);
    int64_t bad = 0;
    const int64_t first = (p * g.od + od) * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const P3Range r = p3_taps(oh * g.sh - g.ph, g.kh, g.dh, g.h);
      if (r.a0 >= r.a1) continue;
      const T* gy = dy + first + oh * g.ow;
      const int64_t* ix = idx + first + oh * g.ow;
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        if (!lv[ow]) continue;
        const int64_t v = ix[ow];
        if (static_cast<uint64_t>(v) - lo < len)
          dxp[v] += gy[ow];
        else
          ++bad;
      }
    }
    return bad;
  });
}

// ---- average pooling, forward: output row (od, oh) of one volume
template <class T>
void p3_avg_row(const T* xp, T* yp, const Pool3dGeom& g, int64_t od, int64_t oh, bool include_pad,
                int64_t divisor) {
  using V = Vec<T>;
  const int64_t H = g.h, W = g.w;
  int64_t z0 = od * g.sd - g.pd, z1 = std::min(z0 + g.kd, g.d + g.pd);
  int64_t h0 = oh * g.sh - g.ph, h1 = std::min(h0 + g.kh, g.h + g.ph);
  const int64_t pool_dh = (z1 - z0) * (h1 - h0);
  z0 = std::max<int64_t>(z0, 0);
  z1 = std::min(z1, g.d);
  h0 = std::max<int64_t>(h0, 0);
  h1 = std::min(h1, g.h);
  const int64_t in_dh = (z1 - z0) * (h1 - h0);
  auto scalar = [&](int64_t ow) {
    int64_t w0 = ow * g.sw - g.pw;
    int64_t w1 = std::min(w0 + g.kw, W + g.pw);
    const int64_t pool = pool_dh * (w1 - w0);
    w0 = std::max<int64_t>(w0, 0);
    w1 = std::min(w1, W);
    if (z0 >= z1 || h0 >= h1 || w0 >= w1) {
      yp[ow] = T(0);
      return;
    }
    T s = T(0);
    for (int64_t iz = z0; iz < z1; ++iz)
      for (int64_t ih = h0; ih < h1; ++ih) {
        const T* row = xp + (iz * H + ih) * W;
        for (int64_t iw = w0; iw < w1; ++iw) s += row[iw];
      }
    const int64_t div = divisor ? divisor : include_pad ? pool : in_dh * (w1 - w0);
    yp[ow] = s / T(div);
  };
  int64_t lo = g.ow, hi = g.ow;
  const bool gather = !p3_vector_ok(g);  // strides >= 3: whole gathered vectors, as max's
  if ((!gather || p3_gather_ok(g)) && z0 < z1 && h0 < h1) {
    p3_interior(g, g.kw, &lo, &hi);
    if (gather) hi = lo + (hi - lo) / V::width * V::width;
  }
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (lo < hi) {
    const int64_t div = divisor ? divisor : include_pad ? pool_dh * g.kw : in_dh * g.kw;
    const V vdiv = V::set1(T(div));
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      V s = V::zero();
      for (int64_t iz = z0; iz < z1; ++iz)
        for (int64_t ih = h0; ih < h1; ++ih) {
          const T* row = xp + (iz * H + ih) * W + o * g.sw - g.pw;
          if (gather) {
            for (int64_t kj = 0; kj < g.kw; ++kj) s = s + V::gather(row + kj, g.sw);
          } else if (g.sw == 2) {
            int64_t kj = 0;
            for (; kj + 1 < g.kw; kj += 2) {
              V a, b;
              p3_column_pair(row, kj, n, a, b);
              s = s + a;
              s = s + b;
            }
            if (kj < g.kw) s = s + p3_column(row, 2, kj, n);
          } else {
            for (int64_t kj = 0; kj < g.kw; ++kj) s = s + load_n(row + kj, n);
          }
        }
      store_n(s / vdiv, yp + o, n);
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

template <class T>
void p3_avg_forward(const T* x, T* y, const Pool3dGeom& g, bool include_pad, int64_t divisor) {
  const int64_t rows = g.od * g.oh, vol = g.d * g.h * g.w;
  parallel_chunks(g.planes * rows, p3_grain(g.ow * g.kd * g.kh * g.kw), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / rows, r = i % rows;
      p3_avg_row(x + p * vol, y + i * g.ow, g, r / g.oh, r % g.oh, include_pad, divisor);
    }
  });
}

// ---- average pooling, backward: each output's gradient / divisor added over its window
// The interior columns [lo, hi) of one output row (whole windows along w, divisor div) added
// into the input rows [h0, h1) of the depth slices [z0, z1): a vector of outputs at a time, each
// window column kj one load-add-store (stride 1), or a pair of them from one interleave
// (stride 2).
template <class T>
void p3_avg_bwd_cols(const T* gy, T* dxp, const Pool3dGeom& g, int64_t z0, int64_t z1, int64_t h0,
                     int64_t h1, int64_t lo, int64_t hi, int64_t div) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t H = g.h, W = g.w;
  const V vdiv = V::set1(T(div));
  for (int64_t o = lo; o < hi; o += w) {
    const int n = static_cast<int>(std::min<int64_t>(w, hi - o));
    const V d = load_n(gy + o, n) / vdiv;
    if (g.sw == 1) {
      for (int64_t iz = z0; iz < z1; ++iz)
        for (int64_t ih = h0; ih < h1; ++ih) {
          T* row = dxp + (iz * H + ih) * W + o - g.pw;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            store_n(load_n(row + kj, n) + d, row + kj, n);
            asm volatile("" ::: "memory");  // the next column reads it (see below)
          }
        }
      continue;
    }
    V pair_lo, pair_hi, even_lo, even_hi;  // columns kj, kj + 1 of a pair; an even one alone
    V::interleave(d, d, pair_lo, pair_hi);
    V::interleave(d, V::zero(), even_lo, even_hi);
    const int pa = std::min(2 * n, w), pb = 2 * n - pa;
    const int ea = std::min(2 * n - 1, w), eb = 2 * n - 1 - ea;
    for (int64_t iz = z0; iz < z1; ++iz)
      for (int64_t ih = h0; ih < h1; ++ih) {
        T* row = dxp + (iz * H + ih) * W + 2 * o - g.pw;
        int64_t kj = 0;
        for (; kj + 1 < g.kw; kj += 2) {
          T* p = row + kj;
          store_n(load_n(p, pa) + pair_lo, p, pa);
          if (pb > 0) store_n(load_n(p + w, pb) + pair_hi, p + w, pb);
          // the next pair reads what this one wrote. Without this compiler barrier GCC 12.2 at
          // -O3 let that load read p[2..5] before these stores (AVX2 float64, kw >= 4: dx lost
          // a pair's sums; -O1 was right); tests/test_pool3d_r45.py checks every ISA
          asm volatile("" ::: "memory");
        }
        if (kj < g.kw) {
          T* p = row + kj;
          store_n(load_n(p, ea) + even_lo, p, ea);
          if (eb > 0) store_n(load_n(p + w, eb) + even_hi, p + w, eb);
        }
      }
  }
}

template <class T>
void p3_avg_backward(const T* dy, T* dx, const Pool3dGeom& g, bool include_pad, int64_t divisor) {
  const int64_t H = g.h, W = g.w;
  int64_t lo = g.ow, hi = g.ow;  // the vectorized columns (whole windows along w)
  if (p3_vector_ok(g)) p3_interior(g, g.kw, &lo, &hi);
  p3_run_backward(dx, g, g.kd, g.oh * g.ow * g.kh * g.kw, [&](int64_t p, int64_t od, T* dxp) {
    int64_t z0 = od * g.sd - g.pd, z1 = std::min(z0 + g.kd, g.d + g.pd);
    const int64_t pool_d = z1 - z0;
    z0 = std::max<int64_t>(z0, 0);
    z1 = std::min(z1, g.d);
    if (z0 >= z1) return int64_t(0);
    const T* gd = dy + (p * g.od + od) * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      int64_t h0 = oh * g.sh - g.ph, h1 = std::min(h0 + g.kh, g.h + g.ph);
      const int64_t pool_dh = pool_d * (h1 - h0);
      h0 = std::max<int64_t>(h0, 0);
      h1 = std::min(h1, g.h);
      if (h0 >= h1) continue;
      const int64_t in_dh = (z1 - z0) * (h1 - h0);
      const T* gy = gd + oh * g.ow;
      auto scalar = [&](int64_t ow) {
        int64_t w0 = ow * g.sw - g.pw, w1 = std::min(w0 + g.kw, W + g.pw);
        const int64_t pool = pool_dh * (w1 - w0);
        w0 = std::max<int64_t>(w0, 0);
        w1 = std::min(w1, W);
        if (w0 >= w1) return;
        const int64_t div = divisor ? divisor : include_pad ? pool : in_dh * (w1 - w0);
        const T d = gy[ow] / T(div);
        for (int64_t iz = z0; iz < z1; ++iz)
          for (int64_t ih = h0; ih < h1; ++ih) {
            T* row = dxp + (iz * H + ih) * W;
            for (int64_t iw = w0; iw < w1; ++iw) row[iw] += d;
          }
      };
      for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
      if (lo < hi) {
        const int64_t div = divisor ? divisor : include_pad ? pool_dh * g.kw : in_dh * g.kw;
        p3_avg_bwd_cols(gy, dxp, g, z0, z1, h0, h1, lo, hi, div);
      }
      for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
    }
    return int64_t(0);
  });
}

}  // namespace

#define DG_POOL3D_DEFS(T)                                                                        \
  void max_pool3d_forward(const T* x, T* y, int64_t* idx, const Pool3dGeom& g) {                 \
    p3_max_forward(x, y, idx, g);                                                                \
  }                                                                                              \
  int64_t max_pool3d_backward(const T* dy, const int64_t* idx, T* dx, const Pool3dGeom& g) {     \
    return p3_max_backward(dy, idx, dx, g);                                                      \
  }                                                                                              \
  void avg_pool3d_forward(const T* x, T* y, const Pool3dGeom& g, bool pad, int64_t divisor) {    \
    p3_avg_forward(x, y, g, pad, divisor);                                                       \
  }                                                                                              \
  void avg_pool3d_backward(const T* dy, T* dx, const Pool3dGeom& g, bool pad, int64_t divisor) { \
    p3_avg_backward(dy, dx, g, pad, divisor);                                                    \
  }
DG_POOL3D_DEFS(float)
DG_POOL3D_DEFS(double)
#undef DG_POOL3D_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
