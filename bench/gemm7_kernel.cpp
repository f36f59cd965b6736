// Where the 1-thread GEMM time goes (gemm7, round 7): the packed micro-kernel alone on
// L1-resident panels, the macro-kernel (the ir / jr sweep over packed A and B blocks, no
// packing) per blocking, the packing alone, and the whole gemm_packed per blocking, against the
// measured FMA peak. Uses the library's own templates (cpu/gemm.h), one thread.
//   g++ -std=c++17 -O3 -DDG_ISA_NS=avx2 -mavx2 -mfma -mf16c -fopenmp -Icsrc
//       bench/gemm7_kernel.cpp csrc/common/cpu_isa.cpp csrc/common/threads.cpp
//       csrc/cpu/gemm_reference.cpp -o build/g7k && build/g7k [kernel|macro|pack|full|all]
// mm9: `bmm m n k count rounds`, a batch run in turn, cold operands vs warm; build with
// -DDG_MM9_RUNTIME_KNOBS to A/B kPackBPrefetchRows in one process (MM9_PF="0 32") and split
// out the B packs' time; `share m n k ldb rounds`, one thread's column share with A packed / in
// place.
// mm10: MM10_LDC sets mab's C row stride; fab takes mb as 10000*mb+kc; `split shape rounds`
// (with -DDG_MM9_RUNTIME_KNOBS): 2 threads, the library's split vs C's columns.
// gemm8: add -DDG_GEMM8_DIRECT_A=0 or -DDG_GEMM8_PACKB_ROWS=0 for a binary without that AVX2 path
// (A/B: binaries alternating in one lock hold); G8_THP=1 puts the operands on huge pages, as
// NumPy's large arrays are (without, 2048^3 read ~3% low).
#include <sys/mman.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm.h"

using namespace dg;
using namespace dg::DG_ISA_NS;
using clk = std::chrono::steady_clock;
using T = float;
constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;

// Thread CPU time (the machine is shared: time off the core is not counted; each measurement is
// the best of several batches, so a batch disturbed by a context switch is dropped).
static double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Best seconds per call of fn over `reps` timed batches of `inner` calls.
template <class F>
static double best_of(F&& fn, int reps, int inner) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (int i = 0; i < inner; ++i) fn();
    best = std::min(best, (now() - t0) / inner);
  }
  return best;
}

// Operand buffers: 64-byte aligned; with G8_THP=1 in the environment (gemm8), buffers of 4 MiB
// and more are 2 MiB aligned and ask for transparent huge pages before first touch, as NumPy does
// for its large arrays (THP is "madvise" on the Zen 3 VM).
static const bool g_thp = [] {
  const char* e = std::getenv("G8_THP");
  return e && e[0] == '1';
}();
template <class U>
struct HugeAlloc {
  using value_type = U;
  HugeAlloc() = default;
  template <class V>
  HugeAlloc(const HugeAlloc<V>&) {}
  U* allocate(size_t n) {
    size_t bytes = (n * sizeof(U) + 63) / 64 * 64;
    const bool huge = g_thp && bytes >= (size_t(4) << 20);
    if (huge) bytes = (bytes + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
    void* p = std::aligned_alloc(huge ? size_t(2) << 20 : 64, bytes);
    if (!p) throw std::bad_alloc();
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);
    return static_cast<U*>(p);
  }
  void deallocate(U* p, size_t) { std::free(p); }
  template <class V>
  bool operator==(const HugeAlloc<V>&) const {
    return true;
  }
  template <class V>
  bool operator!=(const HugeAlloc<V>&) const {
    return false;
  }
};
using Buf = std::vector<T, HugeAlloc<T>>;

static Buf rnd(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  Buf v(n);
  for (auto& x : v) x = d(g);
  return v;
}

static double peak = 0;

static void kernel_l1() {
  for (int kc : {64, 128, 256, 384}) {
    auto a = rnd(MR * kc, 1), b = rnd(NR * kc, 2);
    alignas(64) T c[MR * NR] = {};
    const Operands<T> src{a.data(), 1, MR, b.data(), NR};
    auto fn = [&] { micro_kernel<T, MR, Tile<T>::NV, false>(kc, src, c, NR, 1, MR, NR, 1, 1); };
    const int inner = 500000 / kc;
    const double t = best_of(fn, 300, inner);
    const double gf = 2.0 * MR * NR * kc / t / 1e9;
    std::printf("kernel L1 kc %3d: %6.1f GF/s  %5.1f%% of peak\n", kc, gf, 100 * gf / peak);
  }
}

