"""Recurrent layers (round 35) against torch 2.13: RNN (tanh / relu), LSTM (proj_size too), GRU
and RNNCell, LSTMCell, GRUCell, from torch's weights (its state_dict loaded unchanged): outputs,
final states and the gradients of the input, the initial states and every parameter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)}


def _pair(tm, dtype="float64", **kw):
    """torch module tm (converted to dtype) and the deltagrad twin loaded from its state_dict."""
    tm = tm.double() if dtype == "float64" else tm.float()
    cls = getattr(dnn, type(tm).__name__)
    dm = cls(**kw, dtype=np.dtype(dtype))
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    dm.load_state_dict(sd)
    return tm, dm


def _close(d, t, dtype="float64"):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(d), t.detach().numpy(), rtol=rtol, atol=atol)


def _leaves(arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ds = [dg.tensor(a, requires_grad=True) for a in arrays]
    return ts, ds


def _flat(out):
    """The output tensors of a recurrent module, flattened from (out, h) / (out, (h, c))."""
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


def _check(tm, dm, x, states=(), dtype="float64", lstm=False):
    """Run both modules on x (and the initial states), compare every output, then backprop a
    random weighting of all outputs and compare the gradients of x, the states and weights."""
    rng = np.random.default_rng(1)
    (tx, *tst), (dx, *dst) = _leaves([x, *states])
    if lstm and states:
        targs, dargs = (tx, tuple(tst)), (dx, tuple(dst))
    else:
        targs, dargs = (tx, *tst), (dx, *dst)
    tout, dout = _flat(tm(*targs)), _flat(dm(*dargs))
    assert len(tout) == len(dout)
    tl, dl = 0, 0
    for t, d in zip(tout, dout):
        assert tuple(d.shape) == tuple(t.shape)
        assert d.dtype == np.dtype(dtype)
        _close(d, t, dtype)
        wgt = rng.standard_normal(tuple(t.shape)).astype(dtype)
        tl = tl + (t * torch.tensor(wgt)).sum()
        dl = dl + (d * dg.tensor(wgt)).sum()
    tl.backward()
    dl.backward()
    for t, d in zip([tx, *tst], [dx, *dst]):
        _close(d.grad, t.grad, dtype)
    tp, dp = dict(tm.named_parameters()), dict(dm.named_parameters())
    assert list(tp) == list(dp)
    for k in tp:
        _close(dp[k].grad, tp[k].grad, dtype)


def _rand(*shape, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


LAYERS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {}),
    ("GRU", {}),
]


@pytest.mark.parametrize("name,extra", LAYERS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize(
    "cfg",
    [
        {"num_layers": 1},
        {"num_layers": 2, "bidirectional": True},
        {"num_layers": 2, "batch_first": True},
        {"num_layers": 1, "bias": False, "bidirectional": True, "batch_first": True},
    ],
    ids=["1layer", "2layer_bidir", "2layer_batch_first", "nobias_bidir_bf"],
)
@pytest.mark.parametrize("with_h0", [False, True], ids=["no_h0", "h0"])
def test_layers_match_torch(name, extra, cfg, with_h0):
    kw = {"input_size": 3, "hidden_size": 5, **extra, **cfg}
    torch.manual_seed(0)
    tm, dm = _pair(getattr(tnn, name)(**kw), **kw)
    seq, batch = 4, 3
    shape = (batch, seq, 3) if cfg.get("batch_first") else (seq, batch, 3)
    x = _rand(*shape)
    dirs = 2 if cfg.get("bidirectional") else 1
    states = ()
    if with_h0:
        hs = (cfg["num_layers"] * dirs, batch, 5)
        states = (_rand(*hs, seed=2), _rand(*hs, seed=3)) if name == "LSTM" else (_rand(*hs),)
    _check(tm, dm, x, states, lstm=name == "LSTM")


@pytest.mark.parametrize("name,extra", LAYERS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize(
    "shape", [(1, 2, 3), (4, 1, 3), (1, 1, 3), (4, 3), (1, 3)], ids=lambda s: str(s)
)
def test_layers_edge_shapes(name, extra, shape):
    """Sequence length 1, batch 1, and unbatched (2-D) input, with and without h0."""
    kw = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, **extra}
    torch.manual_seed(1)
    tm, dm = _pair(getattr(tnn, name)(**kw), **kw)
    x = _rand(*shape)
    hs = (4, shape[1], 4) if len(shape) == 3 else (4, 4)
    lstm = name == "LSTM"
    _check(tm, dm, x, lstm=lstm)
    states = (_rand(*hs, seed=2), _rand(*hs, seed=3)) if lstm else (_rand(*hs, seed=2),)
    _check(tm, dm, x, states, lstm=lstm)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_proj_size(bidir, batch_first):
    kw = {
        "input_size": 3,
        "hidden_size": 5,
        "num_layers": 2,
        "proj_size": 2,
        "bidirectional": bidir,
        "batch_first": batch_first,
    }
    torch.manual_seed(2)
    tm, dm = _pair(tnn.LSTM(**kw), **kw)
    dirs = 2 if bidir else 1
    x = _rand(*((2, 4, 3) if batch_first else (4, 2, 3)))
    _check(tm, dm, x, lstm=True)
    states = (_rand(2 * dirs, 2, 2, seed=2), _rand(2 * dirs, 2, 5, seed=3))
    _check(tm, dm, x, states, lstm=True)
    _check(tm, dm, _rand(4, 3), (_rand(2 * dirs, 2), _rand(2 * dirs, 5)), lstm=True)


@pytest.mark.parametrize("name,extra", LAYERS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_layers_float32(name, extra):
    kw = {"input_size": 3, "hidden_size": 5, "num_layers": 2, "bidirectional": True, **extra}
    torch.manual_seed(3)
    tm, dm = _pair(getattr(tnn, name)(**kw), "float32", **kw)
    _check(tm, dm, _rand(6, 2, 3, dtype="float32"), dtype="float32")


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_dropout_eval_is_no_dropout_and_train_drops(name):
    kw = {"input_size": 3, "hidden_size": 4, "num_layers": 3}
    torch.manual_seed(4)
    tm, dm = _pair(getattr(tnn, name)(**kw), **kw)
    dm_drop = getattr(dnn, name)(**kw, dropout=0.5, dtype=np.float64)
    dm_drop.load_state_dict(dm.state_dict())
    x = dg.tensor(_rand(5, 2, 3))
    ref = _flat(dm(x))
    dm_drop.eval()
    for a, b in zip(_flat(dm_drop(x)), ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    dm_drop.train()
    dg.manual_seed(0)
    out = _flat(dm_drop(x))
    assert not np.allclose(out[0].numpy(), ref[0].numpy())
    # the first layer's final state is computed before any dropout
    np.testing.assert_array_equal(out[1].numpy()[0], ref[1].numpy()[0])
    # and one layer with dropout: torch's warning, and nothing is dropped
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        one = getattr(dnn, name)(3, 4, dropout=0.5)
    assert one.dropout == 0.5


CELLS = [
    ("RNNCell", {}),
    ("RNNCell", {"nonlinearity": "relu"}),
    ("LSTMCell", {}),
    ("GRUCell", {}),
    ("GRUCell", {"bias": False}),
    ("LSTMCell", {"bias": False}),
]


@pytest.mark.parametrize(
    "name,extra", CELLS, ids=["rnn", "rnn_relu", "lstm", "gru", "gru_nobias", "lstm_nobias"]
)
@pytest.mark.parametrize("batch", [3, 1, None], ids=["batch3", "batch1", "unbatched"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cells_match_torch(name, extra, batch, dtype):
    kw = {"input_size": 3, "hidden_size": 5, **extra}
    torch.manual_seed(5)
    tm, dm = _pair(getattr(tnn, name)(**kw), dtype, **kw)
    lead = () if batch is None else (batch,)
    x = _rand(*lead, 3, dtype=dtype)
    lstm = name == "LSTMCell"
    _check(tm, dm, x, dtype=dtype, lstm=lstm)
    hs = (*lead, 5)
    states = (
        (_rand(*hs, dtype=dtype, seed=2), _rand(*hs, dtype=dtype, seed=3))
        if lstm
        else (_rand(*hs, dtype=dtype, seed=2),)
    )
    _check(tm, dm, x, states, dtype=dtype, lstm=lstm)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(name):
    """Central differences through the input and the state(s) of a tiny cell (the parameters'
    gradients are compared with torch's above)."""
    dg.manual_seed(0)
    cell = getattr(dnn, name)(2, 3, dtype=np.float64)
    x = dg.tensor(_rand(2, 2), requires_grad=True)
    h = dg.tensor(_rand(2, 3, seed=1), requires_grad=True)
    c = dg.tensor(_rand(2, 3, seed=2), requires_grad=True)
    if name == "LSTMCell":
        assert dg.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))
    else:
        assert dg.gradcheck(cell, (x, h))


