// Vector math over Vec<T>: exp, log, log1p, tanh, sigmoid, erf/erfc and the normal CDF/PDF.
//
// float32 on AVX2 / AVX-512: polynomial and rational approximations evaluated in the vector
// registers (below). Error bounds in float32 ulp of the correctly rounded result, asserted by
// tests/test_ops_math.py over a sweep of random bit patterns (every exponent, denormals) plus the
// edges; in brackets the maximum measured on AVX-512 / AVX2 (issue 18, re-measured over that
// sweep plus a 2M-point grid on [-110, 110] and 2M N(0, 36) samples; the bounds are unchanged):
//   vexp     Cody-Waite reduction x = n ln2 + r (n by the 1.5 * 2^23 rounding trick), degree-6
//            fitted polynomial on |r| <= ln2/2 (Estrin), 2^n by scalef (AVX-512) or, on AVX2,
//            added to the exponent field when the vector's results are all normal, else two
//            exact power-of-two factors: results overflow to inf and underflow gradually
//            with one rounding.                                           <= 2 ulp [0.90/0.90]
//   vlog     fdlibm's reduction (m in [sqrt(1/2), sqrt 2), s = f/(2+f)) and its degree-7
//            polynomial in s^2; denormals are prescaled.                    <= 2 ulp [0.81/0.79]
//   vlog1p   log(1+u) * u / ((1+u) - 1) (Goldberg's correction).          <= 3 ulp [2.32/2.32]
//   vtanh    expm1(2h) / (expm1(2h) + 2), h = min(|x|, 9.5), on one path (SLEEF's
//            formulation), x's sign bit put back (tanh(-0) = -0); expm1(2h) as
//            2^(q+1) u + (2^q - 1) in one FMA, u = expm1(2s)/2 by a degree-4 minimax P
//            (issue 18, round 5: exhaustive over every float32, bench/mca/tanh_ulp.cpp;
//            round 3 measured 3.29/2.70 on a sample).                     <= 4 ulp [2.96/2.53]
//   vexpm1_neg expm1(x) for x <= 0 (elu's negative branch; round 31): vtanh's expm1 with
//            h = x/2 and ln2/2 in two parts (AVX-512 not yet measured).  <= 2 ulp [-/1.00]
//   vsigmoid 1/(1+exp(-x)) on the lanes with x >= -86 (no cancellation anywhere);
//            else 1/(1+e), e/(1+e) with e = exp(-|x|).                     <= 4 ulp [2.84/2.49]
//   verfc    Chebyshev fit t exp(-z^2 + P(t)), t = 1/(1+z/2) (Numerical Recipes' erfcc,
//            fractional error < 1.2e-7), -z^2 carried as a hi+lo pair into exp so large z
//            keep full relative accuracy; P by Estrin on AVX2.            <= 8 ulp [7.38/6.42]
//   verf     |x| < 0.5: Taylor series to x^13; else 1 - erfc(|x|).        <= 4 ulp [3.57/2.78]
//   vnormcdf Phi(x) = erfc(-x/sqrt2)/2 with x^2/2 split exactly (FMA), so gelu keeps full
//            relative accuracy in its far negative tail.                   <= 8 ulp [7.22/7.15]
//   vgelu    x Phi(x) = max(x, -0) - |x| exp(-x^2/2) R(|x|), R on AVX-512 by a degree-5
//            polynomial per interval of width 1/2 from register tables (issue 18, round 6;
//            exhaustive 4.76 ulp, 2.14 denormal steps), on AVX2 by P4/Q5 on the lanes
//            with |x| <= 13 (round 9, gelu9), else by a degree-9 polynomial in 1/(1 + |x|/3);
//            exp(-x^2/2) = 2^nf exp(s/2), nf a multiple of 1/32 (1/8 on AVX2)
//            with 2^frac(nf) from a register table, the reduction fused with the product x*x
//            (the activation; issue 18, round 4: exhaustive over every float32 |x| < 2^128).
//            Below x = -13.2 (denormal results) within 3 denormal steps. <= 8 ulp [4.76/6.18]
//
// Each lane's result depends on that lane alone (per_lane_fast_path below): the tests that pick
// a path for a whole vector (vexp's underflow and overflow, gelu's exponent add) choose between
// computations that give the same bits.
//
// float64 exp, log and log1p (round 44), expm1, tanh and erf (round 45) on AVX2 / AVX-512 are
// vector code too (their bounds with the code, "---- float64" below); float64's other functions
// and the generic fallback call libm lane by lane. The generic float path evaluates in float64
// and rounds once.
#pragma once

#include <cmath>
#include <limits>

#include "cpu/simd.h"

