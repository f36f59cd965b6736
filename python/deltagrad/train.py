"""deltagrad.train: fit() — the training loop (Bishop, Algorithm 7.1) with validation, metrics,
a progress bar, early stopping, learning-rate schedulers, a clear error when the loss diverges,
and checkpoints that let a killed run resume bit-identically."""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import _random
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


def _optimizer_params(optimizer: Any) -> list[Any]:
    """Every parameter the optimizer updates: its param_groups' (torch's layout), else
    `optimizer.params`."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return [p for g in groups for p in g["params"]]
    return list(getattr(optimizer, "params", None) or [])


def _param_names(model: Any, params: list[Any]) -> list[str]:
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
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)):
            raise TypeError(f"EarlyStopping: patience must be an int, got {patience!r}")
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


#: losses whose single output per example is a logit (thresholded at 0 by the label metrics):
#: exact names, the nn module's class (lower case) and the functional's, never substrings
#: ("cross_entropy" is in "binary_cross_entropy", "nll_loss" in "poisson_nll_loss")
_LOGIT_LOSSES = frozenset(
    {
        "bcewithlogitsloss",
        "binary_cross_entropy_with_logits",
        "crossentropyloss",
        "cross_entropy",
        "nllloss",
        "nll_loss",
        "multilabelsoftmarginloss",
        "multilabel_soft_margin_loss",
    }
)
#: losses whose single output per example is a probability or a 0/1 regression (threshold 0.5)
_PROBA_LOSSES = frozenset(
    {
        "bceloss",
        "binary_cross_entropy",
        "mseloss",
        "mse_loss",
        "l1loss",
        "l1_loss",
        "huberloss",
        "huber_loss",
        "smoothl1loss",
        "smooth_l1_loss",
        "sumofsquaresloss",
        "sum_of_squares",
        "gaussiannllloss",
        "gaussian_nll_loss",
    }
)
#: deltagrad.metrics fit() can log by name (one number per epoch)
_SCALAR_METRICS = ("accuracy", "roc_auc", "rms_error", "mse", "r2")
#: deltagrad.metrics that give more than one number: refused before training
_NON_SCALAR_METRICS = ("confusion_matrix",)
_NOT_SCALAR = (
    "; a per-epoch metric must give one number: compute the matrix after fit with "
    "deltagrad.metrics.confusion_matrix(outputs_or_labels, y_val)"
)


def _loss_threshold(loss_fn: Any) -> float | None:
    """Where a binary classifier's single output per example splits 0 from 1, from the loss:
    0 for logits losses (BCEWithLogitsLoss...), 0.5 for BCELoss and regression losses; None
    when the loss is unknown (then decided from the outputs, see _label_metric). A function is
    known by its exact __name__, a module by its class or the nearest known base class (a
    subclass of BCEWithLogitsLoss reads as one); PoissonNLLLoss, KLDivLoss... are unknown."""
    name = getattr(loss_fn, "__name__", None)
    names = [name] if isinstance(name, str) else [c.__name__ for c in type(loss_fn).__mro__]
    for n in names:
        n = n.lower()
        if n in _LOGIT_LOSSES:
            return 0.0
        if n in _PROBA_LOSSES:
            return 0.5
    return None


def _label_metric(fn: Callable[..., Any], threshold: float | None) -> Callable[..., Any]:
    """fn(pred, t) for a label metric on raw model outputs: one output per example ((N,) or
    (N, 1) floats) is thresholded (the loss's threshold; for an unknown loss 0.5 when every
    output lies in [0, 1], else 0: they are logits); (N, K) scores go through argmax in fn."""

    def metric(pred: np.ndarray, t: np.ndarray) -> Any:
        single = pred.ndim == 1 or (pred.ndim == 2 and pred.shape[1] == 1)
        if not single or pred.dtype.kind != "f":
            return fn(pred, t)
        thr = threshold
        if thr is None:
            thr = 0.5 if pred.size and np.all((pred >= 0) & (pred <= 1)) else 0.0
        return fn(pred, t, threshold=thr)

    metric.__name__ = getattr(fn, "__name__", "metric")
    return metric


def _metric_fns(
    metrics: Any, loss_fn: Any = None
) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """name -> f(pred, target). Names of deltagrad.metrics are looked up there; its accuracy
    (by name or as the function) reads raw outputs as the loss implies (argmax of (N, K)
    scores; a single logit thresholded at 0, a probability at 0.5)."""
    from . import metrics as metrics_module

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
            found = getattr(metrics_module, fn, None) if fn in _SCALAR_METRICS else None
            if found is None:
                raise ValueError(
                    f"metrics: deltagrad.metrics has no per-epoch metric named {fn!r} "
                    f"(known: {', '.join(_SCALAR_METRICS)})"
                    + (_NOT_SCALAR if fn in _NON_SCALAR_METRICS else "")
                )
            fn = found
        if not callable(fn):
            raise TypeError(f"metrics: {name!r} is not callable")
        if any(fn is getattr(metrics_module, m, None) for m in _NON_SCALAR_METRICS):
            raise ValueError(
                f"metrics: {name!r} is deltagrad.metrics.{fn.__name__}, which gives a matrix, "
                f"not one number per epoch{_NOT_SCALAR}"
            )
        if fn is metrics_module.accuracy:  # by name or as the function: same reading
            fn = _label_metric(fn, _loss_threshold(loss_fn))
        out[name] = fn
    return out


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _rows(x: Any, name: str) -> Any:
    """x as an array with rows = examples (a Tensor's array; numpy / cupy kept as they are)."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "shape") and hasattr(x, "__getitem__"):
        return x
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"fit: {name} is not array-like ({type(x).__name__})") from e


