// Fused normalization kernels: batch norm over (n, c, s) (s = L or H*W; 1 for (N, C)) and
// layer norm over rows of d elements. Compiled once per ISA (cmake/cpu_isa.cmake).
//
// Statistics are one pass of shifted sums: per channel (or row) K = its first element, then
// sum(x - K) and sum((x - K)^2), accumulated in Vec<T> over blocks of at most kNormBlock
// elements and added into double between blocks. The shift makes the variance free of the
// cancellation of E[x^2] - E[x]^2 when |mean| >> std (its error is ~eps * (1 + (mean - K)^2 /
// var) with K a sample of the data); the short float blocks keep float32 sums accurate.
#include <cmath>
#include <vector>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

inline constexpr int64_t kNormBlock = 512;  // elements per float accumulation block
inline constexpr int kRowGroups = 4;        // vectors of channels per task in the (N, C) path
// Outputs of at least this many bytes are written with non-temporal stores (no read for
// ownership). Below it regular stores: measured at 16M float32 on the 260 MiB-L3 machine, the
// arrays stay in L3 and streaming to memory was 3x slower at 2 threads (docs/BENCHMARKS.md).
inline constexpr int64_t kNormStreamBytes = int64_t(512) << 20;

// out[i..i+rem) = v; streamed when `stream` and the address is vector-aligned.
template <class T>
inline void put(T* out, int64_t i, int rem, Vec<T> v, bool stream) {
  constexpr int W = Vec<T>::width;
  if (rem == W) {
    if (stream && reinterpret_cast<uintptr_t>(out + i) % (W * sizeof(T)) == 0)
      v.store_stream(out + i);
    else
      v.store(out + i);
  } else {
    v.store(out + i, rem);
  }
}

// f(i, rem) over [0, len) in vector steps (rem < width only at the ends); when `stream`, a
// masked head first, so the full steps start at a vector-aligned address of out (out is
// element-aligned) and can be written with non-temporal stores.
template <class T, class F>
inline void segments(const T* out, int64_t len, bool stream, F&& f) {
  constexpr int W = Vec<T>::width;
  int64_t i = 0;
  if (stream) {
    const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(out) / sizeof(T)) % W);
    if (mis != 0) {
      i = W - mis < len ? W - mis : len;
      f(int64_t(0), static_cast<int>(i));
    }
  }
  for (; i + W <= len; i += W) f(i, W);
  if (i < len) f(i, static_cast<int>(len - i));
}

template <class T>
inline Vec<T> load_or(const T* p, int64_t i, int rem, T fallback) {
  using V = Vec<T>;
  if (p == nullptr) return V::set1(fallback);
  return rem == V::width ? V::load(p + i) : V::load(p + i, rem);
}

// One element group of a statistics pass: kBwd false: d = x - cen, a += d, b += d * d;
// kBwd true: a += dy, b += dy * (x - cen). rem < width: a tail (the other lanes add nothing).
template <class T, bool kBwd>
inline void sums_step(const T* x, const T* dy, int64_t i, int rem, Vec<T> cen, Vec<T>& a,
                      Vec<T>& b) {
  using V = Vec<T>;
  if (rem == V::width) {
    const V d = V::load(x + i) - cen;
    if constexpr (kBwd) {
      const V g = V::load(dy + i);
      a = a + g;
      b = fmadd(g, d, b);
    } else {
      a = a + d;
      b = fmadd(d, d, b);
    }
  } else {
    const V d = select(lanes_below<T>(rem), V::load(x + i, rem) - cen, V::zero());
    if constexpr (kBwd) {
      const V g = V::load(dy + i, rem);
      a = a + g;
      b = fmadd(g, d, b);
    } else {
      a = a + d;
      b = fmadd(d, d, b);
    }
  }
}

// Sums over one contiguous run [0, len) with one center: (sa, sb) in double.
template <class T, bool kBwd>
inline void run_sums(const T* x, const T* dy, int64_t len, T center, double& sa, double& sb) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V cen = V::set1(center);
  double ta = 0.0, tb = 0.0;
  for (int64_t b0 = 0; b0 < len; b0 += kNormBlock) {
    const int64_t e = b0 + kNormBlock < len ? b0 + kNormBlock : len;
    V a0 = V::zero(), b0v = V::zero(), a1 = V::zero(), b1 = V::zero();
    int64_t i = b0;
    for (; i + 2 * W <= e; i += 2 * W) {
      sums_step<T, kBwd>(x, dy, i, W, cen, a0, b0v);
      sums_step<T, kBwd>(x, dy, i + W, W, cen, a1, b1);
    }
    for (; i < e; i += W) sums_step<T, kBwd>(x, dy, i, e - i < W ? int(e - i) : W, cen, a0, b0v);
    ta += static_cast<double>((a0 + a1).reduce_add());
    tb += static_cast<double>((b0v + b1).reduce_add());
  }
  sa = ta;
  sb = tb;
}

