"""torch.utils.checkpoint, torch.utils.data and torch.func against torch 2.13 (round 38):
dg.utils.checkpoint (gradients equal to the un-checkpointed ones bit for bit, dropout masks
restored, parameters, kwargs, tuple outputs, torch's warnings and errors), dg.utils.data
(the same objects as dg.data), dg.func (functional_call, grad, grad_and_value, vjp, jacrev,
jacfwd, hessian, vmap) and nn.utils.stateless.functional_call."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
from deltagrad import func as dfunc
from deltagrad.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential

torch = pytest.importorskip("torch")
tfunc = torch.func
tcp = torch.utils.checkpoint

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(a, b, **kw):
    a = a.data if isinstance(a, dg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, **(kw or TOL))


def _pair_mlp(sizes=(5, 7, 3), dropout=0.0, seed=0):
    """The same MLP in deltagrad and torch (float64, torch's weights copied)."""
    dg.manual_seed(seed)
    layers, tlayers = [], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(dnn.Linear(a, b).double())
        tlayers.append(torch.nn.Linear(a, b).double())
        if i < len(sizes) - 2:
            layers += [dnn.Tanh(), dnn.Dropout(dropout)]
            tlayers += [torch.nn.Tanh(), torch.nn.Dropout(dropout)]
    m, tm = dnn.Sequential(*layers), torch.nn.Sequential(*tlayers)
    with torch.no_grad():
        for (_, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
            tp.copy_(torch.from_numpy(p.data.copy()))
    return m, tm


def _grads(*ts):
    return [None if t.grad is None else np.array(t.grad) for t in ts]


# ---- dg.utils.data ------------------------------------------------------------------------


def test_utils_data_reexports_dg_data():
    import deltagrad.utils.data as ud

    for name in dg.data.__all__:
        assert getattr(ud, name) is getattr(dg.data, name)
    for name in ("DataLoader", "Dataset", "TensorDataset", "random_split", "Subset"):
        assert name in ud.__all__
    assert ud.get_worker_info is dg.data.get_worker_info
    assert ud.default_collate is dg.data.default_collate
    assert dg.utils.data is ud
    assert dg.utils.checkpoint.checkpoint is checkpoint
    ds = ud.TensorDataset(dg.tensor(np.arange(10.0)))
    a, b = ud.random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert [x.shape for (x,) in ud.DataLoader(ds, batch_size=4)] == [(4,), (4,), (2,)]


# ---- checkpoint -----------------------------------------------------------------------------


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_mlp_dropout_bit_for_bit(reentrant):
    m, _ = _pair_mlp((6, 9, 8, 4), dropout=0.4)
    x = dg.tensor(_rng(1).standard_normal((5, 6)), requires_grad=True)
    runs = []
    for ck in (False, True):
        m.zero_grad()
        x.grad = None
        dg.manual_seed(3)
        h = x * 1.5  # a non-leaf input
        y = checkpoint(m, h, use_reentrant=reentrant) if ck else m(h)
        (y.sin() * y).sum().backward()
        runs.append((y.data.copy(), _grads(x, *m.parameters())))
    (y0, g0), (y1, g1) = runs
    assert np.array_equal(y0, y1)
    for a, b in zip(g0, g1):
        assert a is not None and np.array_equal(a, b)


def test_checkpoint_rng_continues_as_without():
    """preserve_rng_state: the recomputation draws the forward's masks; afterwards the
    generator is where it was after the forward (draws after backward equal)."""
    m, _ = _pair_mlp((4, 6, 2), dropout=0.5)
    x = dg.tensor(_rng(2).standard_normal((3, 4)), requires_grad=True)
    after = []
    for ck in (False, True):
        dg.manual_seed(11)
        y = checkpoint(m, x, use_reentrant=False) if ck else m(x)
        y.sum().backward()
        after.append(dg.rand(5).data)
    assert np.array_equal(after[0], after[1])


def test_checkpoint_matches_torch_values_and_grads():
    m, tm = _pair_mlp((5, 7, 6, 3))
    a = _rng(3).standard_normal((4, 5))
    x = dg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = checkpoint(m, x, use_reentrant=False)
    ty = tcp.checkpoint(tm, tx, use_reentrant=False)
    _close(y, ty)
    (y.exp() * 0.5).sum().backward()
    (ty.exp() * 0.5).sum().backward()
    _close(x.grad, tx.grad)
    for p, tp in zip(m.parameters(), tm.parameters()):
        _close(p.grad, tp.grad)


def test_checkpoint_non_tensor_args_kwargs_and_tuple_outputs():
    r = _rng(4)
    w_np, a, b = r.standard_normal((3, 3)), r.standard_normal((2, 3)), r.standard_normal((2, 3))

    def make(lib, w):
        def fn(x, scale, y=None, *, shift=0.0):
            h = (x @ w).tanh() * scale + shift
            return h, h * y, "tag"

        return fn

    res = []
    for lib, T in ((dg, dg.tensor), (torch, torch.tensor)):
        w = T(w_np, requires_grad=True)
        x, y = T(a, requires_grad=True), T(b, requires_grad=True)
        h, hy, tag = (checkpoint if lib is dg else tcp.checkpoint)(
            make(lib, w), x, 2.5, y=y, shift=0.25, use_reentrant=False
        )
        assert tag == "tag"
        ((h**2).sum() + hy.sum()).backward()
        res.append((h, hy, x.grad, y.grad, w.grad))
    for u, v in zip(*res):
        _close(u, v)


def test_checkpoint_one_output_unused_and_reentrant_tuple():
    a = _rng(5).standard_normal((3, 4))
    outs = []
    for T, cp in ((dg.tensor, checkpoint), (torch.tensor, tcp.checkpoint)):
        x = T(a, requires_grad=True)
        p, q = cp(lambda t: (t.exp(), t * 3), x, use_reentrant=True)
        assert isinstance(p, (tuple, dg.Tensor, torch.Tensor))
        p.sum().backward()  # q unused
        outs.append(x.grad)
    _close(*outs)


def test_checkpoint_inputs_without_grad():
    m, tm = _pair_mlp((4, 3))
    a = _rng(6).standard_normal((2, 4))
    # reentrant: torch warns and the output has no graph (the parameters get no gradient)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(m, dg.tensor(a), use_reentrant=True)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        ty = tcp.checkpoint(tm, torch.tensor(a), use_reentrant=True)
    assert y.requires_grad is ty.requires_grad is False
    # non-reentrant: the parameters get their gradients
    y = checkpoint(m, dg.tensor(a), use_reentrant=False)
    ty = tcp.checkpoint(tm, torch.tensor(a), use_reentrant=False)
    assert y.requires_grad and ty.requires_grad
    y.pow(2).sum().backward()
    ty.pow(2).sum().backward()
    for p, tp in zip(m.parameters(), tm.parameters()):
        _close(p.grad, tp.grad)


def test_checkpoint_mixed_inputs_and_autograd_grad():
    r = _rng(7)
    w = dg.tensor(r.standard_normal((3, 2)), requires_grad=True)
    x = dg.tensor(r.standard_normal((4, 3)), requires_grad=True)
    c = dg.tensor(r.standard_normal((4, 2)))  # no grad

    def fn(x, c):
        return (x @ w).sigmoid() * c

    y = checkpoint(fn, x, c, use_reentrant=False)
    gx, gw = dg.autograd.grad(y.sum(), (x, w))
    y2 = fn(x, c)
    ex, ew = dg.autograd.grad(y2.sum(), (x, w))
    assert np.array_equal(gx.data, ex.data) and np.array_equal(gw.data, ew.data)
    assert x.grad is None and w.grad is None


def test_checkpoint_create_graph_double_backward():
    a = _rng(8).standard_normal(5)

    def fn(t):
        return (t.sin() * t).sum()

    x = dg.tensor(a, requires_grad=True)
    (g,) = dg.autograd.grad(checkpoint(fn, x, use_reentrant=False), x, create_graph=True)
    (h,) = dg.autograd.grad(g.sum(), x)
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(fn(tx), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    _close(g, tg)
    _close(h, th)


def test_checkpoint_sequential_matches():
    m, tm = _pair_mlp((4, 6, 6, 5, 3))
    a = _rng(9).standard_normal((3, 4))
    x = dg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = checkpoint_sequential(m, 3, x, use_reentrant=False)
    ty = tcp.checkpoint_sequential(tm, 3, tx, use_reentrant=False)
    _close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad)
    got = _grads(*m.parameters())
    for p, tp in zip(got, tm.parameters()):
        _close(p, tp.grad)
    m.zero_grad()
    x.grad = None
    m(x).sum().backward()
    for p, g in zip(m.parameters(), got):
        assert np.array_equal(p.grad, g)
    # a list of functions, one segment: nothing checkpointed, the same result
    y1 = checkpoint_sequential(list(m), 1, x, use_reentrant=True)
    assert np.array_equal(y1.data, y.data)


def test_checkpoint_use_reentrant_warning_and_errors():
    x = dg.tensor(np.ones(3), requires_grad=True)
    tx = torch.ones(3, dtype=torch.float64, requires_grad=True)
    for cp, t in ((checkpoint, x), (tcp.checkpoint, tx)):
        with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
            y = cp(lambda v: v * 2, t)
        assert y.requires_grad
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
        checkpoint_sequential([dnn.Identity()], 1, x)
    for cp, t in ((checkpoint, x), (tcp.checkpoint, tx)):
        with pytest.raises(ValueError, match="Unexpected keyword arguments: a,b"):
            cp(lambda v, a, b: v, t, a=1, b=2, use_reentrant=True)
        with pytest.raises(ValueError, match="context_fn"):
            cp(lambda v: v, t, use_reentrant=True, debug=True)
        with pytest.raises(ValueError, match="determinism_check should be one of"):
            cp(lambda v: v, t, use_reentrant=False, determinism_check="x")
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential([dnn.Identity()], 1, x, use_reentrant=False, foo=1)
    with pytest.raises(TypeError, match="function"):
        checkpoint(3, x, use_reentrant=False)


def test_checkpoint_backward_errors():
    x = dg.tensor(np.ones(3), requires_grad=True)
    y = checkpoint(lambda v: v.exp(), x, use_reentrant=False)
    with dg.no_grad():
        x.add_(1.0)  # the saved input changed in place
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()
    # a recomputation with other shapes: CheckpointError (determinism_check='default')
    calls = []

    def shape_changes(v):
        calls.append(1)
        return v.exp() if len(calls) == 1 else v.reshape(1, 3).exp()

    y = checkpoint(shape_changes, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="different metadata"):
        y.sum().backward()


def test_checkpoint_context_fn_and_no_grad():
    entered = []

    class Ctx:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            entered.append(self.name)

        def __exit__(self, *exc):
            return False

    x = dg.tensor(np.arange(1.0, 4.0), requires_grad=True)
    y = checkpoint(
        lambda v: v * v, x, use_reentrant=False, context_fn=lambda: (Ctx("fwd"), Ctx("rec"))
    )
    y.sum().backward()
    assert entered == ["fwd", "rec"]
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    with dg.no_grad():
        y = checkpoint(lambda v: v * v, x, use_reentrant=False)
    assert not y.requires_grad


# ---- functional_call --------------------------------------------------------------------


class _WithBuffer:
    @staticmethod
    def make(lib):
        nnm = dnn if lib is dg else torch.nn

        class M(nnm.Module):
            def __init__(self):
                super().__init__()
                self.lin = nnm.Linear(3, 2).double()
                self.register_buffer("shift", lib.tensor(np.array([0.5, -1.0])))

            def forward(self, x, scale=1.0):
                return self.lin(x) * scale + self.shift

        return M()


def test_functional_call_swapped_weights_and_grads():
    r = _rng(10)
    a = r.standard_normal((4, 3))
    W, b, s = r.standard_normal((2, 3)), r.standard_normal(2), r.standard_normal(2)
    res = []
    for lib in (dg, torch):
        m = _WithBuffer.make(lib)
        old = m.lin.weight
        params = {
            "lin.weight": lib.tensor(W, requires_grad=True),
            "lin.bias": lib.tensor(b, requires_grad=True),
        }
        out = (dfunc if lib is dg else tfunc).functional_call(
            m, (params, {"shift": lib.tensor(s)}), (lib.tensor(a),), {"scale": 2.0}
        )
        assert m.lin.weight is old and m.lin.weight.shape == (2, 3)
        out.pow(2).sum().backward()
        res.append((out, params["lin.weight"].grad, params["lin.bias"].grad))
        # a single non-tuple args, and grad of a loss through functional_call
        fn = dfunc if lib is dg else tfunc

        def loss(p, x, fn=fn, m=m):
            return fn.functional_call(m, p, x).tanh().sum()

        g = fn.grad(loss)({k: v.detach() for k, v in params.items()}, lib.tensor(a))
        res[-1] += (g["lin.weight"], g["lin.bias"])
    for u, v in zip(*res):
        _close(u, v)


def test_functional_call_errors_and_ties():
    for lib, fc in ((dg, dfunc.functional_call), (torch, tfunc.functional_call)):
        m = (dnn if lib is dg else torch.nn).Linear(3, 2)
        x = lib.ones(4, 3)
        w = lib.zeros(2, 3)
        with pytest.raises(RuntimeError, match="Unexpected key\\(s\\): 'foo'"):
            fc(m, {"weight": w, "foo": lib.zeros(2)}, (x,), strict=True)
        with pytest.raises(RuntimeError, match="Missing key\\(s\\): 'bias'"):
            fc(m, {"weight": w}, (x,), strict=True)
        with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
            fc(m, ({"weight": w}, {"weight": w}), (x,))
        with pytest.raises(ValueError, match="to be dictionaries"):
            fc(m, [1], (x,))
        with pytest.raises(AttributeError, match="has no attribute `a`"):
            fc(m, {"a.b": w}, (x,))
        fc(m, {"foo": lib.zeros(2)}, (x,))  # an unknown name: an attribute for the call
        assert not hasattr(m, "foo")
    # tied weights: one name's value applies to both (tie_weights=True)
    for lib, fc in ((dg, dfunc.functional_call), (torch, tfunc.functional_call)):
        nnm = dnn if lib is dg else torch.nn
        a, b = nnm.Linear(2, 2, bias=False), nnm.Linear(2, 2, bias=False)
        b.weight = a.weight
        m = nnm.Sequential(a, b)
        w = lib.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype=lib.float32)
        out = fc(m, {"0.weight": w}, lib.ones(1, 2))
        np.testing.assert_allclose(
            np.asarray(out.detach().numpy() if lib is torch else out.data), [[17.0, 37.0]]
        )
        out = fc(m, {"0.weight": w}, lib.ones(1, 2), tie_weights=False)
        assert not np.allclose(
            np.asarray(out.detach().numpy() if lib is torch else out.data), [[17.0, 37.0]]
        )
        with pytest.raises(ValueError, match="which are tied"):
            fc(m, {"0.weight": w, "1.weight": w * 2}, lib.ones(1, 2))


def test_stateless_functional_call_warns():
    m = dnn.Linear(3, 2)
    with pytest.warns(FutureWarning, match="stateless.functional_call` is deprecated"):
        out = dnn.utils.stateless.functional_call(m, {"weight": dg.zeros(2, 3)}, dg.ones(1, 3))
    np.testing.assert_array_equal(out.data, m.bias.data.reshape(1, 2))


# ---- grad, grad_and_value, vjp, jacrev, jacfwd, hessian -------------------------------------


def _f(x, w):
    return ((x @ w).tanh() ** 2).sum() + (x.exp() * 0.1).sum()


def _pair(*arrays, grad=False):
    return [dg.tensor(a, requires_grad=grad) for a in arrays], [
        torch.tensor(a, requires_grad=grad) for a in arrays
    ]


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_grad_argnums(argnums):
    r = _rng(11)
    (x, w), (tx, tw) = _pair(r.standard_normal((3, 4)), r.standard_normal(4))
    g, tg = dfunc.grad(_f, argnums)(x, w), tfunc.grad(_f, argnums)(tx, tw)
    for u, v in zip(*((g, tg) if isinstance(g, tuple) else ((g,), (tg,)))):
        _close(u, v)
        assert not u.requires_grad


def test_grad_pytree_has_aux_and_value():
    r = _rng(12)
    a, b, c = r.standard_normal(3), r.standard_normal((2, 3)), r.standard_normal(2)

    def f(p, scale):
        y = (p["b"] @ p["a"]).sin() * scale + p["c"][0]
        return (y**2).sum(), {"y": y}

    res = []
    for lib, fn in ((dg, dfunc), (torch, tfunc)):
        p = {"a": lib.tensor(a), "b": lib.tensor(b), "c": [lib.tensor(c)]}
        g, (v, aux) = fn.grad_and_value(f, has_aux=True)(p, 1.5)
        g2, aux2 = fn.grad(f, has_aux=True)(p, 1.5)
        assert list(g) == ["a", "b", "c"] and isinstance(g["c"], list)
        res.append((g["a"], g["b"], g["c"][0], v, aux["y"], g2["a"], aux2["y"]))
    for u, v in zip(*res):
        _close(u, v)


def test_grad_of_grad_and_outer_backward():
    a = np.array(0.7)
    gg = dfunc.grad(dfunc.grad(lambda x: (x**3).sin()))(dg.tensor(a))
    tgg = tfunc.grad(tfunc.grad(lambda x: (x**3).sin()))(torch.tensor(a))
    _close(gg, tgg)
    # a transform's result keeps a graph to a tensor requiring grad outside it
    w, tw = _pair(np.array([0.3, -1.2]), grad=True)
    for lib, fn, ww in ((dg, dfunc, w[0]), (torch, tfunc, tw[0])):
        g = fn.grad(lambda x, ww=ww: (x * ww).sin().sum())(lib.tensor(np.array([1.5, 0.5])))
        g.sum().backward()
    _close(w[0].grad, tw[0].grad)


def test_grad_errors():
    x = dg.tensor(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="to return a scalar Tensor, got tensor with 2 dims"):
        dfunc.grad(lambda t: t * 2)(x)
    with pytest.raises(RuntimeError, match="to return a Tensor, got"):
        dfunc.grad(lambda t: 3.0)(x)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        dfunc.grad(lambda t: t.sum())(dg.tensor(np.ones(3, np.int64)))
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        dfunc.grad(lambda t: t.sum(), argnums=2)(x)
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        dfunc.grad(lambda t: t.sum(), argnums=1.0)(x)
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        dfunc.grad(lambda t: t.sum(), argnums=())(x)
    with pytest.raises(RuntimeError, match="should be a tuple: \\(output, aux\\)"):
        dfunc.grad(lambda t: t.sum(), has_aux=True)(x)
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor"):
        dfunc.grad(lambda t: t)(3.0)
    # an argument the output does not depend on: zeros, as torch
    g = dfunc.grad(lambda a, b: a.sum(), argnums=1)(x, x)
    tg = tfunc.grad(lambda a, b: a.sum(), argnums=1)(torch.ones(2, 2), torch.ones(2, 2))
    _close(g, tg)


def test_vjp_pytree():
    r = _rng(13)
    a, b = r.standard_normal((3, 2)), r.standard_normal(2)
    ct1, ct2 = r.standard_normal(3), r.standard_normal((3, 2))

    def f(x, w):
        return {"s": (x @ w).exp(), "t": x * w}

    res = []
    for lib, fn in ((dg, dfunc), (torch, tfunc)):
        out, vjp_fn = fn.vjp(f, lib.tensor(a), lib.tensor(b))
        gx, gw = vjp_fn({"s": lib.tensor(ct1), "t": lib.tensor(ct2)})
        gx2, _ = vjp_fn({"s": lib.tensor(ct1) * 2, "t": lib.tensor(ct2) * 2})  # called again
        res.append((out["s"], out["t"], gx, gw, gx2))
    for u, v in zip(*res):
        _close(u, v)
    out, vjp_fn = dfunc.vjp(lambda x: x * 2, dg.tensor(a))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        vjp_fn(dg.ones(3))
    with pytest.raises(ValueError, match="must be Tensor"):
        dfunc.vjp(lambda x: x, 2.0)
    out, vjp_fn, aux = dfunc.vjp(lambda x: (x * 2, x.sum()), dg.tensor(a), has_aux=True)
    _close(aux, torch.tensor(a).sum())


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians(jac):
    r = _rng(14)
    a, b = r.standard_normal((3, 4)), r.standard_normal(4)

    def f(x, w):
        return (x.sin() * w).sum(0), (x @ w).tanh()

    (x, w), (tx, tw) = _pair(a, b)
    got = getattr(dfunc, jac)(f, argnums=(0, 1))(x, w)
    want = tfunc.jacrev(f, argnums=(0, 1))(tx, tw)  # torch's jacfwd imports torch.jit (warns)
    for go, wo in zip(got, want):
        for u, v in zip(go, wo):
            _close(u, v)
    j = dfunc.jacrev(lambda t: t.exp())(dg.tensor(np.ones((0, 2))))
    assert j.shape == (0, 2, 0, 2)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        dfunc.jacrev(lambda t: t * 2)(dg.tensor(np.ones(3, np.int64)))


def test_hessian():
    r = _rng(15)
    (x, w), (tx, tw) = _pair(r.standard_normal((3, 4)), r.standard_normal(4))
    for argnums in (0, 1, (0, 1)):
        h = dfunc.hessian(_f, argnums)(x, w)
        th = tfunc.jacrev(tfunc.jacrev(_f, argnums), argnums)(tx, tw)
        if isinstance(argnums, int):
            h, th = ((h,),), ((th,),)
        for hr, tr in zip(h, th):
            for u, v in zip(hr, tr):
                _close(u, v)
    h = dfunc.hessian(lambda t: (t**3).sum())(dg.tensor(np.array([1.0, 2.0])))
    np.testing.assert_allclose(h.data, np.diag([6.0, 12.0]), **TOL)


# ---- vmap ---------------------------------------------------------------------------------


def _vm(fn_dg, fn_t, args_np, **kw):
    got = dfunc.vmap(fn_dg, **kw)(
        *[dg.tensor(a) if isinstance(a, np.ndarray) else a for a in args_np]
    )
    want = tfunc.vmap(fn_t, **kw)(
        *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args_np]
    )
    return got, want


