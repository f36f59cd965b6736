"""nn.utils.parametrize, nn.utils.parametrizations (weight_norm, spectral_norm, orthogonal)
and the hook-based weight_norm / spectral_norm against torch 2.13 (round 36): forward values,
gradients of the originals over SGD steps, power-iteration buffers in train and eval modes,
state_dict keys and values, removal, custom / chained parametrizations, cached(), errors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad.nn.utils import parametrizations as DPZ
from deltagrad.nn.utils import parametrize as DP

torch = pytest.importorskip("torch")
tnn = torch.nn
TPZ = torch.nn.utils.parametrizations
TP = torch.nn.utils.parametrize

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, dg.Tensor):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _close(a, b, **tol):
    np.testing.assert_allclose(_np(a), _np(b), **(tol or TOL))


def _pair(kind, dtype=torch.float64):
    """A torch module and the deltagrad module of the same kind holding its weights."""
    torch.manual_seed(0)
    if kind == "linear":
        t, d = tnn.Linear(5, 7), dnn.Linear(5, 7)
        x = np.random.default_rng(1).standard_normal((3, 5))
    elif kind == "conv":
        t, d = tnn.Conv2d(3, 4, (3, 2)), dnn.Conv2d(3, 4, (3, 2))
        x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    else:  # convT
        t, d = tnn.ConvTranspose2d(3, 4, 3), dnn.ConvTranspose2d(3, 4, 3)
        x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    t = t.to(dtype)
    d = d.double() if dtype == torch.float64 else d.float()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    return t, d, x


def _sync(t, d):
    """Load torch's whole state (originals, buffers) into ours: same keys required."""
    sd = {k: _np(v) for k, v in t.state_dict().items()}
    assert list(sd) == list(d.state_dict())
    d.load_state_dict(sd)


def _step(t, d, x, lr=0.1, check_grads=True, tol=None):
    """One forward / backward / SGD step on both; outputs and every gradient compared."""
    xt = torch.tensor(x, dtype=next(t.parameters()).dtype)
    xd = dg.tensor(x.astype(_np(xt).dtype))
    ot, od = t(xt), d(xd)
    _close(od, ot, **(tol or TOL))
    (ot * ot).sum().backward()
    (od * od).sum().backward()
    pt, pd = dict(t.named_parameters()), dict(d.named_parameters())
    assert list(pt) == list(pd)
    with torch.no_grad(), dg.no_grad():
        for k in pt:
            if check_grads:
                _close(pd[k].grad, pt[k].grad, **(tol or TOL))
            pt[k] -= lr * pt[k].grad
            pd[k].data = pd[k].data - lr * np.asarray(pd[k].grad)
            pt[k].grad = None
            pd[k].grad = None


# ---- parametrizations.weight_norm --------------------------------------------------------