// Per-channel sums over x (n, c, s) (and dy when kBwd) around center[c]: sa[c], sb[c].
template <class T, bool kBwd>
void channel_sums(const T* x, const T* dy, const T* center, int64_t n, int64_t c, int64_t s,
                  double* sa, double* sb) {
  using V = Vec<T>;
  constexpr int W = V::width;
  for (int64_t j = 0; j < c; ++j) sa[j] = sb[j] = 0.0;
  if (n == 0 || c == 0 || s == 0) return;
  if (s > 1) {  // runs of s contiguous elements, one per (sample, channel), partials per run
    const int64_t runs = n * c;
    std::vector<double> part(static_cast<size_t>(2 * runs));
    const int64_t grain = kParallelGrain / s + 1;
    parallel_chunks(runs, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t off = r * s;
        run_sums<T, kBwd>(x + off, kBwd ? dy + off : nullptr, s, center[r % c], part[2 * r],
                          part[2 * r + 1]);
      }
    });
    for (int64_t r = 0; r < runs; ++r) {  // fixed order: reproducible
      sa[r % c] += part[2 * r];
      sb[r % c] += part[2 * r + 1];
    }
    return;
  }
  // s == 1: rows of c channels; tasks of (row chunk, channel block), lanes = channels
  constexpr int64_t kCb = int64_t(kRowGroups) * W;
  const int64_t cblocks = (c + kCb - 1) / kCb;
  int64_t rows_per = kParallelGrain / c + 1;
  rows_per = (rows_per + kNormBlock - 1) / kNormBlock * kNormBlock;
  const int64_t rchunks = (n + rows_per - 1) / rows_per;
  const int64_t tasks = rchunks * cblocks;
  std::vector<double> part(static_cast<size_t>(2 * rchunks * c));
  auto task = [&](int64_t t) {
    const int64_t rc = t / cblocks, c0 = (t % cblocks) * kCb;
    const int64_t c1 = c0 + kCb < c ? c0 + kCb : c;
    const int64_t r0 = rc * rows_per, r1 = r0 + rows_per < n ? r0 + rows_per : n;
    double* pa = part.data() + 2 * rc * c;
    double* pb = pa + c;
    for (int64_t j = c0; j < c1; ++j) pa[j] = pb[j] = 0.0;
    V cen[kRowGroups];
    int rem[kRowGroups];
    int groups = 0;
    for (int64_t j = c0; j < c1; j += W, ++groups) {
      rem[groups] = c1 - j < W ? int(c1 - j) : W;
      cen[groups] = load_or<T>(center, j, rem[groups], T(0));
    }
    for (int64_t b0 = r0; b0 < r1; b0 += kNormBlock) {
      const int64_t e = b0 + kNormBlock < r1 ? b0 + kNormBlock : r1;
      V a[kRowGroups], bb[kRowGroups];
      for (int g = 0; g < kRowGroups; ++g) a[g] = bb[g] = V::zero();
      for (int64_t i = b0; i < e; ++i)
        for (int g = 0; g < groups; ++g)
          sums_step<T, kBwd>(x, dy, i * c + c0 + g * W, rem[g], cen[g], a[g], bb[g]);
      for (int g = 0; g < groups; ++g) {
        T ta[W], tb[W];
        a[g].store(ta);
        bb[g].store(tb);
        for (int l = 0; l < rem[g]; ++l) {
          pa[c0 + g * W + l] += static_cast<double>(ta[l]);
          pb[c0 + g * W + l] += static_cast<double>(tb[l]);
        }
      }
    }
  };
  const int nt = n * c > kParallelGrain && tasks > 1 ? num_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t t = 0; t < tasks; ++t) task(t);
  for (int64_t rc = 0; rc < rchunks; ++rc)
    for (int64_t j = 0; j < c; ++j) {
      sa[j] += part[2 * rc * c + j];
      sb[j] += part[2 * rc * c + c + j];
    }
}

