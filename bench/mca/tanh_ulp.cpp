// The float32 tanh's error over every float32 input (issue 18, round 5), against std::tanh in
// float64: max ulp of the correctly rounded result (tanh is normal wherever x is; for denormal
// x the result must be x). Build and run per ISA, e.g.
//   g++ -std=c++17 -O2 -DDG_ISA_NS=avx512 -mavx512f -mavx512dq -mavx512vl -mavx512bw -mavx2
//       -mfma -Icsrc bench/mca/tanh_ulp.cpp -o tanh_ulp && ./tanh_ulp [step]
//   g++ -std=c++17 -O2 -DDG_ISA_NS=avx2 -mavx2 -mfma -Icsrc bench/mca/tanh_ulp.cpp ...
// step (default 1: every bit pattern) samples every step-th one.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "ulp_sweep.h"

using namespace dg::DG_ISA_NS;
using V = Vec<float>;

int main(int argc, char** argv) {
  const uint64_t step = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  double worst = 0;
  float worst_x = 0;
  long bad_special = 0;
  ulp_sweep::sweep(
      step, [](V x) { return vtanh(x); },
      [&](float x, float y) {
        if (std::isnan(x)) return;  // the last vector runs past +-inf
        const double w = std::tanh(double(x));
        if (std::signbit(y) != std::signbit(x) || std::fabs(y) > 1.0f) {
          if (++bad_special <= 4) std::printf("x = %.9g: y = %.9g\n", x, y);
        }
        if (std::fabs(w) >= 1.1754943508222875e-38) {
          const double e = ulp_sweep::ulp_error(y, w);
          if (e > worst) worst = e, worst_x = x;
        } else if (y != x) {
          if (++bad_special <= 4) std::printf("x = %.9g: y = %.9g\n", x, y);
        }
      });
  const float sp[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f};
  for (float s : sp) {
    alignas(64) float in[V::width], out[V::width];
    for (int k = 0; k < V::width; ++k) in[k] = s;
    vtanh(V::load(in)).store(out);
    const float w = std::tanh(s);
    if (!(out[0] == w || (std::isnan(w) && std::isnan(out[0]))) ||
        std::signbit(out[0]) != std::signbit(w)) {
      ++bad_special;
      std::printf("tanh(%g) = %.9g, want %.9g\n", s, out[0], w);
    }
  }
  std::printf("max %.3f ulp at x = %.9g; %ld wrong signs, |y| > 1 or specials\n", worst, worst_x,
              bad_special);
  return bad_special != 0;
}
