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
//
// Fast paths (pool_detail, "fast paths"): 2x2 windows at stride 2 without padding (one vector
// loop per row pair, dense one-pass backward) and global average pooling; outputs of 16 MiB and
// more leave through an L1 staging block with non-temporal stores. The generic kernels are their
// fallback and, with pool_generic_only (tests), their oracle.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

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

// The first `count` (<= 2 w) elements of lo, hi (in that order) at p.
template <class T>
inline void store_pair_n(Vec<T> lo, Vec<T> hi, T* p, int count) {
  constexpr int w = Vec<T>::width;
  store_n(lo, p, std::min(count, w));
  if (count > w) store_n(hi, p + w, count - w);
}

// Column kj of a window row for the `n` vector lanes starting at output o: x[c0 + s*l + kj]
// for l < n (s = 1: a plain load; s = 2: deinterleaved); row = x + c0.
template <class T>
inline Vec<T> column(const T* row, int64_t s, int64_t kj, int n) {
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
inline void column_pair(const T* row, int64_t kj, int n, Vec<T>& c0, Vec<T>& c1) {
  constexpr int w = Vec<T>::width;
  const T* p = row + kj;
  const int count = 2 * n;
  const Vec<T> a = load_n(p, count < w ? count : w);
  const Vec<T> b = count > w ? load_n(p + w, count - w) : Vec<T>::zero();
  Vec<T>::deinterleave(a, b, c0, c1);
}

// n lanes of integer-valued v as int64 at p.
inline void store_index(Vec<float> v, int64_t* p, int n) {
#if defined(__AVX512F__)
  if (n == 16) {
    const __m512i i = _mm512_cvtps_epi32(v.v);
    _mm512_storeu_si512(p, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(i)));
    _mm512_storeu_si512(p + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(i, 1)));
    return;
  }
#elif defined(__AVX2__)
  if (n == 8) {
    const __m256i i = _mm256_cvtps_epi32(v.v);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4),
                        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(i, 1)));
    return;
  }
#endif
  alignas(64) float tmp[16];
  v.store(tmp);
  for (int l = 0; l < n; ++l) p[l] = static_cast<int64_t>(tmp[l]);
}
inline void store_index(Vec<double> v, int64_t* p, int n) {
#if defined(__AVX512F__)
  if (n == 8) {
    _mm512_storeu_si512(p, _mm512_cvtpd_epi64(v.v));
    return;
  }
#endif
  alignas(64) double tmp[16];
  v.store(tmp);
  for (int l = 0; l < n; ++l) p[l] = static_cast<int64_t>(tmp[l]);
}

// The output columns [lo, hi) whose windows lie inside [0, w) (stride 1 or 2; span: the
// window's width, dilation included).
inline void interior_s1(const Pool2dGeom& g, int64_t span, int64_t* lo, int64_t* hi) {
  *lo = std::min((g.pw + g.sw - 1) / g.sw, g.ow);
  const int64_t room = g.w + g.pw - span;  // the last window start that fits
  *hi = room < 0 ? *lo : std::max(*lo, std::min(g.ow, room / g.sw + 1));
}
// Vectorized along the output width: stride 1 (any dilation), or stride 2 with dilation 1.
inline bool vector_width_ok(const Pool2dGeom& g) {
  return Vec<float>::width > 1 && (g.sw == 1 || (g.sw == 2 && g.dw == 1));
}

// ---- max pooling, forward: output row oh of one plane
template <class T>
void max_row(const T* xp, T* yp, int64_t* ip, const Pool2dGeom& g, int64_t oh) {
  using V = Vec<T>;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  const int64_t W = g.w;
  // the window's first tap inside the input: one step, not a loop over the padding's taps
  // (a padding of 2^61 walked 2^61 of them)
  const auto first_inside = [](int64_t i0, int64_t d) {
    return i0 < 0 ? i0 + (-i0 + d - 1) / d * d : i0;
  };
  const int64_t top = oh * g.sh - g.ph;  // the window's first row, padding included
  const int64_t ih0 = first_inside(top, g.dh);
  const int64_t ih1 = std::min(top + (g.kh - 1) * g.dh + 1, g.h);
  const int64_t span = (g.kw - 1) * g.dw + 1;
  auto scalar = [&](int64_t ow) {
    const int64_t left = ow * g.sw - g.pw;
    const int64_t iw0 = first_inside(left, g.dw);
    const int64_t iw1 = std::min(left + span, W);
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
  if (vector_width_ok(g) && idx_exact && ih0 < ih1) interior_s1(g, span, &lo, &hi);
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  {
    const int64_t s = g.sw;
    const V lane = iota<T>() * V::set1(T(s));
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      const int64_t c0 = o * s - g.pw;
      V m = V::set1(ninf), mi = V::set1(T(ih0 * W + c0)) + lane;
      for (int64_t ih = ih0; ih < ih1; ih += g.dh) {
        const T* row = xp + ih * W + c0;
        auto step = [&](V v, int64_t col) {
          const auto t = (v > m) | is_nan(v);
          m = select(t, v, m);
          if (ip) mi = select(t, V::set1(T(ih * W + c0 + col)) + lane, mi);
        };
        if (s == 2) {  // dilation 1: columns in pairs from one deinterleave
          int64_t kj = 0;
          for (; kj + 1 < g.kw; kj += 2) {
            V a, b;
            column_pair(row, kj, n, a, b);
            step(a, kj);
            step(b, kj + 1);
          }
          if (kj < g.kw) step(column(row, s, kj, n), kj);
        } else {
          for (int64_t kj = 0; kj < g.kw; ++kj) step(column(row, s, kj * g.dw, n), kj * g.dw);
        }
      }
      store_n(m, yp + o, n);
      if (ip) store_index(mi, ip + o, n);
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
    if (iw1 - iw0 >= 2 * V::width) {  // wide windows (global pooling): vector row sums
      V acc = V::zero();
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        const T* row = xp + ih * W;
        for (int64_t iw = iw0; iw < iw1; iw += V::width)
          acc = acc + load_n(row + iw, static_cast<int>(std::min<int64_t>(V::width, iw1 - iw)));
      }
      s = acc.reduce_add();
    } else {
      for (int64_t ih = ih0; ih < ih1; ++ih)
        for (int64_t iw = iw0; iw < iw1; ++iw) s += xp[ih * W + iw];
    }
    const int64_t div = divisor ? divisor : include_pad ? pool : (ih1 - ih0) * (iw1 - iw0);
    yp[ow] = s / T(div);
  };
  int64_t lo = g.ow, hi = g.ow;
  if (vector_width_ok(g) && ih0 < ih1) interior_s1(g, g.kw, &lo, &hi);
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (lo < hi) {
    const int64_t div = divisor ? divisor : include_pad ? hpool * g.kw : (ih1 - ih0) * g.kw;
    const V vdiv = V::set1(T(div));
    for (int64_t o = lo; o < hi; o += V::width) {
      const int n = static_cast<int>(std::min<int64_t>(V::width, hi - o));
      V s = V::zero();
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        const T* row = xp + ih * W + o * g.sw - g.pw;
        int64_t kj = 0;
        if (g.sw == 2) {
          for (; kj + 1 < g.kw; kj += 2) {
            V a, b;
            column_pair(row, kj, n, a, b);
            s = s + a + b;
          }
        }
        for (; kj < g.kw; ++kj) s = s + column(row, g.sw, kj, n);
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

// Windows that tile the input without overlap or padding (kernel == stride, no padding, every
// window whole): the backward writes each input row once, no zeroing pass, no read-modify-write.
inline bool exact_tiling(const Pool2dGeom& g) {
  return g.kh == g.sh && g.kw == g.sw && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 &&
         g.oh * g.kh <= g.h && g.ow * g.kw <= g.w && g.oh > 0 && g.ow > 0;
}

// f(p, oh, plane) writes input rows [oh * kh, oh * kh + kh) entirely; this zeroes the rest (the
// columns past ow * kw are zeroed by f's caller row by row, the rows past oh * kh here).
template <class T, class RowFn>
void run_tiled_backward(T* dx, const Pool2dGeom& g, RowFn&& row) {
  const int64_t hw = g.h * g.w;
  parallel_chunks(g.planes * g.oh, unit_grain(g.kh * g.w), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / g.oh, oh = i % g.oh;
      T* plane = dx + p * hw;
      row(p, oh, plane);
      if (oh == g.oh - 1) std::fill(plane + g.oh * g.kh * g.w, plane + hw, T(0));
    }
  });
}

// One row of the tiled backward: out[ow * kw + c] = v(ow, c) for c < kw, zeros past ow * kw.
template <class T, class V>
inline void tiled_row(T* out, const Pool2dGeom& g, V&& v) {
  if (g.kw == 2) {
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      out[2 * ow] = v(ow, 0);
      out[2 * ow + 1] = v(ow, 1);
    }
  } else {
    for (int64_t ow = 0; ow < g.ow; ++ow)
      for (int64_t c = 0; c < g.kw; ++c) out[ow * g.kw + c] = v(ow, c);
  }
  std::fill(out + g.ow * g.kw, out + g.w, T(0));
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
  if (vector_width_ok(g)) interior_s1(g, g.kw, &lo, &hi);
  for (int64_t ow = 0; ow < lo; ++ow) scalar(ow);
  if (lo < hi) {
    const int64_t div = divisor ? divisor : include_pad ? hpool * g.kw : (ih1 - ih0) * g.kw;
    const V vdiv = V::set1(T(div));
    constexpr int w = V::width;
    for (int64_t o = lo; o < hi; o += w) {
      const int n = static_cast<int>(std::min<int64_t>(w, hi - o));
      const V d = load_n(gy + o, n) / vdiv;
      if (g.sw == 1) {
        for (int64_t ih = ih0; ih < ih1; ++ih) {
          T* row = dxp + ih * W + o - g.pw;
          for (int64_t kj = 0; kj < g.kw; ++kj) store_n(load_n(row + kj, n) + d, row + kj, n);
        }
        continue;
      }
      // stride 2: column kj adds d to the even (kj even) or odd elements from kj & ~1
      V lo_even, hi_even, lo_odd, hi_odd;
      Vec<T>::interleave(d, V::zero(), lo_even, hi_even);
      Vec<T>::interleave(V::zero(), d, lo_odd, hi_odd);
      for (int64_t ih = ih0; ih < ih1; ++ih) {
        T* row = dxp + ih * W + 2 * o - g.pw;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          T* p = row + (kj & ~int64_t(1));
          const int count = 2 * n - 1 + static_cast<int>(kj & 1);
          const int na = count < w ? count : w, nb = count - na;
          store_n(load_n(p, na) + ((kj & 1) ? lo_odd : lo_even), p, na);
          if (nb > 0) store_n(load_n(p + w, nb) + ((kj & 1) ? hi_odd : hi_even), p + w, nb);
        }
      }
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < g.ow; ++ow) scalar(ow);
}

