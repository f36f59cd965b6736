// One SIMD vector type per ISA, chosen by the compile flags of the including file.
//
// Kernels are written once as templates over Vec<T> (csrc/cpu/<op>.h) and compiled three times,
// by files CMake generates (cmake/cpu_isa.cmake): <op>_avx512.cpp (Vec<float> = 16 lanes),
// <op>_avx2.cpp (8 lanes) and <op>_generic.cpp (the portable fallback, 1 lane). Each defines
// DG_ISA_NS (avx512 | avx2 | generic) before including the op's header, so every inline function
// lands in its own namespace: the linker can then never merge an AVX2 copy of a helper into the
// generic build (the ODR trap of per-file ISA flags).
#pragma once

#ifndef DG_ISA_NS
#error "define DG_ISA_NS (generic | avx2 | avx512) before including cpu/simd.h"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12 warns falsely inside its own AVX-512 intrinsics (their _mm512_undefined_ps()
// pass-through, GCC bug 105593). The warning's location is the system header, so the pragma
// must precede its inclusion.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace dg {
namespace DG_ISA_NS {

template <class T>
struct Vec;

// Masked and non-temporal loads/stores are builtins that AddressSanitizer does not instrument
// (plain loadu/storeu are). In the sanitizer build (dev/sanitize.sh) their first and last lane
// are read through checked scalar loads, so a tail mask one lane too long is reported like any
// other overflow. Nothing in a normal build.
template <class T>
inline void asan_check_lanes([[maybe_unused]] const T* p, [[maybe_unused]] int n) {
#if defined(__SANITIZE_ADDRESS__)
  if (n > 0) {
    (void)*static_cast<const volatile T*>(p);
    (void)*static_cast<const volatile T*>(p + n - 1);
  }
#endif
}

#if defined(__AVX512F__)
inline constexpr const char* kIsaName = "avx512";

template <>
struct Vec<float> {
  static constexpr int width = 16;
  __m512 v;
  static Vec zero() { return {_mm512_setzero_ps()}; }
  static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  // lane i = p[i * stride] (|stride| * width < 2^31)
  static Vec gather(const float* p, int64_t stride) {
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(static_cast<int>(stride)));
    return {_mm512_i32gather_ps(idx, p, 4)};
  }
  static Vec load(const float* p, int n) {  // n < width lanes; the rest are 0
    asan_check_lanes(p, n);
    return {_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p)};
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store(float* p, int n) const {
    asan_check_lanes(p, n);
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
  float reduce_add() const { return _mm512_reduce_add_ps(v); }
  float reduce_max() const { return _mm512_reduce_max_ps(v); }
  // non-temporal store (p 64-byte aligned): for outputs too large to stay in cache
  void store_stream(float* p) const {
    asan_check_lanes(p, width);
    _mm512_stream_ps(p, v);
  }
  // Winograd (conv's winograd.h): ev, od = the even and odd elements of the 2 W values a, b; and
  // back: lo, hi = a0 b0 a1 b1 ... (the first W), the next W.
  static void deinterleave(Vec a, Vec b, Vec& ev, Vec& od) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    ev.v = _mm512_permutex2var_ps(a.v, ie, b.v);
    od.v = _mm512_permutex2var_ps(a.v, io, b.v);
  }
  static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    lo.v = _mm512_permutex2var_ps(a.v, il, b.v);
    hi.v = _mm512_permutex2var_ps(a.v, ih, b.v);
  }
};
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) {
  return {_mm512_fmadd_ps(a.v, b.v, c.v)};
}
inline Vec<float> operator+(Vec<float> a, Vec<float> b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec<float> operator-(Vec<float> a, Vec<float> b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vec<float> operator*(Vec<float> a, Vec<float> b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec<float> operator/(Vec<float> a, Vec<float> b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vec<float> max(Vec<float> a, Vec<float> b) { return {_mm512_max_ps(a.v, b.v)}; }
inline Vec<float> min(Vec<float> a, Vec<float> b) { return {_mm512_min_ps(a.v, b.v)}; }

template <>
struct Vec<double> {
  static constexpr int width = 8;
  __m512d v;
  static Vec zero() { return {_mm512_setzero_pd()}; }
  static Vec set1(double x) { return {_mm512_set1_pd(x)}; }
  static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static Vec gather(const double* p, int64_t stride) {  // lane i = p[i * stride]
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(stride)));
    return {_mm512_i32gather_pd(idx, p, 8)};
  }
  static Vec load(const double* p, int n) {
    asan_check_lanes(p, n);
    return {_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1u), p)};
  }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void store(double* p, int n) const {
    asan_check_lanes(p, n);
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1u), v);
  }
  double reduce_add() const { return _mm512_reduce_add_pd(v); }
  double reduce_max() const { return _mm512_reduce_max_pd(v); }
  void store_stream(double* p) const {
    asan_check_lanes(p, width);
    _mm512_stream_pd(p, v);
  }
  // Winograd: as Vec<float>'s
  static void deinterleave(Vec a, Vec b, Vec& ev, Vec& od) {
    const __m512i ie = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i io = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    ev.v = _mm512_permutex2var_pd(a.v, ie, b.v);
    od.v = _mm512_permutex2var_pd(a.v, io, b.v);
  }
  static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
    const __m512i il = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i ih = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    lo.v = _mm512_permutex2var_pd(a.v, il, b.v);
    hi.v = _mm512_permutex2var_pd(a.v, ih, b.v);
  }
};
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) {
  return {_mm512_fmadd_pd(a.v, b.v, c.v)};
}
inline Vec<double> operator+(Vec<double> a, Vec<double> b) { return {_mm512_add_pd(a.v, b.v)}; }
inline Vec<double> operator-(Vec<double> a, Vec<double> b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline Vec<double> operator*(Vec<double> a, Vec<double> b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline Vec<double> operator/(Vec<double> a, Vec<double> b) { return {_mm512_div_pd(a.v, b.v)}; }
inline Vec<double> max(Vec<double> a, Vec<double> b) { return {_mm512_max_pd(a.v, b.v)}; }
inline Vec<double> min(Vec<double> a, Vec<double> b) { return {_mm512_min_pd(a.v, b.v)}; }

// ---- masks, selects and the bit-level helpers the vector math (simd_math.h) is built from
template <class T>
struct Mask;
template <>
struct Mask<float> {
  __mmask16 m;
};
template <>
struct Mask<double> {
  __mmask8 m;
};

#define DG_SIMD_CMP(T, SUF, MT)                                                                 \
  inline Mask<T> operator<(Vec<T> a, Vec<T> b) {                                                \
    return {_mm512_cmp_##SUF##_mask(a.v, b.v, _CMP_LT_OQ)};                                     \
  }                                                                                             \
  inline Mask<T> operator<=(Vec<T> a, Vec<T> b) {                                               \
    return {_mm512_cmp_##SUF##_mask(a.v, b.v, _CMP_LE_OQ)};                                     \
  }                                                                                             \
  inline Mask<T> operator>(Vec<T> a, Vec<T> b) {                                                \
    return {_mm512_cmp_##SUF##_mask(a.v, b.v, _CMP_GT_OQ)};                                     \
  }                                                                                             \
  inline Mask<T> operator>=(Vec<T> a, Vec<T> b) {                                               \
    return {_mm512_cmp_##SUF##_mask(a.v, b.v, _CMP_GE_OQ)};                                     \
  }                                                                                             \
  inline Mask<T> operator==(Vec<T> a, Vec<T> b) {                                               \
    return {_mm512_cmp_##SUF##_mask(a.v, b.v, _CMP_EQ_OQ)};                                     \
  }                                                                                             \
  inline Mask<T> is_nan(Vec<T> a) { return {_mm512_cmp_##SUF##_mask(a.v, a.v, _CMP_UNORD_Q)}; } \
  inline Mask<T> operator&(Mask<T> a, Mask<T> b) { return {static_cast<MT>(a.m & b.m)}; }       \
  inline Mask<T> operator|(Mask<T> a, Mask<T> b) { return {static_cast<MT>(a.m | b.m)}; }       \
  inline Vec<T> select(Mask<T> m, Vec<T> a, Vec<T> b) {                                         \
    return {_mm512_mask_blend_##SUF(m.m, b.v, a.v)};                                            \
  }                                                                                             \
  inline Vec<T> abs(Vec<T> a) { return {_mm512_abs_##SUF(a.v)}; }                               \
  inline Vec<T> operator-(Vec<T> a) {                                                           \
    return {_mm512_xor_##SUF(a.v, _mm512_set1_##SUF(T(-0.0)))};                                 \
  }                                                                                             \
  inline Vec<T> sqrt(Vec<T> a) { return {_mm512_sqrt_##SUF(a.v)}; }                             \
  inline Vec<T> fnmadd(Vec<T> a, Vec<T> b, Vec<T> c) {                                          \
    return {_mm512_fnmadd_##SUF(a.v, b.v, c.v)};                                                \
  }                                                                                             \
  inline Vec<T> fmsub(Vec<T> a, Vec<T> b, Vec<T> c) {                                           \
    return {_mm512_fmsub_##SUF(a.v, b.v, c.v)};                                                 \
  }                                                                                             \
  inline Vec<T> round_nearest(Vec<T> a) {                                                       \
    return {_mm512_roundscale_##SUF(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};       \
  }                                                                                             \
  /* a * 2^n for integer-valued n, one rounding (overflow to inf, gradual underflow) */         \
  inline Vec<T> scale2(Vec<T> a, Vec<T> n) { return {_mm512_scalef_##SUF(a.v, n.v)}; }          \
  /* finite a > 0 (denormals included) as m * 2^e with m in [1, 2) */                           \
  inline Vec<T> split_exponent(Vec<T> a, Vec<T>& e) {                                           \
    e = {_mm512_getexp_##SUF(a.v)};                                                             \
    return {_mm512_getmant_##SUF(a.v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero)};                  \
  }
DG_SIMD_CMP(float, ps, __mmask16)
DG_SIMD_CMP(double, pd, __mmask8)
#undef DG_SIMD_CMP

// Orders non-temporal stores before what follows (call once after a store_stream loop).
inline void stream_fence() { _mm_sfence(); }
// 1/a to about 2^-23 relative (rcp14 and one Newton step), for a finite and nonzero.
inline Vec<float> reciprocal_fast(Vec<float> a) {
  const __m512 r = _mm512_rcp14_ps(a.v);
  return {_mm512_mul_ps(r, _mm512_fnmadd_ps(a.v, r, _mm512_set1_ps(2.0f)))};
}
inline Vec<double> reciprocal_fast(Vec<double> a) {
  return {_mm512_div_pd(_mm512_set1_pd(1.0), a.v)};
}
// true if any lane of m is set
inline bool any(Mask<float> m) { return m.m != 0; }
inline bool any(Mask<double> m) { return m.m != 0; }
// bit l set where lane l of m is
inline uint32_t lane_bits(Mask<float> m) { return m.m; }
inline uint32_t lane_bits(Mask<double> m) { return m.m; }
// the lanes in reverse order (lane i = a's lane width - 1 - i): one permute
inline Vec<float> reverse_lanes(Vec<float> a) {
  return {_mm512_permutexvar_ps(
      _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), a.v)};
}
inline Vec<double> reverse_lanes(Vec<double> a) {
  return {_mm512_permutexvar_pd(_mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7), a.v)};
}
// true if any lane of x is below lo or NaN (one compare: the vector math's fast-path test)
inline bool any_below_or_nan(Vec<float> x, float lo) {
  return _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(lo), _CMP_NGE_UQ) != 0;
}

// The first n lanes (0 <= n <= width): selects the valid lanes of a tail loaded with load(p, n).
template <class T>
inline Mask<T> lanes_below(int n);
template <>
inline Mask<float> lanes_below<float>(int n) {
  return {static_cast<__mmask16>((1u << n) - 1u)};
}
template <>
inline Mask<double> lanes_below<double>(int n) {
  return {static_cast<__mmask8>((1u << n) - 1u)};
}

#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr const char* kIsaName = "avx2";

inline __m256i lane_mask32(int n) {  // first n of 8 int32 lanes set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256i lane_mask64(int n) {  // first n of 4 int64 lanes set
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

// A load of the first n lanes (the rest 0). vmaskmovps / vmaskmovpd from memory take about 10
// cycles each on a Zen 1 (a throughput loop: 3.4-4.0 ns a load against 0.4-0.5 for vmovups,
// bench/mca/masked_load.cpp), and the GEMM's edge tiles issued one per step of k: 6 x 10 x 512
// float32 took 2.6x the time of 6 x 16 x 512. Where the whole vector lies in the page of p's first
// lane (which n > 0 makes readable) it is loaded whole and the lanes past n cleared: the same
// values, no fault possible; else, or with n <= 0 (p need not point anywhere then), masked. The
// sanitizer build keeps the masked load: ASan reports plain loads past the buffer.
inline bool vector_in_page(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 4095) <= 4096 - 32;
}

template <>
struct Vec<float> {
  static constexpr int width = 8;
  __m256 v;
  static Vec zero() { return {_mm256_setzero_ps()}; }
  static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec gather(const float* p, int64_t stride) {  // lane i = p[i * stride]
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(stride)));
    // the masked form: the plain one reads an uninitialized source (GCC 12 -Wmaybe-uninitialized)
    return {_mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx,
                                     _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4)};
  }
  static Vec load(const float* p, int n) {
    asan_check_lanes(p, n);
    const __m256i m = lane_mask32(n);
#if !defined(__SANITIZE_ADDRESS__)
    if (n > 0 && vector_in_page(p))
      return {_mm256_and_ps(_mm256_loadu_ps(p), _mm256_castsi256_ps(m))};
#endif
    return {_mm256_maskload_ps(p, m)};
  }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  // The first n lanes, with plain stores: vmaskmovps to memory is microcoded on AMD Zen 2/3
  // (~17 cycles a store on the Zen 3, against ~6 for this), and tails come once per row.
  void store(float* p, int n) const {
    asan_check_lanes(p, n);
    if (n >= 8) return store(p);
    if (n <= 0) return;
    __m128 x = _mm256_castps256_ps128(v);
    if (n & 4) {
      _mm_storeu_ps(p, x);
      x = _mm256_extractf128_ps(v, 1);
      p += 4;
    }
    if (n & 2) {
      _mm_storel_pi(reinterpret_cast<__m64*>(p), x);
      x = _mm_movehl_ps(x, x);
      p += 2;
    }
    if (n & 1) _mm_store_ss(p, x);
  }
  float reduce_add() const {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  float reduce_max() const {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // non-temporal store (p 32-byte aligned): for outputs too large to stay in cache
  void store_stream(float* p) const {
    asan_check_lanes(p, width);
    _mm256_stream_ps(p, v);
  }
  // Winograd (conv's winograd.h): ev, od = the even and odd elements of the 2 W values a, b; and
  // back: lo, hi = a0 b0 a1 b1 ... (the first W), the next W.
  static void deinterleave(Vec a, Vec b, Vec& ev, Vec& od) {
    // per 128-bit lane: a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit quarters reordered (0, 2, 1, 3)
    const __m256 e = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(3, 1, 3, 1));
    ev.v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    od.v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
    const __m256 l = _mm256_unpacklo_ps(a.v, b.v), h = _mm256_unpackhi_ps(a.v, b.v);
    lo.v = _mm256_permute2f128_ps(l, h, 0x20);
    hi.v = _mm256_permute2f128_ps(l, h, 0x31);
  }
};
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) {
  return {_mm256_fmadd_ps(a.v, b.v, c.v)};
}
inline Vec<float> operator+(Vec<float> a, Vec<float> b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vec<float> operator-(Vec<float> a, Vec<float> b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Vec<float> operator*(Vec<float> a, Vec<float> b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec<float> operator/(Vec<float> a, Vec<float> b) { return {_mm256_div_ps(a.v, b.v)}; }
inline Vec<float> max(Vec<float> a, Vec<float> b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vec<float> min(Vec<float> a, Vec<float> b) { return {_mm256_min_ps(a.v, b.v)}; }

template <>
struct Vec<double> {
  static constexpr int width = 4;
  __m256d v;
  static Vec zero() { return {_mm256_setzero_pd()}; }
  static Vec set1(double x) { return {_mm256_set1_pd(x)}; }
  static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static Vec gather(const double* p, int64_t stride) {  // lane i = p[i * stride]
    const __m128i idx =
        _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int>(stride)));
    return {_mm256_mask_i32gather_pd(_mm256_setzero_pd(), p, idx,
                                     _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8)};
  }
  static Vec load(const double* p, int n) {
    asan_check_lanes(p, n);
    const __m256i m = lane_mask64(n);
#if !defined(__SANITIZE_ADDRESS__)
    if (n > 0 && vector_in_page(p))
      return {_mm256_and_pd(_mm256_loadu_pd(p), _mm256_castsi256_pd(m))};
#endif
    return {_mm256_maskload_pd(p, m)};
  }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void store(double* p, int n) const {  // plain stores, as Vec<float>'s
    asan_check_lanes(p, n);
    if (n >= 4) return store(p);
    if (n <= 0) return;
    __m128d x = _mm256_castpd256_pd128(v);
    if (n & 2) {
      _mm_storeu_pd(p, x);
      x = _mm256_extractf128_pd(v, 1);
      p += 2;
    }
    if (n & 1) _mm_store_sd(p, x);
  }
  double reduce_add() const {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  double reduce_max() const {
    __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
  }
  void store_stream(double* p) const {
    asan_check_lanes(p, width);
    _mm256_stream_pd(p, v);
  }
  // Winograd: as Vec<float>'s
  static void deinterleave(Vec a, Vec b, Vec& ev, Vec& od) {
    ev.v = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a.v, b.v), _MM_SHUFFLE(3, 1, 2, 0));
    od.v = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a.v, b.v), _MM_SHUFFLE(3, 1, 2, 0));
  }
  static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
    const __m256d l = _mm256_unpacklo_pd(a.v, b.v), h = _mm256_unpackhi_pd(a.v, b.v);
    lo.v = _mm256_permute2f128_pd(l, h, 0x20);
    hi.v = _mm256_permute2f128_pd(l, h, 0x31);
  }
};
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) {
  return {_mm256_fmadd_pd(a.v, b.v, c.v)};
}
inline Vec<double> operator+(Vec<double> a, Vec<double> b) { return {_mm256_add_pd(a.v, b.v)}; }
inline Vec<double> operator-(Vec<double> a, Vec<double> b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline Vec<double> operator*(Vec<double> a, Vec<double> b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline Vec<double> operator/(Vec<double> a, Vec<double> b) { return {_mm256_div_pd(a.v, b.v)}; }
inline Vec<double> max(Vec<double> a, Vec<double> b) { return {_mm256_max_pd(a.v, b.v)}; }
inline Vec<double> min(Vec<double> a, Vec<double> b) { return {_mm256_min_pd(a.v, b.v)}; }

// ---- masks, selects and the bit-level helpers the vector math (simd_math.h) is built from
template <class T>
struct Mask;
template <>
struct Mask<float> {
  __m256 m;
};
template <>
struct Mask<double> {
  __m256d m;
};

#define DG_SIMD_CMP(T, SUF)                                                                      \
  inline Mask<T> operator<(Vec<T> a, Vec<T> b) {                                                 \
    return {_mm256_cmp_##SUF(a.v, b.v, _CMP_LT_OQ)};                                             \
  }                                                                                              \
  inline Mask<T> operator<=(Vec<T> a, Vec<T> b) {                                                \
    return {_mm256_cmp_##SUF(a.v, b.v, _CMP_LE_OQ)};                                             \
  }                                                                                              \
  inline Mask<T> operator>(Vec<T> a, Vec<T> b) {                                                 \
    return {_mm256_cmp_##SUF(a.v, b.v, _CMP_GT_OQ)};                                             \
  }                                                                                              \
  inline Mask<T> operator>=(Vec<T> a, Vec<T> b) {                                                \
    return {_mm256_cmp_##SUF(a.v, b.v, _CMP_GE_OQ)};                                             \
  }                                                                                              \
  inline Mask<T> operator==(Vec<T> a, Vec<T> b) {                                                \
    return {_mm256_cmp_##SUF(a.v, b.v, _CMP_EQ_OQ)};                                             \
  }                                                                                              \
  inline Mask<T> is_nan(Vec<T> a) { return {_mm256_cmp_##SUF(a.v, a.v, _CMP_UNORD_Q)}; }         \
  inline Mask<T> operator&(Mask<T> a, Mask<T> b) { return {_mm256_and_##SUF(a.m, b.m)}; }        \
  inline Mask<T> operator|(Mask<T> a, Mask<T> b) { return {_mm256_or_##SUF(a.m, b.m)}; }         \
  inline Vec<T> select(Mask<T> m, Vec<T> a, Vec<T> b) {                                          \
    return {_mm256_blendv_##SUF(b.v, a.v, m.m)};                                                 \
  }                                                                                              \
  inline Vec<T> abs(Vec<T> a) { return {_mm256_andnot_##SUF(_mm256_set1_##SUF(T(-0.0)), a.v)}; } \
  inline Vec<T> operator-(Vec<T> a) {                                                            \
    return {_mm256_xor_##SUF(a.v, _mm256_set1_##SUF(T(-0.0)))};                                  \
  }                                                                                              \
  inline Vec<T> sqrt(Vec<T> a) { return {_mm256_sqrt_##SUF(a.v)}; }                              \
  inline Vec<T> fnmadd(Vec<T> a, Vec<T> b, Vec<T> c) {                                           \
    return {_mm256_fnmadd_##SUF(a.v, b.v, c.v)};                                                 \
  }                                                                                              \
  inline Vec<T> fmsub(Vec<T> a, Vec<T> b, Vec<T> c) {                                            \
    return {_mm256_fmsub_##SUF(a.v, b.v, c.v)};                                                  \
  }                                                                                              \
  inline Vec<T> round_nearest(Vec<T> a) {                                                        \
    return {_mm256_round_##SUF(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};             \
  }
DG_SIMD_CMP(float, ps)
DG_SIMD_CMP(double, pd)
#undef DG_SIMD_CMP

// Orders non-temporal stores before what follows (call once after a store_stream loop).
inline void stream_fence() { _mm_sfence(); }
// 1/a (AVX2's 12-bit rcp after one Newton step is only good to ~2^-22.8: divide instead).
inline Vec<float> reciprocal_fast(Vec<float> a) {
  return {_mm256_div_ps(_mm256_set1_ps(1.0f), a.v)};
}
inline Vec<double> reciprocal_fast(Vec<double> a) {
  return {_mm256_div_pd(_mm256_set1_pd(1.0), a.v)};
}

// The first n lanes (0 <= n <= width): selects the valid lanes of a tail loaded with load(p, n).
template <class T>
inline Mask<T> lanes_below(int n);
template <>
inline Mask<float> lanes_below<float>(int n) {
  return {_mm256_castsi256_ps(lane_mask32(n))};
}
template <>
inline Mask<double> lanes_below<double>(int n) {
  return {_mm256_castsi256_pd(lane_mask64(n))};
}

// a * 2^n for integer-valued n in [-252, 254]: two exact power-of-two factors, so the product
// overflows to inf or underflows gradually with one rounding (float only: the float64 math
// calls libm).
inline Vec<float> scale2(Vec<float> a, Vec<float> n) {
  const __m256i ni = _mm256_cvtps_epi32(n.v);
  const __m256i h = _mm256_srai_epi32(ni, 1), l = _mm256_sub_epi32(ni, h);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 ph = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 pl = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(l, bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(a.v, ph), pl)};
}
// p * 2^n where t = n + 1.5 * 2^23 (the float whose low mantissa bits hold the integer n, as
// the rounding trick of the vector exp leaves it): n added to p's exponent field, two integer
// ops. Only for results that stay normal: p * 2^n in [2^-126, 2^128) and p finite.
inline Vec<float> add_exponent(Vec<float> p, Vec<float> t) {
  const __m256i nb = _mm256_slli_epi32(_mm256_castps_si256(t.v), 23);  // n << 23 (mod 2^32)
  return {_mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p.v), nb))};
}
// true if any lane of m is set
inline bool any(Mask<float> m) { return _mm256_movemask_ps(m.m) != 0; }
inline bool any(Mask<double> m) { return _mm256_movemask_pd(m.m) != 0; }
// bit l set where lane l of m is
inline uint32_t lane_bits(Mask<float> m) { return uint32_t(_mm256_movemask_ps(m.m)); }
inline uint32_t lane_bits(Mask<double> m) { return uint32_t(_mm256_movemask_pd(m.m)); }
// the lanes in reverse order (lane i = a's lane width - 1 - i): one permute
inline Vec<float> reverse_lanes(Vec<float> a) {
  return {_mm256_permutevar8x32_ps(a.v, _mm256_set_epi32(0, 1, 2, 3, 4, 5, 6, 7))};
}
inline Vec<double> reverse_lanes(Vec<double> a) { return {_mm256_permute4x64_pd(a.v, 0x1B)}; }
// true if any lane of x is below lo or NaN (one compare and a movemask: the vector math's
// fast-path test)
inline bool any_below_or_nan(Vec<float> x, float lo) {
  return _mm256_movemask_ps(_mm256_cmp_ps(x.v, _mm256_set1_ps(lo), _CMP_NGE_UQ)) != 0;
}
// finite a > 0 (denormals included) as m * 2^e with m in [1, 2)
inline Vec<float> split_exponent(Vec<float> a, Vec<float>& e) {
  const __m256 tiny = _mm256_cmp_ps(a.v, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
  const __m256 x = _mm256_blendv_ps(a.v, _mm256_mul_ps(a.v, _mm256_set1_ps(8388608.0f)), tiny);
  const __m256i bits = _mm256_castps_si256(x);
  const __m256i ex = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  e.v = _mm256_sub_ps(_mm256_cvtepi32_ps(ex), _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));
  const __m256i mant = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                       _mm256_set1_epi32(0x3f800000));
  return {_mm256_castsi256_ps(mant)};
}

#else
inline constexpr const char* kIsaName = "generic";

// The portable fallback: one lane, plain C++ (the compiler may still vectorize loops over it).
template <class T>
struct Vec {
  static constexpr int width = 1;
  T v;
  static Vec zero() { return {T(0)}; }
  static Vec set1(T x) { return {x}; }
  static Vec load(const T* p) { return {*p}; }
  static Vec gather(const T* p, int64_t) { return {*p}; }
  static Vec load(const T* p, int n) { return {n > 0 ? *p : T(0)}; }
  void store(T* p) const { *p = v; }
  void store(T* p, int n) const {
    if (n > 0) *p = v;
  }
  T reduce_add() const { return v; }
  T reduce_max() const { return v; }
  void store_stream(T* p) const { *p = v; }
  // Winograd (conv's winograd.h): one lane, so the even and odd elements of (a, b) are a and b
  static void deinterleave(Vec a, Vec b, Vec& ev, Vec& od) {
    ev = a;
    od = b;
  }
  static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
    lo = a;
    hi = b;
  }
};
template <class T>
inline Vec<T> fmadd(Vec<T> a, Vec<T> b, Vec<T> c) {
  return {a.v * b.v + c.v};
}
template <class T>
inline Vec<T> operator+(Vec<T> a, Vec<T> b) {
  return {a.v + b.v};
}
template <class T>
inline Vec<T> operator-(Vec<T> a, Vec<T> b) {
  return {a.v - b.v};
}
template <class T>
inline Vec<T> operator*(Vec<T> a, Vec<T> b) {
  return {a.v * b.v};
}
template <class T>
inline Vec<T> operator/(Vec<T> a, Vec<T> b) {
  return {a.v / b.v};
}
// max/min as the SIMD instructions do: the second operand when either is NaN.
template <class T>
inline Vec<T> max(Vec<T> a, Vec<T> b) {
  return {a.v > b.v ? a.v : b.v};
}
template <class T>
inline Vec<T> min(Vec<T> a, Vec<T> b) {
  return {a.v < b.v ? a.v : b.v};
}

// ---- masks, selects and helpers (one lane: plain C++)
template <class T>
struct Mask {
  bool m;
};
template <class T>
inline Mask<T> operator<(Vec<T> a, Vec<T> b) {
  return {a.v < b.v};
}
template <class T>
inline Mask<T> operator<=(Vec<T> a, Vec<T> b) {
  return {a.v <= b.v};
}
template <class T>
inline Mask<T> operator>(Vec<T> a, Vec<T> b) {
  return {a.v > b.v};
}
template <class T>
inline Mask<T> operator>=(Vec<T> a, Vec<T> b) {
  return {a.v >= b.v};
}
template <class T>
inline Mask<T> operator==(Vec<T> a, Vec<T> b) {
  return {a.v == b.v};
}
template <class T>
inline Mask<T> is_nan(Vec<T> a) {
  return {a.v != a.v};
}
template <class T>
inline Mask<T> operator&(Mask<T> a, Mask<T> b) {
  return {a.m && b.m};
}
template <class T>
inline Mask<T> operator|(Mask<T> a, Mask<T> b) {
  return {a.m || b.m};
}
template <class T>
inline Vec<T> select(Mask<T> m, Vec<T> a, Vec<T> b) {
  return m.m ? a : b;
}
template <class T>
inline Mask<T> lanes_below(int n) {
  return {n > 0};
}
template <class T>
inline bool any(Mask<T> m) {
  return m.m;
}
template <class T>
inline uint32_t lane_bits(Mask<T> m) {
  return m.m ? 1u : 0u;
}
template <class T>
inline Vec<T> reverse_lanes(Vec<T> a) {
  return a;
}
inline void stream_fence() {}
template <class T>
inline Vec<T> reciprocal_fast(Vec<T> a) {
  return {T(1) / a.v};
}
template <class T>
inline Vec<T> abs(Vec<T> a) {
  return {std::fabs(a.v)};
}
template <class T>
inline Vec<T> operator-(Vec<T> a) {
  return {-a.v};
}
template <class T>
inline Vec<T> sqrt(Vec<T> a) {
  return {std::sqrt(a.v)};
}
template <class T>
inline Vec<T> fnmadd(Vec<T> a, Vec<T> b, Vec<T> c) {
  return {c.v - a.v * b.v};
}
template <class T>
inline Vec<T> fmsub(Vec<T> a, Vec<T> b, Vec<T> c) {
  return {a.v * b.v - c.v};
}
template <class T>
inline Vec<T> round_nearest(Vec<T> a) {
  return {std::nearbyint(a.v)};
}
template <class T>
inline Vec<T> scale2(Vec<T> a, Vec<T> n) {
  return {std::ldexp(a.v, static_cast<int>(n.v))};
}
template <class T>
inline Vec<T> split_exponent(Vec<T> a, Vec<T>& e) {
  int ex = 0;
  T m = std::frexp(a.v, &ex);
  e.v = static_cast<T>(ex - 1);
  return {m * T(2)};
}
#endif

// true if every lane of m is set (one ISA-independent spelling for the kernels' fast-path tests)
template <class T>
inline bool all_lanes(Mask<T> m) {
#if defined(__AVX512F__)
  return m.m == static_cast<decltype(m.m)>((1u << Vec<T>::width) - 1u);
#elif defined(__AVX2__)
  if constexpr (sizeof(T) == 4)
    return _mm256_movemask_ps(m.m) == 0xff;
  else
    return _mm256_movemask_pd(m.m) == 0xf;
#else
  return m.m;
#endif
}

// ev, od = the even and odd elements of the 2 W values at p: Vec::deinterleave of the two
// vectors there. On AVX2 the loads pair the 128-bit halves (a0-3 with b0-3, a4-7 with b4-7:
// vinsertf128 from memory, a load-port operation) so that two in-lane shuffles finish it, where
// deinterleave of two loaded vectors needs two lane-crossing vpermpd after its shuffles. On a
// Zen 1 (128-bit units) vpermpd ymm costs 2 cycles of throughput and vshufps 1; on Intel cores
// both compete for port 5, which this leaves with 2 shuffles instead of 4.
template <class T>
inline void load_deinterleave(const T* p, Vec<T>& ev, Vec<T>& od) {
  Vec<T>::deinterleave(Vec<T>::load(p), Vec<T>::load(p + Vec<T>::width), ev, od);
}
#if defined(__AVX2__)
// r[j] = column j of the 8 x 8 floats (4 x 4 doubles) src[i * ss + j], rows i >= S read as zeros.
// The loads pair row i's 128-bit half with row i + 4's (i + 2's) (vinsertf128 from memory, a
// load-port operation), so that in-lane shuffles finish the transpose: no lane-crossing
// vperm2f128 (8 micro-ops and a 3-cycle throughput each on a Zen 1's 128-bit units, a port-5
// shuffle on Intel cores, where the float transpose then takes 16 shuffles instead of 24). A
// 256-bit form, in the AVX-512 build too. load_pair: the half at p or zeros, the one at p + off
// or zeros beside it.
[[gnu::always_inline]] inline __m256 load_pair(const float* p, int64_t off, bool lo, bool hi) {
  const __m128 l = lo ? _mm_loadu_ps(p) : _mm_setzero_ps();
  return hi ? _mm256_insertf128_ps(_mm256_castps128_ps256(l), _mm_loadu_ps(p + off), 1)
            : _mm256_zextps128_ps256(l);
}
[[gnu::always_inline]] inline __m256d load_pair(const double* p, int64_t off, bool lo, bool hi) {
  const __m128d l = lo ? _mm_loadu_pd(p) : _mm_setzero_pd();
  return hi ? _mm256_insertf128_pd(_mm256_castpd128_pd256(l), _mm_loadu_pd(p + off), 1)
            : _mm256_zextpd128_pd256(l);
}
[[gnu::always_inline]] inline void load_transposed_256(const float* src, int64_t ss, int S,
                                                       __m256* r) {
  for (int h = 0; h < 2; ++h) {  // columns 4h .. 4h + 3
    __m256 u[4], t[4];
    for (int i = 0; i < 4; ++i)  // lane 0: row i, lane 1: row i + 4
      u[i] = load_pair(src + i * ss + 4 * h, 4 * ss, i < S, i + 4 < S);
    t[0] = _mm256_unpacklo_ps(u[0], u[1]);  // r0c0 r1c0 r0c1 r1c1 | the same of rows 4, 5
    t[1] = _mm256_unpackhi_ps(u[0], u[1]);  // r0c2 r1c2 r0c3 r1c3 | ...
    t[2] = _mm256_unpacklo_ps(u[2], u[3]);
    t[3] = _mm256_unpackhi_ps(u[2], u[3]);
    r[4 * h + 0] = _mm256_shuffle_ps(t[0], t[2], 0x44);
    r[4 * h + 1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
    r[4 * h + 2] = _mm256_shuffle_ps(t[1], t[3], 0x44);
    r[4 * h + 3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
  }
}
[[gnu::always_inline]] inline void load_transposed_256(const double* src, int64_t ss, int S,
                                                       __m256d* r) {
  for (int h = 0; h < 2; ++h) {  // columns 2h, 2h + 1; u0 holds rows 0 | 2, u1 rows 1 | 3
    const __m256d u0 = load_pair(src + 2 * h, 2 * ss, 0 < S, 2 < S);
    const __m256d u1 = load_pair(src + ss + 2 * h, 2 * ss, 1 < S, 3 < S);
    r[2 * h] = _mm256_unpacklo_pd(u0, u1);
    r[2 * h + 1] = _mm256_unpackhi_pd(u0, u1);
  }
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
inline void load_deinterleave(const float* p, Vec<float>& ev, Vec<float>& od) {
  const __m256 lo = _mm256_loadu2_m128(p + 8, p), hi = _mm256_loadu2_m128(p + 12, p + 4);
  ev.v = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  od.v = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}
inline void load_deinterleave(const double* p, Vec<double>& ev, Vec<double>& od) {
  const __m256d lo = _mm256_loadu2_m128d(p + 4, p), hi = _mm256_loadu2_m128d(p + 6, p + 2);
  ev.v = _mm256_unpacklo_pd(lo, hi);
  od.v = _mm256_unpackhi_pd(lo, hi);
}
#endif

}  // namespace DG_ISA_NS
}  // namespace dg