def test_layer_gradcheck():
    dg.manual_seed(0)
    gru = dnn.GRU(2, 2, num_layers=2, bidirectional=True, dtype=np.float64)
    x = dg.tensor(_rand(3, 1, 2), requires_grad=True)
    h = dg.tensor(_rand(4, 1, 2, seed=1), requires_grad=True)
    assert dg.gradcheck(lambda x, h: gru(x, h)[0], (x, h))


@pytest.mark.parametrize(
    "name,kw",
    [
        ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
        (
            "LSTM",
            {"proj_size": 2, "bias": False, "batch_first": True, "dropout": 0.5, "num_layers": 2},
        ),
        ("GRU", {}),
        ("RNNCell", {"nonlinearity": "relu"}),
        ("LSTMCell", {"bias": False}),
        ("GRUCell", {}),
    ],
)
def test_parameters_repr_and_init(name, kw):
    torch.manual_seed(0)
    t = getattr(tnn, name)(3, 4, **kw)
    d = getattr(dnn, name)(3, 4, **kw)
    assert repr(d) == repr(t)
    tp, dp = dict(t.named_parameters()), dict(d.named_parameters())
    assert list(tp) == list(dp)
    for k in tp:
        assert tuple(dp[k].shape) == tuple(tp[k].shape)
        assert dp[k].dtype == np.float32
        v = dp[k].numpy()
        assert np.all(np.abs(v) <= 0.5) and v.std() > 0  # U(-1/sqrt(4), 1/sqrt(4))
    assert list(t.state_dict()) == list(d.state_dict())
    for attr in ("input_size", "hidden_size", "bias"):
        assert getattr(d, attr) == getattr(t, attr)
    if not name.endswith("Cell"):
        for attr in ("num_layers", "batch_first", "dropout", "bidirectional", "proj_size", "mode"):
            assert getattr(d, attr) == getattr(t, attr)
        assert [[tuple(p.shape) for p in w] for w in d.all_weights] == [
            [tuple(p.shape) for p in w] for w in t.all_weights
        ]