// ---- adaptive average pooling (torch's windows: [floor(o*I/O), ceil((o+1)*I/O)))
inline int64_t ad_start(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t ad_end(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

// ---- fast paths: 2x2 windows at stride 2 without padding over whole windows (the common
// pooling layer), and global average pooling (adaptive to (1, 1)). One tight loop per output
// row pair over a chunk of rows; the generic kernels above are their fallback and their oracle
// (pool_generic_only, tests). Results equal the generic kernels' bit for bit (same order of the
// sums and the same comparisons) except the global sum, which is blocked over 4 accumulators.
inline bool fast_disabled() { return pool_generic_only.load(std::memory_order_relaxed); }

// Every window 2x2, stride 2, whole (ceil_mode's partial last window goes the generic way); the
// window offsets 0, 1, W, W + 1 ride in T lanes (exact below 2^24).
inline bool fast_2x2(const Pool2dGeom& g) {
  return Vec<float>::width > 1 && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 &&
         g.pw == 0 && g.dh == 1 && g.dw == 1 && g.oh > 0 && g.ow > 0 && 2 * g.oh <= g.h &&
         2 * g.ow <= g.w && g.w < (int64_t(1) << 23) && !fast_disabled();
}

// f(p, r) for the units [b, e) of planes x rows, without a division per unit.
template <class F>
inline void for_rows(int64_t b, int64_t e, int64_t rows, F&& f) {
  int64_t p = b / rows, r = b % rows;
  for (int64_t i = b; i < e; ++i) {
    f(p, r);
    if (++r == rows) {
      r = 0;
      ++p;
    }
  }
}

template <class T>
inline Mask<T> take_v(Vec<T> v, Vec<T> m) {
  return (v > m) | is_nan(v);
}

// Outputs of a pass of pool_stream_bytes (16 MiB) or more bypass the cache (non-temporal
// stores), as the copy they are measured against does (activation.h): they cannot stay in cache
// for the next op anyway, and streaming saves the read-for-ownership of every output line.
inline bool stream_out(int64_t bytes) {
  return bytes >= pool_stream_bytes.load(std::memory_order_relaxed);
}
inline bool aligned_vec(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % sizeof(Vec<float>) == 0;
}
// With streaming stores in flight the hardware prefetcher keeps too few input lines coming:
// the large passes prefetch their inputs this far ahead (as the copy does, activation.h).
inline constexpr int64_t kPrefetchBytes = 4096;
template <class T>
inline void prefetch_ahead(const T* p, int nbytes) {
  const char* c = reinterpret_cast<const char*>(p) + kPrefetchBytes;
  for (int b = 0; b < nbytes; b += 64) __builtin_prefetch(c + b);
}
template <class T>
inline void put(Vec<T> v, T* p, bool stream) {
  if (stream && aligned_vec(p))
    v.store_stream(p);
  else
    v.store(p);
}

// f(b, e) over [0, n), each of the threads one contiguous range: a streaming pass reads and
// writes each array front to back per thread, as the copy it is measured against does.
template <class F>
inline void parallel_split(int64_t n, int64_t grain, F&& f) {
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / grain));
  if (pieces <= 1) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  place_team(static_cast<int>(pieces));
#pragma omp parallel for num_threads(static_cast<int>(pieces)) schedule(static, 1)
  for (int64_t t = 0; t < pieces; ++t) f(n * t / pieces, n * (t + 1) / pieces);
}

// Read streams per thread for the passes that mostly read a large input (avg and global avg
// forward). One core keeps few DRAM reads in flight on one sequential stream, and the hardware
// prefetcher adds little while non-temporal stores are leaving: on the Zen 3 (2 cores, round 8)
// a 64 MiB read ran 1.2-1.7x faster with each thread's range cut into 4 pieces walked in lock
// step, and no software prefetch (bench/mca/pool7_bw.cpp: "4 row streams seq", "4streams
// nopf"). The AVX-512 build kept one stream and its prefetch until round 12, when the Zen 4
// (AVX-512) read the 2x2 average's input at 16-17 GB/s that way and at 33 GB/s with 4 streams
// (and avg2x2_forward's local NtStream; bench/mca/pool_ab.py, 1 thread). The generic build
// keeps one stream.
#if defined(__AVX2__)
inline constexpr int kReadParts = 4;
#else
inline constexpr int kReadParts = 1;
#endif

// The units [b, e) as kReadParts pieces of len units walked in lock step: f(s, u) for unit i of
// piece s = 0, 1, ... in turn, then the leftover units [b + kReadParts * len, e) as piece
// kReadParts. len = 0 (fewer units than pieces): everything is leftover. (kParts pieces where
// a pass sets its own count.)
template <int kParts = kReadParts, class F>
inline void lockstep_parts(int64_t b, int64_t e, F&& f) {
  const int64_t len = (e - b) / kParts;
  for (int64_t i = 0; i < len; ++i)
    for (int s = 0; s < kParts; ++s) f(s, b + s * len + i);
  for (int64_t u = b + kParts * len; u < e; ++u) f(kParts, u);
}

#if defined(__AVX2__)
// The int64 indices base + 2 l + code[l] of a full vector of window offsets (code: small
// non-negative integers in T lanes), as int64 bits in Vec<double> lanes: two vectors for float
// (the count returned), one for double.
inline int index_vecs(Vec<float> code, int64_t base, Vec<double>* out) {
#if defined(__AVX512F__)
  const __m512i lane = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i b0 = _mm512_add_epi64(_mm512_set1_epi64(base), lane);
  const __m512i b1 = _mm512_add_epi64(b0, _mm512_set1_epi64(16));
  const __m512i c = _mm512_cvttps_epi32(code.v);
  out[0] = {
      _mm512_castsi512_pd(_mm512_add_epi64(b0, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(c))))};
  out[1] = {_mm512_castsi512_pd(
      _mm512_add_epi64(b1, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(c, 1))))};
#else
  const __m256i lane = _mm256_setr_epi64x(0, 2, 4, 6);
  const __m256i b0 = _mm256_add_epi64(_mm256_set1_epi64x(base), lane);
  const __m256i b1 = _mm256_add_epi64(b0, _mm256_set1_epi64x(8));
  const __m256i c = _mm256_cvttps_epi32(code.v);
  out[0] = {
      _mm256_castsi256_pd(_mm256_add_epi64(b0, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(c))))};
  out[1] = {_mm256_castsi256_pd(
      _mm256_add_epi64(b1, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(c, 1))))};
#endif
  return 2;
}
inline int index_vecs(Vec<double> code, int64_t base, Vec<double>* out) {
#if defined(__AVX512F__)
  const __m512i lane = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  out[0] = {_mm512_castsi512_pd(_mm512_add_epi64(_mm512_add_epi64(_mm512_set1_epi64(base), lane),
                                                 _mm512_cvttpd_epi64(code.v)))};
#else
  const __m256i lane = _mm256_setr_epi64x(0, 2, 4, 6);
  out[0] = {
      _mm256_castsi256_pd(_mm256_add_epi64(_mm256_add_epi64(_mm256_set1_epi64x(base), lane),
                                           _mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(code.v))))};
#endif
  return 1;
}
// p[l] = base + 2 l + code[l] for the full vector.
template <class T>
inline void store_codes(Vec<T> code, int64_t* p, int64_t base, bool stream) {
  Vec<double> iv[2];
  const int n = index_vecs(code, base, iv);
  double* d = reinterpret_cast<double*>(p);
  for (int j = 0; j < n; ++j) put(iv[j], d + j * Vec<double>::width, stream);
}
// The same for lanes [0, n) only.
template <class T>
inline void store_codes_n(Vec<T> code, int64_t* p, int64_t base, int n) {
  constexpr int wd = Vec<double>::width;
  Vec<double> iv[2];
  const int nv = index_vecs(code, base, iv);
  double* d = reinterpret_cast<double*>(p);
  for (int j = 0; j < nv && j * wd < n; ++j) iv[j].store(d + j * wd, std::min(wd, n - j * wd));
}

// ---- window codes: what the training path saves instead of torch's int64 indices. A 2x2
// window's maximum as one byte, its position in the window (0, 1: the top row; 2, 3: the
// bottom), 1 byte an output where an index takes 8: for 16M float32 inputs the forward writes
// 20 MB instead of 48 and the backward reads 4 MB of codes instead of 32 MB of indices. The
// kernels below take either (Ix = int64_t or uint8_t); the code lanes' values differ only in
// the bottom row's (W, W + 1 for indices, 2, 3 for codes): code_step.
template <class Ix>
inline int64_t code_step(int64_t W) {
  return std::is_same_v<Ix, uint8_t> ? 2 : W;
}
// The window offset of a saved argmax from its window's first element at `at` (outside the
// window: anything in_window refuses).
inline int64_t window_offset(int64_t index, int64_t at, int64_t) { return index - at; }
inline int64_t window_offset(uint8_t code, int64_t, int64_t W) {
  return code < 4 ? (code >> 1) * W + (code & 1) : -1;
}
// A lane past a row's last window: matches no position.
template <class Ix>
inline constexpr Ix kNoWindow = std::is_same_v<Ix, uint8_t> ? Ix(255) : Ix(-1);

// The codes (small integers in T lanes) as bytes: the vector's w bytes in the low bytes.
inline __m128i code_bytes(Vec<float> code) {
#if defined(__AVX512F__)
  return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(code.v));
#else
  const __m256i i = _mm256_cvttps_epi32(code.v);
  const __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  return _mm_packus_epi16(h, h);
#endif
}
inline __m128i code_bytes(Vec<double> code) {
#if defined(__AVX512F__)
  return _mm512_cvtepi64_epi8(_mm512_cvttpd_epi64(code.v));
#else
  const __m128i h = _mm_packs_epi32(_mm256_cvttpd_epi32(code.v), _mm_setzero_si128());
  return _mm_packus_epi16(h, h);
#endif
}
// Plain stores (the streamed pass gathers a run's codes and streams the run whole).
template <class T>
inline void store_codes(Vec<T> code, uint8_t* p, int64_t, bool) {
  const __m128i b = code_bytes(code);
  constexpr int w = Vec<T>::width;
  if constexpr (w == 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b);
  else if constexpr (w == 8)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b);
  else
    std::memcpy(p, &b, 4);
}
template <class T>
inline void store_codes_n(Vec<T> code, uint8_t* p, int64_t, int n) {
  alignas(16) uint8_t t[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(t), code_bytes(code));
  std::memcpy(p, t, static_cast<size_t>(n));
}

// The inverse for a full vector of indices: code[l] = p[l] - base - 2 l where that lies in
// [0, maxc], else -1 (an index outside the window's span: matches no offset).
#if defined(__AVX512F__)
inline __m512i offsets8(const int64_t* p, __m512i base, int64_t maxc) {
  const __m512i off = _mm512_sub_epi64(_mm512_loadu_si512(p), base);
  const __mmask8 ok = _mm512_cmple_epu64_mask(off, _mm512_set1_epi64(maxc));
  return _mm512_mask_blend_epi64(ok, _mm512_set1_epi64(-1), off);
}
#else
inline __m256i offsets64(const int64_t* p, __m256i base, int64_t maxc) {  // as int64
  const __m256i off =
      _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), base);
  const __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi64(_mm256_setzero_si256(), off),
                                      _mm256_cmpgt_epi64(off, _mm256_set1_epi64x(maxc)));
  return _mm256_blendv_epi8(off, _mm256_set1_epi64x(-1), bad);
}
inline __m128i offsets4(const int64_t* p, __m256i base, int64_t maxc) {  // as int32
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
      offsets64(p, base, maxc), _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
}
#endif
inline void load_codes(const int64_t* p, int64_t base, int64_t maxc, Vec<float>& code) {
#if defined(__AVX512F__)
  const __m512i b0 =
      _mm512_add_epi64(_mm512_set1_epi64(base), _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14));
  const __m512i b1 = _mm512_add_epi64(b0, _mm512_set1_epi64(16));
  const __m256i lo = _mm512_cvtepi64_epi32(offsets8(p, b0, maxc));
  const __m256i hi = _mm512_cvtepi64_epi32(offsets8(p + 8, b1, maxc));
  code = {_mm512_cvtepi32_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1))};
#else
  const __m256i b0 = _mm256_add_epi64(_mm256_set1_epi64x(base), _mm256_setr_epi64x(0, 2, 4, 6));
  const __m256i b1 = _mm256_add_epi64(b0, _mm256_set1_epi64x(8));
  const __m128i lo = offsets4(p, b0, maxc), hi = offsets4(p + 4, b1, maxc);
  code = {_mm256_cvtepi32_ps(_mm256_set_m128i(hi, lo))};
#endif
}
inline void load_codes(const int64_t* p, int64_t base, int64_t maxc, Vec<double>& code) {
#if defined(__AVX512F__)
  const __m512i b =
      _mm512_add_epi64(_mm512_set1_epi64(base), _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14));
  code = {_mm512_cvtepi64_pd(offsets8(p, b, maxc))};
#else
  const __m256i b = _mm256_add_epi64(_mm256_set1_epi64x(base), _mm256_setr_epi64x(0, 2, 4, 6));
  code = {_mm256_cvtepi32_pd(offsets4(p, b, maxc))};
#endif
}
// A vector of window codes (bytes) as T lanes (a code of 4 or more matches no position).
inline void load_codes(const uint8_t* p, int64_t, int64_t, Vec<float>& code) {
#if defined(__AVX512F__)
  code = {_mm512_cvtepi32_ps(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))))};
#else
  code = {_mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
#endif
}
inline void load_codes(const uint8_t* p, int64_t, int64_t, Vec<double>& code) {
#if defined(__AVX512F__)
  code = {_mm512_cvtepi32_pd(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
#else
  int32_t four;
  std::memcpy(&four, p, 4);
  code = {_mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(four)))};
#endif
}

