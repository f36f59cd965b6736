// Winograd F(2x2, 3x3) convolution for conv.h (ConvAlgo::winograd): 3x3 kernel, stride 1,
// dilation 1, one group, padding <= 2 (so that dx, the same convolution of dy padded by 2 - p
// with the weights transposed and flipped, is one too). Each 2x2 output tile is
// A^T [(G g G^T) . (B^T d B)] A for its 4x4 input patch d: 16 multiplies per channel pair
// instead of 36, i.e. 16 products (one per transformed position xi), each O x C by C x tiles.
// - The filters are transformed once per call, U[xi] (cout x cin), straight into the register
//   tile's panels (wino_filter).
// - The tiles (q = (n * th + ty) * tw + tx over the batch) are cut into blocks of a few dozen to
//   a few hundred, sized so that the block's transformed input V (16 x cin x nb) and products M
//   (16 x cout x nb) stay in L2; per block: input transform into V (vectors along tx, from
//   zero-padded row copies deinterleaved by permutes, Vec::deinterleave in simd.h), the 16 products
//   (wino_products: an 8 x 3 vector register tile on AVX-512, 6 x 2 on AVX2, k = cin; gemm()'s
//   small-product path ran 12 x 1 tiles here, one load per FMA), output transform (+ bias)
//   interleaved into y. The whole batch's transform is never materialized.
// - Threads split the blocks (OpenMP, static: each block is computed by one thread, so the
//   result does not depend on the thread count).
// - Rows of fewer tiles than a vector (8x8 images: 4 tiles a row) would fill a fraction of the
//   vectors along tx: there the forward and dx run channels-last instead (wino_batch_cl: dw's
//   staging and transforms, the products on vectors of output channels).
// - dw (winograd_backward_dw): G^T [sum over the tiles of (A dY A^T) . (B^T d B)] G, the tiles
//   as the products' reduction, channels-last transforms (see there).
// - ConvAlgo::automatic: the forward (winograd_pays) and the backward (dx and dw,
//   winograd_bwd_pays) on AVX2 and AVX-512, from 32 input and output channels on (the AVX-512
//   forward from 16 output columns on), from 16 where the rows are narrow; dw alone from 16
//   channels on (winograd_dw_pays).
// float32 error (the transforms only add, subtract and halve): max |error| / max |y| against
// float64 measured 1.6e-7 to 3.8e-7 for y and dx on the C32 and C64 benchmark layers, the same
// order as the tap and im2col paths (2e-7 to 1e-6). F(4x4, 3x3) (4x fewer multiplies, larger
// transform constants and error) is not implemented.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace conv_detail {

// Whether a fast path's outputs are all finite, gathered while they are in registers, for
// conv.h's fallback (see conv2d_forward_t): FiniteAcc::add folds v * 0 into an accumulator
// (+-0 for a finite lane, NaN for an inf or a NaN; an FMA, which the adds and shuffles of the
// transforms and copies leave room for), and each thread reports once into the call's
// FiniteFlag. Lanes past the end of a row are loaded as zero or computed from zero padding, so
// they are finite when the inputs are.
template <class T>
struct FiniteAcc {
  Vec<T> acc = Vec<T>::zero();
  void add(Vec<T> v) { acc = fmadd(v, Vec<T>::zero(), acc); }
  bool ok() const { return all_lanes(acc == acc); }
};
struct FiniteFlag {
  std::atomic<bool> bad{false};
  void note(bool ok) {
    if (!ok) bad.store(true, std::memory_order_relaxed);
  }
  bool ok() const { return !bad.load(); }
};

inline bool winograd_applies(const Conv2dParams& p) {
  return p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 &&
         p.groups == 1 && p.ph <= 2 && p.pw <= 2;
}

// Whether a row of output tiles (wout / 2, rounded up) fills less than a vector of T: the
// forward-shaped products (winograd_forward, winograd_backward_dx) then run channels-last
// (wino_batch_cl) on AVX2 and AVX-512.
template <class T>
inline bool wino_narrow(int64_t wout) {
  return (wout + 1) / 2 < Vec<T>::width;
}

// Whether ConvAlgo::automatic picks Winograd for the forward (where the tap path would run).
// On AVX2 from 32 input and output channels on, measured 1.2x-1.4x faster than the tap path
// at 1 and 2 threads (docs/BENCHMARKS.md); on AVX-512 from 32 channels and 16 output columns on
// (8 tiles a row: half a float32 vector), measured 1.2x-1.8x faster at 1 and 2 threads on the
// C32, C64 and C128 layers (round 6, after the prefetches), while 8x8 images (4 tiles a row)
// were no faster then. Narrow rows run channels-last since round 15, and from 16 channels on:
// on the Zen 4 the N64 C16 8x8 -> 32 forward 1.44x (AVX2) / 1.45x (AVX-512) faster than the
// tap path at 1 thread, 1.35x / 1.23x at 2. The generic build is not measured and does not pick
// it.
template <class T>
inline bool winograd_pays(const Conv2dParams& p) {
#if defined(__AVX512F__)
  return winograd_applies(p) && ((p.c >= 32 && p.o >= 32 && p.wo >= 16) ||
                                 (wino_narrow<T>(p.wo) && p.c >= 16 && p.o >= 16));
#elif defined(__AVX2__)
  return winograd_applies(p) &&
         ((p.c >= 32 && p.o >= 32) || (wino_narrow<T>(p.wo) && p.c >= 16 && p.o >= 16));
#else
  (void)p;
  return false;
#endif
}

// Whether ConvAlgo::automatic picks Winograd for the backward (dx and dw by Winograd instead of
// the fused tap backward): on AVX2 and AVX-512 from 32 input and output channels on, measured
// 1.1x-1.8x faster at 1 and 2 threads on C32, C64 and C128 layers, 8x8 to 56x56 images
// (docs/BENCHMARKS.md, round 5); from 16 channels on where dx's rows are narrow (channels-last:
// the N64 C16 8x8 dx 1.49x-1.66x faster than the tap path's at 1 thread on the Zen 4, round 15).
// The generic build is not measured and does not pick it.
template <class T>
inline bool winograd_bwd_pays(const Conv2dParams& p) {
#if defined(__AVX2__)
  return winograd_applies(p) &&
         ((p.c >= 32 && p.o >= 32) || (wino_narrow<T>(p.w) && p.c >= 16 && p.o >= 16));
#else
  (void)p;
  return false;
#endif
}

// Whether ConvAlgo::automatic computes dw alone by Winograd where the backward otherwise runs
// the tap path (dx and db stay on it): on AVX2 and AVX-512 from 16 input and output channels
// on. On the Zen 3 (round 8, dw alone, 1 and 2 threads) Winograd's dw was 1.25x-1.7x faster
// than the tap path's on C16 and C24 layers (8x8 to 32x32), slower at 3 and 8 channels; its dx
// was slower than the tap path's below 32 channels. AVX-512 on the Zen 4 (round 15, once dw's
// register tile fit the channels: winograd_backward_dw): 1.8x-1.9x faster on the N64 C16 8x8
// layer at 1 and 2 threads (docs/BENCHMARKS.md); not measured on a Sapphire Rapids.
inline bool winograd_dw_pays(const Conv2dParams& p) {
#if defined(__AVX2__)
  return winograd_applies(p) && p.c >= 16 && p.o >= 16;
#else
  (void)p;
  return false;
#endif
}

// The block's V and M, in bytes: a quarter of a 2 MB L2 (measured: 256 KB to 1 MB within noise,
// 512 KB best on both ISAs).
inline constexpr int64_t kWinoBlockBytes = int64_t(512) << 10;
// The fewest tiles in a block where the channels are many (the L2 budget above allows 8 at
// C512 -> 512): each block streams all 16 x cin x cout of U (the forward) or adds into all of
// dU (dw).
inline constexpr int64_t kWinoMinBlock = 64;
// Below this many multiply-adds (16 cin cout per tile) a call runs on the calling thread.
inline constexpr double kWinoParallelMinWork = double(int64_t(1) << 18);

