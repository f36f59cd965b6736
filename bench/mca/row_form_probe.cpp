// Issue 18, round 31: the row form's loop (gemm_axpy, csrc/cpu/gemm.h, m = 1) on the Zen 3,
// standalone (no deltagrad). y = a @ B, B k x n row-major float32 (default 4096 x 4096: 64 MiB,
// bench_matmul's row_x_W, streamed from DRAM): the loop as shipped (R = 4 rows of B per step,
// 4096-column chunks summed in an L1 buffer, no prefetch), with the next step's rows prefetched
// ("pf 1 step": the scheme gemm_axpy uses from 3 rows of C), 2 steps ahead, R = 8 / 16, and
// 2048-column chunks; "pure read" is a 4-accumulator sum of B, the read bandwidth.
// Round 31 measured (GB/s, 1 / 2 threads, noisy guest): shipped 23-30 / 38-49, pf 1 step
// 28-32 / 42-50, R8 21-23 / 28-51, R16 12 / 17-21; pure read 20-28 / 34-40. With B in the L3
// (k = 1024: 16 MiB) the prefetch cost 46.7 -> 40.3 at 1 thread. Enabling it in gemm_axpy for
// m <= 2 when k n sizeof(T) > L3 (AxpyShape::kPrefetch || that size test, a template bool
// through axpy_chunk / axpy_rows) did not move bench_matmul's row_x_W at 1 thread (12.7 / 11.5
// GFLOP/s against 13.0) -- unexplained, not committed; NumPy (OpenBLAS) reads B at 33-35 GB/s.
//
//   g++ -O2 -mavx2 -mfma -fopenmp -std=c++17 bench/mca/row_form_probe.cpp -o build/row_probe
//   OMP_PROC_BIND=close build/row_probe [k] [n]
// Zen 3 probe: y = a @ B (1 x k @ k x n, row-major B, 64 MiB), the row form's variants.
#include <immintrin.h>
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// columns [j0, j0+nc) over rows [p0, p1): buf += sum a[p] B[p, j0:]
template <int R, bool PF>
static void rows(const float* a, const float* B, int n, int p0, int p1, int j0, int nc, float* buf,
                 int pfd) {
  int p = p0;
  for (; p + R <= p1; p += R) {
    __m256 av[R];
    const float* br[R];
    for (int r = 0; r < R; ++r) {
      av[r] = _mm256_set1_ps(a[p + r]);
      br[r] = B + (size_t)(p + r) * n + j0;
    }
    for (int j = 0; j < nc; j += 8) {
      __m256 acc = _mm256_load_ps(buf + j);
      for (int r = 0; r < R; ++r) {
        if (PF) _mm_prefetch((const char*)(br[r] + j + pfd), _MM_HINT_T0);
        acc = _mm256_fmadd_ps(av[r], _mm256_loadu_ps(br[r] + j), acc);
      }
      _mm256_store_ps(buf + j, acc);
    }
  }
  for (; p < p1; ++p) {
    __m256 av = _mm256_set1_ps(a[p]);
    const float* b = B + (size_t)p * n + j0;
    for (int j = 0; j < nc; j += 8)
      _mm256_store_ps(buf + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(b + j), _mm256_load_ps(buf + j)));
  }
}

template <int R, bool PF>
static void gemv_cols(const float* a, const float* B, float* y, int k, int n, int NC, int pfd,
                      int nthreads) {
#pragma omp parallel num_threads(nthreads)
  {
    alignas(64) static thread_local float buf[16384];
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int per = n / T, c0 = t * per, c1 = t == T - 1 ? n : c0 + per;
    for (int j0 = c0; j0 < c1; j0 += NC) {
      int nc = std::min(NC, c1 - j0);
      std::memset(buf, 0, nc * 4);
      rows<R, PF>(a, B, n, 0, k, j0, nc, buf, pfd);
      std::memcpy(y + j0, buf, nc * 4);
    }
  }
}

