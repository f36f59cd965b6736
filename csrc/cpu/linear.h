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
    for (int64_t j = 0; j < cols; j += W) {
      const int r = cols - j < W ? static_cast<int>(cols - j) : W;
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
// across threads.
inline constexpr int64_t kColBlock = 64;

template <class T>
void linear_dz_db_t(const T* dy, const T* s, T* dz, T* db, int64_t m, int64_t n, Act act, T param) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const V p = V::set1(param);
  with_act(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    auto block = [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; j += W) {
        const int r = j1 - j < W ? static_cast<int>(j1 - j) : W;
        V acc = V::zero();
        for (int64_t i = 0; i < m; ++i) {
          V v = V::load(dy + i * n + j, r);
          if (A != Act::identity) {
            v = ActOp<A>::bwd(v, V::load(s + i * n + j, r), p);
            v.store(dz + i * n + j, r);
          }
          acc = acc + v;
        }
        if (db) acc.store(db + j, r);
      }
    };
    if (A == Act::identity && !db) return;
    const int64_t blocks = (n + kColBlock - 1) / kColBlock;
    const int nt = m * n > kParallelGrain && blocks > 1 ? num_threads() : 1;
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