inline int64_t wino_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct WinoGeom {
  int64_t n, cin, cout, hin, win, hout, wout, ph, pw, th, tw;
  int64_t ntiles() const { return n * th * tw; }
};

inline WinoGeom wino_geom(int64_t n, int64_t cin, int64_t cout, int64_t hin, int64_t win,
                          int64_t hout, int64_t wout, int64_t ph, int64_t pw) {
  return {n, cin, cout, hin, win, hout, wout, ph, pw, (hout + 1) / 2, (wout + 1) / 2};
}

// The 3x3 filters as wino_filter reads them: g(oc, ci)(ky, kx) = w[oc so + ci sc + ky sy + kx sx],
// the forward's (oc, ci) or, for dx, the weights transposed and flipped (w offset to their last
// tap, sy and sx negative).
template <class T>
struct WinoW {
  const T* w;
  int64_t so, sc, sy, sx;
  T operator()(int64_t oc, int64_t ci, int ky, int kx) const {
    return w[oc * so + ci * sc + ky * sy + kx * sx];
  }
};

// U = G g G^T of one (or, with Vec lanes, several) filter(s), G = [[1, 0, 0], [1/2, 1/2, 1/2],
// [1/2, -1/2, 1/2], [0, 0, 1]]: g(ky, kx) = gf(ky, kx), U[xi] stored by put(xi, value).
template <class S, class GF, class PUT>
inline void wino_filter_one(GF gf, PUT put) {
  const S h = S::set1(0.5);
  S g[3][3], t[4][3];
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx) g[ky][kx] = gf(ky, kx);
  for (int k = 0; k < 3; ++k) {
    t[0][k] = g[0][k];
    t[1][k] = h * (g[0][k] + g[1][k] + g[2][k]);
    t[2][k] = h * (g[0][k] - g[1][k] + g[2][k]);
    t[3][k] = g[2][k];
  }
  for (int a = 0; a < 4; ++a) {
    put(4 * a + 0, t[a][0]);
    put(4 * a + 1, h * (t[a][0] + t[a][1] + t[a][2]));
    put(4 * a + 2, h * (t[a][0] - t[a][1] + t[a][2]));
    put(4 * a + 3, t[a][2]);
  }
}

// One lane of wino_filter_one's arithmetic (the same operations as a Vec's: the same bits).
template <class T>
struct WinoScalar {
  T v;
  static WinoScalar set1(double x) { return {T(x)}; }
  friend WinoScalar operator+(WinoScalar a, WinoScalar b) { return {a.v + b.v}; }
  friend WinoScalar operator-(WinoScalar a, WinoScalar b) { return {a.v - b.v}; }
  friend WinoScalar operator*(WinoScalar a, WinoScalar b) { return {a.v * b.v}; }
};

// The transformed filters packed for a register tile of P output channels, U[xi] at
// up[((xi * panels + oc / P) * cin + ci) * P + oc % P], panels = ceil(cout / P) (the padded
// output channels of the last panel: zero). Written straight into a buffer reused across calls
// (reused_scratch: one per caller), the panels split between the threads when the filters are
// large, a vector of output channels at a time where P is whole vectors (their 9 taps gathered
// from w). At C512 -> 512 (16 MiB of U) a fresh, zero-filled U transformed a filter at a time
// on one thread, then repacked, took half of the 7x7 forward's time (round 16).
template <class T>
const T* wino_filter(int64_t cout, int64_t cin, int64_t P, const WinoW<T>& wf) {
  using V = Vec<T>;
  constexpr int W = V::width;
  struct Packed;
  const int64_t panels = wino_ceil_div(cout, P), ocs = panels * P;
  T* const up = reused_scratch<T, Packed>(size_t(16 * ocs * cin));
  const int64_t ms = panels * cin * P;  // one xi's matrix
  // gathered where P is whole vectors and the lanes' offsets fit vgatherdps' 32-bit indices
  const bool vec = W > 1 && P % W == 0 && std::abs(wf.so) * W < (int64_t(1) << 31);
  const int nt = double(ocs) * double(cin) * 16.0 > kWinoParallelMinWork ? num_threads() : 1;
  place_team(nt);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t pn = 0; pn < panels; ++pn)
    for (int64_t ci = 0; ci < cin; ++ci) {
      T* const row = up + (pn * cin + ci) * P;  // U[0][pn][ci][0 .. P)
      int64_t r = 0;
      for (; vec && r < P && pn * P + r + W <= cout; r += W) {
        const T* g = wf.w + (pn * P + r) * wf.so + ci * wf.sc;
        wino_filter_one<V>(
            [&](int ky, int kx) { return V::gather(g + ky * wf.sy + kx * wf.sx, wf.so); },
            [&](int xi, V u) { u.store(row + xi * ms + r); });
      }
      for (; r < P; ++r) {
        const int64_t oc = pn * P + r;
        if (oc >= cout) {
          for (int xi = 0; xi < 16; ++xi) row[xi * ms + r] = T(0);
          continue;
        }
        using S = WinoScalar<T>;
        wino_filter_one<S>([&](int ky, int kx) { return S{wf(oc, ci, ky, kx)}; },
                           [&](int xi, S u) { row[xi * ms + r] = u.v; });
      }
    }
  return up;
}

template <class T>
struct WinoScratch {
  std::vector<T> v, m, rows;
  // n elements from a 64-byte boundary (no vector store splits a cache line)
  static T* get(std::vector<T>& b, int64_t n) {
    constexpr int64_t pad = 64 / int64_t(sizeof(T));
    if (int64_t(b.size()) < n + pad) b.resize(size_t(n + pad));
    const auto a = reinterpret_cast<std::uintptr_t>(b.data());
    return b.data() + ((64 - a % 64) % 64) / sizeof(T);
  }
};

template <class T>
WinoScratch<T>& wino_scratch() {
  thread_local WinoScratch<T> s;
  return s;
}

// The distance between V's (or M's) 16 matrices of rows x ld: one cache line more than a
// matrix, so that the transforms' 16 accesses per vector (one per matrix) do not all fall into
// one L1 set (rows x ld is a multiple of 4 KB at the benchmark shapes).
template <class T>
inline int64_t wino_xi_stride(int64_t rows, int64_t ld) {
  return rows * ld + 64 / int64_t(sizeof(T));
}

// pr[0, len) <- row[ix0 + k] for k in [k0, k1), zero elsewhere (all zero if row is null), by whole
// vectors: it may write up to W - 1 + k0 elements past len (the rows have room). Inline vector
// copies: memcpy and fill calls on these rows of a few dozen elements were 12% of the AVX-512
// forward's samples.
template <class T>
inline void wino_row_copy(const T* row, int64_t ix0, int64_t k0, int64_t k1, int64_t len, T* pr) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t k = 0;
  if (row) {
    for (; k < k0; ++k) pr[k] = T(0);
    for (; k + W <= k1; k += W) V::load(row + (ix0 + k)).store(pr + k);
    if (k < k1) {
      V::load(row + (ix0 + k), static_cast<int>(k1 - k)).store(pr + k);
      k += W;
    }
  }
  for (; k < len; k += W) V::zero().store(pr + k);
}

// A segment: the tiles [q, q + cnt) of the batch's enumeration (q = (n th + ty) tw + tx), all in
// tile row ty of image n, from column tx.
struct WinoSeg {
  int64_t q, n, ty, tx, cnt;
};

// The segment that starts at tile q and ends at the row's end or at tile q1, whichever is first.
inline WinoSeg wino_seg(const WinoGeom& g, int64_t q, int64_t q1) {
  const int64_t ts = g.th * g.tw, r = q % ts, tx = r % g.tw;
  return {q, q / ts, r / g.tw, tx, std::min(g.tw - tx, q1 - q)};
}

// f(segment) for the segments of tiles [q0, q1), in order.
template <class F>
inline void wino_segments(const WinoGeom& g, int64_t q0, int64_t q1, F&& f) {
  for (int64_t q = q0; q < q1;) {
    const WinoSeg sg = wino_seg(g, q, q1);
    f(sg);
    q += sg.cnt;
  }
}