def _check_rows(Xa: Any, ya: Any, where: str) -> None:
    """X and y hold the same number of rows, at least one."""
    if getattr(Xa, "ndim", 0) == 0:
        raise ValueError(f"{where}: X must have at least 1 dimension (rows = examples)")
    n = int(Xa.shape[0])
    if getattr(ya, "ndim", 0) == 0 or int(ya.shape[0]) != n:
        raise ValueError(f"{where}: X has {n} rows but y has shape {tuple(np.shape(ya))}")
    if n == 0:
        raise ValueError(f"{where}: X and y are empty (0 rows)")


def _as_input(xb: Any) -> Tensor:
    return xb if isinstance(xb, Tensor) else Tensor(xb)


def evaluate(
    model: Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor, Any], Tensor],
    X: Any,
    y: Any,
    metrics: Any = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """{"loss": mean loss, <metric>: value, ...} of the model on (X, y), in eval mode and
    without a graph, in order (no shuffling), batch_size rows at a time (None: all at once;
    else a positive int, checked as fit checks it)."""
    _check_batch_size(batch_size, "evaluate")
    fns = metrics if _is_resolved(metrics) else _metric_fns(metrics, loss_fn)
    Xa, ya = _rows(X, "X"), _rows(y, "y")
    _check_rows(Xa, ya, "evaluate")
    n_rows = int(Xa.shape[0])
    bs = n_rows if batch_size is None else int(batch_size)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            total, n, preds = 0.0, 0, []
            for start in range(0, n_rows, bs):
                xb, yb = Xa[start : start + bs], ya[start : start + bs]
                out = model(_as_input(xb))
                total += float(loss_fn(out, yb).item()) * len(xb)
                n += len(xb)
                if fns:
                    preds.append(_numpy(out))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    logs = {"loss": total / n if n else math.nan}
    if fns:
        pred = np.concatenate(preds) if preds else np.empty(0)
        for name, fn in fns.items():
            logs[name] = _scalar(fn(pred, _numpy(ya)), name)
    return logs


