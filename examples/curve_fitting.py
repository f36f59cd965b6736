"""Polynomial curve fitting, regularization and cross-validation (Bishop, Deep Learning §1.2).

    python examples/curve_fitting.py            # tables
    deltagrad curve-fit --out plots/            # the full experiment, with plots

Fits y(x, w) = w_0 + w_1 x + ... + w_M x^M to N = 10 noisy samples of sin(2 pi x) by
minimizing 1/2 sum (y(x_n, w) - t_n)^2 + lambda/2 ||w||^2, then lets cross-validation choose
M and lambda.
"""

import math

import numpy as np

import deltagrad as dg
from deltagrad.metrics import rms_error
from deltagrad.model_selection import KFold, grid_search_poly
from deltagrad.models import PolynomialRegression

x, t = dg.datasets.make_sinusoidal(10, noise=0.3, seed=38)
x_test, t_test = dg.datasets.make_sinusoidal(100, noise=0.3, seed=1038)

print("M   E_RMS train  E_RMS test   max|w*|")
for M in range(10):
    model = PolynomialRegression(degree=M).fit(x, t)
    print(
        f"{M}   {rms_error(model.predict(x), t):11.4f}  "
        f"{rms_error(model.predict(x_test), t_test):10.4f}  {np.abs(model.coef_).max():8.3g}"
    )

print("\nM = 9 with a penalty:")
for ln_lambda in (-math.inf, -18.0, 0.0):
    model = PolynomialRegression(degree=9, l2=math.exp(ln_lambda)).fit(x, t)
    print(
        f"  ln lambda = {ln_lambda:5}: E_RMS test {rms_error(model.predict(x_test), t_test):.4f}"
        f", max|w*| = {np.abs(model.coef_).max():.3g}"
    )

# The same fit by gradient descent on deltagrad's autograd (well conditioned: M = 1).
exact = PolynomialRegression(degree=1, l2=0.1).fit(x, t)
by_gd = PolynomialRegression(degree=1, l2=0.1, solver="gd").fit(x, t)
print(f"\nM = 1: lstsq w* = {exact.coef_.round(6)}, gradient descent w* = {by_gd.coef_.round(6)}")

search = grid_search_poly(x, t, degrees=range(10), cv=KFold(5, shuffle=True, seed=38))
best = search.best_params_
print(
    f"\n5-fold cross-validation chooses M = {best['degree']}, "
    f"ln lambda = {math.log(best['l2']) if best['l2'] else -math.inf:g}; test E_RMS "
    f"{rms_error(search.best_estimator_.predict(x_test), t_test):.4f}"
)
