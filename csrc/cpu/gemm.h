// The packed, cache-blocked GEMM (BLIS-style), written once over Vec<T> and compiled per ISA by
// the files CMake generates (cmake/cpu_isa.cmake; each defines DG_ISA_NS first): the
// dg::<isa>::gemm() of cpu/ops.h.
//
// Orientation. C is row-major-ish; a micro-tile of C is MR rows x NR columns, NR = NV vectors.
// Per step p of the k loop the micro-kernel loads NV vectors of packed B (row p of the tile's
// B micro-panel) and broadcasts MR scalars of packed A, doing MR*NV FMAs into register
// accumulators. In BLIS's column-major terms our A is their "B" and our B is their "A".
//
// Loop nest (per OpenMP thread; m blocked by MB rows, k by KC):
//   for ib (MB rows of A)
//     for pc (KC of k)               -> pack A: MR-row micro-panels (each thread its own copy)
//       for jb in this thread's columns, NB at a time
//         pack B (KC x NB, NR-column micro-panels) into the thread's own buffer  (L2 resident)
//         for ir (MR rows)           A micro-panel MR x KC stays in L1 across the jr loop
//           for jr (NR columns)      B micro-panels stream from L2
//             micro-kernel
//           epilogue on the finished MR x NB block of C (last pc only)
// The AVX2 build runs the products whose A it packs in BLIS's own order instead (kGemmBOuter):
//   for jc (NC columns)              -> pack B: the KC x NC panel (L3)
//     for pc (KC of k)
//       for ic (MC rows)             -> pack A: the MC x KC block (L2)
//         for jr (NR columns)        B micro-panel KC x NR stays in L1 across the ir loop
//           for ir (MR rows)         A micro-panels stream from L2
//             micro-kernel
//         epilogue on the finished MC x NC block of C (last pc only)
// Each tile of C sees the same k blocks in the same order either way: the same bits.
// Threads split the rows of C (each packs its own A rows and the whole B block) or, where B is
// more than twice as wide as A is tall or A is read in place (AVX2), its columns in whole vectors
// (each packs the whole A block and its own B columns): no barriers inside a call, only the join
// at its end. (A shared A block, packed cooperatively, cost two barriers per k block and
// cross-core reads of the other half of A; it was slower, and it collapsed far worse when another
// process took one of the two cores.)
//
// Five paths (gemm_route at the end of this file picks one, gemm_kernel runs it):
//   gemm_dot     thin C (min(m, n) <= 16) with op(A) rows and op(B) columns contiguous along k
//                (x @ W.T with few outputs): dot products vectorized along k, no packing.
//   gemm_axpy    a C of 1 to 4 rows with op(B) rows contiguous (x @ W for one sample): each C
//                row a sum of B's rows scaled by A's elements, B read once in place.
//   gemm_direct  small products (m*n*k <= 2^20, k <= KC, op(B) rows contiguous): the same
//                micro-kernel reading A and B in place, no packing, no threads.
//   gemm_few     a C of 5 to 12 rows with op(B) rows contiguous, past gemm_direct: its tiles
//                over blocks of B in place, the next block prefetched, threads over columns.
//   gemm_packed  everything else, as above; when n is so narrow that most vector lanes would
//                idle it computes C^T = op(B)^T op(A)^T instead (same memory, swapped strides).
#pragma once

#ifndef DG_ISA_NS
#error "define DG_ISA_NS before including cpu/gemm.h"
#endif

#include <omp.h>
#ifdef DG_MM9_RUNTIME_KNOBS
#include <x86intrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "common/cpu_isa.h"
#include "common/threads.h"
#include "cpu/gemm_blocking.h"
#include "cpu/ops.h"
#include "cpu/simd.h"

// GCC 12 flags _mm512_undefined_pd() inside the AVX-512 shuffle intrinsics as "may be used
// uninitialized" once inlined into the transposes (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace dg {
namespace DG_ISA_NS {

// Micro-tile per ISA and type: MR x (NV * width) accumulators must fit the register file with
// room for NV B vectors and a broadcast: AVX-512 has 32 zmm (12 x 2 = 24 accumulators), AVX2 16
// ymm (6 x 2 = 12). The cache blocking (KC, NB, MB) is chosen per call from the cache sizes:
// cpu/gemm_blocking.h.
template <class T>
struct GemmTile;
#if defined(__AVX512F__)
template <class T>
struct GemmTile {
  static constexpr int MR = 12, NV = 2;
};
#elif defined(__AVX2__)
template <class T>
struct GemmTile {
  static constexpr int MR = 6, NV = 2;
};
#else
template <class T>
struct GemmTile {
  static constexpr int MR = 4, NV = 4;
};
#endif

// ---------------------------------------------------------------------------------------------
// In-register W x W transpose of r[0..W) (row i -> column i), used by the transposing packs.
// Always inlined: GCC kept the AVX2 float one out of line (a call per 8 steps of k, r through
// the stack, a vzeroupper each), and the 6-row A pack ran at 0.40 ns per float instead of 0.10;
// inlined, AVX2 matmul 1.02-1.06x on 256x512x784 to 2048^3 at 1 and 2 threads (round 23).
#if defined(__AVX512F__)
[[gnu::always_inline]] inline void transpose(Vec<float>* r) {
  __m512 t[16], s[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i].v, r[2 * i + 1].v);
  }
  for (int i = 0; i < 4; ++i) {  // s[4i+j], 128-bit lane L: rows 4i..4i+3 at column 4L+j
    s[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    s[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    s[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    s[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    __m512 u0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88);
    __m512 u1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xDD);
    __m512 u2 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88);
    __m512 u3 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xDD);
    r[j].v = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[8 + j].v = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    r[4 + j].v = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + j].v = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
}
[[gnu::always_inline]] inline void transpose(Vec<double>* r) {
  __m512d t[8];
  for (int i = 0; i < 4; ++i) {  // t[2i+j], lane L: rows 2i, 2i+1 at column 2L+j
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i].v, r[2 * i + 1].v);
  }
  for (int j = 0; j < 2; ++j) {
    __m512d u0 = _mm512_shuffle_f64x2(t[j], t[2 + j], 0x88);
    __m512d u1 = _mm512_shuffle_f64x2(t[j], t[2 + j], 0xDD);
    __m512d u2 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], 0x88);
    __m512d u3 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], 0xDD);
    r[j].v = _mm512_shuffle_f64x2(u0, u2, 0x88);
    r[4 + j].v = _mm512_shuffle_f64x2(u0, u2, 0xDD);
    r[2 + j].v = _mm512_shuffle_f64x2(u1, u3, 0x88);
    r[6 + j].v = _mm512_shuffle_f64x2(u1, u3, 0xDD);
  }
}
#elif defined(__AVX2__)
[[gnu::always_inline]] inline void transpose(Vec<float>* r) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i].v, r[2 * i + 1].v);
  }
  for (int i = 0; i < 2; ++i) {
    s[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    r[j].v = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
    r[4 + j].v = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
  }
}
[[gnu::always_inline]] inline void transpose(Vec<double>* r) {
  __m256d t0 = _mm256_unpacklo_pd(r[0].v, r[1].v), t1 = _mm256_unpackhi_pd(r[0].v, r[1].v);
  __m256d t2 = _mm256_unpacklo_pd(r[2].v, r[3].v), t3 = _mm256_unpackhi_pd(r[2].v, r[3].v);
  r[0].v = _mm256_permute2f128_pd(t0, t2, 0x20);
  r[1].v = _mm256_permute2f128_pd(t1, t3, 0x20);
  r[2].v = _mm256_permute2f128_pd(t0, t2, 0x31);
  r[3].v = _mm256_permute2f128_pd(t1, t3, 0x31);
}
#else
template <class T>
inline void transpose(Vec<T>*) {}  // 1 x 1
#endif

// r[j] = (src[0*ss + j], src[1*ss + j], ..., src[(W-1)*ss + j]) for j < W, rows i >= S read as
// zeros: W vectors of W rows loaded and transposed. The AVX2 build pairs the rows' 128-bit halves
// as it loads them (simd.h load_transposed_256) instead of transpose()'s lane-crossing shuffles.
#if defined(__AVX2__) && !defined(__AVX512F__)
template <class T>
[[gnu::always_inline]] inline void load_transposed(const T* src, int64_t ss, int S, Vec<T>* r) {
  static_assert(sizeof(Vec<T>) == 32);
  load_transposed_256(src, ss, S, reinterpret_cast<decltype(r->v)*>(r));
}
#else
template <class T>
[[gnu::always_inline]] inline void load_transposed(const T* src, int64_t ss, int S, Vec<T>* r) {
  for (int i = 0; i < Vec<T>::width; ++i)
    r[i] = i < S ? Vec<T>::load(src + i * ss) : Vec<T>::zero();
  transpose(r);
}
#endif

// ---------------------------------------------------------------------------------------------
// Packing. A packed micro-panel holds, for each p < kc, LD consecutive values (LD = MR for A,
// NR for B); lanes past the matrix edge are zero, so the micro-kernel always runs full tiles.

// Packing a micro-panel whose width LD is not a multiple of the vector width (AVX2's MR = 6
// rows of A): the last vector of each step p of k holds LD % W valid lanes. On AVX2 it is stored
// whole, in increasing order of p, so its extra lanes land on the start of step p + 1 and are
// overwritten by that step's own stores; only the panel's very last step uses a masked store.
// vmaskmovps stores are microcoded on AMD Zen (Zen 3: the 256-row A pack of 256^3 took 16% of
// the product's time with a masked store per step, gemm7); AVX-512's masked stores are cheap and
// its packs stay as they were.
#if defined(__AVX2__) && !defined(__AVX512F__)
inline constexpr bool kPackSpillStores = true;
#else
inline constexpr bool kPackSpillStores = false;
#endif

// dst[p*LD + s] = src[s*ss + p]: the streams s are contiguous along p (a transpose).
template <class T, int LD>
void pack_transposed(const T* src, int64_t ss, int S, int64_t kc, T* dst) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t p = 0;
  if constexpr (W > 1 && kPackSpillStores && LD % W != 0) {
    // All of a chunk's W steps transposed first (LD / W + 1 groups of W vectors), then stored
    // step by step, each step's groups in order: every spill lands on bytes stored later.
    constexpr int G = (LD + W - 1) / W;
    for (; p + W <= kc; p += W) {
      V r[G][W];
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) load_transposed(src + g * W * ss + p, ss, S - g * W, r[g]);
      T* d = dst + p * LD;
      const bool last = p + W == kc;  // the last step's spill would leave the panel
#pragma GCC unroll 16
      for (int i = 0; i < W; ++i) {
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
          if (g == G - 1 && last && i == W - 1)
            r[g][i].store(d + i * LD + g * W, LD - g * W);
          else
            r[g][i].store(d + i * LD + g * W);
        }
      }
    }
  } else if constexpr (W > 1) {
    for (; p + W <= kc; p += W) {
      for (int s0 = 0; s0 < LD; s0 += W) {
        V r[W];
        load_transposed(src + s0 * ss + p, ss, S - s0, r);
        const int lanes = std::min(W, LD - s0);
        T* d = dst + p * LD + s0;
        if (lanes == W) {
          for (int i = 0; i < W; ++i) r[i].store(d + i * LD);
        } else {
          for (int i = 0; i < W; ++i) r[i].store(d + i * LD, lanes);
        }
      }
    }
  }
  for (; p < kc; ++p) {
    T* d = dst + p * LD;
    for (int s = 0; s < S; ++s) d[s] = src[s * ss + p];
    for (int s = S; s < LD; ++s) d[s] = T(0);
  }
}

// dst[p*LD + s] = src[p*ps + s]: the S values of each p are contiguous (a plain copy). dist > 0:
// the row dist steps of k ahead is prefetched meanwhile (kPackBPrefetchRows). avail >= S: how many
// values of each row may be read from src on (0: S). A vector whose stored lanes are all valid is
// loaded whole where avail allows, though it reaches into the next panel: with LD % W != 0 (AVX2's
// MR = 6) the extra lanes only spill onto step p + 1, and a masked load per step is what made
// this pack slow (vmaskmovps; Zen 1, the MLP's dW A^T, 168 x 256: 4.4 ns a step against 2.5).
// more: the panel goes on past these kc steps (packed later), so the last step may spill too.
template <class T, int LD>
void pack_rows(const T* src, int64_t ps, int S, int64_t kc, T* dst, int64_t dist = 0,
               int64_t avail = 0, bool more = false) {
  using V = Vec<T>;
  constexpr int W = V::width;
  if (avail < S) avail = S;
  for (int64_t p = 0; p < kc; ++p) {
    const T* s = src + p * ps;
    if (dist > 0 && p + dist < kc) {
      const T* f = s + dist * ps;
      __builtin_prefetch(f, 0, 3);
      if ((reinterpret_cast<uintptr_t>(f) & 63) + LD * sizeof(T) > 64)  // a second line
        __builtin_prefetch(f + LD - 1, 0, 3);
    }
    T* d = dst + p * LD;
    for (int s0 = 0; s0 < LD; s0 += W) {
      const int lanes = std::min(W, LD - s0);
      const int n = std::max(0, std::min(lanes, S - s0));
      V v = n == W || (n == lanes && s0 + W <= avail) ? V::load(s + s0) : V::load(s + s0, n);
      if (lanes == W || (kPackSpillStores && (more || p + 1 < kc)))  // (spills onto step p + 1)
        v.store(d + s0);
      else
        v.store(d + s0, lanes);
    }
  }
}