def test_vmap_in_out_dims():
    r = _rng(16)
    a, b, c = r.standard_normal((3, 4)), r.standard_normal(4), r.standard_normal((4, 3))

    def f(x, w):
        return (x * w).sum(), x * 2

    for kw in (
        {"in_dims": (0, None)},
        {"in_dims": (1, None), "out_dims": (0, 1)},
        {"in_dims": (-1, None), "out_dims": -1},
    ):
        x = a if kw["in_dims"][0] == 0 else c
        got, want = _vm(f, f, [x, b], **kw)
        for u, v in zip(got, want):
            _close(u, v)
    # a dict argument with nested in_dims, a non-Tensor argument with None
    d = {"x": a, "y": c}

    def g(p, s):
        return p["x"] * s + p["y"]

    got = dfunc.vmap(g, in_dims=({"x": 0, "y": 1}, None))(
        {k: dg.tensor(v) for k, v in d.items()}, 3.0
    )
    want = tfunc.vmap(g, in_dims=({"x": 0, "y": 1}, None))(
        {k: torch.tensor(v) for k, v in d.items()}, 3.0
    )
    _close(got, want)
    # out_dims None: an unbatched output
    got, want = _vm(
        lambda x, w: (x * w, w),
        lambda x, w: (x * w, w),
        [a, b],
        in_dims=(0, None),
        out_dims=(0, None),
    )
    for u, v in zip(got, want):
        _close(u, v)


