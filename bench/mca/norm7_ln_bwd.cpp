// LayerNorm backward at bench_norm.py's shape (4096 x 4096 float32) on its own, against a
// non-temporal copy of the same 64 MiB, interleaved in one process (issue 17, round 7, norm7):
// the harness that found why the backward ran at 0.13 of the copy on the Zen 3 (L1 set
// conflicts of the row group's same-offset streams, docs/BENCHMARKS.md "norm7"). Build (AVX2):
//   g++ -std=c++17 -O3 -fopenmp -DDG_ISA_NS=avx2 -mavx2 -mfma -Icsrc
//       -DNORM_H='"cpu/norm.h"' bench/mca/norm7_ln_bwd.cpp csrc/common/threads.cpp
//       csrc/common/cpu_isa.cpp -o build/ln7
//   build/ln7 THREADS ROUNDS [mode=full|dx|params] [xoff= dyoff= dxoff= BYTES] [rows= d=]
//       [alloc=numpy|huge]
// NORM_H: the norm.h to time (e.g. main's, from `git show main:csrc/cpu/norm.h`). alloc=numpy
// (default): malloc + madvise(MADV_HUGEPAGE) as NumPy allocates a large array (page + 16
// bytes); alloc=huge: 2 MiB-aligned. *off=: bytes added to that array's start (a multiple of
// 4). Prints best and median ms of ours and of the copy, the fraction t_copy * 3 / 2 / t, and a
// checksum of the outputs.
#include <omp.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include NORM_H

using namespace dg;
using V = DG_ISA_NS::Vec<float>;

static float* alloc(int64_t n, int64_t off, bool huge) {
  const size_t sz = size_t(n) * 4 + (size_t(1) << 22);
  char* p;
  if (huge) {
    p = static_cast<char*>(std::aligned_alloc(size_t(1) << 21, sz));
  } else {
    p = static_cast<char*>(std::malloc(sz));
  }
  madvise(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t(4095)), sz,
          MADV_HUGEPAGE);
  std::memset(p, 0, sz);
  return reinterpret_cast<float*>(p + off);
}

static void copy_nt(const float* a, float* c, int64_t n, int nt) {
  constexpr int W = V::width;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), k = omp_get_num_threads();
    int64_t b = n * t / k / 1024 * 1024, e = t + 1 == k ? n : n * (t + 1) / k / 1024 * 1024;
    int64_t i = b;
    while (i < e && reinterpret_cast<uintptr_t>(c + i) % sizeof(V) != 0) c[i] = a[i], ++i;
    for (; i + W <= e; i += W) V::load(a + i).store_stream(c + i);
    for (; i < e; ++i) c[i] = a[i];
    _mm_sfence();
  }
}

int main(int argc, char** argv) {
  const int nt = argc > 1 ? std::atoi(argv[1]) : 1;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
  std::string mode = "full";
  int64_t xoff = 0, dyoff = 0, dxoff = 0, rows = 4096, d = 4096;
  bool huge = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* k) { return std::atoll(a.c_str() + std::strlen(k)); };
    if (a.rfind("mode=", 0) == 0) mode = a.substr(5);
    if (a.rfind("xoff=", 0) == 0) xoff = val("xoff=");
    if (a.rfind("dyoff=", 0) == 0) dyoff = val("dyoff=");
    if (a.rfind("dxoff=", 0) == 0) dxoff = val("dxoff=");
    if (a.rfind("rows=", 0) == 0) rows = val("rows=");
    if (a.rfind("d=", 0) == 0) d = val("d=");
    if (a == "alloc=huge") huge = true;
  }
  set_num_threads(nt);
  const int64_t n = rows * d;
  const int64_t numpy_off = huge ? 0 : 0;  // malloc's mmap chunk already starts at page + 16
  float* x = alloc(n, xoff + numpy_off, huge);
  float* dy = alloc(n, dyoff + numpy_off, huge);
  float* dx = alloc(n, dxoff + numpy_off, huge);
  float* cp = alloc(n, 0, huge);
  std::vector<float> w(d), mean(rows), rstd(rows), dw(d), db(d);
  uint64_t s = 88172645463325252ull;
  auto rnd = [&]() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return float(int64_t(s % 2000001) - 1000000) * 1e-6f;
  };
  for (int64_t i = 0; i < n; ++i) x[i] = 2 * rnd() + 1, dy[i] = rnd();
  for (int64_t j = 0; j < d; ++j) w[j] = 1.25f + 0.75f * rnd();
  std::vector<float> y(d);
  for (int64_t r = 0; r < rows; ++r) {  // mean / rstd as the forward computes them
    double a = 0, b = 0;
    for (int64_t j = 0; j < d; ++j) a += x[r * d + j];
    const double m = a / d;
    for (int64_t j = 0; j < d; ++j) b += (x[r * d + j] - m) * (x[r * d + j] - m);
    mean[r] = float(m), rstd[r] = float(1.0 / std::sqrt(b / d + 1e-5));
  }
  float* dxp = mode == "params" ? nullptr : dx;
  float* dwp = mode == "dx" ? nullptr : dw.data();
  float* dbp = mode == "dx" ? nullptr : db.data();
  std::printf("x %% 4096 = %ld, dy %% 4096 = %ld, dx %% 4096 = %ld, w %% 4096 = %ld\n",
              long(reinterpret_cast<uintptr_t>(x) % 4096),
              long(reinterpret_cast<uintptr_t>(dy) % 4096),
              long(reinterpret_cast<uintptr_t>(dx) % 4096),
              long(reinterpret_cast<uintptr_t>(w.data()) % 4096));
  std::vector<double> tk, tc;
  // DG_CPU_TIME=1: process CPU time (all threads, spin waits included) instead of wall time:
  // steadier on a loaded machine
  const bool cpu = std::getenv("DG_CPU_TIME") && std::atoi(std::getenv("DG_CPU_TIME")) == 1;
  auto now = [cpu]() {
    timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
  };
  for (int r = 0; r < rounds; ++r) {
    const double t0 = now();
    DG_ISA_NS::layer_norm_backward(dy, x, w.data(), mean.data(), rstd.data(), dxp, dwp, dbp, rows,
                                   d);
    const double t1 = now();
    copy_nt(x, cp, n, nt);
    const double t2 = now();
    tk.push_back(t1 - t0);
    tc.push_back(t2 - t1);
  }
  double cs = 0;
  for (int64_t i = 0; i < n; i += 997) cs += dx[i];
  for (int64_t j = 0; j < d; ++j) cs += dw[j] * 1e-3 + db[j] * 1e-3;
  auto best = [](std::vector<double> v) { return *std::min_element(v.begin(), v.end()); };
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "%s nt=%d rows=%ld d=%ld offs x=%ld dy=%ld dx=%ld: ours %.2f (%.2f) ms, copy %.2f "
      "(%.2f) ms, fraction %.3f, checksum %.9g\n",
      mode.c_str(), nt, long(rows), long(d), long(xoff), long(dyoff), long(dxoff), best(tk),
      med(tk), best(tc), med(tc), best(tc) * 3 / 2 / best(tk), cs);
  return 0;
}