// A whole B block of nb columns whose rows are contiguous (dst panel j at dst + j*kc, as
// pack_rows would lay each one out), taken PB rows of k at a time across all of the block's
// panels, the next PB rows prefetched meanwhile. Panel by panel, each step of k read one 64-byte
// line per row, rows a whole row of B apart (8 KiB at n = 2048): a stride no hardware prefetcher
// follows, so every line was a demand miss; here each row is read as one nb-wide run. Zen 3,
// 1 thread, whole gemm_packed: 1024^3, 2048^3, 4096x1024x1024 +2-4% (PB 4, 8 or 16, prefetched
// one or two chunks ahead, within 1% of each other; docs/BENCHMARKS.md, gemm8).
// avail >= nb: values readable along each row from src (pack_rows).
template <class T, int LD>
void pack_rows_block(const T* src, int64_t ps, int64_t nb, int64_t kc, T* dst, int64_t avail = 0) {
  constexpr int PB = 16;
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t p0 = 0; p0 < kc; p0 += PB) {
    const int64_t p1 = std::min(kc, p0 + PB), p2 = std::min(kc, p1 + PB);
    for (int64_t p = p1; p < p2; ++p) {
      const T* s = src + p * ps;
      for (int64_t j = 0; j < nb; j += kLine) __builtin_prefetch(s + j, 0, 3);
      __builtin_prefetch(s + nb - 1, 0, 3);
    }
    for (int64_t j = 0; j < nb; j += LD)
      pack_rows<T, LD>(src + p0 * ps + j, ps, static_cast<int>(std::min<int64_t>(LD, nb - j)),
                       p1 - p0, dst + j * kc + p0 * LD, 0, std::max(avail, nb) - j, p1 < kc);
  }
}

// The general case: dst[p*LD + s] = src[s*ss + p*ps].
template <class T, int LD>
void pack_strided(const T* src, int64_t ss, int64_t ps, int S, int64_t kc, T* dst) {
  for (int64_t p = 0; p < kc; ++p) {
    T* d = dst + p * LD;
    for (int s = 0; s < S; ++s) d[s] = src[s * ss + p * ps];
    for (int s = S; s < LD; ++s) d[s] = T(0);
  }
}

// One micro-panel: S <= LD streams starting at src; ss = stride between streams, ps = stride
// along k.
template <class T, int LD>
void pack_panel(const T* src, int64_t ss, int64_t ps, int S, int64_t kc, T* dst) {
  if (ps == 1)
    pack_transposed<T, LD>(src, ss, S, kc, dst);
  else if (ss == 1)
    pack_rows<T, LD>(src, ps, S, kc, dst);
  else
    pack_strided<T, LD>(src, ss, ps, S, kc, dst);
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel: C[0:mr, 0:nr] = alpha * Ap @ Bp + beta * C (beta == 0: C is not read).
// MRk x NVk is the tile actually computed: the full MR x NV on the hot path, smaller ones on the
// edges of C (the packed panels keep their full MR / NR layout, the edge kernels read a prefix),
// so a 256-row C with MR = 12 does not pay for 264 rows.
template <class T>
struct Tile {
  static constexpr int MR = GemmTile<T>::MR, NV = GemmTile<T>::NV;
  static constexpr int W = Vec<T>::width, NR = NV * W;
};

// mm10's AVX2-only blocking: the packed A block at most kGemmABlockL2Mult x L2 (Zen 3: 2 MiB,
// 1362 fp32 rows at KC 384) instead of 4 MiB (2730 rows). The A block is swept once per B block
// from L3, and on the Zen 3 VM only a couple of MiB of ours stay there (docs/BENCHMARKS.md, mm9):
// 1 thread, in-process A/B against the previous build, 2730 -> 1362 rows: square 2048^3 (one A
// block -> two of 1026 rows, every B block packed twice) +2-7% (quiet: 77.3 -> 80.8 GFLOP/s),
// 4096x1024x1024 +4-10% (77.4 -> 81.8); 2 threads neutral (docs/BENCHMARKS.md, mm10). With a
// 2 MiB L2 (the AVX-512 machines' and most AVX2 Intel's) the 4 MiB cap binds first, as before.
// Which rows a block holds does not change any product's bits.
#if defined(__AVX2__) && !defined(__AVX512F__)
#ifndef DG_MM10_A_L2_MULT
#define DG_MM10_A_L2_MULT 4
#endif
inline constexpr int64_t kGemmABlockL2Mult = DG_MM10_A_L2_MULT;
#else
inline constexpr int64_t kGemmABlockL2Mult = 0;  // no L2-relative cap
#endif

// The blocking for T now (cpu/gemm_blocking.h): from the cache sizes in use.
template <class T>
inline GemmBlocking blocking() {
  const CacheSizes c = cache_sizes();
  int64_t a_cap = kGemmABlockMaxBytes;
  if (kGemmABlockL2Mult > 0) a_cap = std::min<int64_t>(a_cap, kGemmABlockL2Mult * c.l2);
  return gemm_blocking_for(Tile<T>::MR, Tile<T>::NR, sizeof(T), c, a_cap);
}

// gemm8's AVX2-only paths in gemm_packed (the AVX-512 and generic builds keep theirs; each can
// be turned off for an A/B build of the harness, bench/gemm7_kernel.cpp): kGemmDirectA, the
// micro-kernel broadcasting from op(A) in place instead of a packed A block; kGemmPackBRows, a B
// block whose rows are far apart packed a few rows of k at a time across all its panels;
// kGemmPackARows (round 27), an op(A) whose rows are contiguous (a row-major A^T, as in every dW =
// dY.T @ X) packed the same way, each step's MR values loaded whole (pack_a_block).
#if defined(__AVX2__) && !defined(__AVX512F__)
#ifndef DG_GEMM8_DIRECT_A
#define DG_GEMM8_DIRECT_A 1
#endif
#ifndef DG_GEMM8_PACKB_ROWS
#define DG_GEMM8_PACKB_ROWS 1
#endif
#ifndef DG_PACK_A_ROWS
#define DG_PACK_A_ROWS 1
#endif
inline constexpr bool kGemmDirectA = DG_GEMM8_DIRECT_A != 0;
inline constexpr bool kGemmPackBRows = DG_GEMM8_PACKB_ROWS != 0;
inline constexpr bool kGemmPackARows = DG_PACK_A_ROWS != 0;
#else
inline constexpr bool kGemmDirectA = false;
inline constexpr bool kGemmPackBRows = false;
inline constexpr bool kGemmPackARows = false;
#endif

// round 18's AVX2-only loop order, kGemmBOuter: where gemm_packed packs A (n > kDirectAMaxCols,
// or op(A) not contiguous along k), BLIS's order, B panel outermost (gemm_packed's header). The
// macro-kernel alone on packed blocks, Zen 4, KC 384: 91-95% of the FMA peak against 89-92% in
// ours (docs/BENCHMARKS.md, rounds 17-18): the 16-wide B micro-panel (24 KiB) sits in L1 and the
// 6-row A micro-panels (9 KiB) stream from L2, 2.7x less L2 traffic per FMA than the other way
// round. The whole products gained less: 1024^3 to 4096x1024x1024 at 1 thread +0-3%, 2 threads
// and Zen 3's L2 neutral (round 18). On AVX-512 (12 x 32 tile) the macro-kernel measured no
// better. The FMA order of each tile of C, and so every product's bits, is the same in both.
#if defined(__AVX2__) && !defined(__AVX512F__)
#ifndef DG_GEMM_BOUTER
#define DG_GEMM_BOUTER 1
#endif
inline constexpr bool kGemmBOuter = DG_GEMM_BOUTER != 0;
#else
inline constexpr bool kGemmBOuter = false;
#endif

// mm9's AVX2-only path: kPackBPrefetchRows, a B micro-panel packed one line per row (rows 1-4
// KiB apart) with the row that many steps of k ahead prefetched meanwhile. Where B comes from
// memory (each product of a batch: its operands are not in L3 after the others' on this VM) no
// hardware prefetcher follows one line per row, a page holding only 1-4 of them: Zen 3, 8 x 256^3
// in turn, the B packs took 7-15% of the time cold against 1-5% warm, 2-5% with the prefetch;
// the MLP's dX (B = W, 1.6 MB, rows 3 KiB apart) at 2 threads 129-137 -> 150-155 GFLOP/s
// (docs/BENCHMARKS.md, mm9). With it, kPrefetchNextAPanel: where op(A) is read in place, the
// first B block of each k block reads A's rows cold, so the next micro-panel's rows are fetched
// a slice per tile meanwhile (8 x 256^3 cold, on top of the B prefetch: +2-4%; warm operands
// -1-3%, so only for a batch's products: gemm_blocking.h gemm_operands_cold). Prefetches
// only: the packed values and the FMA order are unchanged. The harness (bench/gemm7_kernel.cpp,
// DG_MM9_RUNTIME_KNOBS) switches both and splits out the B packs' time at run time.
#if defined(__AVX2__) && !defined(__AVX512F__)
#ifndef DG_MM9_PACKB_PREFETCH
#define DG_MM9_PACKB_PREFETCH 32
#endif
#else
#undef DG_MM9_PACKB_PREFETCH
#define DG_MM9_PACKB_PREFETCH 0
#endif
#ifdef DG_MM9_RUNTIME_KNOBS
inline int64_t kPackBPrefetchRows = DG_MM9_PACKB_PREFETCH;
inline bool kPrefetchNextAPanel = DG_MM9_PACKB_PREFETCH > 0;
// 1: the in-place A bound on each thread's columns where they split C's columns (mlp_dX at 2
// threads: the share alone +2-7% CPU time, both threads together no faster: mm9). 0: gemm8's,
// on the whole n, as the library.
inline int g_mm9_direct_a_per_thread = 0;
inline int g_mm9_force_pack_a = 0;
inline uint64_t g_mm9_tpack = 0;   // rdtsc cycles in the B packs
inline int g_mm10_split_cols = 0;  // mm10: 1 splits C's columns between threads, never its rows
#else
inline constexpr int64_t kPackBPrefetchRows = DG_MM9_PACKB_PREFETCH;
inline constexpr bool kPrefetchNextAPanel = DG_MM9_PACKB_PREFETCH > 0;
inline constexpr int g_mm10_split_cols = 0;
#endif

// Where a micro-kernel reads its operands. Packed (kDirect = false): A and B are the packed
// micro-panels (MR resp. NR values per step of k). Direct (kDirect = true, small products only,
// where packing would cost more than it saves): op(A)[r][p] = a[r*ars + p*aks] and row p of
// op(B) starts at b + p*bks with unit column stride; rows of A past mr are clamped to the last
// valid one and B is read with masked loads, so nothing outside the matrices is touched.
template <class T>
struct Operands {
  const T* a;
  int64_t ars, aks;
  const T* b;
  int64_t bks;
  bool prefetch_c = false;  // direct A with packed B (gemm_packed, kGemmDirectA): prefetch C's tile
};

template <class T, int MRk, int NVk, bool kDirect>
inline void micro_kernel(int64_t kc, const Operands<T>& src, T* c, int64_t rsc, int64_t csc, int mr,
                         int nr, T alpha, T beta) {
  using V = Vec<T>;
  constexpr int MR = Tile<T>::MR, W = Tile<T>::W, NR = Tile<T>::NR, NRk = NVk * W;
  V acc[MRk][NVk];
#pragma GCC unroll 16
  for (int r = 0; r < MRk; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVk; ++v) acc[r][v] = V::zero();

  const T* __restrict ap = src.a;
  const T* __restrict bp = src.b;
  if constexpr (!kDirect) {
    // Start fetching this tile of C now: it is read (beta != 0 or a later k block) and written
    // only after the k loop, and by then it would otherwise be a cold miss per row.
    if (csc == 1) {
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        if (r >= mr) break;
        __builtin_prefetch(c + r * rsc, 1, 3);
        __builtin_prefetch(c + r * rsc + NRk - 1, 1, 3);
      }
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      V bv[NVk];
#pragma GCC unroll 4
      for (int v = 0; v < NVk; ++v) bv[v] = V::load(bp + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        const V ar = V::set1(ap[r]);
#pragma GCC unroll 4
        for (int v = 0; v < NVk; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
      }
      ap += MR;
      bp += NR;
    }
  } else if (mr == MRk && nr == NRk) {
    // A full direct tile: no clamped rows, no masked lanes. The rows are addressed from one base
    // pointer per 4 rows plus the offsets 0, ars, 2 ars, 3 ars (x86 base + index * scale), 5
    // registers for 12 rows: an array of 12 offsets made GCC spill them and reload 4 per step
    // of k, and 64 products of 64^3 ran at 0.89x NumPy.
    if constexpr (kGemmDirectA) {
      if (src.prefetch_c && csc == 1) {
#pragma GCC unroll 16
        for (int r = 0; r < MRk; ++r) {
          __builtin_prefetch(c + r * rsc, 1, 3);
          __builtin_prefetch(c + r * rsc + NRk - 1, 1, 3);
        }
      }
    }
    const int64_t rs = src.ars, rs3 = 3 * src.ars;
    const T* __restrict a0 = ap;
    const T* __restrict a4 = MRk > 4 ? ap + 4 * rs : ap;  // (not formed past the tile)
    const T* __restrict a8 = MRk > 8 ? ap + 8 * rs : ap;
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; ++p) {
      V bv[NVk];
#pragma GCC unroll 4
      for (int v = 0; v < NVk; ++v) bv[v] = V::load(bp + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        const T* base = r < 4 ? a0 : r < 8 ? a4 : a8;
        const T* row = r % 4 == 0   ? base
                       : r % 4 == 1 ? base + rs
                       : r % 4 == 2 ? base + 2 * rs
                                    : base + rs3;
        const V ar = V::set1(*row);
#pragma GCC unroll 4
        for (int v = 0; v < NVk; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
      }
      a0 += src.aks;
      a4 += src.aks;
      a8 += src.aks;
      bp += src.bks;
    }
  } else {
    int64_t off[MRk];
    for (int r = 0; r < MRk; ++r) off[r] = std::min(r, mr - 1) * src.ars;
    int lanes[NVk];
    for (int v = 0; v < NVk; ++v) lanes[v] = std::max(0, std::min(W, nr - v * W));
    const bool whole = nr == NRk;  // only rows clamped: B's loads need no mask
    for (int64_t p = 0; p < kc; ++p) {
      V bv[NVk];
#pragma GCC unroll 4
      for (int v = 0; v < NVk; ++v)
        bv[v] = whole ? V::load(bp + v * W) : V::load(bp + v * W, lanes[v]);
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        const V ar = V::set1(ap[off[r]]);
#pragma GCC unroll 4
        for (int v = 0; v < NVk; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
      }
      ap += src.aks;
      bp += src.bks;
    }
  }

  // Every loop over acc is fully unrolled (rows past mr are skipped, not looped to): a runtime
  // index into acc would make GCC keep the accumulators in memory.
  const V va = V::set1(alpha), vb = V::set1(beta);
  if (csc == 1) {
    if (nr == NRk) {
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        if (r >= mr) break;
        T* cr = c + r * rsc;
#pragma GCC unroll 4
        for (int v = 0; v < NVk; ++v) {
          V x = va * acc[r][v];
          if (beta != T(0)) x = fmadd(vb, V::load(cr + v * W), x);
          x.store(cr + v * W);
        }
      }
    } else {
#pragma GCC unroll 16
      for (int r = 0; r < MRk; ++r) {
        if (r >= mr) break;
        T* cr = c + r * rsc;
#pragma GCC unroll 4
        for (int v = 0; v < NVk; ++v) {
          const int n = std::max(0, std::min(W, nr - v * W));
          V x = va * acc[r][v];
          if (beta != T(0)) x = fmadd(vb, V::load(cr + v * W, n), x);
          x.store(cr + v * W, n);
        }
      }
    }
  } else {
    alignas(64) T tmp[MRk * NRk];
#pragma GCC unroll 16
    for (int r = 0; r < MRk; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NVk; ++v) (va * acc[r][v]).store(tmp + r * NRk + v * W);
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nr; ++j) {
        T& x = c[r * rsc + j * csc];
        x = beta == T(0) ? tmp[r * NRk + j] : tmp[r * NRk + j] + beta * x;
      }
  }
}