def test_vmap_of_grad_nested_and_empty():
    r = _rng(17)
    a, b = r.standard_normal((5, 3)), r.standard_normal(3)

    def loss(w, x):
        return (x * w).tanh().sum()

    got = dfunc.vmap(dfunc.grad(loss), in_dims=(None, 0))(dg.tensor(b), dg.tensor(a))
    want = tfunc.vmap(tfunc.grad(loss), in_dims=(None, 0))(torch.tensor(b), torch.tensor(a))
    _close(got, want)
    m = r.standard_normal((2, 3, 4))
    got, want = _vm(dfunc.vmap(lambda t: t.sum()), tfunc.vmap(lambda t: t.sum()), [m])
    _close(got, want)
    got, want = _vm(lambda t: t * 2, lambda t: t * 2, [np.ones((0, 2))])
    _close(got, want)
    got, want = _vm(lambda t: t.sum(), lambda t: t.sum(), [np.ones((0, 2))], in_dims=1)
    _close(got, want)


def test_vmap_randomness():
    x = dg.tensor(np.ones(4))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        dfunc.vmap(lambda t: t + dg.rand(()))(x)
    same = dfunc.vmap(lambda t: t + dg.rand(()), randomness="same")(x)
    assert np.all(same.data == same.data[0])
    diff = dfunc.vmap(lambda t: t + dg.rand(()), randomness="different")(x)
    assert len(set(diff.data.tolist())) == 4
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        dfunc.vmap(lambda t: t, randomness="x")


