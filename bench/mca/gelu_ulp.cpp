// The float32 gelu's error over every float32 input (issue 18, round 4), against a float64
// reference x/2 erfc(-x/sqrt2): max ulp of the correctly rounded result where that is normal,
// and the error in denormal steps where it is not. Build and run per ISA, e.g.
//   g++ -std=c++17 -O2 -DDG_ISA_NS=avx512 -mavx512f -mavx512dq -mavx512vl -mavx512bw -mavx2
//       -mfma -Icsrc bench/mca/gelu_ulp.cpp -o gelu_ulp && ./gelu_ulp [step]
//   g++ -std=c++17 -O2 -DDG_ISA_NS=avx2 -mavx2 -mfma -Icsrc bench/mca/gelu_ulp.cpp ...
// step (default 1: every bit pattern, a few minutes on one core) samples every step-th one.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "ulp_sweep.h"

using namespace dg::DG_ISA_NS;
using V = Vec<float>;

int main(int argc, char** argv) {
  const uint64_t step = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  double worst = 0, worst_sub = 0;
  float worst_x = 0;
  ulp_sweep::sweep(
      step, [](V x) { return vgelu(x); },
      [&](float xf, float y) {
        const double x = xf, w = x * 0.5 * std::erfc(-x * 0.70710678118654752440);
        if (std::fabs(w) >= 1.1754943508222875e-38) {
          const double e = ulp_sweep::ulp_error(y, w);
          if (e > worst) worst = e, worst_x = xf;
        } else {
          worst_sub = std::fmax(worst_sub, std::fabs(y - w) / 1.401298464324817e-45);
        }
      });
  std::printf("max %.3f ulp at x = %.9g; %.3f denormal steps\n", worst, worst_x, worst_sub);
}