template <class T, int MRk, bool kDirect>
inline void tile_cols(int64_t kc, const Operands<T>& src, T* c, int64_t rsc, int64_t csc, int mr,
                      int nr, T alpha, T beta) {
  constexpr int NV = Tile<T>::NV, W = Tile<T>::W;
  constexpr int NV2 = NV < 2 ? NV : 2, NV3 = NV < 3 ? NV : 3;
  switch ((nr + W - 1) / W) {
    case 1:
      micro_kernel<T, MRk, 1, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
      break;
    case 2:
      micro_kernel<T, MRk, NV2, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
      break;
    case 3:
      micro_kernel<T, MRk, NV3, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
      break;
    default:
      micro_kernel<T, MRk, NV, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
      break;
  }
}

// One tile of C, mr <= MR rows and nr <= NR columns: the full kernel, or the smallest edge
// kernel (rows in steps of MR/3, columns in whole vectors) that covers it.
template <class T, bool kDirect>
inline void run_tile(int64_t kc, const Operands<T>& src, T* c, int64_t rsc, int64_t csc, int mr,
                     int nr, T alpha, T beta) {
  constexpr int MR = Tile<T>::MR, NV = Tile<T>::NV, NR = Tile<T>::NR;
  if (mr == MR && nr == NR) {
    micro_kernel<T, MR, NV, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
    return;
  }
  constexpr int M1 = MR % 3 == 0 ? MR / 3 : MR, M2 = MR % 3 == 0 ? 2 * MR / 3 : MR;
  if (mr <= M1)
    tile_cols<T, M1, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
  else if (mr <= M2)
    tile_cols<T, M2, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
  else
    tile_cols<T, MR, kDirect>(kc, src, c, rsc, csc, mr, nr, alpha, beta);
}

// The rows of the in-place paths' (gemm_direct, gemm_few) next row tile, rem rows from the
// end: MR, except where that would leave a last tile of 1 or 2 rows, whose 2 * NV accumulators
// are fewer than the FMA latency times its ports (8 on Zen 3 and Intel cores): the last two
// tiles then share the rows (8 = 4 + 4, 7 = 4 + 3). Zen 3, bench/mca/ab_mm.py against 6 + 2
// and 6 + 1 in one process, 1 and 2 threads, four runs (round 35): 8 x 4096^2 1.07-1.15x and
// 7 x 1024^2 0.99-1.51x (1.07-1.21 in three runs of four) as fast; 8 x 1024^2 0.88-1.24x and
// 8 x 96^2 (gemm_direct) 0.73-1.38x, within this machine's spread. Evening out 9 to 13 rows
// (5 + 4, ...) lost (0.80-0.91x): a 5-row tile runs the edge kernel, 6 the full one.
// The same bits either way: each C element is its own chain. AVX2 builds (measured there).
template <class T>
inline int next_tile_rows(int64_t rem) {
  constexpr int MR = Tile<T>::MR;
#if defined(__AVX2__) && !defined(__AVX512F__)
  if (rem > MR && rem < MR + 3) return static_cast<int>((rem + 1) / 2);
#endif
  return static_cast<int>(std::min<int64_t>(MR, rem));
}

// Small products: no packing, no threads, one pass over k (callers ensure k <= KC, csb == 1).
template <class T>
void gemm_direct(const GemmArgs<T>& g) {
  constexpr int NR = Tile<T>::NR;
  for (int64_t i0 = 0, mr = 0; i0 < g.m; i0 += mr) {
    mr = next_tile_rows<T>(g.m - i0);
    for (int64_t j0 = 0; j0 < g.n; j0 += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, g.n - j0));
      const Operands<T> src{g.a + i0 * g.rsa, g.rsa, g.csa, g.b + j0, g.rsb};
      run_tile<T, true>(g.k, src, g.c + i0 * g.rsc + j0 * g.csc, g.rsc, g.csc, mr, nr, g.alpha,
                        g.beta);
    }
    if (g.epilogue.fn && g.csc == 1)
      g.epilogue.fn(g.c + i0 * g.rsc, g.rsc, mr, g.n, 0, g.epilogue.ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Scratch: one 64-byte-aligned buffer per calling thread, grown on demand and reused, freed when
// the thread exits. Concurrent callers (several Python threads) each use their own. From 1 MiB
// on (the packing buffers of the large products) it is 2 MiB-aligned, a whole number of 2 MiB
// pages, and asks for transparent huge pages (where THP is "madvise", as here, malloc'd memory
// gets none otherwise; NumPy already asks for them on its own large arrays): the packed B block
// is swept once per A micro-panel, 180 4-KiB pages (fp32 342 x 512) that the 64-entry L1 DTLB
// does not hold. square2048 at 1 thread, 4 alternating processes each: 110.9 -> 113.8 GFLOP/s
// (CPU time, loaded machine).
struct ScratchBuffer {
  static constexpr size_t kHugePage = size_t(2) << 20;
  static size_t round_up_bytes(size_t a, size_t b) { return (a + b - 1) / b * b; }
  void* ptr = nullptr;
  size_t cap = 0;
  int64_t from = 0;  // gemm_huge_from() when ptr was allocated
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr); }
  void* get(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    const int64_t huge_from = gemm_huge_from();
    if (bytes > cap || huge_from != from) {
      std::free(ptr);
      ptr = nullptr;
      cap = 0;
      from = huge_from;
      if (huge_from > 0 && bytes >= static_cast<size_t>(huge_from)) {
        bytes = round_up_bytes(bytes, kHugePage);
        ptr = std::aligned_alloc(kHugePage, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (ptr) madvise(ptr, bytes, MADV_HUGEPAGE);
#endif
      } else {
        ptr = std::aligned_alloc(64, bytes);
      }
      if (!ptr) throw std::bad_alloc();
      cap = bytes;
    }
    return ptr;
  }
};

inline ScratchBuffer& scratch() {
  thread_local ScratchBuffer buf;
  return buf;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// C = beta * C (beta == 0: zeros, C not read), then the epilogue: the product is empty or alpha
// is zero (BLAS skips the product then).
template <class T>
void scale_c(const GemmArgs<T>& g) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      T& x = g.c[i * g.rsc + j * g.csc];
      x = g.beta == T(0) ? T(0) : g.beta * x;
    }
  if (g.epilogue.fn && g.csc == 1) g.epilogue.fn(g.c, g.rsc, g.m, g.n, 0, g.epilogue.ctx);
}

// Products below this many multiply-adds run on the calling thread: starting the team and the
// barriers cost more than they save.
inline constexpr int64_t kParallelMinWork = int64_t(1) << 21;

// Micro-panels [q0, q1) of the A block starting at row ib: op(A)[ib + q MR, pc : pc + kc] (rows
// from i_end on zero), panel q at dst + q * MR * kc.
template <class T>
void pack_a_block(const GemmArgs<T>& g, int64_t ib, int64_t i_end, int64_t q0, int64_t q1,
                  int64_t pc, int64_t kc, T* dst) {
  constexpr int MR = Tile<T>::MR;
  if (kGemmPackARows && g.rsa == 1 && g.csa != 1 && q1 > q0) {  // op(A) = a row-major A^T
    const int64_t i0 = ib + q0 * MR;
    pack_rows_block<T, MR>(g.a + i0 + pc * g.csa, g.csa, std::min(i_end, ib + q1 * MR) - i0, kc,
                           dst + q0 * MR * kc, g.m - i0);
    return;
  }
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t i0 = ib + q * MR;
    pack_panel<T, MR>(g.a + i0 * g.rsa + pc * g.csa, g.rsa, g.csa,
                      static_cast<int>(std::min<int64_t>(MR, i_end - i0)), kc, dst + q * MR * kc);
  }
}