// Streamed outputs go through a staging block that stays in L1: a block of rows is computed
// into it with plain stores, then copied out with aligned non-temporal stores (the destination
// need not be aligned: numpy's large arrays start 16 bytes past a page boundary).
inline constexpr int64_t kStageBytes = 8192;
template <class T, class E>
inline void stream_copy_as(const E* src, E* dst, int64_t n) {
  using V = Vec<T>;
  constexpr int w = V::width * int(sizeof(T) / sizeof(E));
  int64_t i = 0;
  for (; i < n && !aligned_vec(dst + i); ++i) dst[i] = src[i];
  for (; i + w <= n; i += w)
    V::load(reinterpret_cast<const T*>(src + i)).store_stream(reinterpret_cast<T*>(dst + i));
  for (; i < n; ++i) dst[i] = src[i];
}
template <class T>
inline void stream_copy(const T* src, T* dst, int64_t n) {
  stream_copy_as<T>(src, dst, n);
}
inline void stream_copy(const int64_t* src, int64_t* dst, int64_t n) {
  stream_copy_as<double>(src, dst, n);
}
// Rows per staging block for `bytes` of output a row (0: no staging, one block a chunk).
inline int64_t stage_rows(bool st, int64_t bytes) {
  return st ? std::max<int64_t>(1, kStageBytes / std::max<int64_t>(1, bytes)) : 0;
}

// ---- direct streaming: the large passes store their outputs with aligned non-temporal stores
// straight from registers, no staging block. An output range starting k lanes past a vector
// boundary (numpy's large arrays start 16 bytes past a page) is written as the aligned vectors
// covering it: each is the last k lanes of one computed vector and the first w - k of the next
// (one permute), the range's partial first and last vectors plain masked stores. Needs whole
// vectors per output row (checked by the callers) and, on AVX2 (a 128-bit-lane permute), a
// displacement of 0 or 16 bytes.
template <class T>
inline bool shift_ok(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
#if defined(__AVX512F__)
  return a % sizeof(T) == 0;
#else
  return a % 16 == 0;
#endif
}

template <class T>
struct NtStream {
  using V = Vec<T>;
  static constexpr int w = V::width;
  int k = 0;       // lanes between the aligned vector below the range's start and the start
  T* a = nullptr;  // the aligned address of the next vector
  V prev = V::zero();
  bool started = false;
#if defined(__AVX512F__)
  __m512i ix;
#endif
  NtStream() : NtStream(nullptr) {}
  explicit NtStream(T* dst) {
    k = static_cast<int>((reinterpret_cast<uintptr_t>(dst) % sizeof(V)) / sizeof(T));
    a = dst - k;
#if defined(__AVX512F__)
    alignas(64) int64_t q[16];
    for (int l = 0; l < w; ++l) q[l] = w - k + l;
    if constexpr (sizeof(T) == 4) {
      alignas(64) int32_t d[16];
      for (int l = 0; l < 16; ++l) d[l] = static_cast<int32_t>(q[l]);
      ix = _mm512_load_si512(d);
    } else {
      ix = _mm512_load_si512(q);
    }
#endif
  }
  // lanes: prev[w - k .. w) then cur[0 .. w - k)
  V join(V p, V c) const {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4)
      return {_mm512_permutex2var_ps(p.v, ix, c.v)};
    else
      return {_mm512_permutex2var_pd(p.v, ix, c.v)};
#else
    if (k == 0) return c;
    if constexpr (sizeof(T) == 4)
      return {_mm256_permute2f128_ps(p.v, c.v, 0x21)};
    else
      return {_mm256_permute2f128_pd(p.v, c.v, 0x21)};
#endif
  }
  // the next w elements of the range
  void push(V v) {
    if (started) {
      join(prev, v).store_stream(a);
    } else if (k == 0) {
      v.store_stream(a);
    } else {
      v.store(a + k, w - k);
    }
    started = true;
    a += w;
    prev = v;
  }
  // the range's last k elements
  void finish() const {
    if (started && k) join(prev, prev).store(a, k);
  }
};

// torch's walk over a 2x2 window, lane by lane: (0, 0) = e0, (0, 1) = o0, (1, 0) = e1,
// (1, 1) = o1, taken when greater or NaN; m the maximum and (kIdx) code the window offset of
// each (0, 1, W, W + 1) as T lanes. In two halves, the top row's pair then the bottom row's
// (max2x2_forward_direct walks a run of top rows before the bottom ones).
template <class T, bool kIdx>
inline void max2x2_top(Vec<T> e0, Vec<T> o0, Vec<T> c1, Vec<T>& m, Vec<T>& code) {
  const Mask<T> t = take_v(o0, e0);
  m = select(t, o0, e0);
  code = Vec<T>::zero();
  if constexpr (kIdx) code = select(t, c1, Vec<T>::zero());
}
template <class T, bool kIdx>
inline void max2x2_bottom(Vec<T> e1, Vec<T> o1, Vec<T> cw, Vec<T> cw1, Vec<T>& m, Vec<T>& code) {
  Mask<T> t = take_v(e1, m);
  m = select(t, e1, m);
  if constexpr (kIdx) code = select(t, cw, code);
  t = take_v(o1, m);
  m = select(t, o1, m);
  if constexpr (kIdx) code = select(t, cw1, code);
}
template <class T, bool kIdx>
inline void max2x2_walk(Vec<T> e0, Vec<T> o0, Vec<T> e1, Vec<T> o1, Vec<T> c1, Vec<T> cw,
                        Vec<T> cw1, Vec<T>& m, Vec<T>& code) {
  max2x2_top<T, kIdx>(e0, o0, c1, m, code);
  max2x2_bottom<T, kIdx>(e1, o1, cw, cw1, m, code);
}

// The maximum of the 2x2 windows at columns 2o .. 2o + 2w of rows r0, r0 + W, and (kIdx) the
// window offset of each (0, 1, W, W + 1) as T lanes.
template <class T, bool kIdx>
inline void max2x2_vec(const T* r0, int64_t W, Vec<T> c1, Vec<T> cw, Vec<T> cw1, Vec<T>& m,
                       Vec<T>& code) {
  Vec<T> e0, o0, e1, o1;
  load_deinterleave(r0, e0, o0);
  load_deinterleave(r0 + W, e1, o1);
  max2x2_walk<T, kIdx>(e0, o0, e1, o1, c1, cw, cw1, m, code);
}

// The same for the first n < w windows only (masked loads: the other lanes are 0). A row's last
// ow % w windows, or all of them where ow < w (8x8 planes: ow = 4). These were a scalar loop of
// unpredictable branches (which element wins is data): ~12 ns an output on the Zen 4, so that
// 64 x 32 planes of 8x8 took 0.41 ms at 1 thread (0.07 ms masked).
template <class T, bool kIdx>
inline void max2x2_vec_n(const T* r0, int64_t W, int n, Vec<T> c1, Vec<T> cw, Vec<T> cw1, Vec<T>& m,
                         Vec<T>& code) {
  Vec<T> e0, o0, e1, o1;
  column_pair(r0, 0, n, e0, o0);
  column_pair(r0 + W, 0, n, e1, o1);
  max2x2_walk<T, kIdx>(e0, o0, e1, o1, c1, cw, cw1, m, code);
}

// One output row of 2x2/2 max pooling: r0 = the window's top input row, base = its offset in
// the plane. torch's walk: (0, 0), (0, 1), (1, 0), (1, 1), take when greater or NaN; starting
// from the first element equals starting from -inf with its index. No software prefetch, as the
// direct path (kMaxForwardParts): round 44 on the Zen 4, 16M float32 of 126 x 126 planes (the
// staged path: 63 outputs a row), window codes 1.10x faster at 2 threads and 1.13x at 1 without
// it, int64 indices unchanged (two builds alternated in one process, best of 40 rounds).
template <class T, bool kIdx, class Ix = int64_t>
inline void max2x2_row(const T* r0, T* yp, Ix* ip, int64_t base, int64_t W, int64_t ow) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t cs = code_step<Ix>(W);
  const V c1 = V::set1(T(1)), cw = V::set1(T(cs)), cw1 = V::set1(T(cs + 1));
  int64_t o = 0;
  for (; o + w <= ow; o += w) {
    V m, code;
    max2x2_vec<T, kIdx>(r0 + 2 * o, W, c1, cw, cw1, m, code);
    m.store(yp + o);
    if constexpr (kIdx) store_codes(code, ip + o, base + 2 * o, false);
  }
  if (o < ow) {
    const int n = static_cast<int>(ow - o);
    V m, code;
    max2x2_vec_n<T, kIdx>(r0 + 2 * o, W, n, c1, cw, cw1, m, code);
    m.store(yp + o, n);
    if constexpr (kIdx) store_codes_n(code, ip + o, base + 2 * o, n);
  }
}

// How the streamed max forward reads: no software prefetch, and kReadParts read streams a
// thread walked in lock step, on both SIMD builds. On the Zen 4 (round 12, bench/mca/pool_ab.py
// OP=max against the same build with the prefetch) the AVX2 pass ran 1.33-1.52x faster at 1
// thread without it; as for the avg forward on the Zen 3 (round 8), the software prefetch next
// to non-temporal stores slows the read stream it meant to help. The AVX-512 pass kept one
// stream and the prefetch (measured as mixed then) until round 44, when the same Zen 4 read 16M
// float32 with window codes 1.4x faster at 2 threads and 1.7-2.0x at 1 without the prefetch
// (max_train 1.77 -> 1.27 ms and 5.0 -> 2.5 ms; with int64 indices 2.67 -> 1.83 ms, one stream
// there: the lines rule in max2x2_forward), and with 4 streams rather than 1 (2.67 against 3.09
// ms at 1 thread). The order of the reads: on a Zen 1 (EPYC 7001, round 24) the two rows of a
// window read vector by vector in turn ran at 0.52 of a copy (2 threads, 7.7 ms with the
// indices), a run of the top row then the same run of the bottom row, as the avg forward reads,
// at 0.69-0.74 (5.3 ms), and the AVX2 build keeps those runs (round 44 on the Zen 4: in turn
// was 1.28x slower at 2 threads, 1.50x at 1, with codes); the AVX-512 build reads the rows in
// turn (round 44: 1.10x faster than the runs with indices, even with codes at 2 threads).
inline constexpr int kMaxForwardParts = kReadParts;
#if defined(__AVX512F__)
inline constexpr bool kMaxForwardRowRuns = false;
#else
inline constexpr bool kMaxForwardRowRuns = true;
#endif

