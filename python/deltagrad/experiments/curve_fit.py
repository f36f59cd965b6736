"""Bishop's polynomial curve-fitting experiment (Deep Learning §1.2), what
``deltagrad curve-fit`` runs: least-squares polynomials of order M = 0..9 on N noisy points of
sin(2 pi x), overfitting, regularization, more data, and S-fold cross-validation.

    res = curve_fit_experiment(n=10, seed=38)   # the numbers, a JSON-ready dict
    print(format_curve_fit(res))                # Bishop's tables
    plot_curve_fit(res, "plots/")               # the figures (needs matplotlib)
    run_curve_fit(out="plots/")                 # all three, as the command does
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _report
from .._files import atomic_savefig
from .._report import ln, table
from ..datasets import make_sinusoidal
from ..metrics import rms_error
from ..model_selection import KFold, grid_search_poly
from ..models import PolynomialRegression

__all__ = ["curve_fit_experiment", "format_curve_fit", "plot_curve_fit", "run_curve_fit"]

#: the orders of Bishop's table 1.1
ORDERS = (0, 1, 3, 9)
#: lambda for M = 9 in Bishop's table 1.2: ln lambda = -inf, -18, 0
LAMBDAS = (0.0, math.exp(-18.0), 1.0)
#: ln lambda for the E_RMS-against-lambda table
LN_GRID = (-40.0, -35.0, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0)
#: ln lambda searched jointly with M by cross-validation
LN_GRID_CV = (-math.inf, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0)
#: the training-set sizes of the "more data" table (the first is n)
MORE_DATA = (15, 100)


def curve_fit_experiment(
    n: int = 10,
    n_test: int = 100,
    noise: float = 0.3,
    seed: int = 38,
    folds: int = 5,
    penalize_bias: bool = True,
) -> dict[str, Any]:
    """Run the experiment; returns its numbers (lists, floats, ints and str: JSON-ready).

    The training set is make_sinusoidal(n, noise, seed); the test set is
    make_sinusoidal(n_test, noise, seed + 1000), an independent noise draw. Keys: "coef"
    (w* by M in ORDERS), "erms_train" / "erms_test" (by M = 0..9), "coef_m9_lambda" /
    "erms_m9_lambda" (by ln lambda in LAMBDAS), "ln_lambda", "erms_train_lambda",
    "erms_test_lambda", "data_size" (M = 9 fitted on more data), "cv_m" (E_RMS cv by M),
    "cv_best_m", "cv_joint" (the best ln lambda of each M), "cv_best" (the joint choice,
    refitted on all n points), and the data "x", "t" with the parameters.
    """
    # cross-validation (step 6) needs 2 folds of at least one point each; checked here so
    # the message names these arguments, not KFold's n_splits
    for value, name in ((n, "n"), (folds, "folds")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(
                f"curve_fit_experiment: {name} must be an int, got {type(value).__name__}"
            )
        if value < 2:
            raise ValueError(
                f"curve_fit_experiment: {name} must be >= 2 (S-fold cross-validation needs "
                f"at least 2 {'points' if name == 'n' else 'folds'}), got {value}"
            )
    x, t = make_sinusoidal(n, noise=noise, seed=seed)
    x_test, t_test = make_sinusoidal(n_test, noise=noise, seed=seed + 1000)
    res: dict[str, Any] = {"n": n, "n_test": n_test, "noise": noise, "seed": seed}
    res.update(penalize_bias=penalize_bias, x=x.tolist(), t=t.tolist())

    def fit(m: int, lam: float = 0.0, xs: np.ndarray = x, ts: np.ndarray = t) -> Any:
        return PolynomialRegression(m, l2=lam, penalize_bias=penalize_bias).fit(xs, ts)

    def erms(model: Any) -> tuple[float, float]:
        return rms_error(model.predict(x), t), rms_error(model.predict(x_test), t_test)

    # 1. w* for M = 0, 1, 3, 9 (Bishop's table 1.1)
    res["coef"] = {m: fit(m).coef_.tolist() for m in ORDERS}
    # 2. E_RMS on the training and test sets for M = 0..9
    by_m = [erms(fit(m)) for m in range(10)]
    res["erms_train"], res["erms_test"] = [e[0] for e in by_m], [e[1] for e in by_m]
    # 3. M = 9 with ln lambda = -inf, -18, 0 (Bishop's table 1.2)
    reg = {ln(lam): fit(9, lam) for lam in LAMBDAS}
    res["coef_m9_lambda"] = {k: r.coef_.tolist() for k, r in reg.items()}
    res["erms_m9_lambda"] = {k: dict(zip(("train", "test"), erms(r))) for k, r in reg.items()}
    # 4. E_RMS against ln lambda for M = 9
    by_lam = [erms(fit(9, math.exp(v))) for v in LN_GRID]
    res["ln_lambda"] = list(LN_GRID)
    res["erms_train_lambda"] = [e[0] for e in by_lam]
    res["erms_test_lambda"] = [e[1] for e in by_lam]
    # 5. M = 9 on more data (each size once, in order)
    res["data_size"] = []
    for size in dict.fromkeys((n, *MORE_DATA)):
        xs, ts = make_sinusoidal(size, noise=noise, seed=seed)
        model = fit(9, 0.0, xs, ts)
        res["data_size"].append(
            {
                "n": size,
                "erms_train": rms_error(model.predict(xs), ts),
                "erms_test": rms_error(model.predict(x_test), t_test),
                "max_abs_w": float(np.max(np.abs(model.coef_))),
                "coef": model.coef_.tolist(),
                "x": xs.tolist(),
                "t": ts.tolist(),
            }
        )
    # 6. S-fold cross-validation chooses M (lambda = 0), then M and lambda together
    cv = KFold(min(folds, n), shuffle=True, seed=seed)
    degrees = list(range(10))
    alone = grid_search_poly(x, t, degrees, [-math.inf], cv=cv, penalize_bias=penalize_bias)
    joint = grid_search_poly(x, t, degrees, list(LN_GRID_CV), cv=cv, penalize_bias=penalize_bias)
    res["folds"] = cv.n_splits
    res["cv_m"] = [r["mean_score"] for r in alone.cv_results_]
    res["cv_best_m"] = alone.best_params_["degree"]
    res["cv_joint"] = []
    for m in degrees:  # the best lambda for each M, to keep the printout short
        cand = [r for r in joint.cv_results_ if r["params"]["degree"] == m]
        r = min(cand, key=lambda r: r["mean_score"])
        res["cv_joint"].append(
            {
                "degree": m,
                "ln_lambda": ln(r["params"]["l2"]),
                "erms_cv": r["mean_score"],
                "chosen": r is joint.cv_results_[joint.best_index_],
            }
        )
    best = joint.best_estimator_
    res["cv_best"] = {
        "degree": joint.best_params_["degree"],
        "ln_lambda": ln(joint.best_params_["l2"]),
        "erms_cv": joint.best_score_,
        "erms_test": rms_error(best.predict(x_test), t_test),
        "coef": best.coef_.tolist(),
    }
    return res


def format_curve_fit(res: dict[str, Any]) -> str:
    """The tables of the experiment (Bishop's tables 1.1 and 1.2 and the rest) as text."""
    n, noise, seed = res["n"], res["noise"], res["seed"]
    degrees = range(len(res["erms_train"]))
    coef = res["coef"]
    orders = list(coef)
    out = [
        f"Curve fitting (Bishop, Deep Learning §1.2): N = {n} points x = linspace(0, 1), "
        f"t = sin(2 pi x) + N(0, {noise}^2), seed {seed}; test set: {res['n_test']} points.",
        f"Error E~(w) = 1/2 sum (y(x_n, w) - t_n)^2 + lambda/2 ||w||^2"
        f" (w_0 {'in' if res['penalize_bias'] else 'not in'} the penalty).\n",
    ]
    rows = [[f"w_{j}*"] + [coef[m][j] if j <= m else "" for m in orders] for j in range(10)]
    head = ["", *(f"M = {m}" for m in orders)]
    out.append(table(head, rows, "Coefficients w* of the polynomials fitted by least squares"))

    rows = [[m, res["erms_train"][m], res["erms_test"][m]] for m in degrees]
    title = "Root-mean-square error against the order M (lambda = 0)"
    out += ["", table(["M", "E_RMS train", "E_RMS test"], rows, title)]

    m9, e9 = res["coef_m9_lambda"], res["erms_m9_lambda"]
    rows = [[f"w_{j}*"] + [w[j] for w in m9.values()] for j in range(10)]
    rows.append(["E_RMS train"] + [e["train"] for e in e9.values()])
    rows.append(["E_RMS test"] + [e["test"] for e in e9.values()])
    head = ["", *(f"ln lambda = {k}" for k in m9)]
    out += ["", table(head, rows, "M = 9: coefficients w* for different amounts of regularization")]

    lam = zip(res["ln_lambda"], res["erms_train_lambda"], res["erms_test_lambda"])
    rows = [[f"{v:g}", a, b] for v, a, b in lam]
    title = "M = 9: root-mean-square error against ln lambda"
    out += ["", table(["ln lambda", "E_RMS train", "E_RMS test"], rows, title)]

    keys = ("n", "erms_train", "erms_test", "max_abs_w")
    rows = [[r[k] for k in keys] for r in res["data_size"]]
    head = ["N", "E_RMS train", "E_RMS test", "max |w_j|"]
    out += ["", table(head, rows, "M = 9 fitted on more data: overfitting fades as N grows")]

    s = res["folds"]
    rows = [
        [m, e, res["erms_train"][m], res["erms_test"][m], "*" if m == res["cv_best_m"] else ""]
        for m, e in zip(degrees, res["cv_m"])
    ]
    title = f"{s}-fold cross-validation (shuffled, seed {seed}) to choose M, lambda = 0"
    out += ["", table(["M", "E_RMS cv", "E_RMS train", "E_RMS test", ""], rows, title)]

    keys = ("degree", "ln_lambda", "erms_cv")
    rows = [[r[k] for k in keys] + ["*" if r["chosen"] else ""] for r in res["cv_joint"]]
    title = f"{s}-fold cross-validation over (M, ln lambda), ln lambda in {{-inf, -30, ..., 0}}"
    out += ["", table(["M", "best ln lambda", "E_RMS cv", ""], rows, title)]
    best = res["cv_best"]
    out.append(
        f"chosen: M = {best['degree']}, ln lambda = {best['ln_lambda']}; E_RMS cv "
        f"{best['erms_cv']:.4f}, refitted on all {n} points: E_RMS test {best['erms_test']:.4f}"
    )
    return "\n".join(out)


def _poly(coef: list[float], x: np.ndarray) -> np.ndarray:
    """y(x, w) = sum_j w_j x^j, as PolynomialRegression.predict computes it."""
    return np.vander(x, len(coef), increasing=True) @ np.asarray(coef, dtype=np.float64)


def plot_curve_fit(res: dict[str, Any], out: str) -> list[str] | None:
    """Six PNG figures of the experiment written to the directory ``out`` (created if
    needed); returns their paths, or None (writing nothing) when matplotlib is missing."""
    plt = _report.pyplot()
    if plt is None:
        return None
    os.makedirs(out, exist_ok=True)
    grid = np.linspace(0.0, 1.0, 400)
    x, t = np.asarray(res["x"]), np.asarray(res["t"])
    paths: list[str] = []

    def panel(ax: Any, xs: Any, ts: Any, coef: list[float], title: str) -> None:
        ax.plot(grid, np.sin(2 * np.pi * grid), color="tab:green", lw=1.5, label="sin(2πx)")
        ax.plot(grid, _poly(coef, grid), color="tab:red", lw=1.5, label="fit")
        ax.scatter(xs, ts, facecolors="none", edgecolors="tab:blue", s=30, label="data")
        ax.set_ylim(-1.6, 1.6)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("t")

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = os.path.join(out, name)
        atomic_savefig(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)

    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for ax, (m, coef) in zip(axes.ravel(), res["coef"].items()):
        panel(ax, x, t, coef, f"M = {m}")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    save(fig, "fits.png")

    train_err, test_err = res["erms_train"], res["erms_test"]
    degrees = list(range(len(train_err)))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(degrees, train_err, "o-", label="training")
    ax.plot(degrees, test_err, "s-", label="test")
    ax.plot(degrees, res["cv_m"], "^--", label="cross-validation")
    ax.set_xlabel("M")
    ax.set_ylabel("E_RMS")
    ax.set_ylim(0, max(1.0, min(2.0, max(test_err) * 1.1)))
    ax.legend()
    save(fig, "erms_vs_M.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(res["ln_lambda"], res["erms_train_lambda"], "o-", label="training")
    ax.plot(res["ln_lambda"], res["erms_test_lambda"], "s-", label="test")
    ax.set_xlabel("ln λ")
    ax.set_ylabel("E_RMS (M = 9)")
    ax.legend()
    save(fig, "erms_vs_lnlambda.png")

    m9 = res["coef_m9_lambda"]
    fig, axes = plt.subplots(1, len(m9), figsize=(13, 4))
    for ax, (key, coef) in zip(axes, m9.items()):
        panel(ax, x, t, coef, f"M = 9, ln λ = {key}")
    save(fig, "regularized_fits.png")

    sizes = res["data_size"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.3 * len(sizes), 4))
    for ax, r in zip(np.atleast_1d(axes), sizes):
        panel(ax, r["x"], r["t"], r["coef"], f"M = 9, N = {r['n']}")
    save(fig, "data_size.png")

    best = res["cv_best"]
    fig, ax = plt.subplots(figsize=(6, 4))
    title = f"cross-validated choice: M = {best['degree']}, ln λ = {best['ln_lambda']}"
    panel(ax, x, t, best["coef"], title)
    save(fig, "cv_choice.png")
    return paths


def run_curve_fit(
    n: int = 10,
    n_test: int = 100,
    noise: float = 0.3,
    seed: int = 38,
    folds: int = 5,
    penalize_bias: bool = True,
    out: str | None = None,
    echo: Callable[..., Any] = print,
) -> dict[str, Any]:
    """curve_fit_experiment, its tables through ``echo``, its plots to ``out`` (when given
    and matplotlib is there; "plots" lists them); returns the numbers."""
    res = curve_fit_experiment(n, n_test, noise, seed, folds, penalize_bias)
    echo(format_curve_fit(res))
    if out is not None:
        paths = plot_curve_fit(res, out)
        if paths is None:
            echo(
                '\nmatplotlib is not installed (pip install "deltagrad[examples]"): '
                "tables only, no plots."
            )
        else:
            res["plots"] = paths
            echo(f"\nplots written to {out}: " + ", ".join(os.path.basename(p) for p in paths))
    return res