// op(B)[pc : pc + kc, jb : jb + nb] as NR-column micro-panels, panel j / NR at dst + j * kc.
template <class T>
void pack_b_block(const GemmArgs<T>& g, int64_t pc, int64_t kc, int64_t jb, int64_t nb, T* dst) {
  constexpr int NR = Tile<T>::NR;
  // B's rows a page or more apart (below that the stride prefetchers follow the panels; the MLP's
  // dW, rows 3 KiB apart, was 2% slower in rows).
  if (kGemmPackBRows && g.csb == 1 && g.rsb * int64_t(sizeof(T)) >= 4096) {
    pack_rows_block<T, NR>(g.b + pc * g.rsb + jb, g.rsb, nb, kc, dst);
  } else if (kPackBPrefetchRows > 0 && g.csb == 1 && g.rsb != 1) {
    for (int64_t j = 0; j < nb; j += NR)
      pack_rows<T, NR>(g.b + pc * g.rsb + jb + j, g.rsb,
                       static_cast<int>(std::min<int64_t>(NR, nb - j)), kc, dst + j * kc,
                       kPackBPrefetchRows);
  } else {
    for (int64_t j = 0; j < nb; j += NR)
      pack_panel<T, NR>(g.b + pc * g.rsb + (jb + j) * g.csb, g.csb, g.rsb,
                        static_cast<int>(std::min<int64_t>(NR, nb - j)), kc, dst + j * kc);
  }
}

// Several threads on the rows of C, without a fixed split: chunks of rows are handed out by
// atomic counters, so a thread the OS starts late takes fewer chunks instead of leaving the other
// waiting at the join with nothing to do (the 2-thread cells moved by 20-40% between runs on a
// shared 2-core VM). Thread t owns the chunks of the rows the fixed split gave it and takes them
// in order (its rows of A and C stay in its caches call after call), then takes the chunks
// another thread has not started. Each thread packs B into its own buffer for the whole call,
// each micro-panel the first time one of its chunks needs it: as much packing as the fixed split
// when no chunk moves, none for a thread that gets no chunk. (One B packed once for all threads
// was 20-25% slower on 256^3 and the MLP's dW at 2 threads, quiet: every call then read half of
// B from the other core's L2, where the packing had left it modified.) No barriers, only the
// join. Each tile of C runs the same k blocks in the same order whichever thread takes it: the
// bits do not depend on the thread count or on the schedule. Off by default (DG_GEMM_DYNAMIC=1:
// cpu/gemm_blocking.h says why).
template <class T>
void gemm_rows_dynamic(const GemmArgs<T>& g, const GemmArgs<T>& g0, bool swapped, bool epilogue,
                       int nt, int64_t kcb, int64_t NB, int64_t MB) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  const int64_t m = g.m, n = g.n, k = g.k;
  const int64_t kblocks = ceil_div(k, kcb);
  const int64_t npn = ceil_div(n, NR);  // B micro-panels per k block
  const int64_t nbb = round_up(ceil_div(n, ceil_div(n, NB)), NR);
  // About 4 chunks per thread (a late thread costs at most ~1/8 of the work), at least 2 MR rows
  // (m >= 2 MR nt here, so every thread gets one), at most an A block.
  const int64_t chunk = std::clamp<int64_t>(round_up(ceil_div(m, 4 * int64_t(nt)), MR), 2 * MR,
                                            std::max<int64_t>(2 * MR, round_up(MB, MR)));
  const int64_t nchunks = ceil_div(m, chunk);
  nt = static_cast<int>(std::min<int64_t>(nt, nchunks));
  const int64_t npanels_b = kblocks * npn;
  const size_t panel = static_cast<size_t>(NR * kcb);
  const size_t b_elems = panel * static_cast<size_t>(npanels_b);
  const size_t a_elems = static_cast<size_t>(round_up(chunk * kcb, 64 / sizeof(T)));
  T* const arena = static_cast<T*>(scratch().get((a_elems + b_elems) * nt * sizeof(T)));
  // Per thread: which of its B micro-panels are packed (only that thread reads or writes them).
  std::vector<unsigned char> packed(static_cast<size_t>(npanels_b * nt), 0);
  // Thread t owns the chunks [t nchunks / nt, (t + 1) nchunks / nt).
  std::unique_ptr<std::atomic<int64_t>[]> next(new std::atomic<int64_t>[static_cast<size_t>(nt)]);
  for (int t = 0; t < nt; ++t) next[t].store(nchunks * t / nt, std::memory_order_relaxed);
  auto take = [&](int tid) -> int64_t {
    for (int u = 0; u < nt; ++u) {
      const int v = (tid + u) % nt;
      const int64_t end = nchunks * (v + 1) / nt;
      if (next[v].load(std::memory_order_relaxed) >= end) continue;
      const int64_t c = next[v].fetch_add(1, std::memory_order_relaxed);
      if (c < end) return c;
    }
    return -1;
  };

  auto body = [&](int tid) {
    T* const apack = arena + (a_elems + b_elems) * tid;
    T* const bpack = apack + a_elems;
    unsigned char* const done = packed.data() + npanels_b * tid;
    for (int64_t c; (c = take(tid)) >= 0;) {
      const int64_t i_begin = c * chunk, i_end = std::min(m, i_begin + chunk);
      const int64_t npanels = ceil_div(i_end - i_begin, MR);
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const int64_t pc = kb * kcb, kc = std::min(kcb, k - pc);
        const bool last = pc + kc >= k;
        const T beta = pc == 0 ? g.beta : T(1);
        pack_a_block(g, i_begin, i_end, 0, npanels, pc, kc, apack);
        for (int64_t jb = 0; jb < n; jb += nbb) {
          const int64_t nb = std::min(nbb, n - jb), np = ceil_div(nb, NR);
          const int64_t s0 = kb * npn + jb / NR;  // this block's first panel
          T* const bblock = bpack + s0 * panel;
          for (int64_t jj = 0; jj < np; ++jj) {
            if (done[s0 + jj]) continue;
            const int64_t j = jb + jj * NR;
            pack_panel<T, NR>(g.b + pc * g.rsb + j * g.csb, g.csb, g.rsb,
                              static_cast<int>(std::min<int64_t>(NR, n - j)), kc,
                              bblock + jj * panel);
            done[s0 + jj] = 1;
          }
          for (int64_t q = 0; q < npanels; ++q) {
            const int64_t i0 = i_begin + q * MR;
            const int mr = static_cast<int>(std::min<int64_t>(MR, i_end - i0));
            const T* ap = apack + q * MR * kc;
            T* crow = g.c + i0 * g.rsc + jb * g.csc;
            for (int64_t jj = 0; jj < np; ++jj) {
              const Operands<T> src{ap, 1, MR, bblock + jj * panel, NR};
              run_tile<T, false>(kc, src, crow + jj * NR * g.csc, g.rsc, g.csc, mr,
                                 static_cast<int>(std::min<int64_t>(NR, nb - jj * NR)), g.alpha,
                                 beta);
            }
            if (last && epilogue) {
              if (!swapped)
                g0.epilogue.fn(crow, g0.rsc, mr, nb, jb, g0.epilogue.ctx);
              else
                g0.epilogue.fn(g0.c + jb * g0.rsc + i0, g0.rsc, nb, mr, i0, g0.epilogue.ctx);
            }
          }
        }
      }
    }
  };
  if (nt == 1) {
    body(0);
  } else {
    place_team(nt);
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num());
  }
}

// Where each thread's whole packed B would exceed this, the rows split in fixed shares (each
// thread packs one B block at a time): square 2048^3 would hold 2 x 17 MB of scratch.
inline constexpr int64_t kDynamicMaxPackedB = int64_t(8) << 20;

// Whether gemm_packed computes C^T = op(B)^T op(A)^T for an m x n C: where C is so narrow (n
// much smaller than the vector tile) that most lanes would idle. Also gemm_prepack_route's.
template <class T>
[[gnu::always_inline]] inline bool gemm_packed_swaps(int64_t m, int64_t n) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  auto eff = [](int64_t rows, int64_t cols) {
    return double(rows) / double(round_up(rows, MR)) * double(cols) / double(round_up(cols, NR));
  };
  return eff(n, m) > 1.5 * eff(m, n);
}

