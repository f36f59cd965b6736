// Fused normalization kernels: batch norm over (n, c, s) (s = L or H*W; 1 for (N, C)) and
// layer norm over rows of d elements. Compiled once per ISA (cmake/cpu_isa.cmake).
//
// Statistics are one pass of shifted sums: per channel (or row) K = its first element, then
// sum(x - K) and sum((x - K)^2), accumulated in Vec<T> over blocks of at most kNormBlock
// elements and added into double between blocks. The shift makes the variance free of the
// cancellation of E[x^2] - E[x]^2 when |mean| >> std (its error is ~eps * (1 + (mean - K)^2 /
// var) with K a sample of the data); the short float blocks keep float32 sums accurate.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "common/cpu_isa.h"
#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

inline constexpr int64_t kNormBlock = 512;  // elements per float accumulation block
inline constexpr int kRowGroups = 4;        // vectors of channels per task in the (N, C) path
// Outputs of at least this many bytes are written with non-temporal stores (no read for
// ownership, and no 4K-aliasing stall of the loads of x behind a long queue of stores to y: numpy
// puts large arrays at the same page offset), as the copy and the activations do (activation.h).
// Measured at 16M float32 (64 MiB, docs/BENCHMARKS.md): 1.4-2x faster than regular stores on
// every pass, 1 and 2 threads.
inline constexpr int64_t kNormStreamBytes = int64_t(16) << 20;
inline bool norm_stream(int64_t bytes) { return bytes >= kNormStreamBytes; }

// out[i..i+rem) = v; streamed when `stream` and the address is vector-aligned.
// Read hint for a line a later pass needs (into L2: what it prefetches does not fit L1).
template <class T>
inline void prefetch_l2(const T* p) {
  __builtin_prefetch(p, 0, 2);
}
// The line at p and the next one: prefetched once per line as the pass advances, each line is
// asked for twice, a line apart. On the Zen 4 (round 13) a software prefetch issued once per line
// went partly unanswered: bench/mca/prefetch_pair.cpp's pass over two 64 MiB streams took 5.5-5.8
// ms with one prefetch per line, 4.9 with this pattern or with the AVX2 build's one per 32-byte
// vector. The LayerNorm forward uses it: 1.07-1.27x faster on both paths at 1 and 2 threads
// (bench/mca/norm_ab.py, one process, bits equal). The BatchNorm passes and the LayerNorm
// backward gained nothing or lost with it (0.91-1.08x), so they keep prefetch_l2.
template <class T>
inline void prefetch_l2_line_pair(const T* p) {
  __builtin_prefetch(p, 0, 2);  // the next line by address: it may lie past the array's end
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + 64), 0, 2);
}

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
// element-aligned) and can be written with non-temporal stores. down: the full steps from the
// last to the first (stream_downward, kernel_common.h), the same steps and bits.
template <class T, class F>
inline void segments(const T* out, int64_t len, bool stream, F&& f, bool down = false) {
  constexpr int W = Vec<T>::width;
  int64_t i = 0;
  if (stream) {
    const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(out) / sizeof(T)) % W);
    if (mis != 0) {
      i = W - mis < len ? W - mis : len;
      f(int64_t(0), static_cast<int>(i));
    }
  }
  const int64_t full = (len - i) / W;
  if (down) {
    for (int64_t j = i + (full - 1) * W; j >= i; j -= W) f(j, W);
  } else {
    for (int64_t j = i; j < i + full * W; j += W) f(j, W);
  }
  i += full * W;
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

