"""Attention against torch 2.13 (round 35): F.scaled_dot_product_attention,
F.multi_head_attention_forward and nn.MultiheadAttention -- forward, attention weights and the
gradients of query / key / value, float masks and every parameter, over bool / float / causal
masks, fully masked rows, kdim / vdim, add_bias_kv, add_zero_attn, batch_first, unbatched
inputs, enable_gqa, and torch's exception types."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pair(a, grad=True):
    """(deltagrad tensor, torch tensor) of the same array, both requiring grad if asked."""
    d = dg.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f")
    t = torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f")
    return d, t


def _close(d, t, dtype=np.float64):
    tol = TOL[dtype]
    td = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    dd = d.numpy() if isinstance(d, dg.Tensor) else np.asarray(d)
    np.testing.assert_allclose(dd, td, rtol=tol, atol=tol)


def _bool_mask(rng, shape, keep_first=True):
    """A random bool mask with True on about a third; column 0 never masked when keep_first,
    so no row is fully masked."""
    m = rng.random(shape) < 0.35
    if keep_first:
        m[..., 0] = False
    return m


# ---- scaled_dot_product_attention ------------------------------------------------------------


def _sdpa_case(rng, mask_kind, qshape=(2, 3, 4, 5), s=6, ev=7, dtype=np.float64):
    *lead, L, E = qshape
    q = rng.standard_normal(qshape).astype(dtype)
    k = rng.standard_normal((*lead, s, E)).astype(dtype)
    v = rng.standard_normal((*lead, s, ev)).astype(dtype)
    mask = None
    if mask_kind == "bool2d":
        mask = ~_bool_mask(rng, (L, s))  # SDPA: True = takes part
    elif mask_kind == "bool_batch":
        mask = ~_bool_mask(rng, (lead[0], 1, L, s))
    elif mask_kind == "float_heads":
        mask = rng.standard_normal((lead[1], L, s)).astype(dtype)
    elif mask_kind == "float_row":
        mask = rng.standard_normal((1, s)).astype(dtype)
    elif mask_kind == "float_inf":
        mask = rng.standard_normal((L, s)).astype(dtype)
        mask[_bool_mask(rng, (L, s))] = -np.inf
    return q, k, v, mask


def _run_sdpa(q, k, v, mask, dtype=np.float64, **kw):
    dq, tq = _pair(q)
    dk, tk = _pair(k)
    dv, tv = _pair(v)
    dm = tm = None
    if mask is not None:
        dm, tm = _pair(mask)
    do = F.scaled_dot_product_attention(dq, dk, dv, attn_mask=dm, **kw)
    to = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    _close(do, to, dtype)
    g = _rng(7).standard_normal(to.shape).astype(dtype)
    (do * dg.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    pairs = [(dq, tq), (dk, tk), (dv, tv)]
    if mask is not None and mask.dtype.kind == "f":
        pairs.append((dm, tm))
    for d, t in pairs:
        _close(d.grad, t.grad, dtype)
    return do


@pytest.mark.parametrize(
    "mask_kind", [None, "bool2d", "bool_batch", "float_heads", "float_row", "float_inf"]
)
@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_masks_and_causal(mask_kind, is_causal):
    q, k, v, mask = _sdpa_case(_rng(1), mask_kind)
    if not (is_causal and mask is not None):
        _run_sdpa(q, k, v, mask, is_causal=is_causal)
        return
    # torch's math path (the one with gradients) refuses both; deltagrad always does
    for lib, mk in ((TF, torch.tensor), (F, dg.tensor)):
        args = (mk(q), mk(k), mk(v))
        args[0].requires_grad_()
        with pytest.raises(RuntimeError, match="attn_mask should not be set"):
            lib.scaled_dot_product_attention(*args, attn_mask=mk(mask), is_causal=True)


@pytest.mark.parametrize("scale", [None, 0.3, 2.0])
def test_sdpa_scale(scale):
    q, k, v, mask = _sdpa_case(_rng(2), "float_heads")
    _run_sdpa(q, k, v, mask, scale=scale)


@pytest.mark.parametrize(
    "qshape,s", [((4, 5), 3), ((5, 2), 3), ((3, 1, 1, 4), 1), ((2, 3, 1, 3), 5)]
)
def test_sdpa_shapes_and_causal_wide_or_tall(qshape, s):
    """Unbatched (2-d), L > S and L < S with is_causal (top-left aligned), size-1 sequences."""
    q, k, v, _ = _sdpa_case(_rng(3), None, qshape=qshape, s=s)
    _run_sdpa(q, k, v, None)
    _run_sdpa(q, k, v, None, is_causal=True)


@pytest.mark.parametrize("hk", [1, 2, 4])
def test_sdpa_enable_gqa(hk):
    rng = _rng(4)
    q = rng.standard_normal((2, 4, 3, 5))
    k = rng.standard_normal((2, hk, 6, 5))
    v = rng.standard_normal((2, hk, 6, 3))
    _run_sdpa(q, k, v, ~_bool_mask(rng, (3, 6)), enable_gqa=True)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_row_is_zero(kind):
    """torch's kernels give zeros (and zero gradients) where a row has no position left."""
    q, k, v, _ = _sdpa_case(_rng(5), None)
    keep = ~_bool_mask(_rng(6), (4, 6))
    keep[2] = False
    mask = keep if kind == "bool" else np.where(keep, 0.5, -np.inf)
    do = _run_sdpa(q, k, v, mask)
    assert np.all(do.numpy()[:, :, 2] == 0)


