"""Train a small CNN on scikit-learn's 8x8 digits and report test metrics, what
``deltagrad train --dataset digits --model cnn`` runs: the same split (60/20/20, stratified,
``seed``), the same report and the same --save / --plot / --checkpoint / --resume as the MLP
(experiments.train_mlp), with the network deltagrad.nn_models.SmallCNN trained by
dg.train.fit.

    res = run_train_cnn("digits", epochs=30)   # prints the report, returns the numbers
    res["model"]                               # the trained SmallCNN (eval mode)

The pieces, for other reports: IMAGE_SHAPES, check_image_dataset, load_images, predict,
plot_cnn (learning curves next to the first conv layer's filters).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _report, metrics
from .._runtime import info
from .train_mlp import (
    LOSSES,
    TASKS,
    _hyperparameters_used,
    _resumed_state,
    check_output_path,
    format_report,
    load_split,
)

__all__ = [
    "IMAGE_SHAPES",
    "check_image_dataset",
    "load_images",
    "make_cnn",
    "predict",
    "plot_cnn",
    "run_train_cnn",
]

#: the data sets that are images: (channels, height, width) of one sample, and the largest
#: pixel value (the pixels are divided by it, to [0, 1])
IMAGE_SHAPES = {"digits": (1, 8, 8)}
PIXEL_MAX = {"digits": 16.0}


def check_image_dataset(dataset: str) -> tuple[int, int, int]:
    """The (C, H, W) of `dataset`'s images; a ValueError saying which data sets are images
    when it is tabular or unknown."""
    if dataset in IMAGE_SHAPES:
        return IMAGE_SHAPES[dataset]
    images = ", ".join(f"{k} ({'x'.join(map(str, v[1:]))} images)" for k, v in IMAGE_SHAPES.items())
    what = (
        f"{dataset} is a tabular data set ({TASKS[dataset]}), not images"
        if dataset in TASKS
        else f"unknown data set {dataset!r}"
    )
    raise ValueError(
        f"--model cnn: {what}; the CNN trains on {images}. Use --model mlp (the default) for "
        "tabular data"
    )


def load_images(dataset: str, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, X_val, X_test, y_train, y_val, y_test) of an image data set: load_split's
    60/20/20 stratified split (the MLP's, same seed), X reshaped to (N, C, H, W) float32 and
    divided by the largest pixel value (digits: 16), y int64."""
    c, h, w = check_image_dataset(dataset)
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_split(dataset, seed)

    def images(X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((X / PIXEL_MAX[dataset]).reshape(-1, c, h, w), np.float32)

    return (
        images(X_tr),
        images(X_va),
        images(X_te),
        *(np.asarray(y, np.int64) for y in (y_tr, y_va, y_te)),
    )


def make_cnn(dataset: str, n_classes: int, widths: Sequence[int] = (16, 32, 64)) -> Any:
    """The SmallCNN for `dataset`'s image shape (deltagrad.nn_models), initialized from
    deltagrad's generator (seed it with dg.manual_seed first)."""
    from ..nn_models import SmallCNN

    c, h, w = check_image_dataset(dataset)
    return SmallCNN(in_channels=c, num_classes=n_classes, widths=widths, image_size=(h, w))


def predict(model: Any, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The model's class scores (N, K) for images X, in eval mode, without a graph."""
    from ..tensor import Tensor, no_grad

    model.eval()
    out = []
    with no_grad():
        for start in range(0, len(X), batch_size):
            out.append(model(Tensor(X[start : start + batch_size])).numpy())
    return np.concatenate(out) if out else np.empty((0, model.num_classes), np.float32)


def _filter_mosaic(weight: np.ndarray) -> np.ndarray:
    """The first conv layer's filters (O, C, kh, kw) as one image: a near-square grid of the
    O filters (averaged over C), one NaN pixel between them."""
    w = np.asarray(weight, np.float64).mean(axis=1)
    o, kh, kw = w.shape
    cols = math.ceil(math.sqrt(o))
    rows = math.ceil(o / cols)
    mosaic = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan)
    for i in range(o):
        r, c = divmod(i, cols)
        mosaic[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = w[i]
    return mosaic


def plot_cnn(res: dict[str, Any], path: str) -> bool:
    """The learning curves (training and validation loss against the epoch) next to the
    learned filters of the first conv layer, to a PNG; False when matplotlib is missing."""
    plt = _report.pyplot()
    if plt is None:
        return False
    train_loss, val_loss = res["train_loss"], res["val_loss"]
    fig, (ax, ax_f) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    ep = np.arange(1, len(train_loss) + 1)
    ax.plot(ep, train_loss, label="training")
    if val_loss:
        ax.plot(ep[: len(val_loss)], val_loss, label="validation")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(res["loss"])
    ax.set_title(f"{res['dataset']}: CNN, {res['optimizer']}")
    ax.legend()
    weight = res["filters"]
    mosaic = _filter_mosaic(weight)
    lim = float(np.nanmax(np.abs(mosaic))) or 1.0
    im = ax_f.imshow(mosaic, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax_f.set_title(
        f"first conv layer: {weight.shape[0]} filters {weight.shape[2]}x{weight.shape[3]}"
        + (f" (mean of {weight.shape[1]} channels)" if weight.shape[1] > 1 else "")
    )
    ax_f.set_xticks([])
    ax_f.set_yticks([])
    fig.colorbar(im, ax=ax_f, fraction=0.046, pad=0.04)
    fig.tight_layout()
    from .._files import atomic_savefig

    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return True


def _check_number(v: Any, name: str, low: float, strict: bool) -> float:
    ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    if ok:
        v = float(v)
        ok = math.isfinite(v) and (v > low if strict else v >= low)
    if not ok:
        raise ValueError(
            f"{name}: expected a finite number {'>' if strict else '>='} {low:g}, got {v!r}"
        )
    return float(v)


def _check_count(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
    return int(v)


def run_train_cnn(
    dataset: str = "digits",
    device: str = "cpu",
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 1e-3,
    widths: Sequence[int] = (16, 32, 64),
    seed: int = 1,
    save: str | None = None,
    plot: str | None = None,
    progress: bool = True,
    echo: Callable[..., Any] = print,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Split the image data set 60/20/20 (``seed``, stratified, as the MLP), train a SmallCNN
    with cross-entropy (Adam, or SGD with momentum 0.9; ``weight_decay`` as the L2 penalty;
    validation loss every epoch; init, shuffling and split all from ``seed``), print the same
    report as ``deltagrad train`` through ``echo``, save the state dict to ``save`` and the
    learning curves with the first layer's filters to ``plot`` when given.
    Returns the numbers it prints, plus "model" (the trained SmallCNN) and "filters"."""
    shape = check_image_dataset(dataset)
    for value, name in ((save, "save"), (plot, "plot"), (checkpoint, "checkpoint")):
        if value is not None:
            check_output_path(value, name)
    if resume and checkpoint is None:
        raise ValueError("resume needs a checkpoint path")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {optimizer!r}")
    lr = _check_number(lr, "lr", 0.0, strict=True)
    weight_decay = _check_number(weight_decay, "weight_decay", 0.0, strict=False)
    epochs, batch_size = _check_count(epochs, "epochs"), _check_count(batch_size, "batch_size")
    facts = info()
    if device != "cpu":
        raise RuntimeError(
            f"--model cnn --device {device}: the convolution, pooling and batch-norm layers "
            "have CPU kernels only for now; use --device cpu"
        )
    task = TASKS[dataset]
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_images(dataset, seed)
    n_classes = int(max(y_tr.max(), y_va.max(), y_te.max())) + 1

    from .. import nn, optim
    from .._random import manual_seed
    from ..train import fit

    manual_seed(seed)
    model = make_cnn(dataset, n_classes, widths)
    params = model.parameters()
    opt = (
        optim.Adam(params, lr=lr, weight_decay=weight_decay)
        if optimizer == "adam"
        else optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    )
    backend = facts["cpu_isa"]
    n_all = len(y_tr) + len(y_va) + len(y_te)
    c, h, w = shape
    echo(
        f"deltagrad train: {dataset} ({task}), {n_all} images {c}x{h}x{w}; split "
        f"train/val/test = {len(y_tr)}/{len(y_va)}/{len(y_te)} (seed {seed}, stratified), "
        f"pixels divided by {PIXEL_MAX[dataset]:g} (to [0, 1])"
    )
    n_params = sum(int(p.data.size) for p in params)
    done, group = _resumed_state(checkpoint, resume)
    _, _, hyper = _hyperparameters_used(lr, weight_decay, group, checkpoint)
    echo(
        f"model: {model.describe()} ({n_params:,} parameters), loss {LOSSES[task]}, "
        f"{optimizer} {hyper}, batch {batch_size}, {epochs} epochs"
        f"{f' (resuming after epoch {done})' if done else ''}, backend {backend}"
    )

    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    history = fit(
        model,
        loss_fn,
        opt,
        X_tr,
        y_tr,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(X_va, y_va),
        progress=progress,
        seed=seed,
        checkpoint=checkpoint,
        resume=resume,
    )
    seconds = time.perf_counter() - t0
    run = len(history.epoch) - done  # the epochs trained in this process, not resumed ones
    pred = predict(model, X_te).argmax(axis=1)
    first = model.features[0].weight.numpy()
    res: dict[str, Any] = {
        "dataset": dataset,
        "task": task,
        "model_kind": "cnn",
        "epochs": epochs,
        "epochs_run": run,
        "resumed_after": done,
        # what the optimizer ran with: the checkpoint's values when resumed (torch semantics)
        "lr": float(opt.param_groups[0]["lr"]),
        "weight_decay": float(opt.param_groups[0]["weight_decay"]),
        "train_loss": list(history.history.get("loss", [])),
        "val_loss": list(history.history.get("val_loss", [])),
        "seconds": seconds,
        "samples_per_s": run * len(y_tr) / seconds,
        "backend": backend,
        "num_threads": facts["num_threads"],
        "n_test": len(y_te),
        "widths": list(model.widths),
        "n_params": n_params,
        "loss": LOSSES[task],
        "optimizer": optimizer,
        "seed": seed,
        "accuracy": metrics.accuracy(pred, y_te),
        "confusion_matrix": metrics.confusion_matrix(pred, y_te, n_classes=n_classes).tolist(),
    }
    echo(format_report(res))
    res["model"] = model
    res["filters"] = first
    if save:
        from .._files import atomic_write

        arrays = dict(model.state_dict())
        arrays.update(
            {
                "_meta.model": np.asarray("cnn"),
                "_meta.widths": np.asarray(model.widths),
                "_meta.image_shape": np.asarray(shape),
                "_meta.pixel_max": np.asarray(PIXEL_MAX[dataset]),
                "_meta.dataset": np.asarray(dataset),
            }
        )
        with atomic_write(save) as f:
            np.savez(f, **arrays)
        res["saved"] = save
        echo(f"model saved to {save} (state dict, plus _meta.* architecture and pixel scale)")
    if plot:
        if plot_cnn(res, plot):
            res["plot"] = plot
            echo(f"learning curves and first-layer filters written to {plot}")
        else:
            echo('--plot: matplotlib is not installed (pip install "deltagrad[examples]")')
    return res