// The streamed forward without staging (ow a multiple of the vector width): each thread's
// contiguous rows as P pieces walked in lock step (a unit: one output row), each piece's y and
// indices one NtStream. P = kMaxForwardParts, or 1 where the streams pause mid-line.
template <class T, bool kIdx, int P, class Ix = int64_t>
void max2x2_forward_direct(const T* x, T* y, Ix* idx, const Pool2dGeom& g) {
  using V = Vec<T>;
  constexpr int w = V::width;
  constexpr bool kBytes = std::is_same_v<Ix, uint8_t>;
  const int64_t hw = g.h * g.w, W = g.w, ow = g.ow, cs = code_step<Ix>(W);
  const V c1 = V::set1(T(1)), cw = V::set1(T(cs)), cw1 = V::set1(T(cs + 1));
  parallel_split(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    const int64_t len = (e - b) / P;
    NtStream<T> sy[P + 1];
    NtStream<double> si[P + 1];
    for (int s = 0; s <= P; ++s) {
      sy[s] = NtStream<T>(y + (b + s * len) * ow);
      if constexpr (kIdx && !kBytes)
        si[s] = NtStream<double>(reinterpret_cast<double*>(idx + (b + s * len) * ow));
    }
    constexpr int64_t kCols = 256;  // outputs per run of a row (tm, tc: 1 KiB each for float)
    alignas(64) T tm[kCols];
    alignas(64) T tc[kCols];
    // codes: a run's bytes gathered here, then streamed as whole vectors. Streaming each
    // vector's 8 bytes with one movnti instead cost the Zen 3 pass 1.15x at 2 threads and 1.57x
    // at 1 (16M float32: 3.97 / 6.73 ms against 3.44 / 4.29; with no codes written at all 2.75
    // / 3.51; bench/mca/pool_ab.py OP=max_train).
    alignas(64) uint8_t cb[kBytes ? kCols : 1];
    lockstep_parts<P>(b, e, [&](int s, int64_t u) {
      const int64_t r = u % g.oh;
      const T* r0 = x + (u / g.oh) * hw + 2 * r * W;
      // the piece's streams as locals (avg2x2_forward: a member's last vector would round-trip
      // through memory on every push)
      NtStream<T> oy = sy[s];
      NtStream<double> oi = si[s];
      const auto emit = [&](int64_t o, int64_t c0, V m, V code) {
        oy.push(m);
        if constexpr (kIdx && kBytes) {
          store_codes(code, cb + (o - c0), 0, false);
        } else if constexpr (kIdx) {
          Vec<double> iv[2];
          const int n = index_vecs(code, 2 * r * W + 2 * o, iv);
          for (int j = 0; j < n; ++j) oi.push(iv[j]);
        }
      };
      const T* r1 = r0 + W;
      for (int64_t c0 = 0; c0 < ow; c0 += kCols) {  // runs of kCols outputs
        const int64_t ce = std::min(ow, c0 + kCols);
        if constexpr (!kMaxForwardRowRuns) {
          for (int64_t o = c0; o < ce; o += w) {  // both rows of each vector's windows in turn
            V m, code;
            max2x2_vec<T, kIdx>(r0 + 2 * o, W, c1, cw, cw1, m, code);
            emit(o, c0, m, code);
          }
        } else {
          for (int64_t o = c0; o < ce; o += w) {  // the top row's pairs
            V e0, o0, m, code;
            load_deinterleave(r0 + 2 * o, e0, o0);
            max2x2_top<T, kIdx>(e0, o0, c1, m, code);
            m.store(tm + (o - c0));
            if constexpr (kIdx) code.store(tc + (o - c0));
          }
          for (int64_t o = c0; o < ce; o += w) {  // then the bottom row's
            V e1, o1, m = V::load(tm + (o - c0)), code = V::zero();
            if constexpr (kIdx) code = V::load(tc + (o - c0));
            load_deinterleave(r1 + 2 * o, e1, o1);
            max2x2_bottom<T, kIdx>(e1, o1, cw, cw1, m, code);
            emit(o, c0, m, code);
          }
        }
        if constexpr (kIdx && kBytes) stream_copy_as<T>(cb, idx + u * ow + c0, ce - c0);
      }
      sy[s] = oy;
      if constexpr (kIdx && !kBytes) si[s] = oi;
    });
    for (int s = 0; s <= P; ++s) {
      sy[s].finish();
      if constexpr (kIdx && !kBytes) si[s].finish();
    }
    stream_fence();
  });
}

// Whether a stream starting at p, paused every `step` bytes, pauses on cache-line boundaries.
inline bool line_steps(const void* p, int64_t step) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0 && step % 64 == 0;
}

template <class T, class Ix>
void max2x2_forward(const T* x, T* y, Ix* idx, const Pool2dGeom& g) {
  constexpr bool kBytes = std::is_same_v<Ix, uint8_t>;
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, W = g.w;
  const int64_t ow = g.ow;  // unit i = p * oh + r writes y[i * ow, (i + 1) * ow), idx alike
  const bool st = stream_out(g.planes * ohw * int64_t(sizeof(T) + (idx ? sizeof(Ix) : 0)));
  if (st && ow % Vec<T>::width == 0 && shift_ok<T>(y) &&
      (!idx || kBytes || shift_ok<double>(idx))) {
    // The lock-step pieces pause each output stream at a unit (row) boundary. Where that falls
    // mid-line, the line's first half waits in a write-combining buffer while the other pieces
    // write, and leaves as a partial line: on the Zen 3 (round 35, 16M float32) the pass ran
    // 1.1-1.4x slower at 1 and 2 threads with the index array 32 bytes past a line than
    // line-aligned, and as fast as aligned with one piece. The index stream decides (2/3 of
    // the bytes written; y's own alignment changed nothing measurable). Without indices the
    // pieces won at every alignment of y (one piece 0.74-0.87 of their speed, 1 and 2 threads).
    const bool lines = !idx || line_steps(idx, ow * int64_t(sizeof(Ix)));
    const auto run = [&](auto parts) {
      constexpr int P = decltype(parts)::value;
      if (idx)
        max2x2_forward_direct<T, true, P, Ix>(x, y, idx, g);
      else
        max2x2_forward_direct<T, false, P, Ix>(x, y, nullptr, g);
    };
    if (lines)
      run(std::integral_constant<int, kMaxForwardParts>{});
    else
      run(std::integral_constant<int, 1>{});
    return;
  }
  // staged: y (and int64 indices) through the L1 block; codes (an eighth of them) go straight
  const int64_t blk = stage_rows(st, ow * int64_t(sizeof(T)));
  parallel_chunks(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    std::vector<T> sy(st ? blk * ow : 0);
    std::vector<Ix> si(st && idx && !kBytes ? blk * ow : 0);
    for (int64_t b0 = b; b0 < e; b0 += st ? blk : e - b) {
      const int64_t e0 = st ? std::min(e, b0 + blk) : e;
      for_rows(b0, e0, g.oh, [&](int64_t p, int64_t r) {
        const int64_t at = (p * g.oh + r) * ow, off = at - (st ? b0 * ow : 0);
        const T* r0 = x + p * hw + 2 * r * W;
        T* yp = (st ? sy.data() : y) + off;
        if (idx)
          max2x2_row<T, true, Ix>(r0, yp, st && !kBytes ? si.data() + off : idx + at, 2 * r * W, W,
                                  ow);
        else
          max2x2_row<T, false, Ix>(r0, yp, nullptr, 2 * r * W, W, ow);
      });
      if (st) {
        stream_copy(sy.data(), y + b0 * ow, (e0 - b0) * ow);
        if constexpr (!kBytes)
          if (idx) stream_copy(si.data(), idx + b0 * ow, (e0 - b0) * ow);
      }
    }
    if (st) stream_fence();
  });
}

// Whether a 2x2 window's index lies in it: its offset from the window's first element is 0, 1,
// W or W + 1. Two unsigned compares, not `||` of four, which branched on the one that matched
// (a misprediction a window where the maxima fall at random). Where the result guards a store
// GCC still emits two branches, top row or bottom row, whatever the spelling (a select of the
// address with an asm barrier included): max2x2_backward_scatter picks the address by an
// inline cmov instead. (Round 20 on the Zen 4 measured no gain from the attempts then, which
// kept a branch; round 24 on a Zen 1: the 8x8 planes' scatter 2.4x faster with the cmov.)
inline bool in_window(int64_t off, int64_t W) {
  return (uint64_t(off) < 2) | (uint64_t(off - W) < 2);
}

// Where unit i = p * oh + r of a 2x2/2 backward starts writing dx (its rows 2r, 2r + 1; the last
// row of a plane also the odd height's row): units [b, e) write [tiled_start(b), tiled_start(e)).
inline int64_t tiled_start(const Pool2dGeom& g, int64_t i) {
  const int64_t p = i / g.oh, r = i % g.oh;
  return p * g.h * g.w + 2 * r * g.w;
}

// dx of the 2x2 windows at output columns o .. o + w: input row 2r's 2w elements a0, a1, row
// 2r + 1's b0, b1 (dy where the index points, else 0); false if an index is outside its window.
template <class T, class Ix>
inline bool max2x2_bwd_lanes(Vec<T> d, const Ix* ix, int64_t base, int64_t W, Vec<T> z, Vec<T> c1,
                             Vec<T> cw, Vec<T> cw1, Vec<T>& a0, Vec<T>& a1, Vec<T>& b0,
                             Vec<T>& b1) {
  Vec<T> c;
  load_codes(ix, base, W + 1, c);
  const Mask<T> m00 = c == z, m01 = c == c1, m10 = c == cw, m11 = c == cw1;
  Vec<T>::interleave(select(m00, d, z), select(m01, d, z), a0, a1);
  Vec<T>::interleave(select(m10, d, z), select(m11, d, z), b0, b1);
  return all_lanes(m00 | m01 | m10 | m11);
}
#if defined(__AVX2__) && !defined(__AVX512F__)
// AVX2 float: the same with the 8 windows in the order 0 1 4 5 | 2 3 6 7 (codes and dy alike),
// so that the interleave into dx rows is one unpacklo / unpackhi per pair, in-lane: the codes'
// int64 -> int32 narrowing is then one vshufps of the two offset vectors, dy's reorder one
// vpermpd. Natural order took two vpermd, a vinserti128 and two vperm2f128 more (lane-crossing:
// 3-4 cycles of throughput each on a Zen 1, all port 5 on Intel): on the Zen 1, 21.9 -> 16.5 ns per
// 8 windows in cache, 1 thread (docs/BENCHMARKS.md round 24).
inline Vec<float> ordered_codes(const int64_t* ix, int64_t base, int64_t W) {
  const __m256i q0 = _mm256_add_epi64(_mm256_set1_epi64x(base), _mm256_setr_epi64x(0, 2, 4, 6));
  const __m256i q1 = _mm256_add_epi64(q0, _mm256_set1_epi64x(8));
  const __m256 v0 = _mm256_castsi256_ps(offsets64(ix, q0, W + 1));
  const __m256 v1 = _mm256_castsi256_ps(offsets64(ix + 4, q1, W + 1));
  // the low halves of the int64 offsets (-1 stays -1): windows 0 1 4 5 | 2 3 6 7
  return {_mm256_cvtepi32_ps(_mm256_castps_si256(_mm256_shuffle_ps(v0, v1, 0x88)))};
}
inline Vec<float> ordered_codes(const uint8_t* ix, int64_t, int64_t) {  // one byte shuffle
  const __m128i b =
      _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ix)),
                       _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1));
  return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))};
}
template <class Ix>
inline bool max2x2_bwd_lanes(Vec<float> d, const Ix* ix, int64_t base, int64_t W, Vec<float> z,
                             Vec<float> c1, Vec<float> cw, Vec<float> cw1, Vec<float>& a0,
                             Vec<float>& a1, Vec<float>& b0, Vec<float>& b1) {
  using V = Vec<float>;
  const V c = ordered_codes(ix, base, W);
  const V dp = {
      _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(d.v), _MM_SHUFFLE(3, 1, 2, 0)))};
  const Mask<float> m00 = c == z, m01 = c == c1, m10 = c == cw, m11 = c == cw1;
  const V t00 = select(m00, dp, z), t01 = select(m01, dp, z);
  const V t10 = select(m10, dp, z), t11 = select(m11, dp, z);
  a0.v = _mm256_unpacklo_ps(t00.v, t01.v);
  a1.v = _mm256_unpackhi_ps(t00.v, t01.v);
  b0.v = _mm256_unpacklo_ps(t10.v, t11.v);
  b1.v = _mm256_unpackhi_ps(t10.v, t11.v);
  return all_lanes(m00 | m01 | m10 | m11);
}
#endif
template <class T, class Ix>
inline bool max2x2_bwd_vec(const T* gy, const Ix* ix, int64_t base, int64_t W, Vec<T> z, Vec<T> c1,
                           Vec<T> cw, Vec<T> cw1, Vec<T>& a0, Vec<T>& a1, Vec<T>& b0, Vec<T>& b1) {
  return max2x2_bwd_lanes(Vec<T>::load(gy), ix, base, W, z, c1, cw, cw1, a0, a1, b0, b1);
}

// The direct streamed backward applies: every input row covered by windows, whole vectors.
template <class T>
inline bool direct_2x2_bwd(const T* dx, const Pool2dGeom& g) {
  return g.h == 2 * g.oh && g.w == 2 * g.ow && g.ow % Vec<T>::width == 0 && shift_ok<T>(dx);
}

