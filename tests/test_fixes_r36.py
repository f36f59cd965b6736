"""Round 36 fixes, against torch 2.13: container reprs and slices of subclasses (the class's
own name and type, as torch), attention and transformer errors naming the function or module
the user called, nn's docstring listing every file of the package, and MultiheadAttention's
key / value batch size checked against the query's (torch's RuntimeError)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.functional as F
import deltagrad.nn as dnn

torch = pytest.importorskip("torch")
tnn = torch.nn


# ---- 1. container reprs and slices --------------------------------------------------------


def _containers(nn, lib):
    """The same containers built with torch.nn (lib torch) or deltagrad.nn (lib dg)."""

    class MyList(nn.ModuleList):
        pass

    class MySeq(nn.Sequential):
        pass

    class MyDict(nn.ModuleDict):
        pass

    class MyPL(nn.ParameterList):
        pass

    class MyPD(nn.ParameterDict):
        pass

    def p(*shape):
        return nn.Parameter(lib.ones(*shape))

    return {
        "list_empty": nn.ModuleList(),
        "list_sub_empty": MyList(),
        "list_sub": MyList([nn.ReLU(), nn.ReLU(), nn.Tanh()]),
        "list_sub_one": MyList([nn.Linear(2, 3)]),
        "list_nested": nn.ModuleList(
            [nn.ModuleList([nn.ReLU(), nn.ReLU()]), MyList(), MyList([nn.Tanh()] * 3)]
        ),
        "seq_empty": nn.Sequential(),
        "seq_sub_empty": MySeq(),
        "seq_sub": MySeq(nn.ReLU(), MyList([nn.ReLU(), nn.Linear(2, 2)])),
        "seq_nested": nn.Sequential(nn.Sequential(), MySeq(nn.ReLU(), nn.Tanh())),
        "dict_empty": nn.ModuleDict(),
        "dict_sub_empty": MyDict(),
        "dict_sub": MyDict({"a": nn.ReLU(), "b": MySeq(), "c": MyList([nn.Tanh()])}),
        "plist_empty": nn.ParameterList(),
        "plist_sub_empty": MyPL(),
        "plist_sub": MyPL([p(3), p(2, 4), None, 3]),
        "plist_one": nn.ParameterList([p(1)]),
        "pdict_empty": nn.ParameterDict(),
        "pdict_sub_empty": MyPD(),
        "pdict_sub": MyPD({"w": p(3), "b": p(2, 2)}),
        "nested_params": nn.ModuleDict(
            {"p": nn.ParameterList([p(3)]), "l": MyList([MyPD({"x": p(1)}), MyPL()])}
        ),
        "list_slice_sub": MyList([nn.ReLU(), nn.Tanh(), nn.Tanh()])[1:],
        "list_slice_empty": MyList([nn.ReLU()])[1:],
        "seq_slice_sub": MySeq(nn.ReLU(), nn.Tanh(), nn.Sigmoid())[::2],
        "plist_slice_sub": MyPL([p(3), p(2), None])[1:],
        "plist_slice_empty": MyPL([p(3)])[5:],
        "list_add_sub": MyList([nn.ReLU()]) + [nn.Tanh()],
        "seq_add_sub": MySeq(nn.ReLU()) + MySeq(nn.Tanh()),
        "seq_mul_sub": MySeq(nn.ReLU()) * 2,
        "pdict_copy_sub": MyPD({"w": p(3)}).copy(),
        "pdict_or_sub": MyPD({"w": p(3)}) | {"b": p(1)},
    }


_TORCH = _containers(tnn, torch)
_DG = _containers(dnn, dg)


@pytest.mark.parametrize("case", sorted(_TORCH))
def test_container_repr_matches_torch(case):
    # torch writes dtypes as "torch.float32"; deltagrad as "float32" (its dtype names)
    assert repr(_DG[case]) == repr(_TORCH[case]).replace("torch.", "")
    assert type(_DG[case]).__name__ == type(_TORCH[case]).__name__


def test_container_slices_keep_the_subclass():
    class MyList(dnn.ModuleList):
        pass

    class MySeq(dnn.Sequential):
        pass

    class MyPL(dnn.ParameterList):
        pass

    relu, tanh = dnn.ReLU(), dnn.Tanh()
    sl = MyList([relu, tanh])[1:]
    assert type(sl) is MyList and list(sl) == [tanh]
    sq = MySeq(relu, tanh)[1:]
    assert type(sq) is MySeq and list(sq._modules) == ["1"] and sq[0] is tanh
    w = dnn.Parameter(dg.ones(2))
    sp = MyPL([dnn.Parameter(dg.ones(1)), w, None])[1:]
    assert type(sp) is MyPL and sp[0] is w and sp[1] is None and len(sp) == 2
    assert [n for n, _ in sp.named_parameters()] == ["0"]
    # the base classes still slice to themselves
    assert type(dnn.ModuleList([relu])[:]) is dnn.ModuleList
    assert type(dnn.Sequential(relu)[:]) is dnn.Sequential
    assert type(dnn.ParameterList([w])[:]) is dnn.ParameterList


# ---- 2. masks: errors name the caller -----------------------------------------------------


def _src(shape=(3, 2, 4)):
    return dg.tensor(np.random.default_rng(0).standard_normal(shape))


def _mask_callers():
    """(owner, call(mask), mask name) for every caller of _canonical_mask, each with a
    key-padding mask for a (3, 2, 4) input."""
    mha = dnn.MultiheadAttention(4, 2, dtype=np.float64)
    enc_layer = dnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, dtype=np.float64)
    enc = dnn.TransformerEncoder(
        dnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, dtype=np.float64),
        1,
        enable_nested_tensor=False,
    )
    x = _src()
    p = mha.in_proj_weight
    return [
        ("MultiheadAttention", lambda m: mha(x, x, x, key_padding_mask=m), "key_padding_mask"),
        ("MultiheadAttention", lambda m: mha(x, x, x, attn_mask=m), "attn_mask"),
        (
            "TransformerEncoderLayer",
            lambda m: enc_layer(x, src_key_padding_mask=m),
            "src_key_padding_mask",
        ),
        ("TransformerEncoderLayer", lambda m: enc_layer(x, src_mask=m), "src_mask"),
        ("TransformerEncoder", lambda m: enc(x, src_key_padding_mask=m), "src_key_padding_mask"),
        ("TransformerEncoder", lambda m: enc(x, mask=m), "mask"),
        (
            "multi_head_attention_forward",
            lambda m: F.multi_head_attention_forward(
                x, x, x, 4, 2, p, None, None, None, False, 0.0, mha.out_proj.weight, None,
                key_padding_mask=m,
            ),
            "key_padding_mask",
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("i", range(7))
def test_mask_dtype_error_names_the_caller(i):
    owner, call, name = _mask_callers()[i]
    shape = (2, 3) if "padding" in name else (3, 3)
    with pytest.raises(AssertionError) as info:  # torch's type
        call(dg.tensor(np.ones(shape, dtype=np.int64)))
    assert str(info.value) == f"{owner}: only bool and floating types of {name} are supported"
    with pytest.raises(TypeError, match=f"^{owner}: {name}: expected a Tensor"):
        call([[True]])


def test_mask_dtype_error_type_matches_torch():
    layer = tnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    with pytest.raises(AssertionError, match="only bool and floating types"):
        layer(torch.zeros(3, 2, 4), src_key_padding_mask=torch.ones(2, 3, dtype=torch.int64))


def test_masks_still_work():
    """A bool and a float key-padding mask give the same output (-inf where True)."""
    layer = dnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, dtype=np.float64)
    x = _src()
    b = np.zeros((2, 3), dtype=bool)
    b[0, 2] = b[1, 0] = True
    f = np.where(b, -np.inf, 0.0)
    out_b = layer(x, src_key_padding_mask=dg.tensor(b)).numpy()
    out_f = layer(x, src_key_padding_mask=dg.tensor(f)).numpy()
    np.testing.assert_allclose(out_b, out_f, rtol=1e-12, atol=1e-12)


# ---- 3. activation errors name the layer --------------------------------------------------


@pytest.mark.parametrize("owner", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_activation_errors_name_the_layer(owner):
    cls, tcls = getattr(dnn, owner), getattr(tnn, owner)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        tcls(4, 2, activation="tanh")  # torch's type and text
    with pytest.raises(RuntimeError) as info:
        cls(4, 2, activation="tanh")
    assert str(info.value) == f"{owner}: activation should be relu/gelu, not tanh"
    with pytest.raises(TypeError) as info:  # torch fails only when called
        cls(4, 2, activation=3)
    assert str(info.value) == f"{owner}: activation: expected a str or a callable, got 3"
    for act, fn in (("relu", F.relu), ("gelu", F.gelu), (F.silu, F.silu)):
        assert cls(4, 2, activation=act).activation is fn


# ---- 4. nn's docstring lists every file ---------------------------------------------------


def test_nn_docstring_lists_every_file():
    root = Path(dnn.__file__).parent
    doc = dnn.__doc__
    for f in sorted(root.glob("*.py")):
        if not f.name.startswith("_"):
            assert f.name in doc, f.name
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        assert f"{d.name}/" in doc, d.name
    for f in sorted((root / "utils").glob("*.py")):
        if not f.name.startswith("_"):
            assert f"utils/{f.name}" in doc, f.name


# ---- 5. MultiheadAttention: key / value batch size ----------------------------------------


def _qkv(rng, batch_first, q_batch, kv_batch, e=4, kv_e=4, seq_kv=(5, 5)):
    def mk(length, n, width):
        shape = (n, length, width) if batch_first else (length, n, width)
        return rng.standard_normal(shape)

    return mk(3, q_batch, e), mk(seq_kv[0], kv_batch[0], kv_e), mk(seq_kv[1], kv_batch[1], kv_e)


def _both_mha(batch_first, kdim):
    kw = {"batch_first": batch_first, "kdim": kdim, "vdim": kdim}
    tm = tnn.MultiheadAttention(4, 2, dtype=torch.float64, **kw)
    dm = dnn.MultiheadAttention(4, 2, dtype=np.float64, **kw)
    return tm, dm


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return e
    return None


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kdim", [None, 6])
@pytest.mark.parametrize(
    "q_batch, kv_batch",
    [(2, (3, 3)), (2, (1, 1)), (1, (2, 2)), (2, (2, 3)), (2, (3, 2))],
)
@pytest.mark.parametrize("training", [True, False])
def test_mha_batch_mismatch_type_matches_torch(batch_first, kdim, q_batch, kv_batch, training):
    rng = np.random.default_rng(1)
    q, k, v = _qkv(rng, batch_first, q_batch, kv_batch, kv_e=kdim or 4)
    tm, dm = _both_mha(batch_first, kdim)
    tm.train(training)
    dm.train(training)
    with torch.no_grad():
        te = _raised(lambda: tm(*(torch.tensor(a) for a in (q, k, v))))
    de = _raised(lambda: dm(*(dg.tensor(a) for a in (q, k, v))))
    assert te is not None and de is not None
    assert isinstance(de, type(te)), (type(te), type(de), de)
    assert isinstance(de, ValueError)  # deltagrad's earlier type stays
    if kv_batch[0] == kv_batch[1]:  # key and value agree: the new check's message
        assert isinstance(de, RuntimeError)
        assert str(de) == (
            f"multi_head_attention_forward: key's batch size {kv_batch[0]} does not match "
            f"query's batch size {q_batch}"
        )


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_unbatched_query_with_batched_key_is_torchs_assertion(batch_first):
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal((3, 4)), rng.standard_normal((5, 2, 4))
    tm, dm = _both_mha(batch_first, None)
    te = _raised(lambda: tm(torch.tensor(q), torch.tensor(k), torch.tensor(k)))
    de = _raised(lambda: dm(dg.tensor(q), dg.tensor(k), dg.tensor(k)))
    assert type(te) is AssertionError and isinstance(de, AssertionError)


def _functional_args(rng, kv_batch=3):
    q = rng.standard_normal((3, 2, 4))
    k = rng.standard_normal((5, kv_batch, 4))
    w = rng.standard_normal((12, 4))
    ow = rng.standard_normal((4, 4))
    static = rng.standard_normal((4, 5, 2))  # (N * H, S, head_dim)
    bias = rng.standard_normal((1, 1, 4))
    return q, k, w, ow, static, bias


@pytest.mark.parametrize("statics", ["none", "k", "v", "kv", "bias"])
def test_functional_batch_check_follows_torch(statics):
    """Static key and value stand for the projected ones: with both, torch runs whatever
    the key's batch size; with one, or with bias_k / bias_v, it fails (a RuntimeError)."""
    q, k, w, ow, static, bias = _functional_args(np.random.default_rng(3))

    def run(lib, fn, to):
        kw = {}
        if "k" in statics:
            kw["static_k"] = to(static)
        if "v" in statics:
            kw["static_v"] = to(static)
        b = to(bias) if statics == "bias" else None
        args = (to(q), to(k), to(k), 4, 2, to(w), None, b, b, False, 0.0, to(ow), None)
        return fn(*args, **kw)

    tt = torch.tensor
    te = _raised(lambda: run(torch, torch.nn.functional.multi_head_attention_forward, tt))
    de = _raised(lambda: run(dg, F.multi_head_attention_forward, dg.tensor))
    if statics == "kv":
        assert te is None and de is None
        t_out, _ = run(torch, torch.nn.functional.multi_head_attention_forward, tt)
        d_out, _ = run(dg, F.multi_head_attention_forward, dg.tensor)
        np.testing.assert_allclose(d_out.numpy(), t_out.numpy(), rtol=1e-10, atol=1e-10)
        return
    assert type(te) is RuntimeError
    assert isinstance(de, RuntimeError) and isinstance(de, ValueError)
    assert "batch size 3 does not match query's batch size 2" in str(de)


def test_mha_matching_batches_still_match_torch():
    rng = np.random.default_rng(4)
    for batch_first in (False, True):
        q, k, v = _qkv(rng, batch_first, 2, (2, 2))
        tm, dm = _both_mha(batch_first, None)
        dm.load_state_dict({n: p.detach().numpy().copy() for n, p in tm.state_dict().items()})
        t_out, t_w = tm(*(torch.tensor(a) for a in (q, k, v)))
        d_out, d_w = dm(*(dg.tensor(a) for a in (q, k, v)))
        np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d_w.numpy(), t_w.detach().numpy(), rtol=1e-10, atol=1e-10)
