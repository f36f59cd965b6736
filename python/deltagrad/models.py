"""Estimators with the scikit-learn interface: PolynomialRegression (Bishop ch. 1).

They follow scikit-learn's conventions without depending on it: ``__init__`` stores its
arguments verbatim (so ``sklearn.base.clone`` works), arguments are checked in ``fit``,
``get_params`` / ``set_params`` read and write them, fitted attributes end with ``_``, and
``score`` is R^2 for regressors. So they work with ``sklearn.model_selection.cross_val_score``
as well as with ``deltagrad.model_selection``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import metrics

__all__ = [
    "BaseEstimator",
    "PolynomialRegression",
    "polynomial_features",
    "MLPClassifier",
    "MLPRegressor",
]


class BaseEstimator:
    """get_params / set_params / repr from the parameters of ``__init__``."""

    _estimator_type = "regressor"

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set constructor parameters by name; returns self. Unknown names raise ValueError."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__}.set_params: unknown parameter {name!r} "
                    f"(valid: {', '.join(valid)})"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k not in defaults
            or defaults[k] is inspect.Parameter.empty
            or not _same(defaults[k], v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self) -> Any:  # read by scikit-learn >= 1.6 only; imported lazily
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = self._estimator_type
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=True),
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            input_tags=InputTags(),
        )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - arrays and other odd values just count as different
        return False


def _as_x(x: ArrayLike, fn: str) -> np.ndarray:
    """x as a float64 vector; accepts (N,) or scikit-learn's (N, 1)."""
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: x must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{fn}: x must have shape (N,) or (N, 1), got {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: x contains NaN or infinity")
    return arr


def polynomial_features(x: ArrayLike, degree: int) -> np.ndarray:
    """The design matrix Phi with Phi[n, j] = x_n ** j, j = 0..degree (float64, (N, M+1))."""
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"polynomial_features: degree must be an int >= 0, got {degree!r}")
    return np.vander(_as_x(x, "polynomial_features"), int(degree) + 1, increasing=True)