// The input transform of the tiles (n, ty, tx0 .. tx0 + cnt) into V's columns j0 .. j0 + cnt
// (V: 16 matrices cin x ld). B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
// rows: the patch's 4 input rows, zero-padded copies of rl >= 2 W ceil(cnt / W) + 2 elements
// starting at column 2 tx0 - pw; each vector of W tiles reads 2 W + 2 of them, deinterleaved.
// The input rows that the next segment will read and this one does not: prefetched into L2
// channel by channel while this segment is transformed (the planes are read in short strided
// pieces that the hardware prefetchers do not follow: without this, the loads of the input
// rows took about half of the AVX-512 forward's transform time).
template <class T>
struct WinoNext {
  const T* img = nullptr;           // the next segment's image (null: none)
  int64_t iy0 = 0, c0 = 0, c1 = 0;  // rows iy0 .. iy0 + nr, columns [c0, c1) (clipped)
  int nr = 0;
};

template <class T>
WinoNext<T> wino_next(const WinoGeom& g, const T* in, int64_t q, int64_t cnt) {
  WinoNext<T> f;
  const int64_t nt = g.ntiles();
  if (q + cnt >= nt) return f;
  const WinoSeg a = wino_seg(g, q, nt), b = wino_seg(g, q + cnt, nt);
  const int skip = b.n == a.n && b.ty == a.ty + 1 && b.tx == a.tx && b.cnt == cnt ? 2 : 0;
  const int64_t ix0 = 2 * b.tx - g.pw;
  f.c0 = std::max<int64_t>(0, ix0);
  f.c1 = std::min(g.win, ix0 + 2 * b.cnt + 2);
  if (f.c1 <= f.c0) return f;
  f.img = in + b.n * g.cin * g.hin * g.win;
  f.iy0 = 2 * b.ty - g.ph + skip;
  f.nr = 4 - skip;
  return f;
}

template <class T>
inline void wino_prefetch_next(const WinoGeom& g, const WinoNext<T>& f, int64_t ci) {
  if (!f.img) return;
  constexpr int64_t line = 64 / int64_t(sizeof(T));
  for (int r = 0; r < f.nr; ++r) {
    const int64_t iy = f.iy0 + r;
    if (iy < 0 || iy >= g.hin) continue;
    const T* row = f.img + (ci * g.hin + iy) * g.win;
    for (int64_t k = f.c0; k < f.c1; k += line) __builtin_prefetch(row + k, 0, 2);
    __builtin_prefetch(row + f.c1 - 1, 0, 2);
  }
}

template <class T>
void wino_in_segment(const WinoGeom& g, const T* in, int64_t n, int64_t ty, int64_t tx0,
                     int64_t cnt, T* v, int64_t ld, int64_t j0, T* rows, int64_t rl,
                     const WinoNext<T>& next) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t ix0 = 2 * tx0 - g.pw;
  const int64_t len = 2 * wino_ceil_div(cnt, W) * W + 2;  // <= rl
  // the row's valid columns [k0, k1) of [0, len)
  const int64_t k0 = std::min(len, std::max<int64_t>(0, -ix0));
  const int64_t k1 = std::max(k0, std::min(len, g.win - ix0));
  const int64_t vs = wino_xi_stride<T>(g.cin, ld);
  for (int64_t ci = 0; ci < g.cin; ++ci) {
    const T* plane = in + (n * g.cin + ci) * g.hin * g.win;
    wino_prefetch_next(g, next, ci);
    for (int r = 0; r < 4; ++r) {
      const int64_t iy = 2 * ty - g.ph + r;
      const bool inside = iy >= 0 && iy < g.hin && k1 > k0;
      wino_row_copy(inside ? plane + iy * g.win : nullptr, ix0, k0, k1, len, rows + r * rl);
    }
    T* vc = v + ci * ld + j0;
    for (int64_t i = 0; i < cnt; i += W) {
      const int nl = static_cast<int>(std::min<int64_t>(W, cnt - i));
      V hm[4][4];
      for (int r = 0; r < 4; ++r) {
        const T* pr = rows + r * rl + 2 * i;
        V d0, d1, d2, d3;
        V::deinterleave(V::load(pr), V::load(pr + W), d0, d1);
        V::deinterleave(V::load(pr + 2), V::load(pr + 2 + W), d2, d3);
        hm[r][0] = d0 - d2;
        hm[r][1] = d1 + d2;
        hm[r][2] = d2 - d1;
        hm[r][3] = d1 - d3;
      }
      V a[16];  // V[xi] for xi = 4 r + k
      for (int k = 0; k < 4; ++k) {
        a[k] = hm[0][k] - hm[2][k];
        a[4 + k] = hm[1][k] + hm[2][k];
        a[8 + k] = hm[2][k] - hm[1][k];
        a[12 + k] = hm[1][k] - hm[3][k];
      }
      T* vp = vc + i;
      if (nl == W) {
        for (int xi = 0; xi < 16; ++xi, vp += vs) a[xi].store(vp);
      } else {
        for (int xi = 0; xi < 16; ++xi, vp += vs) a[xi].store(vp, nl);
      }
    }
  }
}

// The first n (0 < n < 2 W) of the 2 W values lo, hi into p.
template <class T>
inline void wino_store2(Vec<T> lo, Vec<T> hi, T* p, int n) {
  constexpr int W = Vec<T>::width;
  if (n < W) {
    lo.store(p, n);
  } else {
    lo.store(p);
    if (n > W) hi.store(p + W, n - W);
  }
}

// One tile's output transform A^T M A + b (A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]), M[xi] in a[xi]
// (xi = 4 r + k), into y[0] y[1] (output row 0) and y[2] y[3] (row 1); whether they are finite
// into fin. Vectors along the tiles (wino_out_segment) or along the output channels
// (wino_batch_cl).
template <class T>
inline void wino_out_tile(const Vec<T> (&a)[16], Vec<T> b, Vec<T> (&y)[4], FiniteAcc<T>& fin) {
  Vec<T> t0[4], t1[4];
  for (int k = 0; k < 4; ++k) {
    t0[k] = a[k] + a[4 + k] + a[8 + k];
    t1[k] = a[4 + k] - a[8 + k] - a[12 + k];
  }
  y[0] = t0[0] + t0[1] + t0[2] + b;
  y[1] = t0[1] - t0[2] - t0[3] + b;
  y[2] = t1[0] + t1[1] + t1[2] + b;
  y[3] = t1[1] - t1[2] - t1[3] + b;
  for (int i = 0; i < 4; ++i) fin.add(y[i]);
}

