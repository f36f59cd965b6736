// Issue 17, round 13: why the LayerNorm kernels ran slower on the AVX-512 path than on the AVX2
// path of the Zen 4. Standalone (no deltagrad): the LayerNorm backward's parameter pass (per row
// of 4096 float32: pw += dy * (x - m) * r, pb += dy over two 64 MiB streams) with the next row
// prefetched in different patterns, 512- and 256-bit. On the Zen 4: no prefetch 7.4-7.8 ms
// either width; PREFETCHT1 once per line 5.5-5.8 ms; once per 32-byte vector (the AVX2 kernels'
// rate, each line asked for twice) 4.8-5.0; once per line plus the next line (each line twice, a
// line apart) 4.9; the same line twice in a row 5.3-5.4; PREFETCHT0 once per line 7.8-8.5.
//
//   g++ -O2 -mavx512f -mavx2 -mfma bench/mca/prefetch_pair.cpp -o build/prefetch_pair
//   build/prefetch_pair
#include <immintrin.h>
#include <sys/mman.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static float* al(size_t n) {
  char* p;
  posix_memalign((void**)&p, 1 << 21, n * 4 + 4096);
  madvise(p, n * 4 + 4096, MADV_HUGEPAGE);
  memset(p, 1, n * 4 + 4096);
  return (float*)(p + 16);
}
// VW: 8 or 16 floats; PF: 0 none, 1 t1 every vector, 2 t1 once per line, 3 t0 once per line.
template <int VW, int PF>
double run(const float* x, const float* g, float* pw, float* pb, int rows, int d) {
  double t0 = now();
  for (int r = 0; r < rows; r++) {
    const float* xr = x + (size_t)r * d;
    const float* gr = g + (size_t)r * d;
    const float* nx = r + 1 < rows ? xr + d : xr;
    const float* ng = r + 1 < rows ? gr + d : gr;
    if constexpr (VW == 16) {
      __m512 m = _mm512_set1_ps(0.5f), rs = _mm512_set1_ps(1.1f);
      for (int i = 0; i < d; i += 16) {
        if (PF == 1 || PF == 2) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
        }
        if (PF == 3) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T0);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T0);
        }
        if (PF == 4) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
        }
        if (PF == 5) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i + 16), _MM_HINT_T1);
        }
        if (PF == 6) {
          _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i + 16), _MM_HINT_T1);
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
        }
        __m512 gv = _mm512_loadu_ps(gr + i),
               h = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), m), rs);
        _mm512_storeu_ps(pw + i, _mm512_fmadd_ps(gv, h, _mm512_loadu_ps(pw + i)));
        _mm512_storeu_ps(pb + i, _mm512_add_ps(gv, _mm512_loadu_ps(pb + i)));
      }
    } else {
      __m256 m = _mm256_set1_ps(0.5f), rs = _mm256_set1_ps(1.1f);
      for (int i = 0; i < d; i += 8) {
        if (PF == 1 || (PF == 2 && (i & 15) == 0)) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T1);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T1);
        }
        if (PF == 3 && (i & 15) == 0) {
          _mm_prefetch((const char*)(nx + i), _MM_HINT_T0);
          _mm_prefetch((const char*)(ng + i), _MM_HINT_T0);
        }
        __m256 gv = _mm256_loadu_ps(gr + i),
               h = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), m), rs);
        _mm256_storeu_ps(pw + i, _mm256_fmadd_ps(gv, h, _mm256_loadu_ps(pw + i)));
        _mm256_storeu_ps(pb + i, _mm256_add_ps(gv, _mm256_loadu_ps(pb + i)));
      }
    }
  }
  return now() - t0;
}
int main() {
  int rows = 4096, d = 4096;
  size_t n = (size_t)rows * d;
  float* x = al(n);
  float* g = al(n);
  float* pw = (float*)aligned_alloc(64, d * 4);
  float* pb = (float*)aligned_alloc(64, d * 4);
  memset(pw, 0, d * 4);
  memset(pb, 0, d * 4);
  double b[8];
  for (double& v : b) v = 1e9;
  double b7[2] = {1e9, 1e9};
  for (int k = 0; k < 12; k++) {
    b[0] = std::min(b[0], run<16, 0>(x, g, pw, pb, rows, d));
    b[1] = std::min(b[1], run<8, 0>(x, g, pw, pb, rows, d));
    b[2] = std::min(b[2], run<16, 2>(x, g, pw, pb, rows, d));
    b[3] = std::min(b[3], run<8, 2>(x, g, pw, pb, rows, d));
    b[4] = std::min(b[4], run<8, 1>(x, g, pw, pb, rows, d));
    b[5] = std::min(b[5], run<16, 3>(x, g, pw, pb, rows, d));
    b[6] = std::min(b[6], run<8, 3>(x, g, pw, pb, rows, d));
    b7[0] = std::min(b7[0], run<16, 4>(x, g, pw, pb, rows, d));
    b7[1] = std::min(b7[1], run<16, 5>(x, g, pw, pb, rows, d));
  }
  printf(
      "nopf 512 %.2f ms  256 %.2f ms | t1/line 512 %.2f  256 %.2f | t1/vec 256 %.2f | t0/line 512 "
      "%.2f 256 %.2f\n",
      b[0] * 1e3, b[1] * 1e3, b[2] * 1e3, b[3] * 1e3, b[4] * 1e3, b[5] * 1e3, b[6] * 1e3);
  printf("512 t1 twice same line %.2f | 512 t1 this + next line %.2f\n", b7[0] * 1e3, b7[1] * 1e3);
}