// The macro-kernel of gemm_packed on packed blocks (no packing): for each A micro-panel, every
// B micro-panel of the block (order 0, ours), or for each B micro-panel every A micro-panel
// (order 1, BLIS's for this tile). C has row stride ldc.
static double macro(int64_t mb, int64_t nb, int64_t kc, int64_t ldc, int order, double secs) {
  const int64_t np = (mb + MR - 1) / MR, nq = (nb + NR - 1) / NR;
  auto a = rnd(np * MR * kc, 3), b = rnd(nq * NR * kc, 4);
  Buf c(mb * ldc, 0);
  auto fn = [&] {
    if (order == 0) {
      for (int64_t q = 0; q < np; ++q)
        for (int64_t j = 0; j < nq; ++j) {
          const Operands<T> src{a.data() + q * MR * kc, 1, MR, b.data() + j * NR * kc, NR};
          run_tile<T, false>(kc, src, c.data() + q * MR * ldc + j * NR, ldc, 1,
                             int(std::min<int64_t>(MR, mb - q * MR)),
                             int(std::min<int64_t>(NR, nb - j * NR)), 1, 1);
        }
    } else {
      for (int64_t j = 0; j < nq; ++j)
        for (int64_t q = 0; q < np; ++q) {
          const Operands<T> src{a.data() + q * MR * kc, 1, MR, b.data() + j * NR * kc, NR};
          run_tile<T, false>(kc, src, c.data() + q * MR * ldc + j * NR, ldc, 1,
                             int(std::min<int64_t>(MR, mb - q * MR)),
                             int(std::min<int64_t>(NR, nb - j * NR)), 1, 1);
        }
    }
  };
  const double flop = 2.0 * mb * nb * kc;
  const int inner = std::max<int>(1, int(1.2e8 / flop));
  fn();
  const double t = best_of(fn, std::max(3, int(secs / (flop / 60e9) / inner)), inner);
  return flop / t / 1e9;
}

static void macro_sweep() {
  std::printf("macro (packed blocks, no packing), GF/s; order 0 = A panel in L1, B streams\n");
  for (int64_t ldc : {int64_t(1024)}) {
    for (int order : {0, 1}) {
      for (int64_t mb : {int64_t(252), int64_t(1032)}) {
        std::printf("order %d mb %4ld ldc %ld\n  kc\\nb", order, long(mb), long(ldc));
        const int64_t nbs[] = {64, 96, 128, 192, 256, 384, 512};
        for (int64_t nb : nbs) std::printf(" %6ld", long(nb));
        std::printf("\n");
        for (int64_t kc : {128, 192, 256, 320, 384, 512}) {
          std::printf("  %4ld ", long(kc));
          for (int64_t nb : nbs) std::printf(" %6.1f", macro(mb, nb, kc, ldc, order, 0.15));
          std::printf("\n");
          std::fflush(stdout);
        }
      }
    }
  }
}