// The output transform of M's columns j0 .. j0 + cnt (tiles (n, ty, tx0 ..)) into out, + bias
// (wino_out_tile). Whole vectors of tiles inside the row are stored straight into out
// (interleaved), the rest by masked stores.
template <class T>
void wino_out_segment(const WinoGeom& g, const T* m, int64_t ld, int64_t j0, int64_t n, int64_t ty,
                      int64_t tx0, int64_t cnt, const T* bias, T* out, int64_t qnext,
                      FiniteAcc<T>& fin) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t oy = 2 * ty, ox0 = 2 * tx0;
  const int64_t ncol = std::min<int64_t>(2 * cnt, g.wout - ox0);
  const bool two = oy + 1 < g.hout;
  const int64_t ms = wino_xi_stride<T>(g.cout, ld);
  // the next segment's output rows, prefetched for writing channel by channel (as the input's)
  T* pf = nullptr;
  int64_t pc0 = 0, pc1 = 0, pnr = 0;
  if (qnext < g.ntiles()) {
    const WinoSeg nx = wino_seg(g, qnext, g.ntiles());
    pc0 = 2 * nx.tx, pc1 = std::min(g.wout, 2 * (nx.tx + nx.cnt));
    pnr = std::min<int64_t>(2, g.hout - 2 * nx.ty);
    pf = out + (nx.n * g.cout * g.hout + 2 * nx.ty) * g.wout;
  }
  for (int64_t oc = 0; oc < g.cout; ++oc) {
    const T* mc = m + oc * ld + j0;
    const V bv = V::set1(bias ? bias[oc] : T(0));
    T* y0 = out + ((n * g.cout + oc) * g.hout + oy) * g.wout + ox0;
    T* y1 = y0 + g.wout;
    if (pf) {
      constexpr int64_t line = 64 / int64_t(sizeof(T));
      for (int64_t r = 0; r < pnr; ++r) {
        T* row = pf + (oc * g.hout + r) * g.wout;
        for (int64_t k = pc0; k < pc1; k += line) __builtin_prefetch(row + k, 1, 2);
        __builtin_prefetch(row + pc1 - 1, 1, 2);
      }
    }
    for (int64_t i = 0; i < cnt; i += W) {
      const int nl = static_cast<int>(std::min<int64_t>(W, cnt - i));
      V a[16];  // M[xi] for xi = 4 r + k, one pointer walking the 16 rows
      const T* mp = mc + i;
      if (nl == W) {
        for (int xi = 0; xi < 16; ++xi, mp += ms) a[xi] = V::load(mp);
      } else {
        for (int xi = 0; xi < 16; ++xi, mp += ms) a[xi] = V::load(mp, nl);
      }
      V y[4];
      wino_out_tile(a, bv, y, fin);
      V lo0, hi0, lo1, hi1;
      V::interleave(y[0], y[1], lo0, hi0);
      V::interleave(y[2], y[3], lo1, hi1);
      if (2 * (i + W) <= ncol) {
        lo0.store(y0 + 2 * i);
        hi0.store(y0 + 2 * i + W);
        if (two) {
          lo1.store(y1 + 2 * i);
          hi1.store(y1 + 2 * i + W);
        }
      } else {  // 0 < rest < 2 W columns: masked stores (memcpy calls cost 5% here)
        const int rest = static_cast<int>(ncol - 2 * i);
        wino_store2(lo0, hi0, y0 + 2 * i, rest);
        if (two) wino_store2(lo1, hi1, y1 + 2 * i, rest);
      }
    }
  }
}

// The 16 products of a block, M[xi] (cout x nq) = U[xi] (cout x cin) @ V[xi] (cin x nq), by a
// register tile of MR output channels x NV vectors of tiles: per input channel NV loads of V and
// MR broadcasts of U (packed per xi in panels of MR channels: up[xi][panel][ci][MR], zero past
// cout) for MR * NV FMAs. The tile's V panel (cin x NV W) stays in L1 across the panels of U.
#if defined(__AVX512F__)
inline constexpr int kWinoMR = 8, kWinoNV = 3;
#elif defined(__AVX2__)
inline constexpr int kWinoMR = 6, kWinoNV = 2;
#else
inline constexpr int kWinoMR = 4, kWinoNV = 1;
#endif

// One MR x NV W tile of C = A^T B over k: A's row p is ap + p as (MR values, broadcast; with
// StridedA the r-th at ap + p as + r ars), B's row p is bp + p bs (NV vectors); the first rows of
// C's MR rows (row stride cs) are overwritten, or added into with Acc (dw's partial sums).
template <class T, bool Acc, int MR = kWinoMR, int NV = kWinoNV, bool StridedA = false>
inline void wino_tile(const T* __restrict ap, int64_t as, const T* __restrict bp, int64_t bs,
                      int64_t k, T* __restrict c, int64_t cs, int rows, int64_t ars = 1) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int64_t p = 0; p < k; ++p, bp += bs, ap += as) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = V::load(bp + v * W);
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(ap[StridedA ? r * ars : r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, b[v], acc[r][v]);
    }
  }
  const auto put = [&](int r) {
    for (int v = 0; v < NV; ++v) {
      T* cp = c + r * cs + v * W;
      if constexpr (Acc) {
        (V::load(cp) + acc[r][v]).store(cp);
      } else {
        acc[r][v].store(cp);
      }
    }
  };
  if (rows == MR) {
    for (int r = 0; r < MR; ++r) put(r);
  } else {
    for (int r = 0; r < rows; ++r) put(r);
  }
}

// v: [xi][ci][ld], m: [xi][oc][ld]; the columns [0, nq) rounded up to whole NV W panels (ld is a
// multiple of NV W; the columns past nq hold finite leftovers that are never read back). xi
// outermost: a tile's consecutive k rows of V are ld apart, not 16 ld (16 ld floats was a
// multiple of 2 KB or 4 KB at the benchmark shapes, so a tile's V panel fell into a few L1 sets
// and was re-read from L2 for every panel of U).
template <class T>
void wino_products(const WinoGeom& g, const T* up, const T* v, T* m, int64_t ld, int64_t nq) {
  constexpr int NR = kWinoNV * Vec<T>::width;
  const int64_t np = wino_ceil_div(g.cout, kWinoMR);
  const int64_t vs = wino_xi_stride<T>(g.cin, ld), ms = wino_xi_stride<T>(g.cout, ld);
  for (int xi = 0; xi < 16; ++xi)
    for (int64_t j = 0; j < nq; j += NR)
      for (int64_t pn = 0; pn < np; ++pn) {
        const int rows = static_cast<int>(std::min<int64_t>(kWinoMR, g.cout - pn * kWinoMR));
        wino_tile<T, false>(up + (xi * np + pn) * g.cin * kWinoMR, kWinoMR, v + xi * vs + j, ld,
                            g.cin, m + xi * ms + pn * kWinoMR * ld + j, ld, rows);
      }
}

// out (n, cout, hout, wout) = the stride-1 3x3 convolution of in (n, cin, hin, win), zero-padded
// by (ph, pw), with the transformed filters u (wino_filter), + bias (may be null).
template <class T>
void wino_batch(const WinoGeom& g, const T* in, const T* u, const T* bias, T* out, FiniteFlag& ff) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t nt_tiles = g.ntiles();
  if (nt_tiles == 0) return;
  if (g.cin == 0) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t oc = 0; oc < g.cout; ++oc) {
        T* yp = out + (n * g.cout + oc) * g.hout * g.wout;
        std::fill(yp, yp + g.hout * g.wout, bias ? bias[oc] : T(0));
      }
    return;
  }
  const double work = double(nt_tiles) * 16.0 * double(g.cin) * double(g.cout);
  const int nt = work > kWinoParallelMinWork ? std::max(1, num_threads()) : 1;
  int64_t nb = kWinoBlockBytes / (16 * (g.cin + g.cout) * int64_t(sizeof(T)));
  nb = std::max<int64_t>(2 * W, std::min<int64_t>(nb, 1024));
  // at least a few blocks per thread when there are enough tiles
  if (nt > 1) nb = std::min(nb, std::max<int64_t>(2 * W, wino_ceil_div(nt_tiles, 4 * nt)));
  nb = wino_ceil_div(nb, kWinoNV * W) * kWinoNV * W;
  const int64_t nblocks = wino_ceil_div(nt_tiles, nb);
  const int64_t rl = 2 * wino_ceil_div(g.tw, W) * W + 2 * W;  // a zero-padded input row
  const int nthr = static_cast<int>(std::min<int64_t>(nt, nblocks));
  place_team(nthr);
#pragma omp parallel num_threads(nthr) if (nthr > 1)
  {
    WinoScratch<T>& s = wino_scratch<T>();
    T* v = WinoScratch<T>::get(s.v, 16 * wino_xi_stride<T>(g.cin, nb));
    T* m = WinoScratch<T>::get(s.m, 16 * wino_xi_stride<T>(g.cout, nb));
    T* rows = WinoScratch<T>::get(s.rows, 4 * rl);
    FiniteAcc<T> fin;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t q0 = blk * nb, q1 = std::min(nt_tiles, q0 + nb), nq = q1 - q0;
      wino_segments(g, q0, q1, [&](const WinoSeg& sg) {
        wino_in_segment(g, in, sg.n, sg.ty, sg.tx, sg.cnt, v, nb, sg.q - q0, rows, rl,
                        wino_next(g, in, sg.q, sg.cnt));
      });
      wino_products(g, u, v, m, nb, nq);
      wino_segments(g, q0, q1, [&](const WinoSeg& sg) {
        wino_out_segment(g, m, nb, sg.q - q0, sg.n, sg.ty, sg.tx, sg.cnt, bias, out, sg.q + sg.cnt,
                         fin);
      });
    }
    ff.note(fin.ok());
  }
}