def _raises(fn_t, fn_d, match=None):
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(type(et.value), match=match):
        fn_d()


@pytest.mark.parametrize(
    "args",
    [
        (3, 0),
        (0, 4),
        (3, 4.0),
        (3, 4, 0),
        {"dropout": 1.5},
        {"dropout": True},
        {"bias": 1},
        {"batch_first": "yes"},
    ],
    ids=str,
)
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_constructor_errors(name, args):
    a, k = (args, {}) if isinstance(args, tuple) else ((3, 4), args)
    _raises(lambda: getattr(tnn, name)(*a, **k), lambda: getattr(dnn, name)(*a, **k))


def test_constructor_errors_specific():
    _raises(
        lambda: tnn.RNN(3, 4, nonlinearity="foo"),
        lambda: dnn.RNN(3, 4, nonlinearity="foo"),
        "Unknown nonlinearity 'foo'",
    )
    _raises(
        lambda: tnn.LSTM(3, 4, proj_size=4),
        lambda: dnn.LSTM(3, 4, proj_size=4),
        "proj_size has to be smaller",
    )
    _raises(
        lambda: tnn.LSTM(3, 4, proj_size=-1),
        lambda: dnn.LSTM(3, 4, proj_size=-1),
        "proj_size should be a positive integer",
    )
    with pytest.raises(ValueError, match="only supported for LSTM"):
        tnn.GRU(3, 4, proj_size=1)
    with pytest.raises(TypeError, match="proj_size"):  # not an argument of deltagrad's GRU
        dnn.GRU(3, 4, proj_size=1)
    # torch: RuntimeError from its init; deltagrad: TypeError, as every deltagrad module
    with pytest.raises(TypeError, match="RNN: dtype: expected float32 or float64"):
        dnn.RNN(3, 4, dtype=np.int64)


def _io(name, x_shape, h_shapes, dtype="float64"):
    """(torch args, deltagrad args) of random input and states of the given shapes."""
    xs = [_rand(*x_shape, dtype=dtype)] + [_rand(*s, seed=i + 1) for i, s in enumerate(h_shapes)]
    ts, ds = [torch.tensor(a) for a in xs], [dg.tensor(a) for a in xs]
    if len(xs) == 1:
        return (ts[0],), (ds[0],)
    if name.startswith("LSTM"):
        return (ts[0], tuple(ts[1:])), (ds[0], tuple(ds[1:]))
    return tuple(ts), tuple(ds)


@pytest.mark.parametrize(
    "name,x_shape,h_shapes,match",
    [
        ("RNN", (5, 2, 6), [], "input.size\\(-1\\) must be equal to input_size"),
        ("RNN", (5, 2, 3), [(2, 2, 4)], "Expected hidden size \\(1, 2, 4\\), got \\[2, 2, 4\\]"),
        ("GRU", (5, 2, 3), [(2, 4)], "For batched 3-D input, hx should also be 3-D"),
        ("GRU", (5, 3), [(1, 1, 4)], "For unbatched 2-D input, hx should also be 2-D"),
        ("RNN", (5, 3), [(2, 4)], "Expected hidden size \\(1, 1, 4\\)"),
        ("RNN", (2, 5, 2, 3), [], "Expected input to be 2D or 3D, got 4D"),
        ("RNN", (3,), [], "Expected input to be 2D or 3D, got 1D"),
        ("GRU", (0, 2, 3), [], "sequence length to be larger than 0"),
        ("LSTM", (5, 2, 3), [(1, 2, 4), (1, 3, 4)], "Expected hidden\\[1\\] size"),
        ("LSTM", (5, 2, 3), [(2, 2, 4), (1, 2, 4)], "Expected hidden\\[0\\] size"),
        ("LSTM", (5, 2, 3), [(1, 2, 4), (2, 4)], "hx and cx should also be 3-D"),
        ("LSTM", (5, 2, 3), [(1, 2, 4), (1, 2, 4)], None),  # no error
        ("RNNCell", (2, 5), [], "input has inconsistent input_size: got 5 expected 3"),
        ("RNNCell", (2, 3), [(3, 4)], "Input batch size 2 doesn't match hidden0 batch size 3"),
        ("GRUCell", (2, 3), [(2, 5)], "hidden0 has inconsistent hidden_size: got 5, expected 4"),
        ("GRUCell", (2, 2, 3), [], "Expected input to be 1D or 2D, got 3D"),
        ("RNNCell", (2, 3), [(1, 2, 4)], "Expected hidden to be 1D or 2D, got 3D"),
        ("RNNCell", (3,), [(1, 4)], "hidden0 has inconsistent hidden_size: got 1, expected 4"),
        ("LSTMCell", (2, 3), [(2, 4), (3, 4)], "doesn't match hidden1 batch size 3"),
        ("LSTMCell", (2, 3), [(2, 2, 4), (2, 4)], "Expected hx\\[0\\] to be 1D or 2D"),
        ("LSTMCell", (2, 3), [(2, 4), (2, 2, 4)], "Expected hx\\[1\\] to be 1D or 2D"),
    ],
)
def test_forward_errors(name, x_shape, h_shapes, match):
    torch.manual_seed(0)
    t = getattr(tnn, name)(3, 4).double()
    d = getattr(dnn, name)(3, 4, dtype=np.float64)
    targs, dargs = _io(name, x_shape, h_shapes)
    if match is None:
        t(*targs)
        d(*dargs)
        return
    _raises(lambda: t(*targs), lambda: d(*dargs), match)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_dtype_mismatch(name):
    t, d = getattr(tnn, name)(3, 4), getattr(dnn, name)(3, 4)
    x_shape = (2, 3) if name.endswith("Cell") else (5, 2, 3)
    targs, dargs = _io(name, x_shape, [])
    _raises(lambda: t(*targs), lambda: d(*dargs), "dtype")


def test_packed_sequence_accepted():
    """A PackedSequence runs (round 36; tests/test_parity_packed_r36.py checks it against
    torch); anything else that is not a Tensor is a TypeError."""
    packed = dnn.utils.rnn.pack_sequence([dg.tensor(_rand(3, 3)), dg.tensor(_rand(2, 3))])
    out, (h, c) = dnn.LSTM(3, 4, dtype=np.float64)(packed)
    assert isinstance(out, dnn.utils.rnn.PackedSequence)
    assert out.data.shape == (5, 4) and h.shape == (1, 2, 4) and c.shape == (1, 2, 4)

    class Packed:  # not a PackedSequence, only looks like one
        batch_sizes = None

    with pytest.raises(TypeError, match="LSTM"):
        dnn.LSTM(3, 4)(Packed())


def test_zero_batch():
    torch.manual_seed(0)
    kw = {"input_size": 3, "hidden_size": 4, "num_layers": 2}
    tm, dm = _pair(tnn.GRU(**kw), **kw)
    out, h = dm(dg.tensor(_rand(5, 0, 3)))
    tout, th = tm(torch.tensor(_rand(5, 0, 3)))
    assert out.shape == tuple(tout.shape) and h.shape == tuple(th.shape)


def test_no_warnings_in_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = dnn.LSTM(3, 4, num_layers=2, dropout=0.2)
        m(dg.tensor(_rand(3, 2, 3, dtype="float32")))
