// Conv2d, NCHW: forward and backward (dx, dw, db), written once over Vec<T> and compiled per ISA
// (cmake/cpu_isa.cmake). Four algorithms (Conv2dParams, ConvAlgo in ops.h):
// - gemm: implicit im2col. The output pixels of the batch (the columns, q = n * P + p) are cut
//   into blocks of a few hundred columns; each block's im2col (K = C/groups * kh * kw rows) is
//   built in a per-thread buffer of at most ~512 KB, never for the whole batch, and multiplied by
//   the packed GEMM of this ISA (gemm.h, through GemmArgs) per group. A 1x1, stride 1, unpadded
//   convolution reads x in place (no im2col). Backward: per block, dw += dy_blk @ col^T (one
//   partial per thread, summed in thread order: reproducible for a given thread count) and
//   dx by dcol = w^T @ dy_blk then col2im (blocks of one thread own whole images: no races).
// - tap (stride 1, one group, enough channels: tap_pays): an implicit GEMM with no im2col. Each
//   image is zero-padded once; in padded-width coordinates every tap (ky, kx) of a channel reads
//   the padded image at a constant offset, so the micro-kernel (tap_tile) loads its B vectors
//   straight from it and broadcasts the weights, packed once per call. dx is the same kernel on
//   dy padded by (k - 1) d - p with the weights transposed and flipped; dw is a dot-product tile
//   (tap_dw_block) over dy and the padded image. The padded width (neighbouring rows share
//   their padding columns: tap_geom) costs (wp - wo) / wo of the lanes (12% at 8x8 with
//   padding 1, 3% at 32x32). Stride 2 (along either axis): the same kernels on the padded
//   image's phase planes (tap_phase_geom); dx by phases too, each phase of dx a stride-1
//   convolution of dy with the taps of its parity (tap_phase_backward_dx).
// - depthwise (groups == C, one input channel per group): each plane copied into padded,
//   stride-phase-split rows, every output row the sum of weight x contiguous run over its taps
//   (depthwise_fast_*); the direct loop (depthwise_forward / _backward) where a value is not
//   finite.
// - direct: the plain seven-deep loop, single-threaded: the test oracle.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/kernel_common.h"
#include "cpu/winograd.h"

namespace dg {
namespace DG_ISA_NS {
namespace conv_detail {

// The largest im2col block, in bytes: about half an L2.
inline constexpr int64_t kColBytes = int64_t(512) << 10;
// Below this many multiply-adds a convolution runs on the calling thread.
inline constexpr double kConvParallelMinWork = double(int64_t(1) << 18);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The output columns ox whose input column ox * s + off lies in [0, w): [lo, hi).
inline void valid_range(int64_t wo, int64_t s, int64_t off, int64_t w, int64_t* lo, int64_t* hi) {
  int64_t a = off >= 0 ? 0 : ceil_div(-off, s);
  int64_t b = w - off <= 0 ? 0 : ceil_div(w - off, s);
  a = std::min(a, wo);
  b = std::min(std::max(b, a), wo);
  *lo = a;
  *hi = b;
}

// ---------------------------------------------------------------------------------------------
// direct (the oracle)

template <class T>
void direct_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t cg = p.c / p.groups, og = p.o / p.groups;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t o = 0; o < p.o; ++o) {
      const int64_t g = o / og;
      for (int64_t oy = 0; oy < p.ho; ++oy)
        for (int64_t ox = 0; ox < p.wo; ++ox) {
          T acc = b ? b[o] : T(0);
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.h) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.w) continue;
                acc += w[((o * cg + ci) * p.kh + ky) * p.kw + kx] *
                       x[((n * p.c + g * cg + ci) * p.h + iy) * p.w + ix];
              }
            }
          y[((n * p.o + o) * p.ho + oy) * p.wo + ox] = acc;
        }
    }
}

template <class T>
void direct_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,
                     T* db) {
  const int64_t cg = p.c / p.groups, og = p.o / p.groups;
  if (dx) std::fill(dx, dx + p.n * p.c * p.h * p.w, T(0));
  if (dw) std::fill(dw, dw + p.o * cg * p.kh * p.kw, T(0));
  if (db) std::fill(db, db + p.o, T(0));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t o = 0; o < p.o; ++o) {
      const int64_t g = o / og;
      for (int64_t oy = 0; oy < p.ho; ++oy)
        for (int64_t ox = 0; ox < p.wo; ++ox) {
          const T d = dy[((n * p.o + o) * p.ho + oy) * p.wo + ox];
          if (db) db[o] += d;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.h) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.w) continue;
                const int64_t wi = ((o * cg + ci) * p.kh + ky) * p.kw + kx;
                const int64_t xi = ((n * p.c + g * cg + ci) * p.h + iy) * p.w + ix;
                if (dw) dw[wi] += d * x[xi];
                if (dx) dx[xi] += d * w[wi];
              }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// shared pieces

// db[o] = sum over n and pixels of dy[n, o, :]; one task per channel (no cross-thread sums).
template <class T>
void bias_grad(const Conv2dParams& p, const T* dy, T* db) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t P = p.ho * p.wo;
  const int nt =
      double(p.n) * double(p.o) * double(P) > double(kParallelGrain) && p.o > 1 ? num_threads() : 1;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t o = 0; o < p.o; ++o) {
    V acc = V::zero();
    for (int64_t n = 0; n < p.n; ++n) {
      const T* r = dy + (n * p.o + o) * P;
      int64_t i = 0;
      for (; i + W <= P; i += W) acc = acc + V::load(r + i);
      if (i < P) acc = acc + V::load(r + i, static_cast<int>(P - i));
    }
    db[o] = acc.reduce_add();
  }
}

// ---------------------------------------------------------------------------------------------
// depthwise: groups == c, one input channel per group, m = o / c output channels per input one:
// the direct loops, run where a weight, or dw, is not finite (the fast form below pads)

template <class T>
void depthwise_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t mult = p.o / p.c, planes = p.n * p.o, P = p.ho * p.wo;
  const int nt =
      double(planes) * double(P) * double(p.kh * p.kw) > kConvParallelMinWork ? num_threads() : 1;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t n = q / p.o, o = q % p.o, ci = o / mult;
    const T* xp = x + (n * p.c + ci) * p.h * p.w;
    const T* wp = w + o * p.kh * p.kw;
    T* yp = y + q * P;
    const T bias = b ? b[o] : T(0);
    for (int64_t oy = 0; oy < p.ho; ++oy) {
      T* yr = yp + oy * p.wo;
      std::fill(yr, yr + p.wo, bias);
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
        if (iy < 0 || iy >= p.h) continue;
        const T* xr = xp + iy * p.w;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t off = kx * p.dw - p.pw;
          int64_t lo, hi;
          valid_range(p.wo, p.sw, off, p.w, &lo, &hi);
          const T wv = wp[ky * p.kw + kx];
          if (p.sw == 1) {
            const V wvv = V::set1(wv);
            int64_t i = lo;
            for (; i + W <= hi; i += W)
              fmadd(wvv, V::load(xr + i + off), V::load(yr + i)).store(yr + i);
            if (i < hi) {
              const int r = static_cast<int>(hi - i);
              fmadd(wvv, V::load(xr + i + off, r), V::load(yr + i, r)).store(yr + i, r);
            }
          } else {
            for (int64_t i = lo; i < hi; ++i) yr[i] += wv * xr[i * p.sw + off];
          }
        }
      }
    }
  }
}

template <class T>
void depthwise_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t mult = p.o / p.c, P = p.ho * p.wo, HW = p.h * p.w;
  const double work = double(p.n * p.o) * double(P) * double(p.kh * p.kw);
  const int nt = work > kConvParallelMinWork ? num_threads() : 1;
  if (dx) {
    const int64_t planes = p.n * p.c;
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t n = q / p.c, ci = q % p.c;
      T* dxp = dx + q * HW;
      std::fill(dxp, dxp + HW, T(0));
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t o = ci * mult + m;
        const T* dyp = dy + (n * p.o + o) * P;
        const T* wp = w + o * p.kh * p.kw;
        for (int64_t oy = 0; oy < p.ho; ++oy) {
          const T* dyr = dyp + oy * p.wo;
          for (int64_t ky = 0; ky < p.kh; ++ky) {
            const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
            if (iy < 0 || iy >= p.h) continue;
            T* dxr = dxp + iy * p.w;
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t off = kx * p.dw - p.pw;
              int64_t lo, hi;
              valid_range(p.wo, p.sw, off, p.w, &lo, &hi);
              const T wv = wp[ky * p.kw + kx];
              if (p.sw == 1) {
                const V wvv = V::set1(wv);
                int64_t i = lo;
                for (; i + W <= hi; i += W)
                  fmadd(wvv, V::load(dyr + i), V::load(dxr + i + off)).store(dxr + i + off);
                if (i < hi) {
                  const int r = static_cast<int>(hi - i);
                  fmadd(wvv, V::load(dyr + i, r), V::load(dxr + i + off, r))
                      .store(dxr + i + off, r);
                }
              } else {
                for (int64_t i = lo; i < hi; ++i) dxr[i * p.sw + off] += wv * dyr[i];
              }
            }
          }
        }
      }
    }
  }
  if (dw) {
    const int ntw = p.o > 1 ? nt : 1;
    place_team(ntw);
#pragma omp parallel for num_threads(ntw) schedule(dynamic, 1) if (ntw > 1)
    for (int64_t o = 0; o < p.o; ++o) {
      const int64_t ci = o / mult;
      for (int64_t ky = 0; ky < p.kh; ++ky)
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t off = kx * p.dw - p.pw;
          int64_t lo, hi;
          valid_range(p.wo, p.sw, off, p.w, &lo, &hi);
          V acc = V::zero();
          T sacc = T(0);
          for (int64_t n = 0; n < p.n; ++n) {
            const T* dyp = dy + (n * p.o + o) * P;
            const T* xp = x + (n * p.c + ci) * HW;
            for (int64_t oy = 0; oy < p.ho; ++oy) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.h) continue;
              const T* dyr = dyp + oy * p.wo;
              const T* xr = xp + iy * p.w;
              if (p.sw == 1) {
                int64_t i = lo;
                for (; i + W <= hi; i += W)
                  acc = fmadd(V::load(dyr + i), V::load(xr + i + off), acc);
                if (i < hi) {
                  const int r = static_cast<int>(hi - i);
                  acc = fmadd(V::load(dyr + i, r), V::load(xr + i + off, r), acc);
                }
              } else {
                for (int64_t i = lo; i < hi; ++i) sacc += dyr[i] * xr[i * p.sw + off];
              }
            }
          }
          dw[(o * p.kh + ky) * p.kw + kx] = acc.reduce_add() + sacc;
        }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gemm: im2col blocks

// How the columns q = n * P + p (P = ho * wo) are cut. A unit is what one thread owns: either
// `ipb` whole images (one block) or, for large images, one image in blocks of `bcols` columns.
struct Blocking {
  int64_t P, K, bcols;  // bcols: columns per block
  int64_t ipb;          // images per unit (1 when an image has more than bcols pixels)
  int64_t units;
  bool one_by_one;  // 1x1, stride 1, no padding, dilation irrelevant: x is its own im2col
};

template <class T>
Blocking make_blocking(const Conv2dParams& p, int nt) {
  Blocking bl;
  bl.P = p.ho * p.wo;
  bl.K = (p.c / p.groups) * p.kh * p.kw;
  bl.one_by_one = p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
  int64_t b = kColBytes / (std::max<int64_t>(bl.K, 1) * int64_t(sizeof(T)));
  b = std::max<int64_t>(64, std::min<int64_t>(b, 4096));
  if (bl.P >= b) {
    bl.ipb = 1;
    bl.bcols = std::max<int64_t>(1, b / p.wo) * p.wo;  // whole output rows
  } else {
    int64_t ipb = std::max<int64_t>(1, b / std::max<int64_t>(bl.P, 1));
    ipb = std::min(ipb, std::max<int64_t>(1, ceil_div(p.n, nt)));
    bl.ipb = ipb;
    bl.bcols = ipb * bl.P;
  }
  bl.units = ceil_div(p.n, bl.ipb);
  return bl;
}

// n elements, inline vector loops (the rows here are short: a libc call per row would dominate);
// with fin, whether they are finite into it
template <class T>
inline void copy_vec(T* dst, const T* src, int64_t n, FiniteAcc<T>* fin = nullptr) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = 0;
  if (fin) {
    for (; i + W <= n; i += W) {
      const V v = V::load(src + i);
      fin->add(v);
      v.store(dst + i);
    }
  } else {
    for (; i + W <= n; i += W) V::load(src + i).store(dst + i);
  }
  if (i < n) {
    const V v = V::load(src + i, static_cast<int>(n - i));
    if (fin) fin->add(v);
    v.store(dst + i, static_cast<int>(n - i));
  }
}
template <class T>
inline void fill_zero(T* dst, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = 0;
  for (; i + W <= n; i += W) V::zero().store(dst + i);
  if (i < n) V::zero().store(dst + i, static_cast<int>(n - i));
}

// dst[2 i] += src[i] for i < n, the odd elements between them unchanged (-0.0 added: the
// identity on every value, -0.0 included), through masked loads and stores at the end.
template <class T>
inline void add_stride2(T* dst, const T* src, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V nz = V::set1(T(-0.0));
  for (int64_t i = 0; i < n; i += W) {
    const int rem = static_cast<int>(std::min<int64_t>(W, n - i)), count = 2 * rem - 1;
    V lo, hi;
    V::interleave(rem == W ? V::load(src + i) : V::load(src + i, rem), nz, lo, hi);
    T* d = dst + 2 * i;
    const int c0 = std::min(count, W), c1 = count - c0;
    const V d0 = c0 == W ? V::load(d) : V::load(d, c0);
    (d0 + lo).store(d, c0);
    if (c1 > 0) (V::load(d + W, c1) + hi).store(d + W, c1);
  }
}

inline int64_t floor_half(int64_t a) { return (a - (a & 1)) / 2; }

// ev, od = src[2 j + 2 l], src[2 j + 2 l + 1] for the lanes l, the elements past w (a row of w,
// 2 j < w) read as 0.
template <class T>
inline void deinterleave_row(const T* src, int64_t w, int64_t j, Vec<T>& ev, Vec<T>& od) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t count = std::min<int64_t>(2 * W, w - 2 * j);
  if (count == 2 * W) return load_deinterleave(src + 2 * j, ev, od);
  const V a = count >= W ? V::load(src + 2 * j) : V::load(src + 2 * j, int(count));
  const V b = count >= 2 * W ? V::load(src + 2 * j + W)
              : count > W    ? V::load(src + 2 * j + W, int(count - W))
                             : V::zero();
  V::deinterleave(a, b, ev, od);
}

// even[j] = src[2 j], odd[j] = src[2 j + 1] for j < (w + 1) / 2 (odd's last element 0 when w is
// odd), in whole vectors: both outputs are written up to (w + 1) / 2 rounded up to a vector.
template <class T>
inline void split_even_odd(const T* src, int64_t w, T* even, T* odd) {
  for (int64_t j = 0; j < (w + 1) / 2; j += Vec<T>::width) {
    Vec<T> ev, od;
    deinterleave_row(src, w, j, ev, od);
    ev.store(even + j);
    od.store(odd + j);
  }
}