// dw by Winograd: dw[oc][ci] = G^T [sum over the tiles of (A dY A^T) . (B^T d B)] G, i.e.
// dU[xi] (cout x cin) = sum over the tiles j of dM[xi][oc][j] V[xi][ci][j]: 16 products with the
// tiles as the reduction, accumulated over the whole batch, then the 4x4 -> 3x3 filter-space
// transform. Both operands have the tiles as their contiguous index in the forward's layout, so
// here the block's tiles are transformed channels-last instead: its input rows (and dy rows)
// are first transposed to (column, channel) staging rows, then each tile's 4x4 patch is
// transformed with vectors along the channels into Vt[xi][j][ci] (and dMt[xi][j][oc]). The
// products are then the forward's register tile (wino_tile with Acc: MR output channels
// broadcast from dMt x NV vectors of input channels from Vt, k = the block's tiles), added into
// the thread's dU.
// Threads own contiguous ranges of blocks and their own dU; the partials are summed in thread
// order (the bits depend on the thread count, not on the scheduling). Where a dU outgrows the L2
// they split the output channels instead, over every block, into one dU (wino_dw_split_oc).
// A kWinoTr x kWinoTr transpose: dst[k * ds + r] = src[r * ss + k] (8 x 8 floats, 4 x 4 doubles
// with AVX2's 256-bit shuffles, which the AVX-512 build has too; one element elsewhere).
// The AVX2 build transposes as the loads pair the rows' 128-bit halves (simd.h
// load_transposed_256: no lane-crossing vperm2f128, 8 micro-ops each on a Zen 1); the AVX-512
// build keeps the shuffles it was measured with (rounds 15-23).
#if defined(__AVX2__)
template <class T>
inline constexpr int kWinoTr = 32 / int(sizeof(T));
#if !defined(__AVX512F__)
inline void wino_tr(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m256 r[8];
  load_transposed_256(src, ss, 8, r);
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ds, r[i]);
}
inline void wino_tr(const double* src, int64_t ss, double* dst, int64_t ds) {
  __m256d r[4];
  load_transposed_256(src, ss, 4, r);
  for (int i = 0; i < 4; ++i) _mm256_storeu_pd(dst + i * ds, r[i]);
}
#else
inline void wino_tr(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    r[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(r[i], r[4 + i], 0x20));
    _mm256_storeu_ps(dst + (4 + i) * ds, _mm256_permute2f128_ps(r[i], r[4 + i], 0x31));
  }
}
inline void wino_tr(const double* src, int64_t ss, double* dst, int64_t ds) {
  __m256d r[4];
  for (int i = 0; i < 4; ++i) r[i] = _mm256_loadu_pd(src + i * ss);
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + ds, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * ds, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * ds, _mm256_permute2f128_pd(t1, t3, 0x31));
}
#endif
#else
template <class T>
inline constexpr int kWinoTr = 1;
template <class T>
inline void wino_tr(const T* src, int64_t, T* dst, int64_t) {
  *dst = *src;
}
#endif

// rows (nr rows of len columns, channel stride ldc, channels nch .. ldc zero) <- the channels'
// rows of the planes at src (channel stride cs, row stride ws), rows iy0 .., columns ix0 ..
// (zero outside hs x wsz): channels-last staging rows, by kWinoTr x kWinoTr transposes.
template <class T>
void wino_rows_t(const T* src, int64_t nch, int64_t cs, int64_t hs, int64_t wsz, int64_t iy0,
                 int nr, int64_t ix0, int64_t len, T* rows, int64_t ldc) {
  constexpr int B = kWinoTr<T>;
  const int64_t k0 = std::min(len, std::max<int64_t>(0, -ix0));
  const int64_t k1 = std::max(k0, std::min(len, wsz - ix0));
  const int64_t cb = nch / B * B, kb = k0 + (k1 - k0) / B * B;
  for (int r = 0; r < nr; ++r) {
    T* dst = rows + r * len * ldc;
    const int64_t iy = iy0 + r;
    if (iy < 0 || iy >= hs || k1 == k0) {
      std::fill(dst, dst + len * ldc, T(0));
      continue;
    }
    std::fill(dst, dst + k0 * ldc, T(0));
    std::fill(dst + k1 * ldc, dst + len * ldc, T(0));
    if (ldc > nch)
      for (int64_t k = k0; k < k1; ++k) std::fill(dst + k * ldc + nch, dst + (k + 1) * ldc, T(0));
    const T* s = src + iy * wsz + ix0;
    for (int64_t ci = 0; ci < cb; ci += B) {
      for (int64_t k = k0; k < kb; k += B) wino_tr(s + ci * cs + k, cs, dst + k * ldc + ci, ldc);
      for (int64_t k = kb; k < k1; ++k)
        for (int64_t c = ci; c < ci + B; ++c) dst[k * ldc + c] = s[c * cs + k];
    }
    for (int64_t ci = cb; ci < nch; ++ci)
      for (int64_t k = k0; k < k1; ++k) dst[k * ldc + ci] = s[ci * cs + k];
  }
}

// B^T d B of cnt tiles, vectors along the channels: from the 4 staging rows xr[0 .. 3] (2 cnt
// + 2 columns of ldc channels) into vt[xi * vs + i * ldc + ci].
template <class T>
void wino_dw_in(const T* const* xr, int64_t cnt, int64_t ldc, T* vt, int64_t vs) {
  using V = Vec<T>;
  constexpr int W = V::width;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t cv = 0; cv < ldc; cv += W) {
      V hm[4][4];
      for (int rr = 0; rr < 4; ++rr) {
        const T* pr = xr[rr] + 2 * i * ldc + cv;
        const V d0 = V::load(pr), d1 = V::load(pr + ldc), d2 = V::load(pr + 2 * ldc),
                d3 = V::load(pr + 3 * ldc);
        hm[rr][0] = d0 - d2;
        hm[rr][1] = d1 + d2;
        hm[rr][2] = d2 - d1;
        hm[rr][3] = d1 - d3;
      }
      T* o = vt + i * ldc + cv;
      for (int k = 0; k < 4; ++k) {
        (hm[0][k] - hm[2][k]).store(o + k * vs);
        (hm[1][k] + hm[2][k]).store(o + (4 + k) * vs);
        (hm[2][k] - hm[1][k]).store(o + (8 + k) * vs);
        (hm[1][k] - hm[3][k]).store(o + (12 + k) * vs);
      }
    }
}

// A dY A^T of cnt tiles, vectors along the channels: from the 2 staging rows yr (2 cnt
// columns of ldo channels, ldo a multiple of the vector width) into mt[xi * ms + i * ldo + oc].
template <class T>
void wino_dw_dy(const T* yr, int64_t cnt, int64_t ldo, T* mt, int64_t ms) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t yrl = 2 * cnt * ldo;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t ov = 0; ov < ldo; ov += W) {
      const T* pr = yr + 2 * i * ldo + ov;
      const V a = V::load(pr), b = V::load(pr + ldo), c = V::load(pr + yrl),
              d = V::load(pr + yrl + ldo);
      // A dY: rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d); then each row
      // (u, v) -> (u, u + v, u - v, -v)
      const V rw[4][2] = {{a, b}, {a + c, b + d}, {a - c, b - d}, {V::zero() - c, V::zero() - d}};
      T* o = mt + i * ldo + ov;
      for (int rr = 0; rr < 4; ++rr) {
        const V u = rw[rr][0], v = rw[rr][1];
        (u).store(o + (4 * rr) * ms);
        (u + v).store(o + (4 * rr + 1) * ms);
        (u - v).store(o + (4 * rr + 2) * ms);
        (V::zero() - v).store(o + (4 * rr + 3) * ms);
      }
    }
}