// The streamed 2x2/2 backward without staging (h = 2 oh, w = 2 ow, ow a multiple of the vector
// width): f(p, r, o, a0, a1, b0, b1) gives input row 2r's elements 2o .. 2o + 2w (a0, a1) and
// row 2r + 1's (b0, b1). A thread's dx range is one stream in memory order: row 2r + 1 waits in
// an L1 row buffer while row 2r streams out. (Streaming both rows at once, two half-written
// lines in flight, ran the AVX2 path at 0.6 of a copy; one stream at 0.87. Measured on 16M
// float32, AvgPool2d backward, 1 thread.)
template <class T, class F>
void rowpair_direct(T* dx, const Pool2dGeom& g, F&& f) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t hw = g.h * g.w, W = g.w, ow = g.ow;
  parallel_split(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    const int64_t p0 = b / g.oh;
    NtStream<T> s(dx + p0 * hw + 2 * (b - p0 * g.oh) * W);
    std::vector<T> row_b(static_cast<size_t>(W));
    T* const rb = row_b.data();
    for_rows(b, e, g.oh, [&](int64_t p, int64_t r) {
      for (int64_t o = 0; o < ow; o += w) {
        V a0, a1, b0, b1;
        f(p, r, o, a0, a1, b0, b1);
        s.push(a0);
        s.push(a1);
        b0.store(rb + 2 * o);
        b1.store(rb + 2 * o + w);
      }
      for (int64_t i = 0; i < W; i += w) s.push(V::load(rb + i));
    });
    s.finish();
    stream_fence();
  });
}

// dx of output row r, written densely (every element of input rows 2r, 2r + 1 once: dy where
// the index points, else 0); the count of indices outside their window.
template <class T, class Ix>
inline int64_t max2x2_bwd_row(const T* gy, const Ix* ix, T* d0, int64_t base, int64_t W, int64_t ow,
                              bool st) {
  using V = Vec<T>;
  constexpr int w = V::width;
  T* d1 = d0 + W;
  const int64_t cs = code_step<Ix>(W);
  const V z = V::zero(), c1 = V::set1(T(1)), cw = V::set1(T(cs)), cw1 = V::set1(T(cs + 1));
  int64_t bad = 0;
  auto count_bad = [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) bad += !in_window(window_offset(ix[o], base + 2 * o, W), W);
  };
  int64_t o = 0;
  for (; o + w <= ow; o += w) {
    if (st) {
      prefetch_ahead(gy + o, w * int(sizeof(T)));
      prefetch_ahead(ix + o, w * int(sizeof(Ix)));
    }
    V a0, a1, b0, b1;
    if (!max2x2_bwd_vec(gy + o, ix + o, base + 2 * o, W, z, c1, cw, cw1, a0, a1, b0, b1))
      count_bad(o, o + w);
    a0.store(d0 + 2 * o);
    a1.store(d0 + 2 * o + w);
    b0.store(d1 + 2 * o);
    b1.store(d1 + 2 * o + w);
  }
  if (o < ow) {  // the last n < w windows, masked (a scalar loop: 1.6-4.2x slower)
    const int n = static_cast<int>(ow - o);
    count_bad(o, ow);
    alignas(64) Ix ixn[16];  // lanes past n: outside every window (match no offset)
    for (int l = 0; l < w; ++l) ixn[l] = l < n ? ix[o + l] : kNoWindow<Ix>;
    V a0, a1, b0, b1;
    max2x2_bwd_lanes(load_n(gy + o, n), ixn, base + 2 * o, W, z, c1, cw, cw1, a0, a1, b0, b1);
    store_pair_n(a0, a1, d0 + 2 * o, 2 * n);
    store_pair_n(b0, b1, d1 + 2 * o, 2 * n);
  }
  if (W > 2 * ow) d0[W - 1] = d1[W - 1] = T(0);  // odd width: the column no window covers
  return bad;
}

// Rows narrower than a vector (ow < w: the 8x8 and 4x4 planes of small CNNs), cached outputs:
// each plane zeroed with vector stores, then each window's dy stored at its index, one scalar
// store a window. The windows do not overlap, so this writes what the dense rows write. The
// masked-vector rows took ~15 ns a row here whatever their width: 64 x 32 planes of 8x8, 1
// thread, 0.13 ms, now 0.05, against torch's 0.036 (bench_cnn.py).
template <class T, class Ix>
int64_t max2x2_backward_scatter(const T* dy, const Ix* idx, T* dx, const Pool2dGeom& g) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, W = g.w;
  std::atomic<int64_t> bad{0};
  parallel_chunks(g.planes, unit_grain(2 * hw), [&](int64_t b, int64_t e) {
    int64_t nb = 0;
    for (int64_t p = b; p < e; ++p) {
      T* const plane = dx + p * hw;
      const T* gy = dy + p * ohw;
      const Ix* ix = idx + p * ohw;
      int64_t i = 0;
      for (; i + w <= hw; i += w) V::zero().store(plane + i);
      if (i < hw) V::zero().store(plane + i, static_cast<int>(hw - i));
      T sink = T(0);  // where a window's dy goes when its index is outside the window
      for (int64_t r = 0; r < g.oh; ++r, gy += g.ow, ix += g.ow)
        for (int64_t o = 0; o < g.ow; ++o) {
          const int64_t at = 2 * r * W + 2 * o;
          if constexpr (std::is_same_v<Ix, uint8_t>) {
            // a code's row is arithmetic, no branch to mispredict; the one test (a code past 3:
            // never, from our forward) predicts
            const unsigned c = ix[o];
            if (c < 4) {
              plane[at + (c >> 1) * W + (c & 1)] = gy[o];
            } else {
              ++nb;
            }
            continue;
          }
          const int64_t off = window_offset(ix[o], at, W);
          // in_window as min(off, off - W) < 2 (unsigned), and the store's address picked by a
          // cmov: which row of its window a maximum lies in is random, and the two branches GCC
          // made of the test mispredicted half the time
          // (the address in unsigned arithmetic: an index far outside must not form a pointer)
          const uint64_t mn = std::min(uint64_t(off), uint64_t(off - W));
#if defined(__x86_64__)
          uintptr_t d = reinterpret_cast<uintptr_t>(plane) + uint64_t(at + off) * sizeof(T);
          __asm__("cmpq $2, %[mn]\n\tcmovaeq %[alt], %[d]"
                  : [d] "+r"(d)
                  : [mn] "r"(mn), [alt] "r"(reinterpret_cast<uintptr_t>(&sink))
                  : "cc");
          *reinterpret_cast<T*>(d) = gy[o];
#else
          *(mn < 2 ? plane + (at + off) : &sink) = gy[o];
#endif
          nb += mn >= 2;
        }
    }
    if (nb) bad += nb;
  });
  return bad.load();
}

template <class T, class Ix>
int64_t max2x2_backward(const T* dy, const Ix* idx, T* dx, const Pool2dGeom& g) {
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, W = g.w;
  std::atomic<int64_t> bad{0};
  const bool st = stream_out(g.planes * hw * int64_t(sizeof(T)));
  if (!st && g.ow < Vec<T>::width) return max2x2_backward_scatter(dy, idx, dx, g);
  if (st && direct_2x2_bwd<T>(dx, g)) {
    using V = Vec<T>;
    const int64_t cs = code_step<Ix>(W);
    const V z = V::zero(), c1 = V::set1(T(1)), cw = V::set1(T(cs)), cw1 = V::set1(T(cs + 1));
    rowpair_direct(dx, g, [&](int64_t p, int64_t r, int64_t o, V& a0, V& a1, V& b0, V& b1) {
      const T* gy = dy + p * ohw + r * g.ow;
      const Ix* ix = idx + p * ohw + r * g.ow;
      prefetch_ahead(gy + o, V::width * int(sizeof(T)));
      prefetch_ahead(ix + o, V::width * int(sizeof(Ix)));
      if (!max2x2_bwd_vec(gy + o, ix + o, 2 * r * W + 2 * o, W, z, c1, cw, cw1, a0, a1, b0, b1))
        for (int64_t j = o; j < o + V::width; ++j)
          bad += !in_window(window_offset(ix[j], 2 * r * W + 2 * j, W), W);
    });
    return bad.load();
  }
  const int64_t blk = stage_rows(st, 2 * W * int64_t(sizeof(T)));
  parallel_chunks(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    int64_t nb = 0;
    std::vector<T> sd;
    for (int64_t b0 = b; b0 < e; b0 += st ? blk : e - b) {
      const int64_t e0 = st ? std::min(e, b0 + blk) : e;
      const int64_t s0 = st ? tiled_start(g, b0) : 0;  // the block's dx range, staged
      if (st) sd.resize(static_cast<size_t>(tiled_start(g, e0) - s0));
      T* out = st ? sd.data() : dx;
      for_rows(b0, e0, g.oh, [&](int64_t p, int64_t r) {
        const int64_t pl = p * hw - s0;  // the plane's offset in out
        nb += max2x2_bwd_row(dy + p * ohw + r * g.ow, idx + p * ohw + r * g.ow,
                             out + pl + 2 * r * W, 2 * r * W, W, g.ow, st);
        if (r == g.oh - 1) std::fill(out + pl + 2 * g.oh * W, out + pl + hw, T(0));  // odd h
      });
      if (st) stream_copy(sd.data(), dx + s0, static_cast<int64_t>(sd.size()));
    }
    if (st) stream_fence();
    if (nb) bad += nb;
  });
  return bad.load();
}

// Average pooling's divisor as a multiplier where that is exact (a power of two: x * (1/d) is
// x / d correctly rounded), else a divisor.
template <class T>
struct Divide {
  T div, inv;
  bool mul;
  explicit Divide(int64_t d) : div(T(d)), inv(T(1) / T(d)), mul(false) {
    const uint64_t a = static_cast<uint64_t>(d < 0 ? -d : d);
    mul = (a & (a - 1)) == 0;
  }
  T operator()(T s) const { return mul ? s * inv : s / div; }
  Vec<T> operator()(Vec<T> s) const { return mul ? s * Vec<T>::set1(inv) : s / Vec<T>::set1(div); }
};

template <class T>
void avg2x2_forward(const T* x, T* y, const Pool2dGeom& g, int64_t divisor) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, W = g.w, ow = g.ow;
  const Divide<T> div(divisor ? divisor : 4);
  const bool st = stream_out(g.planes * ohw * int64_t(sizeof(T)));
  if (st && ow % w == 0 && shift_ok<T>(y)) {
    // kReadParts read streams per thread, y one NtStream per piece. Each row pair is read as
    // one sequential run: row 2r's pair sums (e0 + o0) into t, then row 2r + 1 adds to them, in
    // the order of the loop below (the same bits).
    constexpr int64_t kCols = 256;  // outputs per run (t: 1 KiB of float)
    parallel_split(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
      const int64_t len = (e - b) / kReadParts;
      NtStream<T> sy[kReadParts + 1];
      for (int s = 0; s <= kReadParts; ++s) sy[s] = NtStream<T>(y + (b + s * len) * ow);
      alignas(64) T t[kCols];
      lockstep_parts(b, e, [&](int s, int64_t u) {
        const T* r0 = x + (u / g.oh) * hw + 2 * (u % g.oh) * W;
        const T* r1 = r0 + W;
        for (int64_t c0 = 0; c0 < ow; c0 += kCols) {
          const int64_t c1 = std::min(ow, c0 + kCols);
          for (int64_t o = c0; o < c1; o += w) {
            V e0, o0;
            load_deinterleave(r0 + 2 * o, e0, o0);
            (e0 + o0).store(t + (o - c0));
          }
          // the piece's stream as a local: pushing through sy[s] kept its last vector in memory,
          // a 64-byte store reloaded by the next push (a round trip every 16 outputs), which on
          // the Zen 4 held the AVX-512 pass to half the AVX2 one's speed (round 12)
          NtStream<T> out = sy[s];
          for (int64_t o = c0; o < c1; o += w) {
            V e1, o1;
            load_deinterleave(r1 + 2 * o, e1, o1);
            out.push(div((V::load(t + (o - c0)) + e1) + o1));
          }
          sy[s] = out;
        }
      });
      for (int s = 0; s <= kReadParts; ++s) sy[s].finish();
      stream_fence();
    });
    return;
  }
  // staged (rows of a partial vector, or y off a vector boundary): no software prefetch (round
  // 44, Zen 4, 126 x 126 planes: 1.06-1.14x faster at 2 threads, 1.10-1.14x at 1 without it)
  const int64_t blk = stage_rows(st, ow * int64_t(sizeof(T)));
  parallel_chunks(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    std::vector<T> sy(st ? blk * ow : 0);
    for (int64_t b0 = b; b0 < e; b0 += st ? blk : e - b) {
      const int64_t e0 = st ? std::min(e, b0 + blk) : e;
      for_rows(b0, e0, g.oh, [&](int64_t p, int64_t r) {
        const T* r0 = x + p * hw + 2 * r * W;
        const T* r1 = r0 + W;
        T* yp = (st ? sy.data() : y) + (p * g.oh + r - (st ? b0 : 0)) * ow;
        int64_t o = 0;
        for (; o + w <= ow; o += w) {  // the generic kernels' order: row by row, left to right
          V e0, o0, e1, o1;
          load_deinterleave(r0 + 2 * o, e0, o0);
          load_deinterleave(r1 + 2 * o, e1, o1);
          div(((e0 + o0) + e1) + o1).store(yp + o);
        }
        if (o < ow) {  // the last n < w windows, masked (the same sums in the same order)
          const int n = static_cast<int>(ow - o);
          V e0, o0, e1, o1;
          column_pair(r0 + 2 * o, 0, n, e0, o0);
          column_pair(r1 + 2 * o, 0, n, e1, o1);
          store_n(div(((e0 + o0) + e1) + o1), yp + o, n);
        }
      });
      if (st) stream_copy(sy.data(), y + b0 * ow, (e0 - b0) * ow);
    }
    if (st) stream_fence();
  });
}