template <class T>
void gemm_packed(const GemmArgs<T>& g0, const GemmBlocking& blk) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR, W = Tile<T>::W;
  const int64_t KC = blk.kc, NB = blk.nb, MB = blk.mb;

  // A narrow C (n much smaller than the vector tile) wastes most lanes; compute C^T = B^T A^T
  // instead: the same memory with A and B swapped and C's strides swapped.
  GemmArgs<T> g = g0;
  const bool swapped = gemm_packed_swaps<T>(g0.m, g0.n);
  if (swapped) {
    g.m = g0.n;
    g.n = g0.m;
    g.a = g0.b;
    g.rsa = g0.csb;
    g.csa = g0.rsb;
    g.b = g0.a;
    g.rsb = g0.csa;
    g.csb = g0.rsa;
    g.rsc = g0.csc;
    g.csc = g0.rsc;
  }
  const int64_t m = g.m, n = g.n, k = g.k;
  const bool has_epilogue = g0.epilogue.fn != nullptr && g0.csc == 1;

  // Balanced blocks: k = 784 -> 3 x 262 rather than 384 + 384 + 16.
  const int64_t kblocks = ceil_div(k, KC), kcb = ceil_div(k, kblocks);

  int nt = std::max(1, g.threads > 0 ? g.threads : num_threads());
  if (m * n * k < kParallelMinWork) nt = 1;

  // Threads split the rows of C (each packs its own rows of A and the whole B block) or its
  // columns (each packs the whole A block and its own columns of B): no barriers inside a call
  // either way, only the join at its end. Rows, unless B is more than twice as wide as A is tall
  // (the B block each thread then packs in full would outweigh the A rows it saves): a thread's
  // A block is then half as big, its C rows contiguous, and no operand is packed twice where n <=
  // m. Measured on 2 cores, AVX-512, rows against columns (tight loops, best of 15): 256^3 +6%,
  // 1024^3 +5%, the MLP's dW 512x784x256 +4%, x @ W.T 256x512x784 +1%; its dX 256x784x512
  // (n = 3m) -1.5%, hence the columns there.
  // op(A)'s rows contiguous along k and C at most 512 columns: the micro-kernel broadcasts from A
  // in place (the direct kernel's addressing) instead of from a packed A block (AVX2 build only:
  // kGemmDirectA). The A pack is paid once per n columns, so it weighs most where n is small:
  // Zen 3, 1 thread, whole gemm_packed, 256^3 +4%; n = 784 even; n >= 1024, or rows 4 KiB apart
  // (all six rows of a tile in the same L1 sets), 1.5-4.5% slower (docs/BENCHMARKS.md, gemm8).
  // Such products split C's columns between the threads: each packs only its own columns of B
  // and nothing of A, where split rows pack all of B in each thread. Zen 4, 2 threads, against
  // the rows (round 18): x @ W.T 256x512x784 +4-7%, 256^3 +0-2%.
  constexpr int64_t kDirectAMaxCols = 512;
  const bool direct_a_ok = kGemmDirectA && g.csa == 1 && !(blk.shared_a && nt > 1) &&
                           (g.rsa * int64_t(sizeof(T))) % 4096 != 0;
  const bool a_in_place = direct_a_ok && n <= kDirectAMaxCols;
  const bool split_rows = nt > 1 && !blk.shared_a && m >= 2 * MR * nt && n <= 2 * m &&
                          !a_in_place && !g_mm10_split_cols;
  if (split_rows && gemm_dynamic() &&
      round_up(n, NR) * kblocks * kcb * int64_t(sizeof(T)) <= kDynamicMaxPackedB) {
    gemm_rows_dynamic(g, g0, swapped, has_epilogue, nt, kcb, NB, MB);
    return;
  }
  // Columns in whole vectors (W), so that n = 784 = 49 x 16 splits 400 + 384 rather than 416 +
  // 368 (a thread's last tile may then be one vector wide); rows in thirds of MR (the edge
  // kernels' step), so that 256 rows split 128 + 128 (10 tiles + an 8-row one each).
  constexpr int RU = MR % 3 == 0 ? MR / 3 : MR;
  const int64_t nunits = split_rows ? n : ceil_div(n, W);
  const int64_t runits = split_rows ? ceil_div(m, RU) : 1;
  if (!split_rows) nt = static_cast<int>(std::min<int64_t>(nt, ceil_div(n, NR)));
  const int64_t rows_max = split_rows ? std::min(m, ceil_div(runits, nt) * RU) : m;
  const int64_t cols_max = split_rows ? n : std::min(n, ceil_div(nunits, nt) * W);
  // m = 2048 -> 2 x 1032 rather than 2040 + 8 (a block of 8 rows would repack all of B for
  // almost no work).
  auto row_block = [&](int64_t rows) { return round_up(ceil_div(rows, ceil_div(rows, MB)), MR); };
  // (row_block is not monotonic: 1020 rows are one block of 1020, 1022 two of 516.)
  const int64_t mb_max = std::min(round_up(rows_max, MR), round_up(MB, MR));
  const int64_t nb_max = std::min(round_up(cols_max, NR), NB);

  // One scratch arena from the calling thread: per thread, its own A block and B block (see
  // docs/benchmarks/gemm.md for the shared-A variant the private copies replaced). Where the
  // threads share an L2 (blk.shared_a: SMT siblings), one A block instead, each thread packing
  // a contiguous share of its micro-panels between two barriers: private copies would fill the
  // shared L2 twice over, and the other thread's panels are L2 hits there.
  const bool shared_a = blk.shared_a && nt > 1;
  // A batch's products read their A cold (gemm_operands_cold, set on the calling thread).
  const bool prefetch_a = kPrefetchNextAPanel && gemm_operands_cold();
  // BLIS's loop order where A is packed (kGemmBOuter; body_b_outer below): per thread an A block
  // of at most MC rows and a B panel of at most NC columns.
  const bool b_outer = kGemmBOuter && !shared_a && !a_in_place;
  const int64_t a_rows = b_outer ? std::min(round_up(rows_max, MR), round_up(blk.mc, MR)) : mb_max;
  const int64_t b_cols = b_outer ? std::min(round_up(cols_max, NR), round_up(blk.nc, NR)) : nb_max;
  const size_t a_elems = static_cast<size_t>(round_up(a_rows * kcb, 64 / sizeof(T)));
  const size_t b_elems = static_cast<size_t>(round_up(b_cols * kcb, 64 / sizeof(T)));
  T* const arena = static_cast<T*>(
      scratch().get((shared_a ? a_elems + b_elems * nt : (a_elems + b_elems) * nt) * sizeof(T)));

  // Thread tid's rows [i_begin, i_end) and columns [j_begin, j_end) of C.
  auto share = [&](int tid, int nthreads, int64_t& i_begin, int64_t& i_end, int64_t& j_begin,
                   int64_t& j_end) {
    i_begin = 0, i_end = m, j_begin = 0, j_end = n;
    if (split_rows) {
      i_begin = std::min(m, runits * tid / nthreads * RU);
      i_end = std::min(m, runits * (tid + 1) / nthreads * RU);
    } else {
      j_begin = nunits * tid / nthreads * W;
      j_end = std::min(n, nunits * (tid + 1) / nthreads * W);
    }
  };
  // The epilogue on C's finished rows [i0, i0 + mr) x columns [jb, jb + nb) of this call.
  auto finish = [&](int64_t i0, int mr, int64_t jb, int64_t nb) {
    if (!swapped)
      g0.epilogue.fn(g.c + i0 * g.rsc + jb * g.csc, g0.rsc, mr, nb, jb, g0.epilogue.ctx);
    else  // our rows i0.. are C's columns, our columns jb.. are C's rows
      g0.epilogue.fn(g0.c + jb * g0.rsc + i0, g0.rsc, nb, mr, i0, g0.epilogue.ctx);
  };

  // BLIS's order: for each B panel (NC columns, KC rows of k; packed once, L3) every A block (MC
  // rows, packed, L2), and within it for each B micro-panel (KC x NR, L1) every A micro-panel.
  // A tile of C sees the same k blocks in the same order as in the loop nest below.
  auto body_b_outer = [&](int tid, int nthreads) {
    int64_t i_begin, i_end, j_begin, j_end;
    share(tid, nthreads, i_begin, i_end, j_begin, j_end);
    if (i_begin >= i_end || j_begin >= j_end) return;
    T* const apack = arena + (a_elems + b_elems) * tid;
    T* const bpack = apack + a_elems;
    // Balanced blocks: 2048 columns -> 2 x 1024 rather than 1360 + 688.
    const int64_t ncols = j_end - j_begin, nrows = i_end - i_begin;
    const int64_t ncb = round_up(ceil_div(ncols, ceil_div(ncols, blk.nc)), NR);
    const int64_t mcb = round_up(ceil_div(nrows, ceil_div(nrows, blk.mc)), MR);
    for (int64_t jc = j_begin; jc < j_end; jc += ncb) {
      const int64_t nc = std::min(ncb, j_end - jc);
      for (int64_t pc = 0; pc < k; pc += kcb) {
        const int64_t kc = std::min(kcb, k - pc);
        const bool last = pc + kc >= k;
        const T beta = pc == 0 ? g.beta : T(1);
        pack_b_block(g, pc, kc, jc, nc, bpack);
        for (int64_t ic = i_begin; ic < i_end; ic += mcb) {
          const int64_t npanels = ceil_div(std::min(mcb, i_end - ic), MR);
          pack_a_block(g, ic, i_end, 0, npanels, pc, kc, apack);
          for (int64_t j = 0; j < nc; j += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j));
            T* const ccol = g.c + ic * g.rsc + (jc + j) * g.csc;
            for (int64_t q = 0; q < npanels; ++q) {
              const Operands<T> src{apack + q * MR * kc, 1, MR, bpack + j * kc, NR};
              run_tile<T, false>(kc, src, ccol + q * MR * g.rsc, g.rsc, g.csc,
                                 static_cast<int>(std::min<int64_t>(MR, i_end - ic - q * MR)), nr,
                                 g.alpha, beta);
            }
          }
          if (last && has_epilogue)
            for (int64_t q = 0; q < npanels; ++q)
              finish(ic + q * MR, static_cast<int>(std::min<int64_t>(MR, i_end - ic - q * MR)), jc,
                     nc);
        }
      }
    }
  };

  auto body = [&](int tid, int nthreads) {
    int64_t i_begin, i_end, j_begin, j_end;
    share(tid, nthreads, i_begin, i_end, j_begin, j_end);
#ifdef DG_MM9_RUNTIME_KNOBS  // the harness's A/B: the bound on each thread's columns instead
    const bool direct_a = direct_a_ok && !g_mm9_force_pack_a &&
                          (g_mm9_direct_a_per_thread ? j_end - j_begin : n) <= kDirectAMaxCols;
#else
    const bool direct_a = a_in_place;
#endif
    T* const apack = shared_a ? arena : arena + (a_elems + b_elems) * tid;
    T* const bpack = shared_a ? arena + a_elems + b_elems * tid : apack + a_elems;

    // Balanced column blocks too: 512 columns -> 2 x 256 rather than 480 + 32 (a 32-wide block
    // reuses each A micro-panel for one tile only).
    const int64_t ncols = std::max<int64_t>(1, j_end - j_begin);
    const int64_t nbb = round_up(ceil_div(ncols, ceil_div(ncols, NB)), NR);
    const int64_t mbb = row_block(std::max<int64_t>(1, i_end - i_begin));

    for (int64_t ib = i_begin; ib < i_end; ib += mbb) {
      const int64_t mb = std::min(mbb, i_end - ib);
      const int64_t npanels = ceil_div(mb, MR);
      for (int64_t pc = 0; pc < k; pc += kcb) {
        const int64_t kc = std::min(kcb, k - pc);
        const bool first = pc == 0, last = pc + kc >= k;
        const T beta = first ? g.beta : T(1);

        // Every thread passes both barriers of every block (even one without columns).
        int64_t q0 = 0, q1 = npanels;
        if (shared_a) {
          if (ib > i_begin || pc > 0) {
#pragma omp barrier
          }  // no thread still reads the previous A block
          q0 = npanels * tid / nthreads;
          q1 = npanels * (tid + 1) / nthreads;
        } else if (j_begin >= j_end) {
          continue;
        }
        if (!direct_a) pack_a_block(g, ib, i_end, q0, q1, pc, kc, apack);
        if (shared_a) {
#pragma omp barrier
        }  // the whole A block is packed
        if (j_begin >= j_end) continue;

        for (int64_t jb = j_begin; jb < j_end; jb += nbb) {
          const int64_t nb = std::min(nbb, j_end - jb);
#ifdef DG_MM9_RUNTIME_KNOBS
          const uint64_t tp0 = __rdtsc();
#endif
          pack_b_block(g, pc, kc, jb, nb, bpack);
#ifdef DG_MM9_RUNTIME_KNOBS
          g_mm9_tpack += __rdtsc() - tp0;
#endif
          for (int64_t q = 0; q < npanels; ++q) {
            const int64_t i0 = ib + q * MR;
            const int mr = static_cast<int>(std::min<int64_t>(MR, i_end - i0));
            const T* ap = apack + q * MR * kc;
            T* crow = g.c + i0 * g.rsc + jb * g.csc;
            if (direct_a) {
              const T* ad = g.a + i0 * g.rsa + pc;
              // The first B block of this k block reads A's rows cold: the next micro-panel's
              // rows are fetched meanwhile, a slice per tile (kPrefetchNextAPanel).
              const int64_t next_rows =
                  prefetch_a && jb == j_begin ? std::min<int64_t>(MR, i_end - i0 - MR) : 0;
              constexpr int64_t kLine = 64 / int64_t(sizeof(T));
              const int64_t lpr = ceil_div(kc, kLine) + 1;  // lines per row (a row may straddle)
              const int64_t next_lines = std::max<int64_t>(0, next_rows) * lpr;
              const int64_t jtiles = ceil_div(nb, NR);
              for (int64_t j = 0; j < nb; j += NR) {
                if (next_lines > 0) {  // lines [l, l1) of the next panel's rows, row-major
                  const int64_t t = j / NR, l1 = next_lines * (t + 1) / jtiles;
                  int64_t l = next_lines * t / jtiles, row = l / lpr, col = l % lpr;
                  for (; l < l1; ++l) {
                    __builtin_prefetch(ad + (MR + row) * g.rsa + std::min(col * kLine, kc - 1), 0,
                                       3);
                    if (++col == lpr) {
                      col = 0;
                      ++row;
                    }
                  }
                }
                const Operands<T> src{ad, g.rsa, 1, bpack + j * kc, NR, true};
                run_tile<T, true>(kc, src, crow + j * g.csc, g.rsc, g.csc, mr,
                                  static_cast<int>(std::min<int64_t>(NR, nb - j)), g.alpha, beta);
              }
            } else {
              for (int64_t j = 0; j < nb; j += NR) {
                const Operands<T> src{ap, 1, MR, bpack + j * kc, NR};
                run_tile<T, false>(kc, src, crow + j * g.csc, g.rsc, g.csc, mr,
                                   static_cast<int>(std::min<int64_t>(NR, nb - j)), g.alpha, beta);
              }
            }
            if (last && has_epilogue) finish(i0, mr, jb, nb);
          }
        }
      }
    }
  };

  if (nt == 1) {
    b_outer ? body_b_outer(0, 1) : body(0, 1);
  } else {
    place_team(nt);
#pragma omp parallel num_threads(nt)
    b_outer ? body_b_outer(omp_get_thread_num(), omp_get_num_threads())
            : body(omp_get_thread_num(), omp_get_num_threads());
  }
}

// ---------------------------------------------------------------------------------------------
// Inner-product form for a thin C whose operands are both contiguous along k (op(A) rows with
// csa == 1, op(B) columns with rsb == 1: x @ W.T with few output features, or a single row).
// The packed kernels would spend more time transposing the big operand into panels than
// multiplying; here each C element is a dot product vectorized along k, RI rows x RJ columns of
// C at a time (RI + RJ vector loads feed RI * RJ FMAs), then reduced across lanes.
template <class T>
struct DotTile;
#if defined(__AVX512F__)
template <class T>
struct DotTile {
  static constexpr int RI = 4, RJ = 5;
};  // 20 acc + 9 loads
#elif defined(__AVX2__)
template <class T>
struct DotTile {
  static constexpr int RI = 3, RJ = 3;
};  // 9 acc + 6 loads
#else
template <class T>
struct DotTile {
  static constexpr int RI = 2, RJ = 2;
};
#endif

template <class T>
void dot_block(const GemmArgs<T>& g, int64_t i0, int64_t j0) {
  using V = Vec<T>;
  constexpr int RI = DotTile<T>::RI, RJ = DotTile<T>::RJ, W = V::width;
  const int ri = static_cast<int>(std::min<int64_t>(RI, g.m - i0));
  const int rj = static_cast<int>(std::min<int64_t>(RJ, g.n - j0));
  const T* ar[RI];
  const T* bc[RJ];
  for (int r = 0; r < RI; ++r) ar[r] = g.a + (i0 + std::min(r, ri - 1)) * g.rsa;  // clamped
  for (int j = 0; j < RJ; ++j) bc[j] = g.b + (j0 + std::min(j, rj - 1)) * g.csb;
  V acc[RI][RJ];
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < RJ; ++j) acc[r][j] = V::zero();
  int64_t p = 0;
  for (; p + W <= g.k; p += W) {
    V av[RI], bv[RJ];
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) av[r] = V::load(ar[r] + p);
#pragma GCC unroll 8
    for (int j = 0; j < RJ; ++j) bv[j] = V::load(bc[j] + p);
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < RJ; ++j) acc[r][j] = fmadd(av[r], bv[j], acc[r][j]);
  }
  if (p < g.k) {
    const int n = static_cast<int>(g.k - p);
    V av[RI], bv[RJ];
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r) av[r] = V::load(ar[r] + p, n);
#pragma GCC unroll 8
    for (int j = 0; j < RJ; ++j) bv[j] = V::load(bc[j] + p, n);