namespace dg {
namespace DG_ISA_NS {

// f applied to each lane (the libm path).
template <class T, class F>
inline Vec<T> map_lanes(Vec<T> x, F f) {
  alignas(64) T buf[Vec<T>::width];
  x.store(buf);
  for (int i = 0; i < Vec<T>::width; ++i) buf[i] = f(buf[i]);
  return Vec<T>::load(buf);
}

template <class T>
inline Vec<T> splat(double x) {
  return Vec<T>::set1(static_cast<T>(x));
}

#if defined(__AVX2__) || defined(__AVX512F__)
#define DG_VECTOR_MATH_F32 1

// A fast path taken per vector, with each lane's result its own: fast() where every lane is in
// its range (`ok`), else fast() on the lanes in range and slow() on the others. Which elements
// share a vector moves with the arrays' alignment, the thread count and the block order, so a
// lane whose bits depended on its neighbours could differ between two calls on the same input
// (stop 32's CI: the AVX2 gelu sent a whole vector to its general path when one lane had
// |x| > 13; tests/test_ops_activation.py test_each_lane_independent_of_its_vector_mates).
// fast() must not trap on the other lanes (it does not: no FP exception is unmasked).
template <class Fast, class Slow>
inline Vec<float> per_lane_fast_path(Mask<float> ok, Fast fast, Slow slow) {
  const Vec<float> f = fast();
  if (all_lanes(ok)) return f;
  return select(ok, f, slow());
}

// The polynomial of vexp: e^r for |r| <= ln2/2 (degree-6 relative minimax fit, Lawson's
// iteration: relative error 3.1e-9 before rounding), 1 + r + r^2 q(r) with q by Estrin's scheme
// (latency 4 FMAs instead of Horner's 6; the two leading terms are added last, as in Horner's,
// so the rounding stays that of the final 1 + (...)).
inline Vec<float> vexp_poly(Vec<float> r) {
  using V = Vec<float>;
  const V r2 = r * r;
  const V a = fmadd(V::set1(0.16666521f), r, V::set1(0.49999993f));
  V b = fmadd(V::set1(0.00836871f), r, V::set1(0.04166839f));
  b = fmadd(V::set1(0.00138146f), r2, b);
  const V q = fmadd(b, r2, a);
  return fmadd(fmadd(q, r, V::set1(1.0f)), r, V::set1(1.0f));
}

// x = n ln2 + r, n = round(x / ln2) by the 1.5 * 2^23 trick (t = x / ln2 + 1.5 * 2^23 rounds
// to an integer; n = t - 1.5 * 2^23 exactly, and t's low bits hold n for add_exponent).
inline Vec<float> vexp_reduce(Vec<float> x, Vec<float>& t, Vec<float>& n) {
  using V = Vec<float>;
  const V magic = V::set1(12582912.0f);
  t = fmadd(x, V::set1(1.44269504088896341f), magic);
  n = t - magic;
  const V r = fnmadd(n, V::set1(0.693359375f), x);  // Cody-Waite: n * ln2hi is exact
  return fnmadd(n, V::set1(-2.12194440e-4f), r);
}

// exp(x) for x <= 88 (or NaN; -inf gives 0): the callers whose argument is never large skip
// the upper clamp. 2^n by scalef (AVX-512: overflow to inf, gradual underflow, one rounding).
// AVX2: when every lane has x >= -86.4 (the result normal) 2^n is added to the exponent field
// (two integer ops); otherwise (rare: an underflow or a NaN in the vector) the whole vector
// takes vexp_upto88_wide's two exact power-of-two factors. The check is one compare and one
// movemask, off the dependency chain.
inline Vec<float> vexp_upto88_wide(Vec<float> x) {
  using V = Vec<float>;
  x = max(V::set1(-104.0f), x);  // max returns its second operand, NaN, for NaN
  V t, n;
  const V r = vexp_reduce(x, t, n);
  return scale2(vexp_poly(r), n);
}

// exp(x) for x in [-86.4, 88] (the result normal): no clamp, no test.
inline Vec<float> vexp_normal(Vec<float> x) {
  Vec<float> t, n;
  const Vec<float> r = vexp_reduce(x, t, n);
#if defined(__AVX512F__)
  return scale2(vexp_poly(r), n);
#else
  return add_exponent(vexp_poly(r), t);
#endif
}

inline Vec<float> vexp_upto88(Vec<float> x) {
#if defined(__AVX512F__)
  return vexp_upto88_wide(x);
#else
  if (any_below_or_nan(x, -86.4f)) return vexp_upto88_wide(x);
  return vexp_normal(x);
#endif
}

inline Vec<float> vexp(Vec<float> x) {
  using V = Vec<float>;
#if !defined(__AVX512F__)
  if (any(x > V::set1(88.0f))) return vexp_upto88_wide(min(V::set1(89.0f), x));  // overflow
#endif
  return vexp_upto88(min(V::set1(89.0f), x));
}

// exp(-(hi + lo)) for |lo| << |hi|: exp(-hi) * (1 - lo) (0 when exp(-hi) underflows, even if
// lo is not finite because hi overflowed).
inline Vec<float> vexp_neg_pair(Vec<float> hi, Vec<float> lo) {
  const Vec<float> e = vexp_upto88(-hi);  // hi >= 0
  return select(e == Vec<float>::zero(), e, fnmadd(e, lo, e));
}

// k ln 2 + log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: fdlibm's kernel, with
// s = f / (2 + f) and log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))); ln 2 split in hi + lo.
inline Vec<float> vlog1p_reduced(Vec<float> f, Vec<float> k) {
  using V = Vec<float>;
  // s only enters the small correction term s (hfsq + R): a 2^-22 reciprocal is plenty
  const V s = f * reciprocal_fast(V::set1(2.0f) + f);
  const V z = s * s;
  V R = V::set1(1.4798198640e-01f);
  R = fmadd(R, z, V::set1(1.5313838422e-01f));
  R = fmadd(R, z, V::set1(1.8183572590e-01f));
  R = fmadd(R, z, V::set1(2.2222198546e-01f));
  R = fmadd(R, z, V::set1(2.8571429849e-01f));
  R = fmadd(R, z, V::set1(4.0000000596e-01f));
  R = fmadd(R, z, V::set1(6.6666668653e-01f));
  R = R * z;
  const V hfsq = V::set1(0.5f) * f * f;
  const V lo = fmadd(k, V::set1(9.0580006145e-06f), s * (hfsq + R));
  return fmadd(k, V::set1(6.9313812256e-01f), f - (hfsq - lo));
}

inline Vec<float> vlog(Vec<float> x) {
  using V = Vec<float>;
  V e;
  V m = split_exponent(x, e);
  const auto big = m > V::set1(1.41421356f);
  m = select(big, m * V::set1(0.5f), m);
  e = select(big, e + V::set1(1.0f), e);
  const V f = m - V::set1(1.0f);
  V res = vlog1p_reduced(f, e);
  const V inf = V::set1(std::numeric_limits<float>::infinity());
  res = select(x == V::zero(), -inf, res);
  res = select(x < V::zero(), V::set1(std::numeric_limits<float>::quiet_NaN()), res);
  res = select(x == inf, inf, res);
  return select(is_nan(x), x, res);
}

inline Vec<float> vlog1p(Vec<float> u) {
  using V = Vec<float>;
  const V w = V::set1(1.0f) + u;
  V res = vlog(w) * (u / (w - V::set1(1.0f)));
  res = select(w == V::set1(1.0f), u, res);
  return select(u == V::set1(std::numeric_limits<float>::infinity()), u, res);
}

// log1p(u) for u in [0, 1] (or NaN) -- softplus's log1p(exp(-|x|)) -- without forming 1 + u:
// fdlibm's log(1 + f) with f = u, or f = (u - 1) / 2 and one ln 2 when 1 + u > sqrt 2.
inline Vec<float> vlog1p_unit(Vec<float> u) {
  using V = Vec<float>;
  const auto big = u > V::set1(0.41421356f);
  const V f = select(big, (u - V::set1(1.0f)) * V::set1(0.5f), u);
  const V k = select(big, V::set1(1.0f), V::zero());
  return vlog1p_reduced(f, k);
}

// t with the sign bit of x, for t >= +0 or NaN (tanh's odd symmetry; tanh(-0) = -0): one
// ternary-logic op on AVX-512 (t | (x & sign)), an and + or on AVX2.
inline Vec<float> or_sign_of(Vec<float> t, Vec<float> x) {
#if defined(__AVX512F__)
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  return {_mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(_mm512_castps_si512(t.v), _mm512_castps_si512(x.v), sign, 0xF8))};
#else
  return {_mm256_or_ps(t.v, _mm256_and_ps(x.v, _mm256_set1_ps(-0.0f)))};
#endif
}

// expm1(2s) / 2 for |s| <= ln2/4 (vtanh's and vexpm1_neg's reduced argument): u = s + s^2 P(s),
// P a relative minimax fit of degree 4 weighted by |s| (the error u sees), 1.6e-8 after
// rounding the coefficients; by Estrin's scheme on the s^2 that u needs anyway (as many
// operations as Horner's, a chain 2 FMAs shorter).
inline Vec<float> vexpm1_2s_half(Vec<float> s) {
  using V = Vec<float>;
  const V s2 = s * s;
  const V p01 = fmadd(V::set1(0.6666616797447205f), s, V::set1(1.0f));
  const V p23 = fmadd(V::set1(0.13386623561382294f), s, V::set1(0.3333302438259125f));
  const V p = fmadd(fmadd(V::set1(0.04462895169854164f), s2, p23), s2, p01);
  return fmadd(p, s2, s);
}

// tanh |x| = expm1(2h) / (expm1(2h) + 2), h = min(|x|, 9.5) (tanh rounds to 1 beyond 9.02),
// one path for all x. h = q ln2/2 + s (q by the 1.5 * 2^23 rounding trick), expm1(2s) = 2u with
// u = s + s^2 P(s), P approximating (expm1(2s) - 2s) / (2 s^2); then one FMA
// expm1(2h) = 2^(q+1) u + (2^q - 1): the product is exact, 2^q - 1 is exact (one rounding; u
// exactly for q = 0). Working with h and 2^(q+1) instead of 2|x| and 2^q saves the doubling.
// The quotient: AVX-512 r = rcp14(d) and y r + y r (1 - d r) (one rounding after the estimate:
// never above 1, so no clamp); AVX2 one division. Issue 18, round 5: 26 -> 22 vector operations
// per vector on AVX-512 (see docs/BENCHMARKS.md, "round 5: act5").
inline Vec<float> vtanh(Vec<float> x) {
  using V = Vec<float>;
  const V h = min(V::set1(9.5f), abs(x));  // min passes NaN through
  const V magic = V::set1(12582912.0f);
  const V t = fmadd(h, V::set1(2.88539008177792681f), magic);  // h / (ln2 / 2)
  const V q = t - magic;
  // one constant for ln2/2: it is within 9.6e-10 of ln2/2, so q <= 14 moves s by < 1.4e-8,
  // which moves tanh by < 0.3 ulp (tanh' = 1 - tanh^2 is small where q is large)
  const V s = fnmadd(q, V::set1(0.346573591f), h);
  const V u = vexpm1_2s_half(s);  // expm1(2s) / 2
#if defined(__AVX512F__)
  const V two_q1 = scale2(V::set1(2.0f), q);
#else
  const V two_q1 = add_exponent(V::set1(2.0f), t);
#endif
  const V y = fmadd(u, two_q1, fmsub(two_q1, V::set1(0.5f), V::set1(1.0f)));  // expm1(2h)
  const V d = y + V::set1(2.0f);
#if defined(__AVX512F__)
  const V r = {_mm512_rcp14_ps(d.v)};
  const V yr = y * r;
  return or_sign_of(fmadd(yr, fnmadd(d, r, V::set1(1.0f)), yr), x);
#else
  return or_sign_of(y / d, x);
#endif
}

// expm1(x) for x <= 0 (or NaN): the negative branch of elu / selu / celu. tanh's scheme with
// h = x/2 in place of |x|: h = q ln2/2 + s, expm1(x) = 2^(q+1) u + (2^q - 1), u = expm1(2s)/2;
// x is clamped at -30 (expm1 rounds to -1 below -17.4), so q in [-44, 0] keeps 2^(q+1) normal.
// ln2/2 in two parts (Cody-Waite, q * hi exact): q reaches 44 here, where one constant would
// move s by 4e-8. 2^q - 1 is exact for q >= -24 and rounded once below, where u's term is
// under half an ulp of the result.
inline Vec<float> vexpm1_neg(Vec<float> x) {
  using V = Vec<float>;
  const V h = max(V::set1(-30.0f), x) * V::set1(0.5f);  // max passes NaN through
  const V magic = V::set1(12582912.0f);
  const V t = fmadd(h, V::set1(2.88539008177792681f), magic);  // h / (ln2 / 2)
  const V q = t - magic;
  const V s = fnmadd(q, V::set1(-4.50620638e-5f), fnmadd(q, V::set1(0.34661865234375f), h));
  const V u = vexpm1_2s_half(s);
#if defined(__AVX512F__)
  const V two_q1 = scale2(V::set1(2.0f), q);
#else
  const V two_q1 = add_exponent(V::set1(2.0f), t);
#endif
  return fmadd(u, two_q1, fmsub(two_q1, V::set1(0.5f), V::set1(1.0f)));
}

// erfc(z) for 0 <= z <= 15 (or NaN) given z^2 = z2hi + z2lo exactly. Beyond 10.05 the result
// underflows to 0 by itself; callers clamp larger arguments to 15, which keeps z^2 finite.
inline Vec<float> verfc_pos(Vec<float> z, Vec<float> z2hi, Vec<float> z2lo) {
  using V = Vec<float>;
  const V t = reciprocal_fast(fmadd(V::set1(0.5f), z, V::set1(1.0f)));  // z only enters t
#if defined(__AVX512F__)
  // Horner: on AVX-512 the kernel is bound by the FMA ports (measured: Estrin's 3 more
  // products made gelu 10% slower there)
  V p = V::set1(0.17087277f);
  p = fmadd(p, t, V::set1(-0.82215223f));
  p = fmadd(p, t, V::set1(1.48851587f));
  p = fmadd(p, t, V::set1(-1.13520398f));
  p = fmadd(p, t, V::set1(0.27886807f));
  p = fmadd(p, t, V::set1(-0.18628806f));
  p = fmadd(p, t, V::set1(0.09678418f));
  p = fmadd(p, t, V::set1(0.37409196f));
  p = fmadd(p, t, V::set1(1.00002368f));
  p = fmadd(p, t, V::set1(-1.26551223f));
#else
  // AVX2: by the dependency chain (the division's latency ahead of it), so Estrin's scheme:
  // latency 4 FMAs + 2 products instead of Horner's 9 FMAs (measured: gelu 10% faster)
  const V t2 = t * t, t4 = t2 * t2;
  const V p01 = fmadd(V::set1(1.00002368f), t, V::set1(-1.26551223f));
  const V p23 = fmadd(V::set1(0.09678418f), t, V::set1(0.37409196f));
  const V p45 = fmadd(V::set1(0.27886807f), t, V::set1(-0.18628806f));
  const V p67 = fmadd(V::set1(1.48851587f), t, V::set1(-1.13520398f));
  const V p89 = fmadd(V::set1(0.17087277f), t, V::set1(-0.82215223f));
  const V q0 = fmadd(p23, t2, p01), q1 = fmadd(p67, t2, p45);
  const V p = fmadd(fmadd(p89, t4, q1), t4, q0);
#endif
  // exp(p - z2hi - z2lo) with p - z2hi carried as a hi+lo pair (Fast2Sum, z2hi the larger
  // term when it matters: for z^2 < |p| <= 1.27 the pair is inexact by < 2^-24 |a|, harmless
  // when |a| < 2.6).
  const V a = p - z2hi;
  const V err = p - (a + z2hi);
  const V e = vexp_upto88(a);  // a <= p(1) ~ 0
  return t * fmadd(e, err - z2lo, e);
}

inline Vec<float> verfc(Vec<float> x) {
  using V = Vec<float>;
  const V a = min(V::set1(15.0f), abs(x));  // min returns its second operand, NaN, for NaN
  const V hi = a * a;
  const V e = verfc_pos(a, hi, fmsub(a, a, hi));
  return select(x < V::zero(), V::set1(2.0f) - e, e);
}

inline Vec<float> verf(Vec<float> x) {
  using V = Vec<float>;
  const V a = abs(x);
  const V z = x * x;
  // 2/sqrt(pi) * x * sum_k (-1)^k x^2k / (k! (2k+1)), k <= 6
  V p = V::set1(1.0f / 9360.0f);
  p = fmadd(p, z, V::set1(-1.0f / 1320.0f));
  p = fmadd(p, z, V::set1(1.0f / 216.0f));
  p = fmadd(p, z, V::set1(-1.0f / 42.0f));
  p = fmadd(p, z, V::set1(1.0f / 10.0f));
  p = fmadd(p, z, V::set1(-1.0f / 3.0f));
  p = fmadd(p, z, V::set1(1.0f));
  const V small = x * p * V::set1(1.12837916709551257f);
  const V ac = min(V::set1(15.0f), a);
  const V zc = ac * ac;
  V big = V::set1(1.0f) - verfc_pos(ac, zc, fmsub(ac, ac, zc));
  big = select(x < V::zero(), -big, big);
  return select(a < V::set1(0.5f), small, big);
}

// Phi(x) = erfc(-x / sqrt 2) / 2, with x^2 / 2 split exactly.
inline Vec<float> vnormcdf(Vec<float> x) {
  using V = Vec<float>;
  const V a = min(V::set1(21.0f), abs(x));  // Phi(-21) underflows float; NaN passes
  const V ah = a * V::set1(0.5f);           // exact: z^2 = a^2 / 2 = a * ah, split by FMA
  const V hi = a * ah;
  const V e = V::set1(0.5f) * verfc_pos(a * V::set1(0.707106781186547524f), hi, fmsub(a, ah, hi));
  return select(x < V::zero(), e, V::set1(1.0f) - e);
}

// phi(x) = exp(-x^2 / 2) / sqrt(2 pi), with x^2 / 2 split exactly.
inline Vec<float> vnormpdf(Vec<float> x) {
  using V = Vec<float>;
  const V xh = x * V::set1(0.5f);
  const V hi = x * xh;
  return vexp_neg_pair(hi, fmsub(x, xh, hi)) * V::set1(0.398942280401432678f);
}

// sigmoid(v) and 1 - sigmoid(v) for v = 2 sqrt(2/pi) x (1 + 0.044715 x^2) (the tanh-form
// GELU's 2u), with v carried as a float-float pair: in the negative tail sigmoid(v) ~ exp(v),
// whose relative error is |v| times that of v, so v must be better than float.
inline void vgelu_tanh_sigmoid2(Vec<float> x, Vec<float>& s, Vec<float>& sc) {
  using V = Vec<float>;
  const double a = 1.5957691216057308;  // 2 sqrt(2/pi)
  const V a_hi = V::set1(float(a)), a_lo = V::set1(float(a - double(float(a))));
  const double b = 1.5957691216057308 * 0.044715;
  const V b_hi = V::set1(float(b)), b_lo = V::set1(float(b - double(float(b))));
  const V s_hi = x * x, s_lo = fmsub(x, x, s_hi);
  const V p_hi = b_hi * s_hi, p_lo = fmsub(b_hi, s_hi, p_hi);
  const V q_hi = a_hi + p_hi;  // TwoSum(a_hi, p_hi)
  const V bb = q_hi - a_hi;
  const V q_err = (a_hi - (q_hi - bb)) + (p_hi - bb);
  const V q_lo = q_err + p_lo + fmadd(b_hi, s_lo, fmadd(b_lo, s_hi, a_lo));
  const V v_hi = x * q_hi, v_lo = fmadd(x, q_lo, fmsub(x, q_hi, v_hi));
  // e = exp(-|v|) = exp(-|v_hi|) * (1 -+ v_lo)
  const auto neg = v_hi < V::zero();
  const V e0 = vexp_upto88(-abs(v_hi));
  V e = select(neg, fmadd(e0, v_lo, e0), fnmadd(e0, v_lo, e0));
  e = select(e0 == V::zero(), V::zero(), e);  // v_lo is NaN when x^2 overflows
  const V d = reciprocal_fast(V::set1(1.0f) + e);
  const V ed = e * d;
  s = select(neg, ed, d);
  sc = select(neg, d, ed);
  s = select(is_nan(x), x, s);
  sc = select(is_nan(x), x, sc);
}

// gelu(x) = x Phi(x) (the erf form). float32 on AVX2 / AVX-512: with a = |x| and
// Phi(-a) = exp(-a^2/2) R(a), R(a) = erfcx(a/sqrt2)/2, gelu(x) = max(x, -0) - a exp(-a^2/2) R(a)
// for either sign -- no select, no 1 - Phi. R by a degree-9 polynomial in t = 1/(1 + a/3)
// (relative minimax fit on a in [0, 14.5], coefficients rounded one at a time with the rest
// refitted: relative error 1.7e-8 before rounding, ~4.7 ulp after float evaluation), exp(-a^2/2)
// by a table-driven exp whose reduction holds the product a * a inside one FMA (below). The exp
// chain and R's chain are independent, so the kernel is short in latency as well as in
// instructions (vnormcdf's erfc puts the reciprocal, a degree-9 Horner chain and exp one after
// the other). Issue 18, round 4: the table-driven exp (12 operations instead of 15) and |x| in
// two operations instead of three: 40 -> 35 instructions per vector on AVX-512 (llvm-mca on the
// SPR model 22.8 -> 20.4 cycles), 44 -> 40 on AVX2 (Zen 3 model 28.3 -> 25.7).
#if !defined(__AVX512F__)
// The AVX2 gelu of a vector whose lanes all have |x| <= 13 (gelu9, issue 18 round 9; vgelu
// below checks the range and sends other vectors to the general path). On Zen 3 min, max,
// compares, adds and integer ops issue beside the two FMA pipes, while every multiply and FMA,
// the division and the vpermps (two pipe slots each) compete for them: those are what this
// path cuts (22 -> 19 multiplies/FMAs, 2 -> 0 broadcasts), with the longest dependency chains.
// - a = |x| with no clamp (finite here); exp(-a^2/2) stays normal, so 2^floor(nf) is always
//   the exponent-field add; max(x, -0) is one unsigned integer min (x >= +0 keeps its bits,
//   x <= -0 has bits >= 0x80000000, the bits of -0).
// - exp(-a^2/2) as in the general path, except: nf rounded from a^2 (rounded: the reduction
//   s = -a^2 - 2 nf ln2 still holds a * a exactly inside its FMA); nf * 1.38671875 (exact:
//   nf has at most 11 significant bits) taken from tt in one FMA, off nf's chain; exp(s/2) on
//   |s/2| <= ln2/16 by a degree-3 relative minimax polynomial (0.43 * 2^-24) instead of the
//   degree-4 Taylor series.
// - R(a) = erfcx(a/sqrt2)/2 = P(a)/Q(a), P of degree 4 and Q monic of degree 5 (relative
//   minimax on [0, 13], all coefficients positive, so no cancellation: 0.16 * 2^-24 with the
//   coefficients rounded to float, ~4.6 * 2^-24 after float evaluation), both by Estrin's
//   scheme on a^2: 8 FMAs and one division instead of 1 + 9 FMAs after a division, and two
//   chains of 3 instead of one of 10. Fitted by bench/mca/gelu9_fit.py.
// Error over every float32 (bench/mca/gelu_ulp.cpp): 6.18 ulp, at x = -9.0176 on this path
// (was 6.30); the bound stays 8 ulp. Measured in docs/BENCHMARKS.md (gelu9).
// The short path's constants, each as 8 copies, read through a pointer the compiler cannot see
// into: they stay memory operands and plain loads. As set1 constants beyond the 16 registers,
// GCC re-broadcast 13 of them on every vector, and vbroadcastss takes an FP pipe slot on Zen 3
// (measured: the kernel about 9% faster without them).
enum Gelu9K {
  kG9Magic,
  kG9Log2eHalf,
  kG9Ln2Hi,
  kG9Ln2HiMagic,
  kG9Ln2Lo,
  kG9E2,
  kG9E1,
  kG9Half,
  kG9P4,
  kG9P3,
  kG9P2,
  kG9P1,
  kG9P0,
  kG9Q4,
  kG9Q3,
  kG9Q2,
  kG9Q1,
  kG9Q0,
  kG9Count
};
struct alignas(32) Gelu9Rows {
  float v[kG9Count][8];
};
constexpr Gelu9Rows gelu9_rows() {
  constexpr float c[kG9Count] = {
      1572864.0f,          -0.72134752044448170f, -1.38671875f,        2181120.0f,
      -4.24388880e-4f,     0.0208336636f,         0.125016153f,        0.5f,
      0.3989482522010803f, 3.9760711193084717f,   18.05644989013672f,  43.444454193115234f,
      49.93806838989258f,  9.96729564666748f,     46.243865966796875f, 119.08490753173828f,
      166.5785675048828f,  99.87613677978516f};
  Gelu9Rows r{};
  for (int i = 0; i < kG9Count; ++i)
    for (int j = 0; j < 8; ++j) r.v[i][j] = c[i];
  return r;
}
inline constexpr Gelu9Rows kGelu9Rows = gelu9_rows();

inline Vec<float> vgelu_avx2_small(Vec<float> x, __m256i ai) {
  using V = Vec<float>;
  const float* kp = kGelu9Rows.v[0];
  __asm__("" : "+r"(kp));  // opaque: no constant folding into broadcasts
  const auto k = [kp](int i) { return V{_mm256_load_ps(kp + 8 * i)}; };
  const V a = {_mm256_castsi256_ps(ai)};
  const V a2 = a * a;
  const V tt = fmadd(a2, k(kG9Log2eHalf), k(kG9Magic));  // nf = -a^2 log2(e)/2 to 1/8
  const V nf = tt - k(kG9Magic);
  V s = fnmadd(a, a, fmadd(tt, k(kG9Ln2Hi), k(kG9Ln2HiMagic)));  // -1.38671875 nf, exact
  s = fnmadd(nf, k(kG9Ln2Lo), s);
  const V T = {_mm256_permutevar8x32_ps(
      _mm256_setr_ps(1.0f, 1.0905077457427979f, 1.1892070770263672f, 1.2968395948410034f,
                     1.4142135381698608f, 1.5422108173370361f, 1.6817928552627563f,
                     1.8340080976486206f),
      _mm256_castps_si256(tt.v))};
  const V pp = fmadd(fmadd(s, k(kG9E2), k(kG9E1)), s, k(kG9Half));
  const V p = fmadd(T * s, pp, T);  // 2^(j/8) exp(s/2)
  const V P =
      fmadd(fmadd(a2, k(kG9P4), fmadd(a, k(kG9P3), k(kG9P2))), a2, fmadd(a, k(kG9P1), k(kG9P0)));
  const V Q = fmadd(fmadd(a2, a + k(kG9Q4), fmadd(a, k(kG9Q3), k(kG9Q2))), a2,
                    fmadd(a, k(kG9Q1), k(kG9Q0)));
  const V R = P / Q;
  const V e = {_mm256_castsi256_ps(
      _mm256_add_epi32(_mm256_castps_si256(p.v),
                       _mm256_and_si256(_mm256_slli_epi32(_mm256_castps_si256(tt.v), 20),
                                        _mm256_set1_epi32(static_cast<int>(0xFF800000u)))))};
  const V h = {_mm256_castsi256_ps(_mm256_min_epu32(
      _mm256_castps_si256(x.v), _mm256_set1_epi32(static_cast<int>(0x80000000u))))};
  return fnmadd(a * R, e, h);
}
#endif

#if defined(__AVX512F__)
inline Vec<float> vgelu(Vec<float> x) {
#else
inline Vec<float> vgelu_avx2_general(Vec<float> x) {
#endif
  using V = Vec<float>;
  // |x| for the product, held to FLT_MAX for x = +inf (inf * 0 would be NaN there; at x = -inf
  // it is, as x Phi(x) is: min keeps -inf, abs makes it +inf); +0 for x = -0, so the result keeps
  // h's sign; NaN reaches the result through h
#if defined(__AVX512F__)
  // |min(x, FLT_MAX)| in one vrangeps (min, sign bit cleared; round 5: one operation fewer;
  // FLT_MAX for NaN, like the AVX2 line)
  const V au = {_mm512_range_ps(x.v, _mm512_set1_ps(3.40282347e38f), 0x8)};
#else
  const V au = abs(min(x, V::set1(3.40282347e38f)));  // min returns FLT_MAX for NaN
#endif
  const V a = min(au, V::set1(14.5f));  // beyond, a exp(-a^2/2) R(a) rounds to 0; NaN: 14.5
  const V b = a * V::set1(-0.72134752044448170f);  // -a log2(e) / 2
  // exp(-a^2/2) = 2^nf exp(s/2), nf = -a^2/(2 ln2) rounded to a multiple of 1/32 (AVX-512) or
  // 1/8 (AVX2) by the 1.5 * 2^18 (2^20) trick: tt's low 5 (3) bits hold j = frac(nf) * 32 (8),
  // which picks 2^(j/32) (2^(j/8)) from a register table; 2^floor(nf) by scalef or the
  // exponent field. s = -a^2 - 2 nf ln2 with 2 nf ln2hi exact and a^2 inside the FMA (one
  // rounding: full relative accuracy without a hi+lo pair), |s/2| <= ln2/64 (ln2/16): a
  // degree-2 minimax (degree-4 Taylor) polynomial.
#if defined(__AVX512F__)
  const V magic = V::set1(393216.0f);
#else
  const V magic = V::set1(1572864.0f);
#endif
  const V tt = fmadd(a, b, magic);
  const V nf = tt - magic;
  V s = fnmadd(a, a, nf * V::set1(-1.38671875f));
  s = fnmadd(nf, V::set1(-4.24388880e-4f), s);
#if defined(__AVX512F__)
  // 2^(j/32), j = tt's low 5 bits, by vpermt2ps; exp(s/2) on |s/2| <= ln2/64 by a degree-2
  // relative minimax fit, 0.9 * 2^-24 (round 6: one FMA fewer than 2^(j/16) and degree 3)
  const V T = {_mm512_permutex2var_ps(
      _mm512_setr_ps(1.0f, 1.0218972f, 1.04427373f, 1.06714046f, 1.09050775f, 1.1143868f,
                     1.13878858f, 1.1637249f, 1.18920708f, 1.21524739f, 1.24185777f, 1.26905096f,
                     1.29683959f, 1.32523668f, 1.35425556f, 1.38390994f),
      _mm512_castps_si512(tt.v),
      _mm512_setr_ps(1.41421354f, 1.44518077f, 1.47682619f, 1.50916445f, 1.54221082f, 1.5759809f,
                     1.61049032f, 1.64575553f, 1.68179286f, 1.71861935f, 1.75625217f, 1.79470909f,
                     1.8340081f, 1.87416768f, 1.91520655f, 1.95714414f))};
  const V pp = fmadd(s, V::set1(0.12500024f), V::set1(0.50000733f));
#else
  const V T = {_mm256_permutevar8x32_ps(
      _mm256_setr_ps(1.0f, 1.0905077457427979f, 1.1892070770263672f, 1.2968395948410034f,
                     1.4142135381698608f, 1.5422108173370361f, 1.6817928552627563f,
                     1.8340080976486206f),
      _mm256_castps_si256(tt.v))};
  const V pp = fmadd(fmadd(fmadd(s, V::set1(1.0f / 384), V::set1(1.0f / 48)), s, V::set1(0.125f)),
                     s, V::set1(0.5f));
#endif
  const V p = fmadd(T * s, pp, T);  // 2^(j/32) (AVX-512) or 2^(j/8) (AVX2) times exp(s/2)
#if defined(__AVX512F__)
  // R piecewise (issue 18, round 6): 30 intervals of width 1/2 centred on k/2, k = round(2a),
  // a degree-5 polynomial in u = a - k/2 (|u| <= 1/4) each, its coefficients picked from
  // 32-entry register tables by vpermt2ps (relative minimax fits, coefficients rounded one at
  // a time with the lower ones refitted: <= 2.2 * 2^-24 after float evaluation). k in the low
  // bits of 2a + 1.5 * 2^23; u by one vreduceps (a - round(2a)/2, exact). No
  // reciprocal: 15 -> 13 operations, and R's chain 5 FMAs instead of rcp14 + 11.
  // Generated by bench/mca/gelu_fit.py.
  // clang-format off
  static constexpr float kR[6][32] = {
      {-0.0199397989f, -0.00876631029f, -0.00318785757f, -0.00127400388f, -0.000553364458f,
       -0.000258613203f, -0.000128884087f, -6.79580771e-05f, -3.76533972e-05f, -2.17930829e-05f,
       -1.31090155e-05f, -8.15928979e-06f, -5.23509971e-06f, -3.45122567e-06f, -2.33117839e-06f,
       -1.60943159e-06f, -1.13329747e-06f, -8.1243104e-07f, -5.91966796e-07f, -4.37782717e-07f,
       -3.28190367e-07f, -2.49124327e-07f, -1.91294333e-07f, -1.4845709e-07f, -1.16351046e-07f,
       -9.20244219e-08f, -7.34053955e-08f, -5.90190119e-08f, -4.78050097e-08f, -4.09095193e-08f,
       0.f, 0.f},
      {0.0607205369f, 0.0231200885f, 0.00935101602f, 0.00414504623f, 0.00198976882f,
       0.00102346437f, 0.000558893371f, 0.000321455766f, 0.000193421467f, 0.000121053352f,
       7.84177828e-05f, 5.23619929e-05f, 3.59128389e-05f, 2.52237242e-05f, 1.80957686e-05f,
       1.3231017e-05f, 9.84078179e-06f, 7.43307555e-06f, 5.6935819e-06f, 4.41707562e-06f,
       3.46686625e-06f, 2.75023694e-06f, 2.20323113e-06f, 1.78104506e-06f, 1.45183969e-06f,
       1.19268668e-06f, 9.86870418e-07f, 8.22064635e-07f, 6.89080707e-07f, 5.80239146e-07f,
       0.f, 0.f},
      {-0.132754639f, -0.0549150109f, -0.0250854902f, -0.0124969119f, -0.00670423917f,
       -0.00383111089f, -0.00231048185f, -0.00145914918f, -0.000958715915f, -0.000651805487f,
       -0.000456478447f, -0.00032806184f, -0.00024118369f, -0.000180899457f, -0.000138115283f,
       -0.000107133535f, -8.42894078e-05f, -6.71690141e-05f, -5.41478112e-05f, -4.41109187e-05f,
       -3.62794126e-05f, -3.01001473e-05f, -2.5174355e-05f, -2.12105824e-05f, -1.79930648e-05f,
       -1.5360185e-05f, -1.31895413e-05f, -1.1387493e-05f, -9.88171723e-06f, -8.61591707e-06f,
       0.f, 0.f},
      {0.249986827f, 0.1187694f, 0.0621049106f, 0.0351860598f, 0.0213124007f,
       0.0136480881f, 0.00915625785f, 0.00638762163f, 0.00460587442f, 0.00341590191f,
       0.00259525888f, 0.00201332034f, 0.00159047218f, 0.001276567f, 0.00103907892f,
       0.000856353086f, 0.000713629997f, 0.000600635947f, 0.000510081765f, 0.000436705886f,
       0.000376650045f, 0.000327044079f, 0.000285724644f, 0.00025104126f, 0.000221720664f,
       0.000196770401f, 0.00017540947f, 0.000157017843f, 0.000141099124f, 0.000127252933f,
       0.f, 0.f},
      {-0.398941994f, -0.224132836f, -0.137363985f, -0.0902712792f, -0.062738277f,
       -0.045613952f, -0.034400437f, -0.0267342422f, -0.0212997161f, -0.0173270162f,
       -0.0143457558f, -0.0120574636f, -0.0102663944f, -0.00884039048f, -0.00768790348f,
       -0.00674405182f, -0.00596191082f, -0.00530691398f, -0.00475318078f, -0.00428103982f,
       -0.0038753394f, -0.00352426386f, -0.00321849459f, -0.00295060663f, -0.00271462742f,
       -0.00250571081f, -0.00231989194f, -0.00215390348f, -0.00200503296f, -0.00187101518f,
       0.f, 0.f},
      {0.5f, 0.349618852f, 0.261578292f, 0.20578067f, 0.168101996f,
       0.14133133f, 0.121513948f, 0.106345154f, 0.094410643f, 0.084803395f,
       0.0769193023f, 0.0703426972f, 0.0647793114f, 0.0600156747f, 0.0558934808f,
       0.0522930957f, 0.0491225459f, 0.0463100448f, 0.0437987894f, 0.04154329f,
       0.0395066924f, 0.037658859f, 0.03597489f, 0.0344340578f, 0.0330189727f,
       0.0317149274f, 0.0305094142f, 0.0293917321f, 0.0283526611f, 0.0273842253f,
       0.f, 0.f},
  };
  // clang-format on
  const __m512i k = _mm512_castps_si512(fmadd(a, V::set1(2.0f), V::set1(12582912.0f)).v);
  const V u = {_mm512_reduce_ps(a.v, 0x18)};  // M = 1 fraction bit, nearest-even, no #P
  const auto coef = [&](int j) {
    return V{_mm512_permutex2var_ps(_mm512_loadu_ps(kR[j]), k, _mm512_loadu_ps(kR[j] + 16))};
  };
  V R = coef(0);
  R = fmadd(R, u, coef(1));
  R = fmadd(R, u, coef(2));
  R = fmadd(R, u, coef(3));
  R = fmadd(R, u, coef(4));
  R = fmadd(R, u, coef(5));
#else
  const V den = fmadd(a, V::set1(0.333333343f), V::set1(1.0f));
  const V t = reciprocal_fast(den);  // a division on AVX2: rounded once
#if defined(DG_GELU_ESTRIN)
  const V t2 = t * t, t4 = t2 * t2;
  const V p01 = fmadd(V::set1(0.13283365964889526f), t, V::set1(5.310192136676051e-06f));
  const V p23 = fmadd(V::set1(0.1061258614063263f), t, V::set1(0.13474667072296143f));
  const V p45 = fmadd(V::set1(-0.09681253880262375f), t, V::set1(0.14063239097595215f));
  const V p67 = fmadd(V::set1(-0.3193601667881012f), t, V::set1(0.2771175503730774f));
  const V p89 = fmadd(V::set1(-0.027219204232096672f), t, V::set1(0.15193046629428864f));
  const V q0 = fmadd(p23, t2, p01), q1 = fmadd(p67, t2, p45);
  const V R = fmadd(fmadd(p89, t4, q1), t4, q0);
#else
  V R = V::set1(-0.027219204232096672f);
  R = fmadd(R, t, V::set1(0.15193046629428864f));
  R = fmadd(R, t, V::set1(-0.3193601667881012f));
  R = fmadd(R, t, V::set1(0.2771175503730774f));
  R = fmadd(R, t, V::set1(-0.09681253880262375f));
  R = fmadd(R, t, V::set1(0.14063239097595215f));
  R = fmadd(R, t, V::set1(0.1061258614063263f));
  R = fmadd(R, t, V::set1(0.13474667072296143f));
  R = fmadd(R, t, V::set1(0.13283365964889526f));
  R = fmadd(R, t, V::set1(5.310192136676051e-06f));
#endif
#endif
#if defined(__AVX512F__)
  const V e = scale2(p, nf);  // 2^floor(nf); gradual underflow for a > 13.2
#else
  // the exponent-field add while every lane's exp(-a^2/2) is normal (a <= 13.19; NaN and inf
  // were mapped to 14.5 above): floor(nf) is tt's bits above the low 3, so (tt << 20) with the
  // low 23 bits cleared is floor(nf) << 23; else the two exact factors, gradual underflow
  const V e = any_below_or_nan(b, -9.5144f)
                  ? scale2(p, V{_mm256_floor_ps(nf.v)})
                  : V{_mm256_castsi256_ps(_mm256_add_epi32(
                        _mm256_castps_si256(p.v),
                        _mm256_and_si256(_mm256_slli_epi32(_mm256_castps_si256(tt.v), 20),
                                         _mm256_set1_epi32(static_cast<int>(0xFF800000u)))))};
#endif
  // a R(a) is about 0.4: normal, so the product rounds once more only where the result is
  // denormal anyway (e * R first would be denormal from a = 13.1 on)
  return fnmadd(au * R, e, max(V::set1(-0.0f), x));  // -0 where x < 0 underflows
}

#if !defined(__AVX512F__)
inline Vec<float> vgelu(Vec<float> x) {
  // the short path on the lanes with |x| <= 13 (bits <= 0x41500000; NaN and inf have larger)
  const __m256i ai = _mm256_and_si256(_mm256_castps_si256(x.v), _mm256_set1_epi32(0x7FFFFFFF));
  const Mask<float> small = {
      _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(0x41500001), ai))};
  return per_lane_fast_path(
      small, [&] { return vgelu_avx2_small(x, ai); }, [&] { return vgelu_avx2_general(x); });
}
#endif