template <class T>
void avg2x2_backward(const T* dy, T* dx, const Pool2dGeom& g, int64_t divisor) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, W = g.w, ow = g.ow;
  const Divide<T> div(divisor ? divisor : 4);
  const bool st = stream_out(g.planes * hw * int64_t(sizeof(T)));
  if (st && direct_2x2_bwd<T>(dx, g)) {
    rowpair_direct(dx, g, [&](int64_t p, int64_t r, int64_t o, V& a0, V& a1, V& b0, V& b1) {
      const T* gy = dy + p * ohw + r * ow + o;
      prefetch_ahead(gy, w * int(sizeof(T)));
      const V d = div(V::load(gy));
      Vec<T>::interleave(d, d, a0, a1);
      b0 = a0;
      b1 = a1;
    });
    return;
  }
  const int64_t blk = stage_rows(st, 2 * W * int64_t(sizeof(T)));
  parallel_chunks(g.planes * g.oh, unit_grain(2 * W), [&](int64_t b, int64_t e) {
    std::vector<T> sd;
    for (int64_t b0 = b; b0 < e; b0 += st ? blk : e - b) {
      const int64_t e0 = st ? std::min(e, b0 + blk) : e;
      const int64_t s0 = st ? tiled_start(g, b0) : 0;
      if (st) sd.resize(static_cast<size_t>(tiled_start(g, e0) - s0));
      T* out = st ? sd.data() : dx;
      for_rows(b0, e0, g.oh, [&](int64_t p, int64_t r) {
        const T* gy = dy + p * ohw + r * ow;
        T* plane = out + p * hw - s0;
        T* d0 = plane + 2 * r * W;
        T* d1 = d0 + W;
        int64_t o = 0;
        for (; o + w <= ow; o += w) {
          if (st) prefetch_ahead(gy + o, w * int(sizeof(T)));
          const V d = div(V::load(gy + o));
          V lo, hi;
          Vec<T>::interleave(d, d, lo, hi);
          lo.store(d0 + 2 * o);
          hi.store(d0 + 2 * o + w);
          lo.store(d1 + 2 * o);
          hi.store(d1 + 2 * o + w);
        }
        if (o < ow) {  // the last n < w windows, masked
          const int n = static_cast<int>(ow - o);
          const V d = div(load_n(gy + o, n));
          V lo, hi;
          Vec<T>::interleave(d, d, lo, hi);
          store_pair_n(lo, hi, d0 + 2 * o, 2 * n);
          store_pair_n(lo, hi, d1 + 2 * o, 2 * n);
        }
        if (W > 2 * ow) d0[W - 1] = d1[W - 1] = T(0);
        if (r == g.oh - 1) std::fill(plane + 2 * g.oh * W, plane + hw, T(0));
      });
      if (st) stream_copy(sd.data(), dx + s0, static_cast<int64_t>(sd.size()));
    }
    if (st) stream_fence();
  });
}
#endif  // __AVX2__

// Global average pooling (output 1 x 1): each plane's sum over 4 accumulators.
inline bool fast_global(int64_t h, int64_t w, int64_t oh, int64_t ow) {
  return oh == 1 && ow == 1 && h > 0 && w > 0 && !fast_disabled();
}

// The sums of a plane's elements [0, body) (body a multiple of 4 vectors) of `n` planes at
// once, x[s] the s-th plane, step by step in lock step (one read stream per plane); acc[s] holds
// plane s's four accumulators. pf: prefetch each plane ahead (one stream: see kReadParts).
template <class T, int n>
inline void sum_planes_lockstep(const T* const* x, int64_t body, Vec<T> (*acc)[4], bool pf) {
  using V = Vec<T>;
  constexpr int w = V::width;
  for (int64_t i = 0; i < body; i += 4 * w) {
#pragma GCC unroll 8
    for (int s = 0; s < n; ++s) {
      if (pf) prefetch_ahead(x[s] + i, 4 * w * int(sizeof(T)));
      acc[s][0] = acc[s][0] + V::load(x[s] + i);
      acc[s][1] = acc[s][1] + V::load(x[s] + i + w);
      acc[s][2] = acc[s][2] + V::load(x[s] + i + 2 * w);
      acc[s][3] = acc[s][3] + V::load(x[s] + i + 3 * w);
    }
  }
}

template <class T>
void global_avg_forward(const T* x, T* y, int64_t planes, int64_t hw) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const bool large = stream_out(planes * hw * int64_t(sizeof(T)));  // a large input
  const int64_t body = hw / (4 * w) * (4 * w);
  // planes p0, p0 + stride, ... (n of them) summed in lock step, then each one's mean
  auto planes_mean = [&](auto n_tag, int64_t p0, int64_t stride, bool pf) {
    constexpr int n = decltype(n_tag)::value;
    const T* xs[n];
    V acc[n][4];
    for (int s = 0; s < n; ++s) {
      xs[s] = x + (p0 + s * stride) * hw;
      acc[s][0] = acc[s][1] = acc[s][2] = acc[s][3] = V::zero();
    }
    sum_planes_lockstep<T, n>(xs, body, acc, pf);
    for (int s = 0; s < n; ++s) {
      V a0 = acc[s][0], a1 = acc[s][1];
      int64_t i = body;
      for (; i + w <= hw; i += w) a0 = a0 + V::load(xs[s] + i);
      if (i < hw) a1 = a1 + V::load(xs[s] + i, static_cast<int>(hw - i));
      y[p0 + s * stride] = ((a0 + a1) + (acc[s][2] + acc[s][3])).reduce_add() / T(hw);
    }
  };
  using One = std::integral_constant<int, 1>;
  if (large && kReadParts > 1) {
    // Each thread's planes as kReadParts pieces, plane i of every piece summed in lock step
    // (kReadParts read streams); every plane's own sums in the one-plane order (the same bits).
    parallel_split(planes, 1, [&](int64_t b, int64_t e) {
      const int64_t len = (e - b) / kReadParts;
      for (int64_t i = 0; i < len; ++i)
        planes_mean(std::integral_constant<int, kReadParts>(), b + i, len, false);
      for (int64_t p = b + kReadParts * len; p < e; ++p) planes_mean(One(), p, 0, false);
    });
    return;
  }
  parallel_chunks(planes, unit_grain(hw), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) planes_mean(One(), p, 0, large);
  });
}

template <class T>
void global_avg_backward(const T* dy, T* dx, int64_t planes, int64_t hw) {
  using V = Vec<T>;
  constexpr int w = V::width;
  const bool st = stream_out(planes * hw * int64_t(sizeof(T)));
  parallel_chunks(planes, unit_grain(hw), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* dp = dx + p * hw;
      const T d = dy[p] / T(hw);
      const V v = V::set1(d);
      int64_t i = 0;
      if (st)  // the head up to a vector boundary, then aligned streaming stores
        for (; i < hw && !aligned_vec(dp + i); ++i) dp[i] = d;
      for (; i + w <= hw; i += w) put(v, dp + i, st);
      for (; i < hw; ++i) dp[i] = d;
    }
    if (st) stream_fence();
  });
}

}  // namespace pool_detail

template <class T>
void max_pool2d_forward_t(const T* x, T* y, int64_t* idx, const Pool2dGeom& g) {
  const int64_t units = g.planes * g.oh, hw = g.h * g.w, ohw = g.oh * g.ow;
  if (units == 0 || g.ow == 0) return;
#if defined(__AVX2__)
  if (pool_detail::fast_2x2(g)) return pool_detail::max2x2_forward(x, y, idx, g);
#endif
  parallel_chunks(units, pool_detail::unit_grain(g.ow * g.kh * g.kw), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / g.oh, oh = i % g.oh;
      pool_detail::max_row(x + p * hw, y + p * ohw + oh * g.ow,
                           idx ? idx + p * ohw + oh * g.ow : nullptr, g, oh);
    }
  });
}

// The training path's forward: y, and a window code an output (pool_detail, "window codes")
// instead of an index, where this ISA has the 2x2/2 fast path for g; false, nothing written,
// elsewhere (the caller saves int64 indices there).
template <class T>
bool max_pool2d_forward_codes_t(const T* x, T* y, uint8_t* codes, const Pool2dGeom& g) {
#if defined(__AVX2__)
  if (!pool_detail::fast_2x2(g)) return false;
  if (g.planes > 0) pool_detail::max2x2_forward(x, y, codes, g);
  return true;
#else
  (void)x, (void)y, (void)codes, (void)g;
  return false;
#endif
}
// Its backward: how many codes lay outside 0..3 (skipped), or -1 where this ISA has no fast path
// for g (the caller then converts the codes to indices).
template <class T>
int64_t max_pool2d_backward_codes_t(const T* dy, const uint8_t* codes, T* dx, const Pool2dGeom& g) {
#if defined(__AVX2__)
  if (pool_detail::fast_2x2(g)) return pool_detail::max2x2_backward(dy, codes, dx, g);
#endif
  (void)dy, (void)codes, (void)dx, (void)g;
  return -1;
}

