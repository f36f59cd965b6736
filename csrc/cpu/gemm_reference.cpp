// The simple GEMM kept as the oracle for the fast one: one dot product per element of C.
#include <cstdlib>

#include "cpu/gemm_blocking.h"
#include "cpu/ops.h"

namespace dg {
namespace {

template <class T>
void gemm_reference_impl(const GemmArgs<T>& g) {
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      T acc = 0;
      for (int64_t p = 0; p < g.k; ++p)
        acc += g.a[i * g.rsa + p * g.csa] * g.b[p * g.rsb + j * g.csb];
      T& c = g.c[i * g.rsc + j * g.csc];
      c = g.beta == T(0) ? g.alpha * acc : g.alpha * acc + g.beta * c;
    }
  }
  if (g.epilogue.fn && g.csc == 1 && g.m > 0 && g.n > 0)
    g.epilogue.fn(g.c, g.rsc, g.m, g.n, 0, g.epilogue.ctx);
}

}  // namespace

void gemm_reference(const GemmArgs<float>& args) { gemm_reference_impl(args); }
void gemm_reference(const GemmArgs<double>& args) { gemm_reference_impl(args); }

std::atomic<int64_t>& gemm_huge_from_value() {
  static std::atomic<int64_t> value{[] {
    int64_t v = int64_t(1) << 20;
    if (const char* s = std::getenv("DG_GEMM_HUGE_FROM"); s && *s) {
      char* end = nullptr;
      const long long x = std::strtoll(s, &end, 10);
      if (end && *end == '\0') v = x;
    }
    return v;
  }()};
  return value;
}

std::atomic<int>& gemm_dynamic_value() {
  static std::atomic<int> value{[] {
    const char* s = std::getenv("DG_GEMM_DYNAMIC");
    return s && s[0] == '1' && s[1] == '\0' ? 1 : 0;
  }()};
  return value;
}

}  // namespace dg