@pytest.mark.parametrize(
    "kind,dim", [("linear", 0), ("linear", 1), ("linear", None), ("linear", -1), ("conv", 0),
                 ("conv", 2), ("conv", -2), ("conv", None)]
)  # fmt: skip
def test_weight_norm_parity(kind, dim):
    t, d, x = _pair(kind)
    TPZ.weight_norm(t, dim=dim)
    DPZ.weight_norm(d, dim=dim)
    assert type(d).__name__ == type(t).__name__
    assert list(d.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert d.state_dict()[k].shape == tuple(v.shape)
        _close(d.state_dict()[k], v)
    for _ in range(3):
        _step(t, d, x)
    _close(d.weight, t.weight)


@pytest.mark.parametrize("which", ["weight_norm", "spectral_norm"])
def test_size_one_weight_and_empty_batch(which):
    torch.manual_seed(0)
    t, d = tnn.Linear(1, 1).double(), dnn.Linear(1, 1).double()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    getattr(TPZ, which)(t)
    getattr(DPZ, which)(d)
    _sync(t, d)
    for x in (np.array([[0.7], [-1.3]]), np.zeros((0, 1))):
        _step(t, d, x)


def test_weight_norm_extreme_magnitudes():
    """torch's norm_except_dim squares without scaling (0 / inf norms, then nan weights at
    1e-200 / 1e200); deltagrad's norm is scaled, so the weight is kept exactly."""
    for s in (1e-200, 1e200):
        d = dnn.Linear(3, 2).double()
        w = np.random.default_rng(0).standard_normal((2, 3)) * s
        d.weight.data = w.copy()
        DPZ.weight_norm(d)
        np.testing.assert_allclose(_np(d.weight), w, rtol=1e-13)
        np.testing.assert_allclose(
            _np(d.parametrizations.weight.original0).ravel(), np.linalg.norm(w / s, axis=1) * s
        )
    with pytest.raises(IndexError):
        DPZ.weight_norm(dnn.Linear(3, 2), dim=2)


def test_weight_norm_float32():
    t, d, x = _pair("conv", torch.float32)
    TPZ.weight_norm(t)
    DPZ.weight_norm(d)
    for _ in range(2):
        _step(t, d, x, tol={"rtol": 1e-5, "atol": 1e-4})


def test_weight_norm_loads_hook_based_state_dict():
    t, d, _ = _pair("linear")
    with pytest.warns(FutureWarning):
        tnn.utils.weight_norm(t)
    old = {k: _np(v) for k, v in t.state_dict().items()}
    assert list(old) == ["bias", "weight_g", "weight_v"]
    DPZ.weight_norm(d)
    d.load_state_dict({k: v * 1.5 for k, v in old.items()})
    _close(d.parametrizations.weight.original0, old["weight_g"] * 1.5)
    _close(d.parametrizations.weight.original1, old["weight_v"] * 1.5)


def test_weight_norm_remove():
    t, d, x = _pair("linear")
    TPZ.weight_norm(t)
    DPZ.weight_norm(d)
    _step(t, d, x)
    TP.remove_parametrizations(t, "weight")
    DP.remove_parametrizations(d, "weight")
    assert type(d) is dnn.Linear and not hasattr(d, "parametrizations")
    assert isinstance(d.weight, dnn.Parameter) and list(d.state_dict()) == ["bias", "weight"]
    _close(d.weight, t.weight)
    with pytest.raises(ValueError, match="sequence of tensors"):
        DPZ.weight_norm(d)
        DP.remove_parametrizations(d, "weight", leave_parametrized=False)


# ---- parametrizations.spectral_norm ------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_parity(kind, n_iter):
    t, d, x = _pair(kind)
    TPZ.spectral_norm(t, n_power_iterations=n_iter)
    DPZ.spectral_norm(d, n_power_iterations=n_iter)
    assert d.parametrizations.weight[0].dim == t.parametrizations.weight[0].dim
    _sync(t, d)  # the random initial u / v: torch's
    st, sd = t.parametrizations.weight[0], d.parametrizations.weight[0]
    for _ in range(3):  # training: each read takes n_iter power steps
        _step(t, d, x)
        _close(sd._u, st._u)
        _close(sd._v, st._v)
    t.eval()
    d.eval()
    u0 = _np(sd._u).copy()
    for _ in range(2):  # eval: u / v frozen
        _step(t, d, x)
    np.testing.assert_array_equal(_np(sd._u), u0)
    _close(d.weight, t.weight)
    w = _np(d.parametrizations.weight.original)
    sigma_t = (_np(t.parametrizations.weight.original) / _np(t.weight)).ravel()[0]
    sigma_d = (w / _np(d.weight)).ravel()[0]
    np.testing.assert_allclose(sigma_d, sigma_t, rtol=1e-10)
    for k, v in t.state_dict().items():
        _close(d.state_dict()[k], v)


def test_spectral_norm_estimates_the_largest_singular_value():
    d = dnn.Linear(6, 4).double()
    w = _np(d.weight).copy()
    DPZ.spectral_norm(d)
    for _ in range(30):
        _ = d.weight
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(_np(d.weight), w / sigma, rtol=1e-6)


def test_spectral_norm_vector_and_float32():
    t, d, x = _pair("linear", torch.float32)
    TPZ.spectral_norm(t, name="bias")
    DPZ.spectral_norm(d, name="bias")  # 1-D: plain normalization, no buffers
    assert list(d.state_dict()) == list(t.state_dict())
    _close(d.bias, t.bias, rtol=1e-6, atol=1e-7)
    _step(t, d, x, tol={"rtol": 1e-5, "atol": 1e-4})


def test_spectral_norm_errors():
    with pytest.raises(IndexError):
        DPZ.spectral_norm(dnn.Linear(2, 3), dim=2)
    with pytest.raises(ValueError, match="n_power_iterations"):
        DPZ.spectral_norm(dnn.Linear(2, 3), n_power_iterations=0)
    with pytest.raises(ValueError, match="no parameter or buffer"):
        DPZ.spectral_norm(dnn.Linear(2, 3), name="nope")


# ---- parametrizations.orthogonal ---------------------------------------------------------


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley"])
@pytest.mark.parametrize("shape", [(5, 5), (5, 3), (3, 5)])
def test_orthogonal_parity(omap, shape):
    torch.manual_seed(0)
    t = tnn.Linear(shape[1], shape[0]).double()
    d = dnn.Linear(shape[1], shape[0]).double()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    TPZ.orthogonal(t, orthogonal_map=omap)
    DPZ.orthogonal(d, orthogonal_map=omap)
    assert list(d.state_dict()) == list(t.state_dict())
    if shape[0] == shape[1]:  # deterministic (QR of the weight): no syncing needed
        _close(d.parametrizations.weight[0].base, t.parametrizations.weight[0].base)
    _sync(t, d)  # a non-square base completes Q with random columns
    w = _np(d.weight)
    q = w if shape[0] >= shape[1] else w.T
    np.testing.assert_allclose(q.T @ q, np.eye(min(shape)), atol=1e-12)
    x = np.random.default_rng(2).standard_normal((4, shape[1]))
    for _ in range(3):
        _step(t, d, x, lr=0.05)


def test_orthogonal_without_trivialization():
    torch.manual_seed(0)
    t, d = tnn.Linear(4, 4).double(), dnn.Linear(4, 4).double()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    TPZ.orthogonal(t, orthogonal_map="cayley", use_trivialization=False)
    DPZ.orthogonal(d, orthogonal_map="cayley", use_trivialization=False)
    assert list(d.state_dict()) == list(t.state_dict())
    _step(t, d, np.random.default_rng(3).standard_normal((2, 4)))
    with pytest.raises(NotImplementedError):
        d.weight = dg.tensor(np.eye(4))


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="orthogonal_map"):
        DPZ.orthogonal(dnn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="matrix or batch"):
        DPZ.orthogonal(dnn.Linear(3, 3), name="bias")
    m = DPZ.orthogonal(dnn.Linear(3, 3))
    with pytest.raises(ValueError, match="shape"):
        m.weight = dg.tensor(np.eye(2))


