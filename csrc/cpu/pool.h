// 2-D pooling over NCHW planes: max (with torch's flat indices), average (count_include_pad,
// divisor_override) and adaptive average, forward and backward, float and double.
//
// Work is split over (plane, output row) units (parallel_chunks), so a single large plane uses
// every thread too. Forward: each unit writes one output row. Backward: when the windows of
// consecutive output rows do not overlap (stride >= effective kernel height, the common case),
// each unit owns the input rows from its window's top to the next window's top: it zeroes them
// and scatters its gradients into them, while they are still in cache; otherwise a unit is a
// whole plane. Nothing accumulates across units, so results do not depend on the schedule.
//
// Vector paths: along the output width where the stride is 1 (every window row is a contiguous
// load), and the 2x2 stride-2 windows (the most common pooling layer) with deinterleaving loads.
// Max pooling follows torch's CPU kernel exactly: the window is walked row by row, an element
// replaces the running maximum when it is greater or NaN (so a NaN wins, the last NaN's index
// is returned, and among equal maxima the first), starting from -inf with the index of the
// window's first element.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/kernel_common.h"
#include "cpu/pool_geom.h"

namespace dg {
namespace DG_ISA_NS {
namespace pool_detail {

template <class T>
inline bool take(T v, T m) {
  return v > m || v != v;
}

// Chunk size in units so that a chunk is about kParallelGrain elements of work.
inline int64_t unit_grain(int64_t work_per_unit) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, work_per_unit));
}

template <class T>
inline Vec<T> iota() {
  alignas(64) static const T lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return Vec<T>::load(lanes);
}

template <class T>
inline Vec<T> load_n(const T* p, int n) {
  return n == Vec<T>::width ? Vec<T>::load(p) : Vec<T>::load(p, n);
}
template <class T>
inline void store_n(Vec<T> v, T* p, int n) {
  if (n == Vec<T>::width)
    v.store(p);
  else
    v.store(p, n);
}

// The output columns [lo, hi) whose windows lie inside [0, w) (stride 1, dilation dw).
inline void interior_s1(const Pool2dGeom& g, int64_t span, int64_t* lo, int64_t* hi) {
  *lo = std::min(g.pw, g.ow);
  *hi = std::max(*lo, std::min(g.ow, g.w + g.pw - span + 1));
}

