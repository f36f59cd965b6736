// Issue 17, round 9: batch norm's statistics read on this Zen 3. Standalone (no deltagrad): x
// (16, 64, 16384) float32 (64 MiB, bench_norm's shape), each channel's 16 runs of 64 KiB (4 MiB
// apart) summed as norm.h's run_sums does (4 accumulator pairs, 512-element float blocks),
// one run after the other (R1) or R runs in turn G bytes at a time: "R4 2KiB" a whole float block
// of each run in turn, "K4 128B" the bit-preserving form norm.h uses (each run's accumulators
// kept across the turns, 4 vectors of a run per turn).
//
//   g++ -O2 -mavx2 -mfma -fopenmp bench/mca/bn9_read.cpp -o build/bn9_read
//   build/bn9_read [threads] [rounds]
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <algorithm>
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static float* alloc(size_t n) {
  void* p;
  posix_memalign(&p, 2 << 20, n * 4 + 4096);
  madvise(p, n * 4 + 4096, MADV_HUGEPAGE);
  memset(p, 0, n * 4 + 4096);
  return (float*)((char*)p + 16);
}
const int64_t N = 16, C = 64, S = 16384;
static volatile float sink;
// one block of a run: 4 accumulator pairs (as run_sums)
static inline void blk(const float* x, int64_t b0, int64_t e, __m256 cen, float& ta, float& tb) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
  for (int64_t i = b0; i < e; i += 32) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), cen),
           d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), cen);
    __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), cen),
           d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), cen);
    a0 = _mm256_add_ps(a0, d0);
    a1 = _mm256_add_ps(a1, d1);
    a2 = _mm256_add_ps(a2, d2);
    a3 = _mm256_add_ps(a3, d3);
    c0 = _mm256_fmadd_ps(d0, d0, c0);
    c1 = _mm256_fmadd_ps(d1, d1, c1);
    c2 = _mm256_fmadd_ps(d2, d2, c2);
    c3 = _mm256_fmadd_ps(d3, d3, c3);
  }
  __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
         c = _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3));
  float t[8];
  _mm256_storeu_ps(t, a);
  for (int l = 0; l < 8; ++l) ta += t[l];
  _mm256_storeu_ps(t, c);
  for (int l = 0; l < 8; ++l) tb += t[l];
}
struct Acc {
  __m256 a[4], c[4];
};
static inline void steps(const float* x, int64_t b0, int64_t e, __m256 cen, Acc& A) {
  __m256 a0 = A.a[0], a1 = A.a[1], a2 = A.a[2], a3 = A.a[3], c0 = A.c[0], c1 = A.c[1], c2 = A.c[2],
         c3 = A.c[3];
  for (int64_t i = b0; i < e; i += 32) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), cen),
           d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), cen);
    __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), cen),
           d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), cen);
    a0 = _mm256_add_ps(a0, d0);
    a1 = _mm256_add_ps(a1, d1);
    a2 = _mm256_add_ps(a2, d2);
    a3 = _mm256_add_ps(a3, d3);
    c0 = _mm256_fmadd_ps(d0, d0, c0);
    c1 = _mm256_fmadd_ps(d1, d1, c1);
    c2 = _mm256_fmadd_ps(d2, d2, c2);
    c3 = _mm256_fmadd_ps(d3, d3, c3);
  }
  A.a[0] = a0;
  A.a[1] = a1;
  A.a[2] = a2;
  A.a[3] = a3;
  A.c[0] = c0;
  A.c[1] = c1;
  A.c[2] = c2;
  A.c[3] = c3;
}
// bit-preserving: 512-element float blocks per run, sub-chunks of G interleaved across R runs
template <int R, int64_t G>
static void stats2(const float* x) {
#pragma omp parallel
  {
    int64_t j;
    float acc = 0;
#pragma omp for schedule(dynamic, 1)
    for (j = 0; j < C; ++j) {
      __m256 cen = _mm256_set1_ps(0.5f);
      float ta[16] = {}, tb[16] = {};
      for (int64_t k0 = 0; k0 < N; k0 += R)
        for (int64_t b0 = 0; b0 < S; b0 += 512) {
          Acc A[R];
          for (int r = 0; r < R; ++r)
            for (int q = 0; q < 4; ++q) A[r].a[q] = A[r].c[q] = _mm256_setzero_ps();
          for (int64_t g = b0; g < b0 + 512; g += G)
            for (int r = 0; r < R; ++r) steps(x + ((k0 + r) * C + j) * S, g, g + G, cen, A[r]);
          for (int r = 0; r < R; ++r) {
            __m256 a = _mm256_add_ps(_mm256_add_ps(A[r].a[0], A[r].a[1]),
                                     _mm256_add_ps(A[r].a[2], A[r].a[3]));
            __m256 c = _mm256_add_ps(_mm256_add_ps(A[r].c[0], A[r].c[1]),
                                     _mm256_add_ps(A[r].c[2], A[r].c[3]));
            float t[8];
            _mm256_storeu_ps(t, a);
            for (int l = 0; l < 8; ++l) ta[k0 + r] += t[l];
            _mm256_storeu_ps(t, c);
            for (int l = 0; l < 8; ++l) tb[k0 + r] += t[l];
          }
        }
      for (int k = 0; k < N; ++k) acc += ta[k] + tb[k];
    }
    sink = acc;
  }
}
template <int R, int64_t BLK>
static void stats(const float* x) {
#pragma omp parallel
  {
    int64_t j;
    float acc = 0;
#pragma omp for schedule(dynamic, 1)
    for (j = 0; j < C; ++j) {
      __m256 cen = _mm256_set1_ps(0.5f);
      float ta[16] = {}, tb[16] = {};
      for (int64_t k0 = 0; k0 < N; k0 += R)
        for (int64_t b0 = 0; b0 < S; b0 += BLK)
          for (int r = 0; r < R; ++r)
            blk(x + ((k0 + r) * C + j) * S, b0, b0 + BLK, cen, ta[k0 + r], tb[k0 + r]);
      for (int k = 0; k < N; ++k) acc += ta[k] + tb[k];
    }
    sink = acc;
  }
}
int main(int argc, char** argv) {
  int nt = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 20;
  omp_set_num_threads(nt);
  float* x = alloc(N * C * S);
  for (int64_t i = 0; i < N * C * S; ++i) x[i] = float(i % 97) * 0.01f;
  const char* names[] = {"R1",      "R4 2KiB", "R4 256B", "R4 128B",
                         "K4 256B", "K4 128B", "K2 256B", "K4 512B"};
  double best[8];
  for (auto& b : best) b = 1e9;
  for (int r = 0; r < rounds; ++r)
    for (int v = 0; v < 8; ++v) {
      double t = now();
      switch (v) {
        case 0:
          stats<1, 512>(x);
          break;
        case 1:
          stats<4, 512>(x);
          break;
        case 2:
          stats<4, 64>(x);
          break;
        case 3:
          stats<4, 32>(x);
          break;
        case 4:
          stats2<4, 64>(x);
          break;
        case 5:
          stats2<4, 32>(x);
          break;
        case 6:
          stats2<2, 64>(x);
          break;
        case 7:
          stats2<4, 128>(x);
          break;
      }
      t = now() - t;
      best[v] = std::min(best[v], t);
    }
  for (int v = 0; v < 8; ++v)
    printf("%-8s %.2f ms  %.1f GB/s\n", names[v], best[v] * 1e3, N * C * S * 4 / best[v] / 1e9);
}