def test_vmap_errors():
    x3, x4 = dg.ones(3), dg.ones(4)
    with pytest.raises(ValueError, match="same size in the mapped dimension, got sizes \\[3, 4\\]"):
        dfunc.vmap(lambda a, b: a + b)(x3, x4)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        dfunc.vmap(lambda a: a, in_dims=None)(x3)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        dfunc.vmap(lambda a: a, in_dims=0.5)(x3)
    with pytest.raises(ValueError, match="in_dims is not compatible with the structure"):
        dfunc.vmap(lambda a: a, in_dims=(0, 0))(x3)
    with pytest.raises(ValueError, match="expected in_dim to satisfy -1 <= in_dim < 1"):
        dfunc.vmap(lambda a: a, in_dims=2)(x3)
    with pytest.raises(ValueError, match="We cannot vmap over non-Tensor arguments"):
        dfunc.vmap(lambda a, s: a * s, in_dims=(0, 0))(x3, 2.0)
    with pytest.raises(ValueError, match="must only return Tensors"):
        dfunc.vmap(lambda a: 1.0)(x3)
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        dfunc.vmap(lambda a: a, out_dims=(0, 1))(x3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        dfunc.vmap(lambda a: a, out_dims=3)(dg.ones(3, 2))
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        dfunc.vmap(lambda a: a, chunk_size=0)
    with pytest.raises(ValueError, match="nothing to map over"):
        dfunc.vmap(lambda a: a, in_dims=(None,))(x3)


def test_namespaces():
    assert dg.func is dfunc
    for name in (
        "functional_call",
        "grad",
        "grad_and_value",
        "vjp",
        "jacrev",
        "jacfwd",
        "hessian",
        "vmap",
    ):
        assert name in dfunc.__all__ and hasattr(tfunc, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dnn.utils.stateless.functional_call is not dfunc.functional_call
