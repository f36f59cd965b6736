// Issue 17, round 44: how fast this guest writes. Standalone (no deltagrad): 64 MiB written by
// 2 threads with non-temporal (NT) and plain stores, into 4 KiB pages and into a MADV_HUGEPAGE
// range, against the copy of the same bytes (32 MiB read, 32 MiB written with NT stores): the
// reference the pooling bench measures its passes against. A pass that only writes (the
// adaptive average backward: 64 MiB of dx from 4 KiB of dy) moves at the write rate, a copy's
// writes are half its bytes. On the Zen 4 guest of rounds 40-44 the rates moved between two
// states within minutes (slow: NT 27-28 GB/s, plain 29-34, copy 36-47; fast: NT 54-55, plain
// 41-56, copy 70-92), and writing zeros ran at 80-90 GB/s (the host treats zero lines apart).
//
//   g++ -O2 -mavx512f -fopenmp bench/mca/write_probe.cpp -o build/write_probe
//   build/write_probe
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static void write_pass(float* d, size_t n, bool nt) {
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num();
    size_t b = n * t / 2, e = n * (t + 1) / 2;
    __m512 v = _mm512_set1_ps(1.2345f);
    if (nt)
      for (size_t i = b; i < e; i += 16) _mm512_stream_ps(d + i, v);
    else
      for (size_t i = b; i < e; i += 16) _mm512_store_ps(d + i, v);
    _mm_sfence();
  }
}
static void copy_pass(const float* s, float* d, size_t n) {
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num();
    size_t b = n * t / 2, e = n * (t + 1) / 2;
    for (size_t i = b; i < e; i += 16) _mm512_stream_ps(d + i, _mm512_load_ps(s + i));
    _mm_sfence();
  }
}
float* alloc(size_t bytes, bool huge) {
  void* p = aligned_alloc(2 << 20, bytes);
  if (huge) madvise(p, bytes, MADV_HUGEPAGE);
  memset(p, 1, bytes);
  return (float*)p;
}
int main() {
  size_t n = 16u << 20;
  float* d4 = alloc(n * 4, false);
  float* dh = alloc(n * 4, true);
  float* s = alloc(n * 2, true);
  float* c = alloc(n * 2, true);
  for (size_t i = 0; i < n / 2; ++i) {
    s[i] = i * 0.5f;
  }
  const char* names[] = {"NT4k", "plain4k", "NThuge", "plainhuge", "copy"};
  for (int rep = 0; rep < 10; ++rep) {
    double best[5];
    for (double& x : best) x = 1e9;
    for (int r = 0; r < 8; ++r)
      for (int m = 0; m < 5; ++m) {
        double t0 = now();
        if (m == 0)
          write_pass(d4, n, true);
        else if (m == 1)
          write_pass(d4, n, false);
        else if (m == 2)
          write_pass(dh, n, true);
        else if (m == 3)
          write_pass(dh, n, false);
        else
          copy_pass(s, c, n / 2);
        best[m] = std::min(best[m], now() - t0);
      }
    for (int m = 0; m < 5; ++m) printf("%s %.1f  ", names[m], (n * 4) / best[m] / 1e9);
    printf("\n");
  }
}
