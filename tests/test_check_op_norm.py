"""check_op rows on cpu for the normalization ops (issue 17): F.batch_norm in training and in
eval mode and F.layer_norm against their NumPy float64 references, forward and gradients, in
float64 and float32, on drawn odd sizes. Small shapes: check_op's numerical gradient costs one
reference forward per input element."""

import numpy as np

import deltagrad as dg
import deltagrad.functional as F
from deltagrad import reference
from deltagrad.testing import check_op


def test_check_op_batch_norm_training():
    check_op(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        lambda x, w, b: reference.batch_norm_forward(x, w, b, training=True)[0],
        [("n", "c", 3, 2), ("c",), ("c",)],
        devices=["cpu"],
        trials=2,
        name="batch_norm_training",
    )


def test_check_op_batch_norm_eval():
    rng = np.random.default_rng(0)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    check_op(
        lambda x, w, b: F.batch_norm(
            x, dg.tensor(mean.astype(x.dtype)), dg.tensor(var.astype(x.dtype)), w, b
        ),
        lambda x, w, b: reference.batch_norm_forward(
            x, w, b, mean.copy(), var.copy(), training=False
        )[0],
        [("n", 3, 5), (3,), (3,)],
        devices=["cpu"],
        trials=2,
        name="batch_norm_eval",
    )


def test_check_op_layer_norm():
    check_op(
        lambda x, w, b: F.layer_norm(x, (x.shape[-2], x.shape[-1]), w, b),
        lambda x, w, b: reference.layer_norm_forward(x, (x.shape[-2], x.shape[-1]), w, b)[0],
        [("n", "h", "d"), ("h", "d"), ("h", "d")],
        devices=["cpu"],
        trials=2,
        name="layer_norm",
    )
