// Sampling at precomputed taps: grid_sample's channel-wide work (python/deltagrad/
// _functional_unfold.py computes the taps: per batch item b, tap t and output position j a flat
// pixel index idx[b, t, j] into the (npix) pixels of each channel, and a weight wts[b, t, j]).
//   forward:  out[b, c, j] = sum_t wts[b, t, j] * src[b, c, idx[b, t, j]]
//   scatter:  gx[b, c, idx[b, t, j]] += wts[b, t, j] * go[b, c, j]
//   dot:      sv[b, t, j] = sum_c go[b, c, j] * src[b, c, idx[b, t, j]]
// An index outside [0, npix) is a tap outside the input: it reads a zero pixel (a read, not a
// skipped term: an inf or NaN weight or gradient there still gives NaN, as torch's zero padding)
// and the scatter drops it. Null weights: every weight is 1 (nearest: one tap, a copy).
// The gathers run across j (contiguous output positions of one tap and channel): AVX-512 / AVX2
// masked gathers (a lane outside is never read), or scalar loads into a vector (vector = false,
// or a float row of 2^31 pixels or more, past the 32-bit gather indices).
// Every result element is one fixed chain whatever the thread count: the forward and the dot
// sum their terms in order (taps ascending, channels ascending), and the scatter runs over
// whole (b, c) rows, each thread adding into rows of its own, in tap-major, then j order (the
// order of np.add.at over the flattened (b, t, j) taps).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cpu/kernel_common.h"

namespace dg {
namespace DG_ISA_NS {
namespace {

// Channels of one batch item the forward and the scatter handle together: each tap's indices
// and weights are loaded once for all of them, and the scatter's store-to-load chains (taps of
// neighbouring outputs landing on one pixel) interleave across channels.
constexpr int kChannels = 4;
// Taps the dot keeps accumulators for at once (bilinear 2-D: 4, 3-D: 8, bicubic: 16 in 2 passes).
constexpr int kTapBlock = 8;

// W lanes of one tap's indices (W = Vec<T>::width; the caller pads a tail with -1, outside),
// gathered with scalar loads: an index outside [0, npix) reads 0 (npix >= 1).
template <class T>
struct ScalarTaps {
  const int64_t* p;
  uint64_t npix;
  ScalarTaps() = default;
  ScalarTaps(const int64_t* ip, int64_t np) : p(ip), npix(uint64_t(np)) {}
  Vec<T> gather(const T* row) const {
    constexpr int W = Vec<T>::width;
    alignas(64) T tmp[W];
    for (int l = 0; l < W; ++l) {
      const uint64_t i = uint64_t(p[l]);
      const bool in = i < npix;
      const T v = row[in ? i : 0];  // branch-free: a clamped read, then the select
      tmp[l] = in ? v : T(0);
    }
    return Vec<T>::load(tmp);
  }
};

#if defined(__AVX512F__)
constexpr bool kVectorGathers = true;
template <class T>
struct VectorTaps;
template <>
struct VectorTaps<float> {  // 16 lanes: 32-bit indices (npix <= INT32_MAX), a lane mask
  __m512i i;
  __mmask16 k;
  VectorTaps() = default;
  VectorTaps(const int64_t* p, int64_t npix) {
    const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 8);
    const __m512i np = _mm512_set1_epi64(npix);
    const __mmask8 ka = _mm512_cmplt_epu64_mask(a, np), kb = _mm512_cmplt_epu64_mask(b, np);
    i = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(a)),
                           _mm512_cvtepi64_epi32(b), 1);
    k = static_cast<__mmask16>(unsigned(ka) | (unsigned(kb) << 8));
  }
  Vec<float> gather(const float* row) const {
    return {_mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, i, row, 4)};
  }
};
template <>
struct VectorTaps<double> {  // 8 lanes: the 64-bit indices as they are
  __m512i i;
  __mmask8 k;
  VectorTaps() = default;
  VectorTaps(const int64_t* p, int64_t npix) {
    i = _mm512_loadu_si512(p);
    k = _mm512_cmplt_epu64_mask(i, _mm512_set1_epi64(npix));
  }
  Vec<double> gather(const double* row) const {
    return {_mm512_mask_i64gather_pd(_mm512_setzero_pd(), k, i, row, 8)};
  }
};
#elif defined(__AVX2__)
constexpr bool kVectorGathers = true;
// lanes of a 64-bit index in [0, npix): all ones
inline __m256i in_range(__m256i a, int64_t npix) {
  return _mm256_and_si256(_mm256_cmpgt_epi64(a, _mm256_set1_epi64x(-1)),
                          _mm256_cmpgt_epi64(_mm256_set1_epi64x(npix), a));
}
template <class T>
struct VectorTaps;
template <>
struct VectorTaps<float> {  // 8 lanes: 32-bit indices (npix <= INT32_MAX), a lane mask
  __m256i i;
  __m256 k;
  VectorTaps() = default;
  VectorTaps(const int64_t* p, int64_t npix) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4));
    const __m256i lo = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);  // each 64-bit lane's low half
    const auto pack = [&lo](__m256i x, __m256i y) {
      return _mm256_blend_epi32(_mm256_permutevar8x32_epi32(x, lo),
                                _mm256_permutevar8x32_epi32(y, lo), 0xF0);
    };
    i = pack(a, b);
    k = _mm256_castsi256_ps(pack(in_range(a, npix), in_range(b, npix)));
  }
  Vec<float> gather(const float* row) const {
    return {_mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, i, k, 4)};
  }
};
template <>
struct VectorTaps<double> {  // 4 lanes: the 64-bit indices as they are
  __m256i i;
  __m256d k;
  VectorTaps() = default;
  VectorTaps(const int64_t* p, int64_t npix) {
    i = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    k = _mm256_castsi256_pd(in_range(i, npix));
  }
  Vec<double> gather(const double* row) const {
    return {_mm256_mask_i64gather_pd(_mm256_setzero_pd(), row, i, k, 8)};
  }
};
#else
constexpr bool kVectorGathers = false;
template <class T>
using VectorTaps = ScalarTaps<T>;
#endif

