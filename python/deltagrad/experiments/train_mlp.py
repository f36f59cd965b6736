"""Train an MLP on one of scikit-learn's medical / digits data sets and report test metrics,
what ``deltagrad train`` runs. Built on the scikit-learn-style estimators
(deltagrad.models.MLPClassifier / MLPRegressor): they standardize the features on the
training set, build the network, choose the optimizer and run dg.train.fit.

    res = run_train("breast_cancer", epochs=30)   # prints the report, returns the numbers
    res["estimator"].predict_proba(X)             # the fitted MLPClassifier

The pieces, for other reports: load_split (data and split), make_estimator, evaluate_test_set,
format_report, save_model, plot_learning_curves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _report, datasets, metrics
from .._report import table
from .._runtime import info
from ..model_selection import train_val_test_split
from ..models import MLPClassifier, MLPRegressor

__all__ = [
    "TASKS",
    "load_split",
    "make_estimator",
    "evaluate_test_set",
    "format_report",
    "save_model",
    "plot_learning_curves",
    "check_output_path",
    "run_train",
]

#: what ``deltagrad train`` knows about each data set: its task
TASKS = {
    "breast_cancer": "binary",  # 569 x 30, positive (1) = malignant
    "diabetes": "regression",  # 442 x 10
    "digits": "multiclass",  # 1797 x 64, 10 classes
}
#: the loss the estimator trains each task with (MLPClassifier: 2 classes / K classes)
LOSSES = {"binary": "BCEWithLogitsLoss", "multiclass": "CrossEntropyLoss", "regression": "MSELoss"}

_LOADERS = {
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
    "digits": datasets.load_digits,
}


def load_split(dataset: str, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, X_val, X_test, y_train, y_val, y_test): 60/20/20, stratified for the
    classification tasks (needs scikit-learn, which ships the data)."""
    X, y = _LOADERS[dataset]()
    strat = y if TASKS[dataset] != "regression" else None
    return train_val_test_split(X, y, val_size=0.2, test_size=0.2, stratify=strat, seed=seed)


def make_estimator(task: str, **params: Any) -> MLPClassifier | MLPRegressor:
    """MLPRegressor for "regression", else MLPClassifier, with the given parameters."""
    return (MLPRegressor if task == "regression" else MLPClassifier)(**params)


