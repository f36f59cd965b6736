// The memory patterns of the normalization kernels (issue 17, round 5) at 16M float32, each on its
// own, against the copy (read 1 + non-temporal write 1), interleaved in one process: what a
// pass's pattern reaches before any arithmetic of the kernel. Build and run per ISA, e.g.
//   g++ -std=c++17 -O3 -fopenmp -DDG_ISA_NS=avx512 -mavx512f -mavx512dq -mavx512vl -mavx512bw
//       -mavx2 -mfma -Icsrc bench/mca/norm_mem.cpp -o norm_mem && ./norm_mem [threads] [rounds]
//   g++ -std=c++17 -O3 -fopenmp -DDG_ISA_NS=avx2 -mavx2 -mfma -Icsrc bench/mca/norm_mem.cpp ...
// Rows (each thread a contiguous half, arrays 2 MiB-aligned with transparent huge pages, as a
// large NumPy array gets them, unless an offset is named):
//   copy       read a, stream c                       (2 arrays: the bench's baseline)
//   read1      sum a                                  (1 array)
//   read2      sum a, a * b                           (2 arrays: a backward's statistics pass)
//   read2+off  the same, b 4160 bytes further on     (DRAM bank / 4K-offset test)
//   r1w1       c = (a - m) k, streamed                (2 arrays: an eval-mode map)
//   r2w1       c = (a - m) k + b, streamed            (3 arrays: a backward's map)
//   r2w1+off   the same, c 1 KiB further on           (4K aliasing of the loads behind stores)
// fraction = t_copy * arrays / 2 / t, as bench/bench_norm.py counts bytes.
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

#include "cpu/simd.h"
using namespace dg::DG_ISA_NS;
using V = Vec<float>;
constexpr int W = V::width;
constexpr int64_t N = int64_t(16) << 20;
volatile float g_sink;

static float* alloc(int64_t off_bytes) {
  const size_t sz = N * 4 + (size_t(1) << 22);
  char* p = static_cast<char*>(std::aligned_alloc(size_t(1) << 21, sz));
  madvise(p, sz, MADV_HUGEPAGE);
  std::memset(p, 0, sz);
  float* f = reinterpret_cast<float*>(p + off_bytes);
  for (int64_t i = 0; i < N; ++i) f[i] = float((i * 7919) % 1000) * 0.001f + 0.5f;
  return f;
}

// f(begin, end) on nt threads, a contiguous share each (multiples of 1024 elements)
template <class F>
static void split(int nt, F&& f) {
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), tn = omp_get_num_threads();
    const int64_t per = (N / tn + 1023) / 1024 * 1024;
    const int64_t b = t * per, e = b + per < N ? b + per : N;
    if (b < e) f(b, e);
    stream_fence();
  }
}

static void copy(const float* a, float* c, int nt) {
  split(nt, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W) V::load(a + i).store_stream(c + i);
  });
}
static void read1(const float* a, int nt) {
  split(nt, [&](int64_t b, int64_t e) {
    V s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
    for (int64_t i = b; i < e; i += 4 * W) {
      s0 = s0 + V::load(a + i);
      s1 = s1 + V::load(a + i + W);
      s2 = s2 + V::load(a + i + 2 * W);
      s3 = s3 + V::load(a + i + 3 * W);
    }
    g_sink = ((s0 + s1) + (s2 + s3)).reduce_add();
  });
}
static void read2(const float* a, const float* b2, int nt) {
  split(nt, [&](int64_t b, int64_t e) {
    V s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
    for (int64_t i = b; i < e; i += 2 * W) {
      const V a0 = V::load(a + i), a1 = V::load(a + i + W);
      s0 = s0 + a0;
      s1 = fmadd(V::load(b2 + i), a0, s1);
      s2 = s2 + a1;
      s3 = fmadd(V::load(b2 + i + W), a1, s3);
    }
    g_sink = ((s0 + s1) + (s2 + s3)).reduce_add();
  });
}
static void r1w1(const float* a, float* c, int nt) {
  const V k = V::set1(0.5f), m = V::set1(0.25f);
  split(nt, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W) ((V::load(a + i) - m) * k).store_stream(c + i);
  });
}
static void r2w1(const float* a, const float* b2, float* c, int nt) {
  const V k = V::set1(0.5f), m = V::set1(0.25f);
  split(nt, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i += W)
      fmadd(V::load(a + i) - m, k, V::load(b2 + i)).store_stream(c + i);
  });
}

int main(int argc, char** argv) {
  const int nt = argc > 1 ? std::atoi(argv[1]) : 2;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
  float *a = alloc(0), *b = alloc(0), *bo = alloc(4160), *c = alloc(0), *co = alloc(1024);
  struct Row {
    const char* name;
    int arrays;
    std::function<void()> f;
  };
  std::vector<Row> rows = {
      {"copy", 2, [&] { copy(a, c, nt); }},         {"read1", 1, [&] { read1(a, nt); }},
      {"read2", 2, [&] { read2(a, b, nt); }},       {"read2+off", 2, [&] { read2(a, bo, nt); }},
      {"r1w1", 2, [&] { r1w1(a, c, nt); }},         {"r2w1", 3, [&] { r2w1(a, b, c, nt); }},
      {"r2w1+off", 3, [&] { r2w1(a, b, co, nt); }},
  };
  std::vector<std::vector<double>> t(rows.size());
  for (auto& r : rows) r.f();  // warm
  for (int rd = 0; rd < rounds; ++rd)
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      rows[i].f();
      t[i].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  for (auto& v : t) std::sort(v.begin(), v.end());
  const double tc = t[0][0];
  std::printf("%d thread(s), %d rounds, best (median) ms, GB/s of the best, fraction of copy\n", nt,
              rounds);
  for (size_t i = 0; i < rows.size(); ++i)
    std::printf("  %-10s %7.3f (%7.3f) ms  %6.1f GB/s  %.2f\n", rows[i].name, t[i][0] * 1e3,
                t[i][t[i].size() / 2] * 1e3, rows[i].arrays * N * 4.0 / t[i][0] / 1e9,
                tc * rows[i].arrays / 2 / t[i][0]);
}