// Each index must lie in its window's rows (clipped to the plane): the rows a unit owns. The
// others are counted and skipped (the binding raises).
template <class T>
int64_t max_pool2d_backward_t(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g) {
  const int64_t ohw = g.oh * g.ow, span = (g.kh - 1) * g.dh + 1;
#if defined(__AVX2__)
  if (pool_detail::fast_2x2(g)) return pool_detail::max2x2_backward(dy, idx, dx, g);
#endif
  std::atomic<int64_t> bad{0};
  if (pool_detail::exact_tiling(g)) {
    pool_detail::run_tiled_backward(dx, g, [&](int64_t p, int64_t oh, T* plane) {
      const T* gy = dy + p * ohw + oh * g.ow;
      const int64_t* ix = idx + p * ohw + oh * g.ow;
      const int64_t r0 = oh * g.kh;
      int64_t b = 0;
      for (int64_t ow = 0; ow < g.ow; ++ow) {           // each index inside its window
        int64_t off = ix[ow] - (r0 * g.w + ow * g.kw);  // in row r at column c < kw
        bool ok = false;
        for (int64_t r = 0; r < g.kh && !ok; ++r, off -= g.w)
          ok = static_cast<uint64_t>(off) < static_cast<uint64_t>(g.kw);
        b += !ok;
      }
      using V = Vec<T>;
      if (g.kw == 2 && V::width > 1 && g.kh * g.w < (int64_t(1) << 24)) {
        // the window offset of each index as a T lane (exact: < 2^24), compared per row
        alignas(64) T codes[16];
        for (int64_t o = 0; o < g.ow; o += V::width) {
          const int n = static_cast<int>(std::min<int64_t>(V::width, g.ow - o));
          for (int l = 0; l < n; ++l) codes[l] = T(ix[o + l] - (r0 * g.w + 2 * (o + l)));
          const V c = load_n(codes, n), d = load_n(gy + o, n);
          for (int64_t r = 0; r < g.kh; ++r) {
            const V ve = select(c == V::set1(T(r * g.w)), d, V::zero());
            const V vo = select(c == V::set1(T(r * g.w + 1)), d, V::zero());
            V lo, hi;
            Vec<T>::interleave(ve, vo, lo, hi);
            pool_detail::store_pair_n(lo, hi, plane + (r0 + r) * g.w + 2 * o, 2 * n);
          }
        }
        for (int64_t r = 0; r < g.kh; ++r)
          std::fill(plane + (r0 + r) * g.w + 2 * g.ow, plane + (r0 + r + 1) * g.w, T(0));
        if (b) bad += b;
        return;
      }
      for (int64_t r = 0; r < g.kh; ++r) {
        const int64_t base = (r0 + r) * g.w;
        pool_detail::tiled_row(plane + base, g, [&](int64_t ow, int64_t c) {
          return ix[ow] == base + ow * g.kw + c ? gy[ow] : T(0);
        });
      }
      if (b) bad += b;
    });
    return bad.load();
  }
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
#if defined(__AVX2__)
  if (pool_detail::fast_2x2(g)) return pool_detail::avg2x2_forward(x, y, g, divisor);
#endif
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
#if defined(__AVX2__)
  if (pool_detail::fast_2x2(g)) return pool_detail::avg2x2_backward(dy, dx, g, divisor);
#endif
  if (pool_detail::exact_tiling(g)) {
    using V = Vec<T>;
    const T div = T(divisor ? divisor : g.kh * g.kw);
    pool_detail::run_tiled_backward(dx, g, [&](int64_t p, int64_t oh, T* plane) {
      const T* gy = dy + p * ohw + oh * g.ow;
      T* row0 = plane + oh * g.kh * g.w;
      if (g.kw == 2 && V::width > 1) {  // d, d interleaved: two stores per vector
        const V vdiv = V::set1(div);
        for (int64_t r = 0; r < g.kh; ++r) {
          T* out = row0 + r * g.w;
          for (int64_t o = 0; o < g.ow; o += V::width) {
            const int n = static_cast<int>(std::min<int64_t>(V::width, g.ow - o));
            const V d = load_n(gy + o, n) / vdiv;
            V lo, hi;
            Vec<T>::interleave(d, d, lo, hi);
            pool_detail::store_pair_n(lo, hi, out + 2 * o, 2 * n);
          }
          std::fill(out + 2 * g.ow, out + g.w, T(0));
        }
        return;
      }
      for (int64_t r = 0; r < g.kh; ++r) {  // each window's value written kw times
        T* out = row0 + r * g.w;
        for (int64_t ow = 0; ow < g.ow; ++ow)
          std::fill(out + ow * g.kw, out + (ow + 1) * g.kw, gy[ow] / div);
        std::fill(out + g.ow * g.kw, out + g.w, T(0));
      }
    });
    return;
  }
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
  if (pool_detail::fast_global(h, w, oh, ow))
    return pool_detail::global_avg_forward(x, y, planes, h * w);
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
  if (pool_detail::fast_global(h, w, oh, ow))
    return pool_detail::global_avg_backward(dy, dx, planes, h * w);
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

// ---- adaptive max pooling: each output's window is [ad_start, ad_end) in both dimensions and
// its winner the one torch's row-major scan keeps: the last NaN if the window has one, else the
// first maximum. Two steps per output row, each over contiguous memory:
//  1. down the window's rows, row by row, every input column at once (vectors along the width,
//     the columns' running winners in L1): each column's first maximum or last NaN, and its row;
//  2. across each output's columns (w values per output row instead of the window's kh * w),
//     where a tie goes to the smaller flat index and a NaN to the larger one. Step 1 alone
//     would order by column first; the flat index restores the row-major order.
// Two shapes take other roads: one output column (a window is whole rows: one contiguous
// range, range_winner) and windows one or two columns wide tiling the input (max_pool2d's
// kernels).
namespace pool_detail {
// rows ride in T lanes as offsets from the first row: exact up to 2^24 rows for float
template <class T>
inline constexpr int64_t kExactRows = sizeof(T) == 4 ? (int64_t(1) << 24) : (int64_t(1) << 53);

// Step 1 over rows [r0, r1) (at most kExactRows<T>): cm = each column's winner, cr = its row - r0.
template <class T>
void column_winners(const T* xp, int64_t w, int64_t r0, int64_t r1, T* cm, T* cr) {
  using V = Vec<T>;
  constexpr int vw = V::width;
  std::copy(xp + r0 * w, xp + (r0 + 1) * w, cm);
  std::fill(cr, cr + w, T(0));
  auto scalar = [&](const T* row, T r, int64_t c0) {
    for (int64_t c = c0; c < w; ++c)
      if (take(row[c], cm[c])) cm[c] = row[c], cr[c] = r;
  };
  int64_t ih = r0 + 1;
  if constexpr (vw == 1) {
    for (; ih < r1; ++ih) scalar(xp + ih * w, T(ih - r0), 0);
    return;
  }
  // two rows per trip through the running winners (half the loads and stores of them; four
  // rows a trip measured no faster), then the last row; a row's last partial vector in masked
  // loads and stores (a scalar tail cost more than the vectors on 28-wide rows)
  for (; ih < r1; ih += 2) {
    const T* a = xp + ih * w;
    const bool two = ih + 1 < r1;
    const V v0 = V::set1(T(ih - r0)), v1 = V::set1(T(ih + 1 - r0));
    for (int64_t c = 0; c < w; c += vw) {
      const int n = static_cast<int>(std::min<int64_t>(vw, w - c));
      V m = load_n(cm + c, n), r = load_n(cr + c, n);
      auto step = [&](const T* row, V rv) {
        prefetch_ahead(row + c, 1);  // (one line a vector: a few redundant hints, cheap)
        const V v = load_n(row + c, n);
        const auto t = (v > m) | is_nan(v);
        m = select(t, v, m);
        r = select(t, rv, r);
      };
      step(a, v0);
      if (two) step(a + w, v1);
      store_n(m, cm + c, n);
      store_n(r, cr + c, n);
    }
  }
}

// Step 2 for the output over columns [w0, w1): cm the columns' winners, row(j) the input row of
// column j's. Without a NaN (the common case) the maximum first (vectors, no loop-carried
// branch), then the smallest flat index among the columns holding it; with one, the exact
// pairwise walk.
template <class T, class Row>
inline void window_winner(const T* cm, Row&& row, int64_t w, int64_t w0, int64_t w1, T* yo,
                          int64_t* io) {
  using V = Vec<T>;
  constexpr int vw = V::width;
  bool clean = true;
  T m = -std::numeric_limits<T>::infinity();
  int64_t j = w0;
  if (w1 - w0 >= vw) {
    V acc = V::load(cm + j);
    clean = all_lanes(acc == acc);
    for (j += vw; j + vw <= w1; j += vw) {
      const V v = V::load(cm + j);
      clean = clean && all_lanes(v == v);
      acc = max(v, acc);
    }
    m = acc.reduce_max();
  }
  for (; j < w1; ++j) {
    clean = clean & (cm[j] == cm[j]);  // (&, not &&: no branch)
    m = cm[j] > m ? cm[j] : m;
  }
  int64_t mi = std::numeric_limits<int64_t>::max();
  if (clean) {
    int64_t kb = w0;  // the winner's column: its value is the output (-0.0 and 0.0 tie, but
                      // the output is the winner's, sign included, as torch's)
    auto ties = [&](int64_t j0, int64_t j1) {  // conditional moves: a short window's tie is
      for (int64_t k = j0; k < j1; ++k) {      // a coin toss for a branch predictor
        const int64_t fi = row(k) * w + k;
        const int64_t take = -static_cast<int64_t>((cm[k] == m) & (fi < mi));  // all ones or 0
        mi = (fi & take) | (mi & ~take);
        kb = (k & take) | (kb & ~take);
      }
    };
    j = w0;
    if (w1 - w0 >= 2 * vw) {  // long windows: only the vectors holding the maximum (all <= m)
      const V vm = V::set1(m);
      for (; j + vw <= w1; j += vw)
        if (!all_lanes(V::load(cm + j) < vm)) ties(j, j + vw);
    }
    ties(j, w1);
    m = cm[kb];
  } else {
    m = cm[w0];
    mi = row(w0) * w + w0;
    bool nan = m != m;
    for (j = w0 + 1; j < w1; ++j) {
      const T v = cm[j];
      const int64_t fi = row(j) * w + j;
      if (v != v) {
        if (!nan || fi > mi) m = v, mi = fi, nan = true;
      } else if (!nan && (v > m || (v == m && fi < mi))) {
        m = v, mi = fi;
      }
    }
  }
  *yo = m;
  *io = mi;
}
}  // namespace pool_detail

namespace pool_detail {
// One candidate (v at flat index fi) into a window's winner (m at mi; nan: m is a NaN), in any
// order: the NaN with the larger index, else the maximum with the smaller one.
template <class T>
inline void merge_winner(T v, int64_t fi, T& m, int64_t& mi, bool& nan) {
  if (v != v) {
    if (!nan || fi > mi) m = v, mi = fi, nan = true;
  } else if (!nan && (v > m || (v == m && fi < mi))) {
    m = v, mi = fi;
  }
}

// The winner of n contiguous elements (a window of whole rows: one output column, global
// pooling among them), n <= kExactRows<T> (offsets ride in T lanes), from K (maximum, offset)
// vector pairs that scanned the vectors [0, i) of p, each lane's offsets increasing (its first
// maximum or last NaN, as the scan), and the tail [i, n). Without a NaN the maximum is the
// lanes' and the tail's, its offset the smallest among those holding it (a lane that never
// took an element keeps offset n: an all -inf range is won by offset 0); with one, every lane
// and tail element merged by the flat-index rule.
template <class T, int K>
inline void range_winner_finish(const T* p, int64_t n, int64_t i, const Vec<T>* mv,
                                const Vec<T>* ov, T& m, int64_t& mi) {
  using V = Vec<T>;
  constexpr int vw = V::width;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  bool clean = true;
  for (int k = 0; k < K; ++k) clean = clean & all_lanes(mv[k] == mv[k]);
  for (int64_t j = i; j < n; ++j) clean = clean & (p[j] == p[j]);
  alignas(64) T ms[K * vw], os[K * vw];
  for (int k = 0; k < K; ++k) mv[k].store(ms + k * vw), ov[k].store(os + k * vw);
  mi = std::numeric_limits<int64_t>::max();
  if (!clean) {
    bool nan = false;
    m = ninf;
    for (int l = 0; l < K * vw; ++l)
      if (static_cast<int64_t>(os[l]) < n)
        merge_winner(ms[l], static_cast<int64_t>(os[l]), m, mi, nan);
    for (int64_t j = i; j < n; ++j) merge_winner(p[j], j, m, mi, nan);
    if (mi == std::numeric_limits<int64_t>::max()) mi = 0;  // n = 0 or all -inf: not reached
    return;
  }
  V mk = mv[0];
  for (int k = 1; k < K; ++k) mk = max(mk, mv[k]);
  m = mk.reduce_max();
  for (int64_t j = i; j < n; ++j) m = p[j] > m ? p[j] : m;
  if (m == ninf) {  // every element -inf: the first
    mi = 0;
    return;
  }
  for (int l = 0; l < K * vw; ++l) {  // conditional moves, as window_winner's ties
    const int64_t tie = -static_cast<int64_t>(ms[l] == m);
    const int64_t o = static_cast<int64_t>(os[l]);
    mi = std::min(mi, (o & tie) | (std::numeric_limits<int64_t>::max() & ~tie));
  }
  for (int64_t j = i; j < n; ++j)
    if (p[j] == m) mi = std::min(mi, j);
  m = p[mi];  // the winner's value, its sign included (-0.0 and 0.0 tie)
}

// One scan step: pair (mv, ov) takes the vector at p + at where greater or NaN.
template <class T>
inline void winner_step(const T* p, int64_t at, Vec<T> lane, Vec<T>& mv, Vec<T>& ov) {
  const Vec<T> v = Vec<T>::load(p + at);
  const auto t = (v > mv) | is_nan(v);
  mv = select(t, v, mv);
  ov = select(t, lane + Vec<T>::set1(T(at)), ov);
}

// range_winner_finish's pairs for one range: four, each over every fourth vector, the leftover
// vectors into the first.
template <class T>
inline void range_winner(const T* p, int64_t n, T& m, int64_t& mi) {
  using V = Vec<T>;
  constexpr int vw = V::width;
  const V lane = iota<T>();
  V mv[4], ov[4];
  for (int k = 0; k < 4; ++k)
    mv[k] = V::set1(-std::numeric_limits<T>::infinity()), ov[k] = V::set1(T(n));
  int64_t i = 0;
  for (; i + 4 * vw <= n; i += 4 * vw)
    for (int k = 0; k < 4; ++k) winner_step(p, i + k * vw, lane, mv[k], ov[k]);
  for (; i + vw <= n; i += vw) winner_step(p, i, lane, mv[0], ov[0]);
  range_winner_finish<T, 4>(p, n, i, mv, ov, m, mi);
}

// The winners of S ranges of n elements at once, vector i of every range in turn (S read
// streams, as global_avg_forward's lock step), one pair a range: the same winners.
template <class T, int S>
inline void range_winners_lockstep(const T* const* p, int64_t n, T* m, int64_t* mi) {
  using V = Vec<T>;
  constexpr int vw = V::width;
  const V lane = iota<T>();
  V mv[S], ov[S];
  for (int s = 0; s < S; ++s)
    mv[s] = V::set1(-std::numeric_limits<T>::infinity()), ov[s] = V::set1(T(n));
  int64_t i = 0;
  for (; i + vw <= n; i += vw)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) winner_step(p[s], i, lane, mv[s], ov[s]);
  for (int s = 0; s < S; ++s) range_winner_finish<T, 1>(p[s], n, i, mv + s, ov + s, m[s], mi[s]);
}
}  // namespace pool_detail