// out = A[c] * p + B[c] * (q - M[c]) + D[c] over (n, c, s), elementwise (p may be null: no A
// term; q may be null: no B term).
template <class T>
void channel_map(const T* p, const T* q, const T* A, const T* B, const T* M, const T* D, T* out,
                 int64_t n, int64_t c, int64_t s) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (n == 0 || c == 0 || s == 0) return;
  const bool stream = n * c * s * int64_t(sizeof(T)) >= kNormStreamBytes;
  auto step = [&](int64_t i, int rem, V a, V b, V m, V d) {
    V r = d;
    if (q != nullptr) {
      const V qv = rem == W ? V::load(q + i) : V::load(q + i, rem);
      r = fmadd(qv - m, b, r);
    }
    if (p != nullptr) {
      const V pv = rem == W ? V::load(p + i) : V::load(p + i, rem);
      r = fmadd(pv, a, r);
    }
    put(out, i, rem, r, stream);
  };
  if (s > 1) {
    parallel_chunks(n * c, kParallelGrain / s + 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t ch = r % c, off = r * s;
        const V a = V::set1(A ? A[ch] : T(0)), bv = V::set1(B ? B[ch] : T(0));
        const V m = V::set1(M ? M[ch] : T(0)), d = V::set1(D ? D[ch] : T(0));
        segments(out + off, s, stream,
                 [&](int64_t i, int rem) { step(off + i, rem, a, bv, m, d); });
      }
      if (stream) stream_fence();
    });
    return;
  }
  parallel_chunks(n, kParallelGrain / c + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      segments(out + r * c, c, stream, [&](int64_t j, int rem) {
        step(r * c + j, rem, load_or<T>(A, j, rem, T(0)), load_or<T>(B, j, rem, T(0)),
             load_or<T>(M, j, rem, T(0)), load_or<T>(D, j, rem, T(0)));
      });
    }
    if (stream) stream_fence();
  });
}

template <class T>
void batch_norm_stats_t(const T* x, T* mean, T* invstd, T* running_mean, T* running_var, int64_t n,
                        int64_t c, int64_t s, double momentum, double eps) {
  const int64_t count = n * s;
  std::vector<T> shift(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) shift[j] = count > 0 ? x[j * s] : T(0);
  std::vector<double> sa(static_cast<size_t>(c)), sb(static_cast<size_t>(c));
  channel_sums<T, false>(x, nullptr, shift.data(), n, c, s, sa.data(), sb.data());
  for (int64_t j = 0; j < c; ++j) {
    double m = 0.0, var = 0.0;
    if (count > 0) {
      const double da = sa[j] / double(count);
      m = double(shift[j]) + da;
      var = sb[j] / double(count) - da * da;
      if (var < 0.0) var = 0.0;
      if (std::isnan(sb[j]) || std::isnan(sa[j])) var = sa[j] + sb[j];  // keep NaN
    }
    mean[j] = static_cast<T>(m);
    invstd[j] = static_cast<T>(1.0 / std::sqrt(var + eps));
    if (running_mean != nullptr && count > 0) {
      const double unbiased = count > 1 ? var * double(count) / double(count - 1) : var;
      running_mean[j] = static_cast<T>((1.0 - momentum) * double(running_mean[j]) + momentum * m);
      running_var[j] =
          static_cast<T>((1.0 - momentum) * double(running_var[j]) + momentum * unbiased);
    }
  }
}

template <class T>
void batch_norm_apply_t(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias,
                        T* y, int64_t n, int64_t c, int64_t s) {
  // y = (x - mean) * scale + bias, scale = w * invstd (double, rounded once): the centered
  // form of x * scale + shift (shift = bias - mean * scale), exact for a constant channel and
  // without shift's rounding error of eps * |mean * scale| when |mean| >> std
  std::vector<T> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    scale[j] = static_cast<T>(double(invstd[j]) * (weight ? double(weight[j]) : 1.0));
    shift[j] = bias ? bias[j] : T(0);
  }
  channel_map<T>(nullptr, x, nullptr, scale.data(), mean, shift.data(), y, n, c, s);
}

template <class T>
void batch_norm_backward_t(const T* dy, const T* x, const T* mean, const T* invstd, const T* weight,
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,
                           bool training) {
  const int64_t count = n * s;
  std::vector<double> s1(static_cast<size_t>(c)), s2(static_cast<size_t>(c));
  const bool sums = dweight != nullptr || dbias != nullptr || (dx != nullptr && training);
  if (sums) channel_sums<T, true>(x, dy, mean, n, c, s, s1.data(), s2.data());
  for (int64_t j = 0; j < c; ++j) {
    if (dbias != nullptr) dbias[j] = static_cast<T>(s1[j]);
    if (dweight != nullptr) dweight[j] = static_cast<T>(s2[j] * double(invstd[j]));
  }
  if (dx == nullptr) return;
  // training: dx = k dy - k invstd^2 s2 / count (x - mean) - k s1 / count, k = w invstd;
  // eval: dx = k dy
  std::vector<T> A(static_cast<size_t>(c)), B(static_cast<size_t>(c)), D(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    const double is = double(invstd[j]), k = is * (weight ? double(weight[j]) : 1.0);
    A[j] = static_cast<T>(k);
    B[j] = training && count > 0 ? static_cast<T>(-k * is * is * s2[j] / double(count)) : T(0);
    D[j] = training && count > 0 ? static_cast<T>(-k * s1[j] / double(count)) : T(0);
  }
  channel_map<T>(dy, training ? x : nullptr, A.data(), B.data(), mean, D.data(), dx, n, c, s);
}

