"""The coefficients of the AVX2 gelu's short path (csrc/cpu/simd_math.h, vgelu_avx2_small;
issue 18, round 9, gelu9):

- R(a) = erfcx(a / sqrt 2) / 2 = P(a) / Q(a) on a in [0, 13], P of degree 4, Q monic of degree
  5: relative minimax by a linearized (Sanathanan-Koerner) least-squares iteration with Lawson's
  weights, the coefficients rounded to float32 one at a time from the highest powers down with
  the rest refitted;
- exp(s/2) = 1 + s (1/2 + c1 s + c2 s^2) on |s/2| <= ln2/16: relative minimax (Lawson), c1 and
  c2 rounded in turn.

Prints the errors in units of 2^-24 (R after float32 evaluation: Horner in float64 rounded to
float32 at each step, close to the kernel's Estrin scheme) and the coefficients.

  python bench/mca/gelu9_fit.py          (needs numpy and scipy)"""

import numpy as np
from scipy.special import erfcx

M, N, AMAX = 4, 5, 13.0


def f32(x):
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def fit_r():
    a = f32(np.concatenate([np.linspace(0, 1, 4000), np.linspace(1, AMAX, 16000)]))
    y = 0.5 * erfcx(a / np.sqrt(2))
    # P(a) - y (a^N + sum q_i a^i) = 0, unknowns p_0..p_M, q_0..q_{N-1}
    A = np.hstack([a[:, None] ** np.arange(M + 1), -y[:, None] * a[:, None] ** np.arange(N)])
    b0 = y * a**N
    n = M + 1 + N

    def fit(fixed):
        free = [i for i in range(n) if i not in fixed]
        b = b0 - sum((A[:, i] * v for i, v in fixed.items()), np.zeros_like(b0))
        w, qp = np.ones_like(a), np.ones_like(a)
        for it in range(120):
            s = np.sqrt(w) / (y * qp)
            c = np.zeros(n)
            c[free] = np.linalg.lstsq(A[:, free] * s[:, None], b * s, rcond=None)[0]
            for i, v in fixed.items():
                c[i] = v
            p = np.polyval(c[: M + 1][::-1], a)
            qp = a**N + np.polyval(c[M + 1 :][::-1], a)
            e = np.abs(p / qp - y) / y
            if it > 30:
                w = w * e
                w /= w.sum()
        return c, e.max()

    c, e = fit({})
    print(f"R: P{M}/Q{N} on [0, {AMAX}]: {e * 2**24:.3f} * 2^-24 (float64 coefficients)")
    fixed = {}
    for i in sorted(range(n), key=lambda i: -(i if i <= M else i - M - 1 + 0.5)):
        fixed[i] = float(np.float32(c[i]))
        if len(fixed) < n:
            c, e = fit(fixed)
    c = np.array([fixed[i] for i in range(n)])
    p, q = c[: M + 1], c[M + 1 :]
    pv = np.full_like(a, p[-1])
    for k in p[-2::-1]:
        pv = f32(pv * a + k)
    qv = f32(a + q[-1])
    for k in q[-2::-1]:
        qv = f32(qv * a + k)
    err = np.abs(f32(pv / qv) - y) / y
    print(
        f"   rounded coefficients: {e * 2**24:.3f}; after float32 evaluation: "
        f"{err.max() * 2**24:.2f} (a = {a[err.argmax()]:.4f})"
    )
    print("   P (a^0 first):", ", ".join(f"{v!r}f" for v in map(float, np.float32(p))))
    print("   Q (a^0 first, a^5 = 1):", ", ".join(f"{v!r}f" for v in map(float, np.float32(q))))


def fit_exp():
    h = np.log(2) / 8 * 1.001
    s = np.linspace(-h, h, 20001)
    y = np.exp(s / 2)
    V = np.stack([s, s * s, s**3], 1)

    def lawson(v, rhs, it=200):
        w = np.ones(len(y)) / len(y)
        for _ in range(it):
            sw = np.sqrt(w)
            c = np.linalg.lstsq(v * (sw / y)[:, None], rhs * sw / y, rcond=None)[0]
            e = np.abs(v @ c - rhs) / y
            w = w * e
            w /= w.sum()
        return c

    c = lawson(V, y - 1)
    c0 = 0.5
    c1 = f32(lawson(V[:, 1:], y - 1 - c0 * s)[0])
    c2 = f32(lawson(V[:, 2:], y - 1 - c0 * s - c1 * s * s)[0])
    err = np.max(np.abs(1 + V @ np.array([c0, c1, c2]) - y) / y)
    print(
        f"exp(s/2): float64 {np.max(np.abs(1 + V @ c - y) / y) * 2**24:.3f} * 2^-24, "
        f"rounded {err * 2**24:.3f}: 1/2, {float(c1)!r}f, {float(c2)!r}f"
    )


if __name__ == "__main__":
    fit_r()
    fit_exp()
