"""The fused softmax cross-entropy on rows of at most two vectors of classes (a classifier's
head, e.g. 10 classes): the kernel keeps such a row in registers and subtracts the label's
`scale` in the register lane that holds it (issue 18, round 6). Checked on every ISA and dtype
at the lane boundaries of every vector width (4, 8, 16 lanes: c = W - 1, W, W + 1, 2W - 1, 2W,
2W + 1), with every class as a label, against the float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import DTYPES, RTOL, assert_close, sample

CLASSES = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CLASSES)
def test_short_rows_every_label_lane(isa, c, dtype, rng):
    rows = 2 * c + 3
    z = sample(rng, (rows, c), dtype, scale=4.0)
    z[0] *= 2500.0  # logits near +-1e4: exp of the row's max shift stays finite
    t = rng.permutation(np.arange(rows) % c)  # every class is some row's label
    loss, d = ops.softmax_cross_entropy(z, t, "none")
    want_loss, want_d = ref.softmax_cross_entropy(z, t, "none")
    assert np.isfinite(d).all() and np.isfinite(loss).all()
    assert_close(d, want_d, dtype, atol=RTOL[dtype] * 2, name="dlogits")
    spread = 1.0 + float(np.abs(z.astype(np.float64)).max()) * (1e-3 if dtype == np.float64 else 1)
    assert_close(loss, want_loss, dtype, atol=RTOL[dtype] * spread, name="loss")
    # the mean reduction: the same rows, scaled by 1 / rows in the gradient
    mloss, md = ops.softmax_cross_entropy(z, t, "mean")
    want_mloss, want_md = ref.softmax_cross_entropy(z, t, "mean")
    assert_close(md, want_md, dtype, atol=RTOL[dtype] * 2 / rows, name="dlogits (mean)")
    assert_close(mloss, want_mloss, dtype, atol=RTOL[dtype] * spread, name="loss (mean)")
