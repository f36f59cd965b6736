"""torch.special: the gamma family, Bessel, error-function and normal-distribution functions.

Everything runs on numpy alone (scipy is not a dependency): the gamma-family algorithms below
are vectorized float64 ones -- Stirling's series with a Taylor series about 2 and exact
recurrences for lgamma, the asymptotic series with recurrence and reflection for digamma,
the Hurwitz zeta function by Euler-Maclaurin summation (cephes' algorithm, as torch's) for
polygamma, the series and continued fraction for the regularized incomplete gamma functions,
power and asymptotic series for the modified Bessel functions. float32 inputs are computed in
float64 and rounded; integer and bool inputs give float32, as torch. On cupy arrays the
forwards are cupyx.scipy.special's (a thin branch)."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial
from typing import Any, Callable

import numpy as np

from .tensor import Tensor, get_array_module, where
from .tensor import _special as _erf_family  # erf / erfc of an array (scipy or math)

__all__ = [
    "gammaln",
    "digamma",
    "psi",
    "polygamma",
    "multigammaln",
    "gammainc",
    "gammaincc",
    "erf",
    "erfc",
    "erfinv",
    "erfcx",
    "expit",
    "logit",
    "exp2",
    "expm1",
    "log1p",
    "xlogy",
    "xlog1py",
    "entr",
    "sinc",
    "ndtr",
    "ndtri",
    "log_ndtr",
    "log_softmax",
    "softmax",
    "logsumexp",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "round",
    "zeta",
]

_EPS = np.finfo(np.float64).eps / 2  # cephes' MACHEP
_LS2PI = 0.91893853320467274178  # log(sqrt(2 pi))
_EULER = 0.57721566490153286061


# ---- constants, computed once from exact Bernoulli numbers --------------------------------


def _bernoulli(n: int) -> list[Fraction]:
    """B_0 .. B_n (B_1 = -1/2), by the recurrence sum_k C(m+1, k) B_k = 0."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return b


_B = _bernoulli(26)
# Stirling's series for lgamma: sum B_2k / (2k (2k-1) x^(2k-1)), k = 1..8
_STIRLING = [float(_B[2 * k] / (2 * k * (2 * k - 1))) for k in range(1, 9)]
# digamma's asymptotic series: sum B_2k / (2k x^2k), k = 1..7
_PSI_ASYM = [float(_B[2 * k] / (2 * k)) for k in range(1, 8)]
# Euler-Maclaurin for the Hurwitz zeta function: (2k)! / B_2k, k = 1..12 (cephes' A[])
_ZETA_A = [float(math.factorial(2 * k) / _B[2 * k]) for k in range(1, 13)]


def _zeta_minus_one(k: int) -> float:
    """zeta(k) - 1 for an integer k >= 2: a direct sum to 30, then Euler-Maclaurin."""
    n = 30
    terms = [float(Fraction(1, j**k)) for j in range(2, n)]
    tail = Fraction(1, (k - 1) * n ** (k - 1)) + Fraction(1, 2 * n**k)
    rising = Fraction(k)
    for j in range(1, 8):
        tail += _B[2 * j] / math.factorial(2 * j) * rising / n ** (k + 2 * j - 1)
        rising *= (k + 2 * j - 1) * (k + 2 * j)
    return math.fsum([*terms, float(tail)])


# lgamma(2 + z) = (1 - gamma) z + sum_k (-1)^k (zeta(k) - 1) / k z^k, |z| <= 1/2
_LG2 = [1.0 - _EULER] + [(-1) ** k * _zeta_minus_one(k) / k for k in range(2, 32)]


def _poly(coefs: list[float], z: Any) -> Any:
    """sum coefs[i] z^(i+1) (Horner's)."""
    acc = np.zeros_like(z)
    for c in reversed(coefs):
        acc = (acc + c) * z
    return acc


# ---- numpy cores (float64 in, float64 out) -------------------------------------------------


def _stirling(x: Any) -> Any:
    """lgamma(x) - ((x - 1/2) log x - x + log sqrt(2 pi)), x >= 10."""
    r = 1.0 / x
    r2 = r * r
    acc = np.zeros_like(x)
    for c in reversed(_STIRLING):
        acc = acc * r2 + c
    return acc * r


def _lgamma_nonneg(x: Any) -> Any:
    """lgamma on x >= -1/2 (x != 0): Taylor about 2 with exact integer shifts below 10,
    Stirling above."""
    out = np.empty_like(x)
    big = x >= 10
    xb = x[big]
    out[big] = (xb - 0.5) * (np.log(xb) - 1) - 0.5 + _LS2PI + _stirling(xb)
    xs = x[~big]
    n = np.floor(xs + 0.5) - 2  # -2 .. 8: z = x - (n + 2) in [-1/2, 1/2), exact
    z = xs - (n + 2)
    res = _poly(_LG2, z)
    prod = np.ones_like(xs)
    for k in range(1, 9):  # lgamma(x) = lgamma(z + 2) + log((x-1)...(x-n)), each factor exact
        prod = np.where(k <= n, prod * (xs - k), prod)
    res = res + np.log(prod)
    res = np.where(n == -1, res - np.log(xs), res)
    res = np.where(n == -2, res - np.log(np.abs(xs)) - np.log1p(xs), res)
    out[~big] = res
    return out