// The packed 6x16 micro-kernel with a software prefetch of the streaming B micro-panel `dist`
// bytes ahead, one line per step of k (an experiment: gemm.h's kernel has none).
template <int kDist>
__attribute__((noinline)) void mk_pf(int64_t kc, const T* __restrict ap, const T* __restrict bp,
                                     T* c, int64_t rsc) {
  using V = Vec<T>;
  constexpr int W = V::width, NV = 2;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int r = 0; r < MR; ++r) {  // as gemm.h's kernel
    __builtin_prefetch(c + r * rsc, 1, 3);
    __builtin_prefetch(c + r * rsc + NR - 1, 1, 3);
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    if constexpr (kDist > 0) __builtin_prefetch(reinterpret_cast<const char*>(bp) + kDist, 0, 3);
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = V::load(bp + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const V ar = V::set1(ap[r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
    }
    ap += MR;
    bp += NR;
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      V x = acc[r][v] + V::load(c + r * rsc + v * W);
      x.store(c + r * rsc + v * W);
    }
}

struct MacroCfg {
  int64_t mb, nb, kc;
  int order;  // 0: A panel in L1 (gemm.h), 1: B panel in L1, N >= 2: N A panels share each B
  int pf;     // 0: gemm.h's kernel; >0: mk_pf with that prefetch distance in bytes
  std::string label() const {
    char b[96];
    std::snprintf(b, sizeof b, "mb%ld nb%ld kc%ld ord%d pf%d", long(mb), long(nb), long(kc), order,
                  pf);
    return b;
  }
};

static void macro_ab(const std::vector<MacroCfg>& cfgs, int rounds) {
  struct St {
    Buf a, b, c;
    double best = 1e30;
  };
  // mm10: C's row stride (MM10_LDC, default 1024 floats), at least the widest block.
  int64_t ldc = std::getenv("MM10_LDC") ? std::atol(std::getenv("MM10_LDC")) : 1024;
  for (const auto& g : cfgs) ldc = std::max<int64_t>(ldc, round_up(g.nb, NR));
  std::vector<St> st(cfgs.size());
  for (size_t i = 0; i < cfgs.size(); ++i) {
    const auto& g = cfgs[i];
    st[i].a = rnd(round_up(g.mb, MR) * g.kc, 3);
    st[i].b = rnd(round_up(g.nb, NR) * g.kc, 4);
    st[i].c.assign(g.mb * ldc, 0);
  }
  auto run = [&](const MacroCfg& g, St& s) {
    const int64_t np = ceil_div(g.mb, MR), nq = ceil_div(g.nb, NR), kc = g.kc;
    auto tile = [&](int64_t q, int64_t j) {
      const T* ap = s.a.data() + q * MR * kc;
      const T* bp = s.b.data() + j * NR * kc;
      T* c = s.c.data() + q * MR * ldc + j * NR;
      switch (g.pf) {
        case 0: {
          const Operands<T> src{ap, 1, MR, bp, NR};
          run_tile<T, false>(kc, src, c, ldc, 1, MR, NR, 1, 1);
          break;
        }
        case 256:
          mk_pf<256>(kc, ap, bp, c, ldc);
          break;
        case 512:
          mk_pf<512>(kc, ap, bp, c, ldc);
          break;
        case 1024:
          mk_pf<1024>(kc, ap, bp, c, ldc);
          break;
        default:
          mk_pf<0>(kc, ap, bp, c, ldc);
          break;
      }
    };
    if (g.order == 0) {
      for (int64_t q = 0; q < np; ++q)
        for (int64_t j = 0; j < nq; ++j) tile(q, j);
    } else if (g.order >= 2) {  // OpenBLAS's: `order` A micro-panels in L1 share each B one
      for (int64_t q0 = 0; q0 < np; q0 += g.order)
        for (int64_t j = 0; j < nq; ++j)
          for (int64_t q = q0; q < std::min<int64_t>(np, q0 + g.order); ++q) tile(q, j);
    } else {
      for (int64_t j = 0; j < nq; ++j)
        for (int64_t q = 0; q < np; ++q) tile(q, j);
    }
  };
  for (size_t i = 0; i < cfgs.size(); ++i) run(cfgs[i], st[i]);
  for (int r = 0; r < rounds; ++r)
    for (size_t i0 = 0; i0 < cfgs.size(); ++i0) {
      const size_t i = r % 2 ? cfgs.size() - 1 - i0 : i0;
      const double t0 = now();
      run(cfgs[i], st[i]);
      st[i].best = std::min(st[i].best, now() - t0);
    }
  if (FILE* f = std::fopen("/proc/self/smaps_rollup", "r")) {  // mm10: were huge pages given?
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "AnonHugePages", 13) == 0) std::printf("  %s", line);
    std::fclose(f);
  }
  for (size_t i = 0; i < cfgs.size(); ++i) {
    const auto& g = cfgs[i];
    const double gf = 2.0 * round_up(g.mb, MR) * round_up(g.nb, NR) * g.kc / st[i].best / 1e9;
    std::printf("  %-34s %6.1f GF/s %5.1f%%\n", g.label().c_str(), gf, 100 * gf / peak);
  }
}

struct Shape {
  const char* name;
  int64_t m, n, k;
  bool ta, tb;
};
static const Shape kShapes[] = {
    {"square256", 256, 256, 256, false, false},     {"square1024", 1024, 1024, 1024, false, false},
    {"mlp_fwd", 256, 512, 784, false, true},        {"mlp_dW", 512, 784, 256, true, false},
    {"mlp_dX", 256, 784, 512, false, false},        {"tall4096", 4096, 1024, 1024, false, false},
    {"square2048", 2048, 2048, 2048, false, false},
};