// The float accumulators of one block of a statistics pass: four pairs hide the add / FMA
// latency. step4: elements [i, i + 4 width); tail: [i, e) (< 4 width); fold: into (ta, tb) in
// double.
template <class T, bool kBwd>
struct BlockSums {
  using V = Vec<T>;
  static constexpr int W = V::width;
  V a[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
  V c[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
  void step4(const T* x, const T* dy, int64_t i, V cen) {
    for (int q = 0; q < 4; ++q) sums_step<T, kBwd>(x, dy, i + q * W, W, cen, a[q], c[q]);
  }
  void tail(const T* x, const T* dy, int64_t i, int64_t e, V cen) {
    for (; i < e; i += W) sums_step<T, kBwd>(x, dy, i, e - i < W ? int(e - i) : W, cen, a[0], c[0]);
  }
  void fold(double& ta, double& tb) const {
    ta += static_cast<double>(((a[0] + a[1]) + (a[2] + a[3])).reduce_add());
    tb += static_cast<double>(((c[0] + c[1]) + (c[2] + c[3])).reduce_add());
  }
};

// Sums over one contiguous run [0, len) with one center: (sa, sb) in double, in float blocks of
// kNormBlock. pf (may be null): a run of len whose first half to prefetch into L2 on the way,
// half a line of it per line of this run.
template <class T, bool kBwd>
inline void run_sums(const T* x, const T* dy, int64_t len, T center, double& sa, double& sb,
                     const T* pf = nullptr) {
  using V = Vec<T>;
  constexpr int W = V::width;
  constexpr int64_t kLine = 64 / int64_t(sizeof(T));
  const V cen = V::set1(center);
  double ta = 0.0, tb = 0.0;
  for (int64_t b0 = 0; b0 < len; b0 += kNormBlock) {
    const int64_t e = b0 + kNormBlock < len ? b0 + kNormBlock : len;
    BlockSums<T, kBwd> acc;
    int64_t i = b0;
    for (; i + 4 * W <= e; i += 4 * W) {
      if (pf != nullptr)
        for (int64_t o = 0; o < 2 * W; o += kLine) prefetch_l2_line_pair(pf + (i >> 1) + o);
      acc.step4(x, dy, i, cen);
    }
    acc.tail(x, dy, i, e, cen);
    acc.fold(ta, tb);
  }
  sa = ta;
  sb = tb;
}

// Runs read at once by batch norm's statistics a channel at a time (AVX2 build): kNormRuns[kBwd]
// runs of a channel in lock step, so that as many read streams are in flight per thread
// (pool.h's kReadParts: on this Zen 3 a core reads DRAM 1.2-1.7x faster from 4 streams than
// from 1). Each run's sums keep run_sums's order and are added in sample order: the same bits.
// The backward's first pass reads x and dy, two streams already; 2 runs there (4 streams) did
// not measure faster on the Zen 3 (round 9, a loaded machine), so it stays at one.
#if defined(__AVX2__) && !defined(__AVX512F__)
inline constexpr int kNormRuns[2] = {4, 1};
#else
inline constexpr int kNormRuns[2] = {1, 1};
#endif

// (sa, sb) += run_sums of the runs at x + offs[r] (and dy + offs[r] when kBwd), r = 0, ...,
// m - 1 (m <= kNormRuns[kBwd], each of len), added in that order. The runs are read in lock
// step, 4 vectors of each in turn (measured, bench/mca/bn9_read.cpp: 128-512 B of a run at a
// time read 1.4x faster than one run after the other; 2 KiB, a float block, no faster).
template <class T, bool kBwd>
inline void runs_sums_lockstep(const T* x, const T* dy, const int64_t* offs, int m, int64_t len,
                               T center, double& sa, double& sb) {
  using V = Vec<T>;
  constexpr int W = V::width, R = kNormRuns[kBwd];
  const V cen = V::set1(center);
  double ta[R] = {}, tb[R] = {};
  for (int64_t b0 = 0; b0 < len; b0 += kNormBlock) {
    const int64_t e = b0 + kNormBlock < len ? b0 + kNormBlock : len;
    BlockSums<T, kBwd> acc[R];
    int64_t i = b0;
    for (; i + 4 * W <= e; i += 4 * W)
      for (int r = 0; r < m; ++r) acc[r].step4(x + offs[r], kBwd ? dy + offs[r] : nullptr, i, cen);
    for (int r = 0; r < m; ++r) {
      acc[r].tail(x + offs[r], kBwd ? dy + offs[r] : nullptr, i, e, cen);
      acc[r].fold(ta[r], tb[r]);
    }
  }
  for (int r = 0; r < m; ++r) {
    sa += ta[r];
    sb += tb[r];
  }
}

// (sa, sb) = the sums of channel j's n runs of s (x (n, c, s), dy too when kBwd) around center,
// kNormRuns runs at a time, added in sample order: channel_sums's bits.
template <class T, bool kBwd>
inline void channel_run_sums(const T* x, const T* dy, int64_t n, int64_t c, int64_t s, int64_t j,
                             T center, double& sa, double& sb) {
  constexpr int R = kNormRuns[kBwd];
  sa = sb = 0.0;
  for (int64_t k0 = 0; k0 < n; k0 += R) {
    int64_t offs[R];
    const int m = n - k0 < R ? static_cast<int>(n - k0) : R;
    for (int r = 0; r < m; ++r) offs[r] = ((k0 + r) * c + j) * s;
    runs_sums_lockstep<T, kBwd>(x, dy, offs, m, s, center, sa, sb);
  }
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
    struct RunPartials;  // every element written below before it is read
    double* const part = reused_scratch<double, RunPartials>(size_t(2 * runs));
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
  struct RowPartials;  // each task zeroes its own before adding
  double* const part = reused_scratch<double, RowPartials>(size_t(2 * rchunks * c));
  auto task = [&](int64_t t) {
    const int64_t rc = t / cblocks, c0 = (t % cblocks) * kCb;
    const int64_t c1 = c0 + kCb < c ? c0 + kCb : c;
    const int64_t r0 = rc * rows_per, r1 = r0 + rows_per < n ? r0 + rows_per : n;
    double* pa = part + 2 * rc * c;
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
  place_team(nt);
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
  const bool stream = norm_stream(n * c * s * int64_t(sizeof(T)));
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
  // out - p and out - q are the same at every offset: one direction for the whole pass
  const bool down = stream && stream_downward(out, {p, q});
  if (s > 1) {
    parallel_chunks(n * c, kParallelGrain / s + 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t ch = r % c, off = r * s;
        const V a = V::set1(A ? A[ch] : T(0)), bv = V::set1(B ? B[ch] : T(0));
        const V m = V::set1(M ? M[ch] : T(0)), d = V::set1(D ? D[ch] : T(0));
        segments(
            out + off, s, stream, [&](int64_t i, int rem) { step(off + i, rem, a, bv, m, d); },
            down);
      }
      if (stream) stream_fence();
    });
    return;
  }
  parallel_chunks(n, kParallelGrain / c + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      segments(
          out + r * c, c, stream,
          [&](int64_t j, int rem) {
            step(r * c + j, rem, load_or<T>(A, j, rem, T(0)), load_or<T>(B, j, rem, T(0)),
                 load_or<T>(M, j, rem, T(0)), load_or<T>(D, j, rem, T(0)));
          },
          down);
    }
    if (stream) stream_fence();
  });
}

// Shifted sums (sa, sb around center) computed again in double, one element at a time, where
// the float blocks' overflowed on finite data. The statistics (kBwd false: sa = sum(v), sb =
// sum(v^2), v = x - center) overflow once |x - center| passes ~1.8e19 in float32, and would
// give invstd = 0 and y = bias, silently; a backward's (kBwd true: sa = sum(g), sb = sum(g v),
// g = dy weight, v = (x - center) scale) once |dy (x - center)|, or a block's sum of dy, passes
// FLT_MAX, and would give an inf or NaN dx (and dweight) where the true ones are finite. Rare,
// so the pass is scalar. A NaN or an infinity in the data keeps the sums as they are (NaN or
// inf results, as the data's). for_each_run(f) calls f(x, dy, len) for each run of the data
// (dy: null for the statistics); weight (null: 1) is indexed by the position in the run.
template <class T, bool kBwd, class F>
[[gnu::noinline, gnu::cold]] void refine_sums_slow(F&& for_each_run, T center, double& sa,
                                                   double& sb, const T* weight, double scale) {
  double a = 0.0, b = 0.0;
  bool finite = true;
  for_each_run([&](const T* x, const T* dy, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      const double v = (double(x[i]) - double(center)) * scale;
      double g = v;
      if constexpr (kBwd) g = double(dy[i]) * (weight != nullptr ? double(weight[i]) : 1.0);
      finite = finite && std::isfinite(v) && std::isfinite(g);
      a += g;
      b += g * v;
    }
  });
  if (finite) sa = a, sb = b;
}
template <class T, bool kBwd, class F>
inline void refine_sums(F&& for_each_run, T center, double& sa, double& sb,
                        const T* weight = nullptr, double scale = 1.0) {
  if (std::isfinite(sa) && std::isfinite(sb)) return;
  refine_sums_slow<T, kBwd>(for_each_run, center, sa, sb, weight, scale);
}

