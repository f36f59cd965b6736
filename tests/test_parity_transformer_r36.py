"""nn.TransformerEncoder, nn.TransformerDecoderLayer, nn.TransformerDecoder and nn.Transformer
against torch 2.13 (round 36), each loaded from torch's state_dict: outputs and the gradients
of src / tgt / memory, of float masks and of every parameter, over bool / float / causal /
key-padding masks, causal-mask detection, batch_first, norm_first, gelu and callable
activations, unbatched inputs, 1 and 2 layers, the final norm, eval-mode dropout, float32,
generate_square_subsequent_mask, initialization, state_dict layout and torch's exception
types."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
E, H, FF = 8, 2, 12


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
    assert dd.shape == td.shape
    np.testing.assert_allclose(dd, td, rtol=tol, atol=tol)


def _bool_mask(rng, shape):
    """True (masked out) on about a third; column 0 never masked, so no row is fully masked."""
    m = rng.random(shape) < 0.35
    m[..., 0] = False
    return m


def _quiet(fn, *args, **kw):
    """fn(*args, **kw) with torch's enable_nested_tensor warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


def _load(dm, tm):
    """Nonzero biases and non-trivial LayerNorm affine parameters in tm, copied into dm."""
    with torch.no_grad():
        for name, p in tm.named_parameters():
            if p.dim() == 1:
                lo, hi = (
                    (0.5, 1.5)
                    if name.split(".")[-2].startswith("norm") and (name.endswith("weight"))
                    else (-0.5, 0.5)
                )
                p.uniform_(lo, hi)
    assert list(dm.state_dict()) == list(tm.state_dict())
    dm.load_state_dict({n: p.detach().numpy().copy() for n, p in tm.state_dict().items()})


