// Selection: topk along rows. Each row is scanned once, in index order, against the k-th best
// element so far: a vector compare per W elements, and only lanes that beat it (rare on most
// data after the first few hundred elements) are offered to the k best (topk_row).
// torch.topk's order: larger first (smaller for largest = false), NaN above every number, ties
// (-0.0 == 0.0 among them) by the earlier index.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// An integer key in the order of the values: the float's bits made monotonic (sign flip), -0.0
// as 0.0, every NaN above +inf.
template <class T>
inline auto order_key(T v) {
  using K = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  if (std::isnan(v)) return std::numeric_limits<K>::max();
  if (v == T(0)) v = T(0);
  K b;
  std::memcpy(&b, &v, sizeof b);
  return b < 0 ? K(b ^ std::numeric_limits<K>::max()) : b;
}

// The k best of one row (largest: greatest keys first) into val / idx, in order. A candidate
// (an element that beats the k-th best so far) is first inserted into the sorted k best, which
// keeps the k-th as tight as it gets: on most data few elements ever beat it. Where candidates
// keep coming (an ascending row, for the largest: every element beats the k-th), a row that
// has inserted more than 4k + n / 16 switches to a buffer of up to 8k candidates, cut back to
// its k best (nth_element) when full: O(1) amortized a candidate instead of a k-long shift.
template <class T>
void topk_row(const T* x, int64_t n, int64_t k, bool largest, T* val, int64_t* idx) {
  using V = Vec<T>;
  using K = decltype(order_key(T(0)));
  constexpr int W = V::width;
  struct Item {
    K key;
    int64_t pos;
  };
  Item buf[8 * 64];
  const int64_t cap = std::max<int64_t>(8 * k, 32);
  // before(a, b): a ranks before b (the earlier index wins a tie)
  const auto before = [largest](const Item& a, const Item& b) {
    if (a.key != b.key) return largest ? a.key > b.key : a.key < b.key;
    return a.pos < b.pos;
  };
  int64_t cnt = 0, budget = 4 * k + n / 16;
  bool sorted = true;  // buf[0, cnt) sorted (cnt <= k); else a buffer whose buf[k - 1] bounds
  const auto offer = [&](int64_t j) {
    const Item it{order_key(x[j]), j};
    if (cnt >= k && !before(it, buf[k - 1])) return;
    if (sorted) {
      int64_t at = cnt < k ? cnt++ : k - 1;
      for (; at > 0 && before(it, buf[at - 1]); --at) buf[at] = buf[at - 1];
      buf[at] = it;
      if (--budget < 0 && cnt == k) sorted = false;
      return;
    }
    buf[cnt++] = it;
    if (cnt == cap) {
      std::nth_element(buf, buf + (k - 1), buf + cnt, before);
      cnt = k;
    }
  };
  int64_t j = 0;
  for (; j < n && cnt < k; ++j) offer(j);
  // the vector scan: lanes that may beat the k-th (NaN lanes always checked when largest; a
  // NaN k-th when smallest means fewer than k numbers so far: every number is checked)
  for (; j + W <= n; j += W) {
    const T t = x[buf[k - 1].pos];
    const V v = V::load(x + j), vt = V::set1(t);
    Mask<T> m;
    if (largest)
      m = (v > vt) | is_nan(v);
    else if (std::isnan(t))
      m = v == v;
    else
      m = v < vt;
    for (uint32_t b = lane_bits(m); b; b &= b - 1) offer(j + __builtin_ctz(b));
  }
  for (; j < n; ++j) offer(j);
  if (!sorted) {
    if (cnt > k) std::nth_element(buf, buf + (k - 1), buf + cnt, before);
    std::sort(buf, buf + k, before);
  }
  for (int64_t i = 0; i < k; ++i) {
    idx[i] = buf[i].pos;
    val[i] = x[buf[i].pos];
  }
}

}  // namespace

#define DG_SELECT_DEFS(T)                                                                 \
  void topk_rows(const T* x, int64_t rows, int64_t n, int64_t k, bool largest, T* val,    \
                 int64_t* idx) {                                                          \
    parallel_chunks(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, n)), \
                    [&](int64_t b, int64_t e) {                                           \
                      for (int64_t r = b; r < e; ++r)                                     \
                        topk_row(x + r * n, n, k, largest, val + r * k, idx + r * k);     \
                    });                                                                   \
  }
DG_SELECT_DEFS(float)
DG_SELECT_DEFS(double)
#undef DG_SELECT_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