def _lgamma(x: Any) -> Any:
    out = np.full_like(x, np.inf)  # poles (0, -0.0, negative integers) and -inf: inf
    out[np.isnan(x)] = np.nan
    ok = (x >= -0.5) & (x != 0)
    out[ok] = _lgamma_nonneg(x[ok])
    neg = (x < -0.5) & (x != np.floor(x))
    xn = x[neg]  # reflection: lgamma(x) = log(pi / |x sin(pi x)|) - lgamma(-x)
    s = np.abs(np.sin(np.pi * (xn - np.round(xn))))
    out[neg] = np.log(np.pi / s) - np.log(-xn) - _lgamma_nonneg(-xn)
    return out


def _lgam1p(a: Any) -> Any:
    """lgamma(1 + a), accurate for small a."""
    small = np.abs(a) <= 0.5
    return np.where(
        small,
        _poly(_LG2, np.where(small, a, 0.0)) - np.log1p(np.where(small, a, 0.0)),
        _lgamma(1.0 + a),
    )


def _digamma(x: Any) -> Any:
    out = np.full_like(x, np.nan)  # negative integers, -inf, nan
    out[x == np.inf] = np.inf
    zero = x == 0
    out[zero] = np.copysign(np.inf, -x[zero])  # torch: -inf at 0, inf at -0.0
    pos = (x > 0) & (x < np.inf)
    neg = (x < 0) & (x != np.floor(x))
    xn = x[neg]
    y = np.concatenate([x[pos], 1.0 - xn])  # reflection: psi(x) = psi(1 - x) - pi cot(pi x)
    acc = np.zeros_like(y)
    for _ in range(10):  # recurrence up to y >= 10
        low = y < 10
        if not low.any():
            break
        acc = np.where(low, acc - 1.0 / y, acc)
        y = np.where(low, y + 1.0, y)
    r2 = 1.0 / (y * y)
    series = np.zeros_like(y)
    for c in reversed(_PSI_ASYM):
        series = (series + c) * r2
    res = np.log(y) - 0.5 / y - series + acc
    npos = int(pos.sum())
    out[pos] = res[:npos]
    out[neg] = res[npos:] - np.pi / np.tan(np.pi * (xn - np.round(xn)))
    return out


def _zeta_pos(s: Any, q: Any) -> Any:
    """Hurwitz zeta(s, q) for s > 1, 0 < q < inf: cephes' algorithm (torch's), vectorized."""
    with np.errstate(all="ignore"):
        acc = q**-s
        a = q.copy()
        b = np.zeros_like(q)
        done = np.zeros(q.shape, bool)  # converged in the direct sum
        sumd = np.zeros(q.shape, bool)  # the direct sum is over
        i = 0
        while not (done | sumd).all():
            act = ~(done | sumd)
            i += 1
            a = np.where(act, a + 1.0, a)
            b = np.where(act, a**-s, b)
            acc = np.where(act, acc + b, acc)
            done |= act & (np.abs(b / acc) < _EPS)
            sumd |= act & ~done & (i >= 9) & (a > 9.0)
        w = a
        em = sumd
        acc = np.where(em, acc + b * w / (s - 1.0) - 0.5 * b, acc)
        fac = np.ones_like(q)
        k = 0.0
        for c in _ZETA_A:
            fac = fac * (s + k)
            b = b / w
            t = fac * b / c
            acc = np.where(em, acc + t, acc)
            em = em & ~(np.abs(t / acc) < _EPS)
            k += 1.0
            fac = fac * (s + k)
            b = b / w
            k += 1.0
        big = q > 1e8
        acc = np.where(big, (1.0 / (s - 1.0) + 0.5 / q) * q ** (1.0 - s), acc)
    return acc


def _zeta(s: Any, q: Any) -> Any:
    s, q = np.broadcast_arrays(s, q)
    out = np.full(s.shape, np.nan)
    out[s == 1] = np.inf
    valid = (s > 1) & ~np.isnan(q)
    pole = valid & (q <= 0) & (q == np.floor(q))
    out[pole] = np.inf
    pos = valid & (q > 0) & (q < np.inf)
    out[pos] = _zeta_pos(s[pos], q[pos])
    # q < 0 non-integer, s an integer: the terms k < -floor(q) of sum (q + k)^-s are
    # (-1)^s (j - f)^-s, j = 1..M (f = q - floor(q), M = -floor(q)): three sums with q > 0
    neg = valid & (q < 0) & (q != np.floor(q)) & (s == np.floor(s))
    sn, qn = s[neg], q[neg]
    m = -np.floor(qn)
    f = qn + m
    sign = np.where(np.mod(sn, 2) == 0, 1.0, -1.0)
    one_f = -(qn + (m - 1.0))  # 1 - f, exact
    zs = _zeta_pos(np.concatenate([sn] * 3), np.concatenate([f, one_f, 1.0 - qn]))
    k = sn.size
    out[neg] = zs[:k] + sign * (zs[k : 2 * k] - zs[2 * k :])
    return out


def _factorial(n: int) -> float:
    return float(math.factorial(n)) if n <= 170 else math.inf


def _polygamma(n: int, x: Any) -> Any:
    if n == 0:
        return _digamma(x)
    with np.errstate(all="ignore"):
        out = (-1.0) ** (n + 1) * _factorial(n) * _zeta(np.float64(n + 1), x)
    if n == 1:  # torch's trigamma: 0 at inf, nan at -inf (its zeta, hence n >= 2: nan, inf)
        out = np.where(x == np.inf, 0.0, np.where(x == -np.inf, np.nan, out))
    return out