template <class T>
void adaptive_max_pool2d_forward_t(const T* x, T* y, int64_t* idx, int64_t planes, int64_t h,
                                   int64_t w, int64_t oh, int64_t ow) {
  const int64_t units = planes * oh, hw = h * w, ohw = oh * ow;
  if (units == 0 || ow == 0) return;
  // windows one or two columns wide that tile the input: max pooling's kernels, vectorized
  // along the output row there (the same winners: torch's scan order)
  if (adaptive_is_tiling(h, w, oh, ow) && w / ow <= 2)
    return max_pool2d_forward_t(x, y, idx, adaptive_tiling(planes, h, w, oh, ow));
  const int64_t kh = (h + oh - 1) / oh + 1;
  if (ow == 1 && kh * w <= pool_detail::kExactRows<T>) {  // windows of whole rows: contiguous
    if (oh == 1 && pool_detail::kReadParts > 1 &&
        pool_detail::stream_out(planes * hw * int64_t(sizeof(T)))) {
      // global pooling of a large input: each thread's planes as kReadParts pieces, plane i of
      // every piece scanned in lock step (kReadParts read streams, no software prefetch: as
      // global_avg_forward; round 44 on the Zen 4, bench/mca/pool_ab.py OP=adaptive_max)
      constexpr int S = pool_detail::kReadParts;
      pool_detail::parallel_split(planes, 1, [&](int64_t b, int64_t e) {
        const int64_t len = (e - b) / S;
        for (int64_t i = 0; i < len; ++i) {
          const T* xs[S];
          T ms[S];
          int64_t mis[S];
          for (int s = 0; s < S; ++s) xs[s] = x + (b + i + s * len) * hw;
          pool_detail::range_winners_lockstep<T, S>(xs, hw, ms, mis);
          for (int s = 0; s < S; ++s) y[b + i + s * len] = ms[s], idx[b + i + s * len] = mis[s];
        }
        for (int64_t p = b + S * len; p < e; ++p)
          pool_detail::range_winner(x + p * hw, hw, y[p], idx[p]);
      });
      return;
    }
    parallel_chunks(units, pool_detail::unit_grain(kh * w), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t p = i / oh, r = i % oh;
        const int64_t h0 = pool_detail::ad_start(r, oh, h), h1 = pool_detail::ad_end(r, oh, h);
        T m;
        int64_t mi;
        pool_detail::range_winner(x + p * hw + h0 * w, (h1 - h0) * w, m, mi);
        y[i] = m;
        idx[i] = h0 * w + mi;
      }
    });
    return;
  }
  parallel_chunks(units, pool_detail::unit_grain(kh * w + 2 * w), [&](int64_t b, int64_t e) {
    std::vector<T> buf(4 * static_cast<size_t>(w));
    std::vector<int64_t> rows, cols(2 * static_cast<size_t>(ow));  // no division per output
    T *cm = buf.data(), *cr = cm + w, *cm2 = cr + w, *cr2 = cm2 + w;
    for (int64_t c = 0; c < ow; ++c)
      cols[2 * c] = pool_detail::ad_start(c, ow, w),
               cols[2 * c + 1] = pool_detail::ad_end(c, ow, w);
    for (int64_t i = b; i < e; ++i) {
      const int64_t p = i / oh, r = i % oh;
      const int64_t h0 = pool_detail::ad_start(r, oh, h), h1 = pool_detail::ad_end(r, oh, h);
      const T* xp = x + p * hw;
      T* yp = y + p * ohw + r * ow;
      int64_t* ip = idx + p * ohw + r * ow;
      if (h1 - h0 == 1) {  // one row a window (oh >= h): step 1 has nothing to do
        auto row = [&](int64_t) { return h0; };
        for (int64_t c = 0; c < ow; ++c)
          pool_detail::window_winner(xp + h0 * w, row, w, cols[2 * c], cols[2 * c + 1], yp + c,
                                     ip + c);
        continue;
      }
      pool_detail::column_winners(xp, w, h0, std::min(h1, h0 + pool_detail::kExactRows<T>), cm, cr);
      if (h1 - h0 <= pool_detail::kExactRows<T>) {  // one piece: rows as offsets from h0
        auto row = [&](int64_t j) { return h0 + static_cast<int64_t>(cr[j]); };
        for (int64_t c = 0; c < ow; ++c)
          pool_detail::window_winner(cm, row, w, cols[2 * c], cols[2 * c + 1], yp + c, ip + c);
        continue;
      }
      // float windows of 2^24+ rows: step 1 in pieces of kExactRows rows, a later piece's
      // column winner taken as a later row would be (greater, or NaN)
      rows.resize(static_cast<size_t>(w));
      for (int64_t c = 0; c < w; ++c) rows[c] = h0 + static_cast<int64_t>(cr[c]);
      for (int64_t r0 = h0 + pool_detail::kExactRows<T>; r0 < h1;
           r0 += pool_detail::kExactRows<T>) {
        const int64_t r1 = std::min(h1, r0 + pool_detail::kExactRows<T>);
        pool_detail::column_winners(xp, w, r0, r1, cm2, cr2);
        for (int64_t c = 0; c < w; ++c)
          if (pool_detail::take(cm2[c], cm[c]))
            cm[c] = cm2[c], rows[c] = r0 + static_cast<int64_t>(cr2[c]);
      }
      auto row = [&](int64_t j) { return rows[j]; };
      for (int64_t c = 0; c < ow; ++c)
        pool_detail::window_winner(cm, row, w, cols[2 * c], cols[2 * c + 1], yp + c, ip + c);
    }
  });
}

// dx: dy at each output's index, summed where overlapping windows chose the same input, zeros
// elsewhere. Returns how many indices lay outside their window (those are skipped). A large dx
// with few outputs a plane (global pooling) is zeroed with streaming stores, as the copy it is
// measured against writes: the scatter then touches at most one line in 16 of them.
template <class T>
int64_t adaptive_max_pool2d_backward_t(const T* dy, const int64_t* idx, T* dx, int64_t planes,
                                       int64_t h, int64_t w, int64_t oh, int64_t ow) {
  using V = Vec<T>;
  const int64_t hw = h * w, ohw = oh * ow;
  if (adaptive_is_tiling(h, w, oh, ow) && w / ow <= 2)  // as the forward
    return max_pool2d_backward_t(dy, idx, dx, adaptive_tiling(planes, h, w, oh, ow));
  const bool st = pool_detail::stream_out(planes * hw * int64_t(sizeof(T))) && ohw * 16 <= hw;
  std::atomic<int64_t> bad{0};
  parallel_chunks(planes, pool_detail::unit_grain(hw + 2 * ohw), [&](int64_t b, int64_t e) {
    int64_t nb = 0;
    std::vector<int64_t> cols(2 * static_cast<size_t>(ow));  // no division per output
    for (int64_t c = 0; c < ow; ++c)
      cols[2 * c] = pool_detail::ad_start(c, ow, w),
               cols[2 * c + 1] = pool_detail::ad_end(c, ow, w);
    for (int64_t p = b; p < e; ++p) {
      T* dxp = dx + p * hw;
      if (st) {
        int64_t i = 0;
        for (; i < hw && !pool_detail::aligned_vec(dxp + i); ++i) dxp[i] = T(0);
        for (; i + V::width <= hw; i += V::width) pool_detail::put(V::zero(), dxp + i, true);
        for (; i < hw; ++i) dxp[i] = T(0);
      } else {
        std::fill(dxp, dxp + hw, T(0));
      }
      for (int64_t r = 0; r < oh; ++r) {
        const int64_t h0 = pool_detail::ad_start(r, oh, h), h1 = pool_detail::ad_end(r, oh, h);
        const int64_t* ip = idx + p * ohw + r * ow;
        const T* gy = dy + p * ohw + r * ow;
        for (int64_t c = 0; c < ow; ++c) {
          const int64_t w0 = cols[2 * c], w1 = cols[2 * c + 1], i = ip[c];
          // inside the window: in its rows [h0, h1), at a column in [w0, w1) (short windows
          // walk down their rows, tall ones divide)
          bool in = i >= h0 * w && i < h1 * w;
          if (in) {
            int64_t off = i - h0 * w;
            if (h1 - h0 <= 8)
              while (off >= w) off -= w;
            else
              off = i % w;
            in = off >= w0 && off < w1;
          }
          if (in)
            dxp[i] += gy[c];
          else
            ++nb;
        }
      }
    }
    if (st) stream_fence();
    if (nb) bad += nb;
  });
  return bad.load();
}

#define DG_POOL_DEFS(T)                                                                        \
  void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dGeom& g) {               \
    max_pool2d_forward_t(x, y, idx, g);                                                        \
  }                                                                                            \
  int64_t max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dGeom& g) {   \
    return max_pool2d_backward_t(dy, idx, dx, g);                                              \
  }                                                                                            \
  bool max_pool2d_forward_codes(const T* x, T* y, uint8_t* codes, const Pool2dGeom& g) {       \
    return max_pool2d_forward_codes_t(x, y, codes, g);                                         \
  }                                                                                            \
  int64_t max_pool2d_backward_codes(const T* dy, const uint8_t* codes, T* dx,                  \
                                    const Pool2dGeom& g) {                                     \
    return max_pool2d_backward_codes_t(dy, codes, dx, g);                                      \
  }                                                                                            \
  void avg_pool2d_forward(const T* x, T* y, const Pool2dGeom& g, bool include_pad,             \
                          int64_t divisor) {                                                   \
    avg_pool2d_forward_t(x, y, g, include_pad, divisor);                                       \
  }                                                                                            \
  void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeom& g, bool include_pad,          \
                           int64_t divisor) {                                                  \
    avg_pool2d_backward_t(dy, dx, g, include_pad, divisor);                                    \
  }                                                                                            \
  void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w,     \
                                   int64_t oh, int64_t ow) {                                   \
    adaptive_avg_pool2d_forward_t(x, y, planes, h, w, oh, ow);                                 \
  }                                                                                            \
  void adaptive_avg_pool2d_backward(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w,  \
                                    int64_t oh, int64_t ow) {                                  \
    adaptive_avg_pool2d_backward_t(dy, dx, planes, h, w, oh, ow);                              \
  }                                                                                            \
  void adaptive_max_pool2d_forward(const T* x, T* y, int64_t* idx, int64_t planes, int64_t h,  \
                                   int64_t w, int64_t oh, int64_t ow) {                        \
    adaptive_max_pool2d_forward_t(x, y, idx, planes, h, w, oh, ow);                            \
  }                                                                                            \
  int64_t adaptive_max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, int64_t planes, \
                                       int64_t h, int64_t w, int64_t oh, int64_t ow) {         \
    return adaptive_max_pool2d_backward_t(dy, idx, dx, planes, h, w, oh, ow);                  \
  }
DG_POOL_DEFS(float)
DG_POOL_DEFS(double)
#undef DG_POOL_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