#pragma GCC unroll 8
    for (int r = 0; r < RI; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < RJ; ++j) acc[r][j] = fmadd(av[r], bv[j], acc[r][j]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < RI; ++r) {
    if (r >= ri) break;
#pragma GCC unroll 8
    for (int j = 0; j < RJ; ++j) {
      if (j >= rj) break;
      T& x = g.c[(i0 + r) * g.rsc + (j0 + j) * g.csc];
      const T v = g.alpha * acc[r][j].reduce_add();
      x = g.beta == T(0) ? v : v + g.beta * x;
    }
  }
  if (g.epilogue.fn && g.csc == 1)
    g.epilogue.fn(g.c + i0 * g.rsc + j0, g.rsc, ri, rj, j0, g.epilogue.ctx);
}

template <class T>
void gemm_dot(const GemmArgs<T>& g) {
  constexpr int RI = DotTile<T>::RI, RJ = DotTile<T>::RJ;
  const int64_t bi = ceil_div(g.m, RI), bj = ceil_div(g.n, RJ), blocks = bi * bj;
  int nt = std::max(1, g.threads > 0 ? g.threads : num_threads());
  // No packing: threads pay off sooner than in gemm_packed, from 2^20 multiply-adds. (A 2^21
  // bound for float32 AVX-512 kept the MLP's output layer, 256x10x512, on one thread to dodge
  // the 1-5 ms wake of a parked worker after an idle spell; with a warm pool the A/B against
  // the pre-issue build showed it 1.37x slower than on two threads, so the bound stays here.)
  if (g.m * g.n * g.k < kParallelMinWork / 2) nt = 1;
  nt = static_cast<int>(std::min<int64_t>(nt, blocks));
  auto run = [&](int64_t q) { dot_block(g, (q / bj) * RI, (q % bj) * RJ); };
  if (nt == 1) {
    for (int64_t q = 0; q < blocks; ++q) run(q);
  } else {
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t q = 0; q < blocks; ++q) run(q);
  }
}

// ---------------------------------------------------------------------------------------------
// f(j0, nc, part) over chunks of C's columns on the product's threads, for each of `parts`
// parts of the work (the row form's halves of k; 1 elsewhere): chunks of at most max_cols
// columns, at least one task (part, chunk) per thread where there are `most` chunks or more, all
// of one width (a multiple of step) but the last; each thread a contiguous range of the tasks,
// part by part (with 2 parts on 2 threads, a part each). The row form and gemm_few split their
// work this way: each task's C elements are computed by it alone, whatever the count.
template <class T, class F>
void for_column_chunks(const GemmArgs<T>& g, int64_t max_cols, int64_t most, int64_t step, F&& f,
                       int64_t parts = 1) {
  int nt = std::max(1, g.threads > 0 ? g.threads : num_threads());
  if (g.m * g.n * g.k < kParallelMinWork / 2) nt = 1;
  const int64_t want =
      std::min<int64_t>(std::max<int64_t>(ceil_div(g.n, max_cols), ceil_div(nt, parts)), most);
  const int64_t width = ceil_div(ceil_div(g.n, want), step) * step;
  const int64_t chunks = ceil_div(g.n, width), tasks = parts * chunks;
  nt = static_cast<int>(std::min<int64_t>(nt, tasks));
  auto run = [&](int t) {
    for (int64_t q = tasks * t / nt; q < tasks * (t + 1) / nt; ++q) {
      const int64_t j0 = (q % chunks) * width;
      f(j0, std::min(width, g.n - j0), q / chunks);
    }
  };
  if (nt == 1) {
    run(0);
  } else {
    place_team(nt);
#pragma omp parallel num_threads(nt)
    run(omp_get_thread_num());
  }
}

// Row form for a C of a few rows whose op(B) rows are contiguous (a single sample's x @ W, or
// the backward's dY @ W with a batch of 1): each row of C is a sum of rows of B scaled by that
// row of A, C[i, :] = alpha sum_p A[i, p] B[p, :] (+ beta C), the k loop over R rows of B at a
// time. B is read once, as R sequential streams, and never packed; a chunk of columns of the
// C rows is summed in an L1 buffer (loaded and stored once per R rows of B), then written to C.
// The packed path padded such a product to MR rows and wrote B into panels first: a (1 x 4096)
// @ (4096 x 4096) float32 product took 4.3x NumPy's time on a Zen 1, the whole of B written and
// read a second time for one row. The buffer's rows are a line more than 2 KiB apart: summed in
// C itself, the rows of a C with 4096 columns share their addresses mod 4 KiB, so each row's
// loads waited on the stores to the row above (4K aliasing: m = 4 ran at a quarter of m = 1's
// rate per row). Threads split the column chunks: each C element sums its k terms in order, the
// same bits on any number of threads.
template <class T, int MA>
struct AxpyShape {
  // R rows of B per step: its MA * R broadcast scalars of A and MA accumulators stay in
  // registers. (m = 1 on a Zen 1, 1 thread: R = 4 up to 1.2x faster than 8 from DRAM.)
  static constexpr int R = MA <= 2 ? 4 : 2;
  // Columns of a chunk (whole vectors) and the buffer's row stride: MA rows in 16 KiB, half a
  // 32 KiB L1 (8 KiB: 1.03-1.27x slower; 32 KiB mixed, on a Zen 1).
  static constexpr int64_t NC =
      (int64_t(16384) / (MA * int64_t(sizeof(T)))) / Vec<T>::width * Vec<T>::width;
  static constexpr int64_t LD = NC + 64 / int64_t(sizeof(T));
  // From 3 rows (R = 2) the next step's rows of B are prefetched on the way: each row's part of
  // a chunk is then a short stream (4 x 4096 float32: 1.6x faster on a Zen 1); with 1 or 2 rows
  // the prefetches cost more than they gave (m = 1 in L2: 1.9x slower).
  static constexpr bool kPrefetch = MA >= 3;
};

// buf[i][0:nc) (i < MA) += sum over p in [p0, p0 + RR) of alpha A[i, p] B[p, j0:j0 + nc).
template <class T, int MA, int RR>
inline void axpy_rows(const GemmArgs<T>& g, int64_t p0, int64_t j0, int64_t nc, T* buf) {
  using V = Vec<T>;
  constexpr int W = V::width;
  constexpr int64_t LD = AxpyShape<T, MA>::LD;
  V av[MA][RR];
  const T* br[RR];
  const T* pf[RR];  // the rows of the next step (the last row past the end)
#pragma GCC unroll 8
  for (int r = 0; r < RR; ++r) {
    br[r] = g.b + (p0 + r) * g.rsb + j0;
    pf[r] = g.b + std::min(p0 + RR + r, g.k - 1) * g.rsb + j0;
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) av[i][r] = V::set1(g.alpha * g.a[i * g.rsa + (p0 + r) * g.csa]);
  }
  int64_t j = 0;
  for (; j + W <= nc; j += W) {
    V acc[MA];
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) acc[i] = V::load(buf + i * LD + j);
#pragma GCC unroll 8
    for (int r = 0; r < RR; ++r) {
      if (AxpyShape<T, MA>::kPrefetch) __builtin_prefetch(pf[r] + j, 0, 3);
      const V bv = V::load(br[r] + j);
#pragma GCC unroll 4
      for (int i = 0; i < MA; ++i) acc[i] = fmadd(av[i][r], bv, acc[i]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) acc[i].store(buf + i * LD + j);
  }
  if (j < nc) {  // the buffer has whole vectors: only B's loads are masked
    const int rem = static_cast<int>(nc - j);
    V acc[MA];
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) acc[i] = V::load(buf + i * LD + j);
#pragma GCC unroll 8
    for (int r = 0; r < RR; ++r) {
      const V bv = V::load(br[r] + j, rem);
#pragma GCC unroll 4
      for (int i = 0; i < MA; ++i) acc[i] = fmadd(av[i][r], bv, acc[i]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) acc[i].store(buf + i * LD + j);
  }
}

// Columns [j0, j0 + nc) of the MA rows of C (nc <= NC), over k's rows [p0, p1) of B. The sum
// goes to C (with beta and the epilogue) or, where `part` is given, to part[i * n + j] (the
// second half of a k split, added to C by gemm_axpy_rows).
template <class T, int MA>
void axpy_chunk(const GemmArgs<T>& g, int64_t j0, int64_t nc, int64_t p0, int64_t p1,
                T* part = nullptr) {
  using S = AxpyShape<T, MA>;
  alignas(64) T buf[MA * S::LD];
  const int64_t used = ceil_div(nc, int64_t(Vec<T>::width)) * Vec<T>::width;
  for (int i = 0; i < MA; ++i) std::fill(buf + i * S::LD, buf + i * S::LD + used, T(0));
  int64_t p = p0;
  for (; p + S::R <= p1; p += S::R) axpy_rows<T, MA, S::R>(g, p, j0, nc, buf);
  for (; p < p1; ++p) axpy_rows<T, MA, 1>(g, p, j0, nc, buf);
  for (int i = 0; i < MA; ++i) {
    const T* s = buf + i * S::LD;
    if (part) {
      std::copy(s, s + nc, part + i * g.n + j0);
      continue;
    }
    T* c = g.c + i * g.rsc + j0 * g.csc;
    if (g.beta == T(0))  // C not read: NaN there does not propagate, as BLAS
      for (int64_t j = 0; j < nc; ++j) c[j * g.csc] = s[j];
    else
      for (int64_t j = 0; j < nc; ++j) c[j * g.csc] = s[j] + g.beta * c[j * g.csc];
  }
  if (!part && g.epilogue.fn && g.csc == 1)
    g.epilogue.fn(g.c + j0, g.rsc, MA, nc, j0, g.epilogue.ctx);
}

// From this many rows of B on, the row form sums k in two halves, C = (alpha A B[:h] + beta C) +
// alpha A B[h:], whatever the thread count (the same bits on any), and two threads take a half
// each instead of half of each row: each then reads its half of B as one sequential run, where
// the column split read runs of half a row (8 KiB of a 1 x 4096 @ 4096 x 4096 float32 product)
// a row apart. Zen 3, 2 threads, 1 x 4096 @ 4096 x 4096 float32 (B from DRAM) against NumPy in
// one process: 0.87-1.00x before, 1.03-1.20x after; 1 thread unchanged (0.96-1.02x; there the
// halves run one after the other). docs/BENCHMARKS.md, round 33.
inline constexpr int64_t kAxpySplitK = 2048;

template <class T, int MA>
void gemm_axpy_rows(const GemmArgs<T>& g) {
  // a chunk is at least a line of B (its rows are read whole lines at a time), in whole vectors
  constexpr int64_t W = Vec<T>::width, kMinCols = std::max<int64_t>(W, 64 / int64_t(sizeof(T)));
  const int64_t most = std::max<int64_t>(1, g.n / kMinCols);
  if (g.k < kAxpySplitK) {
    for_column_chunks(g, AxpyShape<T, MA>::NC, most, W, [&](int64_t j0, int64_t nc, int64_t) {
      axpy_chunk<T, MA>(g, j0, nc, 0, g.k);
    });
    return;
  }
  const int64_t h = g.k / 2;
  std::vector<T> part(static_cast<size_t>(MA * g.n));
  GemmArgs<T> first = g;  // C's first half: with beta, the epilogue after the second
  first.epilogue.fn = nullptr;
  for_column_chunks(
      g, AxpyShape<T, MA>::NC, most, W,
      [&](int64_t j0, int64_t nc, int64_t half) {
        if (half == 0)
          axpy_chunk<T, MA>(first, j0, nc, 0, h);
        else
          axpy_chunk<T, MA>(g, j0, nc, h, g.k, part.data());
      },
      2);
  for (int i = 0; i < MA; ++i) {
    T* c = g.c + i * g.rsc;
    const T* s = part.data() + i * g.n;
    for (int64_t j = 0; j < g.n; ++j) c[j * g.csc] += s[j];
  }
  if (g.epilogue.fn && g.csc == 1) g.epilogue.fn(g.c, g.rsc, MA, g.n, 0, g.epilogue.ctx);
}

template <class T>
void gemm_axpy(const GemmArgs<T>& g) {
  switch (g.m) {
    case 1:
      return gemm_axpy_rows<T, 1>(g);
    case 2:
      return gemm_axpy_rows<T, 2>(g);
    case 3:
      return gemm_axpy_rows<T, 3>(g);
    default:
      return gemm_axpy_rows<T, 4>(g);
  }
}