def _log1pmx(t: Any) -> Any:
    """log(1 + t) - t without cancellation."""
    small = np.abs(t) < 0.5
    ts = np.where(small, t, 0.0)
    u = ts / (2.0 + ts)  # log(1+t) = 2 atanh(u)
    u2 = u * u
    acc = np.zeros_like(u)
    for k in range(21, 1, -1):
        acc = (acc + 1.0 / (2 * k - 1)) * u2
    res_small = -ts * ts / (2.0 + ts) + 2.0 * u * acc
    return np.where(small, res_small, np.log1p(np.where(small, 0.0, t)) - t)


def _igam_fac(a: Any, x: Any) -> Any:
    """x^a e^-x / Gamma(a), without the cancellation of its logarithm's terms for large a."""
    large = a >= 10
    al = np.where(large, a, 10.0)
    t = (x - al) / al
    tail = np.where(t < -0.5, np.log(x) - np.log(al) - t, _log1pmx(np.where(t < -0.5, 0.0, t)))
    big = al * tail + 0.5 * np.log(al) - _LS2PI - _stirling(al)
    small = a * np.log(x) - x - _lgamma(np.where(large, 1.0, a))
    return np.exp(np.where(large, big, small))


_MAXIT = 200000


def _igam_series(a: Any, x: Any) -> Any:
    fac = _igam_fac(a, x)
    r = a.copy()
    c = np.ones_like(a)
    ans = np.ones_like(a)
    act = fac != 0
    for _ in range(_MAXIT):
        if not act.any():
            break
        r = np.where(act, r + 1.0, r)
        c = np.where(act, c * x / r, c)
        ans = np.where(act, ans + c, ans)
        act &= c > ans * _EPS
    return ans * fac / a


def _igamc_series(a: Any, x: Any) -> Any:
    """Q(a, x) for small x and a (DLMF 8.7.3)."""
    fac = np.ones_like(a)
    total = np.zeros_like(a)
    act = np.ones(a.shape, bool)
    for n in range(1, 2000):
        if not act.any():
            break
        fac = fac * (-x / n)
        term = fac / (a + n)
        total = np.where(act, total + term, total)
        act &= np.abs(term) > _EPS * np.abs(total)
    logx = np.log(x)
    return -np.expm1(a * logx - _lgam1p(a)) - np.exp(a * logx - _lgamma(a)) * total


def _igamc_cf(a: Any, x: Any) -> Any:
    """Q(a, x) by its continued fraction, x > 1.1, x >= a (cephes)."""
    fac = _igam_fac(a, x)
    big, biginv = 4.503599627370496e15, 2.22044604925031308085e-16
    y = 1.0 - a
    z = x + y + 1.0
    c = np.zeros_like(a)
    pkm2, qkm2 = np.ones_like(a), x.copy()
    pkm1, qkm1 = x + 1.0, z * x
    ans = pkm1 / qkm1
    act = fac != 0
    for _ in range(_MAXIT):
        if not act.any():
            break
        c = c + 1.0
        y = y + 1.0
        z = z + 2.0
        yc = y * c
        pk = pkm1 * z - pkm2 * yc
        qk = qkm1 * z - qkm2 * yc
        nz = qk != 0
        r = pk / np.where(nz, qk, 1.0)
        t = np.where(nz, np.abs((ans - r) / np.where(nz, r, 1.0)), 1.0)
        ans = np.where(act & nz, r, ans)
        pkm2, pkm1 = pkm1, pk
        qkm2, qkm1 = qkm1, qk
        scale = np.where(np.abs(pk) > big, biginv, 1.0)
        pkm2, pkm1, qkm2, qkm1 = pkm2 * scale, pkm1 * scale, qkm2 * scale, qkm1 * scale
        act &= t > _EPS
    return ans * fac


def _igam(a: Any, x: Any, upper: bool) -> Any:
    """P(a, x) (upper False) or Q(a, x), torch's special values (scipy's igam / igamc)."""
    a, x = np.broadcast_arrays(a, x)
    out = np.full(a.shape, np.nan)
    one, zero = (0.0, 1.0) if upper else (1.0, 0.0)
    out[(a == 0) & (x > 0)] = one
    out[(x == 0) & (a > 0)] = zero
    out[np.isinf(a) & (a > 0) & (x >= 0) & np.isfinite(x)] = zero
    out[(x == np.inf) & (a > 0) & np.isfinite(a)] = one
    reg = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
    ar, xr = a[reg], x[reg]
    # which of P's series, Q's series and Q's continued fraction (scipy's choice, less its
    # uniform asymptotic expansion)
    q_cf = (xr > 1.1) & (xr >= ar)
    q_series = ~q_cf & (
        ((xr <= 0.5) & (-0.4 / np.log(xr) >= ar)) | ((xr > 0.5) & (xr <= 1.1) & (xr * 1.1 >= ar))
    )
    p_series = ~(q_cf | q_series)
    res = np.empty_like(ar)
    res[p_series] = _igam_series(ar[p_series], xr[p_series])
    res[q_series] = _igamc_series(ar[q_series], xr[q_series])
    res[q_cf] = _igamc_cf(ar[q_cf], xr[q_cf])
    is_q = q_series | q_cf
    res = np.where(is_q == upper, res, 1.0 - res)
    out[reg] = res
    return out


def _exp_sq(x: Any, sign: float) -> Any:
    """exp(sign * x^2) with x^2 split exactly into hi + lo (Dekker), so that its rounding does
    not grow the result's error by x^2 ulp."""
    hi = x * x
    c = 134217729.0 * x
    xh = c - (c - x)
    xl = x - xh
    lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
    lo = np.where(np.isfinite(lo), lo, 0.0)
    return np.exp(sign * hi) * (1.0 + sign * lo)


