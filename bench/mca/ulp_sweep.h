// The float32 sweep the exhaustive error checks share (gelu_ulp.cpp, tanh_ulp.cpp): every
// step-th float32 bit pattern of each sign, from +-0 up to (not including) +-inf, a vector at a
// time through the ISA's Vec<float>; and the error of a float32 result against a float64
// reference in ulp of the correctly rounded result.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/simd_math.h"

namespace ulp_sweep {

using V = dg::DG_ISA_NS::Vec<float>;

// vec_fn(V) -> V is the kernel; lane(x, y) sees each input and its result. The last vector of a
// sign runs past +-inf into NaN patterns: lane sees those too (skip them with std::isnan(x)).
template <class VecFn, class Lane>
void sweep(uint64_t step, VecFn vec_fn, Lane lane) {
  alignas(64) float xs[V::width], ys[V::width];
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint64_t b = 0; b < 0x7f800000u; b += step * V::width) {
      for (int k = 0; k < V::width; ++k) {
        const uint32_t u = static_cast<uint32_t>(b + k * step) | (sign << 31);
        std::memcpy(&xs[k], &u, 4);
      }
      vec_fn(V::load(xs)).store(ys);
      for (int k = 0; k < V::width; ++k) lane(xs[k], ys[k]);
    }
  }
}

// |y - w| in ulp of float(|w|) (w's magnitude normal: the caller checks >= FLT_MIN)
inline double ulp_error(float y, double w) {
  const float wf = static_cast<float>(std::fabs(w));
  return std::fabs(y - w) / (std::nextafter(wf, INFINITY) - double(wf));
}

}  // namespace ulp_sweep