def _check(dm, tm, dargs, targs, dkw, tkw, dtype=np.float64):
    """Forward of both, then the gradients of every tensor argument that requires grad (inputs
    and float masks) and of every parameter, for a random output weighting."""
    do, to = dm(*dargs, **dkw), tm(*targs, **tkw)
    _close(do, to, dtype)
    g = _rng(99).standard_normal(to.shape).astype(dtype)
    (do * dg.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    dts = list(dargs) + list(dkw.values())
    tts = list(targs) + list(tkw.values())
    for d, t in zip(dts, tts):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad is None:  # a causal mask that is_causal stands for: unused, as torch
                assert d.grad is None
            else:
                _close(d.grad, t.grad, dtype)
    dp, tp = dict(dm.named_parameters()), dict(tm.named_parameters())
    assert list(dp) == list(tp)
    for name in tp:
        _close(dp[name].grad, tp[name].grad, dtype)
    return do


def _shape(batch_first, n, s):
    return (n, s, E) if batch_first else (s, n, E)


def _mask_pairs(masks):
    """{name: array} -> ({name: deltagrad tensor}, {name: torch tensor})."""
    dkw, tkw = {}, {}
    for name, m in masks.items():
        if m is not None:
            dkw[name], tkw[name] = _pair(m)
    return dkw, tkw


def _causal_bool(n):
    return ~np.tril(np.ones((n, n), bool))


def _causal_float(n, dtype=np.float64):
    return np.triu(np.full((n, n), -np.inf, dtype), 1)


# ---- TransformerEncoder ----------------------------------------------------------------------


def _encoder_masks(rng, kind, S, N):
    """(masks, is_causal) for TransformerEncoder.forward; bool True = masked out."""
    f = rng.standard_normal
    kinds = {
        "none": ({}, None),
        "bool_both": ({"mask": _bool_mask(rng, (S, S)), "src_key_padding_mask": None}, None),
        "float3d_kpm": ({"mask": f((N * H, S, S)), "src_key_padding_mask": f((N, S))}, None),
        "bool_kpm": ({"src_key_padding_mask": _bool_mask(rng, (N, S))}, None),
        "causal_detected": ({"mask": _causal_float(S)}, None),
        "causal_bool_kpm": (
            {"mask": _causal_bool(S), "src_key_padding_mask": _bool_mask(rng, (N, S))},
            True,
        ),
        "causal_explicit_false": ({"mask": _causal_float(S)}, False),
    }
    masks, causal = kinds[kind]
    if kind == "bool_both":
        masks["src_key_padding_mask"] = _bool_mask(rng, (N, S))
    return masks, causal


ENC_KINDS = [
    "none",
    "bool_both",
    "float3d_kpm",
    "bool_kpm",
    "causal_detected",
    "causal_bool_kpm",
    "causal_explicit_false",
]


STACKS = [(1, False, False), (2, True, False), (2, True, True)]  # layers, final norm, norm_first


def _cases(kinds):
    """Every (kind, stack) pair, batch_first alternating, so each kind meets both layouts."""
    pairs = [(k, st) for k in kinds for st in STACKS]
    return [(k, i % 2 == 1, *st) for i, (k, st) in enumerate(pairs)]


def _encoder_pair(layers, final_norm, dtype=np.float64, **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    kw = dict(dim_feedforward=FF, dropout=0.0, **kw)
    torch.manual_seed(3)
    tl = torch.nn.TransformerEncoderLayer(E, H, dtype=tdt, **kw)
    tn = torch.nn.LayerNorm(E, dtype=tdt) if final_norm else None
    tm = _quiet(torch.nn.TransformerEncoder, tl, layers, tn)
    dl = dnn.TransformerEncoderLayer(E, H, dtype=dtype, **kw)
    dn = dnn.LayerNorm(E, dtype=dtype) if final_norm else None
    dm = dnn.TransformerEncoder(dl, layers, dn)
    _load(dm, tm)
    return dm, tm


@pytest.mark.parametrize("kind,batch_first,layers,final_norm,norm_first", _cases(ENC_KINDS))
def test_encoder(kind, batch_first, layers, final_norm, norm_first):
    S, N = 5, 3
    rng = _rng(1)
    dm, tm = _encoder_pair(layers, final_norm, batch_first=batch_first, norm_first=norm_first)
    masks, causal = _encoder_masks(rng, kind, S, N)
    dkw, tkw = _mask_pairs(masks)
    dx, tx = _pair(rng.standard_normal(_shape(batch_first, N, S)))
    if causal is not None:
        dkw["is_causal"] = tkw["is_causal"] = causal
    _check(dm, tm, [dx], [tx], dkw, tkw)


def test_encoder_unbatched_and_gelu():
    rng = _rng(2)
    dm, tm = _encoder_pair(2, True, activation="gelu")
    S, f = 4, rng.standard_normal
    dx, tx = _pair(rng.standard_normal((S, E)))
    dkw, tkw = _mask_pairs({"mask": _causal_float(S), "src_key_padding_mask": f(S)})
    out = _check(dm, tm, [dx], [tx], dkw, tkw)
    assert out.shape == (S, E)


def test_encoder_attributes_and_clones():
    layer = dnn.TransformerEncoderLayer(E, H, FF, batch_first=True)
    enc = dnn.TransformerEncoder(layer, 3, enable_nested_tensor=True, mask_check=False)
    tl = torch.nn.TransformerEncoderLayer(E, H, FF, batch_first=True)
    tenc = torch.nn.TransformerEncoder(tl, 3, enable_nested_tensor=True, mask_check=False)
    for a in ("num_layers", "norm", "enable_nested_tensor", "use_nested_tensor", "mask_check"):
        assert getattr(enc, a) == getattr(tenc, a), a
    assert enc.use_nested_tensor is True
    assert repr(enc) == repr(tenc)
    assert list(enc.state_dict()) == list(tenc.state_dict())
    w = [m.linear1.weight for m in enc.layers]
    assert all(x is not layer.linear1.weight for x in w) and w[0] is not w[1]
    assert all(np.array_equal(x.numpy(), layer.linear1.weight.numpy()) for x in w)
    for bad in (dict(norm_first=True), dict(batch_first=False), dict(activation=dg.tanh)):
        kw = dict(dict(batch_first=True), **bad)
        d = dnn.TransformerEncoder(dnn.TransformerEncoderLayer(E, H, FF, **kw), 1)
        t = _quiet(torch.nn.TransformerEncoder, torch.nn.TransformerEncoderLayer(E, H, FF, **kw), 1)
        assert d.use_nested_tensor is t.use_nested_tensor is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about torch's nested-tensor fast path
        dnn.TransformerEncoder(dnn.TransformerEncoderLayer(E, H, FF), 1)


def test_encoder_mismatched_mask_types_warn():
    for lib, mk in ((dnn, dg.tensor), (torch.nn, torch.tensor)):
        enc = _quiet(lib.TransformerEncoder, lib.TransformerEncoderLayer(4, 2, 6), 1)
        x = mk(np.ones((3, 2, 4), np.float32))
        kpm = mk(np.zeros((2, 3), bool))
        am = mk(np.zeros((3, 3), np.float32))
        with pytest.warns(UserWarning, match="mismatched src_key_padding_mask and mask"):
            enc(x, mask=am, src_key_padding_mask=kpm)


# ---- TransformerDecoderLayer -----------------------------------------------------------------


def _decoder_masks(rng, kind, T, S, N):
    """(masks, tgt_is_causal, memory_is_causal); bool True = masked out."""
    f = rng.standard_normal
    nh = N * H if N else H

    def b(*shape):  # a key-padding mask's shape: (N, S) batched, (S,) unbatched
        return (N, *shape) if N else shape

    if kind == "none":
        return {}, None, False
    if kind == "bool_all":
        return (
            {
                "tgt_mask": _bool_mask(rng, (T, T)),
                "memory_mask": _bool_mask(rng, (T, S)),
                "tgt_key_padding_mask": _bool_mask(rng, b(T)),
                "memory_key_padding_mask": _bool_mask(rng, b(S)),
            },
            None,
            False,
        )
    if kind == "float_all":
        return (
            {
                "tgt_mask": f((nh, T, T)),
                "memory_mask": f((T, S)),
                "tgt_key_padding_mask": f(b(T)),
                "memory_key_padding_mask": f(b(S)),
            },
            None,
            False,
        )
    if kind == "causal":
        return {"tgt_mask": _causal_bool(T)}, True, False
    if kind == "causal_detected":  # tgt_is_causal None: TransformerDecoder detects it
        return {"tgt_mask": _causal_float(T), "memory_key_padding_mask": f(b(S))}, None, False
    if kind == "causal_memory":
        return {"tgt_mask": _causal_float(T), "memory_mask": _causal_bool(T)}, True, True
    raise AssertionError(kind)


def _decoder_layer_pair(dtype=np.float64, activation="relu", **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    kw = dict(dim_feedforward=FF, dropout=kw.pop("dropout", 0.0), **kw)
    torch.manual_seed(4)
    tact = torch.tanh if activation == "callable" else activation
    dact = dg.tanh if activation == "callable" else activation
    tm = torch.nn.TransformerDecoderLayer(E, H, activation=tact, dtype=tdt, **kw)
    dm = dnn.TransformerDecoderLayer(E, H, activation=dact, dtype=dtype, **kw)
    _load(dm, tm)
    return dm, tm


def _run_decoder(dm, tm, kind, batch_first, T=4, S=5, N=3, seed=5, dtype=np.float64):
    rng = _rng(seed)
    masks, tc, mc = _decoder_masks(rng, kind, T, S, N)
    dkw, tkw = _mask_pairs(
        {k: m.astype(dtype) if m.dtype.kind == "f" else m for k, m in masks.items()}
    )
    if isinstance(dm, dnn.TransformerDecoderLayer):
        tc = bool(tc)
    dkw.update(tgt_is_causal=tc, memory_is_causal=mc)
    tkw.update(tgt_is_causal=tc, memory_is_causal=mc)
    shape = _shape(batch_first, N, T) if N else (T, E)
    mshape = _shape(batch_first, N, S) if N else (S, E)
    dt, tt = _pair(rng.standard_normal(shape).astype(dtype))
    dmem, tmem = _pair(rng.standard_normal(mshape).astype(dtype))
    return _check(dm, tm, [dt, dmem], [tt, tmem], dkw, tkw, dtype)


DEC_KINDS = ["none", "bool_all", "float_all", "causal", "causal_memory"]


DEC_LAYER_CASES = [
    (k, bf, nf, "relu") for k in DEC_KINDS for bf in (False, True) for nf in (False, True)
] + [
    ("bool_all", True, False, "gelu"),
    ("float_all", False, True, "gelu"),
    ("causal", False, False, "callable"),
    ("float_all", True, True, "callable"),
]


@pytest.mark.parametrize("kind,batch_first,norm_first,activation", DEC_LAYER_CASES)
def test_decoder_layer(kind, batch_first, norm_first, activation):
    dm, tm = _decoder_layer_pair(
        activation=activation, batch_first=batch_first, norm_first=norm_first
    )
    _run_decoder(dm, tm, kind, batch_first, T=5 if kind == "causal_memory" else 4)


def test_decoder_layer_unbatched_bias_false_and_eps():
    dm, tm = _decoder_layer_pair(bias=False, layer_norm_eps=1e-3)
    assert dm.self_attn.in_proj_bias is None and dm.norm3.bias is None
    rng = _rng(6)
    T, S = 3, 4
    dt, tt = _pair(rng.standard_normal((T, E)))
    dmem, tmem = _pair(rng.standard_normal((S, E)))
    dkw, tkw = _mask_pairs(
        {"tgt_mask": _bool_mask(rng, (T, T)), "memory_key_padding_mask": _bool_mask(rng, S)}
    )
    out = _check(dm, tm, [dt, dmem], [tt, tmem], dkw, tkw)
    assert out.shape == (T, E)


def test_decoder_layer_layout_and_repr():
    dm = dnn.TransformerDecoderLayer(E, H, FF, 0.2, "gelu", 1e-6, True, True)
    tm = torch.nn.TransformerDecoderLayer(E, H, FF, 0.2, "gelu", 1e-6, True, True)
    assert repr(dm) == repr(tm)
    assert list(dm.state_dict()) == list(tm.state_dict())
    for n, p in tm.state_dict().items():
        assert dm.state_dict()[n].shape == tuple(p.shape), n
    assert dm.norm_first is True and dm.self_attn.batch_first is True
    assert dm.activation is dnn.functional.gelu
    assert dm.linear1.weight.dtype == np.float32
    assert dnn.TransformerDecoderLayer(E, H).linear1.out_features == 2048


def test_decoder_layer_eval_dropout_float32():
    dm, tm = _decoder_layer_pair(np.float32, dropout=0.4)
    dm.eval()
    tm.eval()
    _run_decoder(dm, tm, "bool_all", False, dtype=np.float32)
    dm.train()
    x = dg.tensor(np.ones((4, 2, E), np.float32))
    out = dm(x, x)
    assert out.shape == (4, 2, E) and np.isfinite(out.numpy()).all()


# ---- TransformerDecoder ----------------------------------------------------------------------


def _decoder_pair(layers, final_norm, dtype=np.float64, **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    dl, tl = _decoder_layer_pair(dtype, **kw)
    tn = torch.nn.LayerNorm(E, dtype=tdt) if final_norm else None
    dn = dnn.LayerNorm(E, dtype=dtype) if final_norm else None
    tm = torch.nn.TransformerDecoder(tl, layers, tn)
    dm = dnn.TransformerDecoder(dl, layers, dn)
    _load(dm, tm)
    return dm, tm


@pytest.mark.parametrize(
    "kind,batch_first,layers,final_norm,norm_first", _cases(DEC_KINDS + ["causal_detected"])
)
def test_decoder(kind, batch_first, layers, final_norm, norm_first):
    dm, tm = _decoder_pair(layers, final_norm, batch_first=batch_first, norm_first=norm_first)
    _run_decoder(dm, tm, kind, batch_first, T=5 if kind == "causal_memory" else 4)


def test_decoder_unbatched_and_attributes():
    dm, tm = _decoder_pair(2, True, activation="gelu")
    _run_decoder(dm, tm, "causal_detected", False, N=0)
    assert (dm.num_layers, tm.num_layers) == (2, 2)
    assert repr(dm) == repr(tm)
    assert dnn.TransformerDecoder(dnn.TransformerDecoderLayer(E, H, FF), 1).norm is None


@pytest.mark.parametrize("dtype", [np.float32, bool])
def test_causal_detection(dtype, monkeypatch):
    """A tgt_mask equal to generate_square_subsequent_mask (float or bool) reaches the layers
    with tgt_is_causal=True; any other mask, or an explicit False, with False."""
    import deltagrad.nn.transformer as tr

    seen = []
    orig = dnn.TransformerDecoderLayer.forward

    def spy(self, *a, **kw):
        seen.append(kw["tgt_is_causal"])
        return orig(self, *a, **kw)

    monkeypatch.setattr(dnn.TransformerDecoderLayer, "forward", spy)
    dec = dnn.TransformerDecoder(dnn.TransformerDecoderLayer(E, H, FF, dropout=0.0), 2)
    x = dg.tensor(_rng(7).standard_normal((4, 2, E)).astype(np.float32))
    causal = tr._generate_square_subsequent_mask(4, dtype=dtype)
    not_causal = causal.numpy().copy()
    not_causal[0, 1] = not_causal[1, 1]
    for mask, flag, want in (
        (causal, None, True),
        (dg.tensor(not_causal), None, False),
        (causal, False, False),
        (None, None, False),
        (None, True, True),
    ):
        seen.clear()
        if mask is None and flag:
            with pytest.raises(RuntimeError, match="Need attn_mask"):
                dec(x, x, tgt_mask=mask, tgt_is_causal=flag)
        else:
            dec(x, x, tgt_mask=mask, tgt_is_causal=flag)
        assert seen and all(s is want for s in seen), (mask, flag, seen)
    assert tr._detect_is_causal_mask(dg.tensor(np.zeros((3, 3))), None, 4) is False


# ---- Transformer -----------------------------------------------------------------------------


def _transformer_pair(dtype=np.float64, **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    kw = dict(d_model=E, nhead=H, dim_feedforward=FF, dropout=kw.pop("dropout", 0.0), **kw)
    torch.manual_seed(8)
    tm = _quiet(torch.nn.Transformer, dtype=tdt, **kw)
    dm = dnn.Transformer(dtype=dtype, **kw)
    _load(dm, tm)
    return dm, tm


def _run_transformer(dm, tm, batch_first, kind, S=5, T=4, N=3, dtype=np.float64):
    rng = _rng(9)
    f = rng.standard_normal
    masks = {}
    if kind == "masks":
        masks = {
            "src_mask": _bool_mask(rng, (S, S)),
            "tgt_mask": _causal_float(T),
            "memory_mask": f((T, S)),
            "src_key_padding_mask": _bool_mask(rng, (N, S)) if N else _bool_mask(rng, S),
            "tgt_key_padding_mask": f((N, T)) if N else f(T),
            "memory_key_padding_mask": f((N, S)) if N else f(S),
        }
    elif kind == "causal":
        masks = {"src_mask": _causal_float(S), "tgt_mask": _causal_bool(T)}
    dkw, tkw = _mask_pairs(
        {k: m.astype(dtype) if m.dtype.kind == "f" else m for k, m in masks.items()}
    )
    if kind == "causal":
        for kw in (dkw, tkw):
            kw.update(src_is_causal=True, tgt_is_causal=None)
    shape = (lambda s: _shape(batch_first, N, s)) if N else (lambda s: (s, E))
    ds, ts = _pair(f(shape(S)).astype(dtype))
    dt, tt = _pair(f(shape(T)).astype(dtype))
    return _check(dm, tm, [ds, dt], [ts, tt], dkw, tkw, dtype)


@pytest.mark.parametrize(
    "kind,batch_first,norm_first,activation",
    [
        ("none", False, False, "relu"),
        ("masks", False, False, "relu"),
        ("masks", True, True, "gelu"),
        ("causal", True, False, "relu"),
        ("causal", False, True, "gelu"),
        ("none", True, True, "gelu"),
    ],
)
def test_transformer(kind, batch_first, norm_first, activation):
    dm, tm = _transformer_pair(
        num_encoder_layers=2,
        num_decoder_layers=1,
        batch_first=batch_first,
        norm_first=norm_first,
        activation=activation,
    )
    out = _run_transformer(dm, tm, batch_first, kind)
    assert out.shape == _shape(batch_first, 3, 4)


def test_transformer_unbatched():
    dm, tm = _transformer_pair(num_encoder_layers=1, num_decoder_layers=2)
    out = _run_transformer(dm, tm, False, "masks", N=0)
    assert out.shape == (4, E)


def test_transformer_float32_and_eval_dropout():
    dm, tm = _transformer_pair(np.float32, num_encoder_layers=1, num_decoder_layers=1, dropout=0.3)
    dm.eval()
    tm.eval()
    _run_transformer(dm, tm, False, "masks", dtype=np.float32)
    dm.train()
    x = dg.tensor(np.ones((4, 2, E), np.float32))
    assert dm(x, x).shape == (4, 2, E)


def test_transformer_custom_encoder_decoder():
    torch.manual_seed(10)
    tenc = _quiet(
        torch.nn.TransformerEncoder,
        torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, dtype=torch.float64),
        1,
    )
    tdec = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(E, H, FF, 0.0, dtype=torch.float64), 2
    )
    tm = torch.nn.Transformer(E, H, custom_encoder=tenc, custom_decoder=tdec, dtype=torch.float64)
    denc = dnn.TransformerEncoder(dnn.TransformerEncoderLayer(E, H, FF, 0.0, dtype=np.float64), 1)
    ddec = dnn.TransformerDecoder(dnn.TransformerDecoderLayer(E, H, FF, 0.0, dtype=np.float64), 2)
    dm = dnn.Transformer(E, H, custom_encoder=denc, custom_decoder=ddec, dtype=np.float64)
    assert dm.encoder is denc and dm.decoder is ddec and dm.encoder.norm is None
    assert repr(dm) == repr(tm)
    _load(dm, tm)
    _run_transformer(dm, tm, False, "causal")


def test_transformer_init_and_attributes():
    dm = dnn.Transformer(12, 3, 2, 1, 20, dtype=np.float64)
    tm = _quiet(torch.nn.Transformer, 12, 3, 2, 1, 20)
    assert repr(dm) == repr(tm)
    assert list(dm.state_dict()) == list(tm.state_dict())
    for n, p in tm.state_dict().items():
        assert dm.state_dict()[n].shape == tuple(p.shape), n
    assert (dm.d_model, dm.nhead, dm.batch_first) == (12, 3, False)
    for name, p in dm.named_parameters():
        a = p.numpy()
        if a.ndim > 1:  # xavier_uniform_: U(-b, b), b = sqrt(6 / (fan_in + fan_out))
            bound = math.sqrt(6.0 / sum(a.shape))
            assert np.abs(a).max() <= bound and np.abs(a).max() > 0.5 * bound, name
        elif name.split(".")[-2].startswith("norm"):
            assert np.all(a == (1.0 if name.endswith("weight") else 0.0)), name
    assert p.dtype == np.float64
    enc = dm.encoder.layers  # re-initialized one by one: the clones differ
    assert not np.array_equal(enc[0].linear1.weight.numpy(), enc[1].linear1.weight.numpy())
    big = dnn.Transformer()
    assert (big.d_model, big.nhead, len(big.encoder.layers), len(big.decoder.layers)) == (
        512,
        8,
        6,
        6,
    )
    assert big.decoder.layers[0].linear1.out_features == 2048
    assert big.encoder.layers[0].dropout.p == 0.1


@pytest.mark.parametrize("sz", [0, 1, 5])
@pytest.mark.parametrize("dtype", [None, "float64", "bool"])
def test_generate_square_subsequent_mask(sz, dtype):
    tdt = None if dtype is None else getattr(torch, dtype)
    t = torch.nn.Transformer.generate_square_subsequent_mask(sz, dtype=tdt)
    d = dnn.Transformer.generate_square_subsequent_mask(sz, dtype=dtype and np.dtype(dtype))
    assert isinstance(d, dg.Tensor) and d.shape == tuple(t.shape)
    assert d.numpy().dtype == t.numpy().dtype
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    m = dnn.Transformer(E, H, 1, 1, FF).generate_square_subsequent_mask(sz)  # float32
    np.testing.assert_array_equal(
        m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(sz)
    )


# ---- errors ----------------------------------------------------------------------------------


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return e
    return None


def _both(case):
    """case(lib, mk, dtype) for deltagrad and torch: the two exceptions."""
    de = _err(lambda: case(dnn, dg.tensor, np.float64))
    te = _err(lambda: _quiet(case, torch.nn, torch.tensor, torch.float64))
    return de, te


def _model(lib, kind, dt, **kw):
    if kind == "transformer":
        return lib.Transformer(E, H, 1, 1, FF, 0.0, dtype=dt, **kw)
    if kind == "decoder_layer":
        return lib.TransformerDecoderLayer(E, H, FF, 0.0, dtype=dt, **kw)
    if kind == "decoder":
        return lib.TransformerDecoder(lib.TransformerDecoderLayer(E, H, FF, 0.0, dtype=dt), 1)
    return lib.TransformerEncoder(lib.TransformerEncoderLayer(E, H, FF, 0.0, dtype=dt), 1)


def _x(mk, *shape, dtype=np.float64):
    return mk(np.ones(shape, dtype))


ERROR_CASES = {
    "transformer_batch": lambda lib, mk, dt: _model(lib, "transformer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 3, E)
    ),
    "transformer_batch_first": lambda lib, mk, dt: _model(lib, "transformer", dt, batch_first=True)(
        _x(mk, 2, 3, E), _x(mk, 3, 3, E)
    ),
    "transformer_d_model": lambda lib, mk, dt: _model(lib, "transformer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E + 2)
    ),
    "transformer_src_1d": lambda lib, mk, dt: _model(lib, "transformer", dt)(
        _x(mk, E), _x(mk, 4, 2, E)
    ),
    "transformer_unbatched_src_batched_tgt": lambda lib, mk, dt: _model(lib, "transformer", dt)(
        _x(mk, 3, E), _x(mk, 4, 2, E)
    ),
    "decoder_layer_tgt_d_model": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E + 2), _x(mk, 4, 2, E)
    ),
    "decoder_layer_tgt_mask_shape": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), tgt_mask=_x(mk, 3, 4)
    ),
    "decoder_layer_memory_mask_3d": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), memory_mask=_x(mk, 2, 3, 4)
    ),
    "decoder_layer_memory_kpm": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), memory_key_padding_mask=_x(mk, 2, 3, dtype=bool)
    ),
    "decoder_layer_int_mask": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), tgt_mask=_x(mk, 3, 3, dtype=np.int64)
    ),
    "decoder_layer_memory_causal_no_mask": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), memory_is_causal=True
    ),
    "decoder_layer_memory_d_model": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E + 2)
    ),
    "decoder_layer_memory_batch": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 3, E)
    ),
    "decoder_layer_memory_batch_first": lambda lib, mk, dt: _model(
        lib, "decoder_layer", dt, batch_first=True
    )(_x(mk, 2, 3, E), _x(mk, 3, 4, E), memory_key_padding_mask=_x(mk, 3, 4, dtype=bool)),
    "mask_float_size": lambda lib, mk, dt: lib.Transformer.generate_square_subsequent_mask(2.0),
    "decoder_layer_memory_2d": lambda lib, mk, dt: _model(lib, "decoder_layer", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, E)
    ),
    "decoder_tgt_mask_shape": lambda lib, mk, dt: _model(lib, "decoder", dt)(
        _x(mk, 3, 2, E), _x(mk, 4, 2, E), tgt_mask=_x(mk, 4, 4, dtype=bool)
    ),
    "encoder_mask_shape": lambda lib, mk, dt: _model(lib, "encoder", dt)(
        _x(mk, 3, 2, E), mask=_x(mk, 3, 2)
    ),
    "encoder_kpm_shape": lambda lib, mk, dt: _model(lib, "encoder", dt)(
        _x(mk, 3, 2, E), src_key_padding_mask=_x(mk, 2, 4, dtype=bool)
    ),
    "encoder_kpm_int": lambda lib, mk, dt: _model(lib, "encoder", dt)(
        _x(mk, 3, 2, E), src_key_padding_mask=_x(mk, 2, 3, dtype=np.int64)
    ),
    "encoder_d_model": lambda lib, mk, dt: _model(lib, "encoder", dt)(_x(mk, 3, 2, E - 2)),
    "encoder_zero_layers": lambda lib, mk, dt: lib.TransformerEncoder(
        lib.TransformerEncoderLayer(E, H, FF), 0
    )(_x(mk, 3, 2, E, dtype=np.float32)),
    "encoder_float_layers": lambda lib, mk, dt: lib.TransformerEncoder(
        lib.TransformerEncoderLayer(E, H, FF), 2.0
    ),
    "decoder_not_a_module": lambda lib, mk, dt: lib.TransformerDecoder(3, 2),
    "decoder_layer_activation": lambda lib, mk, dt: lib.TransformerDecoderLayer(
        E, H, activation="tanh"
    ),
    "decoder_layer_indivisible": lambda lib, mk, dt: lib.TransformerDecoderLayer(7, 2),
    "transformer_indivisible": lambda lib, mk, dt: lib.Transformer(10, 4),
    "mask_negative": lambda lib, mk, dt: lib.Transformer.generate_square_subsequent_mask(-1),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors(case):
    de, te = _both(ERROR_CASES[case])
    assert te is not None and de is not None, (de, te)
    assert isinstance(de, type(te)), (de, te)


def test_negative_num_layers_refused():
    """torch builds an empty stack for a negative num_layers; deltagrad refuses it."""
    with pytest.raises(ValueError, match="num_layers"):
        dnn.TransformerDecoder(dnn.TransformerDecoderLayer(E, H, FF), -1)
    assert (
        len(copy.deepcopy(dnn.TransformerEncoder(dnn.TransformerEncoderLayer(E, H), 0)).layers) == 0
    )


def test_decoder_gradcheck():
    """Central differences agree with backward() for tgt, memory and a float memory mask."""
    layer = dnn.TransformerDecoderLayer(4, 2, 3, dropout=0.0, norm_first=True, dtype=np.float64)
    dec = dnn.TransformerDecoder(layer, 2, dnn.LayerNorm(4, dtype=np.float64))
    rng = _rng(11)
    tgt = dg.tensor(rng.standard_normal((3, 1, 4)), requires_grad=True)
    mem = dg.tensor(rng.standard_normal((2, 1, 4)), requires_grad=True)
    mm = dg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    causal = dnn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    assert dg.gradcheck(
        lambda t, m, a: dec(t, m, tgt_mask=causal, memory_mask=a), (tgt, mem, mm), fast_mode=True
    )
