"""The coefficient tables of the float32 AVX-512 gelu's R(a) = erfcx(a / sqrt 2) / 2
(csrc/cpu/simd_math.h, vgelu; issue 18, round 6): per interval k of width 1/2 centred on k/2,
a degree-5 polynomial in u = a - k/2, |u| <= 1/4, fitted for relative error (Lawson's
iteration), its coefficients rounded to float32 one at a time from the highest with the lower
ones refitted. Prints each interval's error after float32 Horner evaluation (FMA) in units of
2^-24 to stderr, and the C++ table (kR[j][k]: coefficient of u^(5-j) of interval k) to stdout.

  python bench/mca/gelu_fit.py          (needs numpy and scipy)"""

import sys

import numpy as np
from scipy.special import erfcx

WIDTH, DEGREE, ENTRIES, AMAX = 0.5, 5, 32, 14.5


def f32(x):
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def r_exact(a):
    return 0.5 * erfcx(a / np.sqrt(2))


def lawson(v, y, rel, iterations=60):
    w = np.ones(len(y)) / len(y)
    for _ in range(iterations):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(v * (sw / rel)[:, None], y * sw / rel, rcond=None)[0]
        e = np.abs(v @ c - y) / rel
        w = w * e
        w /= w.sum()
    return c


def horner(c, u):
    r = np.full_like(u, c[0])
    for k in c[1:]:
        r = f32(r * u + k)  # one rounding: the product of two floats is exact in float64
    return r


def main():
    coefs = np.zeros((ENTRIES, DEGREE + 1))
    worst = 0.0
    for k in range(ENTRIES):
        c = k * WIDTH
        if c - WIDTH / 2 > AMAX:
            break
        a = f32(np.linspace(max(0.0, c - WIDTH / 2), min(c + WIDTH / 2, AMAX + 0.01), 4001))
        u = f32(a - c)
        y = r_exact(a)
        v = np.vander(u, DEGREE + 1)
        cc = lawson(v, y, y)
        for j in range(DEGREE):
            cc[j] = f32(cc[j])
            cc[j + 1 :] = lawson(v[:, j + 1 :], y - v[:, : j + 1] @ cc[: j + 1], y)
        coefs[k] = f32(cc)
        rel = np.max(np.abs(horner(coefs[k], u) - y) / y)
        worst = max(worst, rel)
        print(
            f"k={k} a in [{max(0, c - WIDTH / 2)}, {c + WIDTH / 2}]: {rel * 2**24:.2f}",
            file=sys.stderr,
        )
    print(f"worst {worst * 2**24:.2f} * 2^-24", file=sys.stderr)
    print("  // clang-format off")
    print(f"  static constexpr float kR[{DEGREE + 1}][{ENTRIES}] = {{")
    for j in range(DEGREE + 1):
        vals = [f"{float(np.float32(x)):.9g}f".replace("-0f", "0.f") for x in coefs[:, j]]
        vals = [v if "." in v or "e" in v else v[:-1] + ".f" for v in vals]
        rows = [", ".join(vals[i : i + 5]) for i in range(0, ENTRIES, 5)]
        print("      {" + ",\n       ".join(rows) + "},")
    print("  };")
    print("  // clang-format on")


if __name__ == "__main__":
    main()