class PolynomialRegression(BaseEstimator):
    """Least-squares polynomial y(x, w) = w_0 + w_1 x + ... + w_M x^M, optionally regularized.

    Minimizes Bishop's regularized sum-of-squares error (eq. 1.4)

        E~(w) = 1/2 sum_n (y(x_n, w) - t_n)^2 + lambda/2 ||w||^2

    with ``degree`` = M and ``l2`` = lambda. ``penalize_bias=False`` leaves w_0 out of the
    penalty (Bishop: "w_0 often omitted from the regularizer"). This equals scikit-learn's
    ``Ridge(alpha=lambda, fit_intercept=True)`` on the features x..x^M when False, and
    ``Ridge(alpha=lambda, fit_intercept=False)`` on the full design matrix when True.

    Solvers:

    - ``"lstsq"`` (default): a float64 least-squares solve of the augmented system
      [Phi; sqrt(lambda) I] w = [t; 0] by SVD (``numpy.linalg.lstsq``) after scaling every
      column to unit norm. It never forms Phi^T Phi, whose condition number is the square of
      Phi's (~1e16 for M = 9 on [0, 1]), so it stays accurate for M = 9 on 10 points and for
      ln lambda = -18. An under-determined fit (M + 1 > N, lambda = 0) gets the minimum-norm
      solution of the scaled system.
    - ``"gd"``: full-batch gradient descent with Nesterov momentum on the same objective,
      through deltagrad's autograd (``dg.tensor``, ``F.sum_of_squares``, ``dg.optim.SGD``);
      when that layer is not installed it falls back to the same iteration on hand-written
      NumPy gradients (``gd_backend_`` says which ran). The step size defaults to 1/L, L the
      largest eigenvalue of the Hessian. It reaches the lstsq solution on well-conditioned
      problems (small M); raw monomials of high degree are too ill-conditioned for it.

    ``score`` returns R^2 on (x, t) (scikit-learn's convention for regressors); use
    ``deltagrad.metrics.rms_error(model.predict(x), t)`` for Bishop's E_RMS.

    Fitted attributes: ``coef_`` (w_0..w_M, float64), ``n_iter_`` (gd only), ``gd_backend_``.
    """

    def __init__(
        self,
        degree: int = 3,
        l2: float = 0.0,
        penalize_bias: bool = True,
        solver: str = "lstsq",
        lr: float | None = None,
        max_iter: int = 20000,
        tol: float = 1e-10,
    ) -> None:
        self.degree = degree
        self.l2 = l2
        self.penalize_bias = penalize_bias
        self.solver = solver
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol

    # -- argument checks (in fit, so that __init__ stores values verbatim for clone) --
    def _check_params(self) -> None:
        name = type(self).__name__
        d = self.degree
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{name}: degree must be an int, got {type(d).__name__}")
        if d < 0:
            raise ValueError(f"{name}: degree must be >= 0, got {d}")
        lam = self.l2
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: l2 must be a number, got {type(lam).__name__}")
        if not (lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"{name}: l2 (lambda) must be finite and >= 0, got {lam}")
        if not isinstance(self.penalize_bias, (bool, np.bool_)):
            raise TypeError(
                f"{name}: penalize_bias must be a bool, got {type(self.penalize_bias).__name__}"
            )
        if self.solver not in ("lstsq", "gd"):
            raise ValueError(f"{name}: solver must be 'lstsq' or 'gd', got {self.solver!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"{name}: lr must be a positive number or None, got {self.lr!r}")
        if (
            isinstance(self.max_iter, bool)
            or not isinstance(self.max_iter, (int, np.integer))
            or self.max_iter < 1
        ):
            raise ValueError(f"{name}: max_iter must be an int >= 1, got {self.max_iter!r}")

    def _penalty_mask(self) -> np.ndarray:
        mask = np.ones(int(self.degree) + 1)
        if not self.penalize_bias:
            mask[0] = 0.0
        return mask

    def fit(self, x: ArrayLike, t: ArrayLike) -> PolynomialRegression:
        """Fit w* to the points (x_n, t_n); x of shape (N,) or (N, 1), t of shape (N,)."""
        self._check_params()
        xa = _as_x(x, f"{type(self).__name__}.fit")
        ta = np.asarray(t)
        if ta.dtype == object or ta.dtype.kind not in "biuf":
            raise TypeError(f"{type(self).__name__}.fit: t must hold numbers, got {ta.dtype}")
        if ta.ndim == 2 and ta.shape[1] == 1:
            ta = ta[:, 0]
        if ta.shape != xa.shape:
            raise ValueError(
                f"{type(self).__name__}.fit: t must have shape ({xa.size},) to "
                f"match x, got {ta.shape}"
            )
        if xa.size == 0:
            raise ValueError(f"{type(self).__name__}.fit: x is empty")
        ta = ta.astype(np.float64)
        if not np.all(np.isfinite(ta)):
            raise ValueError(f"{type(self).__name__}.fit: t contains NaN or infinity")
        phi = np.vander(xa, int(self.degree) + 1, increasing=True)
        if self.solver == "lstsq":
            self.coef_ = self._solve_lstsq(phi, ta)
            self.n_iter_ = None
            self.gd_backend_ = None
        else:
            self.coef_ = self._solve_gd(phi, ta)
        return self

    def _solve_lstsq(self, phi: np.ndarray, t: np.ndarray) -> np.ndarray:
        lam = float(self.l2)
        mask = self._penalty_mask()
        a, b = phi, t
        if lam > 0:
            rows = np.diag(math.sqrt(lam) * mask)[mask > 0]  # sqrt(lambda) * I, minus w_0's row
            a = np.vstack([phi, rows])
            b = np.concatenate([t, np.zeros(rows.shape[0])])
        scale = np.linalg.norm(a, axis=0)
        scale[scale == 0] = 1.0
        v, *_ = np.linalg.lstsq(a / scale, b, rcond=None)
        return v / scale

    def _solve_gd(self, phi: np.ndarray, t: np.ndarray) -> np.ndarray:
        lam = float(self.l2)
        mask = self._penalty_mask()
        # Hessian of E~ is Phi^T Phi + lambda diag(mask); 1/L is the classical safe step
        hess = phi.T @ phi + lam * np.diag(mask)
        lr = float(self.lr) if self.lr is not None else 1.0 / float(np.linalg.eigvalsh(hess)[-1])
        momentum = 0.9
        try:
            from . import functional as F
            from . import optim
            from .tensor import tensor
        except ImportError:
            F = None
        if F is None:
            self.gd_backend_ = "numpy"
            return self._gd_numpy(phi, t, lam, mask, lr, momentum)
        self.gd_backend_ = "autograd"
        w = tensor(np.zeros(phi.shape[1]), requires_grad=True)
        phi_t, t_t, mask_t = tensor(phi), tensor(t), tensor(mask * (0.5 * lam))
        opt = optim.SGD([w], lr=lr, momentum=momentum, nesterov=True)
        self.n_iter_ = self.max_iter
        for it in range(int(self.max_iter)):
            opt.zero_grad()
            loss = F.sum_of_squares(phi_t @ w, t_t) + (mask_t * w * w).sum()
            loss.backward()
            g = np.asarray(w.grad.numpy() if hasattr(w.grad, "numpy") else w.grad)
            if float(np.linalg.norm(g)) <= self.tol * max(1.0, float(np.linalg.norm(phi.T @ t))):
                self.n_iter_ = it
                break
            opt.step()
        return np.array(w.numpy(), dtype=np.float64)

    def _gd_numpy(
        self,
        phi: np.ndarray,
        t: np.ndarray,
        lam: float,
        mask: np.ndarray,
        lr: float,
        momentum: float,
    ) -> np.ndarray:
        """The same iteration as torch.optim.SGD(nesterov=True) on hand-written gradients."""
        w = np.zeros(phi.shape[1])
        buf = np.zeros_like(w)
        stop = self.tol * max(1.0, float(np.linalg.norm(phi.T @ t)))
        self.n_iter_ = self.max_iter
        for it in range(int(self.max_iter)):
            g = phi.T @ (phi @ w - t) + lam * mask * w
            if float(np.linalg.norm(g)) <= stop:
                self.n_iter_ = it
                break
            buf = momentum * buf + g
            w = w - lr * (g + momentum * buf)
        return w

    def _check_fitted(self, fn: str) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError(f"{type(self).__name__}.{fn}: call fit() first")

    def predict(self, x: ArrayLike) -> np.ndarray:
        """y(x, w*) for each x; shape (N,)."""
        self._check_fitted("predict")
        xa = _as_x(x, f"{type(self).__name__}.predict")
        return np.vander(xa, self.coef_.size, increasing=True) @ self.coef_

    def score(self, x: ArrayLike, t: ArrayLike) -> float:
        """R^2 of the predictions on (x, t) — scikit-learn's regressor convention (higher is
        better; 1 is perfect). For E_RMS use ``metrics.rms_error(self.predict(x), t)``."""
        return metrics.r2(self.predict(x), t)


# ---------------------------------------------------------------------------- MLPs


def _as_X(X: ArrayLike, fn: str) -> np.ndarray:
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: X must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{fn}: X must have shape (N, D) with N >= 1, got {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: X contains NaN or infinity")
    return arr


class _MLPEstimator(BaseEstimator):
    """Shared machinery of MLPClassifier / MLPRegressor: checks, standardization, the
    network (dg.nn.MLP), the optimizer and dg.train.fit.

    ``standardize=True`` scales every feature to zero mean and unit variance with the
    training statistics (``x_mean_``, ``x_scale_``; a constant column keeps scale 1).
    ``optimizer`` is "adam" or "sgd" (momentum 0.9), with ``lr`` and ``weight_decay``.
    ``seed`` reseeds deltagrad's generator (weight init) and fixes the shuffling.
    ``device`` ("cpu" or "cuda") is where the network trains and predicts; ``progress``
    shows dg.train.fit's bar (on a terminal only). ``fit(X, y, validation_data=(X_val,
    y_val))`` also records the validation loss of every epoch. ``history_`` is the
    dg.train.History of the last fit (``history_["loss"]``, ``history_["val_loss"]``).
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 32),
        activation: str = "relu",
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 100,
        batch_size: int | None = 32,
        standardize: bool = True,
        seed: int | None = None,
        device: str = "cpu",
        progress: bool = False,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.progress = progress

    def _check_params(self) -> list[int]:
        """Checks the constructor's parameters; returns the hidden layer widths."""
        name = type(self).__name__
        hidden = [self.hidden] if isinstance(self.hidden, (int, np.integer)) else self.hidden
        try:
            sizes = [int(h) for h in hidden]
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: hidden must be a sequence of layer widths, got {self.hidden!r}"
            ) from None
        if any(h < 1 for h in sizes):
            raise ValueError(f"{name}: hidden widths must be >= 1, got {self.hidden!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"{name}: optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        lr, wd = self.lr, self.weight_decay
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"{name}: lr must be a finite positive number, got {lr!r}")
        if not (isinstance(wd, (int, float)) and wd >= 0 and math.isfinite(wd)):
            raise ValueError(f"{name}: weight_decay must be finite and >= 0, got {wd!r}")
        if (
            isinstance(self.epochs, bool)
            or not isinstance(self.epochs, (int, np.integer))
            or self.epochs < 1
        ):
            raise ValueError(f"{name}: epochs must be an int >= 1, got {self.epochs!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"{name}: device must be 'cpu' or 'cuda', got {self.device!r}")
        return sizes

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.x_mean_) / self.x_scale_).astype(np.float32)

    def _on_device(self, a: np.ndarray) -> Any:
        """``a`` as an array of the estimator's device (numpy on the CPU, cupy on CUDA)."""
        if self.device == "cpu":
            return a
        from .tensor import Tensor

        return Tensor(a, device=self.device).data

    def _train(
        self,
        X: ArrayLike,
        targets_of: Any,
        n_out: int,
        loss_fn: Any,
        validation: tuple[ArrayLike, np.ndarray] | None = None,
        checkpoint: Any = None,
        resume: bool = False,
    ) -> None:
        """Standardize X, build the MLP and the optimizer, run dg.train.fit on the encoded
        targets; ``validation`` is (X_val, encoded y_val)."""
        from . import nn, optim
        from ._random import manual_seed
        from .train import fit

        hidden = self._check_params()
        name = type(self).__name__
        Xa = _as_X(X, f"{name}.fit")
        if self.standardize:
            self.x_mean_ = Xa.mean(axis=0)
            std = Xa.std(axis=0)
            self.x_scale_ = np.where(std > 0, std, 1.0)
        else:
            self.x_mean_, self.x_scale_ = np.zeros(Xa.shape[1]), np.ones(Xa.shape[1])
        val = None
        if validation is not None:
            Xv = _as_X(validation[0], f"{name}.fit: validation_data")
            if Xv.shape[1] != Xa.shape[1]:
                raise ValueError(
                    f"{name}.fit: validation_data has {Xv.shape[1]} features, X has {Xa.shape[1]}"
                )
            val = (self._on_device(self._scale(Xv)), self._on_device(validation[1]))
        if self.seed is not None:
            manual_seed(self.seed)
        self.n_features_in_ = Xa.shape[1]
        self.model_ = nn.MLP([Xa.shape[1], *hidden, n_out], activation=self.activation)
        if self.device != "cpu":
            self.model_.to(self.device)
        params = self.model_.parameters()
        opt = (
            optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
            if self.optimizer == "adam"
            else optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        )
        self.history_ = fit(
            self.model_,
            loss_fn,
            opt,
            self._on_device(self._scale(Xa)),
            self._on_device(targets_of),
            epochs=int(self.epochs),
            batch_size=self.batch_size,
            validation_data=val,
            progress=bool(self.progress),
            seed=self.seed,
            checkpoint=checkpoint,
            resume=resume,
        )

    def _forward(self, X: ArrayLike, fn: str) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__}.{fn}: call fit() first")
        from .tensor import Tensor, no_grad

        Xa = _as_X(X, f"{type(self).__name__}.{fn}")
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{type(self).__name__}.{fn}: X has {Xa.shape[1]} features, the "
                f"model was fitted on {self.n_features_in_}"
            )
        self.model_.eval()
        with no_grad():
            out = self.model_(Tensor(self._on_device(self._scale(Xa)))).numpy()
        self.model_.train()
        return np.asarray(out, dtype=np.float64)