static GemmArgs<T> args_for(const Shape& s, Buf& a, Buf& b, Buf& c) {
  a = rnd(s.m * s.k, 5);
  b = rnd(s.k * s.n, 6);
  c.assign(s.m * s.n, 0);
  // op(A) m x k: stored k x m when transposed; op(B) k x n: stored n x k when transposed.
  GemmArgs<T> g = strided_gemm<T>(s.m, s.n, s.k, a.data(), s.ta ? 1 : s.k, s.ta ? s.m : 1, b.data(),
                                  s.tb ? 1 : s.n, s.tb ? s.k : 1, c.data(), s.n, 1);
  g.threads = 1;
  return g;
}

static double time_gemm(const GemmArgs<T>& g, const GemmBlocking& blk, double secs) {
  const double flop = 2.0 * g.m * g.n * g.k;
  gemm_packed(g, blk);
  const int inner = std::max(1, int(0.01 / (flop / 70e9)));
  const int reps = std::max(3, int(secs / (inner * flop / 70e9)));
  return flop / best_of([&] { gemm_packed(g, blk); }, reps, inner) / 1e9;
}

static void full(const std::vector<std::pair<int64_t, int64_t>>& kcnb) {
  const GemmBlocking def = blocking<T>();
  std::printf("full gemm_packed, 1 thread, GF/s (default kc %ld nb %ld mb %ld)\n", long(def.kc),
              long(def.nb), long(def.mb));
  std::printf("%-11s", "case");
  for (auto [kc, nb] : kcnb) std::printf("  %3ld/%-4ld", long(kc), long(nb));
  std::printf("\n");
  for (const Shape& s : kShapes) {
    Buf a, b, c;
    const GemmArgs<T> g = args_for(s, a, b, c);
    std::printf("%-11s", s.name);
    for (auto [kc, nb] : kcnb) {
      GemmBlocking blk = def;
      blk.kc = kc;
      blk.nb = nb;
      std::printf("  %8.1f", time_gemm(g, blk, s.m * s.n * s.k > 1e9 ? 1.0 : 0.3));
      std::fflush(stdout);
    }
    std::printf("\n");
  }
}

// Whole gemm_packed on one shape, blockings interleaved round by round (best CPU time each).
static void full_ab(const Shape& s, const std::vector<std::pair<int64_t, int64_t>>& kcnb,
                    int rounds) {
  Buf a, b, c;
  const GemmArgs<T> g = args_for(s, a, b, c);
  const GemmBlocking def = blocking<T>();
  std::vector<double> best(kcnb.size(), 1e30);
  for (int r = 0; r < rounds; ++r)
    for (size_t i0 = 0; i0 < kcnb.size(); ++i0) {
      const size_t i = r % 2 ? kcnb.size() - 1 - i0 : i0;
      GemmBlocking blk = def;
      blk.kc = kcnb[i].first;
      blk.nb = kcnb[i].second;
      if (kcnb[i].first >= 10000) {  // mm10: kc,nb given as 10000*mb + kc
        blk.mb = kcnb[i].first / 10000;
        blk.kc = kcnb[i].first % 10000;
      }
      gemm_packed(g, blk);  // (first touch of the scratch at this size)
      const double t0 = now();
      gemm_packed(g, blk);
      best[i] = std::min(best[i], now() - t0);
    }
  const double flop = 2.0 * s.m * s.n * s.k;
  for (size_t i = 0; i < kcnb.size(); ++i)
    std::printf("  %-11s mb*1e4+kc %3ld nb %4ld: %6.1f GF/s %5.1f%%\n", s.name, long(kcnb[i].first),
                long(kcnb[i].second), flop / best[i] / 1e9, 100 * flop / best[i] / 1e9 / peak);
}