# ---- the hook-based weight_norm / spectral_norm -------------------------------------------


@pytest.mark.parametrize("kind,dim", [("linear", 0), ("conv", 1), ("conv", None)])
def test_old_weight_norm(kind, dim):
    t, d, x = _pair(kind)
    with pytest.warns(FutureWarning, match="deprecated"):
        tnn.utils.weight_norm(t, dim=dim)
    with pytest.warns(FutureWarning, match="deprecated"):
        dnn.utils.weight_norm(d, dim=dim)
    assert list(d.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        _close(d.state_dict()[k], v)
    for _ in range(3):
        _step(t, d, x)
    with pytest.raises(RuntimeError, match="two weight_norm"), pytest.warns(FutureWarning):
        dnn.utils.weight_norm(d, dim=dim)
    tnn.utils.remove_weight_norm(t)
    dnn.utils.remove_weight_norm(d)
    assert isinstance(d.weight, dnn.Parameter)
    assert sorted(d.state_dict()) == sorted(t.state_dict()) == ["bias", "weight"]
    _close(d.weight, t.weight)
    _step(t, d, x)
    with pytest.raises(ValueError, match="not found"):
        dnn.utils.remove_weight_norm(d)


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
def test_old_spectral_norm(kind):
    t, d, x = _pair(kind)
    tnn.utils.spectral_norm(t, n_power_iterations=2)
    dnn.utils.spectral_norm(d, n_power_iterations=2)
    assert list(d.state_dict()) == list(t.state_dict())
    assert d.state_dict()._metadata[""]["spectral_norm"] == {"weight.version": 1}
    _sync(t, d)
    for _ in range(3):
        _step(t, d, x)
        _close(d.weight_u, t.weight_u)
        _close(d.weight_v, t.weight_v)
    t.eval()
    d.eval()
    v0 = _np(d.weight_v).copy()
    _step(t, d, x)
    np.testing.assert_array_equal(_np(d.weight_v), v0)
    _close(d.weight, t.weight)
    tnn.utils.remove_spectral_norm(t)
    dnn.utils.remove_spectral_norm(d)
    assert isinstance(d.weight, dnn.Parameter)
    assert list(d.state_dict()) == list(t.state_dict())
    _close(d.weight, t.weight)
    assert not d._state_dict_hooks and not d._load_state_dict_pre_hooks
    with pytest.raises(ValueError, match="not found"):
        dnn.utils.remove_spectral_norm(d)


def test_old_spectral_norm_loads_version_0_state_dict():
    t, d, _ = _pair("linear")
    tnn.utils.spectral_norm(t)
    dnn.utils.spectral_norm(d)
    _sync(t, d)
    t(torch.randn(2, 5, dtype=torch.float64))
    sd = {k: _np(v) for k, v in t.state_dict().items()}
    old = {k: v for k, v in sd.items() if k != "weight_v"}
    old["weight"] = _np(t.weight)  # version 0 saved the normalized weight, not v
    t.load_state_dict({k: torch.tensor(v) for k, v in old.items()})
    d.load_state_dict(old)
    _close(d.weight_v, t.weight_v, rtol=1e-8, atol=1e-10)


def test_old_spectral_norm_errors():
    with pytest.raises(ValueError, match="n_power_iterations"):
        dnn.utils.spectral_norm(dnn.Linear(2, 3), n_power_iterations=0)
    m = dnn.utils.spectral_norm(dnn.Linear(2, 3))
    with pytest.raises(RuntimeError, match="two spectral_norm"):
        dnn.utils.spectral_norm(m)


# ---- register_parametrization: custom, chained, removed, cached -----------------------------


def _symmetric(lib):
    class Symmetric(lib.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).mT

        def right_inverse(self, a):
            return a.triu()

    return Symmetric()


def _scale(lib, s):
    class Scale(lib.Module):
        def forward(self, x):
            return x * s

        def right_inverse(self, a):
            return a / s

    return Scale()


def test_custom_parametrization_with_right_inverse_and_chaining():
    t, d = tnn.Linear(4, 4).double(), dnn.Linear(4, 4).double()
    d.load_state_dict({k: _np(v) for k, v in t.state_dict().items()})
    orig_t, orig_d = t.weight, d.weight
    TP.register_parametrization(t, "weight", _symmetric(torch.nn))
    DP.register_parametrization(d, "weight", _symmetric(dnn))
    assert d.parametrizations.weight.original is orig_d  # the same tensor, now triu'd
    _close(orig_d, orig_t)
    TP.register_parametrization(t, "weight", _scale(torch.nn, 3.0))
    DP.register_parametrization(d, "weight", _scale(dnn, 3.0))
    assert len(d.parametrizations.weight) == 2
    w = _np(d.weight)
    np.testing.assert_allclose(w, w.T)
    _close(d.weight, t.weight)
    x = np.random.default_rng(5).standard_normal((3, 4))
    for _ in range(2):
        _step(t, d, x)
    a = np.random.default_rng(6).standard_normal((4, 4))
    a = a + a.T
    t.weight = torch.tensor(a)
    d.weight = dg.tensor(a)  # right_inverse of the chain, last first
    _close(d.parametrizations.weight.original, t.parametrizations.weight.original)
    _close(d.weight, a)
    assert list(d.state_dict()) == list(t.state_dict())
    assert DP.is_parametrized(d) and DP.is_parametrized(d, "weight")
    assert not DP.is_parametrized(d, "bias")
    assert DP.type_before_parametrizations(d) is dnn.Linear
    assert repr(d) == repr(t)
    DP.remove_parametrizations(d, "weight", leave_parametrized=False)
    assert d.weight is orig_d and type(d) is dnn.Linear
    _close(d.weight, np.triu(a / 3.0))
    assert DP.type_before_parametrizations(d) is dnn.Linear and not DP.is_parametrized(d)


def test_parametrized_buffer_and_two_tensors():
    class M(dnn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("buf", dg.tensor(np.arange(1.0, 5.0)))
            self.w = dnn.Parameter(np.ones((2, 2)))

    m = M()
    DP.register_parametrization(m, "buf", _scale(dnn, 2.0))
    DP.register_parametrization(m, "w", _scale(dnn, 0.5))
    assert [n for n, _ in m.named_buffers()] == ["parametrizations.buf.original"]
    assert [n for n, _ in m.named_parameters()] == ["parametrizations.w.original"]
    _close(m.buf, np.arange(1.0, 5.0))
    DP.remove_parametrizations(m, "buf")
    assert type(m).__name__ == "ParametrizedM" and "buf" in m._buffers
    DP.remove_parametrizations(m, "w")
    assert type(m) is M


def test_assigning_a_tensor_that_requires_grad_goes_to_right_inverse():
    m = DP.register_parametrization(dnn.Linear(3, 3).double(), "weight", _symmetric(dnn))
    a = dg.tensor(np.eye(3) * 2.0, requires_grad=True)
    m.weight = a  # not registered as a parameter (torch's property setter)
    assert [n for n, _ in m.named_parameters()] == ["bias", "parametrizations.weight.original"]
    _close(m.weight, np.eye(3) * 2.0)
    with pytest.raises(KeyError, match="already exists"):
        m.weight = dnn.Parameter(np.eye(3))
    m.other = 5  # ordinary attributes still work
    assert m.other == 5


def test_cached():
    calls = []

    class Counted(dnn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 2.0

    m = DP.register_parametrization(dnn.Linear(3, 3), "weight", Counted())
    calls.clear()
    _ = m.weight, m.weight
    assert len(calls) == 2
    with DP.cached():
        a = m.weight
        with DP.cached():
            b = m.weight
        c = m.weight
    assert len(calls) == 3 and a is b is c
    assert DP._cache == {}
    _ = m.weight
    assert len(calls) == 4


def test_transfer_parametrizations_and_params():
    torch.manual_seed(0)
    ft, tt = tnn.Linear(3, 3).double(), tnn.Linear(3, 3).double()
    fd, td = dnn.Linear(3, 3).double(), dnn.Linear(3, 3).double()
    fd.load_state_dict({k: _np(v) for k, v in ft.state_dict().items()})
    td.load_state_dict({k: _np(v) for k, v in tt.state_dict().items()})
    TP.register_parametrization(ft, "weight", _symmetric(torch.nn))
    DP.register_parametrization(fd, "weight", _symmetric(dnn))
    TP.transfer_parametrizations_and_params(ft, tt)
    DP.transfer_parametrizations_and_params(fd, td)
    assert list(td.state_dict()) == list(tt.state_dict())
    assert td.parametrizations.weight.original is fd.parametrizations.weight.original
    _close(td.weight, tt.weight)
    assert DP.transfer_parametrizations_and_params(dnn.Linear(2, 2), td) is td


def test_deepcopy_and_pickle():
    m = DPZ.weight_norm(dnn.Linear(3, 2))
    c = copy.deepcopy(m)
    assert type(c) is type(m)
    _close(c.weight, m.weight)
    assert c.parametrizations.weight.original0 is not m.parametrizations.weight.original0
    with pytest.raises(RuntimeError, match="state_dict"):
        pickle.dumps(m)


def test_to_double_moves_the_originals():
    m = DPZ.spectral_norm(dnn.Linear(3, 2))
    m.double()
    assert m.weight.dtype == np.float64
    assert m.parametrizations.weight[0]._u.dtype == np.float64


# ---- errors ------------------------------------------------------------------------------


class _Half(tnn.Module):
    def forward(self, x):
        return x[:2]


class _DHalf(dnn.Module):
    def forward(self, x):
        return x[:2]


class _DCast(dnn.Module):
    def forward(self, x):
        return x.float()


def test_errors_match_torch():
    for lib, half, reg in ((tnn, _Half, TP), (dnn, _DHalf, DP)):
        m = lib.Linear(3, 4)
        with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
            reg.register_parametrization(m, "nope", half())
        with pytest.raises(ValueError, match="may not change the shape"):
            reg.register_parametrization(m, "weight", half())
        assert not reg.is_parametrized(m)
        reg.register_parametrization(m, "weight", half(), unsafe=True)
        assert tuple(m.weight.shape) == (2, 3)
        with pytest.raises(ValueError, match="does not have a parametrization on bias"):
            reg.remove_parametrizations(m, "bias")
    with pytest.raises(ValueError, match="may not change the dtype"):
        DP.register_parametrization(dnn.Linear(3, 4).double(), "weight", _DCast())
    m = DP.register_parametrization(dnn.Linear(3, 4), "weight", _scale(dnn, 2.0))
    with pytest.raises(ValueError, match="may not change the shape"):
        DP.register_parametrization(m, "weight", _DHalf())  # chained: checked too
    assert len(m.parametrizations.weight) == 1
    with pytest.raises(TypeError, match="positional"):  # unsafe is keyword-only
        DP.register_parametrization(m, "weight", _scale(dnn, 2.0), True)
    with pytest.raises(TypeError, match="parametrization"):
        DP.register_parametrization(m, "weight", lambda x: x)
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        DP.register_parametrization(m, "weight", _DHalf(), unsafe=True)
        m.weight = dg.tensor(np.ones((2, 3), np.float32))


def test_spectral_norm_of_conv_transpose3d_uses_dim_1():
    """ConvTranspose3d's weight (in, out, k, k, k): spectral_norm normalizes along dim 1 as for
    the 1-D / 2-D transposed convolutions (it took dim 0 there: a u of in_channels)."""
    torch.manual_seed(3)
    t = torch.nn.ConvTranspose3d(3, 4, 2).double()
    d = dnn.ConvTranspose3d(3, 4, 2, dtype=np.float64)
    d.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    torch.nn.utils.parametrizations.spectral_norm(t)
    dnn.utils.parametrizations.spectral_norm(d)
    tu = t.parametrizations.weight[0]._u
    du = d.parametrizations.weight[0]._u
    assert tuple(du.shape) == tuple(tu.shape) == (4,)