// im2col for stride-2 rows (sw == 2): each input row is split once into its even and odd
// elements (two zero-padded buffers), and each of its kw taps is then one contiguous copy: tap
// kx reads x[2 ox + off] (off = kx dw - pw) = phase[off & 1][ox + floor(off / 2)], the padding's
// zeros included. The element loop it replaces paid bounds, zero runs and a strided gather per
// tap and output row (16 outputs a row at 32x32 -> 16x16): 60% of a ResNet downsampling conv's
// forward. Same values, copied.
template <class T>
void im2col_s2(const Conv2dParams& p, const T* x, int64_t c0, int64_t cg, int64_t q0, int64_t nc,
               T* col) {
  using V = Vec<T>;
  constexpr int Wv = V::width;
  const int64_t P = p.ho * p.wo, half = (p.w + 1) / 2;
  const int64_t lo = floor_half(-p.pw), hi = floor_half((p.kw - 1) * p.dw - p.pw);
  const int64_t padl = std::max<int64_t>(0, -lo);
  const int64_t body = std::max((half + Wv - 1) / Wv * Wv, p.wo + std::max<int64_t>(0, hi));
  const int64_t len = padl + body + Wv;
  std::vector<T> buf(static_cast<size_t>(2 * len), T(0));
  T* const phase[2] = {buf.data() + padl, buf.data() + len + padl};
  for (int64_t ci = 0; ci < cg; ++ci)
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      T* const rows = col + (ci * p.kh + ky) * p.kw * nc;  // tap kx's row at rows + kx * nc
      int64_t q = q0;
      const int64_t qe = q0 + nc;
      int64_t n = q0 / P, oy = (q0 % P) / p.wo, ox0 = (q0 % P) % p.wo;  // then counted
      for (; q < qe; ox0 = 0, oy = oy + 1 == p.ho ? 0 : oy + 1, n += oy == 0) {
        const int64_t ox1 = std::min(p.wo, ox0 + (qe - q));
        const int64_t at = (q - q0) - ox0;  // column of ox = 0 in each tap's row
        const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
        if (iy < 0 || iy >= p.h) {
          for (int64_t kx = 0; kx < p.kw; ++kx) fill_zero(rows + kx * nc + at + ox0, ox1 - ox0);
        } else {
          split_even_odd(x + ((n * p.c + c0 + ci) * p.h + iy) * p.w, p.w, phase[0], phase[1]);
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t off = kx * p.dw - p.pw;
            copy_vec(rows + kx * nc + at + ox0, phase[off & 1] + floor_half(off) + ox0, ox1 - ox0);
          }
        }
        q += ox1 - ox0;
      }
    }
}

// col (K x nc, row stride nc) = the im2col of the columns [q0, q0 + nc) for channels
// [c0, c0 + cg).
template <class T>
void im2col(const Conv2dParams& p, const T* x, int64_t c0, int64_t cg, int64_t q0, int64_t nc,
            T* col) {
  if (p.sw == 2) return im2col_s2(p, x, c0, cg, q0, nc, col);
  const int64_t P = p.ho * p.wo;
  for (int64_t ci = 0; ci < cg; ++ci)
    for (int64_t ky = 0; ky < p.kh; ++ky)
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        T* row = col + ((ci * p.kh + ky) * p.kw + kx) * nc;
        const int64_t off = kx * p.dw - p.pw;
        int64_t lo, hi;
        valid_range(p.wo, p.sw, off, p.w, &lo, &hi);
        int64_t q = q0;
        const int64_t qe = q0 + nc;
        int64_t n = q0 / P, oy = (q0 % P) / p.wo, ox0 = (q0 % P) % p.wo;  // then counted
        for (; q < qe; ox0 = 0, oy = oy + 1 == p.ho ? 0 : oy + 1, n += oy == 0) {
          const int64_t ox1 = std::min(p.wo, ox0 + (qe - q));
          T* dst = row + (q - q0) - ox0;  // dst[ox] for ox in [ox0, ox1)
          const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
          if (iy < 0 || iy >= p.h) {
            fill_zero(dst + ox0, ox1 - ox0);
          } else {
            const T* src = x + ((n * p.c + c0 + ci) * p.h + iy) * p.w + off;  // src[ox * sw]
            const int64_t a = std::min(std::max(ox0, lo), ox1), e = std::max(std::min(ox1, hi), a);
            for (int64_t i = ox0; i < a; ++i) dst[i] = T(0);
            if (p.sw == 1)
              copy_vec(dst + a, src + a, e - a);
            else
              for (int64_t i = a; i < e; ++i) dst[i] = src[i * p.sw];
            for (int64_t i = e; i < ox1; ++i) dst[i] = T(0);
          }
          q += ox1 - ox0;
        }
      }
}

// dx[channels c0.., columns q0..q0+nc] += col2im(col).
template <class T>
void col2im(const Conv2dParams& p, const T* col, int64_t c0, int64_t cg, int64_t q0, int64_t nc,
            T* dx) {
  const int64_t P = p.ho * p.wo;
  for (int64_t ci = 0; ci < cg; ++ci)
    for (int64_t ky = 0; ky < p.kh; ++ky)
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const T* row = col + ((ci * p.kh + ky) * p.kw + kx) * nc;
        const int64_t off = kx * p.dw - p.pw;
        int64_t lo, hi;
        valid_range(p.wo, p.sw, off, p.w, &lo, &hi);
        int64_t q = q0;
        const int64_t qe = q0 + nc;
        int64_t n = q0 / P, oy = (q0 % P) / p.wo, ox0 = (q0 % P) % p.wo;  // then counted
        for (; q < qe; ox0 = 0, oy = oy + 1 == p.ho ? 0 : oy + 1, n += oy == 0) {
          const int64_t ox1 = std::min(p.wo, ox0 + (qe - q));
          const T* s = row + (q - q0) - ox0;
          const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
          if (iy >= 0 && iy < p.h) {
            T* d = dx + ((n * p.c + c0 + ci) * p.h + iy) * p.w + off;
            const int64_t a = std::max(ox0, lo), e = std::min(ox1, hi);
            if (p.sw == 1) {
              if (e > a) add_into(d + a, s + a, e - a);
            } else if (p.sw == 2) {
              if (e > a) add_stride2(d + 2 * a, s + a, e - a);
            } else {
              for (int64_t i = a; i < e; ++i) d[i * p.sw] += s[i];
            }
          }
          q += ox1 - ox0;
        }
      }
}

// Per-thread buffers kept between calls (a fresh 512 KB buffer per call would page-fault).
template <class T>
struct ConvScratch {
  std::vector<T> col, tmp;
  T* col_of(int64_t n) {
    if (int64_t(col.size()) < n) col.resize(size_t(n));
    return col.data();
  }
  T* tmp_of(int64_t n) {
    if (int64_t(tmp.size()) < n) tmp.resize(size_t(n));
    return tmp.data();
  }
};

template <class T>
ConvScratch<T>& scratch() {
  thread_local ConvScratch<T> s;
  return s;
}

// The threads: units run in parallel (each GEMM single-threaded) when there are enough of them,
// else one after another with the GEMM's own threads.
inline void pick_threads(double work, int64_t units, int* outer, int* inner) {
  const int nt = num_threads();
  if (work < kConvParallelMinWork || nt <= 1) {
    *outer = 1;
    *inner = 1;
  } else if (units >= nt) {
    *outer = nt;
    *inner = 1;
  } else {
    *outer = 1;
    *inner = 0;
  }
}

template <class T>
void gemm_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t cg = p.c / p.groups, og = p.o / p.groups;
  const double work = double(p.n) * double(p.o) * double(p.ho * p.wo) * double(cg * p.kh * p.kw);
  int outer, inner;
  Blocking bl = make_blocking<T>(p, std::max(1, num_threads()));
  pick_threads(work, bl.units, &outer, &inner);
  const int64_t P = bl.P, K = bl.K;
  auto bias_rows = [&](T* c, int64_t rsc, int64_t o0, int64_t cols) {
    if (!b) return;
    for (int64_t i = 0; i < og; ++i) {
      const V bv = V::set1(b[o0 + i]);
      T* r = c + i * rsc;
      int64_t j = 0;
      for (; j + W <= cols; j += W) (V::load(r + j) + bv).store(r + j);
      if (j < cols) {
        const int rr = static_cast<int>(cols - j);
        (V::load(r + j, rr) + bv).store(r + j, rr);
      }
    }
  };
  auto unit = [&](int64_t u, ConvScratch<T>& s) {
    const int64_t n0 = u * bl.ipb, n1 = std::min(p.n, n0 + bl.ipb);
    const int64_t qb = n0 * P, qe = n1 * P;
    for (int64_t q0 = qb; q0 < qe; q0 += bl.bcols) {
      const int64_t nc = std::min(bl.bcols, qe - q0);
      const bool single = (q0 / P) == ((q0 + nc - 1) / P);
      for (int64_t g = 0; g < p.groups; ++g) {
        GemmArgs<T> a;
        a.m = og;
        a.n = nc;
        a.k = K;
        a.a = w + g * og * K;
        a.rsa = K;
        a.csa = 1;
        a.threads = inner;
        if (bl.one_by_one && single) {
          const int64_t n = q0 / P, pp = q0 % P;
          a.b = x + (n * p.c + g * cg) * P + pp;
          a.rsb = P;
        } else {
          T* col = s.col_of(K * nc);
          im2col(p, x, g * cg, cg, q0, nc, col);
          a.b = col;
          a.rsb = nc;
        }
        a.csb = 1;
        a.csc = 1;
        if (single) {
          const int64_t n = q0 / P, pp = q0 % P;
          a.c = y + (n * p.o + g * og) * P + pp;
          a.rsc = P;
          DG_ISA_NS::gemm(a);
          bias_rows(a.c, P, g * og, nc);
        } else {  // whole images: one product per image, straight into y (no scatter)
          for (int64_t n = q0 / P; n * P < q0 + nc; ++n) {
            GemmArgs<T> ai = a;
            ai.n = P;
            ai.b = a.b + (n * P - q0);
            ai.c = y + (n * p.o + g * og) * P;
            ai.rsc = P;
            DG_ISA_NS::gemm(ai);
            bias_rows(ai.c, P, g * og, P);
          }
        }
      }
    }
  };
  if (K == 0) {  // no input channels: y = bias
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t o = 0; o < p.o; ++o)
        std::fill(y + (n * p.o + o) * P, y + (n * p.o + o + 1) * P, b ? b[o] : T(0));
    return;
  }
  if (outer > 1) {
    place_team(outer);
#pragma omp parallel num_threads(outer)
    {
      ConvScratch<T>& s = scratch<T>();
#pragma omp for schedule(dynamic, 1)
      for (int64_t u = 0; u < bl.units; ++u) unit(u, s);
    }
  } else {
    ConvScratch<T>& s = scratch<T>();
    for (int64_t u = 0; u < bl.units; ++u) unit(u, s);
  }
}

template <class T>
void gemm_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw) {
  const int64_t cg = p.c / p.groups, og = p.o / p.groups;
  const double work = double(p.n) * double(p.o) * double(p.ho * p.wo) * double(cg * p.kh * p.kw);
  int outer, inner;
  Blocking bl = make_blocking<T>(p, std::max(1, num_threads()));
  pick_threads(work, bl.units, &outer, &inner);
  const int64_t P = bl.P, K = bl.K, wsize = p.o * K;
  if (dx) std::fill(dx, dx + p.n * p.c * p.h * p.w, T(0));
  if (dw) std::fill(dw, dw + wsize, T(0));
  if (K == 0 || p.n == 0 || P == 0) return;
  // units [u0, u1), dw accumulated into dwp
  auto run = [&](int64_t u0, int64_t u1, T* dwp, ConvScratch<T>& s) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n0 = u * bl.ipb, n1 = std::min(p.n, n0 + bl.ipb);
      const int64_t qb = n0 * P, qe = n1 * P;
      for (int64_t q0 = qb; q0 < qe; q0 += bl.bcols) {
        const int64_t nc = std::min(bl.bcols, qe - q0);
        const bool single = (q0 / P) == ((q0 + nc - 1) / P);
        for (int64_t g = 0; g < p.groups; ++g) {
          // dy block (og x nc)
          const T* dyb;
          int64_t rsd;
          if (single) {
            const int64_t n = q0 / P, pp = q0 % P;
            dyb = dy + (n * p.o + g * og) * P + pp;
            rsd = P;
          } else {
            T* tmp = s.tmp_of(og * nc);
            for (int64_t i = 0; i < og; ++i)
              for (int64_t n = q0 / P; n * P < q0 + nc; ++n)
                std::memcpy(tmp + i * nc + (n * P - q0), dy + (n * p.o + g * og + i) * P,
                            size_t(P) * sizeof(T));
            dyb = tmp;
            rsd = nc;
          }
          const bool direct_x = bl.one_by_one && single;
          const T* colp = nullptr;
          int64_t rsb = nc;
          if (direct_x) {
            const int64_t n = q0 / P, pp = q0 % P;
            colp = x + (n * p.c + g * cg) * P + pp;
            rsb = P;
          } else if (dw) {
            T* col = s.col_of(K * nc);
            im2col(p, x, g * cg, cg, q0, nc, col);
            colp = col;
          }
          if (dw) {  // dw_g (og x K) += dyb (og x nc) @ col^T (nc x K)
            GemmArgs<T> a =
                strided_gemm<T>(og, K, nc, dyb, rsd, 1, colp, 1, rsb, dwp + g * og * K, K, 1);
            a.beta = T(1);
            a.threads = inner;
            DG_ISA_NS::gemm(a);
          }
          if (dx) {  // dcol (K x nc) = w_g^T (K x og) @ dyb (og x nc)
            if (direct_x) {
              const int64_t n = q0 / P, pp = q0 % P;
              GemmArgs<T> a = strided_gemm<T>(K, nc, og, w + g * og * K, 1, K, dyb, rsd, 1,
                                              dx + (n * p.c + g * cg) * P + pp, P, 1);
              a.threads = inner;
              DG_ISA_NS::gemm(a);
            } else {
              T* col = s.col_of(K * nc);  // the dw product is done with it
              GemmArgs<T> a =
                  strided_gemm<T>(K, nc, og, w + g * og * K, 1, K, dyb, rsd, 1, col, nc, 1);
              a.threads = inner;
              DG_ISA_NS::gemm(a);
              col2im(p, col, g * cg, cg, q0, nc, dx);
            }
          }
        }
      }
    }
  };
  if (outer > 1) {
    // static split of the units: thread t owns [U t / nt, U (t + 1) / nt) and its own dw partial,
    // summed in thread order below (reproducible for a given thread count)
    const int nt = outer;
    struct Parts;
    T* const parts = dw ? reused_scratch<T, Parts>(size_t(nt - 1) * size_t(wsize)) : nullptr;
    place_team(nt);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), tn = omp_get_num_threads();
      ConvScratch<T>& s = scratch<T>();
      const int64_t u0 = bl.units * t / tn, u1 = bl.units * (t + 1) / tn;
      T* dwp = dw ? (t == 0 ? dw : parts + size_t(t - 1) * size_t(wsize)) : nullptr;
      if (dw && t > 0) std::fill(dwp, dwp + wsize, T(0));  // each thread zeroes its own
      run(u0, u1, dwp, s);
    }
    for (int t = 1; dw && t < nt; ++t) add_into(dw, parts + size_t(t - 1) * size_t(wsize), wsize);
  } else {
    ConvScratch<T>& s = scratch<T>();
    run(0, bl.units, dw, s);
  }
}

// ---------------------------------------------------------------------------------------------
// tap: a stride-1 convolution as an implicit GEMM over a zero-padded copy of one image, no
// im2col. With the output computed in padded-width coordinates (j = oy * wp + ox, wp the padded
// width; the columns ox >= wo are computed and dropped), tap (ky, kx) of channel ci reads the
// padded input at the constant offset ci * hp * wp + ky * dh * wp + kx * dw + j: the micro-kernel
// below loads its B vectors straight from the padded image (unaligned, L1/L2 resident) and its A
// values from the weights packed once per call as [MR-row panel][tap][channel][MR]. dx of a
// stride-1 convolution is the same kernel on dy padded by (k - 1) * d - p with the weights
// transposed and flipped.

#if defined(__AVX512F__)
inline constexpr int kTapMR = 12, kTapNV = 2;
#elif defined(__AVX2__)
inline constexpr int kTapMR = 6, kTapNV = 2;
#else
inline constexpr int kTapMR = 4, kTapNV = 2;
#endif