#else  // generic: float evaluated in double by libm, rounded once

inline void vgelu_tanh_sigmoid2(Vec<float> x, Vec<float>& s, Vec<float>& sc) {
  const double v = 1.5957691216057308 * double(x.v) * (1.0 + 0.044715 * double(x.v) * double(x.v));
  const double e = std::exp(-std::fabs(v)), d = 1.0 / (1.0 + e);
  s.v = static_cast<float>(v >= 0 ? d : e * d);
  sc.v = static_cast<float>(v >= 0 ? e * d : d);
  if (x.v != x.v) s.v = sc.v = x.v;
}

inline Vec<float> vgelu(Vec<float> x) {
  const double a = x.v;
  return {static_cast<float>(a * 0.5 * std::erfc(-a * 0.707106781186547524))};
}

inline Vec<float> vexp(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::exp(double(a))); });
}
inline Vec<float> vexp_upto88(Vec<float> x) { return vexp(x); }
inline Vec<float> vlog(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::log(double(a))); });
}
inline Vec<float> vlog1p(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::log1p(double(a))); });
}
inline Vec<float> vlog1p_unit(Vec<float> x) { return vlog1p(x); }
inline Vec<float> vtanh(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::tanh(double(a))); });
}
inline Vec<float> verf(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::erf(double(a))); });
}
inline Vec<float> vexpm1_neg(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::expm1(double(a))); });
}
inline Vec<float> verfc(Vec<float> x) {
  return map_lanes(x, [](float a) { return static_cast<float>(std::erfc(double(a))); });
}
inline Vec<float> vnormcdf(Vec<float> x) {
  return map_lanes(x, [](float a) {
    return static_cast<float>(0.5 * std::erfc(-double(a) * 0.707106781186547524));
  });
}
inline Vec<float> vnormpdf(Vec<float> x) {
  return map_lanes(x, [](float a) {
    return static_cast<float>(std::exp(-0.5 * double(a) * double(a)) * 0.398942280401432678);
  });
}
#endif