// Prefetch (into L2) the rows that wino_rows_t will read: nr rows from iy0, columns ix0 ..
// ix0 + len clipped to the plane, of nch channels. The planes are read in short strided pieces
// (a few lines per channel and row), too short for the hardware prefetchers to follow.
template <class T>
void wino_prefetch_rows(const T* src, int64_t nch, int64_t cs, int64_t hs, int64_t wsz, int64_t iy0,
                        int nr, int64_t ix0, int64_t len) {
  const int64_t c0 = std::max<int64_t>(0, ix0), c1 = std::min(wsz, ix0 + len);
  if (c1 <= c0) return;
  constexpr int64_t line = 64 / int64_t(sizeof(T));
  for (int r = 0; r < nr; ++r) {
    const int64_t iy = iy0 + r;
    if (iy < 0 || iy >= hs) continue;
    for (int64_t ci = 0; ci < nch; ++ci) {
      const T* row = src + ci * cs + iy * wsz;
      for (int64_t k = c0; k < c1; k += line) __builtin_prefetch(row + k, 0, 2);
      __builtin_prefetch(row + c1 - 1, 0, 2);
    }
  }
}

// A segment's 4 input rows (tiles (n, ty, tx .. tx + cnt)), staged channels-last by
// wino_rows_t into 4 slots of xl columns x ldc channels; rows[rr] is the segment's row rr. The
// next tile row of the same columns (a whole image row of tiles, mostly) reads the last two
// rows again: they stay in their slots, and only two rows are staged. Used by dw and by the
// channels-last forward, which walk the tiles in that order.
template <class T>
struct WinoRowSlots {
  const WinoGeom& g;
  const T* in;  // (n, g.cin, g.hin, g.win)
  T* xr;
  int64_t xl, ldc;
  int sl[4] = {0, 1, 2, 3};
  int64_t pn = -1, pty = -1, ptx = -1, pcnt = -1;  // the segment staged last
  const T* rows[4] = {};

  bool follows(int64_t n, int64_t ty, int64_t tx, int64_t cnt) const {
    return n == pn && ty == pty + 1 && tx == ptx && cnt == pcnt;
  }
  void stage(int64_t n, int64_t ty, int64_t tx, int64_t cnt) {
    int r0 = 0;
    if (follows(n, ty, tx, cnt)) {
      const int a = sl[0], b = sl[1];
      sl[0] = sl[2], sl[1] = sl[3], sl[2] = a, sl[3] = b;
      r0 = 2;
    }
    pn = n, pty = ty, ptx = tx, pcnt = cnt;
    // 4 rows from 2 ty - ph (or the last 2 of them), columns from 2 tx - pw
    for (int rr = r0; rr < 4; ++rr)
      wino_rows_t(in + n * g.cin * g.hin * g.win, g.cin, g.hin * g.win, g.hin, g.win,
                  2 * ty - g.ph + rr, 1, 2 * tx - g.pw, 2 * cnt + 2, xr + sl[rr] * xl * ldc, ldc);
    for (int rr = 0; rr < 4; ++rr) rows[rr] = xr + sl[rr] * xl * ldc;
  }
  // Into L2, the rows that stage() will read for the segment after the one staged last.
  void prefetch(int64_t n, int64_t ty, int64_t tx, int64_t cnt) const {
    const int skip = follows(n, ty, tx, cnt) ? 2 : 0;
    wino_prefetch_rows(in + n * g.cin * g.hin * g.win, g.cin, g.hin * g.win, g.hin, g.win,
                       2 * ty - g.ph + skip, 4 - skip, 2 * tx - g.pw, 2 * cnt + 2);
  }
};

template <class T>
struct WinoDwScratch {
  std::vector<T> vt, mt, xr, yr, du;
};

template <class T>
WinoDwScratch<T>& wino_dw_scratch() {
  thread_local WinoDwScratch<T> s;
  return s;
}

// Whether dw's threads split the output channels (panels of MR) rather than the tiles: where a
// thread's dU (du_bytes) outgrows its L2, and there are 4+ panels per thread. Split by tiles, each
// thread zeroes, fills and streams its own dU, then they are added; split by output channels
// there is one dU, and every thread transforms every tile (the transforms are ~1/cout of the
// products). Zen 4 (round 16), dw alone at 2 threads, by output channels / by tiles: C512 7x7
// N8 0.83, C256 14x14 0.89 (4 and 16 MiB of dU); C128 28x28 1.14, C64 56x56 1.27, C32 1.22 (1
// MiB and less). A dU element is then the same sum on any thread count.
inline bool wino_dw_split_oc(int nt, int64_t du_bytes, int64_t panels) {
  return nt > 1 && du_bytes > l2_per_thread() && panels >= 4 * int64_t(nt);
}

template <class T, int MR, int NV>
void wino_dw_run(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  using V = Vec<T>;
  constexpr int W = V::width, NR = NV * W;
  const int64_t cin = p.c, cout = p.o;
  const WinoGeom g = wino_geom(p.n, p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw);
  const int64_t nt_tiles = g.ntiles();
  const int64_t ldc = wino_ceil_div(cin, NR) * NR;  // Vt's and dU's row
  // dMt's row: whole panels of MR and whole vectors
  const int64_t ldo = wino_ceil_div(wino_ceil_div(cout, MR) * MR, W) * W;
  const double work = double(nt_tiles) * 16.0 * double(cin) * double(cout);
  const int nt = work > kWinoParallelMinWork ? std::max(1, num_threads()) : 1;
  // blocks of at least kWinoMinBlock tiles: each adds its products into the thread's whole dU
  // (16 MiB at C512 -> 512)
  int64_t nb = kWinoBlockBytes / (16 * (ldc + ldo) * int64_t(sizeof(T)));
  nb = std::max<int64_t>(kWinoMinBlock, std::min<int64_t>(nb, 1024));
  const int64_t nblocks = wino_ceil_div(nt_tiles, nb);
  const int64_t usize = 16 * cout * ldc;
  const int64_t npan = wino_ceil_div(cout, int64_t(MR));
  const bool split_oc = wino_dw_split_oc(nt, usize * int64_t(sizeof(T)), npan);
  const int nthr = split_oc ? nt : static_cast<int>(std::min<int64_t>(nt, nblocks));
  const int nparts = split_oc ? 1 : nthr;
  struct Parts;  // the threads' dU (split_oc: one, its rows split), zeroed by their threads
  T* const parts = reused_scratch<T, Parts>(size_t(nparts * usize));
  const int64_t xl = 2 * g.tw + 2, yl = 2 * g.tw;  // staging row lengths (columns)
  place_team(nthr);
#pragma omp parallel num_threads(nthr) if (nthr > 1)
  {
    const int t = omp_get_thread_num(), tn = omp_get_num_threads();
    WinoDwScratch<T>& s = wino_dw_scratch<T>();
    T* vt = WinoScratch<T>::get(s.vt, 16 * nb * ldc);
    T* mt = WinoScratch<T>::get(s.mt, 16 * nb * ldo);
    T* xr = WinoScratch<T>::get(s.xr, 4 * xl * ldc);
    T* yr = WinoScratch<T>::get(s.yr, 2 * yl * ldo);
    T* du = split_oc ? parts : parts + t * usize;
    // split_oc: this thread's panels of MR output channels over every block; else every output
    // channel over its share of the blocks
    const int64_t o0 = split_oc ? npan * t / tn * MR : 0;
    const int64_t o1 = split_oc ? std::min(cout, npan * (t + 1) / tn * MR) : cout;
    for (int xi = 0; xi < 16; ++xi)
      std::fill(du + (xi * cout + o0) * ldc, du + (xi * cout + o1) * ldc, T(0));
    const int64_t b0 = split_oc ? 0 : nblocks * t / tn;
    const int64_t b1 = split_oc ? nblocks : nblocks * (t + 1) / tn;
    const int64_t vs = nb * ldc, ms = nb * ldo;  // one xi's matrix
    WinoRowSlots<T> xs{g, x, xr, xl, ldc};
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t q0 = blk * nb, q1 = std::min(nt_tiles, q0 + nb), nq = q1 - q0;
      wino_segments(g, q0, q1, [&](const WinoSeg& sg) {
        const int64_t j0 = sg.q - q0;
        xs.stage(sg.n, sg.ty, sg.tx, sg.cnt);
        if (sg.q + sg.cnt < nt_tiles) {  // the next segment's rows, while this one's transform
          const WinoSeg nx = wino_seg(g, sg.q + sg.cnt, nt_tiles);
          xs.prefetch(nx.n, nx.ty, nx.tx, nx.cnt);
          wino_prefetch_rows(dy + nx.n * cout * g.hout * g.wout, cout, g.hout * g.wout, g.hout,
                             g.wout, 2 * nx.ty, 2, 2 * nx.tx, 2 * nx.cnt);
        }
        wino_dw_in(xs.rows, sg.cnt, ldc, vt + j0 * ldc, vs);
        // dy: 2 rows from 2 ty, columns from 2 tx (zero past the output)
        wino_rows_t(dy + sg.n * cout * g.hout * g.wout, cout, g.hout * g.wout, g.hout, g.wout,
                    2 * sg.ty, 2, 2 * sg.tx, 2 * sg.cnt, yr, ldo);
        wino_dw_dy(yr, sg.cnt, ldo, mt + j0 * ldo, ms);
      });
      // dU[xi] += dMt[xi]^T (cout x nq) @ Vt[xi] (nq x cin)
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t cc = 0; cc < ldc; cc += NR)
          for (int64_t oc = o0; oc < o1; oc += MR) {
            const int rows = static_cast<int>(std::min<int64_t>(MR, cout - oc));
            wino_tile<T, true, MR, NV>(mt + xi * ms + oc, ldo, vt + xi * vs + cc, ldc, nq,
                                       du + (xi * cout + oc) * ldc + cc, ldc, rows);
          }
    }
  }
  // dw = G^T dU G, dU the partials added in thread order, the output channels split between the
  // threads (the 16 MiB of C512's partials took a serial pass to add, another to transform)
  const T h = T(0.5);
  const int64_t us = cout * ldc;
  const int ntf = double(cout) * double(cin) * 16.0 * nparts > kWinoParallelMinWork ? nthr : 1;
  place_team(ntf);