struct TapGeom {
  int64_t cin, cout;   // channels
  int64_t hin, win;    // input size
  int64_t hout, wout;  // output size
  int64_t pt, pl;      // where the input starts in the padded image
  int64_t kh, kw, dh, dw;
  int64_t hp, wp;  // padded size: hout + (kh - 1) dh rows of ns segments of wseg (tap_geom)
  int64_t ns = 1, wseg = 0;  // images side by side in one padded image, columns of each
  // strided (tap_phase_geom): the padded image split into sh x sw phase planes of hq rows each
  int64_t sh = 1, sw = 1, hq = 0;
  int64_t cs() const { return hp * wp; }
  int64_t npanels() const { return ceil_div(cout, kTapMR); }
  int64_t jn() const { return hout * wp; }  // output positions in padded-width coordinates
};

// The geometry of a stride-1 convolution of an hin x win input into hout x wout, the input placed
// at (pt, pl) of the padded image. The padded rows are wp = win + max(pl, pr) wide, pr the right
// padding: a tap reading past the right edge of a row lands in the next row's left padding
// (zero), so the right and left paddings share columns and the positions ox in [wout, wp) of
// each output row, computed and dropped, are ekw - pl instead of ekw (8x8 with padding 1: 9
// columns, not 10).
// With ns > 1 segments, ns images sit side by side in one padded image: a padded row is ns
// segments of wseg columns, image s at columns s * wseg + pl; the taps of segment s read up to
// column s * wseg + pl + win + pr - 1, short of segment s + 1's first data column (wseg >= win +
// pr), so the segments share their padding columns exactly as neighbouring rows do. Small
// images whose jn is not a whole number of tiles fill the tiles better this way (8x8: 72
// positions are 4.5 two-vector tiles of AVX2, 144 are 9; tap_segs).
inline TapGeom tap_geom(int64_t cin, int64_t cout, int64_t hin, int64_t win, int64_t hout,
                        int64_t wout, int64_t pt, int64_t pl, int64_t kh, int64_t kw, int64_t dh,
                        int64_t dw, int64_t ns = 1) {
  const int64_t ekw = (kw - 1) * dw, pr = wout + ekw - win - pl;
  const int64_t wseg = std::max(wout, win + std::max(pl, pr));
  TapGeom g{cin,      cout, hin, win, hout, wout, pt, pl, kh, kw, dh, dw, hout + (kh - 1) * dh,
            ns * wseg};
  g.ns = ns;
  g.wseg = wseg;
  return g;
}

template <class T>
inline int64_t tap_nr() {
  return int64_t(kTapNV) * Vec<T>::width;
}
// padded input: cin * cs values and a margin read only by dropped lanes
template <class T>
inline int64_t tap_xpad_size(const TapGeom& g) {  // whole 64-byte lines
  return ceil_div(g.cin * g.cs() + (g.kw - 1) * g.dw + 2 * tap_nr<T>(), 64 / int64_t(sizeof(T))) *
         (64 / int64_t(sizeof(T)));
}
// padded output rows: jn rounded up to whole tiles
template <class T>
inline int64_t tap_ystride(const TapGeom& g) {
  return ceil_div(g.jn(), tap_nr<T>()) * tap_nr<T>();
}

// Where x's rows land in a padded image: columns [xa, xb) and rows [ya, yb), cropped to it.
struct TapPadSpan {
  int64_t xa, xb, ya, yb, isz;
  explicit TapPadSpan(const TapGeom& g) {
    const int64_t c0 = std::max<int64_t>(0, -g.pl), c1 = std::min(g.win, g.wseg - g.pl);
    const int64_t r0 = std::max<int64_t>(0, -g.pt), r1 = std::min(g.hin, g.hp - g.pt);
    xa = std::max<int64_t>(0, g.pl + c0), xb = std::max(xa, g.pl + c1);
    ya = std::max<int64_t>(0, g.pt + r0), yb = std::max(ya, g.pt + r1);
    isz = g.cin * g.hin * g.win;
  }
};

// The data rows only of tap_pad: xp's border, margin and the segments past ni are left as they
// are.
template <class T>
void tap_pad_rows(const TapGeom& g, const T* x, int64_t ni, T* xp) {
  const TapPadSpan sp(g);
  const int64_t xa = sp.xa, xb = sp.xb, ya = sp.ya, yb = sp.yb, isz = sp.isz;
  for (int64_t ci = 0; ci < g.cin; ++ci)
    for (int64_t y = ya; y < yb; ++y) {
      T* dr = xp + ci * g.cs() + y * g.wp + xa;
      const T* sr = x + (ci * g.hin + y - g.pt) * g.win + (xa - g.pl);
      for (int64_t k = 0; k < ni; ++k, dr += g.wseg, sr += isz) copy_vec(dr, sr, xb - xa);
    }
}

// xp = the zero-padded images x (ni <= ns of them, cin x hin x win each, consecutive) placed at
// (pt, pl) of their segments, rows and columns outside the padded image cropped; the segments
// past ni and the margin are zeroed.
template <class T>
void tap_pad(const TapGeom& g, const T* x, int64_t ni, T* xp) {
  const TapPadSpan sp(g);
  const int64_t xa = sp.xa, xb = sp.xb, ya = sp.ya, yb = sp.yb, isz = sp.isz;
  if (g.win < 2 * Vec<T>::width) {
    // short rows: zero everything with whole vectors, then copy the rows in (a masked store of
    // a padding column or two per row, then a store over the same line, stalls far longer)
    fill_zero(xp, tap_xpad_size<T>(g));
    tap_pad_rows(g, x, ni, xp);
    return;
  }
  for (int64_t ci = 0; ci < g.cin; ++ci) {
    T* d = xp + ci * g.cs();
    const T* s = x + ci * g.hin * g.win;
    fill_zero(d, ya * g.wp);
    for (int64_t y = ya; y < yb; ++y) {
      T* dr = d + y * g.wp;
      const T* sr = s + (y - g.pt) * g.win + (xa - g.pl);
      for (int64_t k = 0; k < ni; ++k, dr += g.wseg, sr += isz) {
        fill_zero(dr, xa);
        copy_vec(dr + xa, sr, xb - xa);
        fill_zero(dr + xb, g.wseg - xb);
      }
      if (ni < g.ns) fill_zero(dr, (g.ns - ni) * g.wseg);
    }
    fill_zero(d + yb * g.wp, (g.hp - yb) * g.wp);
  }
  fill_zero(xp + g.cin * g.cs(), tap_xpad_size<T>(g) - g.cin * g.cs());
}

// ap[((panel * taps + t) * cin + ci) * MR + r] = w[(panel * MR + r) rs + ci cst + tofs[t]], 0
// past cout: the forward's weights (rs = C kh kw, cst = kh kw, tofs[t] = t) or dx's, transposed
// and flipped (rs = kh kw, cst = C kh kw, the taps reversed or a phase's). Plain strided loads:
// the element-wise index arithmetic this replaced was half of a small layer's dx.
template <class T>
void tap_pack(const TapGeom& g, const T* w, int64_t rs, int64_t cst, const int64_t* tofs, T* ap) {
  const int64_t taps = g.kh * g.kw;
  for (int64_t pb = 0; pb < g.npanels(); ++pb) {
    const int mr = static_cast<int>(std::min<int64_t>(kTapMR, g.cout - pb * kTapMR));
    const T* wp = w + pb * kTapMR * rs;
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t ci = 0; ci < g.cin; ++ci) {
        T* d = ap + ((pb * taps + t) * g.cin + ci) * kTapMR;
        const T* s = wp + ci * cst + tofs[t];
        for (int r = 0; r < mr; ++r) d[r] = s[r * rs];
        for (int r = mr; r < kTapMR; ++r) d[r] = T(0);
      }
  }
}
// 0, 1, ..., n - 1, or reversed
inline std::vector<int64_t> tap_iota(int64_t n, bool reversed) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[size_t(i)] = reversed ? n - 1 - i : i;
  return t;
}

// yp[r * ys + j] for r < mr, j in [0, NR) = sum over taps t and channels ci of
// ap[(t * cin + ci) * MR + r] * xb[toff[t] + ci * cs + j].
template <class T, int MRk, int NV>
inline void tap_tile(const T* __restrict ap, const T* xb, const int64_t* toff, int64_t taps,
                     int64_t cin, int64_t cs, T* yp, int64_t ys, int mr) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V acc[MRk][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MRk; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int64_t t = 0; t < taps; ++t) {
    const T* __restrict bp = xb + toff[t];
#pragma GCC unroll 2
    for (int64_t ci = 0; ci < cin; ++ci) {
      V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = V::load(bp + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        const V ar = V::set1(ap[r]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
      }
      ap += kTapMR;
      bp += cs;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MRk; ++r) {
    if (r >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v].store(yp + r * ys + v * W);
  }
}

// A panel of R <= kTapSmallMR rows (a few output channels: dx of a convolution with few input
// channels): tiles four vectors wide, so the few broadcasts of a step feed 4 R multiply-adds
// (a two-vector tile of 3 rows has 6 accumulators, too few to cover the FMA latency).
#if defined(__AVX512F__)
inline constexpr int kTapSmallMR = 4;
#else
inline constexpr int kTapSmallMR = 3;
#endif
template <class T, int R>
void tap_panel_small(const TapGeom& g, const T* a, const T* xp, const int64_t* toff, T* y) {
  constexpr int W = Vec<T>::width;
  const int64_t taps = g.kh * g.kw, jn = g.jn(), ys = tap_ystride<T>(g);
  int64_t j0 = 0;
  for (; j0 < jn && j0 + 4 * W <= ys; j0 += 4 * W)
    tap_tile<T, R, 4>(a, xp + j0, toff, taps, g.cin, g.cs(), y + j0, ys, R);
  for (; j0 < jn; j0 += 2 * W) {  // ys is whole two-vector tiles
    if (jn - j0 <= W)
      tap_tile<T, R, 1>(a, xp + j0, toff, taps, g.cin, g.cs(), y + j0, ys, R);
    else
      tap_tile<T, R, 2>(a, xp + j0, toff, taps, g.cin, g.cs(), y + j0, ys, R);
  }
}

// One padded image xp -> yp (cout rows of ys values, padded-width coordinates).
template <class T>
void tap_image(const TapGeom& g, const T* ap, const T* xp, const int64_t* toff, T* yp) {
  constexpr int MR = kTapMR, M1 = MR % 3 == 0 ? MR / 3 : MR, M2 = MR % 3 == 0 ? 2 * MR / 3 : MR;
  constexpr int W = Vec<T>::width;
  const int64_t taps = g.kh * g.kw, nr = tap_nr<T>(), jn = g.jn(), ys = tap_ystride<T>(g);
  for (int64_t pb = 0; pb < g.npanels(); ++pb) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, g.cout - pb * MR));
    const T* a = ap + pb * taps * g.cin * MR;
    T* y = yp + pb * MR * ys;
    if (mr <= kTapSmallMR) {
      if (mr == 1) tap_panel_small<T, 1>(g, a, xp, toff, y);
      if (mr == 2) tap_panel_small<T, 2>(g, a, xp, toff, y);
      if (mr == 3) tap_panel_small<T, 3>(g, a, xp, toff, y);
      if (kTapSmallMR > 3 && mr == 4) tap_panel_small<T, kTapSmallMR>(g, a, xp, toff, y);
      continue;
    }
    for (int64_t j0 = 0; j0 < jn; j0 += nr) {
      const T* xb = xp + j0;
      T* yb = y + j0;
      if (jn - j0 <= W) {  // the last positions fit one vector: a one-vector-wide tile
        if (mr > M2)
          tap_tile<T, MR, 1>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
        else if (mr > M1)
          tap_tile<T, M2, 1>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
        else
          tap_tile<T, M1, 1>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
      } else if (mr > M2) {
        tap_tile<T, MR, kTapNV>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
      } else if (mr > M1) {
        tap_tile<T, M2, kTapNV>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
      } else {
        tap_tile<T, M1, kTapNV>(a, xb, toff, taps, g.cin, g.cs(), yb, ys, mr);
      }
    }
  }
}

// out[k][oc][oy][ox] = yp[oc * ys + oy * wp + k * wseg + ox] (+ bias[oc]) for ox < wout, the
// ni <= ns images of the segments; whether they are finite into fin.
template <class T>
void tap_unpad(const TapGeom& g, const T* yp, const T* bias, T* out, int64_t ni,
               FiniteAcc<T>& fin) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t ys = tap_ystride<T>(g), osz = g.cout * g.hout * g.wout;
  for (int64_t k = 0; k < ni; ++k)
    for (int64_t oc = 0; oc < g.cout; ++oc) {
      const V bv = V::set1(bias ? bias[oc] : T(0));
      for (int64_t oy = 0; oy < g.hout; ++oy) {
        const T* s = yp + oc * ys + oy * g.wp + k * g.wseg;
        T* d = out + k * osz + (oc * g.hout + oy) * g.wout;
        int64_t i = 0;
        if (bias) {
          for (; i + W <= g.wout; i += W) {
            const V v = V::load(s + i) + bv;
            fin.add(v);
            v.store(d + i);
          }
          if (i < g.wout) {
            const int r = static_cast<int>(g.wout - i);
            const V v = V::load(s + i, r) + bv;
            fin.add(v);
            v.store(d + i, r);
          }
        } else {
          copy_vec(d, s, g.wout, &fin);
        }
      }
    }
}

// A per-thread buffer of padded images (nslots slots of xs values) for one role, kept between
// calls: tap_pad writes a slot's zero border, margin and empty segments only when the slot last
// held another geometry or image count (nothing else writes these buffers), else copies just
// the images' rows in (tap_pad_kept). A layer called again with the same shapes (the next batch,
// the forward and the backward of the next step) then skips the zeroing: at 8x8 with padding 1
// the border is more than half of the padded image.
enum TapPadRole {
  kPadFwd = 0,
  kPadDx = 1,
  kPadDy = 2,
  kPadX = 3,
  kPadPhaseFwd = 4,  // phase planes (tap_pad_phases)
  kPadPhaseX = 5,
  kPadRoles = 6
};
template <class T>
struct TapPadBuf {
  std::vector<T> v;
  T* base = nullptr;
  int64_t key[12] = {};
  std::vector<int64_t> slot_ni;  // the image count each slot was padded for; -1: unknown
  T* get(const TapGeom& g, int64_t nslots, int64_t xs) {
    constexpr int64_t A = 64 / int64_t(sizeof(T));
    if (int64_t(v.size()) < nslots * xs + A) v.resize(size_t(nslots * xs + A));
    const uintptr_t a = reinterpret_cast<uintptr_t>(v.data());
    T* p = v.data() + ((64 - a % 64) % 64) / sizeof(T);
    const int64_t k[12] = {g.cin, g.hin, g.win,  g.pt, g.pl, g.hp,
                           g.wp,  g.ns,  g.wseg, xs,   g.sh, g.sw};
    if (p != base || !std::equal(k, k + 12, key)) {
      base = p;
      std::copy(k, k + 12, key);
      slot_ni.assign(slot_ni.size(), -1);
    }
    if (int64_t(slot_ni.size()) < nslots) slot_ni.resize(size_t(nslots), -1);
    return p;
  }
};
// slot i of buf (got for g) = the ni images at x, zero-padded
template <class T>
inline void tap_pad_kept(const TapGeom& g, const T* x, int64_t ni, TapPadBuf<T>& buf, int64_t i,
                         T* xp) {
  if (buf.slot_ni[size_t(i)] == ni) return tap_pad_rows(g, x, ni, xp);
  tap_pad(g, x, ni, xp);
  buf.slot_ni[size_t(i)] = ni;
}

// Per-thread buffers kept between calls, handed out 64-byte aligned (whole-vector loads and
// stores of the padded rows then never split a cache line where the offsets allow).
template <class T>
struct TapScratch {
  std::vector<T> xv, yv, zv, av;
  TapPadBuf<T> pad[kPadRoles];
  static T* aligned(std::vector<T>& v, int64_t n) {
    constexpr int64_t A = 64 / int64_t(sizeof(T));
    if (int64_t(v.size()) < n + A) v.resize(size_t(n + A));
    const uintptr_t a = reinterpret_cast<uintptr_t>(v.data());
    return v.data() + ((64 - a % 64) % 64) / sizeof(T);
  }
  T* xp(int64_t n) { return aligned(xv, n); }
  T* yp(int64_t n) { return aligned(yv, n); }
  T* zp(int64_t n) { return aligned(zv, n); }
};
template <class T>
TapScratch<T>& tap_scratch() {
  thread_local TapScratch<T> s;
  return s;
}