// The W indices of tap row ip from j (len < W: a copy padded with -1 into pad).
inline const int64_t* tap_lanes(const int64_t* ip, int len, int W, int64_t* pad) {
  if (len == W) return ip;
  for (int l = 0; l < W; ++l) pad[l] = l < len ? ip[l] : -1;
  return pad;
}

// out rows [b * c + c0, + CB) of one batch item: taps from ib (nt, m), weights from wb (null:
// one tap, a copy), pixels from s (CB rows of npix).
template <class T, class G, int CB>
void forward_block(const T* s, const int64_t* ib, const T* wb, T* o, int64_t npix, int64_t nt,
                   int64_t m) {
  using V = Vec<T>;
  constexpr int W = V::width;
  alignas(64) int64_t pad[W];
  for (int64_t j = 0; j < m; j += W) {
    const int len = static_cast<int>(std::min<int64_t>(W, m - j));
    V acc[CB];
    for (int q = 0; q < CB; ++q) acc[q] = V::zero();
    for (int64_t t = 0; t < nt; ++t) {
      const G g(tap_lanes(ib + t * m + j, len, W, pad), npix);
      if (wb == nullptr) {
        for (int q = 0; q < CB; ++q) acc[q] = g.gather(s + q * npix);
      } else {
        const V w = load_n(wb + t * m + j, len);
        for (int q = 0; q < CB; ++q) acc[q] = fmadd(w, g.gather(s + q * npix), acc[q]);
      }
    }
    for (int q = 0; q < CB; ++q) store_n(acc[q], o + q * m + j, len);
  }
}