// f(x run, dy run, s) for the n runs of channel j of x (n, c, s) and of dy (may be null).
template <class T, class F>
inline void channel_runs(int64_t n, int64_t c, int64_t s, int64_t j, const T* x, const T* dy,
                         F&& f) {
  for (int64_t k = 0; k < n; ++k) {
    const int64_t off = (k * c + j) * s;
    f(x + off, dy != nullptr ? dy + off : nullptr, s);
  }
}

// One channel's statistics from its shifted sums (sa, sb around shift, count values): mean,
// invstd, and the running statistics (null: none) updated with momentum, variance unbiased.
template <class T>
inline void bn_finalize(double sa, double sb, T shift, int64_t count, double momentum, double eps,
                        T& mean, T& invstd, T* running_mean, T* running_var) {
  double m = 0.0, var = 0.0;
  if (count > 0) {
    const double da = sa / double(count);
    m = double(shift) + da;
    var = sb / double(count) - da * da;
    if (var < 0.0) var = 0.0;
    if (std::isnan(sb) || std::isnan(sa)) var = sa + sb;  // keep NaN
  }
  mean = static_cast<T>(m);
  invstd = static_cast<T>(1.0 / std::sqrt(var + eps));
  if (running_mean != nullptr && count > 0) {
    const double unbiased = count > 1 ? var * double(count) / double(count - 1) : var;
    *running_mean = static_cast<T>((1.0 - momentum) * double(*running_mean) + momentum * m);
    *running_var = static_cast<T>((1.0 - momentum) * double(*running_var) + momentum * unbiased);
  }
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
    refine_sums<T, false>([&](auto&& f) { channel_runs<T>(n, c, s, j, x, nullptr, f); }, shift[j],
                          sa[j], sb[j]);
    bn_finalize(sa[j], sb[j], shift[j], count, momentum, eps, mean[j], invstd[j],
                running_mean ? running_mean + j : nullptr, running_var ? running_var + j : nullptr);
  }
}

// The channel-at-a-time path of batch norm over (n, c, s), s > 1: one thread takes a channel,
// sums its n runs (in sample order: the same sums as channel_sums), then maps them while they
// are still in L2 (see plane_prefetch). Used when there are enough channels to share out
// (c >= 4 threads).
inline bool bn_by_channel(int64_t n, int64_t c, int64_t s) {
  if (s <= 1 || n * c * s <= kParallelGrain) return s > 1;
  return c >= 4 * int64_t(num_threads());
}

// f(j, next) for every channel j, on the kernel's threads: each thread claims its next channel
// before it maps the current one (an atomic counter: dynamic, so a descheduled thread holds up
// no one), so the map can prefetch it; next == c: none.
template <class T, class F>
inline void for_channels(int64_t c, int64_t total, bool stream, F&& f) {
  const int nt = total > kParallelGrain && c > 1 ? num_threads() : 1;
  std::atomic<int64_t> counter{0};
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t j = counter.fetch_add(1);
    while (j < c) {
      int64_t next = counter.fetch_add(1);
      if (next > c) next = c;
      f(j, next);
      j = next;
    }
    if (stream) stream_fence();
  }
}

// A channel plane (the arrays a pass re-reads) of at most half a thread's L2 is mapped while
// the next channel is prefetched into L2: the plane and the next one share the L2 (the map goes
// in sample order, the prefetch in step, so it evicts the runs already mapped). A larger plane
// is mapped in reverse sample order without prefetch: the runs read last are re-read first,
// from L2.
inline bool plane_prefetch(int64_t plane) { return 2 * plane <= l2_per_thread(); }

// out run = a * p + b * (q - m) + d over one run of len (p / q may be null); pf0 / pf1 (may be
// null): runs of len to prefetch into L2 on the way.
template <class T>
inline void run_map(const T* p, const T* q, T a, T b, T m, T d, T* out, int64_t len, bool stream,
                    const T* pf0 = nullptr, const T* pf1 = nullptr) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V av = V::set1(a), bv = V::set1(b), mv = V::set1(m), dv = V::set1(d);
  segments(
      out, len, stream,
      [=](int64_t i, int rem) {  // [=]: as layer_norm_forward_t
        if (pf0 != nullptr) prefetch_l2(pf0 + i);
        if (pf1 != nullptr) prefetch_l2(pf1 + i);
        V r = dv;
        if (q != nullptr) r = fmadd((rem == W ? V::load(q + i) : V::load(q + i, rem)) - mv, bv, r);
        if (p != nullptr) r = fmadd(rem == W ? V::load(p + i) : V::load(p + i, rem), av, r);
        put(out, i, rem, r, stream);
      },
      stream && stream_downward(out, {p, q}));
}

// Whether the product f g, f and g finite and nonzero, is no normal T: rounded to T it would
// lose digits (subnormal), vanish or overflow.
template <class T>
inline bool product_lost(double f, double g) {
  const double p = std::abs(f * g);
  if (p >= double(std::numeric_limits<T>::min()) && p <= double(std::numeric_limits<T>::max()))
    return false;  // the usual case, first
  return std::isfinite(f) && std::isfinite(g) && f != 0.0 && g != 0.0;
}

// The dx of a batch-norm channel, or of a group norm's (sample, group) row, dx = rstd w dy +
// e xhat + d with xhat = (x - m) rstd, w the channel's weight, e and d of dx's own size. The
// vector map (run_map, channel_map) takes it as A dy + B (x - m) + D, each coefficient rounded
// to T, B = e rstd ~ rstd^2 |dy|: in float32 subnormal once the standard deviation passes ~1e19
// and zero past ~1e23, where dx came out off by 1e-6 (1e20) to 0.1 (1e25); infinite where rstd
// is past ~1e19 (eps = 0 and data of ~1e-20). exact: B is no normal T though e and rstd are
// finite and nonzero; then run_exact computes dx in double, each term of dx's size, instead.
// A = rstd w and D are not checked: they leave T's normal range only with weights or gradients
// near T's limits (|rstd w| below ~1e-38: a weight of 1e-20 on data of a standard deviation of
// 1e18). Checking them too cost the group norm backward 5% on rows of 4 to 9 elements (one
// channel per group), where one check per row is already a visible share of the work.
struct DxMap {
  double e, d, m, rstd;
  bool exact;

  template <class T>
  static DxMap make(double rstd, double e, double d, T m) {
    return {e, d, double(m), rstd, product_lost<T>(e, rstd)};
  }
  template <class T>
  T A(double w) const {
    return static_cast<T>(rstd * w);
  }
  template <class T>
  T B() const {
    return static_cast<T>(e * rstd);
  }
  template <class T>
  T D() const {
    return static_cast<T>(d);
  }