// Packing alone (the loops of gemm_packed with the compute taken out), as a share of the whole.
static void pack_share() {
  const GemmBlocking blk = blocking<T>();
  std::printf("packing alone vs whole, 1 thread, default blocking\n");
  for (const Shape& s : kShapes) {
    Buf a, b, c;
    const GemmArgs<T> g = args_for(s, a, b, c);
    const int64_t m = g.m, n = g.n, k = g.k;
    const int64_t kblocks = ceil_div(k, blk.kc), kcb = ceil_div(k, kblocks);
    const int64_t nbb = round_up(ceil_div(n, ceil_div(n, blk.nb)), NR);
    const int64_t mbb = round_up(ceil_div(m, ceil_div(m, blk.mb)), MR);
    Buf ap(round_up(mbb, MR) * kcb), bp(nbb * kcb);
    double apack_t = 0, bpack_t = 0;
    auto fn_a = [&] {
      for (int64_t ib = 0; ib < m; ib += mbb)
        for (int64_t pc = 0; pc < k; pc += kcb) {
          const int64_t kc = std::min(kcb, k - pc), mb = std::min(mbb, m - ib);
          for (int64_t q = 0; q < ceil_div(mb, MR); ++q) {
            const int64_t i0 = ib + q * MR;
            pack_panel<T, MR>(g.a + i0 * g.rsa + pc * g.csa, g.rsa, g.csa,
                              int(std::min<int64_t>(MR, m - i0)), kc, ap.data() + q * MR * kc);
          }
        }
    };
    auto fn_b = [&] {
      for (int64_t ib = 0; ib < m; ib += mbb)
        for (int64_t pc = 0; pc < k; pc += kcb) {
          const int64_t kc = std::min(kcb, k - pc);
          for (int64_t jb = 0; jb < n; jb += nbb) {
            const int64_t nb = std::min(nbb, n - jb);
            if (kGemmPackBRows && g.csb == 1 && g.rsb * int64_t(sizeof(T)) >= 4096)  // as gemm.h
              pack_rows_block<T, NR>(g.b + pc * g.rsb + jb, g.rsb, nb, kc, bp.data());
            else
              for (int64_t j = 0; j < nb; j += NR)
                pack_panel<T, NR>(g.b + pc * g.rsb + (jb + j) * g.csb, g.csb, g.rsb,
                                  int(std::min<int64_t>(NR, nb - j)), kc, bp.data() + j * kc);
          }
        }
    };
    apack_t = best_of(fn_a, 20, 3);
    bpack_t = best_of(fn_b, 20, 3);
    const double flop = 2.0 * m * n * k;
    const double whole = flop / (time_gemm(g, blk, 0.3) * 1e9);
    std::printf("%-11s whole %8.3f ms  packA %7.3f ms (%4.1f%%)  packB %7.3f ms (%4.1f%%)\n",
                s.name, whole * 1e3, apack_t * 1e3, 100 * apack_t / whole, bpack_t * 1e3,
                100 * bpack_t / whole);
  }
}

// mm9: a strided batch of `count` distinct m x k @ k x n products (contiguous 3-D operands, as
// NumPy's (count, m, k) arrays) run in turn on one thread, as cpu/dispatch.cpp's gemm_batched
// does, against the same A and B repeated (warm; C distinct either way), and against each
// product's A and B read just before it, untimed: what operands arriving cold cost. Thread CPU
// time, best of rounds; the B packs' share of the best round from rdtsc.
static void bmm_cold(int64_t m, int64_t n, int64_t k, int64_t count, int rounds) {
  Buf a = rnd(count * m * k, 7), b = rnd(count * k * n, 8), c(count * m * n, 0);
  const GemmBlocking blk = blocking<T>();
  volatile float sink = 0;
  double t_read = 0;
  auto touched = [&]() {  // each product's A and B read just before it (untimed): warm in L2
    double t = 0;
    t_read = 0;
    for (int64_t i = 0; i < count; ++i) {
      const double r0 = now();
      float sacc = 0;
      for (int64_t x = 0; x < m * k; x += 16) sacc += a[i * m * k + x];
      for (int64_t x = 0; x < k * n; x += 16) sacc += b[i * k * n + x];
      sink = sink + sacc;
      t_read += now() - r0;
      GemmArgs<T> g = strided_gemm<T>(m, n, k, a.data() + i * m * k, k, 1, b.data() + i * k * n, n,
                                      1, c.data() + i * m * n, n, 1);
      g.threads = 1;
      const double t0 = now();
      gemm_packed(g, blk);
      t += now() - t0;
    }
    return t;
  };
  double best_touched = 1e30, best_read = 0;
  auto run = [&](bool hot) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t j = hot ? 0 : i;
      GemmArgs<T> g = strided_gemm<T>(m, n, k, a.data() + j * m * k, k, 1, b.data() + j * k * n, n,
                                      1, c.data() + i * m * n, n, 1);
      g.threads = 1;
      gemm_operands_cold() = true;  // as gemm_batched sets it
      gemm_packed(g, blk);
      gemm_operands_cold() = false;
    }
  };
  // Variants (DG_MM9_RUNTIME_KNOBS build): kPackBPrefetchRows values, MM9_PF="0 32" (default).
  std::vector<long> cfgs;
  {
    const char* e = std::getenv("MM9_PF");
    std::string spec = e ? e : "0 32";
    size_t pos = 0;
    while (pos < spec.size()) {
      cfgs.push_back(std::atol(spec.c_str() + pos));
      pos = spec.find(' ', pos);
      if (pos == std::string::npos) break;
      ++pos;
    }
  }
