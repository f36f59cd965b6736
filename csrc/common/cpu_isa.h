// Which CPU kernels run: detected once by CPUID, overridable (downwards only) for tests; and
// the cache sizes the GEMM blocks for.
#pragma once

namespace dg {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

#if defined(DG_NO_AVX512)
// A build without the AVX-512 kernels (CMake DG_CPU_AVX512=OFF): the dispatch's avx512 cases
// name the AVX2 ones, and detected_isa() never says avx512.
namespace avx2 {}
namespace avx512 = avx2;
#endif

// The best ISA this CPU supports that was compiled in, capped by the environment variable
// DG_CPU_ISA=generic|avx2|avx512 and by set_active_isa().
Isa active_isa();
// Cap the ISA (tests use it to run the portable fallback on an AVX2 machine). Asking for more
// than the CPU supports is clamped to what it supports; returns the ISA now in use.
Isa set_active_isa(Isa wanted);
Isa detected_isa();
const char* isa_name(Isa isa);

// The data cache sizes the GEMM blocks for (csrc/cpu/gemm.h), per core for L1d and L2, the
// whole L3 (shared by several cores). Detected once: CPUID leaf 4 on Intel,
// leaf 0x8000001D on AMD (and Hygon), cross-checked against Linux's
// /sys/devices/system/cpu/cpu0/cache (used alone when CPUID gives nothing); when neither
// answers, the Zen 3-like defaults 32 KiB / 512 KiB / 8 MiB.
struct CacheSizes {
  long long l1d = 0, l2 = 0, l3 = 0;
  // Logical CPUs sharing one L2 (sysfs shared_cpu_list of cpu0's L2; 1 when unknown): 2 on SMT
  // siblings, e.g. a 2-vCPU cloud VM that is one core's two hyperthreads.
  long long l2_share = 1;
};

// What CPUID / sysfs report (0 where a level is missing) and where they came from: "cpuid",
// "sysfs" or "default", plus "; sysfs differs: ..." when both answered and disagree.
CacheSizes detected_cache_sizes();
const char* cache_source();

// The sizes in use: the detected ones, each replaced by its environment override
// DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES (read once; bytes, optionally with a K/KiB or
// M/MiB suffix; a value that is not a size between 1 KiB and 1 TiB is ignored, and
// cache_env_warning() says so), then by set_cache_sizes() (tests, benchmarks).
CacheSizes cache_sizes();
// Replace the sizes in use; a field <= 0 goes back to the detected (or environment) value.
CacheSizes set_cache_sizes(CacheSizes sizes);
// The sizes before set_cache_sizes: the detected ones with the environment overrides.
CacheSizes default_cache_sizes();
// Why an environment override was ignored ("" when none was).
const char* cache_env_warning();
// Parse a size as the environment overrides are ("524288", "512K", "2MiB"); -1 when invalid.
long long parse_cache_bytes(const char* s);

}  // namespace dg
