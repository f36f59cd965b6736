// The GEMM's cache blocking (csrc/cpu/gemm.h), chosen at run time from the cache sizes in use
// (common/cpu_isa.h: detected by CPUID / sysfs, or DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES),
// as BLIS's analytical model and OpenBLAS's per-core tables do, instead of constants per ISA.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/cpu_isa.h"

namespace dg {

struct GemmBlocking {
  int64_t kc = 0;  // k per packed block
  int64_t nb = 0;  // columns of C per packed B block (a multiple of NR)
  int64_t mb = 0;  // rows of C per packed A block (a multiple of MR)
  // BLIS's loop order (cpu/gemm.h gemm_packed, the AVX2 build's packed-A products): an A block
  // of mc rows in L2, a B panel of nc columns in L3.
  int64_t mc = 0;  // a multiple of MR
  int64_t nc = 0;  // a multiple of NR
  int mr = 0, nr = 0;
  // With several threads: one A block packed cooperatively (each thread packs a share of its
  // micro-panels, then a barrier) instead of a private copy per thread. Chosen where the
  // threads share an L2 (SMT siblings: private copies would compete for it, and reading the
  // other thread's panels is an L2 hit); between separate cores the private copies measured
  // faster (no barriers, no cross-core reads).
  bool shared_a = false;
};

// Our micro-kernel keeps an MR x KC micro-panel of A in L1 across the sweep of the B block
// (BLIS's roles of A and B are swapped: cpu/gemm.h's header) and streams the KC x NR B
// micro-panels from L2:
//   KC: the A micro-panel in half of L1d (the other half for the streaming B micro-panels and
//       C's tile), a multiple of 8, capped at 384: BLIS's Skylake-X / Zen sgemm use 256-384,
//       and a longer k block measured no better (C's tile is already updated rarely).
//       48 KiB L1d (Sapphire Rapids), fp32 AVX-512 (MR 12): 384; fp64: 256.
//   NB: the packed B block (KC x NB) in 3/8 of L2, the rest holding the A micro-panels, C's rows
//       and the next block's prefetches; a multiple of NR. 2 MiB L2, fp32 KC 384: 512 columns;
//       Zen 3's 512 KiB: 128 (AVX2, NR 16).
//   MB: each thread's packed A block (MB x KC), swept once per B block from L3: a quarter of
//       L3, at most 4 MiB (fp32 KC 384: 2724 rows); a multiple of MR. (3 MiB gave 2040 rows,
//       so 2048 rows of C took two A blocks and every B block was packed twice: square 2048^3
//       at 1 thread and 4096x1024x1024 at 2 threads, 2048 rows a thread, paid ~1.7% for it.)
//       a_cap: the caller's cap on the A block's bytes (the AVX2 build's is 4 x L2: cpu/gemm.h
//       kGemmABlockL2Mult).
// BLIS's order instead keeps the KC x NR B micro-panel in L1 and streams the A micro-panels from
// L2 (its roles, not swapped; cpu/gemm.h kGemmBOuter), with the same KC (the bits of a product
// depend on KC only):
//   MC: the packed A block (MC x KC) in half of L2: Zen 3's 512 KiB, fp32 KC 384: 168 rows
//       (BLIS's Haswell sgemm: 168 x 256); Zen 4's 1 MiB: 336.
//   NC: the packed B panel (KC x NC) in the A block's budget above (L3).
inline constexpr int64_t kGemmABlockMaxBytes = int64_t(4) << 20;
inline GemmBlocking gemm_blocking_for(int mr, int nr, int elem_size, const CacheSizes& c,
                                      int64_t a_cap = kGemmABlockMaxBytes) {
  GemmBlocking b;
  b.mr = mr;
  b.nr = nr;
  const int64_t s = elem_size;
  b.kc = std::clamp<int64_t>(c.l1d / 2 / (mr * s) / 8 * 8, 8, 384);
  b.nb = std::max<int64_t>(nr, c.l2 * 3 / 8 / (b.kc * s) / nr * nr);
  const int64_t a_bytes = std::min<int64_t>(c.l3 / 4, a_cap);
  b.mb = std::max<int64_t>(mr, a_bytes / (b.kc * s) / mr * mr);
  b.mc = std::max<int64_t>(mr, c.l2 / 2 / (b.kc * s) / mr * mr);
  b.nc = std::max<int64_t>(nr, a_bytes / (b.kc * s) / nr * nr);
  b.shared_a = c.l2_share >= 2;
  return b;
}

// The GEMM's packing scratch (cpu/gemm.h ScratchBuffer) from this many bytes up is 2 MiB-aligned
// and asks for transparent huge pages; below it, 64-byte-aligned. DG_GEMM_HUGE_FROM (bytes, read
// once; 0 or negative: never) overrides the default; gemm_reference.cpp holds the value.
// set_gemm_huge_from is the A/B hook (_cpu._set_gemm_huge_from): each thread's scratch is
// reallocated at its next use when the value changed.
std::atomic<int64_t>& gemm_huge_from_value();
inline int64_t gemm_huge_from() { return gemm_huge_from_value().load(std::memory_order_relaxed); }
inline void set_gemm_huge_from(int64_t bytes) {
  gemm_huge_from_value().store(bytes, std::memory_order_relaxed);
}

// Several threads splitting the rows of C (cpu/gemm.h gemm_packed): 0 (default) gives each
// thread a fixed share of the rows (rounds 1-5); 1 hands out row chunks by atomic counters
// (gemm_rows_dynamic). Not the default: on this 2-core VM it was not faster at the median nor
// steadier at p90 under load, and 3-4% slower on 1024^3 at 2 threads (round 6, gemm6).
// DG_GEMM_DYNAMIC=1 (read once) turns it on; set_gemm_dynamic is the A/B hook
// (_cpu._set_gemm_dynamic). The bits are the same either way.
std::atomic<int>& gemm_dynamic_value();
inline bool gemm_dynamic() { return gemm_dynamic_value().load(std::memory_order_relaxed) != 0; }
inline void set_gemm_dynamic(bool on) {
  gemm_dynamic_value().store(on ? 1 : 0, std::memory_order_relaxed);
}

// Product i of a strided batch (cpu/ops.h GemmBatch): the GEMM's arguments g with a, b and c
// moved to that product's operands. Shared by gemm_batched (cpu/dispatch.cpp) and the binding's
// reference loop (bindings/cpu_gemm.cpp).
template <class Args, class Batch>
Args batch_product(const Args& g, const Batch& batch, int64_t i) {
  int64_t oa = 0, ob = 0, oc = 0;
  batch.offsets(i, &oa, &ob, &oc);
  Args f = g;
  f.a += oa;
  f.b += ob;
  f.c += oc;
  return f;
}

// Set by cpu/dispatch.cpp's gemm_batched around each product of a batch whose products have
// their own A (the calling thread's GEMM reads it, before its own threads start): on this Zen 3
// VM such operands arrive from memory, and the AVX2 gemm_packed then prefetches the next
// in-place A micro-panel (cpu/gemm.h kPrefetchNextAPanel); a lone product, or one called again
// and again on the same operands, finds them in L2 / L3 and skips that work (1-3% warm).
inline bool& gemm_operands_cold() {
  thread_local bool cold = false;
  return cold;
}

// gemm_operands_cold() = on for the guard's scope (exceptions included), then back.
struct ColdOperandsScope {
  explicit ColdOperandsScope(bool on) : prev_(gemm_operands_cold()) { gemm_operands_cold() = on; }
  ~ColdOperandsScope() { gemm_operands_cold() = prev_; }
  ColdOperandsScope(const ColdOperandsScope&) = delete;
  ColdOperandsScope& operator=(const ColdOperandsScope&) = delete;

 private:
  bool prev_;
};

// The blocking each ISA's gemm() uses now (its MR and NR, the cache sizes in use); the float32
// FMA rate of its vectors, measured (gemm.h).
#define DG_GEMM_BLOCKING_DECLS        \
  GemmBlocking gemm_blocking(float);  \
  GemmBlocking gemm_blocking(double); \
  double measure_fma_peak(double seconds, int threads);
namespace generic {
DG_GEMM_BLOCKING_DECLS
}
namespace avx2 {
DG_GEMM_BLOCKING_DECLS
}
#if !defined(DG_NO_AVX512)
namespace avx512 {
DG_GEMM_BLOCKING_DECLS
}
#endif
#undef DG_GEMM_BLOCKING_DECLS

}  // namespace dg
