// sgd_update on several parameters in one call (torch's foreach SGD), defined in
// cpu/dispatch.cpp next to the per-ISA dispatch it calls; bound as _cpu.sgd_update_multi.
#pragma once

#include <cstdint>

namespace dg {

// sgd_update on count parameters at once (p[t], g[t], buf[t] of n[t] elements; buf[t] null when
// momentum == 0): one parallel region for all of them, chunks shared out dynamically, the same
// arithmetic on every element as sgd_update (bit-identical results). The parameters must not
// share memory with each other.
void sgd_update_multi(float* const* p, const float* const* g, float* const* buf, const int64_t* n,
                      int64_t count, double lr, double momentum, double dampening,
                      double weight_decay, bool nesterov, bool first_step);
void sgd_update_multi(double* const* p, const double* const* g, double* const* buf,
                      const int64_t* n, int64_t count, double lr, double momentum, double dampening,
                      double weight_decay, bool nesterov, bool first_step);

}  // namespace dg
