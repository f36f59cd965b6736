// Sums over one run of consecutive axes: x viewed as (outer, r, inner) -> out (outer, inner),
// times `scale` (1/count for a mean); and index_add, the scattered sum of rows (the adjoint of
// a take along one axis: embedding's and x[idx]'s backward), also with prod / amax / amin
// (index_reduce); scatter_reduce, an index per element (torch's scatter_reduce / scatter_add);
// and cumulative, running sums / products (cumsum, cumprod).
// Compiled once per ISA (cmake/cpu_isa.cmake).
#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

inline constexpr int64_t kSumBlock = 1024;  // short partial sums for float32 accuracy

// sum of x[0..n), blocked; returns double.
template <class T>
double contiguous_sum(const T* x, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    const int64_t e = b + kSumBlock < n ? b + kSumBlock : n;
    V a0 = V::zero(), a1 = V::zero();
    int64_t i = b;
    for (; i + 2 * W <= e; i += 2 * W) {
      a0 = a0 + V::load(x + i);
      a1 = a1 + V::load(x + i + W);
    }
    for (; i < e; i += W) {
      const int r = e - i < W ? static_cast<int>(e - i) : W;
      a0 = a0 + V::load(x + i, r);
    }
    total += static_cast<double>((a0 + a1).reduce_add());
  }
  return total;
}

// acc[i] += x[q * ld + i] for q = 0..R-1 in that order, in double (float32 rows widened on
// the load), i < n; the sum of each column is carried in registers through the R rows.
template <int R>
inline void widen_rows(const float* x, int64_t ld, int64_t n, double* acc) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m512d lo = _mm512_loadu_pd(acc + i), hi = _mm512_loadu_pd(acc + i + 8);
#pragma GCC unroll 8
    for (int q = 0; q < R; ++q) {
      lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm256_loadu_ps(x + q * ld + i)));
      hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_loadu_ps(x + q * ld + i + 8)));
    }
    _mm512_storeu_pd(acc + i, lo);
    _mm512_storeu_pd(acc + i + 8, hi);
  }
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    __m256d lo = _mm256_loadu_pd(acc + i), hi = _mm256_loadu_pd(acc + i + 4);
#pragma GCC unroll 8
    for (int q = 0; q < R; ++q) {
      lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(x + q * ld + i)));
      hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(x + q * ld + i + 4)));
    }
    _mm256_storeu_pd(acc + i, lo);
    _mm256_storeu_pd(acc + i + 4, hi);
  }
#endif
  for (; i < n; ++i) {
    double a = acc[i];
    for (int q = 0; q < R; ++q) a += static_cast<double>(x[q * ld + i]);
    acc[i] = a;
  }
}

