// The float32 gelu kernel alone over 2048 L1-resident N(0, 9) floats, in TSC ticks per vector
// of 8 (gelu9, issue 18 round 9): the min over 30000 short passes, so that on a shared,
// loaded machine a pass that ran uninterrupted sets the figure (cycles.cpp's long passes
// cannot). Build one binary per header tree and run them alternately, e.g.
//   g++ -std=c++17 -O3 -DDG_ISA_NS=avx2 -mavx2 -mfma -mf16c -Icsrc bench/mca/gelu9_tb.cpp -o tb
//   ./tb [sd]
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>
#include <x86intrin.h>
#include "cpu/activation_math.h"
using namespace dg::DG_ISA_NS;
using V = Vec<float>;
template <int U>
__attribute__((noinline, flatten)) void run(const float* x, float* y, long n) {
  const V p = V::zero();
  for (long i = 0; i < n; i += U * V::width) {
    V v[U];
    for (int u = 0; u < U; ++u) v[u] = ActOp<dg::Act::gelu>::fwd(V::load(x + i + u * V::width), p);
    for (int u = 0; u < U; ++u) v[u].store(y + i + u * V::width);
  }
}
int main(int argc, char** argv) {
  const long n = 2048;
  float sd = argc > 1 ? atof(argv[1]) : 3.f;
  alignas(64) static float x[2048], y[2048];
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.f, sd);
  for (auto& v : x) v = d(g);
  double b1 = 1e30, b2 = 1e30;
  for (int r = 0; r < 30000; ++r) {
    unsigned long t0 = __rdtsc();
    run<1>(x, y, n);
    unsigned long t1 = __rdtsc();
    run<2>(x, y, n);
    unsigned long t2 = __rdtsc();
    b1 = std::min(b1, double(t1 - t0));
    b2 = std::min(b2, double(t2 - t1));
  }
  std::printf("ticks/vector u1 %.2f u2 %.2f  (y[5]=%g)\n", b1 / (n / 8), b2 / (n / 8), y[5]);
}