// ---- float64
//
// exp, log and log1p on AVX2 / AVX-512 (round 44): vector code (libm lane by lane took ~5x
// NumPy's time for float64 exp, and every float64 softmax, logsumexp, cross-entropy, sigmoid,
// softplus paid it). Bounds in float64 ulp of the exact result, asserted by
// tests/test_f64_vecmath_r44.py (long double reference, 10^6 values over the whole range plus
// the edges, every ISA); in brackets the maximum measured on the test's inputs at 10^7 (exp:
// uniform on [-745.2, 709.8] plus N(0, 1); log: random positive bit patterns, every exponent
// and denormals, plus [0.5, 2]; log1p: those, (-1, 1), tiny negatives and -1 + 2^-k),
// AVX-512 / AVX2 (the same bits):
//   vexp     x = n ln2 + r, n by the 1.5 * 2^52 rounding trick, ln2 in two parts (Cody-Waite),
//            e^r = 1 + r + r^2 q(r) to Taylor degree 13 on |r| <= ln2/2 (truncation 4.2e-18
//            relative), the sum formed with 1 + rh's exact error so that it is rounded once
//            (vexp_reduced). 2^n by scalef (AVX-512) or, on AVX2, added to the exponent field
//            while every lane's result is normal (x in [-708, 709]), else two exact
//            power-of-two factors: overflow to inf above 709.78, gradual underflow with one
//            more rounding (denormal results within 1 denormal step [0.77]), 0 below -745.13,
//            -inf -> 0, +inf -> inf, NaN -> NaN. Analysis: 0.5 (the last add) + 0.1 (r's
//            rounding, through r^2 q) + 0.1 (q's evaluation) + 0.03 (the tail's rounding).
//                                                                     <= 1 ulp [0.734/0.734]
//   vlog     fdlibm's e_log.c: x = 2^k m, m in [sqrt(1/2), sqrt 2) (AVX-512 getexp / getmant;
//            AVX2 from the bits, denormals prescaled by 2^52), f = m - 1, s = f / (2 + f),
//            log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) with fdlibm's degree-7 R
//            (|error| < 2^-58.45), k ln2 in two parts; 0 -> -inf, x < 0 -> NaN, inf -> inf.
//                                                                     <= 1 ulp [0.749/0.749]
//   vlog1p   w = 1 + u and its rounding error c (exact, Fast2Sum); where w's exponent k is 0
//            (u in about [-0.29, 0.41]) the kernel on f = u itself, else on w's reduction with
//            c / w added to the low part (fdlibm's s_log1p.c correction); -0 -> -0,
//            -1 -> -inf, u < -1 -> NaN.                               <= 1 ulp [0.751/0.751]
// expm1, tanh and erf on AVX2 / AVX-512 (round 45; libm lane by lane took 4-8x NumPy's time
// for float64 tanh, elu, selu, celu, the RNN cells). Bounds in float64 ulp of the exact result,
// asserted by tests/test_f64_vecmath_r45.py (long double reference, every ISA); in brackets the
// maximum measured at 10^7 values per range (uniform on [-0.4, 0.4], [-40, 40], [-750, 720]
// and 2^U(-1074, 10) of either sign for expm1; [-1, 1], [-0.6, 0.6], [-25, 25] and
// 2^U(-1074, 6) for tanh; [-1, 1], [0.8, 1.3], [1, 3], [-7, 7] and 2^U(-1074, 4) for erf),
// AVX-512 / AVX2 (the same bits):
//   vexpm1   vexp's reduction x = n ln2 + r and e^r = s + r^2/2 + small (s = 1 + rh,
//            small = r^3 q1(r) + s's exact error + r^2's rounding error / 2 - n ln2lo, q1 to
//            Taylor degree 14), then (2^n s - 1) + 2^n (r2/2 + small): 2^n s exact, its sum
//            with -1 split exactly (TwoSum), r2/2 exact, the rest added with one rounding
//            (r^2/2 kept exact because just above ln2/2, n = 1, the result's ulp is a quarter
//            of 2^n s's: a rounded r^2 q cost 1.39 ulp there). Near 0 (n = 0) s - 1 is exact and
//            s's error term carries the bits of x it lost, so tiny x keep full relative
//            accuracy on the same path (expm1(1e-10); denormals: x itself). x clamped to
//            [-45, 709] (-1 from -37.5 on), exp(x) above 709 (inf from 709.79), -0 -> -0.
//                                                                   <= 1.5 ulp [0.932/0.932]
//   vtanh    -m / (2 + m), m = expm1(-2|x|) as a double-double (vexpm1_dd), the quotient by
//            a reciprocal and one exact-residual correction step (FMA) carrying m's low part
//            and 2 + m's rounding error; 2|x| clamped to 45 (tanh rounds to 1 from 19.07),
//            x's sign bit put back (tanh(-0) = -0), NaN propagates. <= 1.5 ulp [0.727/0.727]
//   verf     |x| < 1: x + x R(x^2), R of degree 12 in x^2 (one FMA at the end: R's errors
//            reach the result scaled by |R| / (1 + R) <= 0.19); 1 <= |x| < 6:
//            1 - exp(-x^2) F(|x|), F = exp(x^2) erfc by one of four degree-13 pieces
//            ([1, 1.5), [1.5, 2.25), [2.25, 3.5), [3.5, 6]), x^2 split exactly (FMA);
//            erfc <= 0.16 there, so its few-ulp relative error costs erf at most ~0.6 ulp;
//            |x| clamped to 6 (erf rounds to 1 from 5.92 on), the sign bit put back (odd,
//            erf(-0) = -0), NaN propagates. Coefficients fitted for this file (Chebyshev
//            interpolation, mpmath at 60 digits), not from a library.  <= 2 ulp [1.121/1.121]
// erfc and the normal CDF / PDF (float64 gelu) still call libm lane by lane, as does the
// generic build for all of them.

