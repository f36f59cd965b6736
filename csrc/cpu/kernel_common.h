// What every per-ISA kernel template (csrc/cpu/<op>.h) includes first: the op API (ops.h), the
// vectors (simd.h, simd_math.h) and the parallel loop driver.
#pragma once

#ifndef DG_ISA_NS
#error "define DG_ISA_NS before including cpu/kernel_common.h"
#endif

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/cpu_isa.h"
#include "common/threads.h"
#include "cpu/ops.h"
#include "cpu/simd.h"
#include "cpu/simd_math.h"

namespace dg {
namespace DG_ISA_NS {

// Below this many elements a kernel runs on the calling thread: thread spin-up costs more.
inline constexpr int64_t kParallelGrain = int64_t(1) << 16;

// f(begin, end) over [0, n) in chunks of `grain`, on dg::num_threads() threads when n is large.
// Chunks are handed out dynamically: on a shared machine a descheduled thread must not leave
// the others waiting for its static share (f must not accumulate across chunks, so results do
// not depend on the schedule).
template <class F>
inline void parallel_chunks(int64_t n, int64_t grain, F&& f) {
  const int nt = num_threads();
  if (n <= grain || nt <= 1) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  const int64_t chunks = (n + grain - 1) / grain;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * grain;
    f(b, b + grain < n ? b + grain : n);
  }
}

// dst[i] += src[i] for i in [0, len): whole vectors, then a masked tail (the partial sums of
// threads added into the result, a scattered row added into its image).
template <class T>
inline void add_into(T* dst, const T* src, int64_t len) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = 0;
  for (; i + W <= len; i += W) (V::load(dst + i) + V::load(src + i)).store(dst + i);
  if (i < len) {
    const int r = static_cast<int>(len - i);
    (V::load(dst + i, r) + V::load(src + i, r)).store(dst + i, r);
  }
}

// A vector of n <= width lanes from p (the rest 0), and its first n lanes stored: whole vectors
// take the plain load / store (a masked one costs more, vmaskmovps stores are microcoded on AMD
// cores), the tail the masked one.
template <class T>
inline Vec<T> load_n(const T* p, int n) {
  return n == Vec<T>::width ? Vec<T>::load(p) : Vec<T>::load(p, n);
}
template <class T>
inline void store_n(Vec<T> v, T* p, int n) {
  if (n == Vec<T>::width)
    v.store(p);
  else
    v.store(p, n);
}

// L2 bytes one thread of the kernel may count on: the per-core L2 (common/cpu_isa.h's
// detection, or DG_L2_BYTES), shared by l2_share threads on SMT siblings.
inline int64_t l2_per_thread() {
  const CacheSizes cs = cache_sizes();
  const int64_t l2 = cs.l2 > 0 ? cs.l2 : int64_t(512) << 10;
  return cs.l2_share > 1 && num_threads() > 1 ? l2 / cs.l2_share : l2;
}

// n elements of U from a 64-byte boundary for one call site (Site: a type of its own, e.g. a
// struct declared there), kept per calling thread and reused across calls: grown on demand,
// never shrunk, freed when the thread exits. The contents are whatever the last call left (the
// caller initializes what it reads). For the buffers a kernel needs on every call that grow
// with its input (partial sums, transformed weights): a fresh std::vector costs a zero fill on
// the calling thread (and page faults) on every call, and lands wherever the heap puts it,
// which matters where its offset in a page does (layer_norm_backward_t places its partials in
// it). Take the pointer before a parallel region: inside it the thread_local would be each
// worker's own.
template <class U, class Site>
inline U* reused_scratch(size_t n) {
  constexpr size_t pad = 64 / sizeof(U);
  thread_local std::vector<U> buf;
  if (buf.size() < n + pad) buf.resize(n + pad);
  const auto a = reinterpret_cast<std::uintptr_t>(buf.data());
  return buf.data() + ((64 - a % 64) % 64) / sizeof(U);
}

// Which way a streaming pass (non-temporal stores to out, loads from ins, the same index in
// each) should go. A load whose address equals a store still in flight in its low 12 bits waits
// for it (4K aliasing: the check that no earlier store overlaps the load looks at the page
// offset first). Regular stores leave the store queue within a few cycles and the passes that use
// them measured the same at every placement; non-temporal stores stay in flight far longer. Going
// up, the load of in[i + k] meets the store of out[i] just made when out - in = k elements mod
// 4 KiB: with out 32-64 bytes past x (mod 4 KiB), sigmoid over 16M float32 at 1 thread took 42.8
// ms instead of 23.7, the copy 9.0 instead of 6.1, the BatchNorm backward 22.6 instead of 12.2
// (Zen 1, issue 18 round 26; bench/mca/ab_place.py: 128 bytes past still 1.25-1.3x slower on the
// BatchNorm passes, 192 1.1-1.2x, 256 and beyond within the noise). NumPy lays out large arrays
// at the page offset malloc gives them, so such a pair is one placement in a dozen or two. Going
// down turns it around: the stores in flight are then the ones above the loads, and it is a
// small offset the other way (out a little before in) that collides. So a pass goes down when an
// input lies up to kAliasReach bytes before out (mod 4 KiB) and none lies that close after it;
// the order of independent elements does not change any result's bits. With inputs close on both
// sides, the direction whose nearest collision is the farther (a LayerNorm row's x just before y
// and its weight just after). Null inputs are skipped.
inline constexpr uintptr_t kAliasReach = 512;
inline bool stream_downward(const void* out, std::initializer_list<const void*> ins) {
  uintptr_t up_gap = kAliasReach + 1, down_gap = kAliasReach + 1;  // nearest collision each way
  for (const void* in : ins) {
    if (in == nullptr) continue;
    const uintptr_t d = (reinterpret_cast<uintptr_t>(out) - reinterpret_cast<uintptr_t>(in)) & 4095;
    if (d != 0 && d < up_gap) up_gap = d;
    if (d != 0 && 4096 - d < down_gap) down_gap = 4096 - d;
  }
  return down_gap > up_gap;
}

}  // namespace DG_ISA_NS
}  // namespace dg
