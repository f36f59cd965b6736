"""The `deltagrad` command: info | train | curve-fit | bench."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np


def _cmd_info(args: argparse.Namespace) -> int:
    from ._runtime import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    return 0


# ----------------------------------------------------------------------------- helpers


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain right-aligned text table."""
    cells = [[c if isinstance(c, str) else _num(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(head)]
    lines = [title] if title else []
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths).rstrip())
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4f}"
    return f"{v:.3e}"


def _ln(lam: float) -> str:
    return "-inf" if lam == 0 else f"{math.log(lam):g}"


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# ----------------------------------------------------------------------------- curve-fit


def run_curve_fit(
    n: int = 10,
    n_test: int = 100,
    noise: float = 0.3,
    seed: int = 38,
    folds: int = 5,
    penalize_bias: bool = True,
    out: Optional[str] = None,
    echo: Any = print,
) -> dict[str, Any]:
    """Bishop's polynomial curve-fitting experiment (Deep Learning §1.2); prints its tables,
    writes its plots to ``out`` (when given and matplotlib is there) and returns the numbers.

    The training set is make_sinusoidal(n, noise, seed); the test set is
    make_sinusoidal(n_test, noise, seed + 1000), an independent noise draw.
    """
    from .datasets import make_sinusoidal
    from .metrics import rms_error
    from .model_selection import KFold, grid_search_poly
    from .models import PolynomialRegression

    x, t = make_sinusoidal(n, noise=noise, seed=seed)
    x_test, t_test = make_sinusoidal(n_test, noise=noise, seed=seed + 1000)
    res: dict[str, Any] = {"n": n, "n_test": n_test, "noise": noise, "seed": seed}

    def fit(m: int, lam: float = 0.0, xs: np.ndarray = x, ts: np.ndarray = t) -> Any:
        return PolynomialRegression(m, l2=lam, penalize_bias=penalize_bias).fit(xs, ts)

    echo(f"Curve fitting (Bishop, Deep Learning §1.2): N = {n} points x = linspace(0, 1), "
         f"t = sin(2 pi x) + N(0, {noise}^2), seed {seed}; test set: {n_test} points.")
    echo(f"Error E~(w) = 1/2 sum (y(x_n, w) - t_n)^2 + lambda/2 ||w||^2"
         f" (w_0 {'in' if penalize_bias else 'not in'} the penalty).\n")

    # 1. w* for M = 0, 1, 3, 9 (Bishop's table 1.1)
    orders = [0, 1, 3, 9]
    coefs = {m: fit(m).coef_ for m in orders}
    res["coef"] = {m: c.tolist() for m, c in coefs.items()}
    rows = [[f"w_{j}*"] + [coefs[m][j] if j <= m else "" for m in orders] for j in range(10)]
    echo(_table(["", *(f"M = {m}" for m in orders)], rows,
                "Coefficients w* of the polynomials fitted by least squares"))

    # 2. E_RMS on the training and test sets for M = 0..9
    degrees = list(range(10))
    train_err = [rms_error(fit(m).predict(x), t) for m in degrees]
    test_err = [rms_error(fit(m).predict(x_test), t_test) for m in degrees]
    res["erms_train"], res["erms_test"] = train_err, test_err
    echo()
    echo(_table(["M", "E_RMS train", "E_RMS test"],
                [[m, a, b] for m, a, b in zip(degrees, train_err, test_err)],
                "Root-mean-square error against the order M (lambda = 0)"))

    # 3. M = 9 with ln lambda = -inf, -18, 0 (Bishop's table 1.2)
    lams = [0.0, math.exp(-18.0), 1.0]
    reg = [fit(9, lam) for lam in lams]
    res["coef_m9_lambda"] = {_ln(lam): r.coef_.tolist() for lam, r in zip(lams, reg)}
    rows = [[f"w_{j}*"] + [r.coef_[j] for r in reg] for j in range(10)]
    rows.append(["E_RMS train"] + [rms_error(r.predict(x), t) for r in reg])
    rows.append(["E_RMS test"] + [rms_error(r.predict(x_test), t_test) for r in reg])
    echo()
    echo(_table(["", *(f"ln lambda = {_ln(lam)}" for lam in lams)], rows,
                "M = 9: coefficients w* for different amounts of regularization"))

    # 4. E_RMS against ln lambda for M = 9
    ln_grid = [-40.0, -35.0, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0]
    lam_train = [rms_error(fit(9, math.exp(v)).predict(x), t) for v in ln_grid]
    lam_test = [rms_error(fit(9, math.exp(v)).predict(x_test), t_test) for v in ln_grid]
    res["ln_lambda"], res["erms_train_lambda"], res["erms_test_lambda"] = (
        ln_grid, lam_train, lam_test)
    echo()
    echo(_table(["ln lambda", "E_RMS train", "E_RMS test"],
                [[f"{v:g}", a, b] for v, a, b in zip(ln_grid, lam_train, lam_test)],
                "M = 9: root-mean-square error against ln lambda"))

    # 5. M = 9 on more data
    sizes = [n, 15, 100]
    bigger = {}
    for size in sizes:
        xs, ts = make_sinusoidal(size, noise=noise, seed=seed)
        model = fit(9, 0.0, xs, ts)
        bigger[size] = (xs, ts, model)
    rows = [[size, rms_error(m.predict(xs), ts), rms_error(m.predict(x_test), t_test),
             float(np.max(np.abs(m.coef_)))] for size, (xs, ts, m) in bigger.items()]
    res["data_size"] = [{"n": r[0], "erms_train": r[1], "erms_test": r[2], "max_abs_w": r[3]}
                        for r in rows]
    echo()
    echo(_table(["N", "E_RMS train", "E_RMS test", "max |w_j|"], rows,
                "M = 9 fitted on more data: overfitting fades as N grows"))

    # 6. S-fold cross-validation chooses M (lambda = 0), then M and lambda together
    cv = KFold(min(folds, n), shuffle=True, seed=seed)
    by_m = grid_search_poly(x, t, degrees, [-math.inf], cv=cv, penalize_bias=penalize_bias)
    joint = grid_search_poly(x, t, degrees, [-math.inf, -30.0, -25.0, -20.0, -18.0, -15.0,
                                             -10.0, -5.0, 0.0], cv=cv,
                             penalize_bias=penalize_bias)
    cv_m = [r["mean_score"] for r in by_m.cv_results_]
    rows = [[m, e, train_err[m], test_err[m], "*" if m == by_m.best_params_["degree"] else ""]
            for m, e in zip(degrees, cv_m)]
    echo()
    echo(_table(["M", "E_RMS cv", "E_RMS train", "E_RMS test", ""], rows,
                f"{cv.n_splits}-fold cross-validation (shuffled, seed {seed}) to choose M, "
                f"lambda = 0"))
    best = joint.best_params_
    best_model = joint.best_estimator_
    best_test = rms_error(best_model.predict(x_test), t_test)
    res["cv_m"] = cv_m
    res["cv_best_m"] = by_m.best_params_["degree"]
    res["cv_best"] = {"degree": best["degree"], "ln_lambda": _ln(best["l2"]),
                      "erms_cv": joint.best_score_, "erms_test": best_test}
    # the best lambda for each M, to keep the printout short
    rows = []
    for m in degrees:
        cand = [r for r in joint.cv_results_ if r["params"]["degree"] == m]
        r = min(cand, key=lambda r: r["mean_score"])
        rows.append([m, _ln(r["params"]["l2"]), r["mean_score"],
                     "*" if r is joint.cv_results_[joint.best_index_] else ""])
    echo()
    echo(_table(["M", "best ln lambda", "E_RMS cv", ""], rows,
                f"{cv.n_splits}-fold cross-validation over (M, ln lambda), "
                f"ln lambda in {{-inf, -30, ..., 0}}"))
    echo(f"chosen: M = {best['degree']}, ln lambda = {_ln(best['l2'])}; E_RMS cv "
         f"{joint.best_score_:.4f}, refitted on all {n} points: E_RMS test {best_test:.4f}")

    if out is not None:
        plt = _pyplot()
        if plt is None:
            echo("\nmatplotlib is not installed (pip install \"deltagrad[examples]\"): "
                 "tables only, no plots.")
        else:
            res["plots"] = _curve_fit_plots(plt, out, x, t, x_test, t_test, coefs, fit, degrees,
                                            train_err, test_err, ln_grid, lam_train, lam_test,
                                            bigger, cv_m, best_model, best)
            echo(f"\nplots written to {out}: " + ", ".join(
                os.path.basename(p) for p in res["plots"]))
    return res