// gx rows [b * c + c0, + CB) of one batch item (set, not added to), from go's rows.
template <class T, int CB>
void scatter_block(const T* go, const int64_t* ib, const T* wb, T* gx, int64_t npix, int64_t nt,
                   int64_t m) {
  using V = Vec<T>;
  constexpr int W = V::width;
  for (int64_t i = 0; i < CB * npix; ++i) gx[i] = T(0);
  alignas(64) T prod[CB][W];
  const uint64_t np = uint64_t(npix);
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t* ip = ib + t * m;
    for (int64_t j = 0; j < m; j += W) {
      const int len = static_cast<int>(std::min<int64_t>(W, m - j));
      if (wb == nullptr) {
        for (int q = 0; q < CB; ++q) load_n(go + q * m + j, len).store(prod[q]);
      } else {
        const V w = load_n(wb + t * m + j, len);
        for (int q = 0; q < CB; ++q) (w * load_n(go + q * m + j, len)).store(prod[q]);
      }
      for (int l = 0; l < len; ++l) {
        const uint64_t p = uint64_t(ip[j + l]);
        if (p >= np) continue;
        for (int q = 0; q < CB; ++q) gx[q * npix + int64_t(p)] += prod[q][l];
      }
    }
  }
}

// Rows [r0, r1) of the n * c rows, in blocks of kChannels channels of one batch item (fewer at a
// batch item's end or the range's): f(std::integral_constant<int, CB>, b, ch) for the block
// from row b * c + ch.
template <class F>
void channel_blocks(int64_t r0, int64_t r1, int64_t c, F&& f) {
  for (int64_t r = r0; r < r1;) {
    const int64_t b = r / c, ch = r % c;
    if (std::min(r1 - r, c - ch) >= kChannels) {
      f(std::integral_constant<int, kChannels>(), b, ch);
      r += kChannels;
    } else {
      f(std::integral_constant<int, 1>(), b, ch);
      r += 1;
    }
  }
}

template <class T, class G>
void forward_rows(const T* src, const int64_t* idx, const T* wts, T* out, int64_t n, int64_t c,
                  int64_t npix, int64_t nt, int64_t m) {
  const int64_t work = std::max<int64_t>(1, std::max<int64_t>(nt, 1) * m);
  parallel_chunks(n * c, std::max<int64_t>(1, kParallelGrain / work), [&](int64_t r0, int64_t r1) {
    channel_blocks(r0, r1, c, [&](auto cb, int64_t b, int64_t ch) {
      constexpr int CB = decltype(cb)::value;
      const int64_t r = b * c + ch;
      forward_block<T, G, CB>(src + r * npix, idx + b * nt * m,
                              wts == nullptr ? nullptr : wts + b * nt * m, out + r * m, npix, nt,
                              m);
    });
  });
}

template <class T>
void scatter_rows(const T* go, const int64_t* idx, const T* wts, T* gx, int64_t n, int64_t c,
                  int64_t npix, int64_t nt, int64_t m) {
  const int64_t work = std::max<int64_t>(1, nt * m + npix);
  parallel_chunks(n * c, std::max<int64_t>(1, kParallelGrain / work), [&](int64_t r0, int64_t r1) {
    channel_blocks(r0, r1, c, [&](auto cb, int64_t b, int64_t ch) {
      constexpr int CB = decltype(cb)::value;
      const int64_t r = b * c + ch;
      scatter_block<T, CB>(go + r * m, idx + b * nt * m,
                           wts == nullptr ? nullptr : wts + b * nt * m, gx + r * npix, npix, nt, m);
    });
  });
}