template <class T>
void layer_norm_forward_t(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                          int64_t rows, int64_t d, double eps) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (d == 0) {
    for (int64_t r = 0; r < rows; ++r) mean[r] = rstd[r] = static_cast<T>(NAN);
    return;
  }
  const bool stream = rows * d * int64_t(sizeof(T)) >= kNormStreamBytes;
  parallel_chunks(rows, kParallelGrain / d + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      double sa, sb;
      run_sums<T, false>(xr, nullptr, d, xr[0], sa, sb);
      const double da = sa / double(d);
      double var = sb / double(d) - da * da;
      if (var < 0.0) var = 0.0;
      if (std::isnan(sa) || std::isnan(sb)) var = sa + sb;
      const T m = static_cast<T>(double(xr[0]) + da),
              rs = static_cast<T>(1.0 / std::sqrt(var + eps));
      mean[r] = m;
      rstd[r] = rs;
      const V mv = V::set1(m), rv = V::set1(rs);
      segments(yr, d, stream, [&](int64_t i, int rem) {
        const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
        V h = (xv - mv) * rv;
        if (weight != nullptr) h = h * (rem == W ? V::load(weight + i) : V::load(weight + i, rem));
        if (bias != nullptr) h = h + (rem == W ? V::load(bias + i) : V::load(bias + i, rem));
        put(yr, i, rem, h, stream);
      });
    }
    if (stream) stream_fence();
  });
}