def _as_y(y: ArrayLike, n: int, fn: str) -> np.ndarray:
    """y as a vector of length n; accepts (n,) or (n, 1)."""
    ya = np.asarray(y)
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1 or ya.shape[0] != n:
        raise ValueError(f"{fn}: y must have shape ({n},), got {ya.shape}")
    return ya


def _n_rows(X: ArrayLike) -> int:
    return np.asarray(X).shape[0] if np.ndim(X) else 0


class MLPClassifier(_MLPEstimator):
    """A multilayer perceptron classifier with the scikit-learn interface, trained by
    dg.train.fit: two classes -> one logit and BCE with logits; K > 2 classes -> K logits
    and softmax cross-entropy. Features are standardized with the training statistics
    (``standardize=True``). ``seed`` reseeds deltagrad's generator (weight init) and fixes
    the shuffling. ``optimizer="sgd"`` uses momentum 0.9.

    Labels may be any sortable values; ``classes_`` holds them sorted, and for two classes
    the second (the larger) is the positive one that ``decision_function`` scores.
    ``score`` is accuracy.
    """

    _estimator_type = "classifier"

    def _encode(self, y: np.ndarray, fn: str) -> np.ndarray:
        """Labels -> the training targets: (N, 1) float32 0/1 or (N,) int64 class indices."""
        if not np.all(np.isin(y, self.classes_)):
            raise ValueError(f"{fn}: y holds labels not seen in the training set")
        idx = np.searchsorted(self.classes_, y)
        if self.classes_.size == 2:
            return idx.astype(np.float32)[:, None]
        return idx.astype(np.int64)

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        validation_data: tuple[Any, Any] | None = None,
        *,
        checkpoint: Any = None,
        resume: bool = False,
    ) -> MLPClassifier:
        """Train on (X, y); ``validation_data=(X_val, y_val)`` adds a per-epoch val_loss to
        ``history_``. checkpoint / resume: as in dg.train.fit (a checkpoint after every epoch;
        resume=True continues a killed run from it)."""
        from . import nn

        ya = _as_y(y, _n_rows(X), "MLPClassifier.fit")
        self.classes_, idx = np.unique(ya, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError("MLPClassifier.fit: y must contain at least two classes")
        val = None
        if validation_data is not None:
            Xv, yv = validation_data
            yv = _as_y(yv, _n_rows(Xv), "MLPClassifier.fit: validation_data")
            val = (Xv, self._encode(yv, "MLPClassifier.fit: validation_data"))
        if self.classes_.size == 2:
            target, n_out, loss = idx.astype(np.float32)[:, None], 1, nn.BCEWithLogitsLoss()
        else:
            target, n_out, loss = idx.astype(np.int64), self.classes_.size, nn.CrossEntropyLoss()
        self._train(X, target, n_out, loss, val, checkpoint, resume)
        return self

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Logits: (N,) for two classes (of the positive class), else (N, K)."""
        out = self._forward(X, "decision_function")
        return out[:, 0] if self.classes_.size == 2 else out

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, (N, K) (K = 2 for a binary problem)."""
        z = self.decision_function(X)
        if self.classes_.size == 2:
            p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
            return np.stack([1.0 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        z = self.decision_function(X)
        idx = (z > 0).astype(np.int64) if self.classes_.size == 2 else z.argmax(axis=1)
        return self.classes_[idx]

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Accuracy (scikit-learn's classifier convention)."""
        return metrics.accuracy(self.predict(X), y)


class MLPRegressor(_MLPEstimator):
    """A multilayer perceptron regressor with the scikit-learn interface: one linear output,
    mean squared error, trained by dg.train.fit on standardized features and a standardized
    target (predictions are mapped back to the original units; ``y_mean_``, ``y_scale_``).
    The losses in ``history_`` are those of the standardized target. ``score`` is R^2."""

    def _encode(self, y: ArrayLike, fn: str) -> np.ndarray:
        """Targets -> the standardized (N, 1) float32 the network trains on."""
        ya = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(ya)):
            raise ValueError(f"{fn}: y contains NaN or infinity")
        return ((ya - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        validation_data: tuple[Any, Any] | None = None,
        *,
        checkpoint: Any = None,
        resume: bool = False,
    ) -> MLPRegressor:
        """Train on (X, y); ``validation_data=(X_val, y_val)`` adds a per-epoch val_loss to
        ``history_``. checkpoint / resume: as in dg.train.fit (a checkpoint after every epoch;
        resume=True continues a killed run from it)."""
        from . import nn

        ya = _as_y(np.asarray(y, dtype=np.float64), _n_rows(X), "MLPRegressor.fit")
        if not np.all(np.isfinite(ya)):
            raise ValueError("MLPRegressor.fit: y contains NaN or infinity")
        self.y_mean_ = float(ya.mean())
        self.y_scale_ = float(ya.std()) or 1.0
        target = ((ya - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]
        val = None
        if validation_data is not None:
            Xv, yv = validation_data
            yv = _as_y(yv, _n_rows(Xv), "MLPRegressor.fit: validation_data")
            val = (Xv, self._encode(yv, "MLPRegressor.fit: validation_data"))
        self._train(X, target, 1, nn.MSELoss(), val, checkpoint, resume)
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        return self._forward(X, "predict")[:, 0] * self.y_scale_ + self.y_mean_

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """R^2 (scikit-learn's regressor convention)."""
        return metrics.r2(self.predict(X), y)


# The convolutional networks (issue 17) live in deltagrad.nn_models and are reached from here
# too (dg.models.ResNet), imported on first use so that this module does not load deltagrad.nn.
_NETWORKS = ("conv3x3", "conv1x1", "BasicBlock", "ResNet", "resnet_cifar", "SmallCNN")
__all__ += list(_NETWORKS)


def __getattr__(name: str) -> Any:
    if name in _NETWORKS:
        from . import nn_models

        return getattr(nn_models, name)
    raise AttributeError(f"module 'deltagrad.models' has no attribute {name!r}")