// nimg images in (cin x hin x win each) -> out (cout x hout x wout each), ap packed by tap_pack;
// g.ns images per padded image, tap t at toff[t]; pad(scratch, images, count) returns them as one
// padded image.
// Returns false where an output came out inf or NaN.
template <class T, class Pad>
bool tap_batch_with(const TapGeom& g, int64_t nimg, const T* in, const T* ap, const T* bias, T* out,
                    const int64_t* toff, Pad&& pad) {
  const int64_t taps = g.kh * g.kw, units = ceil_div(nimg, g.ns);
  const double work = double(units) * double(g.cout) * double(g.jn()) * double(taps * g.cin);
  const int nt = work > kConvParallelMinWork && units > 1 ? num_threads() : 1;
  FiniteFlag ff;
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    FiniteAcc<T> fin;
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < units; ++u) {
      TapScratch<T>& s = tap_scratch<T>();
      const int64_t ysz = g.npanels() * kTapMR * tap_ystride<T>(g);
      const int64_t n = u * g.ns, ni = std::min(g.ns, nimg - n);
      T* xp = pad(s, in + n * g.cin * g.hin * g.win, ni);
      T* yp = s.yp(ysz);
      tap_image(g, ap, xp, toff, yp);
      tap_unpad(g, yp, bias, out + n * g.cout * g.hout * g.wout, ni, fin);
    }
    ff.note(fin.ok());
  }
  return ff.ok();
}

// Where tap (ky, kx) reads in a padded image: ky dh rows and kx dw columns in; with strides
// (tap_phase_geom), ky dh / sh rows and kx dw / sw columns into the phase plane (ky dh mod sh,
// kx dw mod sw). Stride 1 is the one-plane case (sh = sw = 1).
inline std::vector<int64_t> tap_offsets(const TapGeom& g) {
  std::vector<int64_t> toff(static_cast<size_t>(g.kh * g.kw));
  for (int64_t t = 0; t < g.kh * g.kw; ++t) {
    const int64_t ry = (t / g.kw) * g.dh, rx = (t % g.kw) * g.dw;
    const int64_t plane = (ry % g.sh) * g.sw + rx % g.sw;
    toff[size_t(t)] = (plane * g.hq + ry / g.sh) * g.wp + rx / g.sw;
  }
  return toff;
}

template <class T>
bool tap_batch(const TapGeom& g, int64_t nimg, const T* in, const T* ap, const T* bias, T* out,
               TapPadRole role) {
  const std::vector<int64_t> toff = tap_offsets(g);
  return tap_batch_with(g, nimg, in, ap, bias, out, toff.data(),
                        [&](TapScratch<T>& s, const T* x, int64_t ni) {
                          TapPadBuf<T>& pb = s.pad[role];
                          T* xp = pb.get(g, 1, tap_xpad_size<T>(g));
                          tap_pad_kept(g, x, ni, pb, 0, xp);
                          return xp;
                        });
}

// How many images to set side by side (TapGeom::ns) for a geometry g1 of one image: the count
// (up to 4) that costs the fewest tiles per image when a tile of jn's last <= W positions costs
// 0.6-0.67 of a two-vector tile (what it runs at: fewer accumulators, the same broadcasts), if it
// saves at least 3%, keeps two units per thread and a unit of at most max_bytes (img_elems values
// an image, its padded input and output; by default (cin + cout) cs).
template <class T>
int64_t tap_segs(const TapGeom& g1, int64_t nimg, int64_t img_elems = 0,
                 int64_t max_bytes = int64_t(128) << 10) {
  if (img_elems == 0) img_elems = (g1.cin + g1.cout) * g1.cs();
  constexpr int64_t W = Vec<T>::width;
  // a one-vector tile: kTapMR accumulators, as many broadcasts as a full tile; with 6 rows
  // (AVX2) it is bound by the FMA latency (6 chains of 4 cycles for 2 FMAs a cycle)
  constexpr double kRemTile = kTapMR >= 8 ? 0.6 : 0.67;
  const int64_t nr = tap_nr<T>(), jn1 = g1.jn();
  auto cost = [&](int64_t s) {
    const int64_t jn = s * jn1, rem = jn % nr;
    return (double(jn / nr) + (rem == 0 ? 0.0 : rem <= W ? kRemTile : 1.0)) / double(s);
  };
  int64_t best = 1;
  double bc = cost(1);
  const int nt = std::max(1, num_threads());
  for (int64_t s = 2; s <= 4; ++s) {
    if (ceil_div(nimg, s) < 2 * nt || s * img_elems * int64_t(sizeof(T)) > max_bytes) break;
    const double c = cost(s);
    if (c < 0.97 * bc) {
      best = s;
      bc = c;
    }
  }
  return best;
}

// Whether the tap algorithm applies (stride 1, one group, dx's padding (k - 1) d - p >= 0) and
// pays off (enough channels that the packed weights, not the padding, dominate: from 3 channels
// of a 3x3 kernel on, where it beats im2col + GEMM by 20-30%; with one channel they tie).
inline bool tap_applies(const Conv2dParams& p) {
  return p.sh == 1 && p.sw == 1 && p.groups == 1 && p.ph <= (p.kh - 1) * p.dh &&
         p.pw <= (p.kw - 1) * p.dw && p.kh * p.kw > 1 && p.ho > 0 && p.wo > 0;
}
inline bool tap_pays(const Conv2dParams& p) {
  const int64_t wp = p.w + p.pw;  // tap_geom's padded width (symmetric padding)
  return p.c * p.kh * p.kw >= 16 && p.o >= 8 && 4 * wp <= 5 * p.wo + 8 && p.n >= num_threads() &&
         p.c * (p.h + 2 * p.ph) * wp <= (int64_t(1) << 20);
}

// The forward's weights packed for g (tap_pack), in a buffer kept between calls.
template <class T>
const T* tap_pack_forward(const Conv2dParams& p, const TapGeom& g, const T* w) {
  struct Packed;  // every element written by tap_pack
  T* const ap = reused_scratch<T, Packed>(size_t(g.npanels() * kTapMR * p.kh * p.kw * p.c));
  tap_pack<T>(g, w, p.c * p.kh * p.kw, p.kh * p.kw, tap_iota(p.kh * p.kw, false).data(), ap);
  return ap;
}

// y by taps; false where a value of y came out inf or NaN
template <class T>
bool tap_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const TapGeom g1 = tap_geom(p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw, p.kh, p.kw, p.dh, p.dw);
  const TapGeom g = tap_geom(p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw, p.kh, p.kw, p.dh, p.dw,
                             tap_segs<T>(g1, p.n));
  const T* const ap = tap_pack_forward(p, g, w);
  return tap_batch(g, p.n, x, ap, b, y, kPadFwd);
}

// dx = the stride-1 convolution of dy padded by (k - 1) d - p with w transposed and flipped;
// false where a value of dx came out inf or NaN
template <class T>
bool tap_backward_dx(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t ekh = (p.kh - 1) * p.dh, ekw = (p.kw - 1) * p.dw;
  const TapGeom g1 =
      tap_geom(p.o, p.c, p.ho, p.wo, p.h, p.w, ekh - p.ph, ekw - p.pw, p.kh, p.kw, p.dh, p.dw);
  const TapGeom g = tap_geom(p.o, p.c, p.ho, p.wo, p.h, p.w, ekh - p.ph, ekw - p.pw, p.kh, p.kw,
                             p.dh, p.dw, tap_segs<T>(g1, p.n));
  struct Packed;  // every element written by tap_pack
  T* const ap = reused_scratch<T, Packed>(size_t(g.npanels() * kTapMR * p.kh * p.kw * p.o));
  tap_pack<T>(g, w, p.kh * p.kw, p.c * p.kh * p.kw, tap_iota(p.kh * p.kw, true).data(), ap);
  return tap_batch(g, p.n, dy, ap, static_cast<const T*>(nullptr), dx, kPadDx);
}

// dw by taps: dw[oc][ci * taps + t] = sum over images and j of dyp[oc][j] * xpad[ci][toff[t] + j],
// dyp being dy in padded-width coordinates (row stride wp, zero in the columns ox >= wo and
// past the last row). A dot-product tile of DR output channels x DC weight columns, vectors along
// j, reduced once per chunk of images; the DC columns of one tile are neighbouring taps of one or
// two channels, the same few KB of the padded image, which stay in L1 while dy streams.
#if defined(__AVX512F__)
inline constexpr int kTapDR = 4, kTapDC = 6;
#elif defined(__AVX2__)
inline constexpr int kTapDR = 3, kTapDC = 4;
#else
inline constexpr int kTapDR = 2, kTapDC = 2;
#endif

template <class T>
void tap_dy_pad(const TapGeom& g, const T* dy, T* dyp) {
  const int64_t ys = tap_ystride<T>(g);
  for (int64_t oc = 0; oc < g.cout; ++oc) {
    T* d = dyp + oc * ys;
    for (int64_t oy = 0; oy < g.hout; ++oy) {
      copy_vec(d + oy * g.wp, dy + (oc * g.hout + oy) * g.wout, g.wout);
      fill_zero(d + oy * g.wp + g.wout, g.wp - g.wout);
    }
    fill_zero(d + g.jn(), ys - g.jn());
  }
}

// The dw tile over a block of the chunk: images [i0, i1), positions [ja, jb) of each (multiples
// of W; positions from jn on, the rounding of the last vector, are masked off: past jn the padded
// dy of a small image runs into the next channel's data), accumulated into DR x DC vectors at
// acc (zeroed first when `first`), reduced later by tap_dw_chunk: one reduction per tile and
// chunk, not per block. cof: the offset in the padded image of each of the K weight columns.
template <class T>
inline void tap_dw_block(int64_t i0, int64_t i1, int64_t ja, int64_t jb, int64_t jn, const T* xb,
                         int64_t xs, const T* db, int64_t dys, int64_t ys, const int64_t* cof,
                         int64_t r0, int nr, int64_t c0, int nc, T* acc, bool first) {
  using V = Vec<T>;
  constexpr int W = V::width, DR = kTapDR, DC = kTapDC;
  int64_t ro[DR], co[DC];
  for (int r = 0; r < DR; ++r) ro[r] = (r0 + std::min(r, nr - 1)) * ys;
  for (int c = 0; c < DC; ++c) co[c] = cof[c0 + std::min(c, nc - 1)];
  const int64_t jf = std::min(jb, jn / W * W);  // whole vectors: [ja, jf)
  const int tail = jb > jf ? static_cast<int>(std::min(jb, jn) - jf) : 0;
  V a[DR][DC];
#pragma GCC unroll 8
  for (int r = 0; r < DR; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < DC; ++c) a[r][c] = first ? V::zero() : V::load(acc + (r * DC + c) * W);
  for (int64_t i = i0; i < i1; ++i) {
    const T* x = xb + i * xs;
    const T* d = db + i * dys;
    for (int64_t j = ja; j < jf; j += W) {
      V dv[DR];
#pragma GCC unroll 8
      for (int r = 0; r < DR; ++r) dv[r] = V::load(d + ro[r] + j);
#pragma GCC unroll 8
      for (int c = 0; c < DC; ++c) {
        const V xv = V::load(x + co[c] + j);
#pragma GCC unroll 8
        for (int r = 0; r < DR; ++r) a[r][c] = fmadd(dv[r], xv, a[r][c]);
      }
    }
    if (tail > 0) {
      V dv[DR];
#pragma GCC unroll 8
      for (int r = 0; r < DR; ++r) dv[r] = V::load(d + ro[r] + jf, tail);
#pragma GCC unroll 8
      for (int c = 0; c < DC; ++c) {
        const V xv = V::load(x + co[c] + jf, tail);
#pragma GCC unroll 8
        for (int r = 0; r < DR; ++r) a[r][c] = fmadd(dv[r], xv, a[r][c]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < DR; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < DC; ++c) a[r][c].store(acc + (r * DC + c) * W);
}

// dwp (o x K) += the dw of the ni padded images of a chunk (x at xb, stride xs; dy at db, image
// stride dys, channel stride ys, in padded-width coordinates). The DR dy rows of a block stay in
// L1 (about 20 KB: whole small images or an even share of the positions of a large one) while
// every tile of the K weight columns reads them; the partial sums wait in acc (DR x K vectors,
// per thread).
template <class T>
void tap_dw_chunk(const TapGeom& g, int64_t ni, const T* xb, int64_t xs, const T* db, int64_t dys,
                  int64_t ys, const int64_t* toff, int64_t o, T* dwp, std::vector<T>& accv) {
  using V = Vec<T>;
  constexpr int W = V::width, DR = kTapDR, DC = kTapDC;
  const int64_t taps = g.kh * g.kw, K = g.cin * taps, ncg = ceil_div(K, DC);
  const int64_t jn = g.jn(), jv = ceil_div(jn, W) * W;
  const int64_t JB = std::max<int64_t>(W, (int64_t(20) << 10) / (DR * int64_t(sizeof(T))) / W * W);
  const int64_t ipb = jv >= JB ? 1 : JB / jv;  // images per block (small images)
  // large images: the positions in nb blocks of equal size (no short last block)
  const int64_t nb = ceil_div(jv, JB), jstep = jv >= JB ? ceil_div(ceil_div(jv, nb), W) * W : jv;
  const int64_t need = ncg * DR * DC * W + 64 / int64_t(sizeof(T));
  if (int64_t(accv.size()) < need) accv.resize(size_t(need));
  const uintptr_t ad = reinterpret_cast<uintptr_t>(accv.data());
  T* acc = accv.data() + ((64 - ad % 64) % 64) / sizeof(T);
  std::vector<int64_t> cof(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) cof[size_t(k)] = (k / taps) * g.cs() + toff[k % taps];
  for (int64_t r0 = 0; r0 < o; r0 += DR) {
    const int nr = static_cast<int>(std::min<int64_t>(DR, o - r0));
    bool first = true;
    for (int64_t i0 = 0; i0 < ni; i0 += ipb) {
      const int64_t i1 = std::min(ni, i0 + ipb);
      for (int64_t ja = 0; ja < jv; ja += jstep, first = false) {
        const int64_t jb = std::min(jv, ja + jstep);
        for (int64_t cg = 0; cg < ncg; ++cg) {
          const int nc = static_cast<int>(std::min<int64_t>(DC, K - cg * DC));
          tap_dw_block(i0, i1, ja, jb, jn, xb, xs, db, dys, ys, cof.data(), r0, nr, cg * DC, nc,
                       acc + cg * DR * DC * W, first);
        }
      }
    }
    for (int64_t cg = 0; cg < ncg; ++cg) {
      const int nc = static_cast<int>(std::min<int64_t>(DC, K - cg * DC));
      const T* a = acc + cg * DR * DC * W;
      for (int r = 0; r < nr; ++r)
        for (int c = 0; c < nc; ++c)
          dwp[(r0 + r) * K + cg * DC + c] += V::load(a + (r * DC + c) * W).reduce_add();
    }
  }
}

// dw of the convolution p through the padded geometry g (ns = 1), tap t at toff[t];
// pad(scratch, x of the first image, ni) returns ni padded images, tap_xpad_size(g) apart.
template <class T, class Pad>
void tap_backward_dw_with(const Conv2dParams& p, const TapGeom& g, const int64_t* toff, const T* dy,
                          const T* x, T* dw, Pad&& pad) {
  const int64_t taps = p.kh * p.kw, K = p.c * taps, wsize = p.o * K;
  const int64_t xs = tap_xpad_size<T>(g), dys = p.o * tap_ystride<T>(g);
  // images per chunk: about 1 MB of padded x and dy
  const int64_t chunk = std::max<int64_t>(
      1, (int64_t(1) << 20) / (int64_t(sizeof(T)) * std::max<int64_t>(1, xs + dys)));
  const double work = double(p.n) * double(p.o) * double(g.jn()) * double(K);
  const int nt = work > kConvParallelMinWork && p.n > 1
                     ? static_cast<int>(std::min<int64_t>(num_threads(), p.n))
                     : 1;
  struct Parts;
  T* const parts = reused_scratch<T, Parts>(size_t(nt - 1) * size_t(wsize));
  std::fill(dw, dw + wsize, T(0));
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), tn = omp_get_num_threads();
    T* dwp = t == 0 ? dw : parts + size_t(t - 1) * size_t(wsize);
    if (t > 0) std::fill(dwp, dwp + wsize, T(0));  // each thread zeroes its own
    const int64_t n0 = p.n * t / tn, n1 = p.n * (t + 1) / tn;
    TapScratch<T>& s = tap_scratch<T>();
    for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
      const int64_t ni = std::min(chunk, n1 - c0);
      T* xp = pad(s, x + c0 * p.c * p.h * p.w, ni);
      T* yp = s.yp(ni * dys);
      for (int64_t i = 0; i < ni; ++i)
        tap_dy_pad(g, dy + (c0 + i) * p.o * p.ho * p.wo, yp + i * dys);
      tap_dw_chunk(g, ni, xp, xs, yp, dys, tap_ystride<T>(g), toff, p.o, dwp, s.av);
    }
  }
  for (int t = 1; t < nt; ++t) add_into(dw, parts + size_t(t - 1) * size_t(wsize), wsize);
}