def test_sdpa_float32():
    q, k, v, mask = _sdpa_case(_rng(8), "float_heads", dtype=np.float32)
    _run_sdpa(q, k, v, mask, dtype=np.float32)
    _run_sdpa(q, k, v, None, dtype=np.float32, is_causal=True)


def test_sdpa_dropout_one_and_gradcheck():
    q, k, v, _ = _sdpa_case(_rng(9), None, qshape=(1, 2, 3, 2), s=3, ev=2)
    out = F.scaled_dot_product_attention(dg.tensor(q), dg.tensor(k), dg.tensor(v), dropout_p=1.0)
    assert np.all(out.numpy() == 0)
    m = np.where(_bool_mask(_rng(10), (3, 3)), -np.inf, 0.0)
    dg.gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=dg.tensor(m)),
        tuple(dg.tensor(a, requires_grad=True) for a in (q, k, v)),
    )


def test_sdpa_errors():
    q, k, v, _ = _sdpa_case(_rng(11), None)
    cases = [
        dict(query=q, key=k, value=v, attn_mask=np.ones((3, 6), bool)),  # does not broadcast
        dict(query=q, key=k, value=v, attn_mask=np.ones((4, 6), np.int64)),  # int mask
        dict(query=q.astype(np.float32), key=k, value=v),  # dtypes differ
        dict(query=q, key=k[:, :2], value=v[:, :2], enable_gqa=True),  # 3 heads over 2
        dict(query=q[0, 0, 0], key=k[0, 0, 0], value=v[0, 0, 0]),  # 1-d
    ]
    for kw in cases:
        tkw = {n: torch.tensor(a) for n, a in kw.items() if n != "enable_gqa"}
        dkw = {n: dg.tensor(a) for n, a in kw.items() if n != "enable_gqa"}
        gqa = kw.get("enable_gqa", False)
        with pytest.raises(RuntimeError):
            TF.scaled_dot_product_attention(**tkw, enable_gqa=gqa)
        with pytest.raises(RuntimeError):
            F.scaled_dot_product_attention(**dkw, enable_gqa=gqa)


# ---- nn.MultiheadAttention -------------------------------------------------------------------