  // dx over one run of len of a channel of weight w (x null: no xhat term, batch norm in eval):
  // by run_map (stream, pf0, pf1: its arguments), or where exact in double, one element at a
  // time (dx may be dy or x: each element is read before it is written).
  template <class T>
  void run(double w, const T* dy, const T* x, T* dx, int64_t len, bool stream,
           const T* pf0 = nullptr, const T* pf1 = nullptr) const {
    if (exact)
      run_exact(w, dy, x, dx, len);
    else
      run_map<T>(dy, x, A<T>(w), B<T>(), static_cast<T>(m), D<T>(), dx, len, stream, pf0, pf1);
  }
  template <class T>
  [[gnu::noinline, gnu::cold]] void run_exact(double w, const T* dy, const T* x, T* dx,
                                              int64_t len) const {
    const double a = rstd * w;
    for (int64_t i = 0; i < len; ++i) {
      double r = a * double(dy[i]) + d;
      if (x != nullptr) r += (double(x[i]) - m) * rstd * e;
      dx[i] = static_cast<T>(r);
    }
  }
};

template <class T>
void batch_norm_train_forward_t(const T* x, const T* weight, const T* bias, T* y, T* mean,
                                T* invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                                int64_t s, double momentum, double eps);

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
void batch_norm_train_forward_t(const T* x, const T* weight, const T* bias, T* y, T* mean,
                                T* invstd, T* running_mean, T* running_var, int64_t n, int64_t c,
                                int64_t s, double momentum, double eps) {
  if (!bn_by_channel(n, c, s)) {
    batch_norm_stats_t(x, mean, invstd, running_mean, running_var, n, c, s, momentum, eps);
    batch_norm_apply_t(x, mean, invstd, weight, bias, y, n, c, s);
    return;
  }
  const int64_t count = n * s;
  const bool stream = norm_stream(n * c * s * int64_t(sizeof(T)));
  const bool pf = plane_prefetch(n * s * int64_t(sizeof(T)));
  for_channels<T>(c, n * c * s, stream, [&](int64_t j, int64_t next) {
    const T shift = count > 0 ? x[j * s] : T(0);
    double sa, sb;
    channel_run_sums<T, false>(x, nullptr, n, c, s, j, shift, sa, sb);
    refine_sums<T, false>([&](auto&& f) { channel_runs<T>(n, c, s, j, x, nullptr, f); }, shift, sa,
                          sb);
    bn_finalize(sa, sb, shift, count, momentum, eps, mean[j], invstd[j],
                running_mean ? running_mean + j : nullptr, running_var ? running_var + j : nullptr);
    // y = (x - mean) * scale + bias, as batch_norm_apply_t
    const T scale = static_cast<T>(double(invstd[j]) * (weight ? double(weight[j]) : 1.0));
    const T sh = bias ? bias[j] : T(0);
    for (int64_t kk = 0; kk < n; ++kk) {
      const int64_t k = pf ? kk : n - 1 - kk, off = (k * c + j) * s;
      const T* nx = pf && next < c ? x + (k * c + next) * s : nullptr;
      run_map<T>(nullptr, x + off, T(0), scale, mean[j], sh, y + off, s, stream, nx);
    }
  });
}

// Batch norm's dx of a channel from its sums s1 = sum(dy) and s2 = sum(dy (x - mean)) over its
// count values: in training dx = k (dy - mean(dy) - xhat mean(dy xhat)), k = w invstd; in eval
// dx = k dy.
template <class T>
inline DxMap bn_dx(double s1, double s2, T mean, T invstd, double w, int64_t count, bool training) {
  const double is = double(invstd);
  if (!training || count == 0) return DxMap::make<T>(is, 0.0, 0.0, mean);
  const double c1 = s1 / double(count), c2 = is * s2 / double(count);
  return DxMap::make<T>(is, -is * w * c2, -is * w * c1, mean);
}

template <class T>
void batch_norm_backward_t(const T* dy, const T* x, const T* mean, const T* invstd, const T* weight,
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,
                           bool training) {
  const int64_t count = n * s;
  const bool sums = dweight != nullptr || dbias != nullptr || (dx != nullptr && training);
  const T* xq = training ? x : nullptr;  // the x - mean term of dx: training only
  auto channel_sums_refined = [&](int64_t j, double& s1, double& s2) {
    refine_sums<T, true>([&](auto&& f) { channel_runs<T>(n, c, s, j, x, dy, f); }, mean[j], s1, s2);
  };
  if (bn_by_channel(n, c, s)) {
    const bool stream = dx != nullptr && norm_stream(n * c * s * int64_t(sizeof(T)));
    const bool pf = sums && plane_prefetch(2 * n * s * int64_t(sizeof(T)));
    for_channels<T>(c, n * c * s, stream, [&](int64_t j, int64_t next) {
      double s1 = 0.0, s2 = 0.0;
      if (sums) {
        channel_run_sums<T, true>(x, dy, n, c, s, j, mean[j], s1, s2);
        channel_sums_refined(j, s1, s2);
      }
      if (dbias != nullptr) dbias[j] = static_cast<T>(s1);
      if (dweight != nullptr) dweight[j] = static_cast<T>(s2 * double(invstd[j]));
      if (dx == nullptr) return;
      const double w = weight ? double(weight[j]) : 1.0;
      const DxMap map = bn_dx<T>(s1, s2, mean[j], invstd[j], w, count, training);
      for (int64_t kk = 0; kk < n; ++kk) {
        const int64_t k = pf ? kk : n - 1 - kk, off = (k * c + j) * s;
        const bool ahead = pf && next < c;
        map.run<T>(w, dy + off, xq ? xq + off : nullptr, dx + off, s, stream,
                   ahead ? x + (k * c + next) * s : nullptr,
                   ahead ? dy + (k * c + next) * s : nullptr);
      }
    });
    return;
  }
  std::vector<double> s1(static_cast<size_t>(c)), s2(static_cast<size_t>(c));
  if (sums) {
    channel_sums<T, true>(x, dy, mean, n, c, s, s1.data(), s2.data());
    for (int64_t j = 0; j < c; ++j) channel_sums_refined(j, s1[j], s2[j]);
  }
  for (int64_t j = 0; j < c; ++j) {
    if (dbias != nullptr) dbias[j] = static_cast<T>(s1[j]);
    if (dweight != nullptr) dweight[j] = static_cast<T>(s2[j] * double(invstd[j]));
  }
  if (dx == nullptr) return;
  std::vector<DxMap> maps;
  maps.reserve(static_cast<size_t>(c));
  bool exact = false;
  auto w = [&](int64_t j) { return weight ? double(weight[j]) : 1.0; };
  for (int64_t j = 0; j < c; ++j) {
    maps.push_back(bn_dx<T>(s1[j], s2[j], mean[j], invstd[j], w(j), count, training));
    exact = exact || maps.back().exact;
  }
  if (exact) {  // rare: a channel at a time, in double where its map needs it
    parallel_chunks(c, kParallelGrain / (count + 1) + 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        for (int64_t k = 0; k < n; ++k) {
          const int64_t off = (k * c + j) * s;
          maps[j].run<T>(w(j), dy + off, xq ? xq + off : nullptr, dx + off, s, false);
        }
    });
    return;
  }
  std::vector<T> A(static_cast<size_t>(c)), B(static_cast<size_t>(c)), D(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    A[j] = maps[j].A<T>(w(j));
    B[j] = maps[j].B<T>();
    D[j] = maps[j].D<T>();
  }
  channel_map<T>(dy, xq, A.data(), B.data(), mean, D.data(), dx, n, c, s);
}