#if defined(DG_VECTOR_MATH_F32)

#if !defined(__AVX512F__)
// AVX2 has no scalef, getexp or int64 <-> double conversion: the float64 math's bit helpers.
//
// p * 2^n where t = n + 1.5 * 2^52 (vexp's rounding trick leaves n in t's low bits, two's
// complement): n added to p's exponent field. Only for results that stay normal.
inline Vec<double> add_exponent(Vec<double> p, Vec<double> t) {
  const __m256i nb = _mm256_slli_epi64(_mm256_castpd_si256(t.v), 52);  // n << 52 (mod 2^64)
  return {_mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(p.v), nb))};
}
// 2^k for integer-valued k in [-1022, 1023]: k + 1023 in the low bits of 2^52 + k + 1023,
// shifted into the exponent field.
inline Vec<double> pow2i(Vec<double> k) {
  const __m256d b = _mm256_add_pd(k.v, _mm256_set1_pd(4503599627371519.0));  // 2^52 + 1023
  return {_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(b), 52))};
}
// a * 2^n for a in [1/2, 2] and integer-valued n in [-1080, 1030]: two exact power-of-two
// factors (n = h + l, both in [-540, 515]), a * 2^h exact, so the product overflows to inf or
// underflows gradually with one rounding.
inline Vec<double> scale2(Vec<double> a, Vec<double> n) {
  const Vec<double> h = round_nearest(n * Vec<double>::set1(0.5));
  return a * pow2i(h) * pow2i(n - h);
}
// true if any lane of x is outside [lo, hi] or NaN (vexp's fast-path test)
inline bool any_outside_or_nan(Vec<double> x, double lo, double hi) {
  const __m256d below = _mm256_cmp_pd(x.v, _mm256_set1_pd(lo), _CMP_NGE_UQ);
  const __m256d above = _mm256_cmp_pd(x.v, _mm256_set1_pd(hi), _CMP_NLE_UQ);
  return _mm256_movemask_pd(_mm256_or_pd(below, above)) != 0;
}
// finite a > 0 (denormals included) as m * 2^e with m in [1, 2): the biased exponent moved
// into the low bits of 2^52 (e = that double - 2^52 - 1023), denormals prescaled by 2^52.
inline Vec<double> split_exponent(Vec<double> a, Vec<double>& e) {
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  const __m256d tiny = _mm256_cmp_pd(a.v, _mm256_set1_pd(2.2250738585072014e-308), _CMP_LT_OQ);
  const __m256d x = _mm256_blendv_pd(a.v, _mm256_mul_pd(a.v, two52), tiny);
  const __m256i bits = _mm256_castpd_si256(x);
  const __m256i eb = _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_castpd_si256(two52));
  e.v = _mm256_sub_pd(_mm256_castsi256_pd(eb), _mm256_set1_pd(4503599627370496.0 + 1023.0));
  e.v = _mm256_sub_pd(e.v, _mm256_and_pd(tiny, _mm256_set1_pd(52.0)));
  const __m256i mant =
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                      _mm256_set1_epi64x(0x3ff0000000000000LL));
  return {_mm256_castsi256_pd(mant)};
}
#endif