#ifdef DG_MM9_RUNTIME_KNOBS
  const int nk = static_cast<int>(cfgs.size());
#else
  const int nk = 1;
#endif
  std::vector<std::array<double, 2>> best(nk, {1e30, 1e30}), share(nk, {0, 0});
  for (int r = 0; r < rounds; ++r)
    for (int v0 = 0; v0 < nk; ++v0) {
      const int v = r % 2 ? nk - 1 - v0 : v0;
#ifdef DG_MM9_RUNTIME_KNOBS
      kPackBPrefetchRows = cfgs[v] % 1000;  // + 1000: kPrefetchNextAPanel on
      kPrefetchNextAPanel = cfgs[v] >= 1000;
#endif
      for (int hot = 0; hot < 2; ++hot) {
#ifdef DG_MM9_RUNTIME_KNOBS
        g_mm9_tpack = 0;
        const uint64_t c0 = __rdtsc();
#endif
        const double t0 = now();
        run(hot);
        const double dt = now() - t0;
#ifdef DG_MM9_RUNTIME_KNOBS
        if (dt < best[v][hot]) share[v][hot] = double(g_mm9_tpack) / double(__rdtsc() - c0);
#endif
        best[v][hot] = std::min(best[v][hot], dt);
      }
      if (v == 0) {
        const double t = touched();
        if (t < best_touched) best_read = t_read;
        best_touched = std::min(best_touched, t);
      }
    }
  const double flop = 2.0 * m * n * k * count;
  for (int v = 0; v < nk; ++v)
    std::printf("bmm %ldx%ldx%ld x %ld, B pack prefetch %3ld rows: cold %6.1f  warm %6.1f GF/s\n",
                long(m), long(n), long(k), long(count), nk == 1 ? -1L : cfgs[v],
                flop / best[v][0] / 1e9, flop / best[v][1] / 1e9);
  for (int v = 0; v < nk; ++v)
    std::printf("  B pack share of the best round: cold %4.1f%%  hot %4.1f%%\n", 100 * share[v][0],
                100 * share[v][1]);
  std::printf(
      "  each product's A, B read just before it (untimed, first variant): %6.1f GF/s"
      " (the reads: %.1f us per product, %.1f GB/s)\n",
      flop / best_touched / 1e9, 1e6 * best_read / count,
      4e-9 * (m * k + k * n) * count / best_read);
}

// mm9: whole gemm_packed on `threads` threads (wall time, best of rounds), DG_MM9_RUNTIME_KNOBS's
// g_mm9_direct_a_per_thread off / on interleaved.
static void threads_ab(const Shape& s, int threads, int rounds) {
  Buf a, b, c;
  GemmArgs<T> g = args_for(s, a, b, c);
  g.threads = threads;
  const GemmBlocking blk = blocking<T>();
  double best[2] = {1e30, 1e30};
  const double flop = 2.0 * s.m * s.n * s.k;
  const int inner = std::max(1, int(0.005 / (flop / 150e9)));
  for (int r = 0; r < rounds; ++r)
    for (int v0 = 0; v0 < 2; ++v0) {
      const int v = r % 2 ? 1 - v0 : v0;
#ifdef DG_MM9_RUNTIME_KNOBS
      g_mm9_direct_a_per_thread = v;
#endif
      gemm_packed(g, blk);
      const auto t0 = clk::now();
      for (int i = 0; i < inner; ++i) gemm_packed(g, blk);
      best[v] = std::min(best[v], std::chrono::duration<double>(clk::now() - t0).count() / inner);
    }
  std::printf("%-11s %d threads: direct A by n %6.1f  by the thread's columns %6.1f GF/s\n", s.name,
              threads, flop / best[0] / 1e9, flop / best[1] / 1e9);
}