template <class T>
void tap_backward_dw(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const TapGeom g = tap_geom(p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw, p.kh, p.kw, p.dh, p.dw);
  const std::vector<int64_t> toff = tap_offsets(g);
  const int64_t xs = tap_xpad_size<T>(g), isz = p.c * p.h * p.w;
  tap_backward_dw_with(p, g, toff.data(), dy, x, dw,
                       [&](TapScratch<T>& s, const T* x0, int64_t ni) {
                         TapPadBuf<T>& pb = s.pad[kPadX];
                         T* xp = pb.get(g, ni, xs);
                         for (int64_t i = 0; i < ni; ++i)
                           tap_pad_kept(g, x0 + i * isz, 1, pb, i, xp + i * xs);
                         return xp;
                       });
}

// The whole tap backward in one pass over the images, when the convolution keeps the size
// ((k - 1) d == 2 p, "same" padding): dy padded for dx (by (k - 1) d - p = p) then has the
// geometry of the padded x, and read from its (p, p) corner it is also the padded-width dy of dw
// (zero in the columns ox >= wo and below the last row). So each image's dy is padded once and
// used three times while it is in cache: dx (tap_image), dw (tap_dw_chunk) and db (its sum); one
// parallel region instead of three, threads owning contiguous images (dw and db partials summed
// in thread order: reproducible for a given thread count).
inline bool tap_fused_applies(const Conv2dParams& p) {
  return (p.kh - 1) * p.dh == 2 * p.ph && (p.kw - 1) * p.dw == 2 * p.pw;
}

// false where a value of dx came out inf or NaN
template <class T>
bool tap_backward_fused(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,
                        T* db) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t ekh = (p.kh - 1) * p.dh, ekw = (p.kw - 1) * p.dw;
  // ns images side by side (tap_segs on dx's geometry, the larger pass on few input channels)
  const int64_t ns = tap_segs<T>(
      tap_geom(p.o, p.c, p.ho, p.wo, p.h, p.w, ekh - p.ph, ekw - p.pw, p.kh, p.kw, p.dh, p.dw),
      p.n);
  const TapGeom gf =
      tap_geom(p.c, p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw, p.kh, p.kw, p.dh, p.dw, ns);
  const TapGeom gd =
      tap_geom(p.o, p.c, p.ho, p.wo, p.h, p.w, ekh - p.ph, ekw - p.pw, p.kh, p.kw, p.dh, p.dw, ns);
  const int64_t units = ceil_div(p.n, ns);  // padded images
  const int64_t taps = p.kh * p.kw, K = p.c * taps, wsize = p.o * K, cs = gd.cs();
  const std::vector<int64_t> toff = tap_offsets(gd);  // gf.wp == gd.wp: one table
  struct Packed;                                      // every element written by tap_pack
  T* const apd =
      dx ? reused_scratch<T, Packed>(size_t(gd.npanels() * kTapMR * taps * p.o)) : nullptr;
  if (dx) {
    tap_pack<T>(gd, w, p.kh * p.kw, p.c * p.kh * p.kw, tap_iota(p.kh * p.kw, true).data(), apd);
  }
  const int64_t xs = dw ? tap_xpad_size<T>(gf) : 0, dys = tap_xpad_size<T>(gd);
  const int64_t ysz = gd.npanels() * kTapMR * tap_ystride<T>(gd);
  const int64_t dbase = gd.pt * gd.wp + gd.pl;  // dy's (0, 0) in its padded image
  const int64_t chunk = std::max<int64_t>(
      1, (int64_t(1) << 20) / (int64_t(sizeof(T)) * std::max<int64_t>(1, xs + dys)));
  const double work = double(units) * double(p.o) * double(gf.jn()) * double(K);
  const int nt = work > kConvParallelMinWork && units > 1
                     ? static_cast<int>(std::min<int64_t>(num_threads(), units))
                     : 1;
  const int64_t psize = wsize + p.o;  // a thread's partial: dw then db
  struct Parts;
  T* const parts = reused_scratch<T, Parts>(size_t(nt - 1) * size_t(psize));
  if (dw) std::fill(dw, dw + wsize, T(0));
  if (db) std::fill(db, db + p.o, T(0));
  FiniteFlag ff;
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), tn = omp_get_num_threads();
    FiniteAcc<T> fin;
    T* part = t == 0 ? nullptr : parts + size_t(t - 1) * size_t(psize);
    if (part != nullptr) std::fill(part, part + psize, T(0));  // each thread zeroes its own
    T* dwp = t == 0 ? dw : part;
    T* dbp = t == 0 ? db : part + wsize;
    const int64_t u0 = units * t / tn, u1 = units * (t + 1) / tn;
    TapScratch<T>& s = tap_scratch<T>();
    for (int64_t c0 = u0; c0 < u1; c0 += chunk) {
      const int64_t ni = std::min(chunk, u1 - c0);  // padded images of this chunk
      TapPadBuf<T>& pd = s.pad[kPadDy];
      TapPadBuf<T>& px = s.pad[kPadX];
      T* dp = pd.get(gd, ni, dys);
      T* xp = dw ? px.get(gf, ni, xs) : nullptr;
      for (int64_t i = 0; i < ni; ++i) {
        const int64_t n = (c0 + i) * ns, nk = std::min(ns, p.n - n);
        T* d = dp + i * dys;
        tap_pad_kept(gd, dy + n * p.o * p.ho * p.wo, nk, pd, i, d);
        if (dx) {
          T* yp = s.zp(ysz);
          tap_image(gd, apd, d, toff.data(), yp);
          tap_unpad(gd, yp, static_cast<const T*>(nullptr), dx + n * p.c * p.h * p.w, nk, fin);
        }
        if (db) {  // the padded channel's sum: its border is zero
          for (int64_t oc = 0; oc < p.o; ++oc) {
            const T* r = d + oc * cs;
            V acc = V::zero();
            int64_t j = 0;
            for (; j + W <= cs; j += W) acc = acc + V::load(r + j);
            if (j < cs) acc = acc + V::load(r + j, static_cast<int>(cs - j));
            dbp[oc] += acc.reduce_add();
          }
        }
      }
      if (dw) {  // x padded after dx is done with its staging rows: one less buffer in L2
        for (int64_t i = 0; i < ni; ++i) {
          const int64_t n = (c0 + i) * ns;
          tap_pad_kept(gf, x + n * p.c * p.h * p.w, std::min(ns, p.n - n), px, i, xp + i * xs);
        }
        tap_dw_chunk(gf, ni, xp, xs, dp + dbase, dys, cs, toff.data(), p.o, dwp, s.av);
      }
    }
    ff.note(fin.ok());
  }
  for (int t = 1; t < nt; ++t) {
    const T* src = parts + size_t(t - 1) * size_t(psize);
    if (dw) add_into(dw, src, wsize);
    if (db) add_into(db, src + wsize, p.o);
  }
  return ff.ok();
}

// ---------------------------------------------------------------------------------------------
// tap, strided (stride 2 along either axis or both): the padded image is split into its sh x sw
// phases, plane (py, px) holding the padded rows sh i + py and columns sw j + px. Output (oy, ox)
// reads, for tap (ky, kx), the padded pixel (sh oy + ky dh, sw ox + kx dw): in the phase plane
// (ky dh mod sh, kx dw mod sw), row oy + ky dh / sh, column ox + kx dw / sw. So in plane-width
// coordinates (j = oy * wp + ox) every tap again reads at a constant offset (tap_offsets)
// and tap_image / tap_dw_chunk run unchanged. A plane row is wq = wout + (kw - 1) dw / sw wide
// (no columns shared between rows: the columns ox >= wout are computed and dropped), the planes
// hq = hout + (kh - 1) dh / sh high; ns images sit side by side in each plane row as in
// tap_geom. dx: tap_phase_backward_dx.
inline bool tap_phase_applies(const Conv2dParams& p) {
  return (p.sh == 2 || p.sw == 2) && p.sh <= 2 && p.sw <= 2 && p.groups == 1 && p.kh * p.kw > 1 &&
         p.ho > 0 && p.wo > 0;
}

inline TapGeom tap_phase_geom(const Conv2dParams& p, int64_t ns = 1) {
  const int64_t hq = p.ho + (p.kh - 1) * p.dh / p.sh, wq = p.wo + (p.kw - 1) * p.dw / p.sw;
  TapGeom g{p.c,    p.o, p.h, p.w, p.ho, p.wo, p.ph, p.pw, p.kh, p.kw, p.dh, p.dw, p.sh * p.sw * hq,
            ns * wq};
  g.ns = ns;
  g.wseg = wq;
  g.sh = p.sh;
  g.sw = p.sw;
  g.hq = hq;
  return g;
}

// The data of ni <= ns images (cin x hin x win each, consecutive) into their phase planes xp,
// the padding, the segments past ni and the margin left as they are. A stride-2 row goes in
// vector steps: 2 W input elements deinterleaved into their even and odd elements, each stored
// (masked at the end) straight into the plane of its parity.
template <class T>
void tap_pad_phases_rows(const TapGeom& g, const T* x, int64_t ni, T* xp) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int64_t wq = g.wseg, isz = g.cin * g.hin * g.win, ps = g.hq * g.wp;
  // plane column c of plane px holds input column sw c + px - pl: the input columns of parity
  // q[px], element e of them (column sw e + q) at plane column c0[px] + e, n[px] of them
  int64_t q[2] = {}, c0[2] = {}, n[2] = {};
  for (int64_t px = 0; px < g.sw; ++px) {
    q[px] = g.sw == 2 ? (px - g.pl) & 1 : 0;
    const int64_t avail = g.sw == 2 ? (g.win - q[px] + 1) / 2 : g.win;
    c0[px] = (q[px] + g.pl - px) / g.sw;
    n[px] = std::max<int64_t>(0, std::min(avail, wq - c0[px]));
  }
  const int64_t nmax = std::max(n[0], n[1]);
  for (int64_t ci = 0; ci < g.cin; ++ci)
    for (int64_t py = 0; py < g.sh; ++py)
      for (int64_t i = 0; i < g.hq; ++i) {
        const int64_t iy = g.sh * i + py - g.pt;  // the input row of plane row i
        if (iy < 0 || iy >= g.hin) continue;
        for (int64_t k = 0; k < ni; ++k) {
          const T* s = x + k * isz + (ci * g.hin + iy) * g.win;
          T* d = xp + ((ci * g.sh + py) * g.sw * g.hq + i) * g.wp + k * wq;  // plane (py, 0)
          if (g.sw == 1) {
            if (n[0] > 0) copy_vec(d + c0[0], s, n[0]);
            continue;
          }
          for (int64_t j = 0; j < nmax; j += W) {  // 2 j < win: j < avail
            V par[2];
            deinterleave_row(s, g.win, j, par[0], par[1]);
            for (int px = 0; px < 2; ++px) {
              const int64_t m = std::min<int64_t>(W, n[px] - j);
              T* o = d + px * ps + c0[px] + j;
              if (m == W)
                par[q[px]].store(o);
              else if (m > 0)
                par[q[px]].store(o, int(m));
            }
          }
        }
      }
}

// xp = the phase planes of ni <= ns images, zero where the padding is, the segments past ni
// and the margin zero too.
template <class T>
void tap_pad_phases(const TapGeom& g, const T* x, int64_t ni, T* xp) {
  fill_zero(xp, tap_xpad_size<T>(g));
  tap_pad_phases_rows(g, x, ni, xp);
}
// slot i of buf (got for g) = the phase planes of the ni images at x (as tap_pad_kept)
template <class T>
inline void tap_pad_phases_kept(const TapGeom& g, const T* x, int64_t ni, TapPadBuf<T>& buf,
                                int64_t i, T* xp) {
  if (buf.slot_ni[size_t(i)] == ni) return tap_pad_phases_rows(g, x, ni, xp);
  tap_pad_phases(g, x, ni, xp);
  buf.slot_ni[size_t(i)] = ni;
}

// Whether it pays against im2col + GEMM: the same channel and batch conditions as tap_pays, at
// most a quarter of the plane columns dropped, the packed weights in half the L2 (they stream
// once per unit) and an image's planes in a quarter of it (every weight panel reads them all),
// or in twice the L2 where a plane element read feeds enough multiply-adds (MR rows x taps >=
// 96: AVX-512's 12 rows of a 3x3 kernel, AVX2's 6 of a 7x7). Forward against the GEMM path, 1 /
// 2 threads (Zen 4, float32; docs/BENCHMARKS.md, "Round 22"): AVX-512 0.98-1.31 on ten shapes of
// small planes (8 to 128 channels), 1.06-1.19 on 1-2 MB of planes (64 channels 56x56, 32 at
// 112x112, a 7x7 stem at 224x224), 0.86-0.95 / 0.59-0.61 on 13 / 17 MB; AVX2 1.03-1.40 on small
// planes, 0.86-0.96 on the 1-2 MB ones of a 3x3 kernel, 1.15-1.32 on the 7x7 stem; 128 -> 256
// channels at 16x16 (1.2 MB of weights) 0.80-0.94 with either ISA.
template <class T>
inline bool tap_phase_pays(const Conv2dParams& p) {
  const TapGeom g = tap_phase_geom(p);
  const int64_t planes = p.c * g.cs() * int64_t(sizeof(T)), l2 = l2_per_thread();
  return p.c * p.kh * p.kw >= 16 && p.o >= 8 && 4 * g.wseg <= 5 * p.wo + 8 &&
         p.n >= num_threads() && p.o * p.c * p.kh * p.kw * int64_t(sizeof(T)) <= l2 / 2 &&
         (planes <= l2 / 4 || (kTapMR * p.kh * p.kw >= 96 && planes <= 2 * l2));
}

// The dw by phases (tap_dw_chunk) against the GEMM of dy and the im2col blocks, one and two
// threads (Zen 4, float32; docs/BENCHMARKS.md, "Round 21"): where the weights are at most 32 x
// 288 (o x c kh kw: 8-32 outputs of 8-32 channels, 8x8 to 32x32 outputs) 1.01-1.26x with AVX-512,
// 1.13-1.31x with AVX2; from 64 x 288 up (64-256 outputs of 32-128 channels, 8x8 to 28x28)
// 0.64-0.95x, except 1.05 for 64 -> 128 channels at 28x28 (AVX2).
inline bool tap_phase_dw_pays(const Conv2dParams& p) { return p.o * p.c * p.kh * p.kw <= 32 * 288; }