// q(r) = sum_k r^k / (k + 2)! for k <= 11 (e^r = 1 + r + r^2 q(r) to Taylor degree 13) by
// Estrin's scheme: a chain of 5 FMAs instead of Horner's 11.
inline Vec<double> vexp_q(Vec<double> r, Vec<double> r2) {
  using V = Vec<double>;
  const V r4 = r2 * r2;
  const V p01 = fmadd(V::set1(1.0 / 6), r, V::set1(1.0 / 2));
  const V p23 = fmadd(V::set1(1.0 / 120), r, V::set1(1.0 / 24));
  const V p45 = fmadd(V::set1(1.0 / 5040), r, V::set1(1.0 / 720));
  const V p67 = fmadd(V::set1(1.0 / 362880), r, V::set1(1.0 / 40320));
  const V p89 = fmadd(V::set1(1.0 / 39916800), r, V::set1(1.0 / 3628800));
  const V p1011 = fmadd(V::set1(1.0 / 6227020800), r, V::set1(1.0 / 479001600));
  const V q03 = fmadd(p23, r2, p01), q47 = fmadd(p67, r2, p45), q811 = fmadd(p1011, r2, p89);
  return fmadd(fmadd(q811, r4, q47), r4, q03);
}

// e^(x - n ln2), n = round(x / ln2) by the 1.5 * 2^52 trick (t's low bits hold n). ln2 in two
// parts (Cody-Waite): the high one has 32 significant bits, so n * hi (|n| <= 1077) and
// rh = x - n * hi are exact, and r = rh - n * lo is rounded once. The sum
// 1 + (rh - n * lo) + r^2 q(r) is formed as s + ((e1 - n * lo) + r^2 q) with s = 1 + rh and
// e1 = (1 - s) + rh its exact error (Fast2Sum): r's rounding error only reaches the r^2 q term,
// and the result is rounded once, by the last add, up to the tail's 2^-57.
inline Vec<double> vexp_reduced(Vec<double> x, Vec<double>& t, Vec<double>& n) {
  using V = Vec<double>;
  const V magic = V::set1(6755399441055744.0);
  t = fmadd(x, V::set1(1.4426950408889634), magic);
  n = t - magic;
  const V lo = V::set1(1.90821492927058770002e-10);
  const V rh = fnmadd(n, V::set1(6.93147180369123816490e-01), x);
  const V r = fnmadd(n, lo, rh);
  const V s = V::set1(1.0) + rh;
  const V e1 = (V::set1(1.0) - s) + rh;
  const V r2 = r * r;
  return s + fmadd(vexp_q(r, r2), r2, fnmadd(n, lo, e1));
}

inline Vec<double> vexp(Vec<double> x) {
  using V = Vec<double>;
  // exp rounds to 0 below -745.14 and overflows above 709.79; min and max pass NaN through
  x = min(V::set1(710.0), max(V::set1(-746.0), x));
  V t, n;
  const V p = vexp_reduced(x, t, n);
#if defined(__AVX512F__)
  return scale2(p, n);
#else
  // 2^n in the exponent field while every result is normal (n in [-1021, 1023]); the two
  // factors give the same bits there, so each lane's result is its own
  if (any_outside_or_nan(x, -708.0, 709.0)) return scale2(p, n);
  return add_exponent(p, t);
#endif
}
inline Vec<double> vexp_upto88(Vec<double> x) { return vexp(x); }