#pragma omp parallel for num_threads(ntf) if (ntf > 1) schedule(static)
  for (int64_t oc = 0; oc < cout; ++oc) {
    T* const du = parts + oc * ldc;  // dU[xi][oc] at du + xi us
    for (int t = 1; t < nparts; ++t)
      for (int xi = 0; xi < 16; ++xi) add_into(du + xi * us, du + xi * us + t * usize, ldc);
    for (int64_t ci = 0; ci < cin; ++ci) {
      const T* d = du + ci;
      T e[4][3];  // (G^T dU)[ky] per column k, then G on the columns
      for (int k = 0; k < 4; ++k) {
        const T u0 = d[k * us], u1 = d[(4 + k) * us], u2 = d[(8 + k) * us], u3 = d[(12 + k) * us];
        e[k][0] = u0 + h * (u1 + u2);
        e[k][1] = h * (u1 - u2);
        e[k][2] = h * (u1 + u2) + u3;
      }
      T* o = dw + (oc * cin + ci) * 9;
      for (int ky = 0; ky < 3; ++ky) {
        o[ky * 3 + 0] = e[0][ky] + h * (e[1][ky] + e[2][ky]);
        o[ky * 3 + 1] = h * (e[1][ky] - e[2][ky]);
        o[ky * 3 + 2] = h * (e[1][ky] + e[2][ky]) + e[3][ky];
      }
    }
  }
}

// The channels-last forward, for rows of fewer tiles than a vector (g.tw < W: 8x8 images have
// 4 tiles a row, so wino_in_segment and wino_out_segment filled half an AVX2 vector and a quarter
// of an AVX-512 one): per block of tiles, dw's staging and input transform (wino_rows_t,
// wino_dw_in: vectors along the input channels) into Vt[xi][j][ci]; the products Mt[xi][j][oc] =
// Vt[xi] (nq x cin) @ Ut[xi] (cin x cout) by the register tile with strided A (MR tiles, their
// values broadcast, x NV vectors of output channels); the output transform with vectors along
// the output channels (+ bias) into channels-last staging rows, transposed into out. Blocks are
// split statically between the threads, each computed by one: the bits do not depend on the
// thread count.
template <class T, int MR, int NV>
void wino_batch_cl(const WinoGeom& g, const T* in, const T* up, const T* bias, T* out,
                   FiniteFlag& ff) {
  using V = Vec<T>;
  constexpr int W = V::width, NR = NV * W, B = kWinoTr<T>;
  const int64_t cin = g.cin, cout = g.cout, nt_tiles = g.ntiles();
  if (nt_tiles == 0 || cin == 0 || cout == 0) return;  // wino_cl sends these to wino_batch
  const int64_t ldc = wino_ceil_div(cin, W) * W;       // Vt's row
  const int64_t ldo = wino_ceil_div(cout, NR) * NR;    // Mt's and the output staging's row
  const int64_t npan = ldo / NR;
  std::vector<T> bv(size_t(ldo), T(0));
  for (int64_t oc = 0; bias != nullptr && oc < cout; ++oc) bv[oc] = bias[oc];
  const double work = double(nt_tiles) * 16.0 * double(cin) * double(cout);
  const int nt = work > kWinoParallelMinWork ? std::max(1, num_threads()) : 1;
  int64_t nb = kWinoBlockBytes / (16 * (ldc + ldo) * int64_t(sizeof(T)));
  nb = std::max<int64_t>(kWinoMinBlock, std::min<int64_t>(nb, 1024));
  if (nt > 1) nb = std::min(nb, std::max<int64_t>(MR, wino_ceil_div(nt_tiles, nt)));
  // as many blocks per thread, of equal size (not whole MR panels: N8 14x14 has 392 tiles, in
  // 64-tile blocks 4 + 3 per thread; a block's last panel of MR tiles is partly padding, so
  // the blocks are as large as that balance and the L2 allow)
  int64_t nblocks = wino_ceil_div(nt_tiles, nb);
  if (nt > 1) nblocks = std::min(nt_tiles, wino_ceil_div(nblocks, int64_t(nt)) * nt);
  nb = wino_ceil_div(nt_tiles, nblocks);
  nblocks = wino_ceil_div(nt_tiles, nb);
  const int64_t nbr = wino_ceil_div(nb, MR) * MR;  // Vt's and Mt's rows: whole MR panels
  const int nthr = static_cast<int>(std::min<int64_t>(nt, nblocks));
  const int64_t xl = 2 * g.tw + 2, ol = 2 * g.tw;  // staging row lengths (columns)
  const int64_t plane = g.hout * g.wout;
  place_team(nthr);
#pragma omp parallel num_threads(nthr) if (nthr > 1)
  {
    WinoDwScratch<T>& s = wino_dw_scratch<T>();
    T* vt = WinoScratch<T>::get(s.vt, 16 * nbr * ldc);
    T* mt = WinoScratch<T>::get(s.mt, 16 * nbr * ldo);
    T* xr = WinoScratch<T>::get(s.xr, 4 * xl * ldc);
    T* yr = WinoScratch<T>::get(s.yr, 2 * ol * ldo);
    const int64_t vs = nbr * ldc, ms = nbr * ldo;  // one xi's matrix
    WinoRowSlots<T> xs{g, in, xr, xl, ldc};
    FiniteAcc<T> fin;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t q0 = blk * nb, q1 = std::min(nt_tiles, q0 + nb), nq = q1 - q0;
      wino_segments(g, q0, q1, [&](const WinoSeg& sg) {
        xs.stage(sg.n, sg.ty, sg.tx, sg.cnt);
        if (sg.q + sg.cnt < q1) {  // the next segment's rows, while this one's are transformed
          const WinoSeg nx = wino_seg(g, sg.q + sg.cnt, q1);
          xs.prefetch(nx.n, nx.ty, nx.tx, nx.cnt);
        }
        wino_dw_in(xs.rows, sg.cnt, ldc, vt + (sg.q - q0) * ldc, vs);
      });
      // Vt's rows past the block's tiles up to a whole MR panel: zero (read, never stored)
      const int64_t nqr = wino_ceil_div(nq, MR) * MR;
      for (int xi = 0; xi < 16; ++xi)
        std::fill(vt + xi * vs + nq * ldc, vt + xi * vs + nqr * ldc, T(0));
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t pn = 0; pn < npan; ++pn)
          for (int64_t j = 0; j < nq; j += MR)
            wino_tile<T, false, MR, NV, true>(vt + xi * vs + j * ldc, 1,
                                              up + (xi * npan + pn) * cin * NR, NR, cin,
                                              mt + xi * ms + j * ldo + pn * NR, ldo,
                                              static_cast<int>(std::min<int64_t>(MR, nq - j)), ldc);
      // output transform (wino_out_tile), tile by tile, into the staging rows yr[2][2 cnt][ldo],
      // then transposed into out's planes
      wino_segments(g, q0, q1, [&](const WinoSeg& sg) {
        const int64_t n = sg.n, ty = sg.ty, tx = sg.tx, cnt = sg.cnt;
        const T* mq = mt + (sg.q - q0) * ldo;
        for (int64_t i = 0; i < cnt; ++i)
          for (int64_t ov = 0; ov < ldo; ov += W) {
            V a[16];
            const T* mp = mq + i * ldo + ov;
            for (int xi = 0; xi < 16; ++xi) a[xi] = V::load(mp + xi * ms);
            V y[4];
            wino_out_tile(a, V::load(bv.data() + ov), y, fin);
            T* o = yr + 2 * i * ldo + ov;
            y[0].store(o);
            y[1].store(o + ldo);
            y[2].store(o + ol * ldo);
            y[3].store(o + ol * ldo + ldo);
          }
        const int64_t ox0 = 2 * tx, ncol = std::min<int64_t>(2 * cnt, g.wout - ox0);
        const int nrow = 2 * ty + 1 < g.hout ? 2 : 1;
        const int64_t cb = cout / B * B, kb = ncol / B * B;
        for (int rr = 0; rr < nrow; ++rr) {
          const T* src = yr + rr * ol * ldo;
          T* dst = out + n * cout * plane + (2 * ty + rr) * g.wout + ox0;
          for (int64_t oc = 0; oc < cb; oc += B) {
            for (int64_t k = 0; k < kb; k += B)
              wino_tr(src + k * ldo + oc, ldo, dst + oc * plane + k, plane);
            for (int64_t k = kb; k < ncol; ++k)
              for (int64_t c = oc; c < oc + B; ++c) dst[c * plane + k] = src[k * ldo + c];
          }
          for (int64_t oc = cb; oc < cout; ++oc)
            for (int64_t k = 0; k < ncol; ++k) dst[oc * plane + k] = src[k * ldo + oc];
        }
      });
    }
    ff.note(fin.ok());
  }
}

