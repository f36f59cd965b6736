// How the process's malloc treats the buffers of deltagrad's results (docs/RELIABILITY.md,
// "Host memory").
//
// Every op returns a new NumPy array, and a training step frees them all again; with glibc's
// defaults those buffers cost page faults on every step. glibc serves a request of at least its
// mmap threshold (128 KiB, raised as large blocks are freed, to at most 32 MiB) with a fresh
// mmap, whose pages fault in, zeroed by the kernel, on first touch and go back at free; smaller
// ones come from the heap, which glibc trims (returns to the kernel) whenever more than twice the
// threshold lies free at its top, which is what a step's end leaves. resnet_cifar(20)'s training
// step (batch 32, 1 thread) spent a third of its time in the kernel's page-fault path.
//
// So at import, deltagrad raises both: requests below kMmapThreshold come from the heap, and up
// to kTrimThreshold of free heap stays mapped for the next step (glibc keeps the free blocks in
// its bins and reuses them: the pages are already there). Not done when DG_MALLOC_TUNE=0, when
// the user set glibc's malloc parameters (MALLOC_*_ variables or GLIBC_TUNABLES glibc.malloc.*:
// theirs win), or where malloc is not glibc's.
#pragma once

#include <cstddef>
#include <string>

namespace dg {

inline constexpr size_t kMmapThreshold = size_t(256) << 20;
inline constexpr size_t kTrimThreshold = size_t(1) << 30;

struct HostMallocPolicy {
  bool tuned = false;  // the thresholds above are in force
  std::string why;     // when not: the reason (the variable that decided, or the platform)
};

// Applies the policy once (the first call; later calls return the same result).
const HostMallocPolicy& tune_host_malloc();

}  // namespace dg
