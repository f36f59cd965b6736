// Selection: topk along rows. Each row is scanned once (in index order, or from its end where it
// runs the other way) against the k-th best element so far, or a bound that a sample of the row
// gives: a vector compare per W elements, and only lanes that beat it (rare on most data after
// the first few hundred elements) are offered to the k best (topk_row).
// torch.topk's order: larger first (smaller for largest = false), NaN above every number, ties
// (-0.0 == 0.0 among them) by the earlier index.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
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

// The best element of one row (k = 1) in two vector passes instead of an offer per candidate
// (an ascending row offers every element: 0.26x torch at 256 x 4096): the best value (a lane-wise
// max / min, NaN lanes noted apart), then the first position that holds it (ties by the earlier
// index, -0.0 == 0.0 as in the general path). largest: a NaN anywhere wins, the first NaN.
// smallest: NaN ranks above every number, so it is the answer only in an all-NaN row.
template <class T>
int64_t top1_pos(const T* x, int64_t n, bool largest) {
  using V = Vec<T>;
  constexpr int W = V::width;
  const T inf = std::numeric_limits<T>::infinity();
  const V fill = V::set1(largest ? -inf : inf);
  V b0 = fill, b1 = fill;
  Mask<T> nan0 = is_nan(fill), nan1 = nan0;  // all false
  int64_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) {
    const V v0 = V::load(x + j), v1 = V::load(x + j + W);
    nan0 = nan0 | is_nan(v0);
    nan1 = nan1 | is_nan(v1);
    // max / min return the second operand where either is NaN: NaN lanes leave b as it was
    b0 = largest ? max(v0, b0) : min(v0, b0);
    b1 = largest ? max(v1, b1) : min(v1, b1);
  }
  const bool any_nan = any(nan0 | nan1);
  alignas(64) T lanes[2 * W];
  b0.store(lanes);
  b1.store(lanes + W);
  T best = largest ? -inf : inf;
  bool tail_nan = false;
  const auto take = [&](T v) {
    if (std::isnan(v))
      tail_nan = true;
    else if (largest ? v > best : v < best)
      best = v;
  };
  for (int l = 0; l < 2 * W; ++l) take(lanes[l]);
  for (; j < n; ++j) take(x[j]);
  const bool nan = any_nan || tail_nan;
  if (largest && nan) {
    for (int64_t i = 0; i < n; ++i)
      if (std::isnan(x[i])) return i;
  }
  // the first position holding best (a vector search; scalar tail)
  const V vb = V::set1(best);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const uint32_t m = lane_bits(V::load(x + i) == vb);
    if (m) return i + __builtin_ctz(m);
  }
  for (; i < n; ++i)
    if (x[i] == best) return i;
  return 0;  // smallest of an all-NaN row (every lane NaN): the first NaN
}

// How far a row runs against the scan in index order: of the 7 steps between 8 evenly spaced
// probes, how many go toward better elements (ascending for the largest). A sorted row's 7 all
// do (topk_row then scans it from its end): scanned in index order, such a row offers nearly
// every element (each beats the k-th best so far); scanned from its end, it inserts its k best
// first and then nearly nothing. On rows without a trend the two directions cost the same in
// expectation, so a probe that misreads one costs little.
constexpr int kProbes = 8;
inline int64_t probe_pos(int i, int64_t n) { return i * (n - 1) / (kProbes - 1); }

template <class T>
int runs_against(const T* x, int64_t n, bool largest) {
  auto prev = order_key(x[0]);
  int better = 0;
  for (int i = 1; i < kProbes; ++i) {
    const auto key = order_key(x[probe_pos(i, n)]);
    better += largest ? key > prev : key < prev;
    prev = key;
  }
  return better;
}

// Packed candidates: the unsigned order key (complemented when smallest) in the high half,
// the complement of the position in the low half, so a greater key ranks first in torch's
// order (ties by the earlier index) and every key is distinct: 64 bits for float32 (rows of
// n < 2^32), 128 for float64, whose key and position do not fit in 64 (a 128-bit compare is
// still two instructions without a branch).
__extension__ typedef unsigned __int128 u128;
template <class T>
using Packed = std::conditional_t<sizeof(T) == 4, uint64_t, u128>;

inline uint64_t pack_key(int32_t key, bool largest, int64_t pos) {
  uint32_t u = uint32_t(key) ^ 0x80000000u;
  if (!largest) u = ~u;
  return (uint64_t(u) << 32) | uint64_t(~uint32_t(pos));
}
inline u128 pack_key(int64_t key, bool largest, int64_t pos) {
  uint64_t u = uint64_t(key) ^ (uint64_t(1) << 63);
  if (!largest) u = ~u;
  return (u128(u) << 64) | u128(~uint64_t(pos));
}
inline int64_t packed_pos(uint64_t p) { return int64_t(~uint32_t(p)); }
inline int64_t packed_pos(u128 p) { return int64_t(~uint64_t(p)); }