def _scalar(value: Any, name: str) -> float:
    """A metric's value as a float, or a TypeError naming the metric (fit logs one number per
    metric and epoch)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())
    try:
        return float(value)
    except (TypeError, ValueError):
        shape = f" of shape {tuple(np.shape(value))}" if hasattr(value, "shape") else ""
        raise TypeError(
            f"metrics: {name!r} returned a {type(value).__name__}{shape}, expected one number "
            "(a per-epoch metric must give a float)"
        ) from None


def _check_batch_size(batch_size: Any, where: str) -> None:
    """None or a positive int (a bool is refused: True would silently mean 1)."""
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"{where}: batch_size must be None or a positive int, got {batch_size!r}")


class _Resolved(dict):
    """_metric_fns' output, so evaluate() does not resolve it again."""


def _is_resolved(metrics: Any) -> bool:
    return isinstance(metrics, _Resolved)


# ---- checkpoints ----------------------------------------------------------------------------

_FORMAT = "deltagrad.train.fit checkpoint"
_VERSION = 1


def _host(a: Any) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _is_array(v: Any) -> bool:
    return isinstance(v, (np.ndarray, Tensor)) or (
        hasattr(v, "__cuda_array_interface__") and hasattr(v, "shape")
    )


def _encode(obj: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """obj as JSON-able data: arrays go to `arrays` under their dotted path and are replaced by
    {"__array__": path}; tuples become lists. So the file holds only a flat dict of arrays and
    one JSON string, whatever the state dicts' nesting (lists of dicts, tuples...)."""
    if _is_array(obj):
        arrays[path] = np.array(_host(obj), copy=True)
        return {"__array__": path}
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"fit: checkpoint: key {k!r} of {path!r} is not a str or int")
            out[str(k)] = _encode(v, f"{path}.{k}", arrays)
        if any(isinstance(k, int) for k in obj):  # torch's optimizer state: int keys
            out = {"__intkeys__": out}
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"fit: checkpoint: {path} is a {type(obj).__name__}, which a checkpoint cannot hold "
        "(state dicts must hold arrays, numbers, strings, lists and dicts)"
    )


def _decode(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__intkeys__"}:
            return {
                (int(k) if k.lstrip("-").isdigit() else k): _decode(v, arrays)
                for k, v in obj["__intkeys__"].items()
            }
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A loaded file's dict with dotted keys, whether the loader nested them or not."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _write_checkpoint(path: str, state: dict[str, Any]) -> None:
    from .serialization import save

    arrays: dict[str, np.ndarray] = {}
    meta = {k: _encode(v, k, arrays) for k, v in state.items()}
    save(
        {**arrays, "checkpoint": json.dumps({"format": _FORMAT, "version": _VERSION, **meta})}, path
    )


def _read_checkpoint(path: str) -> dict[str, Any]:
    from .serialization import load

    try:
        raw = _flat(load(path))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"fit: checkpoint {path!r} cannot be read: {e}") from e
    text = raw.get("checkpoint")
    try:
        meta = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(
            f"fit: checkpoint {path!r} is not a checkpoint written by dg.train.fit "
            "(no 'checkpoint' record); pass another path, or resume=False to overwrite it"
        )
    if meta.get("version") != _VERSION:
        raise ValueError(
            f"fit: checkpoint {path!r} has format version {meta.get('version')}, "
            f"this deltagrad reads version {_VERSION}"
        )
    arrays = {k: v for k, v in raw.items() if k != "checkpoint"}
    try:
        return {k: _decode(v, arrays) for k, v in meta.items()}
    except KeyError as e:
        raise ValueError(f"fit: checkpoint {path!r} lacks the array {e}") from None


def _check_model_state(path: str, model: Any, saved: Mapping[str, Any]) -> None:
    """The checkpoint's model state fits `model` exactly (names, shapes), or a ValueError
    naming the first difference."""
    if not hasattr(model, "state_dict"):
        raise TypeError(f"fit: checkpoint needs a model with state_dict(), got {type(model)}")
    ours = model.state_dict()
    missing = [k for k in ours if k not in saved]
    unexpected = [k for k in saved if k not in ours]
    if missing or unexpected:
        raise ValueError(
            f"fit: checkpoint {path!r} was written for another model: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]} (nothing was changed)"
        )
    for k, v in ours.items():
        if tuple(np.shape(saved[k])) != tuple(np.shape(v)):
            raise ValueError(
                f"fit: checkpoint {path!r} was written for another model: {k} has shape "
                f"{tuple(np.shape(saved[k]))} there, {tuple(np.shape(v))} here "
                "(nothing was changed)"
            )