def _mha_pair(dtype=np.float64, **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(dtype=tdt, **kw)
    if tm.in_proj_bias is not None:  # nonzero biases, so their gradients mean something
        with torch.no_grad():
            tm.in_proj_bias.uniform_(-0.5, 0.5)
            tm.out_proj.bias.uniform_(-0.5, 0.5)
    dm = dnn.MultiheadAttention(dtype=dtype, **kw)
    assert list(dm.state_dict()) == list(tm.state_dict())
    dm.load_state_dict({n: p.detach().numpy().copy() for n, p in tm.state_dict().items()})
    return dm, tm


def _run_mha(dm, tm, q, k, v, kpm=None, am=None, dtype=np.float64, **kw):
    ins = [_pair(a) for a in (q, k, v)]
    masks = {}
    for name, m in (("key_padding_mask", kpm), ("attn_mask", am)):
        if m is not None:
            masks[name] = _pair(m)
    do, dw = dm(*(d for d, _ in ins), **{n: d for n, (d, _) in masks.items()}, **kw)
    to, tw = tm(*(t for _, t in ins), **{n: t for n, (_, t) in masks.items()}, **kw)
    _close(do, to, dtype)
    assert (dw is None) == (tw is None)
    rng = _rng(12)
    dl, tl = 0, 0
    for d, t in ((do, to), (dw, tw)):
        if t is not None:
            _close(d, t, dtype)
            g = rng.standard_normal(t.shape).astype(dtype)
            dl, tl = dl + (d * dg.tensor(g)).sum(), tl + (t * torch.tensor(g)).sum()
    dl.backward()
    tl.backward()
    for d, t in ins:
        _close(d.grad, t.grad, dtype)
    for d, t in masks.values():
        if t.dtype.is_floating_point:
            _close(d.grad, t.grad, dtype)
    dp, tp = dict(dm.named_parameters()), dict(tm.named_parameters())
    assert list(dp) == list(tp)
    for name in tp:
        _close(dp[name].grad, tp[name].grad, dtype)
    return do, dw


def _masks(rng, kind, L, S, N, H):
    """(key_padding_mask, attn_mask, is_causal) for a mask kind; bool True = masked out."""
    f = rng.standard_normal
    if kind == "none":
        return None, None, False
    if kind == "bool_attn":
        return None, _bool_mask(rng, (L, S)), False
    if kind == "float_attn":
        return None, f((L, S)), False
    if kind == "bool_attn3d":
        return None, _bool_mask(rng, (N * H, L, S)), False
    if kind == "float_attn3d":
        return None, f((N * H, L, S)), False
    if kind == "bool_kpm":
        return _bool_mask(rng, (N, S)), None, False
    if kind == "float_kpm":
        return f((N, S)), None, False
    if kind == "bool_both":
        return _bool_mask(rng, (N, S)), _bool_mask(rng, (L, S)), False
    if kind == "float_both":
        return f((N, S)), f((N * H, L, S)), False
    if kind == "causal":
        return None, ~np.tril(np.ones((L, S), bool)), True
    if kind == "causal_kpm":
        return _bool_mask(rng, (N, S)), ~np.tril(np.ones((L, S), bool)), True
    raise AssertionError(kind)


MASK_KINDS = [
    "none",
    "bool_attn",
    "float_attn",
    "bool_attn3d",
    "float_attn3d",
    "bool_kpm",
    "float_kpm",
    "bool_both",
    "float_both",
    "causal",
    "causal_kpm",
]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_masks(kind, heads, need_weights, average):
    L, S, N, E = 5, 5, 3, 8
    rng = _rng(13)
    dm, tm = _mha_pair(embed_dim=E, num_heads=heads)
    kpm, am, causal = _masks(rng, kind, L, S, N, heads)
    x = rng.standard_normal((L, N, E))
    kv = rng.standard_normal((S, N, E))
    _run_mha(
        dm,
        tm,
        x,
        kv,
        kv,
        kpm,
        am,
        need_weights=need_weights,
        average_attn_weights=average,
        is_causal=causal,
    )


OPTIONS = [
    dict(add_bias_kv=True),
    dict(add_zero_attn=True),
    dict(add_bias_kv=True, add_zero_attn=True),
    dict(kdim=5, vdim=3),
    dict(kdim=5, vdim=3, add_bias_kv=True, add_zero_attn=True),
    dict(bias=False),
    dict(batch_first=True),
    dict(batch_first=True, kdim=6, vdim=6),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("kind", ["none", "bool_both", "float_attn3d"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_options(opts, kind, need_weights):
    L, S, N, E, H = 4, 6, 2, 8, 2
    rng = _rng(14)
    dm, tm = _mha_pair(embed_dim=E, num_heads=H, **opts)
    extra = int(opts.get("add_bias_kv", False)) + int(opts.get("add_zero_attn", False))
    kpm, am, _ = _masks(rng, kind, L, S, N, H)
    if am is not None and am.ndim == 3 and extra:
        am = np.concatenate([am, rng.standard_normal((N * H, L, extra))], axis=-1)[..., :S]
    kd, vd = opts.get("kdim", E), opts.get("vdim", E)
    shape = (lambda n, s, e: (n, s, e)) if opts.get("batch_first") else (lambda n, s, e: (s, n, e))
    q = rng.standard_normal(shape(N, L, E))
    k = rng.standard_normal(shape(N, S, kd))
    v = rng.standard_normal(shape(N, S, vd))
    _run_mha(dm, tm, q, k, v, kpm, am, need_weights=need_weights)


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["none", "bool", "float3d"])
def test_mha_unbatched(heads, need_weights, kind):
    L, S, E = 3, 4, 8
    rng = _rng(15)
    dm, tm = _mha_pair(embed_dim=E, num_heads=heads, add_bias_kv=True)
    kpm = _bool_mask(rng, (S,)) if kind == "bool" else None
    am = rng.standard_normal((heads, L, S)) if kind == "float3d" else None
    q, k = rng.standard_normal((L, E)), rng.standard_normal((S, E))
    do, dw = _run_mha(dm, tm, q, k, k, kpm, am, need_weights=need_weights)
    assert do.shape == (L, E)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_fully_masked_row(need_weights):
    """need_weights: torch's plain softmax, NaN in the masked batch; else SDPA's zeros."""
    dm, tm = _mha_pair(embed_dim=4, num_heads=2)
    rng = _rng(16)
    kpm = np.zeros((2, 3), bool)
    kpm[1] = True
    x = rng.standard_normal((3, 2, 4))
    do, _ = _run_mha(dm, tm, x, x, x, kpm, None, need_weights=need_weights)
    assert np.isnan(do.numpy()[:, 1]).all() == need_weights


def test_mha_float32_and_eval_dropout():
    dm, tm = _mha_pair(np.float32, embed_dim=8, num_heads=4, dropout=0.5)
    dm.eval()
    tm.eval()
    rng = _rng(17)
    kpm, am, _ = _masks(rng, "bool_both", 4, 5, 2, 4)
    q, k = rng.standard_normal((4, 2, 8)), rng.standard_normal((5, 2, 8))
    q, k = q.astype(np.float32), k.astype(np.float32)
    _run_mha(dm, tm, q, k, k, kpm, am, dtype=np.float32)
    dm.train()
    out, _ = dm(dg.tensor(q), dg.tensor(k), dg.tensor(k))  # dropout runs; shapes hold
    assert out.shape == (4, 2, 8) and np.isfinite(out.numpy()).all()


def test_mha_init_and_layout():
    dm = dnn.MultiheadAttention(12, 3, add_bias_kv=True)
    tm = torch.nn.MultiheadAttention(12, 3, add_bias_kv=True)
    assert list(dm.state_dict()) == list(tm.state_dict())
    for n, p in tm.state_dict().items():
        assert dm.state_dict()[n].shape == tuple(p.shape), n
    assert isinstance(dm.out_proj, dnn.Linear)
    assert type(dm.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    bound = math.sqrt(6.0 / (12 + 36))
    w = dm.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
    assert np.all(dm.in_proj_bias.numpy() == 0) and np.all(dm.out_proj.bias.numpy() == 0)
    assert dm.in_proj_weight.dtype == np.float32
    sep = dnn.MultiheadAttention(6, 2, kdim=4, vdim=5, bias=False)
    assert sep.in_proj_weight is None and sep.in_proj_bias is None and sep.out_proj.bias is None
    assert sep.k_proj_weight.shape == (6, 4) and sep.v_proj_weight.shape == (6, 5)
    assert (sep.embed_dim, sep.num_heads, sep.head_dim, sep.kdim, sep.vdim) == (6, 2, 3, 4, 5)
    assert repr(dm) == repr(tm)


def test_mha_mismatched_mask_types_warn():
    for lib, mk in ((dnn, dg.tensor), (torch.nn, torch.tensor)):
        m = lib.MultiheadAttention(4, 2)
        x = mk(np.ones((3, 2, 4), np.float32))
        kpm = mk(np.zeros((2, 3), bool))
        am = mk(np.zeros((3, 3), np.float32))
        with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
            m(x, x, x, key_padding_mask=kpm, attn_mask=am)


def _both(fn):
    """fn(lib, mk) for deltagrad and torch, returning the two exceptions' types."""
    return fn(dnn, dg.tensor), fn(torch.nn, torch.tensor)


@pytest.mark.parametrize(
    "case",
    [
        "indivisible",
        "zero_dim",
        "mask2d_shape",
        "mask3d_shape",
        "mask4d",
        "kpm_shape",
        "kpm_int",
        "causal_no_mask",
        "query_4d",
        "key_2d",
    ],
)
def test_mha_errors(case):
    def run(lib, mk):
        x = mk(np.ones((3, 2, 4)))
        try:
            if case == "indivisible":
                lib.MultiheadAttention(7, 2)
            elif case == "zero_dim":
                lib.MultiheadAttention(0, 2)
            m = lib.MultiheadAttention(4, 2, dtype=torch.float64 if lib is torch.nn else None)
            if lib is dnn:
                m = m.double()
            kw = {
                "mask2d_shape": dict(attn_mask=mk(np.zeros((3, 2), bool))),
                "mask3d_shape": dict(attn_mask=mk(np.zeros((3, 3, 3), bool))),
                "mask4d": dict(attn_mask=mk(np.zeros((1, 4, 3, 3), bool))),
                "kpm_shape": dict(key_padding_mask=mk(np.zeros((2, 4), bool))),
                "kpm_int": dict(key_padding_mask=mk(np.zeros((2, 3), np.int64))),
                "causal_no_mask": dict(is_causal=True),
            }.get(case, {})
            q = mk(np.ones((1, 3, 2, 4))) if case == "query_4d" else x
            k = mk(np.ones((3, 4))) if case == "key_2d" else x
            m(q, k, k, **kw)
        except Exception as e:  # noqa: BLE001 - the type is what is compared
            return e
        return None

    de, te = _both(run)
    assert te is not None and de is not None, (de, te)
    assert isinstance(de, type(te)), (de, te)


def test_functional_mha_matches_torch():
    """F.multi_head_attention_forward called directly, packed weights, static-free."""
    rng = _rng(18)
    E, H = 6, 3
    w, b = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    ow, ob = rng.standard_normal((E, E)), rng.standard_normal(E)
    x = rng.standard_normal((4, 2, E))
    args = [x, x, x, E, H, w, b, None, None, False, 0.0, ow, ob]
    do, dw = F.multi_head_attention_forward(
        *[dg.tensor(a) if isinstance(a, np.ndarray) else a for a in args],
        average_attn_weights=False,
    )
    to, tw = TF.multi_head_attention_forward(
        *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args],
        average_attn_weights=False,
    )
    _close(do, to)
    _close(dw, tw)
    assert dw.shape == (2, H, 4, 4)


# ---- nn.TransformerEncoderLayer --------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["none", "bool_both", "float_attn", "causal"])
def test_transformer_encoder_layer(norm_first, activation, batch_first, kind):
    E, H, S, N = 8, 2, 5, 3
    kw = dict(dim_feedforward=12, dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    torch.manual_seed(1)
    tact = torch.tanh if activation == "callable" else activation
    dact = dg.tanh if activation == "callable" else activation
    tl = torch.nn.TransformerEncoderLayer(E, H, activation=tact, dtype=torch.float64, **kw)
    dl = dnn.TransformerEncoderLayer(E, H, activation=dact, dtype=np.float64, **kw)
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for n in ("norm1", "norm2"):
            getattr(tl, n).weight.uniform_(0.5, 1.5)
            getattr(tl, n).bias.uniform_(-0.5, 0.5)
    assert list(dl.state_dict()) == list(tl.state_dict())
    dl.load_state_dict({n: p.detach().numpy().copy() for n, p in tl.state_dict().items()})
    rng = _rng(19)
    kpm, am, causal = _masks(rng, kind, S, S, N, H)
    x = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    dx, tx = _pair(x)
    dm = {}
    tm = {}
    for name, m in (("src_key_padding_mask", kpm), ("src_mask", am)):
        if m is not None:
            dm[name], tm[name] = _pair(m)
    do = dl(dx, **dm, is_causal=causal)
    to = tl(tx, **tm, is_causal=causal)
    _close(do, to)
    g = rng.standard_normal(to.shape)
    (do * dg.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    _close(dx.grad, tx.grad)
    for (n, dp), (tn, tp) in zip(dl.named_parameters(), tl.named_parameters()):
        assert n == tn
        _close(dp.grad, tp.grad)
    for n in dm:
        if tm[n].dtype.is_floating_point:
            _close(dm[n].grad, tm[n].grad)


def test_transformer_encoder_layer_unbatched_and_errors():
    torch.manual_seed(2)
    tl = torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=torch.float64)
    dl = dnn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=np.float64)
    dl.load_state_dict({n: p.detach().numpy().copy() for n, p in tl.state_dict().items()})
    x = _rng(20).standard_normal((3, 4))
    _close(dl(dg.tensor(x)), tl(torch.tensor(x, requires_grad=True)))
    assert dl.activation_relu_or_gelu == tl.activation_relu_or_gelu == 1
    with pytest.raises(RuntimeError, match="relu/gelu"):
        torch.nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(RuntimeError, match="relu/gelu"):
        dnn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(AssertionError):
        dnn.TransformerEncoderLayer(5, 2)