// ---- max pooling, forward: output row oh of one plane
template <class T>
void max_row(const T* xp, T* yp, int64_t* ip, const Pool2dGeom& g, int64_t oh) {
  using V = Vec<T>;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  const int64_t W = g.w;
  int64_t ih0 = oh * g.sh - g.ph;
  const int64_t ih1 = std::min(ih0 + (g.kh - 1) * g.dh + 1, g.h);
  while (ih0 < 0) ih0 += g.dh;
  const int64_t span = (g.kw - 1) * g.dw + 1;
  auto scalar = [&](int64_t ow) {
    int64_t iw0 = ow * g.sw - g.pw;
    const int64_t iw1 = std::min(iw0 + span, W);
    while (iw0 < 0) iw0 += g.dw;
    T m = ninf;
    int64_t mi = ih0 * W + iw0;
    for (int64_t ih = ih0; ih < ih1; ih += g.dh)
      for (int64_t iw = iw0; iw < iw1; iw += g.dw) {
        const T v = xp[ih * W + iw];
        if (take(v, m)) {
          m = v;
          mi = ih * W + iw;
        }
      }
    yp[ow] = m;
    if (ip) ip[ow] = mi;
  };
  int64_t lo = g.ow, hi = g.ow;  // the vectorized columns
  // (indices ride in T lanes: exact below 2^24 for float)
  const bool idx_exact = sizeof(T) == 8 || g.h * W <= (int64_t(1) << 24);
  if (V::width > 1 && idx_exact && ih0 < ih1) {
    if (g.sw == 1) interior_s1(g, span, &lo, &hi);
  }
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (g.sw == 1) {
    const V lane = iota<T>();
    alignas(64) T tmp[16];
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      const int64_t c0 = o - g.pw;
      V m = V::set1(ninf), mi = V::set1(T(ih0 * W + c0)) + lane;
      for (int64_t ih = ih0; ih < ih1; ih += g.dh) {
        const T* row = xp + ih * W + c0;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const V v = load_n(row + kj * g.dw, n);
          const auto t = (v > m) | is_nan(v);
          m = select(t, v, m);
          if (ip) mi = select(t, V::set1(T(ih * W + c0 + kj * g.dw)) + lane, mi);
        }
      }
      store_n(m, yp + o, n);
      if (ip) {
        mi.store(tmp);
        for (int l = 0; l < n; ++l) ip[o + l] = static_cast<int64_t>(tmp[l]);
      }
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

// ---- average pooling, forward
template <class T>
void avg_row(const T* xp, T* yp, const Pool2dGeom& g, int64_t oh, bool include_pad,
             int64_t divisor) {
  using V = Vec<T>;
  const int64_t W = g.w;
  int64_t ih0 = oh * g.sh - g.ph;
  int64_t ih1 = std::min(ih0 + g.kh, g.h + g.ph);
  const int64_t hpool = ih1 - ih0;
  ih0 = std::max<int64_t>(ih0, 0);
  ih1 = std::min(ih1, g.h);
  auto scalar = [&](int64_t ow) {
    int64_t iw0 = ow * g.sw - g.pw;
    int64_t iw1 = std::min(iw0 + g.kw, W + g.pw);
    const int64_t pool = hpool * (iw1 - iw0);
    iw0 = std::max<int64_t>(iw0, 0);
    iw1 = std::min(iw1, W);
    if (ih0 >= ih1 || iw0 >= iw1) {
      yp[ow] = T(0);
      return;
    }
    T s = T(0);
    for (int64_t ih = ih0; ih < ih1; ++ih)
      for (int64_t iw = iw0; iw < iw1; ++iw) s += xp[ih * W + iw];
    const int64_t div = divisor ? divisor : include_pad ? pool : (ih1 - ih0) * (iw1 - iw0);
    yp[ow] = s / T(div);
  };
  int64_t lo = g.ow, hi = g.ow;
  if (V::width > 1 && g.sw == 1 && ih0 < ih1) interior_s1(g, g.kw, &lo, &hi);
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (lo < hi) {
    const int64_t div = divisor ? divisor : include_pad ? hpool * g.kw : (ih1 - ih0) * g.kw;
    const V vdiv = V::set1(T(div));
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      V s = V::zero();
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        const T* row = xp + ih * W + o - g.pw;
        for (int64_t kj = 0; kj < g.kw; ++kj) s = s + load_n(row + kj, n);
      }
      store_n(s / vdiv, yp + o, n);
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

// ---- backward: the units and the rows each one owns
struct BwdUnits {
  bool rows;  // one unit per (plane, output row); else one per plane
  int64_t count;
};

inline BwdUnits bwd_units(const Pool2dGeom& g, int64_t kh_span) {
  const bool rows = g.sh >= kh_span && g.oh > 0;
  return {rows, rows ? g.planes * g.oh : g.planes};
}

// The input rows [r0, r1) that output row oh owns (non-overlapping windows).
inline void owned_rows(const Pool2dGeom& g, int64_t oh, int64_t* r0, int64_t* r1) {
  *r0 = oh == 0 ? 0 : std::clamp<int64_t>(oh * g.sh - g.ph, 0, g.h);
  *r1 = oh == g.oh - 1 ? g.h : std::clamp<int64_t>((oh + 1) * g.sh - g.ph, 0, g.h);
}

template <class T, class RowFn>
void run_backward(T* dx, const Pool2dGeom& g, int64_t kh_span, RowFn&& row) {
  const int64_t hw = g.h * g.w;
  if (g.oh == 0 || g.ow == 0) {
    parallel_chunks(g.planes * hw, kParallelGrain,
                    [&](int64_t b, int64_t e) { std::fill(dx + b, dx + e, T(0)); });
    return;
  }
  const BwdUnits u = bwd_units(g, kh_span);
  if (u.rows) {
    parallel_chunks(u.count, unit_grain(g.sh * g.w + g.ow * g.kw), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t p = i / g.oh, oh = i % g.oh;
        int64_t r0, r1;
        owned_rows(g, oh, &r0, &r1);
        T* plane = dx + p * hw;
        std::fill(plane + r0 * g.w, plane + r1 * g.w, T(0));
        row(p, oh, plane);
      }
    });
  } else {
    parallel_chunks(g.planes, unit_grain(hw + g.oh * g.ow * g.kh * g.kw),
                    [&](int64_t b, int64_t e) {
                      for (int64_t p = b; p < e; ++p) {
                        T* plane = dx + p * hw;
                        std::fill(plane, plane + hw, T(0));
                        for (int64_t oh = 0; oh < g.oh; ++oh) row(p, oh, plane);
                      }
                    });
  }
}

