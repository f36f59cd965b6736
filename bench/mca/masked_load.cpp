// The cost of a masked load on this core (round 27): vmaskmovps from memory against vmovups and
// a 64-bit vmovsd, each in a throughput loop (4 independent loads a step, L1-resident, addresses
// 40 floats apart as an edge tile's rows of B might be). Zen 1: 3.4-4.0 / 0.4-0.5 / 0.4 ns a load,
// so simd.h's Vec<T>::load(p, n) loads a vector that lies within one page whole and clears the
// lanes past n instead.
//   g++ -O3 -mavx2 -mfma bench/mca/masked_load.cpp -o build/masked_load && build/masked_load
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

int main() {
  alignas(64) static float buf[4096];
  for (int i = 0; i < 4096; ++i) buf[i] = float(i % 7);
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(2), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const char* names[] = {"vmaskmovps", "vmovups", "vmovsd"};
  for (int kind = 0; kind < 3; ++kind) {
    double best = 1e9;
    for (int r = 0; r < 50; ++r) {
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      const auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < 1000; ++it)
        for (int i = 0; i < 4096 - 64; i += 40)
#pragma GCC unroll 4
          for (int u = 0; u < 4; ++u) {
            const float* p = buf + i + 8 + 10 * u;
            __m256 x;
            if (kind == 0)
              x = _mm256_maskload_ps(p, mask);
            else if (kind == 1)
              x = _mm256_loadu_ps(p);
            else
              x = _mm256_castps128_ps256(
                  _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p))));
            acc[u] = _mm256_add_ps(acc[u], x);
          }
      const auto t1 = std::chrono::steady_clock::now();
      volatile float sink = _mm256_cvtss_f32(
          _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
      (void)sink;
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
    const double loads = 1000.0 * ((4096 - 64 + 39) / 40) * 4;
    std::printf("%-10s %.2f ns a load\n", names[kind], best * 1e9 / loads);
  }
}
