"""nn names part 2 (round 38) against torch 2.13: EmbeddingBag / F.embedding_bag, CTCLoss /
F.ctc_loss, nn.Buffer and the lazy modules."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn
import deltagrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _g(t):
    return np.asarray(t.grad)


# ---- embedding_bag -----------------------------------------------------------------------

X = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6, 6])
CASES = [
    dict(offsets=[0, 2, 5, 5]),
    dict(offsets=[0, 2, 5, 10], include_last_offset=True),
    dict(offsets=[0, 3], padding_idx=2),
    dict(offsets=[0, 3], padding_idx=-1),
    dict(offsets=[0, 3], max_norm=1.0),
    dict(offsets=[0]),
]


# per_sample_weights only with mode "sum" (torch refuses it elsewhere: tested with the errors)
@pytest.mark.parametrize(
    "mode,psw", [("sum", False), ("sum", True), ("mean", False), ("max", False)]
)
@pytest.mark.parametrize("kw", CASES)
def test_embedding_bag_matches_torch(mode, kw, psw):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3))
    wt = torch.tensor(w, requires_grad=True)
    wd = dg.Tensor(w.copy(), requires_grad=True)
    p = rng.random(10) + 0.1
    pt = torch.tensor(p, requires_grad=True) if psw else None
    pd = dg.Tensor(p, requires_grad=True) if psw else None
    kt = {k: torch.tensor(v) if k == "offsets" else v for k, v in kw.items()}
    kd = {k: dg.Tensor(np.array(v)) if k == "offsets" else v for k, v in kw.items()}
    rt = TF.embedding_bag(torch.tensor(X), wt, mode=mode, per_sample_weights=pt, **kt)
    rd = F.embedding_bag(dg.Tensor(X), wd, mode=mode, per_sample_weights=pd, **kd)
    np.testing.assert_allclose(rd.numpy(), rt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(rt.shape)
    rt.backward(torch.tensor(g))
    rd.backward(dg.Tensor(g))
    np.testing.assert_allclose(_g(wd), wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wd.numpy(), wt.detach().numpy(), rtol=1e-12)  # max_norm
    if psw:
        np.testing.assert_allclose(_g(pd), pt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_float32(mode):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    x = np.array([[1, 2, 3], [4, 4, 0]])
    rt = TF.embedding_bag(torch.tensor(x), torch.tensor(w), mode=mode)
    rd = F.embedding_bag(dg.Tensor(x), dg.Tensor(w), mode=mode)
    assert rd.dtype == np.float32
    np.testing.assert_allclose(rd.numpy(), rt.numpy(), rtol=1e-5, atol=1e-6)


def test_embedding_bag_scale_grad_by_freq_is_the_documented_rule():
    """torch 2.13's CPU kernel divides by a wrong count (pytorch#190063): compare with
    torch's embedding + a sum, the documented rule."""
    w = np.random.default_rng(2).standard_normal((7, 2))
    wt = torch.tensor(w, requires_grad=True)
    TF.embedding(torch.tensor(X), wt, scale_grad_by_freq=True).sum().backward()
    wd = dg.Tensor(w, requires_grad=True)
    F.embedding_bag(dg.Tensor(X), wd, dg.Tensor(np.array([0, 3])), mode="sum",
                    scale_grad_by_freq=True).sum().backward()  # fmt: skip
    np.testing.assert_allclose(_g(wd), wt.grad.numpy(), rtol=1e-12)


