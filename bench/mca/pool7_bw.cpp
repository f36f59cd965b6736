// Issue 17, round 7 (pool7): what reads fastest from DRAM on this Zen 3. Standalone (no
// deltagrad): a 64 MiB float32 input (16M, the bench's x), read by the loops the pooling passes
// use, with variants of the software prefetch (distance, hint), the thread partition (one
// contiguous half per thread vs dynamic 256 KiB chunks) and streams per thread; the copy of the
// bench (read + non-temporal write, 4 KiB prefetch, dynamic chunks) as the reference.
//
//   g++ -O2 -mavx2 -mfma -fopenmp bench/mca/pool7_bw.cpp -o build/pool7_bw
//   build/pool7_bw [threads] [rounds]
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static float* alloc(size_t n, size_t off_bytes) {  // numpy-like: 16 bytes past a 2 MiB page
  const size_t bytes = n * 4 + 4096 + off_bytes;
  void* p = nullptr;
  if (posix_memalign(&p, 2 << 20, bytes)) std::abort();
  madvise(p, bytes, MADV_HUGEPAGE);
  std::memset(p, 0, bytes);
  return reinterpret_cast<float*>(static_cast<char*>(p) + off_bytes);
}

template <int kHint>
static inline void pf(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), static_cast<_mm_hint>(kHint));
}

// f(b, e) per thread: contiguous halves (split) or dynamic chunks of `grain` elements
template <class F>
static void run_split(int64_t n, F f) {
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    f(n * t / nt, n * (t + 1) / nt);
  }
}
template <class F>
static void run_dyn(int64_t n, int64_t grain, F f) {
  const int64_t chunks = (n + grain - 1) / grain;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

static volatile float sink;

// read-only sum, 4 accumulators of 8 lanes; prefetch `dist` bytes ahead with hint H (dist 0: none)
template <int H>
static float sum_range(const float* x, int64_t b, int64_t e, int64_t dist) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = b;
  for (; i + 32 <= e; i += 32) {
    if (dist) {
      pf<H>(reinterpret_cast<const char*>(x + i) + dist);
      pf<H>(reinterpret_cast<const char*>(x + i) + dist + 64);
    }
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
  }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (int l = 0; l < 8; ++l) s += t[l];
  for (; i < e; ++i) s += x[i];
  return s;
}

// k streams per thread: the range in k parts, read in lock step
template <int H>
static float sum_streams(const float* x, int64_t b, int64_t e, int64_t dist, int k) {
  const int64_t len = (e - b) / k / 32 * 32;
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                 _mm256_setzero_ps()};
  for (int64_t i = 0; i < len; i += 32)
    for (int s = 0; s < k; ++s) {
      const float* p = x + b + s * len + i;
      if (dist) {
        pf<H>(reinterpret_cast<const char*>(p) + dist);
        pf<H>(reinterpret_cast<const char*>(p) + dist + 64);
      }
      a[0] = _mm256_add_ps(a[0], _mm256_loadu_ps(p));
      a[1] = _mm256_add_ps(a[1], _mm256_loadu_ps(p + 8));
      a[2] = _mm256_add_ps(a[2], _mm256_loadu_ps(p + 16));
      a[3] = _mm256_add_ps(a[3], _mm256_loadu_ps(p + 24));
    }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
  float s = 0;
  for (int l = 0; l < 8; ++l) s += t[l];
  for (int64_t i = b + k * len; i < e; ++i) s += x[i];
  return s;
}

// the bench's copy: read x, stream y (aligned body), 2 prefetches per 64 bytes, 4 KiB ahead
static void copy_range(const float* x, float* y, int64_t b, int64_t e, int64_t dist) {
  int64_t i = b;
  while (i < e && (reinterpret_cast<uintptr_t>(y + i) & 31)) y[i] = x[i], ++i;
  for (; i + 16 <= e; i += 16) {
    if (dist) pf<_MM_HINT_T0>(reinterpret_cast<const char*>(x + i) + dist);
    _mm256_stream_ps(y + i, _mm256_loadu_ps(x + i));
    _mm256_stream_ps(y + i + 8, _mm256_loadu_ps(x + i + 8));
  }
  for (; i < e; ++i) y[i] = x[i];
  _mm_sfence();
}

static inline void deint(__m256 a, __m256 b, __m256& e, __m256& o) {
  const __m256 ee = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 oo = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ee), _MM_SHUFFLE(3, 1, 2, 0)));
  o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(oo), _MM_SHUFFLE(3, 1, 2, 0)));
}