template <class T>
void reduce_sum_t(const T* x, T* out, int64_t outer, int64_t r, int64_t inner, T scale) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (inner == 1) {
    if (outer == 1) {  // one long sum: split it across threads
      // Each chunk's double total lands in its own slot and the slots are added in order, so
      // the bits do not depend on the thread count (an OpenMP reduction adds each thread's
      // share first: 1 and 2 threads differed in the last bits of a float64 sum).
      const int64_t chunks = (r + kParallelGrain - 1) / kParallelGrain;
      const int nt = r > kParallelGrain ? num_threads() : 1;
      std::vector<double> part(static_cast<size_t>(chunks > 0 ? chunks : 1), 0.0);
      place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t b = c * kParallelGrain;
        part[c] = contiguous_sum(x + b, b + kParallelGrain < r ? kParallelGrain : r - b);
      }
      double total = 0.0;
      for (int64_t c = 0; c < chunks; ++c) total += part[c];
      out[0] = static_cast<T>(total * static_cast<double>(scale));
      return;
    }
    const int64_t grain = kParallelGrain / (r > 0 ? r : 1) + 1;
    parallel_chunks(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        out[o] = static_cast<T>(contiguous_sum(x + o * r, r) * static_cast<double>(scale));
    });
    return;
  }
  // inner > 1: stream the r rows of each outer slice through a block of accumulators that
  // stays in L1, row after row (each element sums its rows in order j = 0, 1, ..., so the
  // bits do not depend on the thread count). Walking all r rows per vector instead re-reads
  // each cache line once per vector and misses the TLB at every row once the rows span more
  // pages than it maps (9.97 ms for a (4096, 1024) float32 mean over rows vs NumPy's 0.95).
  // The accumulators are doubles for float32 too: a float32 running total stops growing at
  // 2^24 (a mean of 2^25 ones was 0.5; review, round 40). The result is T(total * scale). Parallel
  // over (outer, inner-block) tasks; the blocks shrink so that there is a task per thread.
  constexpr int64_t kMaxBlock = 16384 / static_cast<int64_t>(sizeof(double));  // 16 KiB
  const int nt = outer * r * inner > kParallelGrain ? num_threads() : 1;
  int64_t blk = inner < kMaxBlock ? inner : kMaxBlock;
  // Split inner across the threads (whole vectors each) when there are fewer slices than
  // threads, but not into pieces under 512 elements: two threads streaming 1 KiB halves of
  // each row ran 4x slower than one thread on (32768, 512) float32 (review, round 39).
  if (outer < nt) {
    const int64_t per = (inner + nt - 1) / nt;
    const int64_t want = (per + 4 * W - 1) / (4 * W) * (4 * W);
    if (want < blk && want >= 512) blk = want;
  }
  const int64_t iblocks = (inner + blk - 1) / blk;
  const int64_t tasks = outer * iblocks;
  const double ds = static_cast<double>(scale);
  auto task = [&](int64_t t) {
    alignas(64) double acc[kMaxBlock];
    const int64_t o = t / iblocks, i0 = (t % iblocks) * blk;
    const int64_t n = i0 + blk < inner ? blk : inner - i0;
    const T* xo = x + o * r * inner + i0;
    for (int64_t i = 0; i < n; ++i) acc[i] = 0.0;
    if constexpr (sizeof(T) == sizeof(double)) {
      for (int64_t j = 0; j < r; ++j) {
        const T* row = xo + j * inner;
        const int64_t full = n / (4 * W) * (4 * W);
        int64_t i = 0;
        for (; i < full; i += 4 * W) {
          (V::load(acc + i) + V::load(row + i)).store(acc + i);
          (V::load(acc + i + W) + V::load(row + i + W)).store(acc + i + W);
          (V::load(acc + i + 2 * W) + V::load(row + i + 2 * W)).store(acc + i + 2 * W);
          (V::load(acc + i + 3 * W) + V::load(row + i + 3 * W)).store(acc + i + 3 * W);
        }
        for (; i < n; i += W) {
          const int rem = n - i < W ? static_cast<int>(n - i) : W;
          (V::load(acc + i, rem) + V::load(row + i, rem)).store(acc + i, rem);
        }
      }
    } else {
      // float32: kRows rows at a time, each column's double sum carried in registers through
      // them (the rows widened on the load), so the block in L1 is read and written once per
      // kRows rows (a double block updated every row ran at half the float block's speed:
      // twice the bytes stored)
      constexpr int kRows = 16;
      int64_t j = 0;
      for (; j + kRows <= r; j += kRows) widen_rows<kRows>(xo + j * inner, inner, n, acc);
      for (; j < r; ++j) widen_rows<1>(xo + j * inner, inner, n, acc);
    }
    T* oo = out + o * inner + i0;
    for (int64_t i = 0; i < n; ++i) oo[i] = static_cast<T>(acc[i] * ds);
  };
  const int team = tasks > 1 ? nt : 1;
  place_team(team);
#pragma omp parallel for num_threads(team) schedule(dynamic, 1) if (team > 1)
  for (int64_t t = 0; t < tasks; ++t) task(t);
}