// One row's mean and rstd = 1 / sqrt(var + eps) from shifted sums around its first element.
// pf (may be null): a row whose first half to prefetch meanwhile (run_sums).
template <class T>
inline void row_stats(const T* xr, int64_t d, double eps, T& mean, T& rstd, const T* pf = nullptr) {
  double sa, sb;
  run_sums<T, false>(xr, nullptr, d, xr[0], sa, sb, pf);
  refine_sums<T, false>([&](auto&& f) { f(xr, nullptr, d); }, xr[0], sa, sb);
  const double da = sa / double(d);
  double var = sb / double(d) - da * da;
  if (var < 0.0) var = 0.0;
  if (std::isnan(sa) || std::isnan(sb)) var = sa + sb;
  mean = static_cast<T>(double(xr[0]) + da);
  rstd = static_cast<T>(1.0 / std::sqrt(var + eps));
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
  const bool stream = norm_stream(rows * d * int64_t(sizeof(T)));
  parallel_chunks(rows, kParallelGrain / d + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      // The next row, into L2 while this one is read and written: its first half during the
      // statistics pass, its second during the map (issue 17, round 13). Prefetched during the
      // map alone, its reads queued behind the non-temporal stores of y while the memory sat
      // idle through the statistics pass (the LayerNorm backward's finding of round 11). Zen 4,
      // 4096 x 4096 float32, bench/mca/norm_ab.py in-process A/B, best of 21-41, 4-7 runs:
      // AVX-512 1.13-1.49x at 1 thread, 1.02-1.17x at 2; AVX2 1.31-1.40x at 1 thread (0.90 in
      // one run of seven), 1.06-1.15x at 2. The whole next row during the statistics pass
      // instead: no better on AVX-512, 0.78-0.95x of the halves on AVX2.
      const T* xn = r + 1 < e ? xr + d : nullptr;
      row_stats(xr, d, eps, mean[r], rstd[r], xn);
      const V mv = V::set1(mean[r]), rv = V::set1(rstd[r]);
      // [=]: the closure's copies stay in registers; captured by reference, weight, bias and
      // stream were reloaded from memory on every vector (a non-temporal store may alias them)
      const bool down = stream && stream_downward(yr, {xr, weight, bias});
      segments(
          yr, d, stream,
          [=](int64_t i, int rem) {
            if (xn != nullptr) {  // half a vector per step: once per line
              const T* pf = xn + (d >> 1) + (i >> 1);
              if ((reinterpret_cast<uintptr_t>(pf) & 63) < W * sizeof(T) / 2)
                prefetch_l2_line_pair(pf);
            }
            const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
            V h = (xv - mv) * rv;
            const V bv = bias != nullptr ? (rem == W ? V::load(bias + i) : V::load(bias + i, rem))
                                         : V::zero();
            if (weight != nullptr)
              h = fmadd(h, rem == W ? V::load(weight + i) : V::load(weight + i, rem), bv);
            else if (bias != nullptr)
              h = h + bv;
            put(yr, i, rem, h, stream);
          },
          down);
    }
    if (stream) stream_fence();
  });
}