template <class T>
void avg_bwd_row(const T* gy, T* dxp, const Pool2dGeom& g, int64_t oh, bool include_pad,
                 int64_t divisor) {
  using V = Vec<T>;
  const int64_t W = g.w;
  int64_t ih0 = oh * g.sh - g.ph;
  int64_t ih1 = std::min(ih0 + g.kh, g.h + g.ph);
  const int64_t hpool = ih1 - ih0;
  ih0 = std::max<int64_t>(ih0, 0);
  ih1 = std::min(ih1, g.h);
  if (ih0 >= ih1) return;
  auto scalar = [&](int64_t ow) {
    int64_t iw0 = ow * g.sw - g.pw;
    int64_t iw1 = std::min(iw0 + g.kw, W + g.pw);
    const int64_t pool = hpool * (iw1 - iw0);
    iw0 = std::max<int64_t>(iw0, 0);
    iw1 = std::min(iw1, W);
    if (iw0 >= iw1) return;
    const int64_t div = divisor ? divisor : include_pad ? pool : (ih1 - ih0) * (iw1 - iw0);
    const T d = gy[ow] / T(div);
    for (int64_t ih = ih0; ih < ih1; ++ih)
      for (int64_t iw = iw0; iw < iw1; ++iw) dxp[ih * W + iw] += d;
  };
  int64_t lo = g.ow, hi = g.ow;
  if (V::width > 1 && g.sw == 1) interior_s1(g, g.kw, &lo, &hi);
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (lo < hi) {
    const int64_t div = divisor ? divisor : include_pad ? hpool * g.kw : (ih1 - ih0) * g.kw;
    const V vdiv = V::set1(T(div));
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      const V d = load_n(gy + o, n) / vdiv;
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        T* row = dxp + ih * W + o - g.pw;
        for (int64_t kj = 0; kj < g.kw; ++kj) store_n(load_n(row + kj, n) + d, row + kj, n);
      }
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

// ---- adaptive average pooling (torch's windows: [floor(o*I/O), ceil((o+1)*I/O)))
inline int64_t ad_start(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t ad_end(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

}  // namespace pool_detail

template <class T>
void max_pool2d_forward_t(const T* x, T* y, int64_t* idx, const Pool2dGeom& g) {
  const int64_t units = g.planes * g.oh, hw = g.h * g.w, ohw = g.oh * g.ow;
  if (units == 0 || g.ow == 0) return;
  parallel_chunks(units, pool_detail::unit_grain(g.ow * g.kh * g.kw), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / g.oh, oh = i % g.oh;
      pool_detail::max_row(x + p * hw, y + p * ohw + oh * g.ow,
                           idx ? idx + p * ohw + oh * g.ow : nullptr, g, oh);
    }
  });
}

// Each index must lie in its window's rows (clipped to the plane): the rows a unit owns. The
// others are counted and skipped (the binding raises).
template <class T>
int64_t max_pool2d_backward_t(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g) {
  const int64_t ohw = g.oh * g.ow, span = (g.kh - 1) * g.dh + 1;
  std::atomic<int64_t> bad{0};
  pool_detail::run_backward(dx, g, span, [&](int64_t p, int64_t oh, T* plane) {
    const T* gy = dy + p * ohw + oh * g.ow;
    const int64_t* ix = idx + p * ohw + oh * g.ow;
    const int64_t lo = std::clamp<int64_t>(oh * g.sh - g.ph, 0, g.h) * g.w;
    const int64_t n = std::clamp<int64_t>(oh * g.sh - g.ph + span, 0, g.h) * g.w - lo;
    int64_t b = 0;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t i = ix[ow];
      if (static_cast<uint64_t>(i - lo) < static_cast<uint64_t>(n))
        plane[i] += gy[ow];
      else
        ++b;
    }
    if (b) bad += b;
  });
  return bad.load();
}

template <class T>
void avg_pool2d_forward_t(const T* x, T* y, const Pool2dGeom& g, bool include_pad,
                          int64_t divisor) {
  const int64_t units = g.planes * g.oh, hw = g.h * g.w, ohw = g.oh * g.ow;
  if (units == 0 || g.ow == 0) return;
  parallel_chunks(units, pool_detail::unit_grain(g.ow * g.kh * g.kw), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / g.oh, oh = i % g.oh;
      pool_detail::avg_row(x + p * hw, y + p * ohw + oh * g.ow, g, oh, include_pad, divisor);
    }
  });
}

