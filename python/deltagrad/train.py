"""deltagrad.train: fit() — the training loop (Bishop, Algorithm 7.1) with validation, metrics,
a progress bar, early stopping and a clear error when the loss diverges."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .data import DataLoader
from .tensor import Tensor, no_grad

__all__ = ["fit", "evaluate", "History", "EarlyStopping", "TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """The training loss, a gradient or a weight became NaN or infinite: lower the learning
    rate, check the inputs. fit() raises it before the optimizer step that would have written
    the non-finite values into the weights."""

    def __init__(self, epoch: int, step: int, loss: float, what: str | None = None) -> None:
        self.epoch, self.step, self.loss = epoch, step, loss
        what = what or f"the loss is {loss}"
        super().__init__(
            f"training diverged: {what} at epoch {epoch}, step {step} "
            "(try a smaller learning rate, or check the data for NaN/inf and the scale of the "
            "inputs)"
        )


def _non_finite(arrays: Any) -> int | None:
    """The index of the first array holding a NaN or an infinity (None if all are finite).
    One reduction per array: its sum is finite exactly when no element is NaN/inf, unless the
    finite elements overflow the sum, which at float32's 3e38 is divergence too."""
    with np.errstate(over="ignore", invalid="ignore"):
        for i, a in enumerate(arrays):
            if a is not None and a.size and not math.isfinite(float(a.sum())):
                return i
    return None


def _param_names(model: Any, optimizer: Any) -> list[str]:
    params = getattr(optimizer, "params", None)
    if params is None:
        return []
    names = {}
    if hasattr(model, "named_parameters"):
        names = {id(p): n for n, p in model.named_parameters()}
    return [names.get(id(p), f"params[{i}]") for i, p in enumerate(params)]


