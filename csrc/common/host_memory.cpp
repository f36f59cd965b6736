// The malloc policy of csrc/common/host_memory.h.
#include "common/host_memory.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dg {

namespace {

HostMallocPolicy apply_policy() {
  HostMallocPolicy p;
  if (const char* v = std::getenv("DG_MALLOC_TUNE"); v && std::strcmp(v, "0") == 0) {
    p.why = "DG_MALLOC_TUNE=0";
    return p;
  }
#if defined(__GLIBC__)
  // The user's own settings of these parameters (read by glibc at start-up) stay in force.
  for (const char* var : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                          "MALLOC_MMAP_MAX_"}) {
    if (std::getenv(var) != nullptr) {
      p.why = var;
      return p;
    }
  }
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t != nullptr) {
    for (const char* name : {"glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold",
                             "glibc.malloc.top_pad", "glibc.malloc.mmap_max"}) {
      if (std::strstr(t, name) != nullptr) {
        p.why = std::string("GLIBC_TUNABLES ") + name;
        return p;
      }
    }
  }
  // mallopt returns 1 on success; both set, or neither counts as tuned (a sanitizer's
  // interposed mallopt returns 0 and changes nothing).
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold)) == 1;
  p.tuned = mmap_ok && trim_ok;
  if (!p.tuned) p.why = "mallopt refused the thresholds";
#else
  p.why = "not glibc";
#endif
  return p;
}

}  // namespace

const HostMallocPolicy& tune_host_malloc() {
  static const HostMallocPolicy policy = apply_policy();
  return policy;
}

}  // namespace dg