// Layer norm backward of row r: its dx row (dx not null) and its terms of dweight / dbias added
// into the float partials pw / pb (not null). Pass 1 sums s1 = sum(g), s2 = sum(g xhat) (g = dy
// w); pass 2 (the row now in L1/L2) writes dx = rstd (g - s1 / d - xhat s2 / d) and adds into the
// partials. nx / ndy: the next row (or null), prefetched half during each pass (issue 17, round
// 11): prefetched during pass 2 alone, the memory sat idle while pass 1 ran on the L2-resident
// row. Pass 1 keeps two accumulator pairs (its chains of adds and FMAs were its bound). Zen 3,
// 4096 x 4096 float32, bench/mca/norm_ab.py, best of 21: each step 4-9% faster at 1 and 2
// threads, both together 1.11x (docs/BENCHMARKS.md, "Round 11").
//
// One row at a time, not a group of rows per pass: with rows of a multiple of 4 KiB (4096
// float32 = 16 KiB), the rows of a group are at the same address mod 4 KiB, so in pass 2 the
// loads of row k + 1 followed the store of row k's dx at the same column. On Zen 3 such a load
// waited for that non-temporal store to drain (4K aliasing: 0.09-0.13 of the copy at 4096 x 4096,
// and 3-4x faster with dx moved 1 KiB), and the group's 8 rows, the 2 partials and the 8
// prefetched next rows (PREFETCHT1 fills the L1 on Zen 3) were 18 lines for the 8 ways of one L1
// set. One row: no load behind a store of its column, 6 lines per set (docs/BENCHMARKS.md, norm7).
template <class T>
inline void ln_bwd_row(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                       T* dx, T* pw, T* pb, int64_t r, int64_t d, bool stream, const T* nx,
                       const T* ndy) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const T* gr = dy + r * d;
  const T* xr = x + r * d;
  const V mv = V::set1(mean[r]), rv = V::set1(rstd[r]);
  // the next row's prefetch advances half a vector per step of W elements: one prefetch per
  // line, every kPfEvery steps; pass 1 covers its first half, pass 2 its second
  constexpr int64_t kPfEvery = std::max<int64_t>(1, 128 / (W * int64_t(sizeof(T))));
  V m1v = V::zero(), m2v = V::zero();
  if (dx != nullptr) {
    double s1 = 0.0, s2 = 0.0;
    for (int64_t b = 0; b < d; b += kNormBlock) {
      const int64_t e = b + kNormBlock < d ? b + kNormBlock : d;
      V a = V::zero(), c = V::zero(), a1 = V::zero(), c1 = V::zero();
      const auto step = [&](int64_t i, int rem, V& sa, V& sc) {
        V wv = V::zero();
        if (weight != nullptr) wv = rem == W ? V::load(weight + i) : V::load(weight + i, rem);
        V g = rem == W ? V::load(gr + i) : V::load(gr + i, rem);
        if (weight != nullptr) g = g * wv;
        const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
        V h = (xv - mv) * rv;
        if (rem != W) h = select(lanes_below<T>(rem), h, V::zero());
        sa = sa + g;
        sc = fmadd(g, h, sc);
        if (nx != nullptr && ((i / W) & (kPfEvery - 1)) == 0) {
          const int64_t j = i >> 1;
          prefetch_l2(nx + j);
          prefetch_l2(ndy + j);
        }
      };
      int64_t i = b;
      for (; i + 2 * W <= e; i += 2 * W) {
        step(i, W, a, c);
        step(i + W, W, a1, c1);
      }
      for (; i < e; i += W) step(i, e - i < W ? int(e - i) : W, a, c);
      a = a + a1;
      c = c + c1;
      s1 += static_cast<double>(a.reduce_add());
      s2 += static_cast<double>(c.reduce_add());
    }
    refine_sums<T, true>([&](auto&& f) { f(xr, gr, d); }, mean[r], s1, s2, weight, double(rstd[r]));
    m1v = V::set1(static_cast<T>(s1 / double(d)));
    m2v = V::set1(static_cast<T>(s2 / double(d)));
  }
  const V nm1v = V::zero() - m1v;
  T* dxr = dx != nullptr ? dx + r * d : nullptr;
  const bool down = stream && dxr != nullptr && stream_downward(dxr, {gr, xr, weight, pw, pb});
  segments(
      dxr != nullptr ? dxr : xr, d, stream,
      [=](int64_t i, int rem) {
        if (nx != nullptr && dx != nullptr && ((i / W) & (kPfEvery - 1)) == 0) {
          const int64_t j = (d >> 1) + (i >> 1);
          prefetch_l2(nx + j);
          prefetch_l2(ndy + j);
        } else if (nx != nullptr && dx == nullptr) {
          prefetch_l2(nx + i);
          prefetch_l2(ndy + i);
        }
        V wv = V::zero();
        if (dxr != nullptr && weight != nullptr)
          wv = rem == W ? V::load(weight + i) : V::load(weight + i, rem);
        const V g0 = rem == W ? V::load(gr + i) : V::load(gr + i, rem);
        const V xv = rem == W ? V::load(xr + i) : V::load(xr + i, rem);
        const V h = (xv - mv) * rv;
        if (dxr != nullptr) {  // g - s1 / d as one explicit FMA: the same rounding in the
          // masked head / tail steps as in the full ones, whatever GCC contracts (dx's bits must
          // not depend on its alignment)
          const V gm = weight != nullptr ? fmadd(g0, wv, nm1v) : g0 + nm1v;
          put(dxr, i, rem, rv * fnmadd(h, m2v, gm), stream);
        }
        if (pw != nullptr) {
          if (rem == W) {
            fmadd(g0, h, V::load(pw + i)).store(pw + i);
            (V::load(pb + i) + g0).store(pb + i);
          } else {
            fmadd(g0, h, V::load(pw + i, rem)).store(pw + i, rem);
            (V::load(pb + i, rem) + g0).store(pb + i, rem);
          }
        }
      },
      down);
}

// A page offset (mod 4 KiB, a multiple of 64 bytes) for a buffer that passes load and store
// beside the arrays at ps (null: skipped), as far as can be from each of their offsets (the
// smallest circular distance the largest); among equals, the first from half a page past
// `from` on.
inline uintptr_t far_page_offset(const void* from, std::initializer_list<const void*> ps) {
  constexpr uintptr_t kPage = 4096;
  const uintptr_t start = (reinterpret_cast<uintptr_t>(from) + kPage / 2) % kPage;
  uintptr_t best = start, best_gap = 0;
  for (uintptr_t k = 0; k < kPage; k += 64) {
    const uintptr_t c = (start + k) % kPage;
    uintptr_t gap = kPage;
    for (const void* p : ps) {
      if (p == nullptr) continue;
      const uintptr_t dd = (c - reinterpret_cast<uintptr_t>(p)) % kPage;
      gap = std::min(gap, std::min(dd, kPage - dd));
    }
    if (gap > best_gap) best = c, best_gap = gap;
  }
  return best;
}

// Column j's sums over the rows, sw = sum(dy xhat) and sb = sum(dy) (dweight and dbias),
// computed again in double, one element at a time, where a chunk's float partials overflowed
// (|dy| of ~FLT_MAX / 64 over the rows of a chunk) on finite data (as refine_sums).
template <class T>
[[gnu::noinline, gnu::cold]] void ln_refine_column(const T* dy, const T* x, const T* mean,
                                                   const T* rstd, int64_t rows, int64_t d,
                                                   int64_t j, double& sw, double& sb) {
  double a = 0.0, b = 0.0;
  bool finite = true;
  for (int64_t r = 0; r < rows; ++r) {
    const double g = double(dy[r * d + j]);
    const double h = (double(x[r * d + j]) - double(mean[r])) * double(rstd[r]);
    finite = finite && std::isfinite(g) && std::isfinite(h);
    a += g * h;
    b += g;
  }
  if (finite) sw = a, sb = b;
}

