// Layout ops: flip (torch.flip) of a C-contiguous array. Elements are moved, never computed
// on: the float / double kernels serve every 4- and 8-byte dtype (a load, a lane permute and a
// store keep any bit pattern, NaN payloads included).
#include <algorithm>
#include <cstring>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// dst[i] = src[n - 1 - i]: whole vectors read from the end, their lanes reversed.
template <class T>
void reverse_row(const T* src, T* dst, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::width;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const V a = V::load(src + n - i - W), b = V::load(src + n - i - 2 * W);
    reverse_lanes(a).store(dst + i);
    reverse_lanes(b).store(dst + i + W);
  }
  for (; i + W <= n; i += W) reverse_lanes(V::load(src + n - i - W)).store(dst + i);
  for (; i < n; ++i) dst[i] = src[n - 1 - i];
}

}  // namespace

// y = x flipped along the dims flagged in flip[], x of shape[nd] (nd >= 1; the caller merges
// neighbouring dims that are flipped alike, so nd is small): each row of the last axis is
// copied or reversed from the source row whose leading index is the mirror of the
// destination's along the flipped dims. Threads split the rows.
#define DG_LAYOUT_DEFS(T)                                                               \
  void flip_copy(const T* x, T* y, const int64_t* shape, const uint8_t* flip, int nd) { \
    const int64_t cols = shape[nd - 1];                                                 \
    int64_t rows = 1;                                                                   \
    for (int d = 0; d < nd - 1; ++d) rows *= shape[d];                                  \
    if (rows == 0 || cols == 0) return;                                                 \
    const bool rev = flip[nd - 1] != 0;                                                 \
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / cols);                  \
    parallel_chunks(rows, grain, [&](int64_t b, int64_t e) {                            \
      for (int64_t r = b; r < e; ++r) {                                                 \
        int64_t rem = r, src = 0, stride = 1;                                           \
        for (int d = nd - 2; d >= 0; --d) {                                             \
          const int64_t i = rem % shape[d];                                             \
          rem /= shape[d];                                                              \
          src += (flip[d] ? shape[d] - 1 - i : i) * stride;                             \
          stride *= shape[d];                                                           \
        }                                                                               \
        if (rev)                                                                        \
          reverse_row(x + src * cols, y + r * cols, cols);                              \
        else                                                                            \
          std::memcpy(y + r * cols, x + src * cols, sizeof(T) * cols);                  \
      }                                                                                 \
    });                                                                                 \
  }
DG_LAYOUT_DEFS(float)
DG_LAYOUT_DEFS(double)
#undef DG_LAYOUT_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