def _erfc(x: Any) -> Any:
    return _erf_family("erfc", x)


def _erfcx(x: Any) -> Any:
    """exp(x^2) erfc(x): its continued fraction (80 terms, backward) for |x| >= 2, exp(x^2)
    with x^2 split exactly times erfc below; 2 exp(x^2) - erfcx(-x) for x < 0."""
    ax = np.abs(x)
    cf = ax >= 2
    xa = np.where(cf, ax, 2.0)
    t = xa.copy()
    for k in range(80, 0, -1):
        t = xa + (k / 2) / t
    big = (1.0 / t) / math.sqrt(math.pi)
    xs = np.where(cf, 0.0, ax)
    pos = np.where(cf, big, _exp_sq(xs, 1.0) * _erfc(xs))
    over = x < -26.7
    neg = np.where(over, np.inf, 2.0 * _exp_sq(np.where(over, 0.0, x), 1.0) - pos)
    out = np.where(x < 0, neg, pos)
    return np.where(np.isnan(x), np.nan, out)


def _ndtr(x: Any) -> Any:
    return 0.5 * _erfc(-x * math.sqrt(0.5))  # torch's formula


def _log_ndtr(x: Any) -> Any:
    low = x < -1
    t = np.where(low, x, -2.0)
    lo = np.log(_erfcx(-t * math.sqrt(0.5)) / 2) - t * t / 2
    hi = np.log1p(-_erfc(np.where(low, 0.0, x) * math.sqrt(0.5)) / 2)
    return np.where(low, lo, hi)


def _mills_inv(x: Any) -> Any:
    """pdf(x) / cdf(x) of the standard normal."""
    low = x < -1
    t = np.where(low, x, -2.0)
    lo = math.sqrt(2 / math.pi) / _erfcx(-t * math.sqrt(0.5))
    xh = np.where(low, 0.0, x)
    hi = _exp_sq(xh * math.sqrt(0.5), -1.0) / math.sqrt(2 * math.pi) / _ndtr(xh)
    return np.where(low, lo, hi)


def _ndtri(p: Any) -> Any:
    """The standard normal quantile: Newton's method on log ndtr (no underflow in the tail)
    from Abramowitz and Stegun 26.2.23, on min(p, 1 - p) (1 - p is exact for p >= 1/2)."""
    upper = p > 0.5
    q = np.where(upper, 1.0 - p, p)
    inside = (q > 0) & (q < 0.5)
    qi = np.where(inside, q, 0.25)
    t = np.sqrt(-2.0 * np.log(qi))
    x = -(
        t
        - (2.515517 + t * (0.802853 + 0.010328 * t))
        / (1 + t * (1.432788 + t * (0.189269 + 0.001308 * t)))
    )
    logq = np.log(qi)
    for _ in range(6):
        x = x - (_log_ndtr(x) - logq) / _mills_inv(x)
    # near the median: Newton on ndtr(x) - 1/2 = erf(x / sqrt 2) / 2 against q - 1/2 (exact)
    mid = q > 0.25
    for _ in range(2):
        xm = np.where(mid, x, 0.0)
        f = 0.5 * _erf_family("erf", xm * math.sqrt(0.5)) - (qi - 0.5)
        x = np.where(mid, xm - f / (_exp_sq(xm * math.sqrt(0.5), -1.0) / math.sqrt(2 * math.pi)), x)
    x = np.where(q == 0.5, 0.0, np.where(q == 0, -np.inf, x))
    x = np.where(upper, -x, x)
    return np.where((p < 0) | (p > 1) | np.isnan(p), np.nan, x)


def _bessel(x: Any, order: int, scaled: bool) -> Any:
    """I0 / I1 (order 0 / 1), times exp(-|x|) when scaled: the power series for |x| <= 25, the
    asymptotic series above (torch's nan at +-inf for the unscaled ones)."""
    ax = np.abs(x)
    ser = ax <= 25
    xs = np.where(ser, ax, 0.0)
    y = xs * xs / 4
    term = np.ones_like(xs) if order == 0 else xs * 0.5
    acc = term.copy()
    for k in range(1, 80):
        term = term * y / (k * (k + order))
        acc = acc + term
    xa = np.where(ser, 30.0, ax)
    mu = 4.0 * order * order
    term = np.ones_like(xa)
    asym = term.copy()
    for k in range(1, 40):
        term = -term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * xa)
        asym = asym + term
    asym = asym / np.sqrt(2 * np.pi * xa)
    if scaled:
        out = np.where(ser, acc * np.exp(-xs), asym)
        out = np.where(np.isinf(x), 0.0, out)
    else:
        half = np.exp(np.where(ser, 0.0, xa) / 2)
        out = np.where(ser, acc, asym * half * half)
        out = np.where(np.isinf(x), np.nan, out)
    out = np.where(np.isnan(x), np.nan, out)
    return np.where(x == 0, 0.0, np.copysign(out, x)) if order == 1 else out  # +0 at -0.0


def _entr(x: Any) -> Any:
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, -safe * np.log(safe), np.where(x == 0, 0.0, np.where(x < 0, -np.inf, x)))


_NP: dict[str, Callable[..., Any]] = {
    "gammaln": _lgamma,
    "digamma": _digamma,
    "polygamma": _polygamma,
    "zeta": _zeta,
    "gammainc": lambda a, x: _igam(a, x, False),
    "gammaincc": lambda a, x: _igam(a, x, True),
    "erfcx": _erfcx,
    "ndtr": _ndtr,
    "ndtri": _ndtri,
    "log_ndtr": _log_ndtr,
    "i0": lambda x: _bessel(x, 0, False),
    "i0e": lambda x: _bessel(x, 0, True),
    "i1": lambda x: _bessel(x, 1, False),
    "i1e": lambda x: _bessel(x, 1, True),
    "entr": _entr,
}