// Moves the k greatest of a[0, n) (distinct keys, 0 < k < n, n <= 512) to a[0, k), the k-th
// greatest to a[k - 1] (a[k, n) is left undefined): a quickselect whose partition is
// branch-free, which an ascending row's buffer cuts at ~1 ns an element where
// std::nth_element's mispredicted branches cost several. The partition writes every element
// twice, to the greater side (compacted in place) and to a scratch lesser side, advancing one
// index by the compare; the lesser side is copied back only where the k-th lies in it.
// Median-of-3 pivots; a run of bad pivots falls back to std::nth_element.
template <class U>
void select_greatest(U* a, int64_t n, int64_t k) {
  U less[8 * 64];
  int64_t lo = 0, hi = n;
  const int64_t target = k - 1;
  for (int round = 0; hi - lo > 1; ++round) {
    if (round == 32) {
      std::nth_element(a + lo, a + target, a + hi, std::greater<U>());
      return;
    }
    const int64_t i0 = lo, i1 = lo + (hi - lo) / 2, i2 = hi - 1;
    const U x0 = a[i0], x1 = a[i1], x2 = a[i2];
    int64_t m;  // the index of the median of x0, x1, x2
    if (x0 < x1)
      m = x1 < x2 ? i1 : (x0 < x2 ? i2 : i0);
    else
      m = x0 < x2 ? i0 : (x1 < x2 ? i2 : i1);
    const U piv = a[m];
    a[m] = a[hi - 1];
    int64_t s = lo, nl = 0;
    for (int64_t i = lo; i < hi - 1; ++i) {
      const U v = a[i];
      const bool g = v > piv;
      a[s] = v;  // s <= i: a slot already read
      less[nl] = v;
      s += g;
      nl += !g;
    }
    a[s] = piv;  // a[lo, s) > piv > less[0, nl)
    if (s == target) return;
    if (target < s) {
      hi = s;
    } else {
      std::memcpy(a + s + 1, less, size_t(nl) * sizeof(U));
      lo = s + 1;
    }
  }
}

// A bound for the k-th best of a float32 row from a sample: the 12th best of s = 3n / k
// samples, one at a hashed place in each stride of n / s, so that ~4k of the row's elements are
// at least as good (12 / s of them) and fewer than k only with odds of ~1e-4 on a row in random
// order. Returned as the packed key that every element at least as good as the sample's 12th
// exceeds (the key with a zero position half: ~pos > 0 for pos < 2^32 - 1), and its value.
template <class T>
Packed<T> sample_bound(const T* x, int64_t n, int64_t k, bool largest, T& value) {
  constexpr int64_t r = 12;
  constexpr int half = 4 * sizeof(Packed<T>);
  Packed<T> a[512];
  const int64_t s = std::min<int64_t>(3 * n / k, 512), stride = n / s;
  for (int64_t i = 0; i < s; ++i) {
    const int64_t q = i * stride + int64_t((uint64_t(i) * 0x9E3779B97F4A7C15ull) >> 40) % stride;
    a[i] = pack_key(order_key(x[q]), largest, q);
  }
  select_greatest(a, s, r);
  value = x[packed_pos(a[r - 1])];
  return a[r - 1] >> half << half;
}