// dx by phases (tap_phase_backward_dx) against dcol = w^T dy and col2im, float32, 1 / 2 threads
// (Zen 4; docs/BENCHMARKS.md, "Round 22"): 1.02-1.92x on nine shapes (3 to 64 channels in, 16 to
// 128 out, 8x8 to 56x56, 3x3 and 5x5, batches of 8 to 64) with either ISA, but 0.78-0.93x on
// 128 -> 256 channels at 8x8, whose 1.2 MB of packed weights stream from L3 once per unit of 4
// images of 16 positions a phase: so the weights in half the L2. Few images do not pay for the
// packing (~7 us for 32 -> 64 channels) or leave a thread idle where col2im splits an image:
// 16x16 -> 64 channels at 2 threads 0.77-0.94x for 2-4 images, 1.08x for 8; at least two
// images and 1024 input pixels a thread.
template <class T>
inline bool tap_phase_dx_pays(const Conv2dParams& p) {
  const int64_t nt = num_threads();
  return p.o * p.kh * p.kw >= 16 && p.n >= 2 * nt && p.n * p.h * p.w >= 1024 * nt &&
         p.o * p.c * p.kh * p.kw * int64_t(sizeof(T)) <= l2_per_thread() / 2;
}

// y by phases; false where a value of y came out inf or NaN
template <class T>
bool tap_phase_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const TapGeom g1 = tap_phase_geom(p);
  // units of up to half the L2: 4 images of 16x16 -> 8x8 (32 -> 64 channels, 264 KB) fill
  // whole tiles (AVX-512: 288 positions, 9 tiles) where 2 fill 4.5: 1.11-1.16x (Zen 4, 1 MiB L2)
  const int64_t unit_bytes = std::max<int64_t>(int64_t(128) << 10, l2_per_thread() / 2);
  const TapGeom g =
      tap_phase_geom(p, tap_segs<T>(g1, p.n, p.c * g1.cs() + p.o * tap_ystride<T>(g1), unit_bytes));
  const T* const ap = tap_pack_forward(p, g, w);
  const std::vector<int64_t> toff = tap_offsets(g);
  return tap_batch_with(g, p.n, x, ap, b, y, toff.data(),
                        [&](TapScratch<T>& s, const T* x0, int64_t ni) {
                          TapPadBuf<T>& pb = s.pad[kPadPhaseFwd];
                          T* xp = pb.get(g, 1, tap_xpad_size<T>(g));
                          tap_pad_phases_kept(g, x0, ni, pb, 0, xp);
                          return xp;
                        });
}

template <class T>
void tap_phase_backward_dw(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const TapGeom g = tap_phase_geom(p);
  const std::vector<int64_t> toff = tap_offsets(g);
  const int64_t xs = tap_xpad_size<T>(g), isz = p.c * p.h * p.w;
  tap_backward_dw_with(p, g, toff.data(), dy, x, dw,
                       [&](TapScratch<T>& s, const T* x0, int64_t ni) {
                         TapPadBuf<T>& pb = s.pad[kPadPhaseX];
                         T* xp = pb.get(g, ni, xs);
                         for (int64_t i = 0; i < ni; ++i)
                           tap_pad_phases_kept(g, x0 + i * isz, 1, pb, i, xp + i * xs);
                         return xp;
                       });
}

// dx of a strided convolution by phases. Input pixel i (along an axis of stride s, padding p,
// dilation d) receives dy[oy] w[ky] wherever s oy + ky d = i + p: the taps of one parity of i
// (phase e = i mod s), ky = ky0, ky0 + q, ... (q = s / gcd(d, s)), and for them oy runs with
// step q d / s. So each phase plane of dx (rows i = s a + e) is a stride-1 convolution of dy
// with the sub-kernel of its taps, flipped: dx_e[a] = sum over m < M of wsub[m] dy[a + m dsub -
// pt] (TapPhaseAxis). Every phase reads the same dy, padded once with the largest of their
// paddings (PT, PL); phase e's taps then read it at constant offsets, so tap_image runs each
// phase on it unchanged, and the phase planes of a unit are interleaved into dx rows
// (tap_interleave_row). Each tap of w is used by exactly one phase: the FLOPs of col2im's
// product, without its column buffer and scatter.
struct TapPhaseAxis {
  int64_t len = 0;         // rows (columns) of dx in this phase: i = s a + e, a < len
  int64_t taps = 0;        // M: 0 when no tap reaches this phase (its dx is zero)
  int64_t k0 = 0, kq = 1;  // its taps: ky = k0 + kq m, m < M
  int64_t dsub = 1;        // the step in dy between them
  int64_t pt = 0;          // flipped tap m reads dy[a + m dsub - pt]
};
inline TapPhaseAxis tap_phase_axis(int64_t n, int64_t k, int64_t s, int64_t d, int64_t p,
                                   int64_t e) {
  TapPhaseAxis a;
  a.len = n > e ? (n - e + s - 1) / s : 0;
  a.k0 = 0;
  while (a.k0 < k && ((a.k0 * d - e - p) % s + s) % s != 0) ++a.k0;
  if (a.k0 == k) return a;  // no tap reaches this phase
  int64_t g = s, b = d;
  while (b) std::swap(g %= b, b);  // gcd(s, d)
  a.kq = s / g;
  a.taps = (k - 1 - a.k0) / a.kq + 1;
  a.dsub = a.kq * d / s;
  const int64_t base = (e + p - a.k0 * d) / s;  // exact: k0 d = e + p (mod s)
  a.pt = (a.taps - 1) * a.dsub - base;
  return a;
}

// The phases of a strided dx, and the padded dy they share (a TapGeom for tap_pad, with one
// spare zero row per channel so that the dropped positions of the last row never read past it).
struct TapPhaseDx {
  TapPhaseAxis ay[2], ax[2];
  TapGeom pad;       // cin = o channels of ho x wo, at (PT, PL)
  TapGeom ph[2][2];  // phase (ey, ex) for tap_image: cin = o, cout = c, hout x wout = its plane
  TapPhaseDx(const Conv2dParams& p, int64_t ns) {
    int64_t pt = 0, pl = 0;
    for (int64_t e = 0; e < p.sh; ++e) {
      ay[e] = tap_phase_axis(p.h, p.kh, p.sh, p.dh, p.ph, e);
      if (ay[e].taps) pt = std::max(pt, ay[e].pt);
    }
    for (int64_t e = 0; e < p.sw; ++e) {
      ax[e] = tap_phase_axis(p.w, p.kw, p.sw, p.dw, p.pw, e);
      if (ax[e].taps) pl = std::max(pl, ax[e].pt);
    }
    int64_t hp = pt + p.ho, wseg = pl + p.wo;
    for (int64_t e = 0; e < p.sh; ++e)
      if (ay[e].taps) hp = std::max(hp, ay[e].len + (ay[e].taps - 1) * ay[e].dsub + pt - ay[e].pt);
    for (int64_t e = 0; e < p.sw; ++e)
      if (ax[e].taps)
        wseg = std::max(wseg, ax[e].len + (ax[e].taps - 1) * ax[e].dsub + pl - ax[e].pt);
    pad = TapGeom{p.o, p.c, p.ho, p.wo, 0, 0, pt, pl, 1, 1, 1, 1, hp + 1, ns * wseg};
    pad.ns = ns;
    pad.wseg = wseg;
    for (int64_t ey = 0; ey < p.sh; ++ey)
      for (int64_t ex = 0; ex < p.sw; ++ex) {
        TapGeom& g = ph[ey][ex];
        g = pad;
        g.hout = ay[ey].len;
        g.wout = ax[ex].len;
        g.kh = ay[ey].taps;
        g.kw = ax[ex].taps;
      }
  }
  bool live(int64_t ey, int64_t ex) const { return ay[ey].taps > 0 && ax[ex].taps > 0; }
  // where flipped tap t of phase (ey, ex) reads the padded dy
  std::vector<int64_t> offsets(int64_t ey, int64_t ex) const {
    const TapPhaseAxis &a = ay[ey], &b = ax[ex];
    std::vector<int64_t> t(size_t(a.taps * b.taps));
    for (int64_t ty = 0; ty < a.taps; ++ty)
      for (int64_t tx = 0; tx < b.taps; ++tx)
        t[size_t(ty * b.taps + tx)] =
            (ty * a.dsub + pad.pt - a.pt) * pad.wp + tx * b.dsub + pad.pl - b.pt;
    return t;
  }
};

// dx row = the phase rows p0 (even columns) and p1 (odd columns; nullptr: zero) interleaved, w
// columns; sw = 1: p0 alone. A null p0 with sw = 1 or both null: zeros. Whether the row is
// finite into fin.
template <class T>
inline void tap_interleave_row(const T* p0, const T* p1, int64_t sw, int64_t w, T* out,
                               FiniteAcc<T>& fin) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (sw == 1) {
    if (p0)
      copy_vec(out, p0, w, &fin);
    else
      fill_zero(out, w);
    return;
  }
  for (int64_t b = 0; 2 * b < w; b += W) {
    const int64_t count = std::min<int64_t>(2 * W, w - 2 * b);
    const int n0 = static_cast<int>((count + 1) / 2), n1 = static_cast<int>(count / 2);
    const V a = p0 ? (n0 == W ? V::load(p0 + b) : V::load(p0 + b, n0)) : V::zero();
    const V c = p1 && n1 > 0 ? (n1 == W ? V::load(p1 + b) : V::load(p1 + b, n1)) : V::zero();
    fin.add(a);
    fin.add(c);
    V lo, hi;
    V::interleave(a, c, lo, hi);
    T* d = out + 2 * b;
    if (count >= W)
      lo.store(d);
    else
      lo.store(d, static_cast<int>(count));
    if (count == 2 * W)
      hi.store(d + W);
    else if (count > W)
      hi.store(d + W, static_cast<int>(count - W));
  }
}

// false where a value of dx came out inf or NaN
template <class T>
bool tap_phase_backward_dx(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const TapPhaseDx f1(p, 1);
  const TapGeom& g00 = f1.ph[0][0];
  const int64_t unit_bytes = std::max<int64_t>(int64_t(128) << 10, l2_per_thread() / 2);
  const int64_t ns = tap_segs<T>(g00, p.n, p.o * g00.cs() + p.c * p.h * p.w, unit_bytes);
  const TapPhaseDx f(p, ns);
  // the weights of each live phase, transposed, flipped and packed (tap_pack), one after another
  std::vector<int64_t> toff[2][2];
  int64_t aoff[2][2] = {}, yoff[2][2] = {}, ys[2][2] = {}, asz = 0, ysz = 0;
  for (int64_t ey = 0; ey < p.sh; ++ey)
    for (int64_t ex = 0; ex < p.sw; ++ex)
      if (f.live(ey, ex)) {
        const TapGeom& g = f.ph[ey][ex];
        toff[ey][ex] = f.offsets(ey, ex);
        aoff[ey][ex] = asz;
        asz += g.npanels() * kTapMR * g.kh * g.kw * g.cin;
        yoff[ey][ex] = ysz;
        ys[ey][ex] = tap_ystride<T>(g);
        ysz += g.npanels() * kTapMR * ys[ey][ex];
      }
  struct Packed;  // every element written by tap_pack
  T* const ap = reused_scratch<T, Packed>(size_t(asz));
  for (int64_t ey = 0; ey < p.sh; ++ey)
    for (int64_t ex = 0; ex < p.sw; ++ex)
      if (f.live(ey, ex)) {
        const TapPhaseAxis &a = f.ay[ey], &b = f.ax[ex];
        std::vector<int64_t> tofs(size_t(a.taps * b.taps));  // flipped tap (ty, tx): ky, kx
        for (int64_t ty = 0; ty < a.taps; ++ty)
          for (int64_t tx = 0; tx < b.taps; ++tx)
            tofs[size_t(ty * b.taps + tx)] =
                (a.k0 + a.kq * (a.taps - 1 - ty)) * p.kw + b.k0 + b.kq * (b.taps - 1 - tx);
        tap_pack<T>(f.ph[ey][ex], w, p.kh * p.kw, p.c * p.kh * p.kw, tofs.data(),
                    ap + aoff[ey][ex]);
      }
  const TapGeom& gp = f.pad;
  const int64_t units = ceil_div(p.n, ns), xs = tap_xpad_size<T>(gp);
  const double work = double(p.n) * double(p.c) * double(p.h * p.w) * double(p.o);
  const int nt = work > kConvParallelMinWork && units > 1 ? num_threads() : 1;
  FiniteFlag ff;
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    FiniteAcc<T> fin;
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < units; ++u) {
      TapScratch<T>& s = tap_scratch<T>();
      const int64_t n0 = u * ns, ni = std::min(ns, p.n - n0);
      TapPadBuf<T>& pb = s.pad[kPadDx];
      T* const xp = pb.get(gp, 1, xs);
      tap_pad_kept(gp, dy + n0 * p.o * p.ho * p.wo, ni, pb, 0, xp);
      T* const yp = s.yp(ysz);
      for (int64_t ey = 0; ey < p.sh; ++ey)
        for (int64_t ex = 0; ex < p.sw; ++ex)
          if (f.live(ey, ex))
            tap_image(f.ph[ey][ex], ap + aoff[ey][ex], xp, toff[ey][ex].data(), yp + yoff[ey][ex]);
      for (int64_t k = 0; k < ni; ++k)
        for (int64_t ci = 0; ci < p.c; ++ci)
          for (int64_t i = 0; i < p.h; ++i) {
            const int64_t ey = i % p.sh, a = i / p.sh;
            const T* row[2] = {nullptr, nullptr};
            for (int64_t ex = 0; ex < p.sw; ++ex)
              if (f.live(ey, ex))
                row[ex] = yp + yoff[ey][ex] + ci * ys[ey][ex] + a * gp.wp + k * gp.wseg;
            tap_interleave_row(row[0], row[1], p.sw, p.w,
                               dx + ((n0 + k) * p.c + ci) * p.h * p.w + i * p.w, fin);
          }
    }
    ff.note(fin.ok());
  }
  return ff.ok();
}

// ---------------------------------------------------------------------------------------------
// depthwise, the fast form. Each input plane is copied once into a per-thread buffer, its
// columns zero-padded and split into the stride's phases (column j of phase r holds input column
// j * sw + r - pw), so that every tap (ky, kx) of an output row reads one contiguous run: phase
// (kx dw) % sw from column ox + (kx dw) / sw. An output row is then the sum over its taps of a
// weight times a run (dwf_gather_rows: the weights in registers, one store per output vector
// where the direct loop loaded and stored the row once per tap). Rows whose taps fall outside
// the input are skipped, not padded: the rows of a segment share their list of taps, planned
// once per call (DwfPlan). dx is the same gather over dy, whose rows are padded on the left by
// the largest tap shift: dx's column ix = j * sw + r - pw hears from taps with
// (kx dw) % sw == r, at dy column j - (kx dw) / sw (stride 2: the two column phases then
// interleaved with permutes). dw accumulates, per tap, a dot product of a dy row with the tap's
// run (dwf_dot_rows), db the dy planes' sums, threads owning whole channels. The next plane's
// inputs are prefetched while one computes (DwfPrefetch). The padded columns add w * 0 and
// dy * 0: with a non-finite weight (forward, dx) or a non-finite dw the direct loops above run
// instead, so an inf or NaN reaches exactly the sums that read it.

inline constexpr int kDwfTaps = 9;  // taps per pass, their weights or sums held in registers

// The next plane's inputs, fetched into the cache a little per output row while this plane
// computes (its rows are in L1 / L2 by then): the planes of one thread are far apart in memory
// (n C + c), and a plane of a few KB is over before the hardware prefetcher has ramped up.
// Up to two ranges, `per` bytes a step.
struct DwfPrefetch {
  const char* p[2] = {nullptr, nullptr};
  int64_t left[2] = {0, 0};
  int64_t per = 0;
  void set(int i, const void* a, int64_t bytes) {
    p[i] = static_cast<const char*>(a);
    left[i] = bytes;
  }
  void spread(int64_t steps) { per = (left[0] + left[1]) / std::max<int64_t>(1, steps) + 64; }
  void step() {
    int64_t n = per;
    for (int i = 0; i < 2 && n > 0; ++i)
      for (; left[i] > 0 && n > 0; p[i] += 64, left[i] -= 64, n -= 64)
        __builtin_prefetch(p[i], 0, 2);
  }
};