def test_embedding_bag_errors():
    w = dg.Tensor(np.ones((4, 2)))
    x = dg.Tensor(np.array([1, 2]))
    off = dg.Tensor(np.array([0]))
    with pytest.raises(ValueError, match="mode has to be one of"):
        F.embedding_bag(x, w, off, mode="foo")
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(x, w)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(dg.Tensor(np.ones((2, 2), np.int64)), w, off)
    with pytest.raises(RuntimeError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(x, w, dg.Tensor(np.array([1])))
    with pytest.raises(RuntimeError, match=r"offsets\[-1\] can not be greater"):
        F.embedding_bag(x, w, dg.Tensor(np.array([0, 3])))
    with pytest.raises(IndexError):
        F.embedding_bag(dg.Tensor(np.array([4])), w, off)
    with pytest.raises(TypeError):
        F.embedding_bag(dg.Tensor(np.array([1.0])), w, off)
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(x, w, off, mode="mean", per_sample_weights=dg.Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="same shape as the input"):
        F.embedding_bag(x, w, off, mode="sum", per_sample_weights=dg.Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="max mode does not support scaling"):
        F.embedding_bag(x, w, off, mode="max", scale_grad_by_freq=True)
    with pytest.raises(RuntimeError, match="padding_idx must be within"):
        F.embedding_bag(x, w, off, padding_idx=4)


def test_embedding_bag_module():
    m = dnn.EmbeddingBag(10, 3, mode="sum", padding_idx=1)
    assert repr(m) == repr(torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=1))
    assert list(m.state_dict()) == ["weight"]
    assert np.all(m.weight.numpy()[1] == 0)
    w = np.random.default_rng(3).standard_normal((6, 2))
    md = dnn.EmbeddingBag.from_pretrained(dg.Tensor(w), mode="max")
    mt = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), mode="max")
    assert not md.weight.requires_grad and repr(md) == repr(mt)
    x = np.array([[1, 5, 3], [0, 0, 2]])
    np.testing.assert_allclose(md(dg.Tensor(x)).numpy(), mt(torch.tensor(x)).numpy())


# ---- ctc_loss ----------------------------------------------------------------------------


def _ctc_data(seed=0, t=7, n=3, c=5):
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(t, n, c, dtype=torch.float64, generator=g).log_softmax(-1)
    tg = torch.tensor([[1, 2, 2], [3, 3, 1], [4, 0, 0]])
    return lp, tg, torch.tensor([3, 2, 1])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("in_len", [[7, 5, 6], [7, 1, 0], [3, 5, 2]])