def _is_plateau(scheduler: Any) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


def _history_state(h: History) -> dict[str, Any]:
    return {
        "history": h.history,
        "epoch": h.epoch,
        "best_epoch": h.best_epoch,
        "stopped_epoch": h.stopped_epoch,
    }


def _history_from(state: Mapping[str, Any]) -> History:
    h = History()
    h.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
    h.epoch = [int(e) for e in state["epoch"]]
    h.best_epoch, h.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
    return h


def _check_monitor(stopper: EarlyStopping, validation: bool, fns: Mapping[str, Any]) -> Any:
    """The EarlyStopping fit uses: the caller's, or a copy monitoring "loss" when it monitors
    "val_loss" without validation data (as the int patience). Another "val_..." without
    validation data is a ValueError, a name fit does not log a KeyError, before training."""
    monitor = stopper.monitor
    if not validation and monitor.startswith("val_"):
        if monitor != "val_loss":
            raise ValueError(
                f"fit: early_stopping: monitor={monitor!r} needs validation_data (the val_ "
                "values are computed on it), and validation_data is None"
            )
        stopper = copy.copy(stopper)  # the caller's object keeps its monitor
        stopper.monitor = "loss"
    logged = ["loss", "samples_per_sec", "epoch_time"]
    if validation:
        logged += ["val_loss", *(f"val_{k}" for k in fns)]
    if stopper.monitor not in logged:
        raise KeyError(
            f"early stopping monitors {stopper.monitor!r}, which is not among the logged "
            f"values {sorted(logged)}"
        )
    return stopper