// rows x len outputs: out[q os + j] = (acc ? out[q os + j] : init) + sum_t w[t] src[t][q ss + j].
// The taps are summed in three interleaved chains (t % 3), added at the end: one chain of nine
// dependent FMAs per vector (36 cycles) kept too few vectors in flight (0.9 Gout/s at 3x3).
template <class T, int NT>
void dwf_gather_rows(const T* const* src, const T* w, int64_t ss, T* out, int64_t os, int64_t rows,
                     int64_t len, bool acc, T init, DwfPrefetch* pf) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V wv[NT];
  const T* s[NT];  // local copies: the compiler may then keep them in registers across stores
  for (int t = 0; t < NT; ++t) {
    wv[t] = V::set1(w[t]);
    s[t] = src[t];
  }
  const V iv = V::set1(init);
  const int64_t full = len - len % W;
  const int rem = static_cast<int>(len - full);
  auto sum = [&](V a, int64_t at) {
    V b = V::zero(), c = V::zero();
    for (int t = 0; t < NT; t += 3) {
      a = fmadd(wv[t], V::load(s[t] + at), a);
      if (t + 1 < NT) b = fmadd(wv[t + 1], V::load(s[t + 1] + at), b);
      if (t + 2 < NT) c = fmadd(wv[t + 2], V::load(s[t + 2] + at), c);
    }
    return a + (b + c);
  };
  for (int64_t q = 0; q < rows; ++q) {
    if (pf) pf->step();
    T* o = out + q * os;
    const int64_t so = q * ss;
    int64_t j = 0;
    for (; j < full; j += W) sum(acc ? V::load(o + j) : iv, so + j).store(o + j);
    if (rem)  // the runs have a vector of slack: full loads, a partial store
      sum(acc ? V::load(o + j, rem) : iv, so + j).store(o + j, rem);
  }
}

// sums[t] (W lanes each) += sum over rows q and j < len of dy[q ds + j] * src[t][q ss + j]
template <class T, int NT>
void dwf_dot_rows(const T* const* src, int64_t ss, const T* dy, int64_t ds, int64_t rows,
                  int64_t len, T* sums, DwfPrefetch* pf) {
  using V = Vec<T>;
  constexpr int W = V::width;
  V a[NT];
  for (int t = 0; t < NT; ++t) a[t] = V::load(sums + t * W);
  const int64_t full = len - len % W;
  const int rem = static_cast<int>(len - full);
  for (int64_t q = 0; q < rows; ++q) {
    if (pf) pf->step();
    const T* d = dy + q * ds;
    const int64_t so = q * ss;
    int64_t j = 0;
    for (; j < full; j += W) {
      const V g = V::load(d + j);
      for (int t = 0; t < NT; ++t) a[t] = fmadd(g, V::load(src[t] + so + j), a[t]);
    }
    if (rem) {  // both loads partial: a value past the row (an inf) must not meet the zero lanes
      const V g = V::load(d + j, rem);
      for (int t = 0; t < NT; ++t) a[t] = fmadd(g, V::load(src[t] + so + j, rem), a[t]);
    }
  }
  for (int t = 0; t < NT; ++t) a[t].store(sums + t * W);
}

// The two kernels over any number of taps: passes of at most kDwfTaps (the first gather pass
// starts from init, the later ones add to out), each the instance for its count of taps K.
template <class T, int K = kDwfTaps>
void dwf_gather_pass(int k, const T* const* src, const T* w, int64_t ss, T* out, int64_t os,
                     int64_t rows, int64_t len, bool acc, T init, DwfPrefetch* pf) {
  if constexpr (K > 1)
    if (k < K) return dwf_gather_pass<T, K - 1>(k, src, w, ss, out, os, rows, len, acc, init, pf);
  dwf_gather_rows<T, K>(src, w, ss, out, os, rows, len, acc, init, pf);
}
template <class T, int K = kDwfTaps>
void dwf_dot_pass(int k, const T* const* src, int64_t ss, const T* dy, int64_t ds, int64_t rows,
                  int64_t len, T* sums, DwfPrefetch* pf) {
  if constexpr (K > 1)
    if (k < K) return dwf_dot_pass<T, K - 1>(k, src, ss, dy, ds, rows, len, sums, pf);
  dwf_dot_rows<T, K>(src, ss, dy, ds, rows, len, sums, pf);
}

template <class T>
void dwf_gather(const T* const* src, const T* w, int nt, int64_t ss, T* out, int64_t os,
                int64_t rows, int64_t len, T init, DwfPrefetch* pf = nullptr) {
  if (nt == 0) {
    for (int64_t q = 0; q < rows; ++q) std::fill(out + q * os, out + q * os + len, init);
    return;
  }
  for (int t0 = 0; t0 < nt; t0 += kDwfTaps)
    dwf_gather_pass<T>(std::min(kDwfTaps, nt - t0), src + t0, w + t0, ss, out, os, rows, len,
                       t0 > 0, init, pf);
}

template <class T>
void dwf_dot(const T* const* src, int nt, int64_t ss, const T* dy, int64_t ds, int64_t rows,
             int64_t len, T* sums, DwfPrefetch* pf = nullptr) {
  constexpr int W = Vec<T>::width;
  for (int t0 = 0; t0 < nt; t0 += kDwfTaps)
    dwf_dot_pass<T>(std::min(kDwfTaps, nt - t0), src + t0, ss, dy, ds, rows, len,
                    sums + int64_t(t0) * W, pf);
}

// A padded row d[0, len): zeros, with n values of s from column lo on, written in whole vectors
// (masked stores are slow on Zen 4: a row of a 16 x 16 plane took most of its time in them).
// The writes run up to a vector past len (into the next row, written after it, or the buffer's
// slack of one vector); s is read with a masked load at its end.
template <class T>
inline void dwf_pad_row(const T* s, int64_t lo, int64_t n, T* d, int64_t len) {
  using V = Vec<T>;
  constexpr int W = V::width;
  for (int64_t j = 0; j < len; j += W) V::zero().store(d + j);
  int64_t j = 0;
  for (; j + W <= n; j += W) V::load(s + j).store(d + lo + j);
  if (j < n) V::load(s + j, static_cast<int>(n - j)).store(d + lo + j);  // zeros past n
}

// The geometry of the phase-split input planes.
struct DwfGeom {
  int64_t amax;   // the largest tap shift (kw - 1) dw / sw, in phase columns
  int64_t pw;     // columns of a phase row: the output row rounded up to vectors, plus amax
  int64_t plane;  // elements of one input plane's phases: sw * h * pw
  DwfGeom(const Conv2dParams& p, int width) {
    amax = (p.kw - 1) * p.dw / p.sw;
    pw = ceil_div(p.wo, width) * width + amax;
    plane = p.sw * p.h * pw;
  }
};

// The phase columns [*lo, *hi) of phase r that hold input columns (j sw + r - pw in [0, w)),
// within [0, cols).
inline void dwf_phase_cols(const Conv2dParams& p, int64_t r, int64_t cols, int64_t* lo,
                           int64_t* hi) {
  const int64_t a = r >= p.pw ? 0 : ceil_div(p.pw - r, p.sw);
  const int64_t last = p.w - 1 + p.pw - r;  // j sw <= last
  const int64_t b = last < 0 ? 0 : last / p.sw + 1;
  *lo = std::min(a, cols);
  *hi = std::max(*lo, std::min(b, cols));
}

// The plane src (h x w) into its phases: dst[(r h + iy) pw + j] = src[iy w + j sw + r - pw].
template <class T>
void dwf_phases(const Conv2dParams& p, const DwfGeom& g, const T* src, T* dst) {
  for (int64_t r = 0; r < p.sw; ++r) {
    int64_t lo, hi;
    dwf_phase_cols(p, r, g.pw, &lo, &hi);
    for (int64_t iy = 0; iy < p.h; ++iy) {
      T* d = dst + (r * p.h + iy) * g.pw;
      const T* s = src + iy * p.w + lo * p.sw + r - p.pw;
      if (p.sw == 1) {
        dwf_pad_row(s, lo, hi - lo, d, g.pw);
        continue;
      }
      dwf_pad_row(s, 0, 0, d, g.pw);
      if (p.sw == 2)  // a constant stride: the compiler's permutes
        for (int64_t j = 0; j < hi - lo; ++j) d[lo + j] = s[2 * j];
      else
        for (int64_t j = 0; j < hi - lo; ++j) d[lo + j] = s[j * p.sw];
    }
  }
}

// The taps ky that output row oy reads inside the input: [k0, k1).
inline void dwf_valid_ky(const Conv2dParams& p, int64_t oy, int64_t* k0, int64_t* k1) {
  int64_t a = p.kh, b = 0;
  for (int64_t ky = 0; ky < p.kh; ++ky) {
    const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
    if (iy >= 0 && iy < p.h) {
      a = std::min(a, ky);
      b = ky + 1;
    }
  }
  *k0 = a;
  *k1 = std::max(a, b);
}

// What a call computes, worked out once for all its planes: segments of output rows that read
// the same taps, each tap as an offset into the plane's buffer and the index of its weight.
// Forward and dw: rows `row` .. row + rows of the output (consecutive rows one input row sh
// apart); dx: rows of dx, phase r, phase columns [jlo, jlo + len).
struct DwfSeg {
  int64_t row, rows, r, jlo, len;
  int64_t t0, nt;  // taps [t0, t0 + nt) of the plan's off / widx
};
struct DwfPlan {
  std::vector<DwfSeg> segs;
  std::vector<int64_t> off, widx;
};

// Forward / dw: output row oy's tap (ky, kx) reads phase (kx dw) % sw, row oy sh - ph + ky dh,
// from column (kx dw) / sw on; widx = ky kw + kx (a segment's taps are consecutive indices).
inline DwfPlan dwf_forward_plan(const Conv2dParams& p, const DwfGeom& g) {
  DwfPlan pl;
  int64_t pk0 = -1, pk1 = -1;
  for (int64_t oy = 0; oy < p.ho; ++oy) {
    int64_t k0, k1;
    dwf_valid_ky(p, oy, &k0, &k1);
    if (k0 == pk0 && k1 == pk1) {
      ++pl.segs.back().rows;
      continue;
    }
    pk0 = k0;
    pk1 = k1;
    pl.segs.push_back({oy, 1, 0, 0, p.wo, int64_t(pl.off.size()), (k1 - k0) * p.kw});
    for (int64_t ky = k0; ky < k1; ++ky) {
      const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t s = kx * p.dw;
        pl.off.push_back(((s % p.sw) * p.h + iy) * g.pw + s / p.sw);
        pl.widx.push_back(ky * p.kw + kx);
      }
    }
  }
  return pl;
}

// dx: row iy, phase r (columns ix = j sw + r - pw) hears from the taps (m, ky, kx) with
// iy + ph - ky dh = oy sh for a dy row oy and (kx dw) % sw == r, at dy column j - (kx dw) / sw:
// offset (m ho + oy) dpw + A - (kx dw) / sw into the padded dy rows, widx = m kh kw + ky kw + kx.
// Rows sh apart (one dy row apart) that read the same taps in the same phase share a segment:
// its rows are row, row + sh, ...
inline DwfPlan dwf_dx_plan(const Conv2dParams& p, int64_t mult, int64_t A, int64_t dpw) {
  DwfPlan pl;
  const int64_t taps = p.kh * p.kw;
  std::vector<int64_t> off, widx;
  std::vector<int64_t> last(size_t(p.sh * p.sw), -1);  // per (iy % sh, r): its latest segment
  for (int64_t iy = 0; iy < p.h; ++iy)
    for (int64_t r = 0; r < p.sw; ++r) {
      int64_t jlo, jhi;
      dwf_phase_cols(p, r, std::numeric_limits<int64_t>::max() / 4, &jlo, &jhi);
      if (jhi <= jlo) continue;
      off.clear();
      widx.clear();
      for (int64_t m = 0; m < mult; ++m)
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t t = iy + p.ph - ky * p.dh;
          if (t < 0 || t % p.sh || t / p.sh >= p.ho) continue;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t s = kx * p.dw;
            if (s % p.sw != r) continue;
            off.push_back((m * p.ho + t / p.sh) * dpw + A - s / p.sw + jlo);
            widx.push_back(m * taps + ky * p.kw + kx);
          }
        }
      int64_t& li = last[size_t((iy % p.sh) * p.sw + r)];
      if (li >= 0) {
        DwfSeg& b = pl.segs[size_t(li)];
        if (b.row + b.rows * p.sh == iy && b.nt == int64_t(widx.size()) &&
            std::equal(widx.begin(), widx.end(), pl.widx.begin() + b.t0)) {
          ++b.rows;
          continue;
        }
      }
      li = int64_t(pl.segs.size());
      pl.segs.push_back({iy, 1, r, jlo, jhi - jlo, int64_t(pl.off.size()), int64_t(off.size())});
      pl.off.insert(pl.off.end(), off.begin(), off.end());
      pl.widx.insert(pl.widx.end(), widx.begin(), widx.end());
    }
  return pl;
}

template <class T>
bool dwf_finite(const T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// Per-thread buffers kept between calls: the phase planes of x, dy's padded rows, a row of dx,
// the taps' run pointers, weights and dw's sums.
template <class T>
struct DwfScratch {
  std::vector<T> x, dy, row, w, sums;
  std::vector<const T*> src;
  template <class U>
  static U* grow(std::vector<U>& v, int64_t n) {
    if (int64_t(v.size()) < n) v.resize(size_t(n));
    return v.data();
  }
  T* x_of(int64_t n) { return grow(x, n); }
  T* dy_of(int64_t n) { return grow(dy, n); }
  T* row_of(int64_t n) { return grow(row, n); }
  T* w_of(int64_t n) { return grow(w, n); }
  T* sums_of(int64_t n) { return grow(sums, n); }
  const T** src_of(int64_t n) { return grow(src, n); }
};

template <class T>
DwfScratch<T>& dwf_scratch() {
  thread_local DwfScratch<T> s;
  return s;
}

inline int64_t dwf_max_taps(const DwfPlan& pl) {
  int64_t k = 1;
  for (const DwfSeg& s : pl.segs) k = std::max(k, s.nt);
  return k;
}

template <class T>
void depthwise_fast_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  if (!dwf_finite(w, p.o * p.kh * p.kw)) return depthwise_forward(p, x, w, b, y);
  constexpr int W = Vec<T>::width;
  const DwfGeom g(p, W);
  const DwfPlan pl = dwf_forward_plan(p, g);
  const int64_t mult = p.o / p.c, planes = p.n * p.c, P = p.ho * p.wo, taps = p.kh * p.kw;
  const int64_t maxt = dwf_max_taps(pl);
  const int nt = double(p.n * p.o) * double(P) * double(taps) > kConvParallelMinWork
                     ? static_cast<int>(std::min<int64_t>(num_threads(), planes))
                     : 1;
  // each thread a contiguous range of planes: its next plane is q + 1 (prefetched)
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t n = q / p.c, ci = q % p.c;
    DwfScratch<T>& s = dwf_scratch<T>();
    T* xb = s.x_of(g.plane + W);
    const T** src = s.src_of(maxt);
    T* wt = s.w_of(maxt);
    dwf_phases(p, g, x + q * p.h * p.w, xb);
    DwfPrefetch pf;
    if (q + 1 < planes) pf.set(0, x + (q + 1) * p.h * p.w, p.h * p.w * int64_t(sizeof(T)));
    pf.spread(mult * p.ho);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t o = ci * mult + m;
      const T* wo = w + o * taps;
      T* yp = y + (n * p.o + o) * P;
      for (const DwfSeg& sg : pl.segs) {
        for (int64_t t = 0; t < sg.nt; ++t) {
          src[t] = xb + pl.off[sg.t0 + t];
          wt[t] = wo[pl.widx[sg.t0 + t]];
        }
        dwf_gather(src, wt, static_cast<int>(sg.nt), p.sh * g.pw, yp + sg.row * p.wo, p.wo, sg.rows,
                   p.wo, b ? b[o] : T(0), &pf);
      }
    }
  }
}