template <class T>
void layer_norm_backward_t(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                           T* dx, T* dweight, T* dbias, int64_t rows, int64_t d) {
  constexpr int W = Vec<T>::width;
  if (d == 0 || rows == 0) {
    for (int64_t j = 0; j < d; ++j) {
      if (dweight != nullptr) dweight[j] = T(0);
      if (dbias != nullptr) dbias[j] = T(0);
    }
    return;
  }
  const bool params = dweight != nullptr || dbias != nullptr;
  if (dx == nullptr && !params) return;
  // Chunks of rows, a function of the shape only: each has its own float partials of dweight /
  // dbias (at most 64 rows summed in T), added into double in chunk order at the end, so the
  // result does not depend on the thread count; chunks are handed out dynamically.
  int64_t chunk_rows = (rows + 7) / 8;
  if (chunk_rows > 64) chunk_rows = 64;
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  // The partials (2 MiB at 4096 x 4096: kept between calls, reused_scratch) start 2 KiB past
  // x's offset in a 4 KiB page: pass 2 loads x and dy just after storing pw and pb at the
  // previous columns, and a load whose address bits 0-11 overlap an older store's waits for it
  // (4K aliasing). Zen 4, AVX-512, 4096 x 4096, 2 threads (bench/mca/norm7_ln_bwd.cpp, x 16
  // bytes past a page as NumPy allocates), the partials this far past x's offset: 0 B 5.6-6.0
  // ms, 48 B 7.5-7.6, 1 KiB 5.5-5.6, 2 KiB 5.4, 3 KiB 5.9-6.0; at 1 thread 0 B 12.5, 48 B 14.9,
  // 2 KiB 9.6.
  // Where a fresh buffer per call put them varied with the heap's state. Pass 2 also stores dx
  // (non-temporal) just before it loads the partials at the same column: with dx itself 2 KiB
  // past x, the partials' loads waited on the dx stores and the pass took twice as long (Zen 1,
  // 1 thread, 32 ms instead of 16; issue 18 round 26). So the partials go where they are
  // farthest (mod 4 KiB) from x, dy and dx alike, 2 KiB past x when that is as far as any.
  T* part = nullptr;
  if (params) {
    constexpr int64_t kPage = 4096;
    struct Partials;
    T* const base =
        reused_scratch<T, Partials>(size_t(2 * d * chunks + kPage / int64_t(sizeof(T))));
    const auto want = far_page_offset(x, {x, dy, dx});
    const auto have = reinterpret_cast<std::uintptr_t>(base) % kPage;
    part = base + (want + kPage - have) % kPage / sizeof(T);
  }
  const bool stream = dx != nullptr && d % W == 0 && norm_stream(rows * d * int64_t(sizeof(T)));
  auto chunk = [&](int64_t ch) {
    const int64_t r0 = ch * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
    T* pw = params ? part + 2 * d * ch : nullptr;
    T* pb = params ? pw + d : nullptr;
    for (int64_t j = 0; params && j < 2 * d; ++j) pw[j] = T(0);
    for (int64_t r = r0; r < r1; ++r) {
      const bool next = r + 1 < r1;
      ln_bwd_row<T>(dy, x, weight, mean, rstd, dx, pw, pb, r, d, stream,
                    next ? x + (r + 1) * d : nullptr, next ? dy + (r + 1) * d : nullptr);
    }
  };
  const int nt = rows * d > kParallelGrain && chunks > 1 ? num_threads() : 1;
  // the partials added per column in chunk order (reproducible), columns shared out after the
  // chunks' implicit barrier
  constexpr int64_t kCols = 512;
  const int64_t cblocks = params ? (d + kCols - 1) / kCols : 0;
  place_team(nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < chunks; ++ch) chunk(ch);
    if (stream) stream_fence();
#pragma omp for schedule(static)
    for (int64_t cb = 0; cb < cblocks; ++cb) {
      const int64_t j0 = cb * kCols, len = j0 + kCols < d ? kCols : d - j0;
      double aw[kCols], ab[kCols];
      for (int64_t j = 0; j < len; ++j) aw[j] = ab[j] = 0.0;
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const T* pw = part + 2 * d * ch + j0;
        const T* pb = pw + d;
        for (int64_t j = 0; j < len; ++j) {
          aw[j] += static_cast<double>(pw[j]);
          ab[j] += static_cast<double>(pb[j]);
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        if (!std::isfinite(aw[j]) || !std::isfinite(ab[j]))
          ln_refine_column(dy, x, mean, rstd, rows, d, j0 + j, aw[j], ab[j]);
        if (dweight != nullptr) dweight[j0 + j] = static_cast<T>(aw[j]);
        if (dbias != nullptr) dbias[j0 + j] = static_cast<T>(ab[j]);
      }
    }
  }
}

// ---- group norm over x (n, c, s) in g groups (and instance norm: g = c) ----
// Row r = (k, q), sample k's group q: its c / g channels, cg * s contiguous elements, normalized
// by the row's mean and rstd (row_stats: shifted sums in double, as layer norm), with a
// per-channel affine. Each row is read twice while it sits in L2: once for the statistics, once
// per channel run for the map; the next row is prefetched into L2 meanwhile (its first half
// during the statistics, its later channels during the map: layer_norm_forward_t's halves).
// Rows are shared out in chunks (parallel_chunks), so results do not depend on the thread count.

// Rows per chunk: at least kParallelGrain elements, and at least an eighth of a thread's share
// of the rows, so that most rows have their successor in the chunk to prefetch (chunks of
// kParallelGrain alone: 3 rows of 128 KiB at 16M, the forward at 0.50 of a copy on 2 threads
// of the Zen 3 instead of 0.68-0.78, docs/BENCHMARKS.md round 32).
inline int64_t gn_grain(int64_t rows, int64_t d) {
  const int64_t nt = num_threads();
  return std::max(kParallelGrain / d + 1, rows / (8 * nt));
}

template <class T>
void group_norm_forward_t(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                          int64_t n, int64_t c, int64_t s, int64_t g, double eps) {
  const int64_t rows = n * g, cg = g > 0 ? c / g : 0, d = cg * s;
  if (d == 0) {
    for (int64_t r = 0; r < rows; ++r) mean[r] = rstd[r] = static_cast<T>(NAN);
    return;
  }
  const bool stream = norm_stream(rows * d * int64_t(sizeof(T)));
  parallel_chunks(rows, gn_grain(rows, d), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      const T* xn = r + 1 < e ? xr + d : nullptr;
      row_stats(xr, d, eps, mean[r], rstd[r], xn);
      const int64_t c0 = (r % g) * cg;
      for (int64_t j = 0; j < cg; ++j) {
        // y = (x - mean) * scale + bias, scale = rstd * w (double, rounded once): the centered
        // form, as batch_norm_apply_t
        const T scale = static_cast<T>(double(rstd[r]) * (weight ? double(weight[c0 + j]) : 1.0));
        const T sh = bias ? bias[c0 + j] : T(0);
        const T* pf = xn != nullptr && j >= cg / 2 ? xn + j * s : nullptr;
        run_map<T>(nullptr, xr + j * s, T(0), scale, mean[r], sh, yr + j * s, s, stream, pf);
      }
    }
    if (stream) stream_fence();
  });
}