// A C of a few rows past the row form (5 to kFewMaxRows) with row-major op(B), too large for
// gemm_direct's single pass: gemm_direct's in-place tiles over blocks of KB rows of B and chunks
// of columns, B never packed. The packed path writes all of B into panels and reads it back for
// these few rows: 8 x 784 x 512 float32 took 1.35x NumPy's time on a Zen 1 (1 thread), 8 x 1024^2
// 1.3x. Per chunk and block, each column tile of B (KB lines a row of B apart) is multiplied by
// every row tile of A in turn, from L1 after the first; meanwhile a share of the next block's
// lines is prefetched, row by row, so the next block is in cache when its turn comes (a chunk's
// first block is prefetched whole up front). Threads split the column chunks; every C element
// sums its k terms in the same blocks and order on any thread count, the same bits.
//
// KB and NC (2 KiB of each row of B): Zen 1, 1 thread, in one process against NumPy, KB 32-256
// x NC 1-4 KiB: 64 and 2 KiB at or near the best of each case (5 x 4096^2, 8 x 4096^2, 8 x
// 1024^2, 8 / 12 x 784 x 512, 16 x 512^2); the packed path's KC (384) instead: 5 x 4096^2 11.1 ->
// 15.4-23.5 ms. A k within KC is one block: every C element is then the chain of FMAs of the
// direct and packed paths (the same bits whichever path, or slice of columns, dispatch.cpp's
// gemm_dw, a product takes).
//
// Round 27, AVX2 builds: chunks of 16 KiB instead (a thread's share of a 4096-wide B is then one
// run of 8 or 16 KiB per row). The same Zen 1, B from DRAM (THP, caches flushed before each call),
// in one process against the packed path, 1 / 2 threads: 8 x 4096^2 13.0 -> 11.5 ms / 7.7 -> 6.7
// (packed 17.7 / 10.5), 12 x 4096^2 16.6 -> 15.7 / 8.6 -> 8.2 (packed 19.6 / 11.1), 5 x 4096^2
// 10.6 -> 9.1 / 5.5 -> 5.4; B in the L3 (8 x 784 x 512, 12 x 784 x 512, 8 x 1024^2, warm and
// cold) within 5% either way. A plain read of such a B in column chunks: 2 KiB runs 6.9-8.5
// GB/s, 16 KiB 12.5-15.6 (1 thread). The AVX-512 build keeps 2 KiB (not measured there).
#ifndef DG_FEW_KB
#define DG_FEW_KB 64
#endif
#ifndef DG_FEW_NC_BYTES
#if defined(__AVX2__) && !defined(__AVX512F__)
#define DG_FEW_NC_BYTES 16384
#else
#define DG_FEW_NC_BYTES 2048
#endif
#endif
//
// Round 34, AVX2 builds, a C of one row tile (m <= MR) with a B past the L3: blocks of KB1 = 16
// rows of B instead of 64 (a block of 16 KiB chunks is then 256 KiB, in the L2 together with the
// next block's prefetches; at 64 it was 1 MiB, twice Zen 3's L2, and came back from the L3).
// Zen 3, 1 / 2 threads, in one process against the previous build (bench/mca/ab_mm.py):
// 5 x 4096^2 1.34-1.50x / 1.31-1.65x, 6 x 4096^2 1.53-1.57x / 1.19-1.47x faster (1.2-1.4x /
// 1.5-2.7x NumPy). B in the L3 it was 0.73-0.87x as fast (6 x 1024^2, 5 x 2048^2), so there, and
// from two row tiles on (8, 12 x 4096^2: 0.74-1.0x), KB stays 64. Packing each block of B in
// rows first (sequential reads, then panels) did not pay: 8 x 4096^2 0.74-0.89x NumPy (0.63x
// before), but B in the caches 0.74-0.83x the old speed (docs/BENCHMARKS.md, round 34).
#ifndef DG_FEW_KB1
#if defined(__AVX2__) && !defined(__AVX512F__)
#define DG_FEW_KB1 16
#else
#define DG_FEW_KB1 DG_FEW_KB
#endif
#endif
template <class T>
struct FewShape {
  static constexpr int64_t KB = DG_FEW_KB;
  static constexpr int64_t KB1 = DG_FEW_KB1;  // a C of one row tile
  static constexpr int64_t NC = DG_FEW_NC_BYTES / int64_t(sizeof(T));
};

// Prefetches the lines of a block of B row by row, lpr lines a row from column j0 (sequential
// runs, as the memory serves best), a given number at a time.
template <class T>
struct FewPrefetch {
  const T* row = nullptr;                        // the current row's first column
  int64_t rsb = 0, lpr = 0, line = 0, left = 0;  // lines left in the block
  void start(const GemmArgs<T>& g, int64_t p0, int64_t rows, int64_t j0, int64_t lines_per_row) {
    row = g.b + p0 * g.rsb + j0;
    rsb = g.rsb;
    lpr = lines_per_row;
    line = 0;
    left = rows * lpr;
  }
  void issue(int64_t count) {
    constexpr int64_t kLine = 64 / int64_t(sizeof(T));
    for (count = std::min(count, left), left -= count; count > 0; --count) {
      __builtin_prefetch(row + line * kLine, 0, 2);
      if (++line == lpr) line = 0, row += rsb;
    }
  }
};

template <class T>
void few_chunk(const GemmArgs<T>& g, int64_t KB, int64_t j0, int64_t nc) {
  constexpr int NR = Tile<T>::NR;
  constexpr int64_t kLine = 64 / int64_t(sizeof(T));
  // lines a row of the chunk may touch (j0 need not start a line)
  const int64_t lpr = ceil_div(nc, kLine) + 1, tiles = ceil_div(nc, int64_t(NR));
  FewPrefetch<T> pf;
  pf.start(g, 0, std::min(KB, g.k), j0, lpr);
  pf.issue(pf.left);
  for (int64_t k0 = 0; k0 < g.k; k0 += KB) {
    const int64_t kb = std::min(KB, g.k - k0);
    const T beta = k0 == 0 ? g.beta : T(1);                      // beta 0: C not read, as BLAS
    pf.start(g, k0 + kb, std::min(KB, g.k - k0 - kb), j0, lpr);  // the next block
    const int64_t share = ceil_div(pf.left, tiles);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t jt = t * NR;
      const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jt));
      pf.issue(share);
      for (int64_t i0 = 0, mr = 0; i0 < g.m; i0 += mr) {
        mr = next_tile_rows<T>(g.m - i0);
        const Operands<T> src{g.a + i0 * g.rsa + k0 * g.csa, g.rsa, g.csa,
                              g.b + k0 * g.rsb + j0 + jt, g.rsb};
        run_tile<T, true>(kb, src, g.c + i0 * g.rsc + (j0 + jt) * g.csc, g.rsc, g.csc, mr, nr,
                          g.alpha, beta);
      }
    }
  }
  if (g.epilogue.fn && g.csc == 1) g.epilogue.fn(g.c + j0, g.rsc, g.m, nc, j0, g.epilogue.ctx);
}

// gemm_few for this product: a C of one row tile, or a B that fits the L3. From DRAM, a second
// row tile cost more than packing B saves (Zen 1, 1 thread, in one process against the packed
// path: 8 x 4096^2 float32 15.7 -> 17.1 ms, 12 x 4096^2 float64 39.3 -> 44.0; one tile, 5 x
// 4096^2 float32 15.0 -> 12.6); B in the L3 it won (8 x 1024^2 float32 934 -> 663 us). With the
// AVX2 build's 16 KiB chunks (FewShape) gemm_few wins from DRAM at two row tiles too (above:
// 8 x 4096^2 11.5 ms against the packed path's 17.7), so there it takes any size.
template <class T>
inline bool few_fits(const GemmArgs<T>& g) {
  if (FewShape<T>::NC * int64_t(sizeof(T)) >= 16384) return true;
  const long long l3 = cache_sizes().l3;
  return g.m <= Tile<T>::MR ||
         double(g.k) * double(g.n) * double(sizeof(T)) <= double(l3 > 0 ? l3 : 8LL << 20);
}

template <class T>
void gemm_few(const GemmArgs<T>& g) {
  constexpr int64_t NR = Tile<T>::NR;  // chunks in whole column tiles
  const long long l3 = cache_sizes().l3;
  const bool from_dram =
      double(g.k) * double(g.n) * double(sizeof(T)) > double(l3 > 0 ? l3 : 8LL << 20);
  const int64_t kb = g.k <= blocking<T>().kc           ? g.k
                     : g.m <= Tile<T>::MR && from_dram ? FewShape<T>::KB1
                                                       : FewShape<T>::KB;
  for_column_chunks(g, FewShape<T>::NC, ceil_div(g.n, NR), NR,
                    [&](int64_t j0, int64_t nc, int64_t) { few_chunk<T>(g, kb, j0, nc); });
}

// The path gemm() takes for g, decided once, here: gemm_route returns visit(GemmPathTag<path>{}).
// gemm_kernel (below) runs that path; gemm_prepack_route asks whether it is gemm_packed. A visitor
// called in each branch (all of it inlined) rather than a returned enum: gemm_kernel then keeps
// the if-chain it was. (A returned enum and a switch left gemm_axpy, which the generic build
// never takes, in its object and moved more of GCC's inlining in the AVX2 one; round 45.)
enum class GemmPath { kNone, kScaleC, kDot, kAxpy, kDirect, kFew, kPacked };
template <GemmPath P>
using GemmPathTag = std::integral_constant<GemmPath, P>;

template <class T, class Visit>
[[gnu::always_inline]] inline decltype(auto) gemm_route(const GemmArgs<T>& g, Visit&& visit) {
  if (g.m <= 0 || g.n <= 0) return visit(GemmPathTag<GemmPath::kNone>{});
  if (g.k <= 0 || g.alpha == T(0)) return visit(GemmPathTag<GemmPath::kScaleC>{});
  constexpr int64_t kDirectMaxWork = int64_t(1) << 20;  // about 100^3 multiply-adds
  // Thin C: up to 16 rows or columns (one AVX-512 fp32 vector; on AVX2 the dot kernel also beats
  // transposing the long operand into panels). The scalar fallback keeps its 4 x 4 tiles.
  constexpr int64_t kDotMaxThin = Vec<T>::width > 1 ? 16 : 1;
  // A C of at most this many rows with row-major op(B): the row form (gemm_axpy) instead of
  // packing B for a few rows; from 2 rows on, not the small products gemm_direct serves faster
  // (4 x 128 x 128 took 1.45x its time on a Zen 1), but those whose k is past its reach.
  constexpr int64_t kAxpyMaxRows = Vec<T>::width > 1 ? 4 : 0;
  // Up to this many rows (and op(B) row-major) B is read in place in blocks (gemm_few), not
  // packed: one row tile at any size, more where B fits the L3 (few_fits). Zen 1, against the
  // packed path, 1 / 2 threads: 8 x 784 x 512 278 -> 188 us / 165 -> 140, 12 x 784 x 512 337 ->
  // 258 / 183 -> 193, 16 x 784 x 512 417 -> 334 / 213 -> 235, 24 x 4096^2 24.9 -> 27.2 ms / 13.8
  // -> 16.9: past two row tiles the packed path's B panel pays.
  constexpr int64_t kFewMaxRows = Vec<T>::width > 1 ? 12 : 0;
  const auto direct = [&g] {
    return g.csb == 1 && g.k <= blocking<T>().kc && g.m * g.n * g.k <= kDirectMaxWork;
  };
  if (g.csa == 1 && g.rsb == 1 && std::min(g.m, g.n) <= kDotMaxThin && g.k >= Vec<T>::width)
    return visit(GemmPathTag<GemmPath::kDot>{});
  if (g.m <= kAxpyMaxRows && g.csb == 1 && g.n >= 2 * Vec<T>::width &&
      (g.m == 1 || g.m * g.n * g.k > kDirectMaxWork / 8 || !direct()))
    return visit(GemmPathTag<GemmPath::kAxpy>{});
  if (direct()) return visit(GemmPathTag<GemmPath::kDirect>{});
  if (g.m <= kFewMaxRows && g.csb == 1 && few_fits(g)) return visit(GemmPathTag<GemmPath::kFew>{});
  return visit(GemmPathTag<GemmPath::kPacked>{});
}

template <class T>
void gemm_kernel(const GemmArgs<T>& g) {
  gemm_route(g, [&g](auto path) __attribute__((always_inline)) {
    constexpr GemmPath p = decltype(path)::value;
    if constexpr (p == GemmPath::kScaleC)
      scale_c(g);
    else if constexpr (p == GemmPath::kDot)
      gemm_dot(g);
    else if constexpr (p == GemmPath::kAxpy)
      gemm_axpy(g);
    else if constexpr (p == GemmPath::kDirect)
      gemm_direct(g);
    else if constexpr (p == GemmPath::kFew)
      gemm_few(g);
    else if constexpr (p == GemmPath::kPacked)
      gemm_packed(g, blocking<T>());
  });
}

