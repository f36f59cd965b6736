"""The fused LSTM / GRU cells (nn/rnn.py, _lstm_cell / _gru_cell): one graph node per step with
the cell's closed-form backward. Checked against the composed Tensor-op cell (which they
replace for float32 / float64) and torch's cells, first and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
from deltagrad.nn import rnn

torch = pytest.importorskip("torch")


def _composed(monkeypatch):
    monkeypatch.setattr(rnn, "_fused", lambda *ts: False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN", "RNN_relu"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (5, 3, 4, 7), (2, 6, 3, 2)])
def test_fused_layers_equal_the_composed_cells(monkeypatch, dtype, cls, shape):
    """The whole-sequence node (_sequence) and the fused cells against the composed Tensor-op
    cells: outputs, h_n (c_n), and the gradients of the input, h0 (c0) and every parameter."""
    seq, batch, n_in, hidden = shape
    rng = np.random.default_rng(seq * 100 + hidden)
    kw = {"nonlinearity": "relu"} if cls == "RNN_relu" else {}
    m = getattr(nn, cls.split("_")[0])(n_in, hidden, num_layers=2, bidirectional=True, **kw)
    m = m.to(dtype)
    x = rng.standard_normal((seq, batch, n_in)).astype(dtype)
    w = rng.standard_normal((seq, batch, 2 * hidden)).astype(dtype)
    h0 = rng.standard_normal((4, batch, hidden)).astype(dtype)
    wh = rng.standard_normal((4, batch, hidden)).astype(dtype)

    def run():
        m.zero_grad()
        a = dg.tensor(x, requires_grad=True)
        states = [dg.tensor(h0, requires_grad=True), dg.tensor(h0[::-1].copy(), requires_grad=True)]
        y, hn = m(a, tuple(states) if cls == "LSTM" else states[0])
        hn = hn if cls != "LSTM" else hn[0] * 2 + hn[1]
        ((y * dg.tensor(w)).sum() + (hn * dg.tensor(wh)).sum()).backward()
        grads = [a.grad.copy()] + [s.grad.copy() for s in states if s.grad is not None]
        return y.detach().numpy(), grads, [np.asarray(p.grad).copy() for p in m.parameters()]

    y1, gx1, gp1 = run()
    with monkeypatch.context() as mp:
        _composed(mp)
        y2, gx2, gp2 = run()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y1, y2, rtol=tol, atol=tol)
    assert len(gx1) == len(gx2) == (3 if cls == "LSTM" else 2)
    for a, b in zip(gx1, gx2):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for a, b in zip(gp1, gp2):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls", ["LSTMCell", "GRUCell"])
def test_fused_cells_second_derivatives_match_torch(cls):
    """create_graph=True through a cell: the fused node's double backward (the cell recomputed
    with Tensor ops) against torch's, for the input, the state and the weights."""
    rng = np.random.default_rng(3)
    n_in, hidden, batch = 3, 4, 2
    cell = getattr(nn, cls)(n_in, hidden).double()
    tcell = getattr(torch.nn, cls)(n_in, hidden).double()
    tcell.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in cell.state_dict().items()})
    x = rng.standard_normal((batch, n_in))
    h = rng.standard_normal((batch, hidden))
    c = rng.standard_normal((batch, hidden))
    v = rng.standard_normal((batch, hidden))

    def second(mod, lib, tensor, params):
        xs = [tensor(a, requires_grad=True) for a in (x, h, c)]
        state = (xs[1], xs[2]) if cls == "LSTMCell" else xs[1]
        out = mod(xs[0], state)
        out = out[0] + 2 * out[1] if cls == "LSTMCell" else out
        first = lib.autograd.grad((out * tensor(v)).sum(), [xs[0], xs[1]], create_graph=True)
        total = sum((f * f).sum() for f in first)
        inputs = [xs[0], xs[1]] + ([xs[2]] if cls == "LSTMCell" else []) + params
        return lib.autograd.grad(total, inputs)

    ours = second(cell, dg, dg.tensor, list(cell.parameters()))
    theirs = second(tcell, torch, torch.tensor, list(tcell.parameters()))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a.data), b.detach().numpy(), rtol=1e-9, atol=1e-10)
