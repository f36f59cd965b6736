"""nn.LSTM's C++ time loop (csrc/cpu/rnn.h, `_cpu.lstm_sequence_forward` / `_backward`): the
kernel against a NumPy float64 loop written from the equations, both directions, hidden sizes
around the vector widths, size-1 dims; nn.LSTM on it against torch (values and every
gradient); and the binding's refusals."""

from __future__ import annotations

import numpy as np
import pytest
from _lstm_helpers import lstm_kernel, lstm_reference

import deltagrad as dg
from deltagrad import _cpu


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("seq,batch,hd", [(1, 1, 1), (5, 3, 7), (4, 2, 16), (3, 5, 33), (9, 1, 8)])
def test_kernel_equals_the_float64_loop(seq, batch, hd, reverse, dtype, tol):
    rng = np.random.default_rng(seq * 100 + batch * 10 + hd)
    pre = rng.standard_normal((seq, batch, 4 * hd)) * 2
    h0, c0 = rng.standard_normal((batch, hd)), rng.standard_normal((batch, hd))
    w = rng.standard_normal((4 * hd, hd)) / np.sqrt(hd)
    dys, dcn = rng.standard_normal((seq, batch, hd)), rng.standard_normal((batch, hd))
    want = lstm_reference(pre, h0, c0, w, reverse, dys, dcn)
    ys, cn, _, dgates, dh0, dc0 = lstm_kernel(pre, h0, c0, w, reverse, dys, dcn, dtype)
    got = (ys, cn, dgates, dh0, dc0)
    for name, g, r in zip(("y", "c_n", "dpre", "dh0", "dc0"), got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol, err_msg=name)


def test_kernel_saturated_gates_stay_finite():
    """Pre-activations of +-200: every sigmoid / tanh at 0 or 1, nothing NaN."""
    rng = np.random.default_rng(3)
    seq, batch, hd = 6, 2, 9
    pre = np.sign(rng.standard_normal((seq, batch, 4 * hd))) * 200
    h0, c0 = rng.standard_normal((batch, hd)), rng.standard_normal((batch, hd))
    w = rng.standard_normal((4 * hd, hd))
    dys, dcn = rng.standard_normal((seq, batch, hd)), rng.standard_normal((batch, hd))
    want = lstm_reference(pre, h0, c0, w, False, dys, dcn)
    for dtype in (np.float32, np.float64):
        ys, cn, _, dgates, dh0, dc0 = lstm_kernel(pre, h0, c0, w, False, dys, dcn, dtype)
        for g, r in zip((ys, cn, dgates, dh0, dc0), want, strict=True):
            assert np.all(np.isfinite(g))
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 2)])
@pytest.mark.parametrize("hd", [1, 5, 16, 21])
def test_lstm_module_matches_torch(hd, bidirectional, layers, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(hd)
    seq, batch, inp = 7, 3, 4
    tm = torch.nn.LSTM(inp, hd, num_layers=layers, bidirectional=bidirectional)
    tm = tm.double() if dtype == "float64" else tm
    dm = dg.nn.LSTM(inp, hd, num_layers=layers, bidirectional=bidirectional, dtype=dtype)
    dm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    dirs = 2 if bidirectional else 1
    x = rng.standard_normal((seq, batch, inp)).astype(dtype)
    h0 = rng.standard_normal((layers * dirs, batch, hd)).astype(dtype)
    c0 = rng.standard_normal((layers * dirs, batch, hd)).astype(dtype)
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    xd, h0d, c0d = (dg.tensor(a, requires_grad=True) for a in (x, h0, c0))
    yt, (hnt, cnt) = tm(xt, (h0t, c0t))
    yd, (hnd, cnd) = dm(xd, (h0d, c0d))
    gy = rng.standard_normal(yt.shape).astype(dtype)
    gh, gc = (rng.standard_normal(hnt.shape).astype(dtype) for _ in range(2))
    (
        (yt * torch.tensor(gy)).sum()
        + (hnt * torch.tensor(gh)).sum()
        + (cnt * torch.tensor(gc)).sum()
    ).backward()
    (
        (yd * dg.tensor(gy)).sum() + (hnd * dg.tensor(gh)).sum() + (cnd * dg.tensor(gc)).sum()
    ).backward()
    tol = 1e-10 if dtype == "float64" else 1e-4
    for d, t in (
        (yd, yt),
        (hnd, hnt),
        (cnd, cnt),
        (xd.grad, xt.grad),
        (h0d.grad, h0t.grad),
        (c0d.grad, c0t.grad),
    ):
        np.testing.assert_allclose(
            np.asarray(d.numpy() if hasattr(d, "numpy") else d),
            t.detach().numpy(),
            rtol=tol,
            atol=tol,
        )
    tp = dict(tm.named_parameters())
    for name, p in dm.named_parameters():
        np.testing.assert_allclose(
            np.asarray(p.grad), tp[name].grad.numpy(), rtol=tol, atol=tol, err_msg=name
        )


def _buffers(seq=3, batch=2, hd=4, dtype=np.float32):
    pre = np.zeros((seq, batch, 4 * hd), dtype)
    s = np.zeros((seq + 1, batch, hd), dtype)
    cs = np.zeros((seq + 1, batch, hd), dtype)
    tcs = np.zeros((seq, batch, hd), dtype)
    wt = np.zeros((hd, 4 * hd), dtype)
    return pre, s, cs, tcs, wt


def test_binding_refuses_bad_buffers():
    pre, s, cs, tcs, wt = _buffers()
    with pytest.raises(ValueError, match="pre"):
        _cpu.lstm_sequence_forward(pre[:, :, :7], s, cs, tcs, wt, False)
    with pytest.raises(ValueError, match="s"):
        _cpu.lstm_sequence_forward(pre, s[:3], cs, tcs, wt, False)
    with pytest.raises((ValueError, TypeError), match="wt"):
        _cpu.lstm_sequence_forward(pre, s, cs, tcs, wt.astype(np.float64), False)
    with pytest.raises(ValueError, match="contiguous"):
        _cpu.lstm_sequence_forward(pre, s, cs, tcs, np.zeros((8, 16), np.float32)[::2], False)
    with pytest.raises(ValueError, match="overlapping"):
        _cpu.lstm_sequence_forward(pre, s, s, tcs, wt, False)
    ro = s.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _cpu.lstm_sequence_forward(pre, ro, cs, tcs, wt, False)
    with pytest.raises(TypeError, match="pre"):
        _cpu.lstm_sequence_forward([0.0], s, cs, tcs, wt, False)
    w = np.zeros((16, 4), np.float32)
    gacc, dc, dgates = np.zeros_like(s), np.zeros((2, 4), np.float32), np.zeros_like(pre)
    with pytest.raises(ValueError, match="dc"):
        _cpu.lstm_sequence_backward(pre, cs, tcs, w, gacc, dc[:1], dgates, False)
    with pytest.raises(ValueError, match="overlapping"):
        _cpu.lstm_sequence_backward(pre, cs, tcs, w, gacc, dc, pre, False)


def test_binding_empty_sizes_are_no_ops():
    for seq, batch, hd in ((0, 2, 3), (3, 0, 3), (3, 2, 0)):
        pre, s, cs, tcs, wt = _buffers(seq, batch, hd)
        _cpu.lstm_sequence_forward(pre, s, cs, tcs, wt, False)
        assert np.all(s == 0)