template <class T>
void layer_norm_backward_t(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                           T* dx, T* dweight, T* dbias, int64_t rows, int64_t d) {
  using V = Vec<T>;
  constexpr int W = V::width;
  constexpr int64_t kFlush = 64;  // rows per float partial before adding into double
  if (d == 0 || rows == 0) {
    for (int64_t j = 0; j < d; ++j) {
      if (dweight != nullptr) dweight[j] = T(0);
      if (dbias != nullptr) dbias[j] = T(0);
    }
    return;
  }
  const bool params = dweight != nullptr || dbias != nullptr;
  const bool stream = rows * d * int64_t(sizeof(T)) >= kNormStreamBytes;
  const int nt = rows * d > kParallelGrain && rows > 1 ? num_threads() : 1;
  const int parts = nt < rows ? nt : static_cast<int>(rows);
  // per-thread partials: [acc_w (double d), acc_b (double d)] and [blk_w (T d), blk_b (T d)]
  std::vector<double> acc(params ? static_cast<size_t>(2 * d * parts) : 0, 0.0);
  auto part = [&](int p) {
    const int64_t r0 = rows * p / parts, r1 = rows * (p + 1) / parts;
    std::vector<T> blk(params ? static_cast<size_t>(2 * d) : 0, T(0));
    double* aw = params ? acc.data() + 2 * d * p : nullptr;
    double* ab = params ? aw + d : nullptr;
    T* bw = params ? blk.data() : nullptr;
    T* bb = params ? bw + d : nullptr;
    int64_t pending = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * d;
      const T* gr = dy + r * d;
      const V mv = V::set1(mean[r]), rv = V::set1(rstd[r]);
      if (dx != nullptr) {
        // s1 = sum(dy w), s2 = sum(dy w xhat)
        V a0 = V::zero(), b0 = V::zero();
        double s1 = 0.0, s2 = 0.0;
        for (int64_t b = 0; b < d; b += kNormBlock) {
          const int64_t e = b + kNormBlock < d ? b + kNormBlock : d;
          a0 = b0 = V::zero();
          for (int64_t i = b; i < e; i += W) {
            const int rem = e - i < W ? int(e - i) : W;
            V g = rem == W ? V::load(gr + i) : V::load(gr + i, rem);
            if (weight != nullptr)
              g = g * (rem == W ? V::load(weight + i) : V::load(weight + i, rem));
            const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
            const V h = select(lanes_below<T>(rem), (xv - mv) * rv, V::zero());
            a0 = a0 + g;
            b0 = fmadd(g, h, b0);
          }
          s1 += static_cast<double>(a0.reduce_add());
          s2 += static_cast<double>(b0.reduce_add());
        }
        const T m1 = static_cast<T>(s1 / double(d)), m2 = static_cast<T>(s2 / double(d));
        const V m1v = V::set1(m1), m2v = V::set1(m2);
        T* dr = dx + r * d;
        segments(dr, d, stream, [&](int64_t i, int rem) {
          const V g0 = rem == W ? V::load(gr + i) : V::load(gr + i, rem);
          const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
          const V h = (xv - mv) * rv;
          const V g = weight != nullptr
                          ? g0 * (rem == W ? V::load(weight + i) : V::load(weight + i, rem))
                          : g0;
          const V out = rv * fnmadd(h, m2v, g - m1v);
          put(dr, i, rem, out, stream);
          if (params) {
            const V pw = rem == W ? V::load(bw + i) : V::load(bw + i, rem);
            const V pb = rem == W ? V::load(bb + i) : V::load(bb + i, rem);
            const V nw = fmadd(g0, h, pw), nb = pb + g0;
            if (rem == W) {
              nw.store(bw + i);
              nb.store(bb + i);
            } else {
              nw.store(bw + i, rem);
              nb.store(bb + i, rem);
            }
          }
        });
      } else if (params) {
        for (int64_t i = 0; i < d; i += W) {
          const int rem = d - i < W ? int(d - i) : W;
          const V g0 = rem == W ? V::load(gr + i) : V::load(gr + i, rem);
          const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
          const V h = (xv - mv) * rv;
          const V pw = rem == W ? V::load(bw + i) : V::load(bw + i, rem);
          const V pb = rem == W ? V::load(bb + i) : V::load(bb + i, rem);
          const V nw = fmadd(g0, h, pw), nb = pb + g0;
          if (rem == W) {
            nw.store(bw + i);
            nb.store(bb + i);
          } else {
            nw.store(bw + i, rem);
            nb.store(bb + i, rem);
          }
        }
      }
      if (params && (++pending == kFlush || r + 1 == r1)) {
        for (int64_t j = 0; j < d; ++j) {
          aw[j] += static_cast<double>(bw[j]);
          ab[j] += static_cast<double>(bb[j]);
          bw[j] = bb[j] = T(0);
        }
        pending = 0;
      }
    }
    if (stream) stream_fence();
  };
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
  for (int p = 0; p < parts; ++p) part(p);
  if (!params) return;
  for (int64_t j = 0; j < d; ++j) {  // fixed order over the parts: reproducible for one nt
    double sw = 0.0, sb = 0.0;
    for (int p = 0; p < parts; ++p) {
      sw += acc[2 * d * p + j];
      sb += acc[2 * d * p + d + j];
    }
    if (dweight != nullptr) dweight[j] = static_cast<T>(sw);
    if (dbias != nullptr) dbias[j] = static_cast<T>(sb);
  }
}

}  // namespace

#define DG_NORM_DEFS(T)                                                                            \
  void batch_norm_stats(const T* x, T* mean, T* invstd, T* running_mean, T* running_var,           \
                        int64_t n, int64_t c, int64_t s, double momentum, double eps) {            \
    batch_norm_stats_t(x, mean, invstd, running_mean, running_var, n, c, s, momentum, eps);        \
  }                                                                                                \
  void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight,               \
                        const T* bias, T* y, int64_t n, int64_t c, int64_t s) {                    \
    batch_norm_apply_t(x, mean, invstd, weight, bias, y, n, c, s);                                 \
  }                                                                                                \
  void batch_norm_backward(const T* dy, const T* x, const T* mean, const T* invstd,                \
                           const T* weight, T* dx, T* dweight, T* dbias, int64_t n, int64_t c,     \
                           int64_t s, bool training) {                                             \
    batch_norm_backward_t(dy, x, mean, invstd, weight, dx, dweight, dbias, n, c, s, training);     \
  }                                                                                                \
  void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,      \
                          int64_t rows, int64_t d, double eps) {                                   \
    layer_norm_forward_t(x, weight, bias, y, mean, rstd, rows, d, eps);                            \
  }                                                                                                \
  void layer_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, \
                           T* dx, T* dweight, T* dbias, int64_t rows, int64_t d) {                 \
    layer_norm_backward_t(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, d);                 \
  }
DG_NORM_DEFS(float)
DG_NORM_DEFS(double)
#undef DG_NORM_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