// A group norm row's pass 1 again where its float sums overflowed: each channel run's sums
// (s1_j, s2_j at sums[2 j], sums[2 j + 1], cg runs of s) refined (refine_sums), and from them
// A = sum_j w_j s1_j, B = sum_j w_j s2_j (w: the row's cg weights, or null) and the partials
// of dbias and dweight, s1_j and s2_j rstd at part[2 j], part[2 j + 1] (part may be null).
template <class T>
[[gnu::noinline, gnu::cold]] void gn_refine_row(const T* xr, const T* gr, int64_t s, int64_t cg,
                                                T mean, double rstd, const T* w, double* sums,
                                                double* part, double& A, double& B) {
  A = B = 0.0;
  for (int64_t j = 0; j < cg; ++j) {
    double& s1 = sums[2 * j];
    double& s2 = sums[2 * j + 1];
    refine_sums<T, true>([&](auto&& f) { f(xr + j * s, gr + j * s, s); }, mean, s1, s2);
    A += (w ? double(w[j]) : 1.0) * s1;
    B += (w ? double(w[j]) : 1.0) * s2;
    if (part != nullptr) {
      part[2 * j] = s1;
      part[2 * j + 1] = s2 * rstd;
    }
  }
}

// Per row: pass 1 sums, per channel run j, s1 = sum(dy) and s2 = sum(dy (x - mean)); with
// A = sum_j w_j s1_j and B = sum_j w_j s2_j, dx = rstd (w_j dy - A / d - xhat rstd B / d) (the
// row in L2: pass 2, one run_map per channel; DxMap). dbias_j and dweight_j sum s1_j
// and rstd s2_j over the samples, from per-(sample, channel) partials in double, in sample
// order: the same on any thread count.
template <class T>
void group_norm_backward_t(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,
                           int64_t g) {
  const int64_t rows = n * g, cg = g > 0 ? c / g : 0, d = cg * s;
  const bool params = dweight != nullptr || dbias != nullptr;
  if (d == 0 || rows == 0) {
    for (int64_t j = 0; j < c; ++j) {
      if (dweight != nullptr) dweight[j] = T(0);
      if (dbias != nullptr) dbias[j] = T(0);
    }
    return;
  }
  if (dx == nullptr && !params) return;
  struct GnPartials;  // every element written below before it is read
  double* const part = params ? reused_scratch<double, GnPartials>(size_t(2 * n * c)) : nullptr;
  const bool stream = dx != nullptr && norm_stream(rows * d * int64_t(sizeof(T)));
  parallel_chunks(rows, gn_grain(rows, d), [&](int64_t b, int64_t e) {
    std::vector<double> sums(static_cast<size_t>(2 * cg));
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = r * d, k = r / g, c0 = (r % g) * cg;
      const T* xr = x + off;
      const T* gr = dy + off;
      const bool next = r + 1 < e;
      const double rs = double(rstd[r]);
      double A = 0.0, B = 0.0;
      for (int64_t j = 0; j < cg; ++j) {
        double& s1 = sums[2 * j];
        double& s2 = sums[2 * j + 1];
        // the next row's x, its first half, into L2 meanwhile (half of run j's length, at
        // half its offset); the rest of x and all of dy during the map
        run_sums<T, true>(xr + j * s, gr + j * s, s, mean[r], s1, s2,
                          next ? xr + d + j * s / 2 : nullptr);
        const double wj = weight ? double(weight[c0 + j]) : 1.0;
        A += wj * s1;
        B += wj * s2;
        if (params) {
          part[2 * (k * c + c0 + j)] = s1;
          part[2 * (k * c + c0 + j) + 1] = s2 * rs;
        }
      }
      if (!std::isfinite(A) || !std::isfinite(B))  // one check per row
        gn_refine_row(xr, gr, s, cg, mean[r], rs, weight ? weight + c0 : nullptr, sums.data(),
                      params ? part + 2 * (k * c + c0) : nullptr, A, B);
      if (dx == nullptr) continue;
      const double c1 = A / double(d), c2 = rs * B / double(d);  // mean(g), mean(g xhat)
      const DxMap map = DxMap::make<T>(rs, -rs * c2, -rs * c1, mean[r]);
      if (map.exact) {  // rare
        for (int64_t j = 0; j < cg; ++j)
          map.run_exact<T>(weight ? double(weight[c0 + j]) : 1.0, gr + j * s, xr + j * s,
                           dx + off + j * s, s);
        continue;
      }
      const T bq = map.B<T>(), dd = map.D<T>();
      for (int64_t j = 0; j < cg; ++j) {
        const T a = map.A<T>(weight ? double(weight[c0 + j]) : 1.0);
        run_map<T>(gr + j * s, xr + j * s, a, bq, mean[r], dd, dx + off + j * s, s, stream,
                   next && j >= cg / 2 ? xr + d + j * s : nullptr, next ? gr + d + j * s : nullptr);
      }
    }
    if (stream) stream_fence();
  });
  if (!params) return;
  for (int64_t j = 0; j < c; ++j) {
    double s1 = 0.0, s2 = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      s1 += part[2 * (k * c + j)];
      s2 += part[2 * (k * c + j) + 1];
    }
    if (dbias != nullptr) dbias[j] = static_cast<T>(s1);
    if (dweight != nullptr) dweight[j] = static_cast<T>(s2);
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
  void batch_norm_train_forward(const T* x, const T* weight, const T* bias, T* y, T* mean,         \
                                T* invstd, T* running_mean, T* running_var, int64_t n, int64_t c,  \
                                int64_t s, double momentum, double eps) {                          \
    batch_norm_train_forward_t(x, weight, bias, y, mean, invstd, running_mean, running_var, n, c,  \
                               s, momentum, eps);                                                  \
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
  }                                                                                                \
  void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,      \
                          int64_t n, int64_t c, int64_t s, int64_t g, double eps) {                \
    group_norm_forward_t(x, weight, bias, y, mean, rstd, n, c, s, g, eps);                         \
  }                                                                                                \
  void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, \
                           T* dx, T* dweight, T* dbias, int64_t n, int64_t c, int64_t s,           \
                           int64_t g) {                                                            \
    group_norm_backward_t(dy, x, weight, mean, rstd, dx, dweight, dbias, n, c, s, g);              \
  }
DG_NORM_DEFS(float)
DG_NORM_DEFS(double)
#undef DG_NORM_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
