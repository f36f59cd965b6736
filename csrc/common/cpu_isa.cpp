// CPUID-based ISA detection and the process-wide cap used for dispatch; the cache sizes.
#include "common/cpu_isa.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace dg {
namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // AVX-512 kernels use F/DQ/VL/BW; AVX2 kernels use AVX2+FMA (and F16C for conversions).
#if !defined(DG_NO_AVX512)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("fma"))
    return Isa::avx512;
#endif
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

// ---------------------------------------------------------------------------------------------
// Cache sizes.
namespace {

#if defined(__x86_64__) || defined(__i386__)
// Walk a deterministic cache parameters leaf (4 on Intel, 0x8000001D on AMD): one subleaf per
// cache, EAX[4:0] its type (0: no more), EAX[7:5] its level; size = ways x partitions x line
// size x sets.
CacheSizes cpuid_caches(unsigned leaf) {
  CacheSizes c;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned a = 0, b = 0, cx = 0, d = 0;
    __cpuid_count(leaf, i, a, b, cx, d);
    const unsigned type = a & 0x1f, level = (a >> 5) & 0x7;
    if (type == 0) break;
    if (type != 1 && type != 3) continue;  // data or unified
    const long long size = (long long)((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) *
                           ((b & 0xfff) + 1) * ((long long)cx + 1);
    if (level == 1) c.l1d = size;
    if (level == 2) c.l2 = size;
    if (level == 3) c.l3 = size;
  }
  return c;
}

CacheSizes cpuid_cache_sizes() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return {};
  const unsigned max_leaf = a;
  char vendor[13];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  vendor[12] = 0;
  const bool amd = !std::strcmp(vendor, "AuthenticAMD") || !std::strcmp(vendor, "HygonGenuine");
  if (amd) {
    // 0x8000001D exists with the topology extensions (CPUID 0x80000001 ECX bit 22).
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x8000001D &&
        __get_cpuid(0x80000001, &a, &b, &c, &d) && (c >> 22) & 1)
      return cpuid_caches(0x8000001D);
    return {};
  }
  if (max_leaf >= 4) return cpuid_caches(4);
  return {};
}
#else
CacheSizes cpuid_cache_sizes() { return {}; }
#endif

long long read_sysfs_size(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return -1;
  char buf[64] = {0};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  if (!ok) return -1;
  for (char* p = buf; *p; ++p)
    if (*p == '\n') *p = 0;
  return parse_cache_bytes(buf);
}

std::string read_sysfs_word(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  char buf[64] = {0};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  if (!ok) return "";
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The number of CPUs in a sysfs CPU list ("0", "0-1", "0,2-3"); 1 when empty or unreadable.
long long count_cpus(const std::string& list) {
  long long n = 0;
  size_t i = 0;
  while (i < list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    const std::string part = list.substr(i, j - i);
    const size_t dash = part.find('-');
    if (dash == std::string::npos)
      n += part.empty() ? 0 : 1;
    else
      n += std::atoll(part.c_str() + dash + 1) - std::atoll(part.c_str()) + 1;
    i = j + 1;
  }
  return n >= 1 ? n : 1;
}

CacheSizes sysfs_cache_sizes() {
  CacheSizes c;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string type = read_sysfs_word(dir + "type");
    if (type.empty()) break;
    if (type != "Data" && type != "Unified") continue;
    const std::string level = read_sysfs_word(dir + "level");
    const long long size = read_sysfs_size(dir + "size");
    if (size <= 0) continue;
    if (level == "1") c.l1d = size;
    if (level == "2") {
      c.l2 = size;
      c.l2_share = count_cpus(read_sysfs_word(dir + "shared_cpu_list"));
    }
    if (level == "3") c.l3 = size;
  }
  return c;
}

struct Detected {
  CacheSizes sizes;
  std::string source;
};

std::string describe(const CacheSizes& c) {
  return "l1d " + std::to_string(c.l1d) + ", l2 " + std::to_string(c.l2) + ", l3 " +
         std::to_string(c.l3);
}