// The k best of one row (largest: greatest keys first) into val / idx, in order. A candidate
// (an element that beats the k-th best so far) is first inserted into the sorted k best, which
// keeps the k-th as tight as it gets: on most data few elements ever beat it. Where candidates
// keep coming (an ascending row, for the largest: every element beats the k-th), a row that
// has inserted more than 4k + n / 16 switches to a buffer of up to 8k candidates, cut back to
// its k best when full: O(1) amortized a candidate instead of a k-long shift. The buffer holds
// packed keys (pack_key) cut by select_greatest ({key, pos} items cut by std::nth_element for
// float32 rows of n >= 2^32). pivot: the buffer from the start, bounded by sample_bound rather
// than by the first k elements, so that the scan's threshold starts near the k-th and ~4k
// elements are ever candidates, where the sorted k best would insert ~k ln(n / k) of them at
// ~k / 2 shifts each (random rows, k = 64: 3x faster).
template <class T, bool back>
void topk_scan(const T* x, int64_t n, int64_t k, bool largest, bool pivot, T* val, int64_t* idx) {
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
  // packed: the buffer is pk, pk_kth the k-th best's packed key (float32 rows: n < 2^32)
  using U = Packed<T>;
  const bool pack_ok = sizeof(T) == 8 || n <= int64_t(0xffffffff);
  bool packed = false;
  U pk[8 * 64];
  U pk_kth = 0;
  // virt: pk_kth is a sample's bound (sample_bound, value tv), not the k-th of the elements
  // scanned: lanes that tie it are candidates, and fewer than k candidates in all leave the
  // row to the scan without it
  bool virt = false;
  T tv = T(0);
  if (pivot) {
    pk_kth = sample_bound(x, n, k, largest, tv);
    packed = virt = true;
    sorted = false;
  }
  const auto offer = [&](int64_t j) {
    const Item it{order_key(x[j]), j};
    if (packed) {
      const U p = pack_key(it.key, largest, j);
      if (p <= pk_kth) return;
      pk[cnt++] = p;
      if (cnt == cap) {
        select_greatest(pk, cnt, k);
        pk_kth = pk[k - 1];
        cnt = k;
        virt = false;
      }
      return;
    }
    if (cnt >= k && !before(it, buf[k - 1])) return;
    if (sorted) {
      int64_t at = cnt < k ? cnt++ : k - 1;
      for (; at > 0 && before(it, buf[at - 1]); --at) buf[at] = buf[at - 1];
      buf[at] = it;
      if (--budget < 0 && cnt == k) {
        sorted = false;
        if (pack_ok) {
          for (int64_t i = 0; i < k; ++i) pk[i] = pack_key(buf[i].key, largest, buf[i].pos);
          pk_kth = pk[k - 1];
          packed = true;
        }
      }
      return;
    }
    buf[cnt++] = it;
    if (cnt == cap) {
      std::nth_element(buf, buf + (k - 1), buf + cnt, before);
      cnt = k;
    }
  };
  // the vector scan of x[j, j + W): lanes that may beat the k-th (NaN lanes always checked when
  // largest; a NaN k-th when smallest means fewer than k numbers so far: every number checked,
  // and every NaN too when back). The k-th's value t is read again only after lanes were
  // offered (most blocks offer none).
  T t = T(0);
  V vt = V::set1(t);
  const auto kth = [&] {
    t = virt ? tv : x[packed ? packed_pos(pk_kth) : buf[k - 1].pos];
    vt = V::set1(t);
  };
  const auto scan = [&](int64_t j) __attribute__((always_inline)) {
    const V v = V::load(x + j);
    Mask<T> m;
    if (largest)
      m = (back || virt ? v >= vt : v > vt) | is_nan(v);
    else if (std::isnan(t))
      m = back || virt ? (v == v) | is_nan(v) : v == v;
    else
      m = back || virt ? v <= vt : v < vt;
    uint32_t b = lane_bits(m);
    if (!b) return;
    if (packed) {  // branch-free appends (a lane may not beat the k-th); room for W
      for (; b; b &= b - 1) {
        const int64_t q = j + __builtin_ctz(b);
        const U p = pack_key(order_key(x[q]), largest, q);
        pk[cnt] = p;
        cnt += p > pk_kth;
      }
      if (cnt > cap - W) {
        select_greatest(pk, cnt, k);
        pk_kth = pk[k - 1];
        cnt = k;
        virt = false;
      }
      kth();
      return;
    }
    for (; b; b &= b - 1) offer(j + __builtin_ctz(b));
    kth();
  };
  if constexpr (back) {  // [e, n) scanned
    int64_t e = n;
    while (e > 0 && cnt < k) offer(--e);
    kth();
    for (; e >= W; e -= W) scan(e - W);
    while (e > 0) offer(--e);
  } else {  // [0, j) scanned
    int64_t j = 0;
    for (; j < n && cnt < k && !virt; ++j) offer(j);
    kth();
    for (; j + W <= n; j += W) scan(j);
    for (; j < n; ++j) offer(j);
  }
  if (packed) {
    if (cnt < k) {  // (virt: the sample's bound was above the k-th)
      topk_scan<T, back>(x, n, k, largest, false, val, idx);
      return;
    }
    if (cnt > k) select_greatest(pk, cnt, k);
    std::sort(pk, pk + k, std::greater<U>());
    for (int64_t i = 0; i < k; ++i) {
      idx[i] = packed_pos(pk[i]);
      val[i] = x[idx[i]];
    }
    return;
  }
  if (!sorted) {
    if (cnt > k) std::nth_element(buf, buf + (k - 1), buf + cnt, before);
    std::sort(buf, buf + k, before);
  }
  for (int64_t i = 0; i < k; ++i) {
    idx[i] = buf[i].pos;
    val[i] = x[buf[i].pos];
  }
}

// The k best of one row: top1_pos for k = 1, else topk_scan, from the row's end (back) where
// the row runs against index order (runs_against). Scanned from the end, the k-th best so far
// may come after a lane, so a lane that ties it may beat it (the earlier index): the vector
// compare keeps ties there and the exact order (before, pack_key) decides. Rows in index order
// with a large k start from a sample's bound (pivot), unless their probes all step toward worse
// elements (a row sorted the scan's way: its first k elements are the k best, cheapest found
// without a sample); the sample needs n / k <= 512 / 3 to hold ~12 elements above the bound.
template <class T>
void topk_row(const T* x, int64_t n, int64_t k, bool largest, T* val, int64_t* idx) {
  if (k == 1 && n > 0) {
    const int64_t p = top1_pos(x, n, largest);
    idx[0] = p;
    val[0] = x[p];
    return;
  }
  const int better = n >= 32 && n > 2 * k ? runs_against(x, n, largest) : 0;
  if (better >= kProbes - 2) {
    topk_scan<T, true>(x, n, k, largest, false, val, idx);
  } else {
    const bool pivot =
        better > 1 && k >= 32 && n >= 16 * k && 3 * n <= 512 * k && n <= int64_t(0xffffffff);
    topk_scan<T, false>(x, n, k, largest, pivot, val, idx);
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