// Running sums / products along the middle axis of x viewed as (outer, n, inner), from the
// first element or (reverse) from the last: out[o, j, i] = x[o, 0, i] op ... op x[o, j, i]. The
// accumulator is a double for float32 too, rounded to T at every element (torch's CPU cumsum /
// cumprod accumulate in double the same way), so the result does not depend on the thread
// count. inner == 1: whole rows, four at a time (four independent chains hide the add's
// latency); inner > 1: a block of accumulators streams the rows, as reduce_sum_t.
template <class T>
void cumulative_t(const T* x, T* out, int64_t outer, int64_t n, int64_t inner, bool prod,
                  bool reverse) {
  const double init = prod ? 1.0 : 0.0;
  auto step = [prod](double a, T v) { return prod ? a * static_cast<double>(v) : a + v; };
  const int nt = outer * n * inner > kParallelGrain ? num_threads() : 1;
  if (inner == 1) {
    auto rows = [&](int64_t b, int64_t e) {
      int64_t o = b;
      for (; o + 4 <= e; o += 4) {
        double a0 = init, a1 = init, a2 = init, a3 = init;
        const T *x0 = x + o * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
        T *y0 = out + o * n, *y1 = y0 + n, *y2 = y1 + n, *y3 = y2 + n;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = reverse ? n - 1 - k : k;
          a0 = step(a0, x0[j]);
          a1 = step(a1, x1[j]);
          a2 = step(a2, x2[j]);
          a3 = step(a3, x3[j]);
          y0[j] = static_cast<T>(a0);
          y1[j] = static_cast<T>(a1);
          y2[j] = static_cast<T>(a2);
          y3[j] = static_cast<T>(a3);
        }
      }
      for (; o < e; ++o) {
        double a = init;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = reverse ? n - 1 - k : k;
          a = step(a, x[o * n + j]);
          out[o * n + j] = static_cast<T>(a);
        }
      }
    };
    if (nt <= 1) return rows(0, outer);
    parallel_chunks(outer, 4, rows);
    return;
  }
  constexpr int64_t kBlock = 1024;  // 8 KiB of double accumulators
  int64_t blk = inner < kBlock ? inner : kBlock;
  if (outer < nt) {
    const int64_t per = (inner + nt - 1) / nt;
    const int64_t want = (per + 31) / 32 * 32;
    if (want < blk) blk = want;
  }
  const int64_t iblocks = (inner + blk - 1) / blk;
  const int64_t tasks = outer * iblocks;
  auto task = [&](int64_t t) {
    double acc[kBlock];
    const int64_t o = t / iblocks, i0 = (t % iblocks) * blk;
    const int64_t m = i0 + blk < inner ? blk : inner - i0;
    for (int64_t i = 0; i < m; ++i) acc[i] = init;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = reverse ? n - 1 - k : k;
      const T* xr = x + (o * n + j) * inner + i0;
      T* yr = out + (o * n + j) * inner + i0;
      if (prod) {
        for (int64_t i = 0; i < m; ++i)
          yr[i] = static_cast<T>(acc[i] *= static_cast<double>(xr[i]));
      } else {
        for (int64_t i = 0; i < m; ++i)
          yr[i] = static_cast<T>(acc[i] += static_cast<double>(xr[i]));
      }
    }
  };
  const int team = tasks > 1 ? nt : 1;
  place_team(team);
#pragma omp parallel for num_threads(team) schedule(dynamic, 1) if (team > 1)
  for (int64_t t = 0; t < tasks; ++t) task(t);
}

// out (outer, n, inner) op= src (outer, m, inner) at rows idx: out[o, idx[j], :] =
// op(out[o, idx[j], :], src[o, j, :]) (index_add's sum; index_reduce's prod / amax / amin).
// Every destination row receives its rows in increasing j, each applied by one thread, so the
// result is bit for bit np.<ufunc>.at's on any thread count. Work is split across threads by outer
// slice when there are enough of them, else by ranges of destination rows: each thread scans
// all of idx (8 bytes a row, against inner * sizeof(T) moved) and adds the rows landing in its
// range. idx is already checked to lie in [0, n).
template <class T, class Op>
void index_reduce_op(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n, int64_t m,
                     int64_t inner, bool sum, Op op) {
  auto rows = [&](int64_t o, int64_t lo, int64_t hi) {
    T* oo = out + o * n * inner;
    const T* so = src + o * m * inner;
    if (inner == 1) {
      for (int64_t j = 0; j < m; ++j) {
        const int64_t r = idx[j];
        if (r >= lo && r < hi) oo[r] = op(oo[r], so[j]);
      }
      return;
    }
    for (int64_t j = 0; j < m; ++j) {
      const int64_t r = idx[j];
      if (r < lo || r >= hi) continue;
      T* d = oo + r * inner;
      const T* sj = so + j * inner;
      if (sum) {
        add_into(d, sj, inner);
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = op(d[i], sj[i]);
      }
    }
  };
  const int nt = outer * m * inner > kParallelGrain ? num_threads() : 1;
  if (nt <= 1) {
    for (int64_t o = 0; o < outer; ++o) rows(o, 0, n);
    return;
  }
  if (outer >= 4 * nt) {  // whole slices, dynamically: one slice never spans two threads
    parallel_chunks(outer, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) rows(o, 0, n);
    });
    return;
  }
  const int64_t parts = n < nt ? n : nt;  // per slice, nt ranges of destination rows
  const int64_t tasks = outer * parts;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / parts, p = t % parts;
    rows(o, n * p / parts, n * (p + 1) / parts);
  }
}