@pytest.mark.parametrize("blank", [0, 4])
def test_ctc_loss_matches_torch(reduction, zero_infinity, in_len, blank):
    lp, tg, tl = _ctc_data()
    if blank == 4:
        tg = torch.where(tg == 4, 0, tg)
    il = torch.tensor(in_len)
    lpt = lp.clone().requires_grad_()
    lt = TF.ctc_loss(lpt, tg, il, tl, blank, reduction, zero_infinity)
    lpd = dg.Tensor(lp.numpy().copy(), requires_grad=True)
    ld = F.ctc_loss(lpd, dg.Tensor(tg.numpy()), dg.Tensor(il.numpy()), dg.Tensor(tl.numpy()),
                    blank, reduction, zero_infinity)  # fmt: skip
    np.testing.assert_allclose(ld.numpy(), lt.detach().numpy(), rtol=1e-12, atol=1e-12)
    if np.isfinite(lt.detach().numpy()).all():
        g = torch.rand(lt.shape, dtype=torch.float64) + 0.5
        lt.backward(g)
        ld.backward(dg.Tensor(g.numpy()))
        np.testing.assert_allclose(_g(lpd), lpt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_ctc_loss_forms():
    lp, tg, tl = _ctc_data(1)
    flat = torch.tensor([1, 2, 2, 3, 3, 4])
    il = (7, 5, 6)
    want = TF.ctc_loss(lp, flat, il, tuple(tl.tolist()), reduction="none").numpy()
    got = F.ctc_loss(
        dg.Tensor(lp.numpy()), dg.Tensor(flat.numpy()), il, [3, 2, 1], reduction="none"
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # batch-less
    want = TF.ctc_loss(lp[:, 0], tg[0], torch.tensor(7), torch.tensor(3)).numpy()
    got = F.ctc_loss(dg.Tensor(lp[:, 0].numpy()), dg.Tensor(tg[0].numpy()),
                     dg.Tensor(np.array(7)), dg.Tensor(np.array(3)))  # fmt: skip
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # float32, module
    lp32 = lp.float()
    want = torch.nn.CTCLoss()(lp32, tg, torch.tensor([7, 5, 6]), tl).numpy()
    m = dnn.CTCLoss()
    assert repr(m) == "CTCLoss()"
    got = m(dg.Tensor(lp32.numpy()), dg.Tensor(tg.numpy()), [7, 5, 6], [3, 2, 1])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_ctc_loss_errors():
    lp, tg, tl = _ctc_data()
    a = (dg.Tensor(lp.numpy()), dg.Tensor(tg.numpy()))
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        F.ctc_loss(*a, [7, 7, 7], [3, 2, 1], blank=5)
    with pytest.raises(RuntimeError, match="at most 7"):
        F.ctc_loss(*a, [8, 7, 7], [3, 2, 1])
    with pytest.raises(RuntimeError, match="input_lengths must be of size batch_size"):
        F.ctc_loss(*a, [7], [3, 2, 1])
    with pytest.raises(RuntimeError, match="size at least 4 at dimension 1"):
        F.ctc_loss(*a, [7, 7, 7], [4, 2, 1])
    with pytest.raises(ValueError, match="reduction"):
        F.ctc_loss(*a, [7, 7, 7], [3, 2, 1], reduction="foo")
    with pytest.raises(TypeError, match="integral"):
        F.ctc_loss(*a, dg.Tensor(np.array([7.0, 7, 7])), [3, 2, 1])
    with pytest.raises(RuntimeError, match="at least 0"):
        F.ctc_loss(*a, [7, -1, 7], [3, 2, 1])


# ---- Buffer, lazy modules ----------------------------------------------------------------


@pytest.mark.parametrize("lib", [dnn, torch.nn], ids=["dg", "torch"])
def test_buffer_assignment_registers(lib):
    t = dg.Tensor(np.ones(3)) if lib is dnn else torch.ones(3)
    m = lib.Module()
    m.a = lib.Buffer(t)
    m.b = lib.Buffer(t, persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert list(m.parameters()) == []
    lin = lib.Linear(2, 2)
    with pytest.raises(TypeError):
        lin.weight = lib.Buffer(t)


@pytest.mark.parametrize(
    "name,args,shape",
    [
        ("LazyLinear", (4,), (2, 3)),
        ("LazyConv1d", (4, 3), (2, 3, 6)),
        ("LazyConv2d", (4, 3), (2, 3, 6, 6)),
        ("LazyConv3d", (4, 2), (1, 3, 4, 4, 4)),
        ("LazyConvTranspose1d", (4, 3), (2, 3, 6)),
        ("LazyConvTranspose2d", (4, 3), (2, 3, 6, 6)),
        ("LazyConvTranspose3d", (4, 2), (1, 3, 4, 4, 4)),
        ("LazyBatchNorm1d", (), (4, 3)),
        ("LazyBatchNorm2d", (), (2, 3, 4, 4)),
        ("LazyBatchNorm3d", (), (2, 3, 2, 2, 2)),
        ("LazyInstanceNorm1d", (), (2, 3, 5)),
        ("LazyInstanceNorm2d", (), (2, 3, 4, 4)),
        ("LazyInstanceNorm3d", (), (2, 3, 2, 2, 2)),
    ],
)
def test_lazy_modules(name, args, shape):
    mt, md = getattr(torch.nn, name)(*args), getattr(dnn, name)(*args)
    assert repr(md) == repr(mt)
    assert md.has_uninitialized_params()
    assert list(md.state_dict()) == list(mt.state_dict())
    assert isinstance(md.weight, dnn.UninitializedParameter)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    yt, yd = mt(torch.tensor(x)), md(dg.Tensor(x))
    assert type(md).__name__ == type(mt).__name__
    assert repr(md) == repr(mt)
    assert type(md.weight) is dnn.Parameter and md.weight.shape == tuple(mt.weight.shape)
    assert yd.shape == tuple(yt.shape)
    md.load_state_dict({k: v.detach().numpy() for k, v in mt.state_dict().items()})
    np.testing.assert_allclose(md(dg.Tensor(x)).numpy(), mt(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_lazy_load_state_dict_materializes_and_optimizer():
    m = dnn.LazyLinear(4)
    opt = dg.optim.SGD(m.parameters(), lr=0.1)  # torch accepts uninitialized parameters too
    m.load_state_dict({k: v.numpy() for k, v in torch.nn.Linear(3, 4).state_dict().items()})
    assert type(m).__name__ == "LazyLinear" and m.weight.shape == (4, 3)  # as torch
    m(dg.randn(2, 3)).sum().backward()
    opt.step()
    assert type(m).__name__ == "Linear"
    s = dnn.Sequential(dnn.LazyLinear(3), dnn.ReLU(), dnn.LazyLinear(2))
    assert s(dg.randn(2, 5)).shape == (2, 2)
    assert s[2].in_features == 3
