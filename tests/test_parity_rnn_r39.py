"""The whole-sequence recurrence node (nn/rnn.py, _sequence; round 39's per-step loop over
preallocated buffers) against the per-step cells nn.RNNCell / LSTMCell / GRUCell sharing the
layer's parameters, in float64 to 1e-12: outputs, final states and the gradients of the input,
the initial states and every parameter; with and without h0, bidirectional, two layers,
batch_first, no bias, and the GRU's wide-batch activation branch. Then torch on a long, thin
sequence (float32 and float64)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn

torch = pytest.importorskip("torch")

CELLS = {"RNN": nn.RNNCell, "LSTM": nn.LSTMCell, "GRU": nn.GRUCell}


def _layer(kind, n_in, hidden, **kw):
    if kind.startswith("RNN"):
        return nn.RNN(n_in, hidden, nonlinearity=kind[4:] or "tanh", **kw)
    return getattr(nn, kind)(n_in, hidden, **kw)


def _by_cells(m, x, h0, c0):
    """m's forward stepped by the cells, whose parameters ARE m's (gradients land on m)."""
    kind = m.mode.split("_")[0] if m.mode.startswith("RNN") else m.mode
    lstm = kind == "LSTM"
    extra = {"nonlinearity": m.mode[4:].lower()} if kind == "RNN" else {}
    if m.batch_first:
        x = x.transpose(0, 1)
    dirs = 2 if m.bidirectional else 1
    hs, cs = [], []
    for layer in range(m.num_layers):
        outs = []
        for d in range(dirs):
            cell = CELLS[kind](x.shape[-1], m.hidden_size, bias=m.bias, **extra).double()
            w_ih, w_hh, b_ih, b_hh, _ = m._weights(layer, d)
            cell.weight_ih, cell.weight_hh = w_ih, w_hh
            if m.bias:
                cell.bias_ih, cell.bias_hh = b_ih, b_hh
            k = layer * dirs + d
            h, c = h0[k], (c0[k] if lstm else None)
            out = [None] * x.shape[0]
            for t in range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0]):
                if lstm:
                    h, c = cell(x[t], (h, c))
                else:
                    h = cell(x[t], h)
                out[t] = h
            outs.append(dg.stack(out, 0))
            hs.append(h)
            cs.append(c)
        x = outs[0] if dirs == 1 else dg.cat(outs, 2)
    if m.batch_first:
        x = x.transpose(0, 1)
    return x, dg.stack(hs, 0), (dg.stack(cs, 0) if lstm else None)


def _run(m, x, h0, c0, w, wh, given, cells):
    """(output, h_n, c_n, grads of x / h0 / c0 and of every parameter) of one forward-backward,
    by the layer or by the cells."""
    m.zero_grad()
    a = dg.tensor(x, requires_grad=True)
    s = [dg.tensor(h0, requires_grad=True), dg.tensor(c0, requires_grad=True)]
    lstm = m.mode == "LSTM"
    if cells:
        hs = s if given else [dg.zeros(h0.shape, dtype=h0.dtype)] * 2
        y, hn, cn = _by_cells(m, a, hs[0], hs[1])
    else:
        y, hn = m(a, (tuple(s) if lstm else s[0]) if given else None)
        hn, cn = hn if lstm else (hn, None)
    loss = (y * dg.tensor(w)).sum() + (hn * dg.tensor(wh)).sum()
    if lstm:
        loss = loss + (cn * dg.tensor(wh[::-1].copy())).sum()
    loss.backward()
    grads = [a.grad] + ([t.grad for t in s[: 2 if lstm else 1]] if given else [])
    arrays = [y, hn] + ([cn] if lstm else [])
    return [np.asarray(v.detach().numpy() if isinstance(v, dg.Tensor) else v) for v in arrays], [
        np.asarray(g).copy() for g in grads + [p.grad for p in m.parameters()]
    ]


CONFIGS = [
    # (seq, batch, n_in, hidden), layer keywords, h0 given
    ((7, 3, 4, 5), {}, True),
    ((6, 2, 3, 4), {"num_layers": 2, "bidirectional": True}, True),
    ((5, 4, 3, 2), {"num_layers": 2, "batch_first": True}, False),
    ((4, 1, 2, 3), {"bidirectional": True, "batch_first": True, "bias": False}, True),
    ((1, 1, 1, 1), {"bidirectional": True}, True),
    ((3, 40, 2, 60), {"bidirectional": True}, True),  # batch * hidden > 2048: GRU's wide branch
]


@pytest.mark.parametrize("kind", ["RNN", "RNN_relu", "LSTM", "GRU"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c) if isinstance(c, tuple) else "")
def test_sequence_node_equals_the_cells(kind, config):
    shape, kw, given = config
    seq, batch, n_in, hidden = shape
    rng = np.random.default_rng(seq * 31 + hidden)
    m = _layer(kind, n_in, hidden, **kw).double()
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    xs = (batch, seq) if kw.get("batch_first") else (seq, batch)
    x = rng.standard_normal((*xs, n_in))
    w = rng.standard_normal((*xs, dirs * hidden))
    h0 = rng.standard_normal((layers * dirs, batch, hidden))
    c0 = rng.standard_normal((layers * dirs, batch, hidden))
    wh = rng.standard_normal((layers * dirs, batch, hidden))
    out1, g1 = _run(m, x, h0, c0, w, wh, given, cells=False)
    out2, g2 = _run(m, x, h0, c0, w, wh, given, cells=True)
    assert len(g1) == len(g2)
    for a, b in zip(out1 + g1, out2 + g2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN_relu"])
def test_long_thin_sequence_matches_torch(kind, dtype):
    """T = 300, N = 2: forward and every gradient against torch (errors do not build up)."""
    seq, batch, n_in, hidden = 300, 2, 3, 4
    rng = np.random.default_rng(7)
    extra = {"nonlinearity": "relu"} if kind == "RNN_relu" else {}
    name = kind.split("_")[0]
    tm = getattr(torch.nn, name)(n_in, hidden, bidirectional=True, **extra)
    tm = tm.double() if dtype == "float64" else tm.float()
    dm = getattr(nn, name)(n_in, hidden, bidirectional=True, dtype=np.dtype(dtype), **extra)
    dm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((seq, batch, n_in)).astype(dtype)
    w = rng.standard_normal((seq, batch, 2 * hidden)).astype(dtype)
    tx, dx = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    ty, dy = tm(tx)[0], dm(dx)[0]
    (ty * torch.tensor(w)).sum().backward()
    (dy * dg.tensor(w)).sum().backward()
    tol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(dx.grad), tx.grad.numpy(), rtol=tol, atol=tol)
    for (name_, tp), dp in zip(tm.named_parameters(), dm.parameters()):
        np.testing.assert_allclose(
            np.asarray(dp.grad), tp.grad.numpy(), rtol=tol, atol=tol * 10, err_msg=name_
        )


def test_output_changed_in_place_leaves_backward_intact():
    """The node's output array is its own: scaling it in place (no grad) before backward does
    not change the gradients, which read the saved states."""
    rng = np.random.default_rng(2)
    m = nn.GRU(3, 4).double()
    x = rng.standard_normal((5, 2, 3))
    grads = []
    for change in (False, True):
        m.zero_grad()
        a = dg.tensor(x, requires_grad=True)
        y, _ = m(a)
        loss = y.sum()
        if change:
            with dg.no_grad():
                y.data *= 3
        loss.backward()
        grads.append(np.asarray(a.grad).copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-14, atol=1e-14)