def _curve_fit_plots(plt: Any, out: str, x: np.ndarray, t: np.ndarray, x_test: np.ndarray,
                     t_test: np.ndarray, coefs: dict[int, np.ndarray], fit: Any,
                     degrees: list[int], train_err: list[float], test_err: list[float],
                     ln_grid: list[float], lam_train: list[float], lam_test: list[float],
                     bigger: dict[int, Any], cv_m: list[float], best_model: Any,
                     best: dict[str, Any]) -> list[str]:
    os.makedirs(out, exist_ok=True)
    grid = np.linspace(0.0, 1.0, 400)
    paths = []

    def panel(ax: Any, xs: np.ndarray, ts: np.ndarray, model: Any, title: str) -> None:
        ax.plot(grid, np.sin(2 * np.pi * grid), color="tab:green", lw=1.5, label="sin(2πx)")
        ax.plot(grid, model.predict(grid), color="tab:red", lw=1.5, label="fit")
        ax.scatter(xs, ts, facecolors="none", edgecolors="tab:blue", s=30, label="data")
        ax.set_ylim(-1.6, 1.6)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("t")

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = os.path.join(out, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for ax, m in zip(axes.ravel(), coefs):
        panel(ax, x, t, fit(m), f"M = {m}")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    save(fig, "fits.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(degrees, train_err, "o-", label="training")
    ax.plot(degrees, test_err, "s-", label="test")
    ax.plot(degrees, cv_m, "^--", label="cross-validation")
    ax.set_xlabel("M")
    ax.set_ylabel("E_RMS")
    ax.set_ylim(0, max(1.0, min(2.0, max(test_err) * 1.1)))
    ax.legend()
    save(fig, "erms_vs_M.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ln_grid, lam_train, "o-", label="training")
    ax.plot(ln_grid, lam_test, "s-", label="test")
    ax.set_xlabel("ln λ")
    ax.set_ylabel("E_RMS (M = 9)")
    ax.legend()
    save(fig, "erms_vs_lnlambda.png")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, ln in zip(axes, [-math.inf, -18.0, 0.0]):
        panel(ax, x, t, fit(9, 0.0 if ln == -math.inf else math.exp(ln)), f"M = 9, ln λ = {ln:g}")
    save(fig, "regularized_fits.png")

    fig, axes = plt.subplots(1, len(bigger), figsize=(4.3 * len(bigger), 4))
    for ax, (size, (xs, ts, model)) in zip(np.atleast_1d(axes), bigger.items()):
        panel(ax, xs, ts, model, f"M = 9, N = {size}")
    save(fig, "data_size.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    panel(ax, x, t, best_model,
          f"cross-validated choice: M = {best['degree']}, ln λ = {_ln(best['l2'])}")
    save(fig, "cv_choice.png")
    return paths


def _cmd_curve_fit(args: argparse.Namespace) -> int:
    run_curve_fit(n=args.n, n_test=args.n_test, noise=args.noise, seed=args.seed,
                  folds=args.folds, penalize_bias=not args.no_penalize_bias, out=args.out)
    if args.out is None:
        print("\n(pass --out DIR to write the plots)")
    return 0


def _not_yet(name: str):
    def run(args: argparse.Namespace) -> int:
        print(f"deltagrad {name}: not there yet", file=sys.stderr)
        return 0

    return run


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltagrad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, build, CPU ISA, threads, CUDA")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("curve-fit", help="Bishop's polynomial curve fitting, regularization "
                       "and cross-validation experiment (Deep Learning §1.2)")
    p.add_argument("--n", type=_positive_int, default=10, help="training points (default 10)")
    p.add_argument("--n-test", type=_positive_int, default=100, help="test points (default 100)")
    p.add_argument("--noise", type=float, default=0.3, help="noise std (default 0.3)")
    p.add_argument("--seed", type=int, default=38, help="training-set seed (default 38); the "
                   "test set uses seed + 1000")
    p.add_argument("--folds", type=_positive_int, default=5, help="S of S-fold CV (default 5)")
    p.add_argument("--no-penalize-bias", action="store_true",
                   help="leave w_0 out of the penalty lambda/2 ||w||^2")
    p.add_argument("--out", default=None, help="directory for the PNG plots")
    p.set_defaults(func=_cmd_curve_fit)

    for name in ("train", "bench"):
        sub.add_parser(name).set_defaults(func=_not_yet(name))
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