// mm9: one thread's share of a column-split product (mlp_dX at 2 threads: 256 x 400 of C, k 512,
// B and C rows 784 apart) with A packed / read in place, CPU time, interleaved.
static void share_ab(int64_t m, int64_t n, int64_t k, int64_t ldb, int rounds) {
#ifdef DG_MM9_RUNTIME_KNOBS
  Buf a = rnd(m * k, 5), b = rnd(k * ldb, 6), c(m * ldb, 0);
  GemmArgs<T> g = strided_gemm<T>(m, n, k, a.data(), k, 1, b.data(), ldb, 1, c.data(), ldb, 1);
  g.threads = 1;
  const GemmBlocking blk = blocking<T>();
  double best[2] = {1e30, 1e30};
  const double flop = 2.0 * m * n * k;
  for (int r = 0; r < rounds; ++r)
    for (int v0 = 0; v0 < 2; ++v0) {
      const int v = r % 2 ? 1 - v0 : v0;
      g_mm9_force_pack_a = v == 0;
      gemm_packed(g, blk);
      const double t0 = now();
      for (int i = 0; i < 5; ++i) gemm_packed(g, blk);
      best[v] = std::min(best[v], (now() - t0) / 5);
    }
  g_mm9_force_pack_a = 0;
  std::printf("%ldx%ldx%ld (ldb %ld): A packed %6.1f  A in place %6.1f GF/s\n", long(m), long(n),
              long(k), long(ldb), flop / best[0] / 1e9, flop / best[1] / 1e9);
#else
  (void)m, (void)n, (void)k, (void)ldb, (void)rounds;
#endif
}

// mm9: whole gemm_packed on one shape, one thread, CPU time, the prefetches (kPackBPrefetchRows,
// kPrefetchNextAPanel) off / on interleaved round by round (operands warm: the same every call).
static void prefetch_ab(const Shape& s, int rounds) {
#ifdef DG_MM9_RUNTIME_KNOBS
  Buf a, b, c;
  const GemmArgs<T> g = args_for(s, a, b, c);
  const GemmBlocking blk = blocking<T>();
  const double flop = 2.0 * s.m * s.n * s.k;
  const int inner = std::max(1, int(0.01 / (flop / 80e9)));
  double best[2] = {1e30, 1e30};
  for (int r = 0; r < rounds; ++r)
    for (int v0 = 0; v0 < 2; ++v0) {
      const int v = r % 2 ? 1 - v0 : v0;
      const char* which = std::getenv("MM9_PFAB");  // "a", "b" or both (unset)
      const bool on_b = !which || which[0] != 'a', on_a = !which || which[0] != 'b';
      kPackBPrefetchRows = v && on_b ? 32 : 0;
      kPrefetchNextAPanel = v == 1 && on_a;
      gemm_operands_cold() = std::getenv("MM9_COLD") != nullptr;  // as in a batch
      gemm_packed(g, blk);
      const double t0 = now();
      for (int i = 0; i < inner; ++i) gemm_packed(g, blk);
      best[v] = std::min(best[v], (now() - t0) / inner);
      gemm_operands_cold() = false;
    }
  kPackBPrefetchRows = DG_MM9_PACKB_PREFETCH;
  kPrefetchNextAPanel = DG_MM9_PACKB_PREFETCH > 0;
  std::printf("%-11s 1 thread, warm: prefetches off %6.1f  on %6.1f GF/s  (on/off %.3f)\n", s.name,
              flop / best[0] / 1e9, flop / best[1] / 1e9, best[0] / best[1]);
#else
  (void)s, (void)rounds;
#endif
}

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "all";
  peak = measure_fma_peak(0.3, 1);
  std::printf("FMA peak 1 thread: %.1f GF/s\n", peak);
  if (what == "kernel" || what == "all") kernel_l1();
  if (what == "fab") {
    // argv[2] = shape name (or "mid": the mid-size ones), argv[3..]: kc,nb ... [rN]
    std::vector<std::pair<int64_t, int64_t>> kcnb;
    int rounds = 30;
    for (int i = 3; i < argc; ++i) {
      long kc, nb;
      if (std::sscanf(argv[i], "r%d", &rounds) == 1) continue;
      if (std::sscanf(argv[i], "%ld,%ld", &kc, &nb) != 2) return 2;
      kcnb.push_back({kc, nb});
    }
    for (const Shape& s : kShapes)
      if (std::string(argv[2]) == s.name ||
          (std::string(argv[2]) == "mid" && s.m * s.n * s.k < (int64_t(1) << 28)))
        full_ab(s, kcnb, rounds);
  }
  if (what == "mab") {
    // argv[2..]: mb,nb,kc,order,pf ...
    std::vector<MacroCfg> cfgs;
    int rounds = 200;
    for (int i = 2; i < argc; ++i) {
      MacroCfg g{};
      long mb, nb, kc;
      if (std::sscanf(argv[i], "r%d", &rounds) == 1) continue;
      if (std::sscanf(argv[i], "%ld,%ld,%ld,%d,%d", &mb, &nb, &kc, &g.order, &g.pf) != 5) return 2;
      g.mb = mb;
      g.nb = nb;
      g.kc = kc;
      cfgs.push_back(g);
    }
    macro_ab(cfgs, rounds);
  }
  if (what == "bmm") {  // argv[2..]: m n k count rounds
    const auto arg = [&](int i, long d) { return argc > i ? std::atol(argv[i]) : d; };
    bmm_cold(arg(2, 256), arg(3, 256), arg(4, 256), arg(5, 8), int(arg(6, 60)));
  }
