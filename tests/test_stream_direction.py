"""The streaming passes (outputs of 16 MiB or more, written with non-temporal stores) go down
instead of up when the output lies a little past an input modulo 4 KiB (kernel_common.h
`stream_downward`: the loads would otherwise wait on the stores just made, 4K aliasing). The
direction must not change a bit of any result: each pass runs with its arrays placed so that it
goes up, goes down, or has inputs on both sides of the output (up, as no direction is free),
and every placement gives the bits of the first. The activation rows also check the values."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import ops
from deltagrad import reference as ref
from deltagrad.testing import assert_close

PAGE = 4096
# (output offset, input offsets) in bytes mod 4 KiB: far apart (up), the output 64 and 32
# bytes past every input (down), the output 64 bytes before them (up), and inputs on both
# sides of it (the two-input passes: up)
PLACEMENTS = [(2048, (0, 1024)), (64, (0, 0)), (32, (0, 0)), (4032, (0, 0)), (64, (0, 128))]


def placed(values: np.ndarray, offset: int) -> np.ndarray:
    """A copy of values whose first element lies `offset` bytes past a page boundary."""
    raw = np.empty(values.nbytes + 2 * PAGE, np.uint8)
    start = (offset - raw.ctypes.data) % PAGE
    a = raw[start : start + values.nbytes].view(values.dtype).reshape(values.shape)
    a[...] = values
    assert a.ctypes.data % PAGE == offset
    return a


def _run_placements(run, inputs, shape, dtype):
    """run(*placed inputs, out) for each placement; returns the outputs (copies)."""
    outs = []
    for out_off, in_offs in PLACEMENTS:
        args = [placed(v, in_offs[min(k, len(in_offs) - 1)]) for k, v in enumerate(inputs)]
        out = placed(np.zeros(shape, dtype), out_off)
        run(*args, out)
        outs.append(out.copy())
    return outs


def _same_bits(outs, what):
    for (out_off, in_offs), o in zip(PLACEMENTS[1:], outs[1:]):
        np.testing.assert_array_equal(
            o.view(np.uint8),
            outs[0].view(np.uint8),
            err_msg=f"{what}: out at {out_off}, in {in_offs}",
        )


@pytest.fixture
def two_threads():
    old = dg.get_num_threads()
    dg.set_num_threads(2)
    try:
        yield
    finally:
        dg.set_num_threads(old)


@pytest.mark.parametrize(("act", "dtype"), [("sigmoid", np.float32), ("silu", np.float64)])
def test_activation_streamed_any_placement(isa, two_threads, act, dtype, rng):
    n = (16 << 20) // np.dtype(dtype).itemsize + 45  # streamed, with a tail
    x = (rng.standard_normal(n) * 3).astype(dtype)
    fwd = _run_placements(lambda x_, o: ops.activation(x_, act, out=o), [x], (n,), dtype)
    assert_close(fwd[0], ref.activation(x, act), dtype, name=f"{act}(x)")
    _same_bits(fwd, f"{act} forward")
    dy = rng.standard_normal(n).astype(dtype)
    saved = x if ops.saves_input(act) else fwd[0]
    bwd = _run_placements(
        lambda dy_, s_, o: ops.activation_backward(dy_, s_, act, out=o), [dy, saved], (n,), dtype
    )
    assert_close(bwd[0], ref.activation_backward(dy, saved, act), dtype, atol=1e-6)
    _same_bits(bwd, f"{act} backward")


# by channel (16 channels, 2 threads), the channel map over planes (4 channels < 4 x 2 threads)
# and over (N, C) rows
@pytest.mark.parametrize("shape", [(2, 16, 384, 384), (4, 4, 512, 512), (65536, 64)])
def test_batch_norm_streamed_any_placement(isa, two_threads, shape, rng):
    dtype = np.float32
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w = rng.uniform(0.5, 2, c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    _, mean, invstd = ops.batch_norm_forward(x, w, b, training=True)
    rm, rv = mean.copy(), rng.uniform(0.5, 2, c).astype(dtype)

    def train(x_, o):
        ops.batch_norm_forward(x_, w, b, training=True, out=o)

    def evaluate(x_, o):
        ops.batch_norm_forward(x_, w, b, rm, rv, training=False, out=o)

    def backward(dy_, x_, o):
        ops.batch_norm_backward(dy_, x_, w, mean, invstd, training=True, out=o)

    _same_bits(_run_placements(train, [x], shape, dtype), "batch norm forward")
    _same_bits(_run_placements(evaluate, [x], shape, dtype), "batch norm eval")
    _same_bits(_run_placements(backward, [dy, x], shape, dtype), "batch norm backward")


def test_layer_norm_streamed_any_placement(isa, two_threads, rng):
    dtype = np.float32
    shape = (1024, 4096)  # rows of 16 KiB: every row at the same offset mod 4 KiB
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.5, 2, 4096).astype(dtype)
    b = rng.standard_normal(4096).astype(dtype)
    _, mean, rstd = ops.layer_norm_forward(x, (4096,), w, b)

    def forward(x_, o):
        ops.layer_norm_forward(x_, (4096,), w, b, out=o)

    def backward(dy_, x_, o):
        ops.layer_norm_backward(dy_, x_, (4096,), w, mean, rstd, out=o)

    _same_bits(_run_placements(forward, [x], shape, dtype), "layer norm forward")
    _same_bits(_run_placements(backward, [dy, x], shape, dtype), "layer norm backward")
