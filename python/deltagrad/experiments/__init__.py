"""Experiments of the toolkit, each a function returning its numbers plus a formatter (and a
plotter) for them; the ``deltagrad`` command runs them.

- curve_fit: Bishop's polynomial curve fitting, regularization and cross-validation
  (Deep Learning §1.2), ``deltagrad curve-fit``.
- train_mlp: an MLP (dg.models.MLPClassifier / MLPRegressor) on a scikit-learn data set
  (breast cancer, diabetes, digits) with test metrics, ``deltagrad train``.
- train_cnn: a small CNN (dg.models.SmallCNN) on the 8x8 digits, the same report,
  ``deltagrad train --dataset digits --model cnn``.
"""

from __future__ import annotations

from .curve_fit import curve_fit_experiment, format_curve_fit, plot_curve_fit, run_curve_fit
from .train_cnn import run_train_cnn
from .train_mlp import TASKS, run_train

__all__ = [
    "curve_fit_experiment",
    "format_curve_fit",
    "plot_curve_fit",
    "run_curve_fit",
    "TASKS",
    "run_train",
    "run_train_cnn",
]