#ifdef DG_MM9_RUNTIME_KNOBS
  if (const char* e = std::getenv("MM9_PF_ROWS")) kPackBPrefetchRows = std::atol(e);
#endif
  if (what == "pfab") {  // argv[2..]: shape names (or "all"), then rN
    int rounds = 40;
    for (int i = 2; i < argc; ++i) std::sscanf(argv[i], "r%d", &rounds);
    for (const Shape& s : kShapes)
      for (int i = 2; i < argc; ++i)
        if (std::string(argv[i]) == s.name || std::string(argv[i]) == "all") prefetch_ab(s, rounds);
  }
  if (what == "t2") {  // argv[2] shape, argv[3] threads, argv[4] rounds
    for (const Shape& s : kShapes)
      if (std::string(argv[2]) == s.name)
        threads_ab(s, argc > 3 ? std::atoi(argv[3]) : 2, argc > 4 ? std::atoi(argv[4]) : 40);
  }
  if (what == "split") {  // mm10: argv[2] shape, argv[3] rounds: 2 threads, rows vs columns
#ifdef DG_MM9_RUNTIME_KNOBS
    for (const Shape& s : kShapes)
      if (std::string(argv[2]) == s.name) {
        Buf a, b, c;
        GemmArgs<T> g = args_for(s, a, b, c);
        g.threads = 2;
        const GemmBlocking blk = blocking<T>();
        double best[2] = {1e30, 1e30};
        const double flop = 2.0 * s.m * s.n * s.k;
        const int inner = std::max(1, int(0.005 / (flop / 150e9)));
        const int rounds = argc > 3 ? std::atoi(argv[3]) : 40;
        for (int r = 0; r < rounds; ++r)
          for (int v0 = 0; v0 < 2; ++v0) {
            const int v = r % 2 ? 1 - v0 : v0;
            g_mm10_split_cols = v;
            gemm_packed(g, blk);
            const auto t0 = clk::now();
            for (int i = 0; i < inner; ++i) gemm_packed(g, blk);
            best[v] =
                std::min(best[v], std::chrono::duration<double>(clk::now() - t0).count() / inner);
          }
        g_mm10_split_cols = 0;
        std::printf("%-11s 2 threads: library's split %6.1f  columns %6.1f GF/s\n", s.name,
                    flop / best[0] / 1e9, flop / best[1] / 1e9);
      }
#endif
  }
  if (what == "share") {  // argv[2..6]: m n k ldb rounds
    share_ab(std::atol(argv[2]), std::atol(argv[3]), std::atol(argv[4]), std::atol(argv[5]),
             argc > 6 ? std::atoi(argv[6]) : 60);
  }
  if (what == "macro" || what == "all") macro_sweep();
  if (what == "pack" || what == "all") pack_share();
  if (what == "full" || what == "all")
    full({{384, 128}, {256, 128}, {256, 192}, {384, 96}, {512, 96}, {192, 256}});
  return 0;
}
