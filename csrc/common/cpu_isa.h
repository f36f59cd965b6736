// Which CPU kernels run: detected once by CPUID, overridable (downwards only) for tests.
#pragma once

namespace dg {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The best ISA this CPU supports that was compiled in, capped by the environment variable
// DG_CPU_ISA=generic|avx2|avx512 and by set_active_isa().
Isa active_isa();
// Cap the ISA (tests use it to run the portable fallback on an AVX2 machine). Asking for more
// than the CPU supports is clamped to what it supports; returns the ISA now in use.
Isa set_active_isa(Isa wanted);
Isa detected_isa();
const char* isa_name(Isa isa);

}  // namespace dg