def _load_scipy() -> Any:
    """scipy.special when it imports (its C implementations are 5-90x faster than the numpy
    algorithms above, and as accurate), else None: the numpy algorithms then serve."""
    try:
        from scipy import special  # noqa: PLC0415
    except ImportError:
        return None
    return special


def _positive(*xs: Any) -> Any:
    out = True
    for x in xs:
        out = out & (x > 0) & (x < np.inf)
    return out


def _finite(*xs: Any) -> Any:
    out = True
    for x in xs:
        out = out & np.isfinite(x)
    return out


# Where scipy.special's function and the numpy core agree to a few ulp (the interior of the
# domain): there scipy's serves; elsewhere -- poles, reflection, non-finite or subnormal edges,
# where scipy's conventions differ from torch's (gammaln(-inf), polygamma at the poles, zeta
# at q <= 0 ...) -- and wherever scipy's result is not finite or is 0, the numpy core does.
_INTERIOR: dict[str, Callable[..., Any]] = {
    "gammaln": lambda x: _positive(x) & (x > 1e-300),
    "digamma": lambda x: _positive(x) & (x > 1e-300),
    "polygamma": lambda n, x: _positive(x) & (x > 1e-300),
    "zeta": lambda s, q: _positive(s - 1, q),
    "gammainc": lambda a, x: _positive(a, x),
    "gammaincc": lambda a, x: _positive(a, x),
    "erfcx": _finite,
    "ndtr": _finite,
    "ndtri": lambda p: (p > 0) & (p < 1),
    "log_ndtr": _finite,
    "i0": _finite,
    "i0e": _finite,
    "i1": _finite,
    "i1e": _finite,
    "entr": _positive,
}
_UNSET = object()
_scipy: Any = _UNSET  # scipy.special, or None without scipy: looked up at the first call


def _get_scipy() -> Any:
    """scipy.special or None, imported on first use (not at `import deltagrad`: scipy's import
    costs more than deltagrad's own)."""
    global _scipy
    if _scipy is _UNSET:
        _scipy = _load_scipy()
    return _scipy


def _core(name: str, args: list[Any]) -> Any:
    """The numpy core, or scipy's in the interior with the numpy core at the rest."""
    sp = _get_scipy()
    if sp is None:
        return _NP[name](*args)
    arrays = np.broadcast_arrays(*[a for a in args if not isinstance(a, int)])
    ints = [a for a in args if isinstance(a, int)]
    out = np.asarray(getattr(sp, name)(*ints, *arrays), dtype=np.float64)
    edge = ~(_INTERIOR[name](*ints, *arrays) & np.isfinite(out) & (out != 0))
    if edge.any():
        pick = edge.reshape(-1)
        flat = out.reshape(-1).copy()
        flat[pick] = _NP[name](*ints, *[a.reshape(-1)[pick] for a in arrays])
        out = flat.reshape(out.shape)
    return out


def _call(name: str, *args: Any) -> Any:
    """The float64 core `name` on numpy arrays (scipy.special's in the interior of the domain
    when scipy is importable: 5-90x faster), cupyx.scipy.special's on cupy ones."""
    arr = args[-1]
    if get_array_module(arr) is not np:  # pragma: no cover - GPU only
        from cupyx.scipy import special as cusp

        return getattr(cusp, name)(*args)
    args64 = [a if isinstance(a, int) else np.asarray(a, np.float64) for a in args]
    with np.errstate(all="ignore"):
        return _core(name, args64)


# ---- Tensor-level functions ----------------------------------------------------------------


