// Measured core cycles per vector of the forward activations' kernels alone (issue 18, round 5),
// over L1-resident data and over 1 MiB (the 262K bench case's L2-resident working set), to set
// against llvm-mca's figure (bench/mca/run.sh). The core clock is calibrated by a chain of
// dependent integer adds (1 cycle each) and by a chain of dependent 512-bit (or 256-bit) FMAs
// (4 cycles each), so a lower AVX-512 license frequency shows as a lower FMA-chain clock.
//   g++ -std=c++17 -O3 -DDG_ISA_NS=avx512 -mavx512f -mavx512dq -mavx512vl -mavx512bw -mavx2
//       -mfma -Icsrc bench/mca/cycles.cpp -o cycles && ./cycles
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/activation_math.h"
using namespace dg::DG_ISA_NS;
using V = Vec<float>;
using clk = std::chrono::steady_clock;

static double secs(clk::time_point a, clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// GHz from a chain of dependent adds (1 cycle each)
static double ghz_int() {
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    long v = 1;
    const long n = 200000000;
    auto t0 = clk::now();
    for (long i = 0; i < n; ++i) __asm volatile("add $1, %0" : "+r"(v));
    auto t1 = clk::now();
    best = std::min(best, secs(t0, t1) / n);
  }
  return 1e-9 / best;
}

// GHz from a chain of dependent vector FMAs (4 cycles each on Intel since Skylake)
static double ghz_fma() {
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    V a = V::set1(1.0f), b = V::set1(0.999999f), c = V::set1(1e-7f);
    const long n = 50000000;
    auto t0 = clk::now();
    for (long i = 0; i < n; ++i) {
      a = fmadd(a, b, c);
      __asm volatile("" : "+v"(a.v));
    }
    auto t1 = clk::now();
    alignas(64) float o[V::width];
    a.store(o);
    if (o[0] == 12345.f) std::puts("");
    best = std::min(best, secs(t0, t1) / (4.0 * n));
  }
  return 1e-9 / best;
}

template <dg::Act A, int U>
__attribute__((noinline, flatten)) void run(const float* x, float* y, long n) {
  const V p = V::zero();
  for (long i = 0; i < n; i += U * V::width) {
    V v[U];
    for (int u = 0; u < U; ++u) v[u] = ActOp<A>::fwd(V::load(x + i + u * V::width), p);
    for (int u = 0; u < U; ++u) v[u].store(y + i + u * V::width);
  }
}

template <dg::Act A, int U>
static double time_kernel(const float* x, float* y, long n, long total) {
  double best = 1e9;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = clk::now();
    for (long done = 0; done < total; done += n) run<A, U>(x, y, n);
    auto t1 = clk::now();
    best = std::min(best, secs(t0, t1) / (double(total) / V::width));
  }
  return best;
}

int main(int argc, char** argv) {
  const char* only = argc > 1 ? argv[1] : "";
  const double gi = ghz_int(), gf = ghz_fma();
  std::printf("clock: int chain %.2f GHz, vector FMA chain %.2f GHz\n", gi, gf);
  const long big = 262144, small = 2048, total = 1 << 24;
  std::vector<float> xb(big + 64), yb(big + 64);
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.f, 3.f);
  for (auto& v : xb) v = d(g);
  float* x = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(xb.data()) + 63) & ~63ul);
  float* y = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(yb.data()) + 63) & ~63ul);
#define ROW(name, A)                                                                           \
  if (!*only || !std::strcmp(only, name)) {                                                    \
    const double s1 = time_kernel<A, 1>(x, y, small, total);                                   \
    const double s2 = time_kernel<A, 2>(x, y, small, total);                                   \
    const double s4 = time_kernel<A, 4>(x, y, small, total);                                   \
    const double b2 = time_kernel<A, 2>(x, y, big, total);                                     \
    std::printf("%-8s cycles/vector at %.2f GHz: L1 u1 %.1f u2 %.1f u4 %.1f; 1 MiB u2 %.1f\n", \
                name, gf, s1 * gf * 1e9, s2 * gf * 1e9, s4 * gf * 1e9, b2 * gf * 1e9);         \
  }
  ROW("gelu", dg::Act::gelu)
  ROW("sigmoid", dg::Act::sigmoid)
  ROW("silu", dg::Act::silu)
  ROW("tanh", dg::Act::tanh)
  ROW("relu", dg::Act::relu)
}