def _check_checkpoint_path(checkpoint: Any) -> str:
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(
            f"fit: checkpoint must be a path (str or os.PathLike), got {type(checkpoint).__name__}"
        )
    path = os.fspath(checkpoint)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"fit: checkpoint: the directory {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"fit: checkpoint: {path!r} is a directory, expected a file path")
    return path


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
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    scheduler: Any = None,
    scheduler_step: str = "epoch",
) -> History:
    """Train `model` on (X, y) for `epochs` passes; returns a History.

    Each step (Bishop, Algorithm 7.1): take a batch, forward, loss, zero_grad, backward,
    optimizer.step(). batch_size: None = full batch, 1 = online, n = mini-batches; the batches
    come from dg.data.DataLoader(TensorDataset(X, y), shuffle=shuffle, generator=g), g a numpy
    Generator of fit's own: np.random.default_rng(seed), or seeded from deltagrad's generator
    (dg.manual_seed) when seed is None. validation_data=(X_val, y_val) is evaluated after
    every epoch (loss and `metrics`: callables f(pred, target) -> float, a dict name -> f, or
    the names "accuracy", "roc_auc", "rms_error", "mse", "r2" of deltagrad.metrics; accuracy
    reads raw outputs as the loss implies: argmax of (N, K) scores, a single logit
    (BCEWithLogitsLoss) thresholded at 0, a probability (BCELoss) at 0.5). A metric must give
    one number: confusion_matrix is refused (compute it after fit). metrics are computed on
    validation_data only: metrics without validation_data is a ValueError.
    early_stopping: an EarlyStopping, or an int patience on val_loss (loss without validation
    data); another "val_..." monitor without validation_data is a ValueError, a monitor fit
    does not log a KeyError, both before the first epoch. progress: a tqdm bar, shown only on
    a terminal.

    scheduler: a learning-rate scheduler (torch's API, dg.optim.lr_scheduler), stepped after
    every epoch (scheduler_step="epoch") or after every optimizer step ("batch", e.g. for
    OneCycleLR); ReduceLROnPlateau is stepped per epoch with val_loss (loss without
    validation data).

    checkpoint=PATH: after every epoch, PATH is written atomically (dg.save; a kill leaves the
    previous epoch's file) with the model's, optimizer's and scheduler's state, the epoch, the
    history, the early-stopping state and every random state (the loader's generator and
    deltagrad's global one, used by dropout). resume=True with an existing PATH continues from
    the epoch after the saved one: the final weights are bit-identical to an uninterrupted run
    with the same seed and thread count. resume=True without the file starts fresh. A
    checkpoint of another model (names, shapes) or another data size / batch size raises a
    ValueError and changes nothing.

    Raises TrainingDivergedError (a FloatingPointError) naming the epoch and step when the
    loss or a gradient becomes NaN or infinite (before the step, so the weights stay finite), or
    when a step makes a weight non-finite.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    _check_batch_size(batch_size, "fit")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(f"fit: seed must be None or an int >= 0, got {seed!r}")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
    if scheduler is not None:
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"fit: scheduler has no step() method ({type(scheduler).__name__})")
        if scheduler_step == "batch" and _is_plateau(scheduler):
            raise ValueError(
                "fit: scheduler: ReduceLROnPlateau is stepped once per epoch with the "
                "validation loss; use scheduler_step='epoch'"
            )
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs checkpoint=PATH (the file to resume from)")
    path = None if checkpoint is None else _check_checkpoint_path(checkpoint)
    if checkpoint is not None:
        for obj, what in ((model, "model"), (optimizer, "optimizer"), (scheduler, "scheduler")):
            if obj is not None and not callable(getattr(obj, "state_dict", None)):
                raise TypeError(f"fit: checkpoint needs a {what} with state_dict()")
    Xa, ya = _rows(X, "X"), _rows(y, "y")
    _check_rows(Xa, ya, "fit")
    n_rows = int(Xa.shape[0])
    fns = _Resolved(_metric_fns(metrics, loss_fn))
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
        _check_rows(
            _rows(validation_data[0], "X_val"),
            _rows(validation_data[1], "y_val"),
            "fit: validation_data",
        )
    if isinstance(early_stopping, bool) or not (
        early_stopping is None or isinstance(early_stopping, (int, EarlyStopping))
    ):  # True would silently mean patience 1
        raise TypeError(
            "fit: early_stopping: expected an EarlyStopping, an int patience or None, got "
            f"{early_stopping!r}"
        )
    stopper = (
        EarlyStopping(patience=early_stopping)
        if isinstance(early_stopping, int)
        else early_stopping
    )
    if fns and validation_data is None:
        raise ValueError(
            f"fit: metrics ({', '.join(fns)}) are computed on validation_data after every "
            "epoch, and validation_data is None: pass validation_data=(X_val, y_val), or "
            "leave metrics out"
        )
    if stopper is not None:
        stopper = _check_monitor(stopper, validation_data is not None, fns)

    bs = max(n_rows, 1) if batch_size is None else int(batch_size)
    from .data import DataLoader, TensorDataset

    ddp, auto_ddp, world, rank = _data_parallel(model)

    # the loader's own generator; its state is set below (from the checkpoint, `seed`, or a
    # draw from deltagrad's generator), the loader keeps the object
    generator = np.random.default_rng(0)
    loader = DataLoader(
        TensorDataset(Xa, ya), batch_size=bs, shuffle=bool(shuffle), generator=generator
    )
    history = History()
    best, best_state, wait, first_epoch = math.nan, None, 0, 1
    fingerprint = {"n_samples": n_rows, "batch_size": bs, "shuffle": bool(shuffle)}
    loader_state = None
    if path is not None and resume and os.path.exists(path):
        state = _read_checkpoint(path)
        history, best, best_state, wait, loader_state = _restore(
            path, state, fingerprint, model, optimizer, scheduler
        )
        first_epoch = int(state["epoch"]) + 1
    if loader_state is None:
        start = int(_random.get_rng().integers(2**63)) if seed is None else int(seed)
        if world > 1:  # every rank shuffles the same way: rank 0's seed
            start = int(_bcast_int(start))
        loader_state = np.random.default_rng(start).bit_generator.state
    generator.bit_generator.state = loader_state
    params = _optimizer_params(optimizer)
    names = _param_names(model, params)
    done = history.stopped_epoch is not None or first_epoch > int(epochs)
    show = bool(progress) and sys.stderr.isatty() and not done and rank == 0
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(
            total=(int(epochs) - first_epoch + 1) * len(loader),
            unit="step",
            dynamic_ncols=True,
            leave=True,
        )
    if hasattr(model, "train"):
        model.train()
    try:
        for epoch in range(first_epoch, int(epochs) + 1):
            if done:
                break
            t0 = time.perf_counter()
            total, n = 0.0, 0
            for step, (xb, yb) in enumerate(loader, start=1):
                if ddp is not None:  # this rank's share of the global batch
                    value, rows = _ddp_step(ddp, loss_fn, optimizer, xb, yb, world, rank)
                    if not math.isfinite(value):
                        raise TrainingDivergedError(epoch, step, value)
                else:
                    out = model(_as_input(xb))
                    loss = loss_fn(out, yb)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        raise TrainingDivergedError(epoch, step, value)
                    optimizer.zero_grad()
                    loss.backward()
                    rows = int(xb.shape[0])
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
                if scheduler is not None and scheduler_step == "batch":
                    scheduler.step()
                total += value * rows
                n += rows
                if bar is not None:
                    bar.update(1)
                    if step % 10 == 0 or step == len(loader):
                        bar.set_postfix(epoch=epoch, loss=f"{total / n:.4g}", refresh=False)
            elapsed = time.perf_counter() - t0
            logs = {"loss": total / n if n else math.nan}
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
            if scheduler is not None and scheduler_step == "epoch":
                if _is_plateau(scheduler):
                    scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    scheduler.step()
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
            if path is not None and rank == 0:  # rank 0 writes, the others wait below
                _write_checkpoint(
                    path,
                    {
                        "epoch": epoch,
                        **fingerprint,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "optimizer_class": type(optimizer).__name__,
                        "scheduler": None if scheduler is None else scheduler.state_dict(),
                        "scheduler_class": None if scheduler is None else type(scheduler).__name__,
                        "history": _history_state(history),
                        "early_stopping": {"best": best, "wait": wait, "model": best_state},
                        "rng": {
                            "loader": generator.bit_generator.state,
                            "global": _random.get_rng_state(),
                        },
                    },
                )
            if path is not None and world > 1:
                _barrier()
            if history.stopped_epoch is not None:
                break
    finally:
        if bar is not None:
            bar.close()
        if auto_ddp:
            ddp._detach()
    if best_state is not None and history.epoch and history.best_epoch != history.epoch[-1]:
        model.load_state_dict(best_state)  # the best epoch's weights, not the last one's
    return history


def _data_parallel(model: Any) -> tuple[Any, bool, int, int]:
    """(the DistributedDataParallel to train, whether fit wrapped it, world size, rank).
    fit trains data-parallel when dg.distributed runs on more than one rank: a model that is
    not a DistributedDataParallel yet is wrapped in one for the run (rank 0's weights are
    broadcast). Otherwise (None, False, 1, 0)."""
    dist = sys.modules.get("deltagrad.distributed")  # never imported by a one-process fit
    if dist is None or not dist.is_initialized() or dist.get_world_size() == 1:
        return None, False, 1, 0
    from .nn.parallel import DistributedDataParallel

    world, rank = dist.get_world_size(), dist.get_rank()
    if isinstance(model, DistributedDataParallel):
        return model, False, world, rank
    return DistributedDataParallel(model), True, world, rank


def _bcast_int(value: int) -> int:
    from . import distributed as dist

    buf = np.array([value], dtype=np.int64)
    dist.broadcast(buf, 0)
    return int(buf[0])


def _barrier() -> None:
    from . import distributed as dist

    dist.barrier()


def _ddp_step(
    ddp: Any, loss_fn: Any, optimizer: Any, xb: Any, yb: Any, world: int, rank: int
) -> tuple[float, int]:
    """One data-parallel step's forward and backward on this rank's rows of the global batch
    (every rank loads the same batch, rank r takes rows [r*B/N, (r+1)*B/N)). The local mean
    loss is scaled by rows * N / B, so the gradients DDP averages are exactly those of the
    global batch's mean loss when the shares differ (a last, short batch); a rank with no row
    runs one row with weight 0. Returns (the global batch's mean loss, B): every rank gets the
    same value (one all-reduce), so all of them stop together on a non-finite loss."""
    from . import distributed as dist

    total = int(xb.shape[0])
    lo, hi = rank * total // world, (rank + 1) * total // world
    rows = hi - lo
    sl = slice(lo, hi) if rows else slice(0, 1)
    out = ddp(_as_input(_take(xb, sl)))
    loss = loss_fn(out, _take(yb, sl))
    value = float(loss.item())
    scale = rows * world / total
    optimizer.zero_grad()
    (loss if scale == 1.0 else loss * scale).backward()
    buf = np.array([value * rows if rows else 0.0])
    dist.all_reduce(buf)
    return float(buf[0]) / total, total


def _take(b: Any, sl: slice) -> Any:
    """Rows sl of a batch (a Tensor or an array), without a graph."""
    if isinstance(b, Tensor):
        return Tensor(b.data[sl])
    return b[sl]


def _restore(
    path: str,
    state: Mapping[str, Any],
    fingerprint: Mapping[str, Any],
    model: Any,
    optimizer: Any,
    scheduler: Any,
) -> tuple[History, float, Any, int, dict[str, Any]]:
    """Put the checkpoint's state into model, optimizer, scheduler and the generators; checks
    first, and on any failure puts every object back as it was before raising."""
    for key, value in fingerprint.items():
        if state.get(key) != value:
            raise ValueError(
                f"fit: checkpoint {path!r} was written with {key}={state.get(key)!r}, this "
                f"call has {key}={value!r}: resuming would not continue the same run "
                "(nothing was changed)"
            )
    _check_model_state(path, model, state["model"])
    saved_opt = state.get("optimizer_class")  # absent from older checkpoints: unchecked
    if saved_opt is not None and saved_opt != type(optimizer).__name__:
        # Adam and AdamW (or Adam and RAdam) share their state keys: the load would succeed
        # and silently continue another algorithm
        raise ValueError(
            f"fit: checkpoint {path!r} was written with a {saved_opt} optimizer, this call "
            f"has a {type(optimizer).__name__}: its state would not continue the same run "
            "(nothing was changed)"
        )
    if (scheduler is None) != (state.get("scheduler") is None):
        raise ValueError(
            f"fit: checkpoint {path!r} was written "
            f"{'with' if state.get('scheduler') is not None else 'without'} a scheduler, "
            f"this call has {'one' if scheduler is not None else 'none'} (nothing was changed)"
        )
    saved_class = state.get("scheduler_class")  # absent from older checkpoints: unchecked
    if scheduler is not None and saved_class is not None:
        if saved_class != type(scheduler).__name__:
            raise ValueError(
                f"fit: checkpoint {path!r} was written with a {saved_class} scheduler, this "
                f"call has a {type(scheduler).__name__}: its state would not continue the same "
                "schedule (nothing was changed)"
            )
    try:
        history = _history_from(state["history"])
        es = state["early_stopping"]
        best, wait, best_state = float(es["best"]), int(es["wait"]), es["model"]
        loader_state, global_state = state["rng"]["loader"], state["rng"]["global"]
        np.random.default_rng().bit_generator.state = loader_state  # a bad one fails here
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"fit: checkpoint {path!r} is incomplete or damaged: {e!r}") from None
    before = (
        model.state_dict(),
        copy.deepcopy(optimizer.state_dict()),
        None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        _random.get_rng_state(),
    )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        _random.set_rng_state(global_state)
    except Exception as e:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        if scheduler is not None:
            scheduler.load_state_dict(before[2])
        _random.set_rng_state(before[3])
        raise ValueError(
            f"fit: checkpoint {path!r} does not fit this model / optimizer / scheduler: {e} "
            "(nothing was changed)"
        ) from e
    return history, best, best_state, wait, loader_state