// The tile of wino_batch_cl's products: MR tiles x NV vectors of output channels, the shape
// that computes the fewest padded output channels (the first on a tie); the filters (wf, as
// wino_filter's) transformed into its panels of NV vectors.
template <class T>
void wino_batch_cl(const WinoGeom& g, const T* in, const WinoW<T>& wf, const T* bias, T* out,
                   FiniteFlag& ff) {
  constexpr int W = Vec<T>::width;
#if defined(__AVX512F__)
  const int64_t ov = wino_ceil_div(g.cout, int64_t(W));
  if (ov % 2 == 0 && ov % 3 != 0)
    return wino_batch_cl<T, 8, 2>(g, in, wino_filter<T>(g.cout, g.cin, 2 * W, wf), bias, out, ff);
  if (ov == 1)
    return wino_batch_cl<T, 16, 1>(g, in, wino_filter<T>(g.cout, g.cin, W, wf), bias, out, ff);
  return wino_batch_cl<T, 8, 3>(g, in, wino_filter<T>(g.cout, g.cin, 3 * W, wf), bias, out, ff);
#else
  wino_batch_cl<T, kWinoMR, kWinoNV>(g, in, wino_filter<T>(g.cout, g.cin, kWinoNV * W, wf), bias,
                                     out, ff);
#endif
}

// Whether the forward-shaped products run channels-last: narrow rows, with AVX2's transposes.
// Shapes without tiles or channels stay with wino_batch, which handles them (no channels in:
// the bias; none out: nothing), so wino_batch_cl never sizes its blocks by a zero.
template <class T>
inline bool wino_cl(const WinoGeom& g) {
  return kWinoTr<T> > 1 && wino_narrow<T>(g.wout) && g.ntiles() > 0 && g.cin > 0 && g.cout > 0;
}

// The forward-shaped convolution of g (its cin channels of in into its cout of out, + bias)
// by whichever layout g suits; false where an output came out inf or NaN (conv.h then reruns
// the call). wf: the 3x3 filters in (cout, cin) order.
template <class T>
bool wino_conv(const WinoGeom& g, const T* in, const WinoW<T>& wf, const T* bias, T* out) {
  FiniteFlag ff;
  if (wino_cl<T>(g))
    wino_batch_cl(g, in, wf, bias, out, ff);
  else
    wino_batch(g, in, wino_filter<T>(g.cout, g.cin, kWinoMR, wf), bias, out, ff);
  return ff.ok();
}

template <class T>
bool winograd_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const WinoW<T> wf{w, 9 * p.c, 9, 3, 1};  // w[oc][ci][ky][kx]
  return wino_conv(wino_geom(p.n, p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw), x, wf, b, y);
}

// dx = the stride-1 convolution of dy padded by 2 - p with w transposed (O <-> C) and flipped
template <class T>
bool winograd_backward_dx(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const WinoGeom g = wino_geom(p.n, p.o, p.c, p.ho, p.wo, p.h, p.w, 2 - p.ph, 2 - p.pw);
  const WinoW<T> wf{w + 8, 9, 9 * p.c, -3, -1};  // (ci, oc, ky, kx) -> w[oc][ci][2 - ky][2 - kx]
  return wino_conv(g, dy, wf, static_cast<const T*>(nullptr), dx);
}

// dw's register tile, MR output channels x NV vectors of input channels: Vt's rows are the
// input channels rounded up to whole NV W panels and dMt's the output channels to whole MR
// panels, so a tile wider than the channels computes zeros. With AVX-512's 8 x 3 tile (48
// channels), C16's dw did three times the products and transforms it needed, C32's and C64's
// one and a half; the AVX-512 build picks per call the shape of its list that computes the
// fewest padded products (the first on a tie). On the Zen 4 (round 15) that took dw alone
// 2.3-2.5x faster at C16 and 1.3-1.4x at C32 and C64 (docs/BENCHMARKS.md). AVX2's 6 x 2 tile
// fits C16, C32 and C64 exactly; a 12 x 1 tile for C24 measured 1.3x slower, not used.
template <class T>
void winograd_backward_dw(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  std::fill(dw, dw + p.o * p.c * 9, T(0));
  if (p.n * ((p.ho + 1) / 2) * ((p.wo + 1) / 2) == 0 || p.c == 0 || p.o == 0) return;
#if defined(__AVX512F__)
  struct Shape {
    int mr, nv;
  };
  constexpr Shape shapes[] = {{8, 3}, {8, 2}, {16, 1}};
  const int64_t cv = wino_ceil_div(p.c, int64_t(Vec<T>::width));
  int best = 0;
  int64_t best_cost = -1;
  for (int i = 0; i < 3; ++i) {
    const int64_t cost = wino_ceil_div(cv, int64_t(shapes[i].nv)) * shapes[i].nv *
                         wino_ceil_div(p.o, int64_t(shapes[i].mr)) * shapes[i].mr;
    if (best_cost < 0 || cost < best_cost) best = i, best_cost = cost;
  }
  if (best == 0) return wino_dw_run<T, 8, 3>(p, dy, x, dw);
  if (best == 1) return wino_dw_run<T, 8, 2>(p, dy, x, dw);
  return wino_dw_run<T, 16, 1>(p, dy, x, dw);
#else
  wino_dw_run<T, kWinoMR, kWinoNV>(p, dy, x, dw);
#endif
}

}  // namespace conv_detail
}  // namespace DG_ISA_NS
}  // namespace dg