// avg 2x2/2 over planes of 128x128 (W = 128): output rows [b, e) of 64 each; y streamed (y
// aligned here). kind 0: row pairs as pool.h (prefetch each row dist ahead); 1: no prefetch.
template <int H>
static void avg_rows(const float* x, float* y, int64_t b, int64_t e, int64_t dist) {
  const int64_t W = 128, ow = 64;
  const __m256 q = _mm256_set1_ps(0.25f);
  for (int64_t i = b; i < e; ++i) {
    const int64_t p = i / 64, r = i % 64;
    const float* r0 = x + p * 128 * 128 + 2 * r * W;
    const float* r1 = r0 + W;
    float* yp = y + i * ow;
    for (int64_t o = 0; o < ow; o += 8) {
      if (dist) {
        pf<H>(reinterpret_cast<const char*>(r0 + 2 * o) + dist);
        pf<H>(reinterpret_cast<const char*>(r1 + 2 * o) + dist);
      }
      __m256 e0, o0, e1, o1;
      deint(_mm256_loadu_ps(r0 + 2 * o), _mm256_loadu_ps(r0 + 2 * o + 8), e0, o0);
      deint(_mm256_loadu_ps(r1 + 2 * o), _mm256_loadu_ps(r1 + 2 * o + 8), e1, o1);
      _mm256_stream_ps(
          yp + o, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(e0, o0), e1), o1), q));
    }
  }
  _mm_sfence();
}

// k streams per thread, each advancing `burst` floats at a time (row-granular interleave)
static float sum_bursts(const float* x, int64_t b, int64_t e, int k, int64_t burst) {
  const int64_t len = (e - b) / k / burst * burst;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < len; i += burst)
    for (int s = 0; s < k; ++s) {
      const float* p = x + b + s * len + i;
      for (int64_t j = 0; j < burst; j += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + j));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + j + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + j + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + j + 24));
      }
    }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (int l = 0; l < 8; ++l) s += t[l];
  for (int64_t i = b + k * len; i < e; ++i) s += x[i];
  return s;
}

// avg 2x2/2 with the thread's output rows [b, e) in k parts walked in lock step, one output row
// (one input row pair) of each part in turn; y aligned, streamed.
template <bool kSeq = false>
static void avg_rows_k(const float* x, float* y, int64_t b, int64_t e, int k) {
  const int64_t W = 128, ow = 64;
  const __m256 q = _mm256_set1_ps(0.25f);
  const int64_t len = (e - b) / k;
  alignas(64) float t[64];
  auto row = [&](int64_t i) {
    const int64_t p = i / 64, r = i % 64;
    const float* r0 = x + p * 128 * 128 + 2 * r * W;
    const float* r1 = r0 + W;
    float* yp = y + i * ow;
    if (kSeq) {  // row 2r first (pair sums into t), then row 2r + 1: one sequential stream
      for (int64_t o = 0; o < ow; o += 8) {
        __m256 e0, o0;
        deint(_mm256_loadu_ps(r0 + 2 * o), _mm256_loadu_ps(r0 + 2 * o + 8), e0, o0);
        _mm256_store_ps(t + o, _mm256_add_ps(e0, o0));
      }
      for (int64_t o = 0; o < ow; o += 8) {
        __m256 e1, o1;
        deint(_mm256_loadu_ps(r1 + 2 * o), _mm256_loadu_ps(r1 + 2 * o + 8), e1, o1);
        _mm256_stream_ps(
            yp + o, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(_mm256_load_ps(t + o), e1), o1), q));
      }
      return;
    }
    for (int64_t o = 0; o < ow; o += 8) {
      __m256 e0, o0, e1, o1;
      deint(_mm256_loadu_ps(r0 + 2 * o), _mm256_loadu_ps(r0 + 2 * o + 8), e0, o0);
      deint(_mm256_loadu_ps(r1 + 2 * o), _mm256_loadu_ps(r1 + 2 * o + 8), e1, o1);
      _mm256_stream_ps(
          yp + o, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(e0, o0), e1), o1), q));
    }
  };
  for (int64_t i = 0; i < len; ++i)
    for (int s = 0; s < k; ++s) row(b + s * len + i);
  for (int64_t i = b + k * len; i < e; ++i) row(i);
  _mm_sfence();
}