// out (outer, n, inner) op= src (outer, m, inner) at idx (outer, m, inner), an index per element:
// out[o, idx[o, j, i], i] = op(out[...], src[o, j, i]) (torch's scatter_reduce along the middle
// axis). A destination only hears from its own column (o, i), in increasing j: the result is bit
// for bit np.<ufunc>.at's on any thread count. op: 0 sum, 1 prod, 2 amax, 3 amin; amax / amin
// are np.maximum / np.minimum (a NaN on either side wins). Threads take whole outer slices when
// there are enough of them, else ranges of i. idx is already checked to lie in [0, n).
template <class T, class Op>
void scatter_reduce_op(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t n,
                       int64_t m, int64_t inner, Op op) {
  auto cols = [&](int64_t o, int64_t lo, int64_t hi) {
    T* oo = out + o * n * inner;
    if (inner == 1) {  // along the last axis: one loop over the slice (a short row paid the
                       // inner loop's setup per element: 1.9x the time on 16384 x 16)
      const int64_t* io = idx + o * m;
      const T* so = src + o * m;
      for (int64_t j = 0; j < m; ++j) oo[io[j]] = op(oo[io[j]], so[j]);
      return;
    }
    for (int64_t j = 0; j < m; ++j) {
      const int64_t* ij = idx + (o * m + j) * inner;
      const T* sj = src + (o * m + j) * inner;
      for (int64_t i = lo; i < hi; ++i) {
        T& d = oo[ij[i] * inner + i];
        d = op(d, sj[i]);
      }
    }
  };
  const int nt = outer * m * inner > kParallelGrain ? num_threads() : 1;
  if (nt <= 1 || (outer < 4 * nt && inner < 64 * nt)) {
    for (int64_t o = 0; o < outer; ++o) cols(o, 0, inner);
    return;
  }
  if (outer >= 4 * nt) {
    parallel_chunks(outer, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) cols(o, 0, inner);
    });
    return;
  }
  const int64_t tasks = outer * nt;  // per slice, nt ranges of columns
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / nt, p = t % nt;
    cols(o, inner * p / nt, inner * (p + 1) / nt);
  }
}

// Calls f with the reduction op code's functor: 0 sum, 1 prod, 2 amax, 3 amin (np.maximum /
// np.minimum: a NaN on either side wins).
template <class T, class F>
void with_reduce_op(int op, F&& f) {
  switch (op) {
    case 0:
      return f([](T a, T b) { return a + b; });
    case 1:
      return f([](T a, T b) { return a * b; });
    case 2:
      return f([](T a, T b) { return a >= b || a != a ? a : b; });
    default:
      return f([](T a, T b) { return a <= b || a != a ? a : b; });
  }
}

}  // namespace

void cumulative(const float* x, float* out, int64_t outer, int64_t n, int64_t inner, bool prod,
                bool reverse) {
  cumulative_t(x, out, outer, n, inner, prod, reverse);
}
void cumulative(const double* x, double* out, int64_t outer, int64_t n, int64_t inner, bool prod,
                bool reverse) {
  cumulative_t(x, out, outer, n, inner, prod, reverse);
}
void index_reduce(float* out, const int64_t* idx, const float* src, int64_t outer, int64_t n,
                  int64_t m, int64_t inner, int op) {
  with_reduce_op<float>(
      op, [&](auto f) { index_reduce_op(out, idx, src, outer, n, m, inner, op == 0, f); });
}
void index_reduce(double* out, const int64_t* idx, const double* src, int64_t outer, int64_t n,
                  int64_t m, int64_t inner, int op) {
  with_reduce_op<double>(
      op, [&](auto f) { index_reduce_op(out, idx, src, outer, n, m, inner, op == 0, f); });
}
void scatter_reduce(float* out, const int64_t* idx, const float* src, int64_t outer, int64_t n,
                    int64_t m, int64_t inner, int op) {
  with_reduce_op<float>(op,
                        [&](auto f) { scatter_reduce_op(out, idx, src, outer, n, m, inner, f); });
}
void scatter_reduce(double* out, const int64_t* idx, const double* src, int64_t outer, int64_t n,
                    int64_t m, int64_t inner, int op) {
  with_reduce_op<double>(op,
                         [&](auto f) { scatter_reduce_op(out, idx, src, outer, n, m, inner, f); });
}

void reduce_sum(const float* x, float* out, int64_t outer, int64_t r, int64_t inner, float scale) {
  reduce_sum_t(x, out, outer, r, inner, scale);
}
void reduce_sum(const double* x, double* out, int64_t outer, int64_t r, int64_t inner,
                double scale) {
  reduce_sum_t(x, out, outer, r, inner, scale);
}

}  // namespace DG_ISA_NS
}  // namespace dg