// k split in 2 fixed halves (the same bits on 1 or 2 threads), summed in order
template <int R, bool PF>
static void gemv_ksplit(const float* a, const float* B, float* y, int k, int n, int NC, int pfd,
                        int nthreads) {
  static std::vector<float> part(2 * 8192);
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int h = 0; h < 2; ++h) {
    alignas(64) static thread_local float buf[16384];
    int p0 = h * (k / 2), p1 = h ? k : k / 2;
    for (int j0 = 0; j0 < n; j0 += NC) {
      int nc = std::min(NC, n - j0);
      std::memset(buf, 0, nc * 4);
      rows<R, PF>(a, B, n, p0, p1, j0, nc, buf, pfd);
      std::memcpy(part.data() + h * n + j0, buf, nc * 4);
    }
  }
  for (int j = 0; j < n; ++j) y[j] = part[j] + part[n + j];
}

static float sumread(const float* B, size_t N, int nthreads) {
  float s = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : s)
  {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    size_t per = N / T, i0 = t * per, i1 = i0 + per;
    for (size_t i = i0; i < i1; i += 32) {
      acc0 = _mm256_add_ps(acc0, _mm256_load_ps(B + i));
      acc1 = _mm256_add_ps(acc1, _mm256_load_ps(B + i + 8));
      acc2 = _mm256_add_ps(acc2, _mm256_load_ps(B + i + 16));
      acc3 = _mm256_add_ps(acc3, _mm256_load_ps(B + i + 24));
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (float v : tmp) s += v;
  }
  return s;
}

int main(int argc, char** argv) {
  const int k = argc > 1 ? atoi(argv[1]) : 4096, n = argc > 2 ? atoi(argv[2]) : 4096;
  float* B = (float*)aligned_alloc(64, (size_t)k * n * 4);
  std::vector<float> a(k), y(n);
  for (size_t i = 0; i < (size_t)k * n; ++i) B[i] = (float)((i * 2654435761u) % 1000) / 1000.f;
  for (int i = 0; i < k; ++i) a[i] = (float)(i % 7) / 7.f;
  const double bytes = (double)k * n * 4;
  auto time = [&](const char* name, auto fn) {
    for (int th = 1; th <= 2; ++th) {
      double best = 1e9;
      for (int rep = 0; rep < (bytes < 1e8 ? 200 : 15); ++rep) {
        double t0 = now();
        fn(th);
        best = std::min(best, now() - t0);
      }
      std::printf("%-28s %dt %6.1f GB/s\n", name, th, bytes / best / 1e9);
    }
  };
  volatile float sink = 0;
  time("pure read", [&](int th) { sink = sumread(B, (size_t)k * n, th); });
  time("cols R4 NC4096 (ours m=1)", [&](int th) { gemv_cols<4, false>(a.data(), B, y.data(), k, n, 4096, 0, th); });
  time("R4 pf 1 step", [&](int th) { gemv_cols<4, true>(a.data(), B, y.data(), k, n, 4096, 4 * n, th); });
  time("R4 pf 2 steps", [&](int th) { gemv_cols<4, true>(a.data(), B, y.data(), k, n, 4096, 8 * n, th); });
  time("R8 pf 1 step", [&](int th) { gemv_cols<8, true>(a.data(), B, y.data(), k, n, 4096, 8 * n, th); });
  time("R8 pf 2 steps", [&](int th) { gemv_cols<8, true>(a.data(), B, y.data(), k, n, 4096, 16 * n, th); });
  time("R16 pf 1 step", [&](int th) { gemv_cols<16, true>(a.data(), B, y.data(), k, n, 4096, 16 * n, th); });
  time("R4 pf 1 step NC2048", [&](int th) { gemv_cols<4, true>(a.data(), B, y.data(), k, n, 2048, 4 * n, th); });
  std::printf("%f\n", (double)y[7]);
}