// ---------------------------------------------------------------------------------------------
// One op(B) packed once for many products with the same B and shape (nn.LSTM's time loop,
// cpu/rnn.h: every step multiplies a new (N, H) state by the same W_hh). gemm_packed packs B
// again on every call: at H 256, N 32 that is 1 MiB of W_hh^T repacked for 32 rows of A a step,
// and the LSTM ran 0.85-0.87x torch there (round 44).
//   gemm_prepack_size(g): the T elements of g's packed B, 0 where gemm() does not take
//     gemm_packed (unswapped, no epilogue) for g: then there is nothing to reuse, run gemm().
//   gemm_prepack(g, dst): packs op(B) into dst (64-byte aligned, gemm_prepack_size(g) elements).
//   gemm_prepacked(g, packed): gemm(g) with op(B) read from packed (A, C, alpha, beta may differ
//     from the packing call's; m, n, k, B and its strides must not); a packed B that does not
//     fit g (another shape, or the blocking changed since) falls back to gemm(g).
// The layout: a header of 64 bytes, then per k block (gemm_packed's balanced kcb) op(B)'s rows
// [pc, pc + kc) as NR-column micro-panels over all n columns, as pack_b_block lays them out
// (panel j / NR at j * kc), blocks NR * kcb * ceil(n / NR) apart. It depends on neither m nor
// the thread count: threads split C's columns in whole panels (or its rows, where gemm_packed
// would) and read their share in place. gemm_prepacked runs gemm_packed's loop nest (A blocks,
// k blocks, B blocks of NB columns) with only A packed: each tile of C sees the same k blocks in
// the same order and the same micro-kernel, so the same bits as gemm() (tests/
// test_lstm_prepacked_r44.py).
// Templates only, instantiated where they are used: cpu/rnn.h includes this file with
// DG_GEMM_TEMPLATES_ONLY defined (see the end of the file). Instantiated in gemm_<isa>.cpp they
// changed GCC's inlining of gemm()'s own paths there (more callers of blocking(), scratch(), the
// micro-kernels: a larger unit to inline into), so gemm() would no longer have been the same
// code; its object file is unchanged this way.

// Whether gemm() runs g through gemm_packed unswapped (and without an epilogue): where a B packed
// once (gemm_prepack) can stand in for the one gemm_packed packs. gemm_kernel's own decision.
template <class T>
bool gemm_prepack_route(const GemmArgs<T>& g) {
  const bool packed = gemm_route(g, [](auto path) { return path() == GemmPath::kPacked; });
  return packed && !g.epilogue.fn && !gemm_packed_swaps<T>(g.m, g.n);
}

// The packed B's header (its first 64 bytes): what it was packed for.
struct PrepackHeader {
  int64_t n, k, kcb, rsb, csb, nr;
  const void* b;
};
static_assert(sizeof(PrepackHeader) <= 64);

template <class T>
inline int64_t prepack_header_elems() {
  return 64 / int64_t(sizeof(T));
}

template <class T>
int64_t prepack_kcb(int64_t k) {
  const int64_t kblocks = ceil_div(k, gemm_blocking(T(0)).kc);
  return ceil_div(k, kblocks);
}

template <class T>
int64_t gemm_prepack_size(const GemmArgs<T>& g) {
  if (!gemm_prepack_route(g)) return 0;
  constexpr int NR = Tile<T>::NR;
  const int64_t kcb = prepack_kcb<T>(g.k);
  return prepack_header_elems<T>() + ceil_div(g.k, kcb) * kcb * round_up(g.n, NR);
}

template <class T>
void gemm_prepack(const GemmArgs<T>& g, T* dst) {
  constexpr int NR = Tile<T>::NR;
  const int64_t kcb = prepack_kcb<T>(g.k);
  const PrepackHeader h{g.n, g.k, kcb, g.rsb, g.csb, NR, g.b};
  std::memcpy(static_cast<void*>(dst), &h, sizeof(h));
  T* const panels = dst + prepack_header_elems<T>();
  const int64_t block = kcb * round_up(g.n, NR);
  for (int64_t pc = 0, kb = 0; pc < g.k; pc += kcb, ++kb)
    pack_b_block(g, pc, std::min(kcb, g.k - pc), 0, g.n, panels + kb * block);
}

// The calling thread's buffer for gemm_prepacked's A blocks (64-byte aligned), grown on demand.
template <class T>
T* prepack_a_arena(size_t elems) {
  struct Arena {
    T* p = nullptr;
    size_t cap = 0;
    ~Arena() { std::free(p); }
  };
  thread_local Arena a;
  if (elems > a.cap) {
    std::free(a.p);
    a.cap = 0;
    a.p = static_cast<T*>(std::aligned_alloc(64, (elems * sizeof(T) + 63) / 64 * 64));
    if (!a.p) throw std::bad_alloc();
    a.cap = elems;
  }
  return a.p;
}

template <class T>
void gemm_prepacked(const GemmArgs<T>& g, const T* packed) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  PrepackHeader h;
  std::memcpy(&h, static_cast<const void*>(packed), sizeof(h));
  const GemmBlocking blk = gemm_blocking(T(0));
  const int64_t m = g.m, n = g.n, k = g.k;
  if (!gemm_prepack_route(g) || h.n != n || h.k != k || h.kcb != prepack_kcb<T>(k) ||
      h.rsb != g.rsb || h.csb != g.csb || h.nr != NR || h.b != g.b) {
    DG_ISA_NS::gemm(g);
    return;
  }
  const T* const panels = packed + prepack_header_elems<T>();
  const int64_t kcb = h.kcb, npn = ceil_div(n, NR), block = kcb * npn * NR;

  // gemm_packed's threads and split: rows where it splits rows, else columns in whole panels.
  int nt = std::max(1, g.threads > 0 ? g.threads : num_threads());
  if (m * n * k < kParallelMinWork) nt = 1;
  const bool split_rows = nt > 1 && !blk.shared_a && m >= 2 * MR * nt && n <= 2 * m;
  if (!split_rows) nt = static_cast<int>(std::min<int64_t>(nt, npn));
  constexpr int RU = MR % 3 == 0 ? MR / 3 : MR;
  const int64_t runits = ceil_div(m, RU);
  const int64_t rows_max = split_rows ? std::min(m, ceil_div(runits, nt) * RU) : m;
  auto row_block = [&](int64_t rows) {
    return round_up(ceil_div(rows, ceil_div(rows, blk.mb)), MR);
  };
  const int64_t mb_max = std::min(round_up(rows_max, MR), round_up(blk.mb, MR));
  const size_t a_elems = static_cast<size_t>(round_up(mb_max * kcb, 64 / sizeof(T)));
  T* const arena = prepack_a_arena<T>(a_elems * nt);

  auto body = [&](int tid, int nthreads) {
    int64_t i_begin = 0, i_end = m, j_begin = 0, j_end = n;
    if (split_rows) {
      i_begin = std::min(m, runits * tid / nthreads * RU);
      i_end = std::min(m, runits * (tid + 1) / nthreads * RU);
    } else {
      j_begin = npn * tid / nthreads * NR;
      j_end = std::min(n, npn * (tid + 1) / nthreads * NR);
    }
    if (i_begin >= i_end || j_begin >= j_end) return;
    T* const apack = arena + a_elems * tid;
    const int64_t ncols = j_end - j_begin;
    const int64_t nbb = round_up(ceil_div(ncols, ceil_div(ncols, blk.nb)), NR);
    const int64_t mbb = row_block(i_end - i_begin);
    for (int64_t ib = i_begin; ib < i_end; ib += mbb) {
      const int64_t npanels = ceil_div(std::min(mbb, i_end - ib), MR);
      for (int64_t pc = 0, kb = 0; pc < k; pc += kcb, ++kb) {
        const int64_t kc = std::min(kcb, k - pc);
        const T beta = pc == 0 ? g.beta : T(1);
        const T* const bk = panels + kb * block;
        pack_a_block(g, ib, i_end, 0, npanels, pc, kc, apack);
        for (int64_t jb = j_begin; jb < j_end; jb += nbb) {
          const int64_t je = std::min(j_end, jb + nbb);
          for (int64_t q = 0; q < npanels; ++q) {
            const int64_t i0 = ib + q * MR;
            const int mr = static_cast<int>(std::min<int64_t>(MR, i_end - i0));
            T* const crow = g.c + i0 * g.rsc;
            for (int64_t j = jb; j < je; j += NR) {
              const Operands<T> src{apack + q * MR * kc, 1, MR, bk + j * kc, NR};
              run_tile<T, false>(kc, src, crow + j * g.csc, g.rsc, g.csc, mr,
                                 static_cast<int>(std::min<int64_t>(NR, je - j)), g.alpha, beta);
            }
          }
        }
      }
    }
  };
  if (nt == 1) {
    body(0, 1);
  } else {
    place_team(nt);
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

// The entry points of cpu/ops.h (and the helpers only they use): defined once per ISA, in the
// generated gemm_<isa>.cpp, which includes this file as it is. DG_GEMM_TEMPLATES_ONLY leaves them
// out for a kernel header that instantiates the templates above in its own unit: cpu/rnn.h
// (gemm_prepacked) defines it around its #include of this file and #undefs it after, and calls
// gemm() through cpu/ops.h. Nothing else defines it; defined, it removes only these external
// definitions (a second copy would be a duplicate symbol at link time) and changes nothing above,
// so a unit built with it compiles the same templates as gemm_<isa>.cpp does.
#ifndef DG_GEMM_TEMPLATES_ONLY
void gemm(const GemmArgs<float>& args) { gemm_kernel(args); }
void gemm(const GemmArgs<double>& args) { gemm_kernel(args); }
GemmBlocking gemm_blocking(float) { return blocking<float>(); }
GemmBlocking gemm_blocking(double) { return blocking<double>(); }

// The float32 FMA rate this ISA's vectors reach (GFLOP/s, 2 flops per lane per FMA) on
// `threads` threads: each runs kChains independent FMA chains (enough to cover the FMA latency
// on two ports) in registers for about `seconds`, timed in slices of ~50 us; each thread keeps
// its best slice (on a shared machine another process only ever slows a slice down) and the
// rates of the threads add up. `deltagrad bench`'s nominal peak.
//
// The loop is not in the entry point itself: the entry points are declared in cpu/ops.h, which
// the generated files read under the baseline x86-64 target (cmake/cpu_isa.cpp.in), so GCC
// compiles their own bodies, and the OpenMP regions outlined from them, for baseline x86-64 and
// inlines no Vec<T> operation there ("target specific option mismatch"). The kernels only call
// their templates from there; this loop, written in the entry point, called fmadd through the
// PLT and "measured" 3-5 GFLOP/s on a core that does 117 (round 13). A function defined here
// gets this file's ISA, as the kernel templates do.
namespace {
double fma_peak(double seconds, int threads) {
  using V = Vec<float>;
  constexpr int kChains = V::width >= 16 ? 16 : V::width >= 8 ? 12 : 8;
  constexpr int64_t kInner = 8192;
  constexpr double kFlops = double(kInner) * kChains * V::width * 2.0;
  double rate = 0;
  volatile float sink = 0;
  place_team(std::max(1, threads));
#pragma omp parallel num_threads(std::max(1, threads)) reduction(+ : rate)
  {
    V acc[kChains];
    for (int c = 0; c < kChains; ++c) acc[c] = V::set1(float(c) * 1e-3f);
    const V mul = V::set1(0.999999f), add = V::set1(1e-7f);
    const double t0 = omp_get_wtime();
    double t = t0, best = 0;
    do {
      const double s0 = t;
      for (int64_t i = 0; i < kInner; ++i) {
#pragma GCC unroll 16
        for (int c = 0; c < kChains; ++c) acc[c] = fmadd(acc[c], mul, add);
      }
      t = omp_get_wtime();
      if (t > s0) best = std::max(best, kFlops / (t - s0));
    } while (t - t0 < seconds);
    V sum = acc[0];
    for (int c = 1; c < kChains; ++c) sum = sum + acc[c];
    float lanes[V::width];
    sum.store(lanes);
    sink = sink + lanes[0];
    rate += best;
  }
  (void)sink;
  return rate / 1e9;
}
}  // namespace

double measure_fma_peak(double seconds, int threads) { return fma_peak(seconds, threads); }
#endif  // DG_GEMM_TEMPLATES_ONLY

}  // namespace DG_ISA_NS
}  // namespace dg

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