// k ln2 + log(1 + f) + c for f in [sqrt(1/2) - 1, sqrt(2) - 1] and a small correction c:
// fdlibm's e_log.c kernel (s = f / (2 + f), its R(z), z = s^2, split in even and odd powers of
// z^2 as there), ln2 in its two parts.
inline Vec<double> vlog1p_reduced(Vec<double> f, Vec<double> k, Vec<double> c) {
  using V = Vec<double>;
  const V s = f / (V::set1(2.0) + f);
  const V z = s * s, w = z * z;
  V t1 = V::set1(1.531383769920937332e-01);  // the even powers of z ...
  t1 = fmadd(t1, w, V::set1(2.222219843214978396e-01));
  t1 = fmadd(t1, w, V::set1(3.999999999940941908e-01));
  V t2 = V::set1(1.479819860511658591e-01);  // ... and the odd ones
  t2 = fmadd(t2, w, V::set1(1.818357216161805012e-01));
  t2 = fmadd(t2, w, V::set1(2.857142874366239149e-01));
  t2 = fmadd(t2, w, V::set1(6.666666666666735130e-01));
  const V R = fmadd(t1, w, t2 * z);
  const V hfsq = V::set1(0.5) * f * f;
  const V lo = fmadd(k, V::set1(1.90821492927058770002e-10), fmadd(s, hfsq + R, c));
  return fmadd(k, V::set1(6.93147180369123816490e-01), f - (hfsq - lo));
}

// log's reduction: x = 2^e m with m in [sqrt(1/2), sqrt 2), for finite x > 0
inline Vec<double> vlog_split(Vec<double> x, Vec<double>& e) {
  using V = Vec<double>;
  V m = split_exponent(x, e);
  const auto big = m > V::set1(1.4142135623730951);
  e = select(big, e + V::set1(1.0), e);
  return select(big, m * V::set1(0.5), m);
}

inline Vec<double> vlog(Vec<double> x) {
  using V = Vec<double>;
  V e;
  const V m = vlog_split(x, e);
  V res = vlog1p_reduced(m - V::set1(1.0), e, V::zero());
  const V inf = V::set1(std::numeric_limits<double>::infinity());
  res = select(x == V::zero(), -inf, res);
  res = select(x < V::zero(), V::set1(std::numeric_limits<double>::quiet_NaN()), res);
  res = select(x == inf, inf, res);
  return select(is_nan(x), x, res);
}

inline Vec<double> vlog1p(Vec<double> u) {
  using V = Vec<double>;
  const V one = V::set1(1.0);
  const V w = one + u;
  // 1 + u = w + c exactly (Fast2Sum, the larger magnitude first)
  const V c = select(abs(u) > one, one - (w - u), u - (w - one));
  V e;
  const V m = vlog_split(w, e);
  const auto k0 = e == V::zero();  // w in [sqrt(1/2), sqrt 2): f = u itself, nothing to add
  V res = vlog1p_reduced(select(k0, u, m - one), e, select(k0, V::zero(), c / w));
  const V inf = V::set1(std::numeric_limits<double>::infinity());
  res = select(w == V::zero(), -inf, res);
  res = select(w < V::zero(), V::set1(std::numeric_limits<double>::quiet_NaN()), res);
  res = select(u == inf, inf, res);
  res = select(u == V::zero(), u, res);  // log1p(-0) = -0
  return select(is_nan(u), u, res);
}

// 2^n for integer-valued n in [-1022, 1023]
inline Vec<double> pow2n(Vec<double> n) {
#if defined(__AVX512F__)
  return scale2(Vec<double>::set1(1.0), n);
#else
  return pow2i(n);
#endif
}

// q1(r) = sum_k r^k / (k + 3)! for k <= 11 (e^r = 1 + r + r^2/2 + r^3 q1(r) to Taylor degree
// 14: truncation 2e-19 absolute on |r| <= ln2/2), by Estrin's scheme as vexp_q.
inline Vec<double> vexpm1_q1(Vec<double> r, Vec<double> r2) {
  using V = Vec<double>;
  const V r4 = r2 * r2;
  const V p01 = fmadd(V::set1(1.0 / 24), r, V::set1(1.0 / 6));
  const V p23 = fmadd(V::set1(1.0 / 720), r, V::set1(1.0 / 120));
  const V p45 = fmadd(V::set1(1.0 / 40320), r, V::set1(1.0 / 5040));
  const V p67 = fmadd(V::set1(1.0 / 3628800), r, V::set1(1.0 / 362880));
  const V p89 = fmadd(V::set1(1.0 / 479001600), r, V::set1(1.0 / 39916800));
  const V p1011 = fmadd(V::set1(1.0 / 87178291200), r, V::set1(1.0 / 6227020800));
  const V q03 = fmadd(p23, r2, p01), q47 = fmadd(p67, r2, p45), q811 = fmadd(p1011, r2, p89);
  return fmadd(fmadd(q811, r4, q47), r4, q03);
}

// expm1(x) = hi + lo (the return value hi; lo its Fast2Sum remainder, so hi + lo is the
// unrounded sum below, good to ~2^-60 relative: vtanh uses both) for x in [-45, 709] (or NaN):
// x = n ln2 + r as in vexp_reduced, s = 1 + rh with e1 its exact error, and
// e^r = s + r^2/2 + small, small = r^3 q1(r) + (e1 - n ln2lo) + (r^2 - r2)/2. Then
// expm1(x) = (2^n s - 1) + 2^n (r2/2 + small): 2^n s is exact (n >= -65, no denormal), its sum
// with -1 split exactly (TwoSum: u + err), r2/2 exact, and hi = u + (err + 2^n (r2/2 + small))
// is rounded once. Near 0 (n = 0) s - 1 is exact (Sterbenz) and e1 carries the bits of x that
// s lost: expm1(1e-10) keeps full relative accuracy, no separate branch.
inline Vec<double> vexpm1_dd(Vec<double> x, Vec<double>& lo) {
  using V = Vec<double>;
  const V magic = V::set1(6755399441055744.0);
  const V n = fmadd(x, V::set1(1.4426950408889634), magic) - magic;
  const V ln2lo = V::set1(1.90821492927058770002e-10);
  const V rh = fnmadd(n, V::set1(6.93147180369123816490e-01), x);
  const V r = fnmadd(n, ln2lo, rh);
  const V one = V::set1(1.0);
  const V s = one + rh;
  const V e1 = (one - s) + rh;
  const V r2 = r * r;
  const V r2e = fmsub(r, r, r2);  // r^2 - r2, exact
  const V half = V::set1(0.5);
  // e^r - s = r^2/2 + (r^3 q1(r) + e1 - n ln2lo), r^2/2 = (r2 + r2e) / 2 with r2 / 2 exact
  const V small = fmadd(r2 * r, vexpm1_q1(r, r2), fmadd(half, r2e, fnmadd(n, ln2lo, e1)));
  const V p2 = pow2n(n);
  const V P = s * p2;
  const V u = P - one;
  const V bp = u - P;  // TwoSum(P, -1): u + err = P - 1 exactly
  const V err = (P - (u - bp)) - (one + bp);
  const V l = fmadd(half * r2, p2, fmadd(small, p2, err));
  const V hi = u + l;
  lo = l - (hi - u);  // Fast2Sum: |u| >= |l| or u = 0
  return hi;
}

// expm1 on the whole line: x clamped to [-45, 709] (below -37.5 the result rounds to -1; min
// and max pass NaN through), exp(x) itself above 709 (the -1 is far below half an ulp there;
// vexp overflows to inf at 709.79), -0 -> -0.
inline Vec<double> vexpm1(Vec<double> x) {
  using V = Vec<double>;
  V lo;
  V res = vexpm1_dd(min(V::set1(709.0), max(V::set1(-45.0), x)), lo);
  const auto big = x > V::set1(709.0);
  if (any(big)) res = select(big, vexp(x), res);
  return select(x == V::zero(), x, res);
}

// t with the sign bit of x, for t >= +0 or NaN (tanh's odd symmetry, tanh(-0) = -0)
inline Vec<double> or_sign_of(Vec<double> t, Vec<double> x) {
#if defined(__AVX512F__)
  const __m512i sign = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
  return {_mm512_castsi512_pd(
      _mm512_ternarylogic_epi64(_mm512_castpd_si512(t.v), _mm512_castpd_si512(x.v), sign, 0xF8))};
#else
  return {_mm256_or_pd(t.v, _mm256_and_pd(x.v, _mm256_set1_pd(-0.0)))};
#endif
}

// tanh(|x|) = -m / (2 + m), m = expm1(-2|x|) in (-1, 0] as hi + lo (vexpm1_dd); 2|x| clamped
// to 45 (m rounds to -1 from 2|x| = 37.5 on, tanh to 1 from |x| = 19.07). The quotient with
// m's low part and 2 + mh's rounding error (Fast2Sum, exact): q0 = -mh / d by a reciprocal,
// then one correction step with the exact residual -mh - q0 d (FMA), rounded once at the end.
// x's sign bit put back; NaN propagates.
inline Vec<double> vtanh(Vec<double> x) {
  using V = Vec<double>;
  V ml;
  const V mh = vexpm1_dd(max(V::set1(-45.0), V::set1(-2.0) * abs(x)), ml);
  const V d = V::set1(2.0) + mh;
  const V dl = ((V::set1(2.0) - d) + mh) + ml;
  const V inv = V::set1(1.0) / d;
  const V q0 = -mh * inv;
  const V res = fnmadd(q0, d, -mh);  // -mh - q0 d, exact
  const V c = fnmadd(q0, dl, res - ml);
  return or_sign_of(fmadd(c, inv, q0), x);
}