const Detected& detected_caches() {
  static const Detected det = [] {
    Detected d;
    const CacheSizes cp = cpuid_cache_sizes(), fs = sysfs_cache_sizes();
    if (cp.l1d > 0 && cp.l2 > 0) {
      d.sizes = cp;
      d.sizes.l2_share = fs.l2_share;
      d.source = "cpuid";
      if (fs.l1d > 0 && (fs.l1d != cp.l1d || fs.l2 != cp.l2 || fs.l3 != cp.l3))
        d.source += "; sysfs differs: " + describe(fs);
      else if (fs.l1d > 0)
        d.source += " (sysfs agrees)";
    } else if (fs.l1d > 0 && fs.l2 > 0) {
      d.sizes = fs;
      d.source = "sysfs";
    } else {
      d.sizes.l1d = 32 << 10;
      d.sizes.l2 = 512 << 10;
      d.sizes.l3 = 8 << 20;
      d.source = "default";
    }
    return d;
  }();
  return det;
}

struct EnvSizes {
  CacheSizes sizes;
  std::string warning;
};

const EnvSizes& env_cache_sizes() {
  static const EnvSizes env = [] {
    EnvSizes e;
    e.sizes = detected_caches().sizes;
    const struct {
      const char* name;
      long long* field;
    } vars[] = {
        {"DG_L1D_BYTES", &e.sizes.l1d}, {"DG_L2_BYTES", &e.sizes.l2}, {"DG_L3_BYTES", &e.sizes.l3}};
    for (const auto& v : vars) {
      const char* s = std::getenv(v.name);
      if (!s || !*s) continue;
      const long long x = parse_cache_bytes(s);
      if (x > 0) {
        *v.field = x;
      } else {
        if (!e.warning.empty()) e.warning += "; ";
        e.warning += std::string(v.name) + "='" + s +
                     "' is not a cache size (bytes between 1024 and 2^40, optionally with a "
                     "K/KiB or M/MiB suffix): using the detected " +
                     std::to_string(*v.field);
      }
    }
    return e;
  }();
  return env;
}

// The sizes in use, read by every GEMM call: relaxed atomics (a set_cache_sizes racing a GEMM
// call on another thread gives that call either value of each field: both are valid).
struct ActiveCaches {
  std::atomic<long long> l1d, l2, l3, l2_share;
  ActiveCaches() {
    const CacheSizes& c = env_cache_sizes().sizes;
    l1d.store(c.l1d);
    l2.store(c.l2);
    l3.store(c.l3);
    l2_share.store(c.l2_share);
  }
};

ActiveCaches& active_caches() {
  static ActiveCaches c;
  return c;
}

}  // namespace

long long parse_cache_bytes(const char* s) {
  if (!s) return -1;
  while (*s == ' ') ++s;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  std::string suffix(end);
  while (!suffix.empty() && suffix.back() == ' ') suffix.pop_back();
  unsigned long long mult = 1;
  if (suffix.empty() || suffix == "B")
    mult = 1;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB" || suffix == "KB")
    mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB" || suffix == "MB")
    mult = 1ull << 20;
  else
    return -1;
  constexpr unsigned long long kMax = 1ull << 40;
  if (v > kMax / mult) return -1;
  const unsigned long long bytes = v * mult;
  if (bytes < 1024 || bytes > kMax) return -1;
  return static_cast<long long>(bytes);
}

CacheSizes detected_cache_sizes() { return detected_caches().sizes; }
const char* cache_source() { return detected_caches().source.c_str(); }
const char* cache_env_warning() { return env_cache_sizes().warning.c_str(); }
CacheSizes default_cache_sizes() { return env_cache_sizes().sizes; }

CacheSizes cache_sizes() {
  const ActiveCaches& a = active_caches();
  CacheSizes c;
  c.l1d = a.l1d.load(std::memory_order_relaxed);
  c.l2 = a.l2.load(std::memory_order_relaxed);
  c.l3 = a.l3.load(std::memory_order_relaxed);
  c.l2_share = a.l2_share.load(std::memory_order_relaxed);
  return c;
}

CacheSizes set_cache_sizes(CacheSizes sizes) {
  const CacheSizes def = env_cache_sizes().sizes;
  ActiveCaches& a = active_caches();
  a.l1d.store(sizes.l1d > 0 ? sizes.l1d : def.l1d);
  a.l2.store(sizes.l2 > 0 ? sizes.l2 : def.l2);
  a.l3.store(sizes.l3 > 0 ? sizes.l3 : def.l3);
  a.l2_share.store(sizes.l2_share > 0 ? sizes.l2_share : def.l2_share);
  return cache_sizes();
}

}  // namespace dg