template <class T>
void avg_pool2d_backward_t(const T* dy, T* dx, const Pool2dGeom& g, bool include_pad,
                           int64_t divisor) {
  const int64_t ohw = g.oh * g.ow;
  pool_detail::run_backward(dx, g, g.kh, [&](int64_t p, int64_t oh, T* plane) {
    pool_detail::avg_bwd_row(dy + p * ohw + oh * g.ow, plane, g, oh, include_pad, divisor);
  });
}

// When the windows tile the input exactly (h % oh == 0, w % ow == 0), adaptive pooling is
// average pooling with kernel = stride = h / oh, w / ow.
inline bool adaptive_is_tiling(int64_t h, int64_t w, int64_t oh, int64_t ow) {
  return oh > 0 && ow > 0 && h % oh == 0 && w % ow == 0;
}
inline Pool2dGeom adaptive_tiling(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  Pool2dGeom g;
  g.planes = planes;
  g.h = h;
  g.w = w;
  g.oh = oh;
  g.ow = ow;
  g.kh = g.sh = h / oh;
  g.kw = g.sw = w / ow;
  return g;
}

template <class T>
void adaptive_avg_pool2d_forward_t(const T* x, T* y, int64_t planes, int64_t h, int64_t w,
                                   int64_t oh, int64_t ow) {
  if (adaptive_is_tiling(h, w, oh, ow))
    return avg_pool2d_forward_t(x, y, adaptive_tiling(planes, h, w, oh, ow), true, 0);
  const int64_t units = planes * oh, hw = h * w, ohw = oh * ow;
  if (units == 0 || ow == 0) return;
  const int64_t kh = (h + oh - 1) / oh + 1, kw = (w + ow - 1) / ow + 1;
  parallel_chunks(units, pool_detail::unit_grain(ow * kh * kw), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / oh, r = i % oh;
      const T* xp = x + p * hw;
      T* yp = y + p * ohw + r * ow;
      const int64_t h0 = pool_detail::ad_start(r, oh, h), h1 = pool_detail::ad_end(r, oh, h);
      for (int64_t c = 0; c < ow; ++c) {
        const int64_t w0 = pool_detail::ad_start(c, ow, w), w1 = pool_detail::ad_end(c, ow, w);
        T s = T(0);
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) s += xp[ih * w + iw];
        yp[c] = s / T((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_backward_t(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w,
                                    int64_t oh, int64_t ow) {
  if (adaptive_is_tiling(h, w, oh, ow))
    return avg_pool2d_backward_t(dy, dx, adaptive_tiling(planes, h, w, oh, ow), true, 0);
  const int64_t hw = h * w, ohw = oh * ow;
  parallel_chunks(planes, pool_detail::unit_grain(2 * hw), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* dxp = dx + p * hw;
      std::fill(dxp, dxp + hw, T(0));
      for (int64_t r = 0; r < oh; ++r) {
        const int64_t h0 = pool_detail::ad_start(r, oh, h), h1 = pool_detail::ad_end(r, oh, h);
        for (int64_t c = 0; c < ow; ++c) {
          const int64_t w0 = pool_detail::ad_start(c, ow, w), w1 = pool_detail::ad_end(c, ow, w);
          const T d = dy[p * ohw + r * ow + c] / T((h1 - h0) * (w1 - w0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * w + iw] += d;
        }
      }
    }
  });
}

#define DG_POOL_DEFS(T)                                                                       \
  void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dGeom& g) {              \
    max_pool2d_forward_t(x, y, idx, g);                                                       \
  }                                                                                           \
  int64_t max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g) {  \
    return max_pool2d_backward_t(dy, idx, dx, g);                                             \
  }                                                                                           \
  void avg_pool2d_forward(const T* x, T* y, const Pool2dGeom& g, bool include_pad,            \
                          int64_t divisor) {                                                  \
    avg_pool2d_forward_t(x, y, g, include_pad, divisor);                                      \
  }                                                                                           \
  void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeom& g, bool include_pad,         \
                           int64_t divisor) {                                                 \
    avg_pool2d_backward_t(dy, dx, g, include_pad, divisor);                                   \
  }                                                                                           \
  void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w,    \
                                   int64_t oh, int64_t ow) {                                  \
    adaptive_avg_pool2d_forward_t(x, y, planes, h, w, oh, ow);                                \
  }                                                                                           \
  void adaptive_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w, \
                                    int64_t oh, int64_t ow) {                                 \
    adaptive_avg_pool2d_backward_t(dy, dx, planes, h, w, oh, ow);                             \
  }
DG_POOL_DEFS(float)
DG_POOL_DEFS(double)
#undef DG_POOL_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
