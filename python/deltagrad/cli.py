"""The `deltagrad` command: info | train | curve-fit | bench."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

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
    out: str | None = None,
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

    echo(
        f"Curve fitting (Bishop, Deep Learning §1.2): N = {n} points x = linspace(0, 1), "
        f"t = sin(2 pi x) + N(0, {noise}^2), seed {seed}; test set: {n_test} points."
    )
    echo(
        f"Error E~(w) = 1/2 sum (y(x_n, w) - t_n)^2 + lambda/2 ||w||^2"
        f" (w_0 {'in' if penalize_bias else 'not in'} the penalty).\n"
    )

    # 1. w* for M = 0, 1, 3, 9 (Bishop's table 1.1)
    orders = [0, 1, 3, 9]
    coefs = {m: fit(m).coef_ for m in orders}
    res["coef"] = {m: c.tolist() for m, c in coefs.items()}
    rows = [[f"w_{j}*"] + [coefs[m][j] if j <= m else "" for m in orders] for j in range(10)]
    echo(
        _table(
            ["", *(f"M = {m}" for m in orders)],
            rows,
            "Coefficients w* of the polynomials fitted by least squares",
        )
    )

    # 2. E_RMS on the training and test sets for M = 0..9
    degrees = list(range(10))
    train_err = [rms_error(fit(m).predict(x), t) for m in degrees]
    test_err = [rms_error(fit(m).predict(x_test), t_test) for m in degrees]
    res["erms_train"], res["erms_test"] = train_err, test_err
    echo()
    echo(
        _table(
            ["M", "E_RMS train", "E_RMS test"],
            [[m, a, b] for m, a, b in zip(degrees, train_err, test_err)],
            "Root-mean-square error against the order M (lambda = 0)",
        )
    )

    # 3. M = 9 with ln lambda = -inf, -18, 0 (Bishop's table 1.2)
    lams = [0.0, math.exp(-18.0), 1.0]
    reg = [fit(9, lam) for lam in lams]
    res["coef_m9_lambda"] = {_ln(lam): r.coef_.tolist() for lam, r in zip(lams, reg)}
    rows = [[f"w_{j}*"] + [r.coef_[j] for r in reg] for j in range(10)]
    rows.append(["E_RMS train"] + [rms_error(r.predict(x), t) for r in reg])
    rows.append(["E_RMS test"] + [rms_error(r.predict(x_test), t_test) for r in reg])
    echo()
    echo(
        _table(
            ["", *(f"ln lambda = {_ln(lam)}" for lam in lams)],
            rows,
            "M = 9: coefficients w* for different amounts of regularization",
        )
    )

    # 4. E_RMS against ln lambda for M = 9
    ln_grid = [-40.0, -35.0, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0]
    lam_train = [rms_error(fit(9, math.exp(v)).predict(x), t) for v in ln_grid]
    lam_test = [rms_error(fit(9, math.exp(v)).predict(x_test), t_test) for v in ln_grid]
    res["ln_lambda"], res["erms_train_lambda"], res["erms_test_lambda"] = (
        ln_grid,
        lam_train,
        lam_test,
    )
    echo()
    echo(
        _table(
            ["ln lambda", "E_RMS train", "E_RMS test"],
            [[f"{v:g}", a, b] for v, a, b in zip(ln_grid, lam_train, lam_test)],
            "M = 9: root-mean-square error against ln lambda",
        )
    )

    # 5. M = 9 on more data
    sizes = [n, 15, 100]
    bigger = {}
    for size in sizes:
        xs, ts = make_sinusoidal(size, noise=noise, seed=seed)
        model = fit(9, 0.0, xs, ts)
        bigger[size] = (xs, ts, model)
    rows = [
        [
            size,
            rms_error(m.predict(xs), ts),
            rms_error(m.predict(x_test), t_test),
            float(np.max(np.abs(m.coef_))),
        ]
        for size, (xs, ts, m) in bigger.items()
    ]
    res["data_size"] = [
        {"n": r[0], "erms_train": r[1], "erms_test": r[2], "max_abs_w": r[3]} for r in rows
    ]
    echo()
    echo(
        _table(
            ["N", "E_RMS train", "E_RMS test", "max |w_j|"],
            rows,
            "M = 9 fitted on more data: overfitting fades as N grows",
        )
    )

    # 6. S-fold cross-validation chooses M (lambda = 0), then M and lambda together
    cv = KFold(min(folds, n), shuffle=True, seed=seed)
    by_m = grid_search_poly(x, t, degrees, [-math.inf], cv=cv, penalize_bias=penalize_bias)
    joint = grid_search_poly(
        x,
        t,
        degrees,
        [-math.inf, -30.0, -25.0, -20.0, -18.0, -15.0, -10.0, -5.0, 0.0],
        cv=cv,
        penalize_bias=penalize_bias,
    )
    cv_m = [r["mean_score"] for r in by_m.cv_results_]
    rows = [
        [m, e, train_err[m], test_err[m], "*" if m == by_m.best_params_["degree"] else ""]
        for m, e in zip(degrees, cv_m)
    ]
    echo()
    echo(
        _table(
            ["M", "E_RMS cv", "E_RMS train", "E_RMS test", ""],
            rows,
            f"{cv.n_splits}-fold cross-validation (shuffled, seed {seed}) to choose M, lambda = 0",
        )
    )
    best = joint.best_params_
    best_model = joint.best_estimator_
    best_test = rms_error(best_model.predict(x_test), t_test)
    res["cv_m"] = cv_m
    res["cv_best_m"] = by_m.best_params_["degree"]
    res["cv_best"] = {
        "degree": best["degree"],
        "ln_lambda": _ln(best["l2"]),
        "erms_cv": joint.best_score_,
        "erms_test": best_test,
    }
    # the best lambda for each M, to keep the printout short
    rows = []
    for m in degrees:
        cand = [r for r in joint.cv_results_ if r["params"]["degree"] == m]
        r = min(cand, key=lambda r: r["mean_score"])
        rows.append(
            [
                m,
                _ln(r["params"]["l2"]),
                r["mean_score"],
                "*" if r is joint.cv_results_[joint.best_index_] else "",
            ]
        )
    echo()
    echo(
        _table(
            ["M", "best ln lambda", "E_RMS cv", ""],
            rows,
            f"{cv.n_splits}-fold cross-validation over (M, ln lambda), "
            f"ln lambda in {{-inf, -30, ..., 0}}",
        )
    )
    echo(
        f"chosen: M = {best['degree']}, ln lambda = {_ln(best['l2'])}; E_RMS cv "
        f"{joint.best_score_:.4f}, refitted on all {n} points: E_RMS test {best_test:.4f}"
    )

    if out is not None:
        plt = _pyplot()
        if plt is None:
            echo(
                '\nmatplotlib is not installed (pip install "deltagrad[examples]"): '
                "tables only, no plots."
            )
        else:
            res["plots"] = _curve_fit_plots(
                plt,
                out,
                x,
                t,
                x_test,
                t_test,
                coefs,
                fit,
                degrees,
                train_err,
                test_err,
                ln_grid,
                lam_train,
                lam_test,
                bigger,
                cv_m,
                best_model,
                best,
            )
            echo(
                f"\nplots written to {out}: " + ", ".join(os.path.basename(p) for p in res["plots"])
            )
    return res


def _curve_fit_plots(
    plt: Any,
    out: str,
    x: np.ndarray,
    t: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    coefs: dict[int, np.ndarray],
    fit: Any,
    degrees: list[int],
    train_err: list[float],
    test_err: list[float],
    ln_grid: list[float],
    lam_train: list[float],
    lam_test: list[float],
    bigger: dict[int, Any],
    cv_m: list[float],
    best_model: Any,
    best: dict[str, Any],
) -> list[str]:
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
    panel(
        ax,
        x,
        t,
        best_model,
        f"cross-validated choice: M = {best['degree']}, ln λ = {_ln(best['l2'])}",
    )
    save(fig, "cv_choice.png")
    return paths


def _cmd_curve_fit(args: argparse.Namespace) -> int:
    if args.n < 2:
        print("deltagrad curve-fit: --n must be >= 2 for cross-validation", file=sys.stderr)
        return 2
    try:
        run_curve_fit(
            n=args.n,
            n_test=args.n_test,
            noise=args.noise,
            seed=args.seed,
            folds=args.folds,
            penalize_bias=not args.no_penalize_bias,
            out=args.out,
        )
    except (ValueError, TypeError) as e:
        print(f"deltagrad curve-fit: {e}", file=sys.stderr)
        return 2
    if args.out is None:
        print("\n(pass --out DIR to write the plots)")
    return 0


# ----------------------------------------------------------------------------- train

#: what `deltagrad train` knows about each data set
_TASKS = {
    "breast_cancer": "binary",  # 569 x 30, positive (1) = malignant
    "diabetes": "regression",  # 442 x 10
    "digits": "multiclass",  # 1797 x 64, 10 classes
}


def _parse_hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden: expected comma-separated layer widths such as 64,32, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden: widths must be >= 1, got {text!r}")
    return sizes


def _load_task(name: str) -> tuple[np.ndarray, np.ndarray]:
    from . import datasets

    return {
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
    }[name]()


class _Standardizer:
    """z = (x - mean) / std with the statistics of the training set only."""

    def __init__(self, X: np.ndarray) -> None:
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # constant columns (digits' border pixels)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std


def _fit(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: Any,
    progress: bool,
    seed: int,
) -> tuple[list[float], list[float]]:
    """dg.train.fit (mini-batches, tqdm bar with the loss); per-epoch train / val loss."""
    from .train import fit

    history = fit(
        model,
        loss_fn,
        optimizer,
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        progress=progress,
        seed=seed,
    )
    return list(history.history.get("loss", [])), list(history.history.get("val_loss", []))


def run_train(
    dataset: str = "breast_cancer",
    device: str = "cpu",
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 1e-3,
    hidden: Sequence[int] = (64, 32),
    seed: int = 1,
    save: str | None = None,
    plot: str | None = None,
    progress: bool = True,
    echo: Any = print,
) -> dict[str, Any]:
    """Train an MLP on one of scikit-learn's medical / digits data sets and report test
    metrics; what ``deltagrad train`` runs. Returns the numbers it prints."""
    import time

    from . import metrics, nn, optim
    from ._random import manual_seed
    from ._runtime import info
    from .model_selection import train_val_test_split
    from .tensor import Tensor, no_grad

    if dataset not in _TASKS:
        raise ValueError(f"dataset must be one of {', '.join(_TASKS)}, got {dataset!r}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    facts = info()
    if device == "cuda" and not facts["cuda_available"]:
        raise RuntimeError(f"--device cuda: CUDA is not available ({facts['cuda_status']})")
    task = _TASKS[dataset]
    manual_seed(seed)

    X, y = _load_task(dataset)
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(
        X, y, val_size=0.2, test_size=0.2, stratify=y if task != "regression" else None, seed=seed
    )
    scale = _Standardizer(X_tr)
    X_tr, X_va, X_te = (scale(a).astype(np.float32) for a in (X_tr, X_va, X_te))
    if task == "binary":
        n_out, loss_fn = 1, nn.BCEWithLogitsLoss()
        prep = lambda v: v.astype(np.float32)[:, None]  # noqa: E731 - (N, 1) float targets
    elif task == "multiclass":
        n_out, loss_fn = int(y.max()) + 1, nn.CrossEntropyLoss()
        prep = lambda v: v.astype(np.int64)  # noqa: E731
    else:  # regression on a standardized target, reported back in the original units
        n_out, loss_fn = 1, nn.MSELoss()
        y_mean, y_std = float(y_tr.mean()), float(y_tr.std())
        prep = lambda v: ((v - y_mean) / y_std).astype(np.float32)[:, None]  # noqa: E731
    t_tr, t_va = prep(y_tr), prep(y_va)

    sizes = [X.shape[1], *hidden, n_out]
    model = nn.MLP(sizes, activation="relu")
    if device == "cuda":
        model.to("cuda")
        to_dev = lambda a: Tensor(a, device="cuda").data  # noqa: E731
        X_tr, X_va, t_tr, t_va = map(to_dev, (X_tr, X_va, t_tr, t_va))
    if optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    backend = "cuda" if device == "cuda" else facts["cpu_isa"]
    echo(
        f"deltagrad train: {dataset} ({task}), {X.shape[0]} samples x {X.shape[1]} features; "
        f"split train/val/test = {len(y_tr)}/{len(y_va)}/{len(y_te)} (seed {seed}"
        f"{', stratified' if task != 'regression' else ''}), features standardized on train"
    )
    if dataset == "breast_cancer":
        echo(
            "positive class = malignant (label 1; scikit-learn codes malignant as 0, flipped here)"
        )
    echo(
        f"model: MLP {'-'.join(map(str, sizes))} (relu), loss {type(loss_fn).__name__}, "
        f"{optimizer} lr={lr:g} weight_decay={weight_decay:g}, batch {batch_size}, "
        f"{epochs} epochs, backend {backend}"
    )

    t0 = time.perf_counter()
    train_loss, val_loss = _fit(
        model,
        loss_fn,
        opt,
        X_tr,
        t_tr,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(X_va, t_va),
        progress=progress,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    samples_per_s = epochs * len(y_tr) / seconds

    rows = [
        [i + 1, tl, val_loss[i] if i < len(val_loss) else None] for i, tl in enumerate(train_loss)
    ]
    step = 1 if len(rows) <= 30 else -(-len(rows) // 20)  # at most ~20 rows shown
    shown = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    every = "every epoch" if step == 1 else f"every {step} epochs and the last"
    echo(_table(["epoch", "train loss", "val loss"], shown, f"\nper-epoch loss ({every})"))

    model.eval()
    with no_grad():
        out = np.asarray(
            model(Tensor(X_te if device == "cpu" else to_dev(X_te))).numpy(), dtype=np.float64
        )
    res: dict[str, Any] = {
        "dataset": dataset,
        "task": task,
        "epochs": epochs,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "seconds": seconds,
        "samples_per_s": samples_per_s,
        "backend": backend,
        "n_test": len(y_te),
    }
    echo("\ntest set:")
    if task == "binary":
        scores = out[:, 0]
        pred = (scores > 0).astype(np.int64)
        cm = metrics.confusion_matrix(pred, y_te, n_classes=2)
        res.update(
            accuracy=metrics.accuracy(pred, y_te),
            roc_auc=metrics.roc_auc(scores, y_te),
            confusion_matrix=cm.tolist(),
        )
        echo(f"  accuracy  {res['accuracy']:.4f}")
        echo(f"  ROC AUC   {res['roc_auc']:.4f}")
        echo(
            f"  sensitivity (malignant found) {cm[1, 1] / max(1, cm[1].sum()):.4f}, "
            f"specificity {cm[0, 0] / max(1, cm[0].sum()):.4f}"
        )
        echo(
            _table(
                ["", "pred benign (0)", "pred malignant (1)"],
                [
                    ["true benign (0)", int(cm[0, 0]), int(cm[0, 1])],
                    ["true malignant (1)", int(cm[1, 0]), int(cm[1, 1])],
                ],
                "  confusion matrix (rows: truth, columns: prediction)",
            )
        )
    elif task == "multiclass":
        pred = out.argmax(axis=1)
        cm = metrics.confusion_matrix(pred, y_te, n_classes=n_out)
        res.update(accuracy=metrics.accuracy(pred, y_te), confusion_matrix=cm.tolist())
        echo(f"  accuracy  {res['accuracy']:.4f}")
        echo(
            _table(
                ["true \\ pred", *map(str, range(n_out))],
                [[str(k), *map(int, cm[k])] for k in range(n_out)],
                "  confusion matrix (rows: truth, columns: prediction)",
            )
        )
    else:
        pred = out[:, 0] * y_std + y_mean
        res.update(rms=metrics.rms_error(pred, y_te), r2=metrics.r2(pred, y_te))
        echo(f"  E_RMS     {res['rms']:.3f}  (target std {float(np.std(y_te)):.3f})")
        echo(f"  R^2       {res['r2']:.4f}")
    echo(
        f"\ntraining: {seconds:.2f} s, {samples_per_s:,.0f} samples/s on {backend} "
        f"({facts['num_threads']} threads; wall time of fit, validation included)"
    )

    if save:
        arrays = {k: v for k, v in model.state_dict().items()}
        arrays.update(
            {
                "_meta.sizes": np.asarray(sizes),
                "_meta.x_mean": scale.mean,
                "_meta.x_std": scale.std,
                "_meta.dataset": np.asarray(dataset),
            }
        )
        if task == "regression":
            arrays.update({"_meta.y_mean": np.asarray(y_mean), "_meta.y_std": np.asarray(y_std)})
        np.savez(save, **arrays)
        res["saved"] = save if save.endswith(".npz") else save + ".npz"
        echo(f"model saved to {res['saved']} (parameters, plus _meta.* standardization)")
    if plot:
        plt = _pyplot()
        if plt is None:
            echo('--plot: matplotlib is not installed (pip install "deltagrad[examples]")')
        else:
            fig, ax = plt.subplots(figsize=(6, 4))
            ep = np.arange(1, len(train_loss) + 1)
            ax.plot(ep, train_loss, label="training")
            if val_loss:
                ax.plot(ep[: len(val_loss)], val_loss, label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel(type(loss_fn).__name__)
            ax.set_title(f"{dataset}: MLP {'-'.join(map(str, sizes))}, {optimizer}")
            ax.legend()
            fig.tight_layout()
            fig.savefig(plot, dpi=110)
            plt.close(fig)
            res["plot"] = plot
            echo(f"learning curves written to {plot}")
    return res


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        run_train(
            dataset=args.dataset,
            device=args.device,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            hidden=args.hidden,
            seed=args.seed,
            save=args.save,
            plot=args.plot,
            progress=not args.no_progress,
        )
    except (RuntimeError, ImportError, ValueError, TypeError) as e:
        print(f"deltagrad train: {e}", file=sys.stderr)
        return 2
    return 0


# ----------------------------------------------------------------------------- bench


def _cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import format_report, plot_report, run_benchmarks

    res = run_benchmarks(quick=args.quick, n_threads=args.threads, progress=not args.no_progress)
    print(format_report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"\nresults written to {args.json}")
    if args.plot:
        if plot_report(res, args.plot):
            print(f"plot written to {args.plot}")
        else:
            print('--plot: matplotlib is not installed (pip install "deltagrad[examples]")')
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _at_least_2(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltagrad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, build, CPU ISA, threads, CUDA")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "curve-fit",
        help="Bishop's polynomial curve fitting, regularization "
        "and cross-validation experiment (Deep Learning §1.2)",
    )
    p.add_argument("--n", type=_positive_int, default=10, help="training points (default 10)")
    p.add_argument("--n-test", type=_positive_int, default=100, help="test points (default 100)")
    p.add_argument("--noise", type=float, default=0.3, help="noise std (default 0.3)")
    p.add_argument(
        "--seed",
        type=int,
        default=38,
        help="training-set seed (default 38); the test set uses seed + 1000",
    )
    p.add_argument("--folds", type=_at_least_2, default=5, help="S of S-fold CV (default 5)")
    p.add_argument(
        "--no-penalize-bias",
        action="store_true",
        help="leave w_0 out of the penalty lambda/2 ||w||^2",
    )
    p.add_argument("--out", default=None, help="directory for the PNG plots")
    p.set_defaults(func=_cmd_curve_fit)

    p = sub.add_parser(
        "train",
        help="train an MLP on a medical data set shipped with scikit-learn and report test metrics",
    )
    p.add_argument(
        "--dataset",
        choices=list(_TASKS),
        default="breast_cancer",
        help="breast_cancer (binary, BCE with logits; positive = malignant), "
        "diabetes (regression, MSE), digits (10 classes, cross-entropy)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--epochs", type=_positive_int, default=30)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default="adam",
        help="adam, or sgd with momentum 0.9",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=1e-3,
        help="L2 penalty added to the gradient (default 1e-3)",
    )
    p.add_argument(
        "--hidden",
        type=_parse_hidden,
        default=[64, 32],
        help="hidden layer widths, e.g. 64,32 (default)",
    )
    p.add_argument("--seed", type=int, default=1, help="split, init and shuffling seed (default 1)")
    p.add_argument("--save", default=None, metavar="MODEL.npz", help="save the parameters")
    p.add_argument("--plot", default=None, metavar="CURVES.png", help="learning curves")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "bench",
        help="GEMM GFLOP/s, activation GB/s and MLP samples/s against "
        "NumPy / PyTorch, with this machine's measured peak and copy bandwidth",
    )
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="threads for every library (default: deltagrad's current setting)",
    )
    p.add_argument("--json", default=None, metavar="OUT.json", help="write the results")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="plot the results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