def evaluate_test_set(est: Any, task: str, X: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """The test-set numbers of a fitted estimator: accuracy, ROC AUC and the confusion matrix
    (binary), accuracy and the confusion matrix (multiclass), E_RMS and R^2 (regression)."""
    if task == "binary":
        scores = est.decision_function(X)
        pred = est.predict(X)
        cm = metrics.confusion_matrix(pred, y, n_classes=2)
        return {
            "accuracy": metrics.accuracy(pred, y),
            "roc_auc": metrics.roc_auc(scores, y),
            "confusion_matrix": cm.tolist(),
        }
    if task == "multiclass":
        pred = est.predict(X)
        cm = metrics.confusion_matrix(pred, y, n_classes=n_classes)
        return {"accuracy": metrics.accuracy(pred, y), "confusion_matrix": cm.tolist()}
    pred = est.predict(X)
    return {
        "rms": metrics.rms_error(pred, y),
        "r2": metrics.r2(pred, y),
        "target_std": float(np.std(y)),
    }


def format_report(res: dict[str, Any]) -> str:
    """What ``deltagrad train`` prints after training: the per-epoch losses (at most ~20 rows),
    the test-set metrics and the training speed."""
    train_loss, val_loss = res["train_loss"], res["val_loss"]
    rows = [
        [i + 1, tl, val_loss[i] if i < len(val_loss) else None] for i, tl in enumerate(train_loss)
    ]
    step = 1 if len(rows) <= 30 else -(-len(rows) // 20)
    shown = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    every = "every epoch" if step == 1 else f"every {step} epochs and the last"
    out = [table(["epoch", "train loss", "val loss"], shown, f"\nper-epoch loss ({every})")]
    out.append("\ntest set:")
    task, title = res["task"], "  confusion matrix (rows: truth, columns: prediction)"
    if task == "binary":
        cm = np.asarray(res["confusion_matrix"])
        out.append(f"  accuracy  {res['accuracy']:.4f}")
        out.append(f"  ROC AUC   {res['roc_auc']:.4f}")
        out.append(
            f"  sensitivity (malignant found) {cm[1, 1] / max(1, cm[1].sum()):.4f}, "
            f"specificity {cm[0, 0] / max(1, cm[0].sum()):.4f}"
        )
        rows = [
            ["true benign (0)", int(cm[0, 0]), int(cm[0, 1])],
            ["true malignant (1)", int(cm[1, 0]), int(cm[1, 1])],
        ]
        out.append(table(["", "pred benign (0)", "pred malignant (1)"], rows, title))
    elif task == "multiclass":
        cm = np.asarray(res["confusion_matrix"])
        k = len(cm)
        out.append(f"  accuracy  {res['accuracy']:.4f}")
        rows = [[str(i), *map(int, cm[i])] for i in range(k)]
        out.append(table(["true \\ pred", *map(str, range(k))], rows, title))
    else:
        out.append(f"  E_RMS     {res['rms']:.3f}  (target std {res['target_std']:.3f})")
        out.append(f"  R^2       {res['r2']:.4f}")
    done, run = res.get("resumed_after", 0), res.get("epochs_run", 0)
    resumed = (
        f"; {run} epoch{'' if run == 1 else 's'} run here, {done} from the checkpoint"
        if done
        else ""
    )
    out.append(
        f"\ntraining: {res['seconds']:.2f} s, {res['samples_per_s']:,.0f} samples/s on "
        f"{res['backend']} ({res['num_threads']} threads; wall time of fit, validation "
        f"included{resumed})"
    )
    return "\n".join(out)


def check_output_path(path: str | os.PathLike[str], name: str) -> str:
    """`path` can be written: its directory exists and it is not itself a directory. Raises
    a ValueError naming `name` (the option) otherwise; returns the path as a str."""
    text = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(text))
    if not text:
        raise ValueError(f"{name}: empty path")
    if os.path.isdir(text):
        raise ValueError(f"{name} {text}: is a directory, expected a file name")
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {text}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{name} {text}: the directory {folder} is not writable")
    return text


def save_model(est: Any, path: str, dataset: str) -> str:
    """The fitted network's parameters and the standardization (``_meta.*``) as an .npz
    archive, written atomically at exactly ``path`` (no suffix added); returns the path."""
    from .._files import atomic_write

    arrays = dict(est.model_.state_dict())
    arrays.update(
        {
            "_meta.sizes": np.asarray(est.model_.sizes),
            "_meta.x_mean": est.x_mean_,
            "_meta.x_std": est.x_scale_,
            "_meta.dataset": np.asarray(dataset),
        }
    )
    if isinstance(est, MLPRegressor):
        arrays.update(
            {"_meta.y_mean": np.asarray(est.y_mean_), "_meta.y_std": np.asarray(est.y_scale_)}
        )
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def _resumed_state(checkpoint: str | None, resume: bool) -> tuple[int, dict[str, Any] | None]:
    """(the epochs an existing checkpoint holds, its optimizer's first param group without
    the parameters) when resuming from it, else (0, None). fit restores the optimizer's state
    as saved (torch semantics: its lr and weight_decay win over the command line's), so the
    report shows these. A file that cannot be read gives (0, None): fit then says why."""
    if not resume or checkpoint is None or not os.path.exists(checkpoint):
        return 0, None
    from ..train import _read_checkpoint

    try:
        state = _read_checkpoint(checkpoint)
        group = {k: v for k, v in state["optimizer"]["param_groups"][0].items() if k != "params"}
        return int(state["epoch"]), group
    except (ValueError, KeyError, TypeError, IndexError):
        return 0, None


def _hyperparameters_used(
    lr: float, weight_decay: float, group: dict[str, Any] | None, checkpoint: str | None
) -> tuple[float, float, str]:
    """(lr, weight_decay, header text) of the optimizer as fit will run it: the checkpoint's
    param group when resuming (the text then says so when they differ from the arguments)."""
    used_lr, used_wd = float(lr), float(weight_decay)
    if group is not None:
        used_lr = float(group.get("lr", used_lr))
        used_wd = float(group.get("weight_decay", used_wd))
    text = f"lr={used_lr:g} weight_decay={used_wd:g}"
    if (used_lr, used_wd) != (float(lr), float(weight_decay)):
        text += (
            f" (from the checkpoint {checkpoint}; the given lr={lr:g} "
            f"weight_decay={weight_decay:g} are not used)"
        )
    return used_lr, used_wd, text


def plot_learning_curves(res: dict[str, Any], path: str) -> bool:
    """Training and validation loss against the epoch to a PNG; False when matplotlib is
    missing."""
    plt = _report.pyplot()
    if plt is None:
        return False
    train_loss, val_loss = res["train_loss"], res["val_loss"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ep = np.arange(1, len(train_loss) + 1)
    ax.plot(ep, train_loss, label="training")
    if val_loss:
        ax.plot(ep[: len(val_loss)], val_loss, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(res["loss"])
    ax.set_title(f"{res['dataset']}: MLP {'-'.join(map(str, res['sizes']))}, {res['optimizer']}")
    ax.legend()
    fig.tight_layout()
    from .._files import atomic_savefig

    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return True


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
    echo: Callable[..., Any] = print,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Split the data set 60/20/20 (``seed``), fit an MLPClassifier / MLPRegressor (ReLU,
    standardized features, validation loss every epoch), print the report through ``echo``,
    save the parameters to ``save`` and the learning curves to ``plot`` when given.
    ``checkpoint``: a checkpoint after every epoch (dg.train.fit); ``resume`` continues from it.
    Every output path is checked before training. Returns the numbers it prints, plus
    "estimator" (the fitted estimator)."""
    if dataset not in TASKS:
        raise ValueError(f"dataset must be one of {', '.join(TASKS)}, got {dataset!r}")
    for value, name in ((save, "save"), (plot, "plot"), (checkpoint, "checkpoint")):
        if value is not None:
            check_output_path(value, name)
    if resume and checkpoint is None:
        raise ValueError("resume needs a checkpoint path")
    facts = info()
    if device == "cuda" and not facts["cuda_available"]:
        raise RuntimeError(f"--device cuda: CUDA is not available ({facts['cuda_status']})")
    task = TASKS[dataset]
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_split(dataset, seed)
    n_out = 1 if task != "multiclass" else int(max(y_tr.max(), y_va.max(), y_te.max())) + 1
    est = make_estimator(
        task,
        hidden=tuple(hidden),
        activation="relu",
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=device,
        progress=progress,
    )
    # the estimator checks its parameters (optimizer, lr, device...) before the header
    sizes = [X_tr.shape[1], *est._check_params(), n_out]
    backend = "cuda" if device == "cuda" else facts["cpu_isa"]
    n_all = len(y_tr) + len(y_va) + len(y_te)
    echo(
        f"deltagrad train: {dataset} ({task}), {n_all} samples x {X_tr.shape[1]} features; "
        f"split train/val/test = {len(y_tr)}/{len(y_va)}/{len(y_te)} (seed {seed}"
        f"{', stratified' if task != 'regression' else ''}), features standardized on train"
    )
    if dataset == "breast_cancer":
        echo(
            "positive class = malignant (label 1; scikit-learn codes malignant as 0, flipped here)"
        )
    done, group = _resumed_state(checkpoint, resume)
    used_lr, used_wd, hyper = _hyperparameters_used(lr, weight_decay, group, checkpoint)
    echo(
        f"model: MLP {'-'.join(map(str, sizes))} (relu), loss {LOSSES[task]}, "
        f"{optimizer} {hyper}, batch {batch_size}, {epochs} epochs"
        f"{f' (resuming after epoch {done})' if done else ''}, backend {backend}"
    )

    from .. import nn, optim, train  # noqa: F401 - loaded before the clock starts

    t0 = time.perf_counter()
    est.fit(X_tr, y_tr, validation_data=(X_va, y_va), checkpoint=checkpoint, resume=resume)
    seconds = time.perf_counter() - t0
    history = est.history_.history
    run = len(est.history_.epoch) - done  # the epochs trained in this process, not resumed ones
    res: dict[str, Any] = {
        "dataset": dataset,
        "task": task,
        "epochs": epochs,
        "epochs_run": run,
        "resumed_after": done,
        "lr": used_lr,
        "weight_decay": used_wd,
        "train_loss": list(history.get("loss", [])),
        "val_loss": list(history.get("val_loss", [])),
        "seconds": seconds,
        "samples_per_s": run * len(y_tr) / seconds,
        "backend": backend,
        "num_threads": facts["num_threads"],
        "n_test": len(y_te),
        "sizes": sizes,
        "loss": LOSSES[task],
        "optimizer": optimizer,
    }
    res.update(evaluate_test_set(est, task, X_te, y_te, n_out))
    echo(format_report(res))
    res["estimator"] = est
    if save:
        res["saved"] = save_model(est, save, dataset)
        echo(f"model saved to {res['saved']} (parameters, plus _meta.* standardization)")
    if plot:
        if plot_learning_curves(res, plot):
            res["plot"] = plot
            echo(f"learning curves written to {plot}")
        else:
            echo('--plot: matplotlib is not installed (pip install "deltagrad[examples]")')
    return res
