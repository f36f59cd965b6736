"""The round-41 review's findings in nn.utils, nn.init and data, each against torch 2.13: the
total gradient norm is computed in the promoted dtype of all the gradients (float32 + float64
gives float64, not the first gradient's dtype), float16 norms accumulate in float32, an empty
gradient has no inf / -inf / negative-p norm (RuntimeError), init's a > b and std < 0 (and a
negative xavier gain) are torch's RuntimeErrors, DataLoader's non-bool drop_last torch's
ValueError."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as nn
from deltagrad.data import DataLoader, TensorDataset

torch = pytest.importorskip("torch")
rng = np.random.default_rng(41)
NORMS = [2.0, 1.0, 0.0, 3.0, 0.5, -1.0, -2.5, math.inf, -math.inf]


def _params(arrays):
    """(dg params, torch params) holding copies of the arrays as their gradients."""
    dps, tps = [], []
    for a in arrays:
        p = nn.Parameter(dg.tensor(np.zeros(a.shape, a.dtype)))
        p.grad = a.copy()
        dps.append(p)
        q = torch.nn.Parameter(torch.zeros(a.shape, dtype=getattr(torch, str(a.dtype))))
        q.grad = torch.from_numpy(a.copy())
        tps.append(q)
    return dps, tps


def _check_same(d, t, rtol):
    d, t = np.asarray(d), t.detach().numpy()
    assert d.dtype == t.dtype and d.shape == t.shape
    np.testing.assert_allclose(d.astype(np.float64), t.astype(np.float64), rtol=rtol, atol=0)


# ---- 1. the total norm's dtype: promoted over all the gradients ------------------------------


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize(
    "dtypes",
    [
        ("float32", "float64"),
        ("float64", "float32"),
        ("float32", "float32", "float64"),
        ("float16", "float32"),
        ("float32", "float16"),
        ("float16", "float64"),
        ("float16", "float16"),
        ("float64",),
    ],
)
def test_clip_grad_norm_mixed_dtypes_as_torch(dtypes, norm_type):
    sizes = [1, 5, 7, 3][: len(dtypes)]
    arrays = [(rng.standard_normal(n) * 3).astype(dt) for n, dt in zip(sizes, dtypes)]
    rtol = 2e-3 if "float16" in dtypes else 1e-5
    if "float16" not in dtypes:  # deltagrad's parameters are float32 / float64
        dps, tps = _params(arrays)
        d = nn.utils.clip_grad_norm_(dps, 0.7, norm_type=norm_type)
        t = torch.nn.utils.clip_grad_norm_(tps, 0.7, norm_type=norm_type)
        _check_same(d.data, t, rtol)
        for dp, tp in zip(dps, tps):
            _check_same(dp.grad, tp.grad, rtol)
    dt = nn.utils.get_total_norm(list(arrays), norm_type)
    tt = torch.nn.utils.get_total_norm([torch.from_numpy(a) for a in arrays], norm_type)
    _check_same(dt.data, tt, rtol)


def test_clip_grad_norm_huge_float64_with_float32_as_torch():
    # the review's repro: the float32 total was inf and both gradients became 0
    arrays = [np.array([1.0], np.float32), np.array([1e100])]
    dps, tps = _params(arrays)
    d = nn.utils.clip_grad_norm_(dps, 1.0)
    t = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert d.dtype == np.float64 and t.dtype == torch.float64
    _check_same(d.data, t, 1e-12)
    for dp, tp in zip(dps, tps):
        _check_same(dp.grad, tp.grad, 1e-6)
    assert float(dps[1].grad[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, -1.0, math.inf])
@pytest.mark.parametrize("value", [100.0, 300.0, 1.5e-5, 6e4])
def test_float16_norm_accumulates_in_float32_as_torch(value, norm_type):
    # torch accumulates a float16 norm in float32: a sum of squares past 65504 no longer
    # makes the norm inf, and tiny values no longer underflow to 0
    n = 1000 if value < 1e4 else 1
    a = np.full(n, value, np.float16)
    a[::3] *= -1
    d = nn.utils.get_total_norm([a], norm_type)
    t = torch.nn.utils.get_total_norm([torch.from_numpy(a)], norm_type)
    _check_same(d.data, t, 2e-3)


# ---- 2. an empty gradient: no inf / -inf / negative-p norm -----------------------------------


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("shape", [(0,), (0, 3)])
@pytest.mark.parametrize("with_other", [False, True])
def test_empty_gradient_norm_as_torch(norm_type, shape, with_other):
    arrays = [np.zeros(shape, np.float32)] + ([np.ones(2, np.float32)] if with_other else [])
    dps, tps = _params(arrays)
    try:
        t = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type=norm_type)
    except RuntimeError as e:
        assert "on an empty tensor because the operation does not have an identity" in str(e)
        with pytest.raises(
            RuntimeError,
            match="linalg.vector_norm cannot compute the -?[0-9.inf]+ norm on an empty tensor "
            "because the operation does not have an identity",
        ):
            nn.utils.clip_grad_norm_(dps, 1.0, norm_type=norm_type)
        with pytest.raises(RuntimeError, match="on an empty tensor"):
            nn.utils.get_total_norm([arrays[0]], norm_type)
        assert norm_type < 0 or norm_type == math.inf  # the ones torch refuses
        np.testing.assert_array_equal(dps[-1].grad, arrays[-1])  # nothing scaled
        return
    assert norm_type >= 0 and norm_type != math.inf
    d = nn.utils.clip_grad_norm_(dps, 1.0, norm_type=norm_type)
    _check_same(d.data, t, 1e-6)
    for dp, tp in zip(dps, tps):
        _check_same(dp.grad, tp.grad, 1e-6)


@pytest.mark.parametrize("norm_type", [-math.inf, -1.0, -0.5, -1e100])
def test_empty_gradient_message_prints_p_as_torch(norm_type):
    with pytest.raises(RuntimeError) as t:
        torch.linalg.vector_norm(torch.zeros(0), norm_type)
    fragment = str(t.value).split(" on an")[0]  # "linalg.vector_norm cannot compute the -1 norm"
    with pytest.raises(RuntimeError) as d:
        nn.utils.get_total_norm([np.zeros(0)], norm_type)
    assert fragment in str(d.value)


# ---- 3. and 4. nn.init: a > b, std < 0 -------------------------------------------------------


def _both_raise(fd, ft):
    with pytest.raises(RuntimeError) as t:
        ft()
    with pytest.raises(RuntimeError) as d:
        fd()
    return str(d.value), str(t.value)


@pytest.mark.parametrize("a,b", [(2, 1), (2.5, 1.5), (0.1 + 0.2, 0.1), (1e-7, 1.23456789e-8)])
@pytest.mark.parametrize("shape", [(3,), (0,), (2, 3)])
def test_uniform_a_greater_than_b_as_torch(a, b, shape):
    d, t = _both_raise(
        lambda: nn.init.uniform_(dg.zeros(*shape), a, b),
        lambda: torch.nn.init.uniform_(torch.zeros(*shape), a, b),
    )
    assert d == t  # "uniform_ expects to return a [from, to) range, but found from=2 > to=1"


@pytest.mark.parametrize("a,b,mean", [(2, 1, 0.0), (2.5, -1.5, 0.0), (1.0, 0.5, 0.7)])
def test_trunc_normal_a_greater_than_b_as_torch(a, b, mean):
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError) as t:
            torch.nn.init.trunc_normal_(torch.zeros(3), mean=mean, a=a, b=b)
    with warnings.catch_warnings(record=True) as dw:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError) as d:
            nn.init.trunc_normal_(dg.zeros(3), mean=mean, a=a, b=b)
    assert str(d.value) == "trunc_normal_: " + str(t.value)
    assert [str(w.message) for w in dw] == [str(w.message) for w in tw]  # the same warnings


@pytest.mark.parametrize("std", [-1, -1.5, -1e-300, -123456789.0])
@pytest.mark.parametrize("shape", [(3,), (0,), (4, 3)])
def test_normal_negative_std_as_torch(std, shape):
    d, t = _both_raise(
        lambda: nn.init.normal_(dg.zeros(*shape), 0.0, std),
        lambda: torch.nn.init.normal_(torch.zeros(*shape), 0.0, std),
    )
    assert d == "normal_: " + t  # "normal expects std >= 0.0, but found std -1"


@pytest.mark.parametrize("shape", [(4, 3), (0, 3), (3, 0)])
def test_sparse_negative_std_as_torch(shape):
    d, t = _both_raise(
        lambda: nn.init.sparse_(dg.zeros(*shape), 0.5, std=-1.5),
        lambda: torch.nn.init.sparse_(torch.zeros(*shape), 0.5, std=-1.5),
    )
    assert d == "sparse_: " + t


@pytest.mark.parametrize("gain", [-1, -2.0, -0.3])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2, 3)])
def test_xavier_negative_gain_as_torch(gain, shape):
    # torch: uniform_(-a, a) with a < 0, normal_(0, std < 0): numpy drew silently / ValueError
    d, t = _both_raise(
        lambda: nn.init.xavier_uniform_(dg.zeros(*shape), gain=gain),
        lambda: torch.nn.init.xavier_uniform_(torch.zeros(*shape), gain=gain),
    )
    assert d == "xavier_uniform_: " + t
    d, t = _both_raise(
        lambda: nn.init.xavier_normal_(dg.zeros(*shape), gain=gain),
        lambda: torch.nn.init.xavier_normal_(torch.zeros(*shape), gain=gain),
    )
    assert d == "xavier_normal_: " + t


def test_init_valid_edges_still_draw():
    # a == b, std == 0, gain == 0: torch fills; so do we
    for f in (
        lambda lib, t: lib.nn.init.uniform_(t, 1.5, 1.5),
        lambda lib, t: lib.nn.init.normal_(t, 2.0, 0.0),
        lambda lib, t: lib.nn.init.xavier_uniform_(t, gain=0.0),
        lambda lib, t: lib.nn.init.xavier_normal_(t, gain=0.0),
        lambda lib, t: lib.nn.init.sparse_(t, 0.0, std=0.0),
    ):
        d = f(dg, dg.zeros(3, 4))
        t = f(torch, torch.zeros(3, 4))
        _check_same(d.data, t, 0)


# ---- 5. DataLoader(drop_last=non-bool) -------------------------------------------------------


def _loader_outcome(lib, **kw):
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    if lib is torch:
        ds = torch.utils.data.TensorDataset(torch.from_numpy(X))
        make = torch.utils.data.DataLoader
    else:
        ds, make = TensorDataset(dg.tensor(X)), DataLoader
    try:
        loader = make(ds, **kw)
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return type(e), str(e)
    return "ok", [b[0].shape[0] for b in loader]


@pytest.mark.parametrize(
    "kw",
    [
        {"batch_size": 5, "drop_last": 1},
        {"batch_size": 4, "drop_last": 0},
        {"batch_size": 4, "drop_last": None},
        {"batch_size": 4, "drop_last": "x"},
        {"batch_size": 4, "drop_last": np.bool_(True)},
        {"batch_size": 4, "drop_last": True},
        {"batch_size": 4, "drop_last": False},
        {"batch_size": None, "drop_last": 0},
        {"batch_size": None, "drop_last": None},
        {"batch_size": None, "drop_last": 1},
        {"batch_sampler": [[0, 1], [2]], "drop_last": 0},
        {"batch_sampler": [[0, 1], [2]], "drop_last": 1},
    ],
)
def test_dataloader_drop_last_as_torch(kw):
    t = _loader_outcome(torch, **kw)
    d = _loader_outcome(dg, **kw)
    assert d[0] == t[0], (d, t)
    if t[0] == "ok":
        assert d[1] == list(t[1])
    elif "should be a boolean" in t[1]:
        assert t[1].split(", but got")[0] in d[1]
        assert d[1].endswith(f"drop_last={kw['drop_last']!r}")
    else:
        assert "mutually exclusive" in d[1]


def test_dataloader_drop_last_message_is_torchs():
    match = "drop_last should be a boolean value, but got drop_last=1"
    with pytest.raises(ValueError, match=match):
        DataLoader(TensorDataset(dg.tensor(np.zeros((10, 2)))), batch_size=5, drop_last=1)