def _tensor(x: Any, op: str, arg: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__"):
        return Tensor(x)
    raise TypeError(f"{op}: {arg}: expected a Tensor, got {type(x).__name__}")


def _float_data(t: Tensor, op: str, ints: bool = True) -> Any:
    d = t.data
    if d.dtype.kind == "f":
        return d
    if ints and d.dtype.kind in "biu":
        return d.astype(np.float32)  # torch's promotion of integer inputs
    raise NotImplementedError(f'{op}: "{op}_cpu" not implemented for {d.dtype} inputs')


def _elementwise(
    op: str,
    x: Tensor,
    f: Callable[[Any], Any],
    df: Callable[[Any, Any], Any] | None,
    dd: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """f(x) computed in float64 and rounded to x's float dtype, with gradient g * df(x, f(x))
    (df None: not differentiable, as torch). dd: the derivative as Tensor ops of x (for
    create_graph=True: the gradient g * dd(x) then has a graph back to x and g)."""
    d = _float_data(x, op)
    x64 = d.astype(np.float64)
    out64 = f(x64)
    out = out64.astype(d.dtype)

    def _backward(g: Any) -> None:
        assert df is not None
        with np.errstate(all="ignore"):
            x._accumulate((g * df(x64, out64)).astype(g.dtype))

    db = None if dd is None else partial(_d_elementwise, dd, x)
    return Tensor._make(out, (x,), _backward, op, saves=(x,), dbackward=db)


def _d_elementwise(dd: Callable[[Tensor], Tensor], x: Tensor, g: Tensor) -> tuple[Any, ...]:
    return (g * dd(x),)


def gammaln(input: Any) -> Tensor:  # noqa: A002
    """log |Gamma(x)|, with gradient digamma(x) (torch.special.gammaln / torch.lgamma)."""
    x = _tensor(input, "gammaln")
    return _elementwise(
        "gammaln", x, lambda v: _call("gammaln", v), lambda v, y: _call("digamma", v), digamma
    )


def digamma(input: Any) -> Tensor:  # noqa: A002
    """d/dx log Gamma(x), with gradient trigamma(x) (torch.special.digamma)."""
    x = _tensor(input, "digamma")
    return _elementwise(
        "digamma",
        x,
        lambda v: _call("digamma", v),
        lambda v, y: _call("polygamma", 1, v),
        partial(polygamma, 1),
    )


psi = digamma


def _int_arg(v: Any, op: str, name: str) -> int:
    if isinstance(v, Tensor) and v.data.ndim == 0 and v.data.dtype.kind in "iu":
        v = int(v.data)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {name}: expected an int, got {type(v).__name__} {v!r}")
    return int(v)


def polygamma(n: int, input: Any) -> Tensor:  # noqa: A002
    """The n-th derivative of digamma, with gradient polygamma(n + 1, x)."""
    n = _int_arg(n, "polygamma", "n")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _tensor(input, "polygamma")
    return _elementwise(
        "polygamma",
        x,
        lambda v: _call("polygamma", n, v),
        lambda v, y: _call("polygamma", n + 1, v),
        partial(polygamma, n + 1),
    )


def multigammaln(input: Any, p: int) -> Tensor:  # noqa: A002
    """The multivariate log-gamma function of dimension p: p (p-1) / 4 log(pi) plus
    sum_j lgamma(x - j / 2), j = 0..p-1 (torch 2.13 checks p >= 1 only)."""
    p = _int_arg(p, "multigammaln", "p")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _tensor(input, "multigammaln")
    if x.data.dtype.kind != "f":
        x = x.float()
    out = gammaln(x)
    for j in range(1, p):
        out = out + gammaln(x - j / 2)
    return out + p * (p - 1) / 4 * math.log(math.pi)


def _pair(input: Any, other: Any, op: str, scalars: bool) -> tuple[Tensor, Tensor, Any, Any]:
    """The two operands as Tensors and their float64 arrays; the result dtype is theirs
    promoted (a Python number takes the tensor's, as torch)."""
    if not scalars:
        a, b = _tensor(input, op, "input"), _tensor(other, op, "other")
    else:
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            raise TypeError(f"{op}: expected at least one Tensor argument")
        ref = input if isinstance(input, Tensor) else other
        a = input if isinstance(input, Tensor) else Tensor(np.asarray(input, ref.data.dtype))
        b = other if isinstance(other, Tensor) else Tensor(np.asarray(other, ref.data.dtype))
        if ref.data.dtype.kind != "f":
            a, b = (t.float() if t.data.dtype.kind != "f" else t for t in (a, b))
    da, db = _float_data(a, op, ints=scalars), _float_data(b, op, ints=scalars)
    return a, b, da, db


def _igamma(input: Any, other: Any, upper: bool) -> Tensor:
    op = "gammaincc" if upper else "gammainc"
    a, x, da, dx = _pair(input, other, "igammac" if upper else "igamma", False)
    dtype = np.result_type(da, dx)
    a64, x64 = da.astype(np.float64), dx.astype(np.float64)
    out = _call(op, a64, x64).astype(dtype)

    def _backward(g: Any) -> None:
        if a.requires_grad:
            raise NotImplementedError(
                f"{op}: the derivative for '{'igammac' if upper else 'igamma'}: input' is not "
                "implemented."
            )
        with np.errstate(all="ignore"):
            pdf = _igam_fac(*np.broadcast_arrays(a64, x64)) / x64
        x._accumulate((g * (-pdf if upper else pdf)).astype(g.dtype))

    return Tensor._make(
        out, (a, x), _backward, op, saves=(a, x), dbackward=partial(_d_igamma, upper, a, x)
    )


def _d_igamma(upper: bool, a: Tensor, x: Tensor, g: Tensor) -> tuple[Any, ...]:
    """torch's formula: g * exp((a - 1) log x - x - lgamma(a)) (negated for Q), as Tensor ops
    (so differentiable in x, and in a through lgamma as torch's)."""
    if a.requires_grad:
        raise NotImplementedError(
            f"{'gammaincc' if upper else 'gammainc'}: the derivative for "
            f"'{'igammac' if upper else 'igamma'}: input' is not implemented."
        )
    pdf = ((a - 1) * x.log() - x - gammaln(a)).exp()
    return None, (-g if upper else g) * pdf


def gammainc(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The regularized lower incomplete gamma function P(input, other); differentiable in
    other only (torch's igamma)."""
    return _igamma(input, other, False)


def gammaincc(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P."""
    return _igamma(input, other, True)


def zeta(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The Hurwitz zeta function sum_k (other + k)^-input; differentiable in other only
    (d/dq zeta(x, q) = -x zeta(x + 1, q)), as torch."""
    s, q, ds, dq = _pair(input, other, "zeta", True)
    dtype = np.result_type(ds, dq)
    s64, q64 = ds.astype(np.float64), dq.astype(np.float64)
    out = _call("zeta", s64, q64).astype(dtype)

    def _backward(g: Any) -> None:
        if s.requires_grad:
            raise NotImplementedError("zeta: the derivative for 'zeta' is not implemented.")
        q._accumulate((g * -s64 * _call("zeta", s64 + 1.0, q64)).astype(g.dtype))

    return Tensor._make(
        out, (s, q), _backward, "zeta", saves=(s, q), dbackward=partial(_d_zeta, s, q)
    )


def _d_zeta(s: Tensor, q: Tensor, g: Tensor) -> tuple[Any, ...]:
    if s.requires_grad:
        raise NotImplementedError("zeta: the derivative for 'zeta' is not implemented.")
    return None, g * -s * zeta(s + 1.0, q)


def erf(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "erf").erf()


def erfc(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "erfc").erfc()


def erfinv(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "erfinv").erfinv()


def erfcx(input: Any) -> Tensor:  # noqa: A002
    """exp(x^2) erfc(x), with gradient 2 x erfcx(x) - 2 / sqrt(pi)."""
    return _elementwise(
        "erfcx",
        _tensor(input, "erfcx"),
        lambda v: _call("erfcx", v),
        lambda v, y: 2 * v * y - 2 / math.sqrt(math.pi),
        lambda t: 2 * t * erfcx(t) - 2 / math.sqrt(math.pi),
    )


def expit(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "expit").sigmoid()


def logit(input: Any, eps: Any = None) -> Tensor:  # noqa: A002
    return _tensor(input, "logit").logit(eps)


def exp2(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "exp2").exp2()


def expm1(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "expm1").expm1()


def log1p(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "log1p").log1p()


def round(input: Any, **kwargs: Any) -> Tensor:  # noqa: A001, A002
    return _tensor(input, "round").round(**kwargs)


def xlogy(input: Any, other: Any) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError("xlogy: expected at least one Tensor argument")
        dtype = other.data.dtype if other.data.dtype.kind == "f" else np.float32
        return Tensor(np.asarray(input, dtype)).xlogy(other)
    return input.xlogy(other)


def xlog1py(input: Any, other: Any) -> Tensor:  # noqa: A002
    """x log1p(y), 0 where x == 0 (unless y is nan), as torch.special.xlog1py; gradients
    torch's: xlog1py(g, y) (0 where x == 0 and y <= -1) and g x / (1 + y)."""
    x, y, dx, dy = _pair(input, other, "xlog1py", True)
    dtype = np.result_type(dx, dy)
    xp = get_array_module(dx)
    x64, y64 = dx.astype(np.float64), dy.astype(np.float64)
    with np.errstate(all="ignore"):
        out = xp.where((x64 == 0) & ~xp.isnan(y64), 0.0, x64 * xp.log1p(y64)).astype(dtype)

    def _backward(g: Any) -> None:
        with np.errstate(all="ignore"):
            if x.requires_grad:
                gx = xp.where((g == 0) & ~xp.isnan(y64), 0.0, g * xp.log1p(y64))
                gx = xp.where((x64 == 0) & (y64 <= -1), 0.0, gx)
                x._accumulate(gx.astype(g.dtype))
            if y.requires_grad:
                y._accumulate((g * x64 / (1.0 + y64)).astype(g.dtype))

    return Tensor._make(
        out, (x, y), _backward, "xlog1py", saves=(x, y), dbackward=partial(_d_xlog1py, x, y)
    )


def _d_xlog1py(x: Tensor, y: Tensor, g: Tensor) -> tuple[Any, ...]:
    gx = None
    if x.requires_grad:
        with np.errstate(all="ignore"):
            low = (x.data == 0) & (y.data <= -1)
        gx = xlog1py(g, y)
        if low.any():
            gx = gx.masked_fill(Tensor(low), 0.0)
    return gx, (g * x / (1 + y) if y.requires_grad else None)


def entr(input: Any) -> Tensor:  # noqa: A002
    """-x log x (0 at 0, -inf below), with gradient -(1 + log x)."""
    return _elementwise(
        "entr",
        _tensor(input, "entr"),
        lambda v: _call("entr", v),
        lambda v, y: -(1 + np.log(v)),
        lambda t: -(1 + t.log()),
    )


# sinc'(x) = pi * s(pi x) with s(z) = (z cos z - sin z) / z^2: that cancels for small z (and
# z^2 underflows, 0 / 0, below ~1e-154), so there s(z) is its series, z * sum_k c_k z^(2k) with
# c_k = (-1)^(k+1) (2k + 2) / (2k + 3)!: seven terms are exact to rounding for |z| <= 1/2.
_SINC_SERIES_Z = 0.5
_SINC_D = tuple((-1) ** (k + 1) * (2 * k + 2) / math.factorial(2 * k + 3) for k in range(7))


def _sinc_d_series(z: Any) -> Any:
    """s(z) by its series (an array or a Tensor z: only * and + are used)."""
    z2 = z * z
    acc: Any = _SINC_D[-1]
    for c in reversed(_SINC_D[:-1]):
        acc = acc * z2 + c
    return z * acc


def sinc(input: Any) -> Tensor:  # noqa: A002
    """sin(pi x) / (pi x), 1 at 0 (torch's formula). The gradient is exact near 0 too (the
    series below |pi x| = 1/2; torch's formula gives 0 / 0 there at every order but the
    first), so the second derivative at 0 is -pi^2 / 3 (torch: NaN)."""

    def f(v: Any) -> Any:
        xp = get_array_module(v)
        with np.errstate(all="ignore"):
            px = np.pi * v
            return xp.where(v == 0, 1.0, xp.sin(px) / px)

    return _elementwise("sinc", _tensor(input, "sinc"), f, _sinc_df, _dsinc)


def _sinc_df(v: Any, y: Any = None) -> Any:
    """sinc's derivative at v (float64): the series near 0, torch's formula elsewhere."""
    xp = get_array_module(v)
    px = np.pi * v
    small = xp.abs(px) <= _SINC_SERIES_Z
    pb = xp.where(small, 1.0, px)
    return np.pi * xp.where(
        small, _sinc_d_series(xp.where(small, px, 0.0)), (pb * xp.cos(pb) - xp.sin(pb)) / pb**2
    )


def _dsinc(t: Tensor) -> Tensor:
    """sinc's derivative as Tensor ops, as df: the series near 0 (0 at 0, with every higher
    derivative exact there), torch's formula elsewhere; each branch reads a harmless value
    where the other is taken, so no inf * 0 reaches the gradient."""
    small = np.abs(t.data) * math.pi <= _SINC_SERIES_Z
    px = t * math.pi
    pb = px.masked_fill(Tensor(small), 1.0)
    big = (pb * pb.cos() - pb.sin()) / (pb * pb)
    series = _sinc_d_series(px.masked_fill(Tensor(~small), 0.0))
    return math.pi * where(Tensor(small), series, big)


def ndtr(input: Any) -> Tensor:  # noqa: A002
    """The standard normal CDF, with gradient the density."""
    return _elementwise(
        "ndtr",
        _tensor(input, "ndtr"),
        lambda v: _call("ndtr", v),
        lambda v, y: np.exp(-v * v / 2) / math.sqrt(2 * math.pi),
        lambda t: (-t * t / 2).exp() / math.sqrt(2 * math.pi),
    )


def ndtri(input: Any) -> Tensor:  # noqa: A002
    """The standard normal quantile, with gradient sqrt(2 pi) exp(y^2 / 2), y = ndtri(x)
    (torch's formula; as Tensor ops of a fresh ndtri(x) for create_graph=True, so every
    higher derivative follows: the second is y (dy/dx)^2)."""
    return _elementwise(
        "ndtri",
        _tensor(input, "ndtri"),
        lambda v: _call("ndtri", v),
        lambda v, y: math.sqrt(2 * math.pi) * np.exp(y * y / 2),
        lambda t: math.sqrt(2 * math.pi) * (ndtri(t).square() / 2).exp(),
    )


def log_ndtr(input: Any) -> Tensor:  # noqa: A002
    """log of the standard normal CDF, with gradient pdf / cdf = exp(-x^2 / 2 - y) /
    sqrt(2 pi), y = log_ndtr(x) (torch's formula: no underflow in the tail; as Tensor ops of
    a fresh log_ndtr(x) for create_graph=True)."""
    return _elementwise(
        "log_ndtr",
        _tensor(input, "log_ndtr"),
        lambda v: _call("log_ndtr", v),
        lambda v, y: np.exp(-v * v / 2 - y) / math.sqrt(2 * math.pi),
        lambda t: (-(log_ndtr(t) + t.square() / 2)).exp() / math.sqrt(2 * math.pi),
    )


def i0(input: Any) -> Tensor:  # noqa: A002
    """The modified Bessel function I0, with gradient I1."""
    return _elementwise(
        "i0", _tensor(input, "i0"), lambda v: _call("i0", v), lambda v, y: _call("i1", v), i1
    )


def i0e(input: Any) -> Tensor:  # noqa: A002
    """exp(-|x|) I0(x), with gradient i1e(x) - sign(x) i0e(x)."""
    return _elementwise(
        "i0e",
        _tensor(input, "i0e"),
        lambda v: _call("i0e", v),
        lambda v, y: _call("i1e", v) - np.sign(v) * y,
        lambda t: i1e(t) - t.sign() * i0e(t),
    )


def i1(input: Any) -> Tensor:  # noqa: A002
    """The modified Bessel function I1, with gradient I0(x) - I1(x) / x (1/2 at 0)."""
    return _elementwise(
        "i1",
        _tensor(input, "i1"),
        lambda v: _call("i1", v),
        lambda v, y: np.where(v == 0, 0.5, _call("i0", v) - y / v),
        partial(_d_i1, False),
    )


def i1e(input: Any) -> Tensor:  # noqa: A002
    """exp(-|x|) I1(x), with gradient i0e(x) - i1e(x) (sign(x) + 1 / x) (1/2 at 0)."""
    return _elementwise(
        "i1e",
        _tensor(input, "i1e"),
        lambda v: _call("i1e", v),
        lambda v, y: np.where(v == 0, 0.5, _call("i0e", v) - y * (np.sign(v) + 1 / v)),
        partial(_d_i1, True),
    )


def _d_i1(scaled: bool, t: Tensor) -> Tensor:
    """i1's (i1e's) derivative as Tensor ops, as torch's i1_backward: 1/2 where |x| <= eps
    (a constant there), i0(x) - i1(x) / x (i0e(x) - i1e(x) (sign(x) + 1 / x)) elsewhere."""
    eps = float(np.finfo(t.data.dtype).eps)
    tiny = Tensor(get_array_module(t.data).abs(t.data) <= eps)
    v = t.masked_fill(tiny, eps)
    d = i0e(v) - i1e(v) * (v.sign() + 1 / v) if scaled else i0(v) - i1(v) / v
    return d.masked_fill(tiny, 0.5)


def softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    from . import functional

    return functional.softmax(_tensor(input, "softmax"), dim, dtype=dtype)


def log_softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    from . import functional

    return functional.log_softmax(_tensor(input, "log_softmax"), dim, dtype=dtype)


def logsumexp(input: Any, dim: Any, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _tensor(input, "logsumexp").logsumexp(dim, keepdim)
