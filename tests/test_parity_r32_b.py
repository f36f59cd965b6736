"""Differences from torch 2.13 fixed in round 32 (helper B), each against the installed torch:

1. The loss modules print as torch's (no extra_repr: MSELoss(), whatever the arguments).
2. The older loss functions take torch's deprecated size_average / reduce at torch's
   positions (torch's mapping and warning), and mse_loss / l1_loss / huber_loss torch 2.13's
   weight=.
3. F.embedding / nn.Embedding: max_norm (in-place renormalization), norm_type,
   scale_grad_by_freq; sparse=True without a recorded gradient; from_pretrained; repr.
4. Conv2d's padding_mode (functional._pad2d) runs on F.pad's index maps, whose backward
   (_functional_spatial._index_add) sums in rounds of fancy-indexed adds.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as dnn
import deltagrad.nn.loss as dloss
from deltagrad._functional_spatial import _index_add

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

TOL = {np.float64: (1e-10, 1e-12), np.float32: (1e-5, 1e-6)}
DTYPES = [np.float64, np.float32]
DT_IDS = ["f64", "f32"]
REDUCTIONS = ["mean", "sum", "none"]
INF, NAN = math.inf, math.nan


def _tdt(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _close(a, t, dtype=np.float64, atol=None):
    """deltagrad's array a against torch's tensor t (inf and NaN where torch has them)."""
    a = a.data if isinstance(a, dg.Tensor) else a
    rtol, tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(
        np.asarray(a, dtype=np.float64),
        t.detach().double().numpy(),
        rtol=rtol,
        atol=tol if atol is None else atol,
        equal_nan=True,
    )


def _pair(x, dtype=np.float64, requires_grad=True):
    x = np.asarray(x, dtype=dtype)
    return (
        dg.tensor(x.copy(), requires_grad=requires_grad),
        torch.tensor(x.copy(), requires_grad=requires_grad),
    )


def _backward(yd, yt, rng, dtype):
    """Backpropagate one random upstream gradient through both results."""
    g = rng.standard_normal(yt.shape)
    yd.backward(dg.tensor(g.astype(dtype)))
    yt.backward(torch.tensor(g, dtype=_tdt(dtype)))


# ---- 1. loss module reprs --------------------------------------------------------------------

_LOSSES = [n for n in dloss.__all__ if hasattr(tnn, n)]

# (class name, keyword arguments other than the reduction, taken by both libraries)
_LOSS_KWARGS = [
    ("MSELoss", {}),
    ("L1Loss", {}),
    ("BCELoss", {"weight": [0.5, 2.0, 1.0]}),
    ("BCEWithLogitsLoss", {"weight": [0.5, 2.0, 1.0], "pos_weight": [3.0, 1.0, 2.0]}),
    ("CrossEntropyLoss", {"weight": [0.5, 2.0, 1.0], "ignore_index": 1, "label_smoothing": 0.2}),
    ("NLLLoss", {"weight": [0.5, 2.0, 1.0], "ignore_index": 2}),
    ("SmoothL1Loss", {"beta": 0.5}),
    ("HuberLoss", {"delta": 2.5}),
    ("KLDivLoss", {"log_target": True}),
    ("PoissonNLLLoss", {"log_input": False, "full": True, "eps": 1e-3}),
    ("GaussianNLLLoss", {"full": True, "eps": 1e-3}),
    ("CosineEmbeddingLoss", {"margin": 0.3}),
    ("MarginRankingLoss", {"margin": 0.3}),
    ("HingeEmbeddingLoss", {"margin": 2.0}),
    ("SoftMarginLoss", {}),
    ("MultiLabelSoftMarginLoss", {"weight": [0.5, 2.0, 1.0]}),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": [0.5, 2.0, 1.0]}),
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "eps": 1e-3, "swap": True}),
]


def test_every_loss_module_is_covered():
    assert sorted(n for n, _ in _LOSS_KWARGS) == sorted(_LOSSES)
    assert len(_LOSSES) == len(dloss.__all__) - 1  # SumOfSquaresLoss is deltagrad's own


@pytest.mark.parametrize("name, kw", _LOSS_KWARGS, ids=[n for n, _ in _LOSS_KWARGS])
@pytest.mark.parametrize("reduction", [None, *REDUCTIONS])
def test_loss_repr_is_torchs(name, kw, reduction):
    dkw = {k: np.asarray(v) if isinstance(v, list) else v for k, v in kw.items()}
    tkw = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in kw.items()}
    red = {} if reduction is None else {"reduction": reduction}
    for d_kw, t_kw in (({}, {}), (red, red), ({**dkw, **red}, {**tkw, **red})):
        d, t = getattr(dnn, name)(**d_kw), getattr(tnn, name)(**t_kw)
        assert repr(d) == repr(t)
        assert d.reduction == t.reduction
    assert repr(getattr(dnn, name)()) == f"{name}()"


def test_loss_repr_with_legacy_arguments_and_in_a_container():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("MSELoss", "CrossEntropyLoss", "KLDivLoss", "MarginRankingLoss"):
            d = getattr(dnn, name)(size_average=False, reduce=True)
            t = getattr(tnn, name)(size_average=False, reduce=True)
            assert repr(d) == repr(t) and d.reduction == t.reduction == "sum"
    assert repr(dnn.KLDivLoss(reduction="batchmean")) == repr(tnn.KLDivLoss(reduction="batchmean"))
    assert repr(dnn.SumOfSquaresLoss()) == "SumOfSquaresLoss()"
    d = dnn.Sequential(dnn.Linear(2, 3), dnn.HuberLoss(delta=3.0))
    t = tnn.Sequential(tnn.Linear(2, 3), tnn.HuberLoss(delta=3.0))
    assert repr(d) == repr(t)


def test_one_repr_mechanism_for_the_losses():
    """No loss class writes its own extra_repr: _Loss's (Module's empty one) serves all."""
    for name in dloss.__all__:
        cls = getattr(dloss, name)
        for klass in cls.__mro__:
            if klass.__module__ == dloss.__name__:
                assert "extra_repr" not in vars(klass), klass
        assert cls().extra_repr() == ""


# ---- 2. functional losses: torch's signatures, size_average / reduce, weight= ---------------

_F_LOSSES = [
    "mse_loss",
    "l1_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "smooth_l1_loss",
    "huber_loss",
]


@pytest.mark.parametrize("name", [*_F_LOSSES, "embedding"])
def test_functional_signature_is_torchs(name):
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert list(ours) == list(theirs)
    for p in theirs:
        assert ours[p].default == theirs[p].default, p
        assert ours[p].kind == theirs[p].kind, p


def _loss_inputs(name, rng, dtype, shape=(4, 3)):
    """(deltagrad args, torch args, indices of the differentiable ones) for F.<name>."""
    x = rng.standard_normal(shape)
    if name in ("cross_entropy", "nll_loss"):
        t = rng.integers(0, shape[1], shape[0])
        if name == "nll_loss":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        xd, xt = _pair(x, dtype)
        return [xd, dg.tensor(t)], [xt, torch.tensor(t)], (0,)
    if name == "binary_cross_entropy":
        x = rng.uniform(0.05, 0.95, shape)
    t = rng.uniform(0, 1, shape) if "binary" in name else rng.standard_normal(shape) * 2
    (xd, xt), (td, tt) = _pair(x, dtype), _pair(t, dtype)
    return [xd, td], [xt, tt], (0, 1)


_LEGACY = [(None, False), (False, None), (True, True), (False, True), (True, False), (False, False)]


@pytest.mark.parametrize("name", [n for n in _F_LOSSES if n != "huber_loss"])
@pytest.mark.parametrize("size_average, reduce", _LEGACY)
def test_functional_legacy_reduction_as_torch(name, size_average, reduce):
    rng = np.random.default_rng(11)
    dargs, targs, diff = _loss_inputs(name, rng, np.float64)
    kw = {"size_average": size_average, "reduce": reduce}
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        yt = getattr(TF, name)(*targs, **kw)
    with warnings.catch_warnings(record=True) as dw:
        warnings.simplefilter("always")
        yd = getattr(F, name)(*dargs, **kw)
    assert len(dw) == 1 and len(tw) == 1
    assert dw[0].category is UserWarning
    assert str(dw[0].message) == f"{name}: {tw[0].message}"
    assert dw[0].filename == __file__  # points at the caller
    assert yd.shape == tuple(yt.shape)
    _close(yd, yt)
    _backward(yd, yt, rng, np.float64)
    for i in diff:
        _close(dargs[i].grad, targs[i].grad)


@pytest.mark.parametrize("name", [n for n in _F_LOSSES if n != "huber_loss"])
def test_functional_legacy_positions_are_torchs(name):
    """size_average / reduce positionally, where torch takes them."""
    rng = np.random.default_rng(12)
    dargs, targs, _ = _loss_inputs(name, rng, np.float64)
    params = list(inspect.signature(getattr(TF, name)).parameters)
    pos = [None] * (params.index("reduce") - 2 + 1)
    pos[params.index("size_average") - 2] = False
    pos[params.index("reduce") - 2] = True
    if "ignore_index" in params:
        pos[params.index("ignore_index") - 2] = -100
    with pytest.warns(UserWarning, match="reduction='sum' instead"):
        yd = getattr(F, name)(*dargs, *pos)
    with pytest.warns(UserWarning, match="reduction='sum' instead"):
        yt = getattr(TF, name)(*targs, *pos)
    _close(yd, yt)


@pytest.mark.parametrize("name", [n for n in _F_LOSSES if n != "huber_loss"])
def test_functional_legacy_arguments_override_reduction_and_no_warning_without(name):
    rng = np.random.default_rng(13)
    dargs, targs, _ = _loss_inputs(name, rng, np.float64)
    with pytest.warns(UserWarning, match="reduction='none'"):
        yd = getattr(F, name)(*dargs, reduce=False, reduction="sum")
    with pytest.warns(UserWarning):
        yt = getattr(TF, name)(*targs, reduce=False, reduction="sum")
    _close(yd, yt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _close(
            getattr(F, name)(*dargs, reduction="sum"), getattr(TF, name)(*targs, reduction="sum")
        )
        # deltagrad's older positional reduction: a str where size_average (or weight) stands
        _close(getattr(F, name)(*dargs, "none"), getattr(TF, name)(*targs, reduction="none"))


def test_loss_modules_call_the_functions_with_their_options():
    """Each older loss module forwards reduction and its options by keyword."""
    rng = np.random.default_rng(14)
    x, t = rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, 3)
    cases = [
        ("BCELoss", {"weight": w, "reduction": "sum"}),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": w[::-1].copy(), "reduction": "none"}),
        ("SmoothL1Loss", {"beta": 0.3, "reduction": "sum"}),
        ("HuberLoss", {"delta": 0.2, "reduction": "none"}),
        ("L1Loss", {"reduction": "sum"}),
        ("MSELoss", {"reduction": "none"}),
    ]
    for name, kw in cases:
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        yt = getattr(tnn, name)(**tkw)(torch.tensor(x), torch.tensor(t))
        _close(getattr(dnn, name)(**kw)(x, t), yt)


# mse_loss / l1_loss / huber_loss: torch 2.13's weight=


def _weighted_case(name, reduction, dtype, x, t, w, **kw):
    (xd, xt), (td, tt), (wd, wt) = _pair(x, dtype), _pair(t, dtype), _pair(w, dtype)
    yd = getattr(F, name)(xd, td, reduction=reduction, weight=wd, **kw)
    yt = getattr(TF, name)(xt, tt, reduction=reduction, weight=wt, **kw)
    assert yd.shape == tuple(yt.shape) and yd.dtype == dtype
    _close(yd, yt, dtype)
    _backward(yd, yt, np.random.default_rng(0), dtype)
    for a, b in ((xd, xt), (td, tt), (wd, wt)):
        _close(a.grad, b.grad, dtype)


_WEIGHTED = [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.7})]


@pytest.mark.parametrize("name, kw", _WEIGHTED, ids=[n for n, _ in _WEIGHTED])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", [(5, 7), (1,), (3, 1, 2), ()])
def test_weighted_losses_as_torch(name, kw, reduction, dtype, shape):
    rng = np.random.default_rng(15)
    x, t = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    w = rng.uniform(0.2, 3.0, shape) * rng.choice([-1, 1], shape)  # negative weights too
    _weighted_case(name, reduction, dtype, x, t, w, **kw)


@pytest.mark.parametrize("name, kw", _WEIGHTED, ids=[n for n, _ in _WEIGHTED])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_losses_empty_and_extremes_as_torch(name, kw, reduction):
    empty = np.zeros((0, 3))
    _weighted_case(name, reduction, np.float64, empty, empty, empty, **kw)
    x = np.array([1e150, -3.0, 2.0, INF, 0.5, 4.0])
    t = np.array([0.0, -3.0, 1e-300, 1.0, NAN, 1.0])
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.0, 0.0])
    _weighted_case(name, reduction, np.float64, x, t, w, **kw)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_losses_errors_and_gradcheck(name):
    x, t = np.ones((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match=f"{name}: weight: Weights and input must have the same"):
        getattr(F, name)(x, t, weight=np.ones(3))  # torch refuses broadcasting weights
    with pytest.raises(ValueError):
        getattr(TF, name)(torch.ones(2, 3), torch.zeros(2, 3), weight=torch.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        getattr(F, name)(x, t, reduction="avg", weight=np.ones((2, 3)))
    with pytest.raises(TypeError, match="weight"):
        getattr(F, name)(x, t, weight=[[1.0] * 3] * 2)
    rng = np.random.default_rng(16)
    args = [dg.tensor(rng.standard_normal((2, 3)) * 2, requires_grad=True) for _ in range(3)]
    for red in REDUCTIONS:
        assert dg.gradcheck(
            lambda a, b, w, red=red: getattr(F, name)(a, b, reduction=red, weight=w), args
        )


# ---- 3. embedding ---------------------------------------------------------------------------


def test_embedding_module_signatures_are_torchs():
    for ours, theirs in (
        (dnn.Embedding.__init__, tnn.Embedding.__init__),
        (dnn.Embedding.from_pretrained, tnn.Embedding.from_pretrained),
        (dnn.Embedding.forward, tnn.Embedding.forward),
    ):
        op, tp = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(op) == list(tp)
        for p in tp:
            if p != "dtype":  # deltagrad's default dtype is spelled np.float32
                assert op[p].default == tp[p].default, p


_NORM_TYPES = [2.0, 1.0, 3.5, INF, 0.0, -1.0, 2]


@pytest.mark.parametrize("norm_type", _NORM_TYPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_max_norm_as_torch(norm_type, dtype, padding_idx):
    rng = np.random.default_rng(17)
    w = rng.standard_normal((7, 5)) * rng.uniform(0.1, 3, (7, 1))
    idx = np.array([[0, 3, 3, 6], [2, 0, 5, 3]])
    wd, wt = _pair(w, dtype)
    # between two of the looked-up rows' norms: some rows are scaled, some not
    norms = np.sort(torch.tensor(w[[0, 2, 3, 5, 6]]).norm(p=norm_type, dim=1).numpy())
    max_norm = 4.5 if norm_type == 0.0 else float(norms[1] + norms[2]) / 2
    v0 = wd._version[0]
    yd = F.embedding(dg.tensor(idx), wd, padding_idx, max_norm, norm_type)
    yt = TF.embedding(torch.tensor(idx), wt, padding_idx, max_norm, norm_type)
    _close(yd, yt, dtype)
    _close(wd, wt, dtype)  # renormalized in place, as torch
    assert wd._version[0] > v0
    np.testing.assert_array_equal(wd.data[[1, 4]], w[[1, 4]].astype(dtype))  # not looked up
    assert wd.grad is None
    _backward(yd, yt, rng, dtype)  # the gradient goes to the (renormalized) weight
    _close(wd.grad, wt.grad, dtype)


def test_embedding_max_norm_edge_cases_as_torch():
    rng = np.random.default_rng(18)
    w = rng.standard_normal((5, 3)) * 2
    for max_norm in (-1.0, 0.0, 1e9, 2):  # negative: torch flips the rows' sign
        wd, wt = _pair(w, requires_grad=False)
        yd = F.embedding(np.array([0, 1, 1, 4]), wd, max_norm=max_norm)
        _close(yd, TF.embedding(torch.tensor([0, 1, 1, 4]), wt, max_norm=max_norm))
        _close(wd, wt)
    wd, wt = _pair(w, requires_grad=False)
    wd.data[1, 0] = wt.data[1, 0] = INF  # an inf row: scaled by 0 (NaN), as torch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.embedding(np.array([1, 2]), wd, max_norm=1.0)
    TF.embedding(torch.tensor([1, 2]), wt, max_norm=1.0)
    _close(wd, wt)
    wd = dg.tensor(w.copy())  # empty input, empty rows: nothing changes
    F.embedding(np.zeros((2, 0), np.int64), wd, max_norm=0.1)
    np.testing.assert_array_equal(wd.data, w)
    e = dg.tensor(np.zeros((3, 0)))
    assert F.embedding(np.array([1, 2]), e, max_norm=0.1).shape == (2, 0)
    with dg.no_grad():  # a leaf weight that requires grad: renormalized under no_grad, too
        wd = dg.tensor(w.copy(), requires_grad=True)
        F.embedding(np.array([3]), wd, max_norm=0.5)
    assert np.isclose(np.linalg.norm(wd.data[3]), 0.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("padding_idx", [None, 0, -2])
def test_embedding_scale_grad_by_freq_as_torch(dtype, padding_idx):
    rng = np.random.default_rng(19)
    w = rng.standard_normal((6, 4))
    idx = np.array([[0, 4, 4, 1, 4], [0, 5, 1, 2, 4]])
    wd, wt = _pair(w, dtype)
    yd = F.embedding(dg.tensor(idx), wd, padding_idx, scale_grad_by_freq=True)
    yt = TF.embedding(torch.tensor(idx), wt, padding_idx, scale_grad_by_freq=True)
    _close(yd, yt, dtype)
    _backward(yd, yt, rng, dtype)
    _close(wd.grad, wt.grad, dtype)
    # with max_norm as well, and through the module
    d = dnn.Embedding(6, 4, padding_idx, 0.9, 1.5, True, dtype=dtype)
    t = tnn.Embedding(6, 4, padding_idx, 0.9, 1.5, True, dtype=_tdt(dtype))
    with dg.no_grad():
        d.weight.copy_(w.astype(dtype))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    yd, yt = d(idx), t(torch.tensor(idx))
    _close(yd, yt, dtype)
    _backward(yd, yt, rng, dtype)
    _close(d.weight.grad, t.weight.grad, dtype)
    _close(d.weight, t.weight, dtype)


def test_embedding_scale_grad_by_freq_divides_by_the_count_and_empty():
    rng = np.random.default_rng(20)
    w = dg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    idx = np.array([3, 1, 3, 3, 0])
    g = rng.standard_normal((5, 3))
    F.embedding(idx, w, scale_grad_by_freq=True).backward(dg.tensor(g))
    want = np.stack([g[4], g[1], np.zeros(3), g[[0, 2, 3]].sum(0) / 3])
    np.testing.assert_allclose(w.grad, want, rtol=1e-15, atol=1e-16)
    wd, wt = _pair(rng.standard_normal((4, 3)))
    yd = F.embedding(np.zeros(0, np.int64), wd, scale_grad_by_freq=True)
    yt = TF.embedding(torch.zeros(0, dtype=torch.int64), wt, scale_grad_by_freq=True)
    yd.sum().backward()
    yt.sum().backward()
    _close(wd.grad, wt.grad)


def test_embedding_sparse():
    """sparse=True: the lookup as torch where no gradient is recorded; refused where weight's
    (torch: sparse) gradient would be."""
    rng = np.random.default_rng(21)
    w = rng.standard_normal((5, 3))
    idx = np.array([4, 0, 4])
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding(idx, dg.tensor(w, requires_grad=True), sparse=True)
    yd = F.embedding(idx, dg.tensor(w), sparse=True)
    _close(yd, TF.embedding(torch.tensor(idx), torch.tensor(w), sparse=True))
    d = dnn.Embedding(5, 3, sparse=True, dtype=np.float64)
    t = tnn.Embedding(5, 3, sparse=True)
    assert repr(d) == repr(t) == "Embedding(5, 3, sparse=True)"
    with pytest.raises(NotImplementedError, match="sparse"):
        d(idx)
    with dg.no_grad():
        d.weight.copy_(w)
        assert d(idx).shape == (3, 3)
    pre = dnn.Embedding.from_pretrained(w, sparse=True)  # frozen: no gradient, no error
    _close(pre(idx), TF.embedding(torch.tensor(idx), torch.tensor(w)))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"padding_idx": 1},
        {"max_norm": 2},
        {"max_norm": 2.0, "norm_type": 2},
        {"norm_type": 1.0},
        {"norm_type": 2.0},
        {"scale_grad_by_freq": True},
        {"padding_idx": -1, "max_norm": 0.5, "norm_type": 3, "scale_grad_by_freq": True},
    ],
)
def test_embedding_repr_and_attributes_are_torchs(kw):
    d, t = dnn.Embedding(6, 3, **kw), tnn.Embedding(6, 3, **kw)
    assert repr(d) == repr(t)
    for a in ("padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"):
        assert getattr(d, a) == getattr(t, a), a


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained_as_torch(freeze):
    rng = np.random.default_rng(22)
    w = rng.standard_normal((6, 3)) * 2
    kw = {"freeze": freeze, "padding_idx": 1, "max_norm": 1.5, "norm_type": 1.0}
    d = dnn.Embedding.from_pretrained(dg.tensor(w), **kw)
    t = tnn.Embedding.from_pretrained(torch.tensor(w), **kw)
    assert repr(d) == repr(t)
    assert d.weight.requires_grad == t.weight.requires_grad == (not freeze)
    idx = np.array([[1, 2], [5, 2]])
    yd, yt = d(idx), t(torch.tensor(idx))
    _close(yd, yt)
    _close(d.weight, t.weight)
    if not freeze:
        _backward(yd, yt, rng, np.float64)
        _close(d.weight.grad, t.weight.grad)
    with pytest.raises(ValueError, match="2-D"):
        dnn.Embedding.from_pretrained(np.zeros(3))


def test_embedding_argument_errors():
    w, idx = dg.tensor(np.ones((3, 2))), np.array([0])
    for kw, exc, match in (
        ({"max_norm": "a"}, TypeError, "embedding: max_norm"),
        ({"max_norm": True}, TypeError, "embedding: max_norm"),
        ({"norm_type": None}, TypeError, "embedding: norm_type"),
        ({"scale_grad_by_freq": 1}, TypeError, "embedding: scale_grad_by_freq"),
        ({"sparse": "yes"}, TypeError, "embedding: sparse"),
    ):
        with pytest.raises(exc, match=match):
            F.embedding(idx, w, **kw)
    with pytest.raises(TypeError):  # torch refuses these too
        TF.embedding(torch.tensor(idx), torch.ones(3, 2), max_norm="a")
    with pytest.raises(TypeError):
        TF.embedding(torch.tensor(idx), torch.ones(3, 2), scale_grad_by_freq=1)
    for kw, match in (
        ({"max_norm": "a"}, "Embedding: max_norm"),
        ({"norm_type": "a"}, "Embedding: norm_type"),
        ({"scale_grad_by_freq": 1}, "Embedding: scale_grad_by_freq"),
        ({"sparse": None}, "Embedding: sparse"),
    ):
        with pytest.raises(TypeError, match=match):
            dnn.Embedding(3, 2, **kw)
    with pytest.raises(IndexError, match="index 3"):  # checked before any renormalization
        F.embedding(np.array([0, 3]), w, max_norm=0.1)
    np.testing.assert_array_equal(w.data, np.ones((3, 2)))


# ---- 4. Conv2d padding_mode on F.pad's index maps -------------------------------------------

_MODES = ["reflect", "replicate", "circular"]


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("padding", [1, (2, 1), (0, 3), "same"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_conv2d_padding_modes_as_torch(mode, padding, dtype):
    rng = np.random.default_rng(23)
    d = dnn.Conv2d(3, 4, (3, 4), padding=padding, padding_mode=mode, dtype=dtype)
    t = tnn.Conv2d(3, 4, (3, 4), padding=padding, padding_mode=mode, dtype=_tdt(dtype))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(d.weight.data))
        t.bias.copy_(torch.tensor(d.bias.data))
    xd, xt = _pair(rng.standard_normal((2, 3, 5, 6)), dtype)
    yd, yt = d(xd), t(xt)
    _close(yd, yt, dtype, atol=1e-5 if dtype == np.float32 else None)
    _backward(yd, yt, rng, dtype)
    atol = 1e-4 if dtype == np.float32 else None
    _close(xd.grad, xt.grad, dtype, atol=atol)
    _close(d.weight.grad, t.weight.grad, dtype, atol=atol)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [(1, 2, 3, 0), (4, 4, 0, 0), (0, 0, 0, 0), (2, 1, 1, 2)])
def test_pad2d_forward_is_numpys_and_backward_torchs(mode, pads):
    """_pad2d (numpy.pad's mode names, as _PAD_MODES) through F.pad: numpy.pad's values
    exactly, torch's gradient."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((2, 3, 5, 6))
    top, bottom, left, right = pads
    xd, xt = _pair(x)
    yd = F._pad2d(xd, pads, mode)
    np.testing.assert_array_equal(
        yd.data, np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=mode)
    )
    if not any(pads):
        assert yd is xd
        return
    tmode = {"edge": "replicate", "wrap": "circular"}.get(mode, mode)
    yt = TF.pad(xt, (left, right, top, bottom), tmode)
    _backward(yd, yt, rng, np.float64)
    _close(xd.grad, xt.grad)


def test_pad2d_errors_are_f_pads():
    x = dg.tensor(np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="Padding size should be less than"):
        F._pad2d(x, (3, 0, 0, 0), "reflect")
    with pytest.raises(RuntimeError):  # torch's class too
        F._pad2d(x, (0, 0, 0, 3), "reflect")
    with pytest.raises(ValueError, match="wrapping around more than once"):
        F._pad2d(x, (4, 0, 0, 0), "wrap")


@pytest.mark.parametrize(
    "idx, n",
    [
        ([0, 1, 2, 3], 4),  # a permutation: one round
        ([1, 0, 1, 2, 3, 2], 4),  # reflect: two rounds
        ([0, 0, 0, 0, 1, 2, 2, 2], 3),  # replicate: several
        ([2, 2, 4], 6),  # some positions not read
        ([1] * 40 + [0, 2], 3),  # more reads than rounds: the reduceat
        ([], 3),
    ],
)
@pytest.mark.parametrize("axis", [0, 1, 2])  # runs of 40, 20 and 1 elements per read
def test_index_add_is_add_at(idx, n, axis):
    rng = np.random.default_rng(25)
    idx = np.array(idx, dtype=np.int64)
    shape = [3, 2, 20]
    shape[axis] = idx.size
    g = rng.standard_normal(shape)
    want_shape = list(shape)
    want_shape[axis] = n
    want = np.zeros(want_shape)
    np.add.at(want, (slice(None),) * axis + (idx,), g)
    got = _index_add(g, axis, idx, n, np)
    assert got.shape == want.shape and got.dtype == g.dtype
    # the rounds add in torch's (and np.add.at's) order; the reduceat nearly so
    exact = np.bincount(idx, minlength=n).max(initial=0) <= 2
    np.testing.assert_allclose(got, want, rtol=0 if exact else 1e-13, atol=0)
    assert _index_add(g.astype(np.float32), axis, idx, n, np).dtype == np.float32