// sv for the output positions [j, j + W) of batch item b (len of them), taps [t0, t0 + TB).
template <class T, class G, int TB>
void dot_block(const T* go, const T* src, const int64_t* ib, T* svb, int64_t c, int64_t npix,
               int64_t m, int64_t j, int len, int64_t t0) {
  using V = Vec<T>;
  constexpr int W = V::width;
  alignas(64) int64_t pad[TB][W];
  G g[TB];
  V acc[TB];
  for (int t = 0; t < TB; ++t) {
    g[t] = G(tap_lanes(ib + (t0 + t) * m + j, len, W, pad[t]), npix);
    acc[t] = V::zero();
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    const V gv = load_n(go + ch * m + j, len);
    const T* s = src + ch * npix;
    for (int t = 0; t < TB; ++t) acc[t] = fmadd(gv, g[t].gather(s), acc[t]);
  }
  for (int t = 0; t < TB; ++t) store_n(acc[t], svb + (t0 + t) * m + j, len);
}

template <class T, class G>
void dot_units(const T* go, const T* src, const int64_t* idx, T* sv, int64_t n, int64_t c,
               int64_t npix, int64_t nt, int64_t m) {
  constexpr int W = Vec<T>::width;
  const int64_t blocks = (m + W - 1) / W;
  const int64_t work = std::max<int64_t>(1, c * nt * W);
  parallel_chunks(n * blocks, std::max<int64_t>(1, kParallelGrain / work),
                  [&](int64_t u0, int64_t u1) {
                    for (int64_t u = u0; u < u1; ++u) {
                      const int64_t b = u / blocks, j = (u % blocks) * W;
                      const int len = static_cast<int>(std::min<int64_t>(W, m - j));
                      const T* gob = go + b * c * m;
                      const T* sb = src + b * c * npix;
                      const int64_t* ib = idx + b * nt * m;
                      T* svb = sv + b * nt * m;
                      int64_t t = 0;
                      for (; t + kTapBlock <= nt; t += kTapBlock)
                        dot_block<T, G, kTapBlock>(gob, sb, ib, svb, c, npix, m, j, len, t);
                      for (; t + 4 <= nt; t += 4)
                        dot_block<T, G, 4>(gob, sb, ib, svb, c, npix, m, j, len, t);
                      for (; t < nt; ++t)
                        dot_block<T, G, 1>(gob, sb, ib, svb, c, npix, m, j, len, t);
                    }
                  });
}

// The vector gathers where they apply: 32-bit indices for float.
template <class T>
bool use_vector_gathers(bool vector, int64_t npix) {
  return kVectorGathers && vector &&
         (sizeof(T) == 8 || npix <= int64_t(std::numeric_limits<int32_t>::max()));
}

}  // namespace

#define DG_SAMPLE_DEFS(T)                                                                         \
  void sample_forward(const T* src, const int64_t* idx, const T* wts, T* out, int64_t n,          \
                      int64_t c, int64_t npix, int64_t nt, int64_t m, bool vector) {              \
    if (use_vector_gathers<T>(vector, npix))                                                      \
      forward_rows<T, VectorTaps<T>>(src, idx, wts, out, n, c, npix, nt, m);                      \
    else                                                                                          \
      forward_rows<T, ScalarTaps<T>>(src, idx, wts, out, n, c, npix, nt, m);                      \
  }                                                                                               \
  void sample_scatter(const T* go, const int64_t* idx, const T* wts, T* gx, int64_t n, int64_t c, \
                      int64_t npix, int64_t nt, int64_t m) {                                      \
    scatter_rows(go, idx, wts, gx, n, c, npix, nt, m);                                            \
  }                                                                                               \
  void sample_dot(const T* go, const T* src, const int64_t* idx, T* sv, int64_t n, int64_t c,     \
                  int64_t npix, int64_t nt, int64_t m, bool vector) {                             \
    if (use_vector_gathers<T>(vector, npix))                                                      \
      dot_units<T, VectorTaps<T>>(go, src, idx, sv, n, c, npix, nt, m);                           \
    else                                                                                          \
      dot_units<T, ScalarTaps<T>>(go, src, idx, sv, n, c, npix, nt, m);                           \
  }
DG_SAMPLE_DEFS(float)
DG_SAMPLE_DEFS(double)
#undef DG_SAMPLE_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg
