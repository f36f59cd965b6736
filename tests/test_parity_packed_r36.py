"""PackedSequence and nn.utils.rnn (round 36) against torch 2.13: pack_padded_sequence,
pad_packed_sequence, pad_sequence, unpad_sequence, pack_sequence, unpack_sequence (values,
batch_sizes, sorted / unsorted indices, gradients both ways) and RNN / LSTM / GRU on packed
input from torch's weights (packed output, h_n, c_n, the gradients of the input, the initial
states and every parameter)."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad.nn.utils import rnn as drnn

torch = pytest.importorskip("torch")
tnn = torch.nn
trnn = torch.nn.utils.rnn

TOL = {"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)}


def _rand(*shape, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _close(d, t, dtype="float64"):
    rtol, atol = TOL[dtype]
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    np.testing.assert_allclose(np.asarray(d), t, rtol=rtol, atol=atol)


def _same_ints(d, t):
    if t is None:
        assert d is None
        return
    assert d.dtype == np.int64 and d.device == "cpu"
    np.testing.assert_array_equal(np.asarray(d), t.numpy())


def _same_packed(dp, tp, dtype="float64"):
    assert isinstance(dp, drnn.PackedSequence) and isinstance(dp, tuple)
    assert dp.data.shape == tuple(tp.data.shape) and dp.data.dtype == np.dtype(dtype)
    _close(dp.data, tp.data, dtype)
    _same_ints(dp.batch_sizes, tp.batch_sizes)
    _same_ints(dp.sorted_indices, tp.sorted_indices)
    _same_ints(dp.unsorted_indices, tp.unsorted_indices)


def _leaf(a):
    return torch.tensor(a, requires_grad=True), dg.tensor(a, requires_grad=True)


def _backprop(pairs, seed=3):
    """Backprop a random weighting of each (torch, deltagrad) output pair."""
    rng = np.random.default_rng(seed)
    tl = dl = 0
    for t, d in pairs:
        w = rng.standard_normal(tuple(t.shape))
        tl = tl + (t * torch.tensor(w, dtype=t.dtype)).sum()
        dl = dl + (d * dg.tensor(w.astype(d.dtype))).sum()
    tl.backward()
    dl.backward()


def _raises(fn_t, fn_d, match=None):
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(type(et.value), match=match):
        fn_d()


# ---- pack_padded_sequence / pad_packed_sequence -----------------------------------------


LENGTHS = [
    ([7, 5, 5, 2, 1], True),
    ([2, 7, 1, 5, 5], False),
    ([1, 1, 1, 1, 1], True),
    ([3, 1, 7, 3, 3], False),
]


@pytest.mark.parametrize("lengths,enforce_sorted", LENGTHS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["list", "numpy", "tensor"])
def test_pack_pad_roundtrip(lengths, enforce_sorted, batch_first, kind):
    shape = (5, 7, 3) if batch_first else (7, 5, 3)
    x = _rand(*shape)
    tx, dx = _leaf(x)
    dlen = {"list": lengths, "numpy": np.array(lengths), "tensor": dg.tensor(lengths)}[kind]
    tp = trnn.pack_padded_sequence(tx, lengths, batch_first, enforce_sorted)
    dp = drnn.pack_padded_sequence(dx, dlen, batch_first, enforce_sorted)
    _same_packed(dp, tp)
    for total, pad in ((None, 0.0), (9, -2.5)):
        to, tl = trnn.pad_packed_sequence(tp, batch_first, pad, total)
        do, dl = drnn.pad_packed_sequence(dp, batch_first, pad, total)
        assert do.shape == tuple(to.shape)
        _close(do, to)
        _same_ints(dl, tl)
    _backprop([(to, do), (tp.data, dp.data)])
    _close(dx.grad, tx.grad)


def test_pad_packed_gradient_to_packed_data():
    """Gradients flow from the padded form back into a packed data leaf."""
    tp = trnn.pack_sequence([torch.zeros(4, 2), torch.zeros(3, 2), torch.zeros(1, 2)])
    data = _rand(8, 2)
    td, dd = _leaf(data)
    tps = trnn.PackedSequence(td, tp.batch_sizes)
    dps = drnn.PackedSequence(dd, dg.tensor(tp.batch_sizes.numpy()))
    for bf in (False, True):
        to, _ = trnn.pad_packed_sequence(tps, bf, 1.5, 6)
        do, _ = drnn.pad_packed_sequence(dps, bf, 1.5, 6)
        _close(do, to)
        _backprop([(to, do)])
    _close(dd.grad, td.grad)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 2, 5), (4, 1, 2), (1, 3, 2)])
def test_pack_feature_dims_and_small_sizes(shape):
    x = _rand(*shape)
    lengths = sorted(np.random.default_rng(1).integers(1, shape[0] + 1, shape[1]), reverse=True)
    lengths[0] = shape[0]
    tx, dx = _leaf(x)
    tp = trnn.pack_padded_sequence(tx, lengths)
    dp = drnn.pack_padded_sequence(dx, lengths)
    _same_packed(dp, tp)
    to, _ = trnn.pad_packed_sequence(tp)
    do, _ = drnn.pad_packed_sequence(dp)
    _close(do, to)
    _backprop([(to, do)])
    _close(dx.grad, tx.grad)


@pytest.mark.parametrize("pad", [float("inf"), float("-inf"), float("nan"), 1e300])
def test_padding_value_extremes(pad):
    x = _rand(4, 3, 2) * 1e200
    tp = trnn.pack_padded_sequence(torch.tensor(x), [4, 2, 1])
    dp = drnn.pack_padded_sequence(dg.tensor(x), [4, 2, 1])
    to, _ = trnn.pad_packed_sequence(tp, padding_value=pad, total_length=5)
    do, _ = drnn.pad_packed_sequence(dp, padding_value=pad, total_length=5)
    np.testing.assert_array_equal(do.numpy(), to.numpy())


def test_integer_data_and_float32():
    x = np.arange(24).reshape(4, 3, 2)
    tp = trnn.pack_padded_sequence(torch.tensor(x), [3, 4, 1], enforce_sorted=False)
    dp = drnn.pack_padded_sequence(dg.tensor(x), [3, 4, 1], enforce_sorted=False)
    assert dp.data.dtype == np.int64
    np.testing.assert_array_equal(dp.data.numpy(), tp.data.numpy())
    to, _ = trnn.pad_packed_sequence(tp, padding_value=-1)
    do, _ = drnn.pad_packed_sequence(dp, padding_value=-1)
    np.testing.assert_array_equal(do.numpy(), to.numpy())
    x32 = _rand(4, 3, 2, dtype="float32")
    tx, dx = _leaf(x32)
    tp = trnn.pack_padded_sequence(tx, [4, 2, 2])
    dp = drnn.pack_padded_sequence(dx, [4, 2, 2])
    _same_packed(dp, tp, "float32")
    _backprop([(tp.data, dp.data)])
    _close(dx.grad, tx.grad, "float32")


def test_unsorted_ties_beyond_torch_stable_range():
    """deltagrad's sort is stable; torch's descending sort keeps ties in order only up to 16
    elements, so with more the order of equal lengths (sorted_indices, data rows) may differ.
    The padded result and lengths match torch."""
    lengths = [2, 3, 2, 3, 1, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]
    x = _rand(3, len(lengths), 2)
    tx, dx = _leaf(x)
    tp = trnn.pack_padded_sequence(tx, lengths, enforce_sorted=False)
    dp = drnn.pack_padded_sequence(dx, lengths, enforce_sorted=False)
    _same_ints(dp.batch_sizes, tp.batch_sizes)
    order = np.argsort(-np.array(lengths), kind="stable")
    np.testing.assert_array_equal(dp.sorted_indices.numpy(), order)
    to, tl = trnn.pad_packed_sequence(tp)
    do, dl = drnn.pad_packed_sequence(dp)
    _close(do, to)
    _same_ints(dl, tl)
    _backprop([(to, do)])
    _close(dx.grad, tx.grad)


def test_small_unsorted_ties_match_torch():
    lengths = [2, 3, 2, 3, 1, 3, 2, 2]
    x = _rand(3, len(lengths), 2)
    tp = trnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False)
    dp = drnn.pack_padded_sequence(dg.tensor(x), lengths, enforce_sorted=False)
    _same_packed(dp, tp)


def test_gradcheck_pack_pad():
    x = dg.tensor(_rand(4, 3, 2), requires_grad=True)

    def fn(x):
        p = drnn.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        return drnn.pad_packed_sequence(p, True, 0.5, 5)[0] * 2

    assert dg.gradcheck(fn, (x,))


# ---- pad_sequence / unpad_sequence / pack_sequence / unpack_sequence --------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("lens", [[3, 5, 1, 0], [1], [4, 4], [0, 0]])
def test_pad_sequence(batch_first, side, lens):
    seqs = [_rand(n, 2, 3, seed=i) for i, n in enumerate(lens)]
    leaves = [_leaf(s) for s in seqs]
    to = trnn.pad_sequence([t for t, _ in leaves], batch_first, -1.25, side)
    do = drnn.pad_sequence([d for _, d in leaves], batch_first, -1.25, side)
    assert do.shape == tuple(to.shape) and do.dtype == np.float64
    _close(do, to)
    if sum(lens):
        _backprop([(to, do)])
        for t, d in leaves:
            _close(d.grad, t.grad)


def test_pad_sequence_tensor_input_and_dtypes():
    x = _rand(3, 4, 2)
    to = trnn.pad_sequence(torch.tensor(x), batch_first=True)
    do = drnn.pad_sequence(dg.tensor(x), batch_first=True)
    _close(do, to)
    mixed_t = [torch.tensor(_rand(2, 3, dtype="float32")), torch.tensor(_rand(3, 3))]
    mixed_d = [dg.tensor(t.numpy()) for t in mixed_t]
    to, do = trnn.pad_sequence(mixed_t), drnn.pad_sequence(mixed_d)
    assert do.dtype == np.float32 and to.dtype == torch.float32
    _close(do, to, "float32")
    it = [torch.arange(3), torch.arange(2)]
    to = trnn.pad_sequence(it, padding_value=7, padding_side="left")
    do = drnn.pad_sequence([dg.tensor(t.numpy()) for t in it], padding_value=7, padding_side="left")
    assert do.dtype == np.int64
    np.testing.assert_array_equal(do.numpy(), to.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence(batch_first):
    x = _rand(*((4, 5, 2) if batch_first else (5, 4, 2)))
    lengths = [5, 1, 0, 3]
    tx, dx = _leaf(x)
    touts = trnn.unpad_sequence(tx.clone(), torch.tensor(lengths), batch_first)
    for lens in (lengths, np.array(lengths), dg.tensor(lengths)):
        douts = drnn.unpad_sequence(dx, lens, batch_first)
        assert len(douts) == len(touts)
        for d, t in zip(douts, touts):
            assert d.shape == tuple(t.shape)
            _close(d, t)
    _backprop([p for p in zip(touts, douts) if p[0].numel()])
    _close(dx.grad, tx.grad)
    assert np.array_equal(dx.numpy(), x)  # not transposed in place (torch's is)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_unpack_sequence(enforce_sorted):
    lens = [4, 3, 3, 1] if enforce_sorted else [2, 4, 1, 3]
    leaves = [_leaf(_rand(n, 3, seed=n)) for n in lens]
    tp = trnn.pack_sequence([t for t, _ in leaves], enforce_sorted)
    dp = drnn.pack_sequence([d for _, d in leaves], enforce_sorted)
    _same_packed(dp, tp)
    touts, douts = trnn.unpack_sequence(tp), drnn.unpack_sequence(dp)
    for d, t in zip(douts, touts):
        _close(d, t)
    _backprop(list(zip(touts, douts)) + [(tp.data, dp.data)])
    for t, d in leaves:
        _close(d.grad, t.grad)


def test_single_sequence():
    x = _rand(5, 2)
    tp = trnn.pack_sequence([torch.tensor(x)])
    dp = drnn.pack_sequence([dg.tensor(x)])
    _same_packed(dp, tp)
    tp = trnn.pack_padded_sequence(torch.tensor(x[:, None]), [3])
    dp = drnn.pack_padded_sequence(dg.tensor(x[:, None]), [3])
    _same_packed(dp, tp)
    to, tl = trnn.pad_packed_sequence(tp, total_length=5)
    do, dl = drnn.pad_packed_sequence(dp, total_length=5)
    _close(do, to)
    _same_ints(dl, tl)


# ---- PackedSequence --------------------------------------------------------------------


def test_packed_sequence_object():
    dp = drnn.pack_sequence([dg.tensor(_rand(3, 2)), dg.tensor(_rand(2, 2))], False)
    data, bs, si, ui = dp
    assert drnn.PackedSequence._fields == trnn.PackedSequence._fields
    assert data is dp.data and bs is dp.batch_sizes and si is dp.sorted_indices
    assert ui is dp.unsorted_indices and not dp.is_cuda and not dp.is_pinned()
    assert repr(dp).startswith("PackedSequence(data=")
    assert dp.double() is dp and dp.to(np.float64) is dp
    f = dp.float()
    assert isinstance(f, drnn.PackedSequence) and f.data.dtype == np.float32
    assert f.batch_sizes is dp.batch_sizes and f.sorted_indices.dtype == np.int64
    assert dp.long().data.dtype == np.int64
    assert dp.cpu() is dp
    p2 = drnn.PackedSequence((dp.data, dp.batch_sizes))
    assert p2.sorted_indices is None and p2.unsorted_indices is None
    p3 = drnn.PackedSequence(dp.data, dp.batch_sizes, dg.tensor([2, 0, 1]))
    np.testing.assert_array_equal(p3.unsorted_indices.numpy(), [1, 2, 0])
    np.testing.assert_array_equal(
        drnn.invert_permutation(dg.tensor([2, 0, 1])).numpy(),
        trnn.invert_permutation(torch.tensor([2, 0, 1])).numpy(),
    )
    assert drnn.invert_permutation(None) is None
    _raises(
        lambda: trnn.PackedSequence(torch.zeros(3)),
        lambda: drnn.PackedSequence(dg.zeros(3)),
        "length 2",
    )
    assert dg.nn.utils.rnn is drnn and "rnn" in dnn.utils.__all__


# ---- errors ----------------------------------------------------------------------------


X = _rand(4, 3, 2)


@pytest.mark.parametrize(
    "lengths,kw,match",
    [
        ([2, 3, 1], {}, "sorted in decreasing order"),
        ([3, 2, 0], {}, "greater than 0"),
        ([3, 0, 2], {"enforce_sorted": False}, "greater than 0"),
        ([3, 2], {}, "equal to batch_size"),
        ([3, 2, 1], {"batch_first": True}, "equal to batch_size"),
        ([[3, 2, 1]], {}, "1D"),
        (3, {}, "1D"),
    ],
)
def test_pack_errors(lengths, kw, match):
    _raises(
        lambda: trnn.pack_padded_sequence(torch.tensor(X), lengths, **kw),
        lambda: drnn.pack_padded_sequence(dg.tensor(X), lengths, **kw),
        match,
    )


def test_pack_error_cases_of_input():
    _raises(
        lambda: trnn.pack_padded_sequence(torch.zeros(0, 3, 2), [0, 0, 0]),
        lambda: drnn.pack_padded_sequence(dg.zeros(0, 3, 2), [0, 0, 0]),
        "empty",
    )
    _raises(
        lambda: trnn.pack_padded_sequence(torch.zeros(4), [3]),
        lambda: drnn.pack_padded_sequence(dg.zeros(4), [3]),
    )
    _raises(
        lambda: trnn.pack_padded_sequence([[1.0]], [1]),
        lambda: drnn.pack_padded_sequence([[1.0]], [1]),
    )
    _raises(
        lambda: trnn.pack_sequence([]),
        lambda: drnn.pack_sequence([]),
        "empty list",
    )


def test_pack_errors_deltagrad_only():
    """torch packs a length above T silently (reading past the padded input) and truncates
    fractional lengths; deltagrad refuses both, and bool lengths."""
    with pytest.raises(ValueError, match="does not fit"):
        drnn.pack_padded_sequence(dg.tensor(X), [5, 2, 1])
    with pytest.raises(ValueError, match="whole numbers"):
        drnn.pack_padded_sequence(dg.tensor(X), [3.5, 2, 1])
    with pytest.raises(TypeError, match="bool"):
        drnn.pack_padded_sequence(dg.tensor(X), [True, True, True])
    with pytest.raises(TypeError, match="batch_first"):
        drnn.pack_padded_sequence(dg.tensor(X), [3, 2, 1], batch_first=1)
    p = drnn.pack_padded_sequence(dg.tensor(X), [3.0, 2.0, 1.0])  # whole floats: accepted
    np.testing.assert_array_equal(p.batch_sizes.numpy(), [3, 2, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        drnn.unpad_sequence(dg.tensor(X), [5, 1, 1])
    with pytest.raises(ValueError, match="3 sequences"):
        drnn.unpad_sequence(dg.tensor(X), [4, 1])
    with pytest.raises(TypeError, match="PackedSequence"):
        drnn.pad_packed_sequence(dg.tensor(X))


def test_pad_packed_errors():
    tp = trnn.pack_padded_sequence(torch.tensor(X), [3, 2, 1])
    dp = drnn.pack_padded_sequence(dg.tensor(X), [3, 2, 1])
    for total, match in ((2, "total_length=2"), (-1, "at least"), (3.5, "total_length")):
        _raises(
            lambda total=total: trnn.pad_packed_sequence(tp, total_length=total),
            lambda total=total: drnn.pad_packed_sequence(dp, total_length=total),
            match,
        )
    _raises(
        lambda: trnn.pad_packed_sequence(tp, padding_value="a"),
        lambda: drnn.pad_packed_sequence(dp, padding_value="a"),
        "padding_value",
    )


@pytest.mark.parametrize(
    "make,kw,match",
    [
        (lambda m: [], {}, "empty list"),
        (lambda m: 3, {}, "iterable"),
        (lambda m: [m.zeros(2, 3), m.zeros(3, 4)], {}, None),
        (lambda m: [m.zeros(()), m.zeros(3)], {}, None),
        (lambda m: [m.zeros(2), [1.0, 2.0]], {}, None),
        (lambda m: [m.zeros(2)], {"padding_side": "middle"}, "padding_side"),
        (lambda m: [m.zeros(2)], {"batch_first": 1}, "batch_first"),
        (lambda m: [m.zeros(2)], {"padding_value": "a"}, "padding_value"),
    ],
)
def test_pad_sequence_errors(make, kw, match):
    _raises(
        lambda: trnn.pad_sequence(make(torch), **kw),
        lambda: drnn.pad_sequence(make(dg), **kw),
        match,
    )


# ---- RNN / LSTM / GRU on packed input --------------------------------------------------


def _pair(tm, dtype="float64", **kw):
    tm = tm.double() if dtype == "float64" else tm.float()
    dm = getattr(dnn, type(tm).__name__)(**kw, dtype=np.dtype(dtype))
    dm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, dm


def _check_layer(name, kw, lengths, enforce_sorted, with_hx, dtype="float64", seed=0):
    torch.manual_seed(seed)
    kw = {"input_size": 3, "hidden_size": 4, **kw}
    tm, dm = _pair(getattr(tnn, name)(**kw), dtype, **kw)
    lstm = name == "LSTM"
    batch, steps = len(lengths), max(lengths)
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    h_size = kw.get("proj_size") or kw["hidden_size"]
    tx, dx = _leaf(_rand(steps, batch, 3, dtype=dtype, seed=seed))
    tp = trnn.pack_padded_sequence(tx, lengths, enforce_sorted=enforce_sorted)
    dp = drnn.pack_padded_sequence(dx, lengths, enforce_sorted=enforce_sorted)
    states = []
    if with_hx:
        states.append(_leaf(_rand(layers * dirs, batch, h_size, dtype=dtype, seed=seed + 1)))
        if lstm:
            shape = (layers * dirs, batch, kw["hidden_size"])
            states.append(_leaf(_rand(*shape, dtype=dtype, seed=seed + 2)))
    if not states:
        targs, dargs = (tp,), (dp,)
    elif lstm:
        targs, dargs = (tp, tuple(t for t, _ in states)), (dp, tuple(d for _, d in states))
    else:
        targs, dargs = (tp, states[0][0]), (dp, states[0][1])
    tout, th = tm(*targs)
    dout, dh = dm(*dargs)
    _same_packed(dout, tout, dtype)
    th, dh = (list(th), list(dh)) if lstm else ([th], [dh])
    for t, d in zip(th, dh):
        assert d.shape == tuple(t.shape)
        _close(d, t, dtype)
    _backprop([(tout.data, dout.data), *zip(th, dh)])
    _close(dx.grad, tx.grad, dtype)
    for t, d in states:
        _close(d.grad, t.grad, dtype)
    tparams, dparams = dict(tm.named_parameters()), dict(dm.named_parameters())
    assert list(tparams) == list(dparams)
    for k in tparams:
        _close(dparams[k].grad, tparams[k].grad, dtype)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_layers_on_packed_input(name, num_layers, bidirectional, with_hx):
    kw = {"num_layers": num_layers, "bidirectional": bidirectional}
    _check_layer(name, kw, [5, 2, 4, 1, 2], False, with_hx)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("RNN", {"nonlinearity": "relu", "bidirectional": True}),
        ("LSTM", {"proj_size": 2, "bidirectional": True, "num_layers": 2}),
        ("GRU", {"bias": False}),
    ],
)
@pytest.mark.parametrize("lengths", [[6, 4, 4, 1], [1, 1, 1], [3], [7]])
def test_layers_options_and_lengths(name, kw, lengths):
    _check_layer(name, kw, lengths, True, True)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_layers_float32(name):
    _check_layer(name, {"bidirectional": True}, [4, 1, 3], False, True, "float32")


def test_layers_eval_dropout_and_train_shapes():
    torch.manual_seed(0)
    kw = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "dropout": 0.5}
    tm, dm = _pair(tnn.GRU(**kw), **kw)
    tm.eval()
    dm.eval()
    x = _rand(4, 3, 3)
    tout, th = tm(trnn.pack_padded_sequence(torch.tensor(x), [4, 3, 1]))
    dout, dh = dm(drnn.pack_padded_sequence(dg.tensor(x), [4, 3, 1]))
    _same_packed(dout, tout)
    _close(dh, th)
    dm.train()
    dout, dh = dm(drnn.pack_padded_sequence(dg.tensor(x), [4, 3, 1]))
    assert dout.data.shape == (8, 4) and dh.shape == (2, 3, 4)


def test_packed_output_matches_padded_run():
    """Packed and padded runs agree on the valid steps (and, unidirectional, on h_n for
    full-length sequences)."""
    torch.manual_seed(0)
    kw = {"input_size": 3, "hidden_size": 4, "bidirectional": True}
    _, dm = _pair(tnn.LSTM(**kw), **kw)
    x = _rand(5, 2, 3)
    out, _ = dm(dg.tensor(x))
    pout, _ = dm(drnn.pack_padded_sequence(dg.tensor(x), [5, 5]))
    padded, _ = drnn.pad_packed_sequence(pout)
    _close(padded, out.numpy())


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_layer_errors_on_packed_input(name):
    t = getattr(tnn, name)(2, 3).double()
    d = getattr(dnn, name)(2, 3, dtype=np.float64)
    x = _rand(4, 2, 2)
    tp = trnn.pack_padded_sequence(torch.tensor(x), [3, 1])
    dp = drnn.pack_padded_sequence(dg.tensor(x), [3, 1])
    bad = _rand(1, 3, 3)
    if name == "LSTM":
        tb, db = (torch.tensor(bad), torch.tensor(bad)), (dg.tensor(bad), dg.tensor(bad))
    else:
        tb, db = torch.tensor(bad), dg.tensor(bad)
    _raises(lambda: t(tp, tb), lambda: d(dp, db), "Expected hidden")
    bs = tp.batch_sizes
    _raises(
        lambda: t(trnn.PackedSequence(torch.tensor(_rand(4, 1, 2)), bs)),
        lambda: d(drnn.PackedSequence(dg.tensor(_rand(4, 1, 2)), dp.batch_sizes)),
        "2 dimensions",
    )
    _raises(
        lambda: t(trnn.PackedSequence(torch.tensor(_rand(4, 3)), bs)),
        lambda: d(drnn.PackedSequence(dg.tensor(_rand(4, 3)), dp.batch_sizes)),
        "input_size",
    )
    x32 = _rand(4, 2, dtype="float32")
    if name == "LSTM":  # torch's packed LSTM skips its input check: its matmul's RuntimeError
        with pytest.raises(ValueError, match="dtype"):
            d(drnn.PackedSequence(dg.tensor(x32), dp.batch_sizes))
    else:
        _raises(
            lambda: t(trnn.PackedSequence(torch.tensor(x32), bs)),
            lambda: d(drnn.PackedSequence(dg.tensor(x32), dp.batch_sizes)),
            "dtype",
        )
    with pytest.raises(TypeError):  # a PackedSequence is no cell input (torch: TypeError too)
        dnn.GRUCell(2, 3)(dp)


@pytest.mark.parametrize("flag", [0, 1, 2, 0.0, None, "a", []])
def test_enforce_sorted_is_truthiness_as_torch(flag):
    """torch tests enforce_sorted by Python truth: 0 / None / [] sort, 1 / 'a' enforce."""
    x = np.random.default_rng(5).standard_normal((3, 2, 1))
    tp = trnn.pack_padded_sequence(torch.tensor(x), [3, 2], enforce_sorted=flag)
    dp = drnn.pack_padded_sequence(dg.tensor(x), [3, 2], enforce_sorted=flag)
    assert (tp.sorted_indices is None) == (dp.sorted_indices is None)
    np.testing.assert_array_equal(np.asarray(dp.data.data), tp.data.numpy())