class History:
    """What fit() recorded: `.history` maps "loss", "val_loss", "val_<metric>",
    "samples_per_sec" and "epoch_time" to per-epoch lists (as keras); `.epoch` lists the epochs
    run (from 1); `.best_epoch` / `.stopped_epoch` are set by early stopping."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None

    def _record(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self.epoch)}, last: {last})"


class EarlyStopping:
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    restore_best_weights puts back the parameters of the best epoch when fit() ends."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)

    def _better(self, value: float, best: float) -> bool:
        mode = self.mode
        if mode == "auto":
            mode = "max" if any(s in self.monitor for s in ("acc", "auc", "r2")) else "min"
        if mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best_weights={self.restore_best_weights})"
        )


def _metric_fns(metrics: Any) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        items = list(metrics.items())
    else:
        if callable(metrics) or isinstance(metrics, str):
            metrics = [metrics]
        items = []
        for m in metrics:
            if isinstance(m, str):
                items.append((m, m))
            else:
                items.append((getattr(m, "__name__", type(m).__name__), m))
    out = {}
    for name, fn in items:
        if isinstance(fn, str):
            try:
                from . import metrics as metrics_module
            except ImportError:
                metrics_module = None
            found = getattr(metrics_module, fn, None)
            if found is None:
                raise ValueError(f"metrics: deltagrad.metrics has no metric named {fn!r}")
            fn = found
        if not callable(fn):
            raise TypeError(f"metrics: {name!r} is not callable")
        out[name] = fn
    return out


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    return x.get() if hasattr(x, "get") else np.asarray(x)


def evaluate(
    model: Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor, Any], Tensor],
    X: Any,
    y: Any,
    metrics: Any = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """{"loss": mean loss, <metric>: value, ...} of the model on (X, y), without a graph."""
    fns = _metric_fns(metrics)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            total, n, preds = 0.0, 0, []
            for xb, yb in DataLoader(X, y, batch_size=batch_size, shuffle=False):
                out = model(Tensor(xb))
                total += float(loss_fn(out, yb).item()) * len(xb)
                n += len(xb)
                if fns:
                    preds.append(_numpy(out))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    logs = {"loss": total / max(n, 1)}
    if fns:
        pred = np.concatenate(preds) if preds else np.empty(0)
        for name, fn in fns.items():
            logs[name] = float(fn(pred, _numpy(y)))
    return logs


def fit(
    model: Any,
    loss_fn: Callable[[Tensor, Any], Tensor],
    optimizer: Any,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int | None = None,
    validation_data: tuple[Any, Any] | None = None,
    progress: bool = True,
    metrics: Any = None,
    early_stopping: EarlyStopping | int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
) -> History:
    """Train `model` on (X, y) for `epochs` passes; returns a History.

    Each step (Bishop, Algorithm 7.1): take a batch, forward, loss, zero_grad, backward,
    optimizer.step(). batch_size: None = full batch, 1 = online, n = mini-batches (see
    DataLoader; shuffle / seed as there). validation_data=(X_val, y_val) is evaluated after
    every epoch (loss and `metrics`: callables f(pred, target) -> float, a dict name -> f, or
    names in deltagrad.metrics). early_stopping: an EarlyStopping, or an int patience on
    val_loss (loss without validation data). progress: a tqdm bar, shown only on a terminal.
    Raises TrainingDivergedError (a FloatingPointError) naming the epoch and step when the
    loss or a gradient becomes NaN or infinite (before the step, so the weights stay finite), or
    when a step makes a weight non-finite.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    fns = _metric_fns(metrics)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
    stopper = (
        EarlyStopping(patience=early_stopping)
        if isinstance(early_stopping, int)
        else early_stopping
    )
    if stopper is not None and validation_data is None and stopper.monitor.startswith("val_"):
        stopper.monitor = stopper.monitor[len("val_") :]
    history = History()
    show = bool(progress) and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=int(epochs) * len(loader), unit="step", dynamic_ncols=True, leave=True)
    best, best_state, wait = math.nan, None, 0
    params = list(getattr(optimizer, "params", []))
    names = _param_names(model, optimizer)
    if hasattr(model, "train"):
        model.train()
    try:
        for epoch in range(1, int(epochs) + 1):
            t0 = time.perf_counter()
            total, n = 0.0, 0
            for step, (xb, yb) in enumerate(loader, start=1):
                out = model(Tensor(xb))
                loss = loss_fn(out, yb)
                value = float(loss.item())
                if not math.isfinite(value):
                    raise TrainingDivergedError(epoch, step, value)
                optimizer.zero_grad()
                loss.backward()
                bad = _non_finite([p.grad for p in params])
                if bad is not None:
                    raise TrainingDivergedError(
                        epoch,
                        step,
                        value,
                        f"the gradient of {names[bad]} holds NaN or inf "
                        "(the weights were not updated with it)",
                    )
                optimizer.step()
                bad = _non_finite([p.data for p in params])
                if bad is not None:  # the step overflowed: finite loss and gradient, huge lr
                    raise TrainingDivergedError(
                        epoch,
                        step,
                        value,
                        f"the optimizer step made {names[bad]} NaN or inf "
                        "(finite loss and gradient, but lr * gradient overflowed)",
                    )
                total += value * len(xb)
                n += len(xb)
                if bar is not None:
                    bar.update(1)
                    if step % 10 == 0 or step == len(loader):
                        bar.set_postfix(epoch=epoch, loss=f"{total / n:.4g}", refresh=False)
            elapsed = time.perf_counter() - t0
            logs = {"loss": total / max(n, 1)}
            if validation_data is not None:
                val = evaluate(
                    model,
                    loss_fn,
                    *validation_data,
                    metrics=fns,
                    batch_size=batch_size if batch_size and batch_size > 256 else None,
                )
                logs.update({f"val_{k}": v for k, v in val.items()})
            logs["samples_per_sec"] = n / elapsed if elapsed > 0 else math.inf
            logs["epoch_time"] = elapsed
            history._record(epoch, logs)
            if bar is not None:
                bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in logs.items() if k not in ("epoch_time",)},
                    refresh=True,
                )
            if stopper is not None:
                if stopper.monitor not in logs:
                    raise KeyError(
                        f"early stopping monitors {stopper.monitor!r}, which is not "
                        f"among the logged values {sorted(logs)}"
                    )
                value = logs[stopper.monitor]
                if history.best_epoch is None or stopper._better(value, best):
                    best, wait, history.best_epoch = value, 0, epoch
                    if stopper.restore_best_weights and hasattr(model, "state_dict"):
                        best_state = model.state_dict()
                else:
                    wait += 1
                    if wait > stopper.patience:
                        history.stopped_epoch = epoch
                        break
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None and history.best_epoch != history.epoch[-1]:
        model.load_state_dict(best_state)  # the best epoch's weights, not the last one's
    return history
