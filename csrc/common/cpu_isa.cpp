// CPUID-based ISA detection and the process-wide cap used for dispatch.
#include "common/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace dg {
namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // AVX-512 kernels use F/DQ/VL/BW; AVX2 kernels use AVX2+FMA (and F16C for conversions).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return Isa::avx2;
#endif
  return Isa::generic;
}

Isa from_env(Isa best) {
  const char* s = std::getenv("DG_CPU_ISA");
  if (!s || !*s) return best;
  Isa want = best;
  if (!std::strcmp(s, "generic"))
    want = Isa::generic;
  else if (!std::strcmp(s, "avx2"))
    want = Isa::avx2;
  else if (!std::strcmp(s, "avx512"))
    want = Isa::avx512;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(from_env(detect()))};
  return isa;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

Isa set_active_isa(Isa wanted) {
  int best = static_cast<int>(detected_isa());
  int w = static_cast<int>(wanted);
  active().store(w < best ? w : best);
  return active_isa();
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}

}  // namespace dg
