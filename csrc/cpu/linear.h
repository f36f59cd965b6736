// The fused linear layer's ISA-specific parts: the GEMM epilogue (bias + activation, and the
// pre-activation z when the backward needs it, applied to each block of y while in cache) and
// the backward's single pass dz = dy * act'(saved) with db = column sums of dz fused in.
// The GEMM calls themselves are in dispatch.cpp. Compiled once per ISA (cmake/cpu_isa.cmake).
#include "cpu/activation_math.h"
#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

template <class T, Act A, bool kBias, bool kZ>
void linear_epilogue_fn(T* c, int64_t rsc, int64_t rows, int64_t cols, int64_t col0,
                        const void* ctx_) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const auto* ctx = static_cast<const LinearEpilogueCtx<T>*>(ctx_);
  const V p = V::set1(ctx->param);
  const T* bias = kBias ? ctx->bias + col0 : nullptr;
  for (int64_t i = 0; i < rows; ++i) {
    T* ci = c + i * rsc;
    T* zi = kZ ? ctx->z + (ci - ctx->y) : nullptr;
    int64_t j = 0;
    for (; j + W <= cols; j += W) {  // full vectors unmasked (masked stores are slow on AVX2)
      V v = V::load(ci + j);
      if (kBias) v = v + V::load(bias + j);
      if (kZ) v.store(zi + j);
      ActOp<A>::fwd(v, p).store(ci + j);
    }
    if (j < cols) {
      const int r = static_cast<int>(cols - j);
      V v = V::load(ci + j, r);
      if (kBias) v = v + V::load(bias + j, r);
      if (kZ) v.store(zi + j, r);
      ActOp<A>::fwd(v, p).store(ci + j, r);
    }
  }
}

template <class T>
GemmEpilogue<T> linear_epilogue_t(Act act, bool has_bias, bool write_z) {
  GemmEpilogue<T> ep;
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    if (has_bias)
      ep.fn =
          write_z ? &linear_epilogue_fn<T, A, true, true> : &linear_epilogue_fn<T, A, true, false>;
    else
      ep.fn = write_z ? &linear_epilogue_fn<T, A, false, true>
                      : &linear_epilogue_fn<T, A, false, false>;
  });
  return ep;
}

// Columns per task of the dz/db pass: a task owns whole columns, so db needs no reduction
// across threads, and each column is summed over the rows in order whatever the thread count.
inline constexpr int64_t kColBlock = 64;

// One strip of at most U vectors (columns [j, j + cols)) over every row: each row's piece is
// whole cache lines of dy, saved and dz (256 bytes on the cheap activations), with U column
// sums in registers. (The pass it replaced walked one vector of columns down all the rows at a
// time: with rows 2 KiB apart, the rows of a strip fall in one or two L1 sets, so each line was
// fetched from L2 once per vector, and every load and store was masked.)
template <class T, Act A, int U>
inline void dz_db_strip(const T* dy, const T* s, T* dz, T* db, int64_t m, int64_t n, int64_t j,
                        int64_t cols, Vec<T> p) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const int nv = static_cast<int>((cols + W - 1) / W);
  const int last = static_cast<int>(cols - int64_t(nv - 1) * W);  // lanes of the last vector
  V acc[U];
#pragma GCC unroll 16
  for (int u = 0; u < U; ++u) acc[u] = V::zero();
  auto one = [&](int64_t off, V& a, int r) {
    V v = r == W ? V::load(dy + off) : V::load(dy + off, r);
    if (A != Act::identity) {
      v = ActOp<A>::bwd(v, r == W ? V::load(s + off) : V::load(s + off, r), p);
      if (r == W)
        v.store(dz + off);
      else
        v.store(dz + off, r);
    }
    a = a + v;
  };
  if (nv == U && last == W) {  // the hot path: U full vectors per row
    for (int64_t i = 0; i < m; ++i) {
      const int64_t row = i * n + j;
#pragma GCC unroll 16
      for (int u = 0; u < U; ++u) one(row + u * W, acc[u], W);
    }
  } else {
    for (int64_t i = 0; i < m; ++i) {
      const int64_t row = i * n + j;
#pragma GCC unroll 16
      for (int u = 0; u < U; ++u)
        if (u < nv) one(row + u * W, acc[u], u == nv - 1 ? last : W);
    }
  }
  if (db) {
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u) {
      if (u >= nv) break;
      if (u == nv - 1 && last < W)
        acc[u].store(db + j + u * W, last);
      else
        acc[u].store(db + j + u * W);
    }
  }
}

template <class T>
void linear_dz_db_t(const T* dy, const T* s, T* dz, T* db, int64_t m, int64_t n, Act act, T param) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V p = V::set1(param);
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    // Vectors per strip: a block's 64 columns at once where the activation's backward leaves
    // registers for the sums (at most 8), else 2.
    constexpr bool kCheap = A == Act::identity || A == Act::relu || A == Act::leaky_relu;
    constexpr int kPerBlock = static_cast<int>(kColBlock / W) > 0 ? kColBlock / W : 1;
    constexpr int U = kCheap ? (kPerBlock < 8 ? kPerBlock : 8) : (kPerBlock < 2 ? kPerBlock : 2);
    auto block = [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; j += int64_t(U) * W) {
        const int64_t cols = j1 - j < int64_t(U) * W ? j1 - j : int64_t(U) * W;
        dz_db_strip<T, A, U>(dy, s, dz, db, m, n, j, cols, p);
      }
    };
    if (A == Act::identity && !db) return;
    const int64_t blocks = (n + kColBlock - 1) / kColBlock;
    const int nt = m * n > kParallelGrain && blocks > 1 ? num_threads() : 1;
    place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t bidx = 0; bidx < blocks; ++bidx) {
      const int64_t j0 = bidx * kColBlock;
      block(j0, j0 + kColBlock < n ? j0 + kColBlock : n);
    }
  });
}

}  // namespace

#define DG_LINEAR_DEFS(T)                                                                     \
  void linear_epilogue(Act act, bool has_bias, bool write_z, GemmEpilogue<T>* out) {          \
    *out = linear_epilogue_t<T>(act, has_bias, write_z);                                      \
  }                                                                                           \
  void linear_dz_db(const T* dy, const T* saved, T* dz, T* db, int64_t m, int64_t n, Act act, \
                    T param) {                                                                \
    linear_dz_db_t(dy, saved, dz, db, m, n, act, param);                                      \
  }
DG_LINEAR_DEFS(float)
DG_LINEAR_DEFS(double)
#undef DG_LINEAR_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