// erf(x) - x = x R(x^2) on |x| < 1: R of degree 12, interpolated at the Chebyshev nodes of
// [0, 1] (fitted for this file, mpmath at 60 digits; max |error| 1.6e-17 after rounding the
// coefficients), lowest power first.
alignas(64) inline constexpr double kErfSmall[13] = {
    0x1.06eba8214db69p-3,  -0x1.812746b0379e6p-2,  0x1.ce2f21a042b30p-4,  -0x1.b82ce31284e00p-6,
    0x1.565bcd0dbaa38p-8,  -0x1.c02db3dac435fp-11, 0x1.f9a321d5b8e1ep-14, -0x1.f4d1e3183f7aep-17,
    0x1.b9df224ca4b97p-20, -0x1.5f1ecb6f0764cp-23, 0x1.f7b4bf3b13964p-27, -0x1.389d4f2641625p-30,
    0x1.05ffd737fb32ep-34};
// exp(x^2) erfc(x) on [1, 1.5), [1.5, 2.25), [2.25, 3.5), [3.5, 6]: degree-13 polynomials in
// x - (the interval's midpoint), interpolated at each interval's Chebyshev nodes (fitted as
// kErfSmall; the error they leave in erfc is below 3e-18 absolute), lowest power first.
inline constexpr double kErfcMid[4] = {1.25, 1.875, 2.875, 4.75};
alignas(64) inline constexpr double kErfcPoly[4][14] = {
    {0x1.78a692138767ap-2, -0x1.abaacdbfa8b07p-3, 0x1.b56f45eef7e3fp-4, -0x1.9b635ac624ac6p-5,
     0x1.68a25a664836fp-6, -0x1.299636d6c9209p-7, 0x1.d1b69597f0c3dp-9, -0x1.5b8bc9419d840p-10,
     0x1.f0fe8a88d3cd7p-12, -0x1.55c08c80d2503p-13, 0x1.c55c924775cc5p-15, -0x1.22f10017ec710p-16,
     0x1.71368494f04cfp-18, -0x1.bde45264f2361p-20},
    {0x1.13e5743b60481p-2, -0x1.e36580c7f734ap-4, 0x1.8a6efeed231a7p-5, -0x1.2ef92f6f1068dp-6,
     0x1.b99589d4821bfp-8, -0x1.33237c3f25dbbp-9, 0x1.99b60da9b79d1p-11, -0x1.070e0c6738f19p-12,
     0x1.463225c3d0d0fp-14, -0x1.87a681fe4ddebp-16, 0x1.c81a3181bf301p-18, -0x1.0265cc11a5f61p-19,
     0x1.2771127a44f43p-21, -0x1.3d93a895dc51dp-23},
    {0x1.7d0a5e9dd5717p-3, -0x1.dfc0205709b32p-5, 0x1.21c23afa3053fp-6, -0x1.512f92fca3d9ap-8,
     0x1.7b404aadaaaa6p-10, -0x1.9d6f222f04dfdp-12, 0x1.b5d782c007532p-14, -0x1.c35c5dc8bc1f7p-16,
     0x1.c5b8611ac9ff1p-18, -0x1.bd6208ca0988ep-20, 0x1.aa9c375f1ebf1p-22, -0x1.90f7476f32ee9p-24,
     0x1.8c5a77ce5ef2bp-26, -0x1.653a09b526115p-28},
    {0x1.dc603a3e78355p-4, -0x1.81149bc4a1368p-6, 0x1.317c144e62c6ep-8, -0x1.dc1af8821cdf8p-11,
     0x1.6cc10d90cefbep-13, -0x1.12f1753511b03p-15, 0x1.98180baa68436p-18, -0x1.2a61e2fafb1cbp-20,
     0x1.ae48b8ea508b4p-23, -0x1.31dee82aacaf6p-25, 0x1.a83a1d6cf89eap-28, -0x1.25f2d158d35ebp-30,
     0x1.db1aad7dc4fd8p-33, -0x1.3fedbfe04682dp-35}};

// erf: |x| < 1: x + x R(x^2) (one FMA, R by Horner); 1 <= |x| < 6: 1 - exp(-x^2) F(|x|), F
// the kErfcPoly piece of the lane's interval (3 selects a coefficient), exp(-x^2) with x^2 =
// h + l exactly (FMA) as exp(-h) (1 - l); |x| clamped to 6 (erf rounds to 1 from 5.92 on; min
// passes NaN through), x's sign bit put back (erf(-0) = -0).
inline Vec<double> verf(Vec<double> x) {
  using V = Vec<double>;
  const V a = min(V::set1(6.0), abs(x));
  const V z = a * a;
  V r = V::set1(kErfSmall[12]);
  for (int k = 11; k >= 0; --k) r = fmadd(r, z, V::set1(kErfSmall[k]));
  const V small = fmadd(a, r, a);
  const auto m1 = a >= V::set1(1.5), m2 = a >= V::set1(2.25), m3 = a >= V::set1(3.5);
  auto pick = [&](const double* c) {
    return select(m3, V::set1(c[3]),
                  select(m2, V::set1(c[2]), select(m1, V::set1(c[1]), V::set1(c[0]))));
  };
  const double mid[4] = {kErfcMid[0], kErfcMid[1], kErfcMid[2], kErfcMid[3]};
  const V t = a - pick(mid);
  const double top[4] = {kErfcPoly[0][13], kErfcPoly[1][13], kErfcPoly[2][13], kErfcPoly[3][13]};
  V f = pick(top);
  for (int k = 12; k >= 0; --k) {
    const double c[4] = {kErfcPoly[0][k], kErfcPoly[1][k], kErfcPoly[2][k], kErfcPoly[3][k]};
    f = fmadd(f, t, pick(c));
  }
  const V l = fmsub(a, a, z);  // a^2 - z, exact
  const V e = vexp(-z);
  const V big = V::set1(1.0) - fnmadd(e, l, e) * f;
  return or_sign_of(select(a < V::set1(1.0), small, big), x);
}

inline Vec<double> vexpm1_neg(Vec<double> x) { return vexpm1(x); }

#else  // generic: libm

inline Vec<double> vexp(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::exp(a); });
}
inline Vec<double> vexp_upto88(Vec<double> x) { return vexp(x); }
inline Vec<double> vlog(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::log(a); });
}
inline Vec<double> vlog1p(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::log1p(a); });
}
inline Vec<double> vexpm1(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::expm1(a); });
}
inline Vec<double> vexpm1_neg(Vec<double> x) { return vexpm1(x); }
inline Vec<double> vtanh(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::tanh(a); });
}
inline Vec<double> verf(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::erf(a); });
}
#endif

// float64, every ISA: libm lane by lane.
inline Vec<double> vlog1p_unit(Vec<double> x) { return vlog1p(x); }
inline Vec<double> verfc(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::erfc(a); });
}
inline Vec<double> vnormcdf(Vec<double> x) {
  return map_lanes(x, [](double a) { return 0.5 * std::erfc(-a * 0.707106781186547524); });
}
inline Vec<double> vnormpdf(Vec<double> x) {
  return map_lanes(x, [](double a) { return std::exp(-0.5 * a * a) * 0.398942280401432678; });
}

// sigmoid(x) and 1 - sigmoid(x) = sigmoid(-x), both without cancellation, for any x.
template <class T>
inline void vsigmoid2(Vec<T> x, Vec<T>& s, Vec<T>& sc);

inline void vgelu_tanh_sigmoid2(Vec<double> x, Vec<double>& s, Vec<double>& sc) {
  using V = Vec<double>;
  const V v = x * fmadd(V::set1(1.5957691216057308 * 0.044715), x * x, V::set1(1.5957691216057308));
  vsigmoid2(v, s, sc);
}

template <class T>
inline void vsigmoid2(Vec<T> x, Vec<T>& s, Vec<T>& sc) {
  using V = Vec<T>;
  const V e = vexp_upto88(-abs(x));
  const V d = reciprocal_fast(V::set1(T(1)) + e);  // 1 + e is in [1, 2]
  const V ed = e * d;
  const auto pos = x >= V::zero();
  s = select(pos, d, ed);
  sc = select(pos, ed, d);
}

template <class T>
inline Vec<T> vsigmoid(Vec<T> x) {
  using V = Vec<T>;
  const V e = vexp_upto88(-abs(x));
  const V d = reciprocal_fast(V::set1(T(1)) + e);  // 1 + e is in [1, 2]
  return select(x >= V::zero(), d, e * d);
}

#if defined(DG_VECTOR_MATH_F32)
// float32 sigmoid: 1 / (1 + exp(-x)) on the lanes with x >= -86 (exp(-x) stays finite;
// 1/(1+E) has no cancellation, so the relative error of E passes through damped by E/(1+E)):
// no |x|, no select, no e * d; a lane below (the result denormal) or NaN takes the two-sided
// formulation above.
inline Vec<float> vsigmoid(Vec<float> x) {
  using V = Vec<float>;
  // x > 86: exp(-86) = 4e-38 still rounds 1 / (1 + e) to 1, and keeps exp's result normal
  return per_lane_fast_path(
      x >= V::set1(-86.0f),
      [&] { return reciprocal_fast(V::set1(1.0f) + vexp_normal(-min(V::set1(86.0f), x))); },
      [&] { return vsigmoid<float>(x); });
}
#endif

// gelu(x) = x Phi(x) (the float64 and generic paths; float32 vector code above).
template <class T>
inline Vec<T> vgelu(Vec<T> x) {
  return x * vnormcdf(x);
}

// swish(x) = x sigmoid(x) (the activation that op_names.h lists after softplus). Where sigmoid
// underflows to 0 (x < -104 in float, x = -inf) the result is -0, not x * 0 (NaN at -inf): x is
// clamped to -800 first (sigmoid(-800) is 0 in float64 too; max passes NaN through). The float32
// fast path (every x >= -86) needs no clamp.
template <class T>
inline Vec<T> vswish(Vec<T> x) {
  return max(Vec<T>::set1(T(-800)), x) * vsigmoid(x);
}

#if defined(DG_VECTOR_MATH_F32)
inline Vec<float> vswish(Vec<float> x) {
  using V = Vec<float>;
  return per_lane_fast_path(
      x >= V::set1(-86.0f),
      [&] { return x * reciprocal_fast(V::set1(1.0f) + vexp_normal(-min(V::set1(86.0f), x))); },
      [&] { return vswish<float>(x); });
}
#endif

}  // namespace DG_ISA_NS
}  // namespace dg