int main(int argc, char** argv) {
  const int nt = argc > 1 ? std::atoi(argv[1]) : 2;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
  omp_set_num_threads(nt);
  const int64_t n = int64_t(16) << 20;  // x: 64 MiB
  float* x = alloc(n, 16);
  float* y = alloc(n / 4, 16);           // 16 MiB (avg output) -- 16 bytes past: as numpy
  float* ya = alloc(n / 4, 0);           // aligned
  const int64_t half = (n + n / 4) / 2;  // the copy of the avg forward's bytes (80 MiB)
  float* cs = alloc(half, 16);
  float* cd = alloc(half, 16);
  const int64_t half_ad = n / 2;  // the copy of the adaptive forward's bytes (64 MiB)
  for (int64_t i = 0; i < n; ++i) x[i] = float(i % 7) * 0.5f;
  for (int64_t i = 0; i < half; ++i) cs[i] = 1.0f;

  struct Case {
    std::string name;
    double bytes;
    std::function<void()> f;
  };
  std::vector<Case> cases;
  auto add = [&](std::string nm, double by, std::function<void()> f) {
    cases.push_back({nm, by, f});
  };
  const double rb = double(n) * 4;
  add("copy80 (avg bytes) dyn pf4K", 2.0 * half * 4, [&] {
    run_dyn(half, 1 << 16, [&](int64_t b, int64_t e) { copy_range(cs, cd, b, e, 4096); });
  });
  add("copy64 (adaptive bytes) dyn pf4K", 2.0 * half_ad * 4, [&] {
    run_dyn(half_ad, 1 << 16, [&](int64_t b, int64_t e) { copy_range(cs, cd, b, e, 4096); });
  });
  add("copy64 split pf4K", 2.0 * half_ad * 4,
      [&] { run_split(half_ad, [&](int64_t b, int64_t e) { copy_range(cs, cd, b, e, 4096); }); });
  add("copy64 split nopf", 2.0 * half_ad * 4,
      [&] { run_split(half_ad, [&](int64_t b, int64_t e) { copy_range(cs, cd, b, e, 0); }); });
  for (int64_t d : {0, 1024, 2048, 4096, 8192, 16384}) {
    add("sum split t0 " + std::to_string(d), rb, [&, d] {
      run_split(n, [&](int64_t b, int64_t e) { sink = sum_range<_MM_HINT_T0>(x, b, e, d); });
    });
  }
  add("sum dyn256K t0 4096", rb, [&] {
    run_dyn(n, 1 << 16,
            [&](int64_t b, int64_t e) { sink = sum_range<_MM_HINT_T0>(x, b, e, 4096); });
  });
  add("sum dyn256K nopf", rb, [&] {
    run_dyn(n, 1 << 16, [&](int64_t b, int64_t e) { sink = sum_range<_MM_HINT_T0>(x, b, e, 0); });
  });
  add("sum split nta 4096", rb, [&] {
    run_split(n, [&](int64_t b, int64_t e) { sink = sum_range<_MM_HINT_NTA>(x, b, e, 4096); });
  });
  add("sum split t2 4096", rb, [&] {
    run_split(n, [&](int64_t b, int64_t e) { sink = sum_range<_MM_HINT_T2>(x, b, e, 4096); });
  });
  for (int k : {2, 4}) {
    add("sum split " + std::to_string(k) + "streams nopf", rb, [&, k] {
      run_split(n, [&](int64_t b, int64_t e) { sink = sum_streams<_MM_HINT_T0>(x, b, e, 0, k); });
    });
    add("sum split " + std::to_string(k) + "streams t0 2048", rb, [&, k] {
      run_split(n,
                [&](int64_t b, int64_t e) { sink = sum_streams<_MM_HINT_T0>(x, b, e, 2048, k); });
    });
  }
  const int64_t rows = n / 4 / 64;
  for (int64_t d : {0, 2048, 4096, 8192}) {
    add("avg2x2 split t0 " + std::to_string(d), rb * 1.25, [&, d] {
      run_split(rows, [&](int64_t b, int64_t e) { avg_rows<_MM_HINT_T0>(x, ya, b, e, d); });
    });
  }
  for (int k : {2, 3, 4, 6, 8}) {
    add("sum split " + std::to_string(k) + "x1KiB bursts", rb, [&, k] {
      run_split(n, [&](int64_t b, int64_t e) { sink = sum_bursts(x, b, e, k, 256); });
    });
    add("avg2x2 split " + std::to_string(k) + " row streams", rb * 1.25,
        [&, k] { run_split(rows, [&](int64_t b, int64_t e) { avg_rows_k(x, ya, b, e, k); }); });
  }
  for (int k : {1, 2, 4, 6}) {
    add("avg2x2 split " + std::to_string(k) + " row streams seq", rb * 1.25, [&, k] {
      run_split(rows, [&](int64_t b, int64_t e) { avg_rows_k<true>(x, ya, b, e, k); });
    });
  }
  add("sum split 4x256B bursts", rb,
      [&] { run_split(n, [&](int64_t b, int64_t e) { sink = sum_bursts(x, b, e, 4, 64); }); });
  add("sum split 4x4KiB bursts", rb,
      [&] { run_split(n, [&](int64_t b, int64_t e) { sink = sum_bursts(x, b, e, 4, 1024); }); });
  add("avg2x2 dyn y t0 4096", rb * 1.25, [&] {
    run_dyn(rows, 256, [&](int64_t b, int64_t e) { avg_rows<_MM_HINT_T0>(x, ya, b, e, 4096); });
  });
  (void)y;

  std::vector<double> best(cases.size(), 1e9);
  for (auto& c : cases) c.f();
  for (int r = 0; r < rounds; ++r)
    for (size_t k = 0; k < cases.size(); ++k) {
      const size_t j = r % 2 ? cases.size() - 1 - k : k;
      const double t0 = now();
      cases[j].f();
      cases[j].f();
      best[j] = std::min(best[j], (now() - t0) / 2);
    }
  std::printf("threads %d, rounds %d\n", nt, rounds);
  for (size_t k = 0; k < cases.size(); ++k)
    std::printf("%-36s %7.3f ms %6.1f GB/s\n", cases[k].name.c_str(), best[k] * 1e3,
                cases[k].bytes / best[k] / 1e9);
}