template <class T>
void depthwise_fast_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                             T* dw, T* db) {
  const int64_t taps = p.kh * p.kw;
  if (dx && !dwf_finite(w, p.o * taps)) {
    if (db) bias_grad(p, dy, db);
    return depthwise_backward(p, dy, x, w, dx, dw);
  }
  constexpr int W = Vec<T>::width;
  const DwfGeom g(p, W);
  const int64_t mult = p.o / p.c, P = p.ho * p.wo, HW = p.h * p.w;
  // dy's rows for dx: row oy of the plane's m-th output channel at dyb + (m ho + oy) dpw, its
  // columns from A = amax on, zeros around; phase column j of dx reads from A - a + j on
  const int64_t A = g.amax, jmax = (p.w - 1 + p.pw) / p.sw, dpw = A + jmax + W;
  const DwfPlan pdx = dx ? dwf_dx_plan(p, mult, A, dpw) : DwfPlan();
  const DwfPlan pdw = dw ? dwf_forward_plan(p, g) : DwfPlan();
  const int64_t maxt = std::max(dwf_max_taps(pdx), dwf_max_taps(pdw));
  // plane (n, ci), then (nn, nci) next on this thread (nn < 0: none): its dy and x prefetched
  auto plane = [&](int64_t n, int64_t ci, T* sums, T* dbs, int64_t nn, int64_t nci) {
    DwfScratch<T>& s = dwf_scratch<T>();
    const T** src = s.src_of(maxt);
    T* wt = s.w_of(maxt);
    DwfPrefetch pf;
    if (nn >= 0) {
      pf.set(0, dy + (nn * p.o + nci * mult) * P, mult * P * int64_t(sizeof(T)));
      if (dw) pf.set(1, x + (nn * p.c + nci) * HW, HW * int64_t(sizeof(T)));
      pf.spread((dx ? p.h : 0) + (dw ? mult * p.ho : 0));
    }
    if (dx) {
      T* dyb = s.dy_of(mult * p.ho * dpw + W);
      const int64_t cols = std::min(p.wo, dpw - A);
      for (int64_t m = 0; m < mult; ++m)
        for (int64_t oy = 0; oy < p.ho; ++oy)
          dwf_pad_row(dy + (n * p.o + ci * mult + m) * P + oy * p.wo, A, cols,
                      dyb + (m * p.ho + oy) * dpw, dpw);
      T* dxp = dx + (n * p.c + ci) * HW;
      const T* wc = w + ci * mult * taps;
      // sw > 1: the columns c0, c0 + sw, ... of every dx row (c0 < sw) into row c0 h + iy of a
      // plane buffer, then interleaved into dx (sw = 2: with vector permutes)
      const int64_t rlen = jmax + 2 * W;
      T* dxph = p.sw > 1 ? s.row_of(p.sw * p.h * rlen) : nullptr;
      for (const DwfSeg& sg : pdx.segs) {
        for (int64_t t = 0; t < sg.nt; ++t) {
          src[t] = dyb + pdx.off[sg.t0 + t];
          wt[t] = wc[pdx.widx[sg.t0 + t]];
        }
        const int k = static_cast<int>(sg.nt);
        if (p.sw == 1)  // jlo = pw: phase column j is dx column j - pw
          dwf_gather(src, wt, k, dpw, dxp + sg.row * p.w, p.sh * p.w, sg.rows, sg.len, T(0), &pf);
        else  // c0 = the segment's first dx column
          dwf_gather(src, wt, k, dpw, dxph + ((sg.jlo * p.sw + sg.r - p.pw) * p.h + sg.row) * rlen,
                     p.sh * rlen, sg.rows, sg.len, T(0), &pf);
      }
      if (p.sw == 2) {
        FiniteAcc<T> unused;
        for (int64_t iy = 0; iy < p.h; ++iy)
          tap_interleave_row(dxph + iy * rlen, dxph + (p.h + iy) * rlen, int64_t(2), p.w,
                             dxp + iy * p.w, unused);
      } else if (p.sw > 2) {
        for (int64_t iy = 0; iy < p.h; ++iy)
          for (int64_t ix = 0; ix < p.w; ++ix)
            dxp[iy * p.w + ix] = dxph[((ix % p.sw) * p.h + iy) * rlen + ix / p.sw];
      }
    }
    if (dbs)  // db: the sums of the dy planes, in bias_grad's order (in cache after dx's copy)
      for (int64_t m = 0; m < mult; ++m) {
        using V = Vec<T>;
        const T* r = dy + (n * p.o + ci * mult + m) * P;
        V acc = V::load(dbs + m * W);
        int64_t i = 0;
        for (; i + W <= P; i += W) acc = acc + V::load(r + i);
        if (i < P) acc = acc + V::load(r + i, static_cast<int>(P - i));
        acc.store(dbs + m * W);
      }
    if (dw) {
      T* xb = s.x_of(g.plane + W);
      dwf_phases(p, g, x + (n * p.c + ci) * HW, xb);
      for (int64_t m = 0; m < mult; ++m) {
        const T* dyp = dy + (n * p.o + ci * mult + m) * P;
        for (const DwfSeg& sg : pdw.segs) {
          for (int64_t t = 0; t < sg.nt; ++t) src[t] = xb + pdw.off[sg.t0 + t];
          if (sg.nt > 0)
            dwf_dot(src, static_cast<int>(sg.nt), p.sh * g.pw, dyp + sg.row * p.wo, p.wo, sg.rows,
                    p.wo, sums + (m * taps + pdw.widx[sg.t0]) * W, &pf);
        }
      }
    }
  };
  const double work = double(p.n * p.o) * double(P) * double(taps);
  const int nt0 = work > kConvParallelMinWork ? num_threads() : 1;
  if (dw || db) {  // each thread owns whole channels: dw's and db's sums in one order on any
                   // thread count
    const int nt = static_cast<int>(std::min<int64_t>(nt0, p.c));
    const int64_t ns = dw ? mult * taps * W : 0;  // dw's sums, then db's (mult vectors)
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t ci = 0; ci < p.c; ++ci) {
      T* sums = dwf_scratch<T>().sums_of(ns + mult * W);
      fill_zero(sums, ns + mult * W);
      for (int64_t n = 0; n < p.n; ++n)
        plane(n, ci, sums, db ? sums + ns : nullptr, n + 1 < p.n ? n + 1 : -1, ci);
      if (dw)
        for (int64_t t = 0; t < mult * taps; ++t)
          dw[ci * mult * taps + t] = Vec<T>::load(sums + t * W).reduce_add();
      if (db)
        for (int64_t m = 0; m < mult; ++m)
          db[ci * mult + m] = Vec<T>::load(sums + ns + m * W).reduce_add();
    }
    if (dw && !dwf_finite(dw, p.o * taps))
      depthwise_backward(p, dy, x, w, static_cast<T*>(nullptr), dw);
  } else {
    const int64_t planes = p.n * p.c;
    const int nt = static_cast<int>(std::min<int64_t>(nt0, planes));
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t q = 0; q < planes; ++q)
      plane(q / p.c, q % p.c, static_cast<T*>(nullptr), static_cast<T*>(nullptr),
            q + 1 < planes ? (q + 1) / p.c : -1, (q + 1) % p.c);
  }
}

inline bool is_depthwise(const Conv2dParams& p) { return p.groups == p.c && p.groups > 1; }

// Whether all n values at v are finite (x - x is 0 for them, NaN for an inf or a NaN): one read,
// on the team.
template <class T>
bool all_finite(const T* v, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  std::atomic<bool> found{false};
  parallel_chunks(n, kParallelGrain * 4, [&](int64_t b, int64_t e) {
    if (found.load(std::memory_order_relaxed)) return;
    V acc = V::zero();
    int64_t i = b;
    for (; i + W <= e; i += W) {
      const V x = V::load(v + i);
      acc = acc + (x - x);
    }
    Mask<T> ok = acc == acc;
    bool bad = !all_lanes(ok);
    for (; i < e; ++i) bad = bad || !std::isfinite(v[i]);
    if (bad) found.store(true, std::memory_order_relaxed);
  });
  return !found.load();
}

// Non-finite values and the fast algorithms. Winograd's transforms and the tap and phase paths'
// shared rows combine values that the direct sum keeps apart, so an inf or NaN in x, w or dy
// reaches outputs whose direct sums never meet it (inf - inf = NaN in a transform, 0 * NaN on a
// padded row, where torch's convolutions give +-inf or a finite value), and a transform of
// finite values within a few bits of the float range can overflow where the direct sum does
// not. So with the automatic choice, a fast path whose y or dx holds an inf or NaN is run again
// by the GEMM path (im2col products: each output the direct sum of the values it reads), and so
// is one whose dw does. The fast paths note whether their y and dx are finite as they write
// them (FiniteAcc, winograd.h: one FMA a vector, on values in registers); dw, a few hundred KB
// at most, is read once. A non-finite result is computed twice; explicit algorithms (algo=) are
// left as they are.
template <class T>
void conv2d_forward_t(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y,
                      ConvAlgo algo) {
  if (p.n == 0 || p.o == 0 || p.ho == 0 || p.wo == 0) return;
  if (algo == ConvAlgo::direct) return direct_forward(p, x, w, b, y);
  const bool autom = algo == ConvAlgo::automatic;
  if (autom && is_depthwise(p)) return depthwise_fast_forward(p, x, w, b, y);
  bool ok;  // the fast path's y finite
  if (algo == ConvAlgo::winograd && winograd_applies(p))
    ok = winograd_forward(p, x, w, b, y);
  else if (autom && winograd_pays<T>(p) && tap_applies(p) && tap_pays(p))
    ok = winograd_forward(p, x, w, b, y);
  else if ((algo == ConvAlgo::tap && tap_applies(p)) || (autom && tap_applies(p) && tap_pays(p)))
    ok = tap_forward(p, x, w, b, y);
  else if ((algo == ConvAlgo::tap && tap_phase_applies(p)) ||
           (autom && tap_phase_applies(p) && tap_phase_pays<T>(p)))
    ok = tap_phase_forward(p, x, w, b, y);
  else
    return gemm_forward(p, x, w, b, y);
  if (!ok && autom) gemm_forward(p, x, w, b, y);
}

// The backward's algorithms; true where a fast one (Winograd, tap, phase) wrote a dx or dw that
// holds an inf or NaN (dw checked with the automatic choice only).
template <class T>
bool conv2d_backward_run(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,
                         T* db, ConvAlgo algo) {
  if (algo == ConvAlgo::direct) {
    direct_backward(p, dy, x, w, dx, dw, db);
    return false;
  }
  // after a fast path: dx_ok from the path that wrote dx (true if none or the GEMM's), dw by one
  auto bad = [&](bool dx_ok, bool dw_fast) {
    return !dx_ok || (dw_fast && dw && algo == ConvAlgo::automatic &&
                      !all_finite(dw, p.o * (p.c / p.groups) * p.kh * p.kw));
  };
  if (p.n > 0 && p.ho > 0 && p.wo > 0 &&
      ((algo == ConvAlgo::winograd && winograd_applies(p)) ||
       (algo == ConvAlgo::automatic && winograd_bwd_pays<T>(p) && tap_applies(p) && tap_pays(p)))) {
    if (db) bias_grad(p, dy, db);
    const bool dx_ok = !dx || winograd_backward_dx(p, dy, w, dx);
    if (dw) winograd_backward_dw(p, dy, x, dw);
    return bad(dx_ok, true);
  }
  if (algo == ConvAlgo::automatic && dw && p.n > 0 && p.ho > 0 && p.wo > 0 && winograd_dw_pays(p) &&
      tap_applies(p) && tap_pays(p)) {  // dw by Winograd, dx by tap
    bool dx_ok = true;
    if (dx && tap_fused_applies(p)) {
      dx_ok = tap_backward_fused(p, dy, x, w, dx, static_cast<T*>(nullptr), db);
    } else {
      if (db) bias_grad(p, dy, db);
      if (dx) dx_ok = tap_backward_dx(p, dy, w, dx);
    }
    winograd_backward_dw(p, dy, x, dw);
    return bad(dx_ok, true);
  }
  if ((dx || dw) && p.n > 0 && tap_fused_applies(p) &&
      ((algo == ConvAlgo::tap && tap_applies(p)) ||
       (algo == ConvAlgo::automatic && tap_applies(p) && tap_pays(p))))
    return bad(tap_backward_fused(p, dy, x, w, dx, dw, db), true);
  if (algo == ConvAlgo::automatic && is_depthwise(p) && p.n > 0 && p.ho * p.wo > 0) {
    depthwise_fast_backward(p, dy, x, w, dx, dw, db);  // db too, from the dy planes it reads
    return false;
  }
  if (db) {
    if (p.n == 0 || p.ho * p.wo == 0)
      std::fill(db, db + p.o, T(0));
    else
      bias_grad(p, dy, db);
  }
  if (algo == ConvAlgo::automatic && is_depthwise(p)) {  // empty: zeros
    if (dx) std::fill(dx, dx + p.n * p.c * p.h * p.w, T(0));
    if (dw) std::fill(dw, dw + p.o * p.kh * p.kw, T(0));
    return false;
  }
  if (p.n > 0 && ((algo == ConvAlgo::tap && tap_applies(p)) ||
                  (algo == ConvAlgo::automatic && tap_applies(p) && tap_pays(p)))) {
    const bool dx_ok = !dx || tap_backward_dx(p, dy, w, dx);
    if (dw) tap_backward_dw(p, dy, x, dw);
    return bad(dx_ok, true);
  }
  if (p.n > 0 && ((algo == ConvAlgo::tap && tap_phase_applies(p)) ||
                  (algo == ConvAlgo::automatic && tap_phase_applies(p) && tap_phase_pays<T>(p) &&
                   tap_phase_dw_pays(p)))) {
    bool dx_ok = true;
    if (dx && (algo == ConvAlgo::tap || tap_phase_dx_pays<T>(p)))
      dx_ok = tap_phase_backward_dx(p, dy, w, dx);
    else if (dx)
      gemm_backward(p, dy, x, w, dx, static_cast<T*>(nullptr));
    if (dw) tap_phase_backward_dw(p, dy, x, dw);
    return bad(dx_ok, true);
  }
  if (algo == ConvAlgo::automatic && p.n > 0 && dx && tap_phase_applies(p) &&
      tap_phase_dx_pays<T>(p)) {
    const bool dx_ok = tap_phase_backward_dx(p, dy, w, dx);
    if (dw) gemm_backward(p, dy, x, w, static_cast<T*>(nullptr), dw);
    return bad(dx_ok, false);
  }
  gemm_backward(p, dy, x, w, dx, dw);
  return false;
}

template <class T>
void conv2d_backward_t(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw,
                       T* db, ConvAlgo algo) {
  if (conv2d_backward_run(p, dy, x, w, dx, dw, db, algo) && algo == ConvAlgo::automatic)
    gemm_backward(p, dy, x, w, dx, dw);
}

}  // namespace conv_detail

#define DG_CONV_DEFS(T)                                                                          \
  void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y,           \
                      ConvAlgo algo) {                                                           \
    conv_detail::conv2d_forward_t(p, x, w, b, y, algo);                                          \
  }                                                                                              \
  void conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, T* dw, \
                       T* db, ConvAlgo algo) {                                                   \
    conv_detail::conv2d_backward_t(p, dy, x, w, dx, dw, db, algo);                               \
  }
DG_CONV_DEFS(float)
DG_CONV_DEFS(double)
#undef DG_CONV_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
