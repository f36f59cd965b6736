"""scaled_dot_product_attention and multi_head_attention_forward of deltagrad.functional, as
torch 2.13's torch.nn.functional.

Both are built from differentiable Tensor ops (matmul, F.softmax, F.linear, where, reshape /
transpose, cat), so autograd gives the gradients of the inputs, of float masks and of every
projection weight, on any device the Tensor ops support. Semantics follow torch's CPU paths:

- scaled_dot_product_attention: a bool attn_mask marks with True the positions that TAKE PART;
  a float mask is added to the scores; is_causal is a top-left aligned lower-triangular mask
  and excludes attn_mask (torch's RuntimeError, as its math path -- the one with gradients --
  and its docs; its no-grad CPU kernel combines the two instead);
  a row with every position masked gives zeros (output and gradients), as torch's kernels do.
- multi_head_attention_forward: bool masks mark with True the positions that are MASKED OUT
  (key_padding_mask, attn_mask); they become -inf additive masks, as torch's _canonical_mask.
  With need_weights the weights come from a plain softmax, so a fully masked row is NaN, as in
  torch; with need_weights=False the scaled_dot_product_attention path gives zeros there.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .functional import _tensor, dropout, linear, softmax
from .tensor import Tensor, _ShapeError, cat, get_array_module, where

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


# torch's RuntimeError for bad attention arguments (a ValueError too): tensor._ShapeError
_AttentionError = _ShapeError


class _AttentionDtypeError(RuntimeError, TypeError):
    """torch's RuntimeError for mismatched dtypes (a TypeError too)."""


class _MhaShapeError(AssertionError, ValueError):
    """torch's AssertionError for a bad multi-head attention shape (a ValueError too)."""


def _is_float(t: Tensor) -> bool:
    return t.data.dtype.kind == "f"


def _mask_tensor(mask: Any, name: str) -> Tensor:
    """mask as a Tensor, checked to be bool or floating; name: "<caller>: <argument>"."""
    m = _tensor(mask, name)
    if m.data.dtype.kind not in "bf":
        op, _, arg = name.rpartition(": ")
        raise _MhaShapeError(f"{op}: only bool and floating types of {arg} are supported")
    return m


def _additive(mask: Tensor, dtype: Any) -> Tensor:
    """A bool mask (True = masked out) as a float mask of dtype with -inf there, else 0."""
    xp = get_array_module(mask.data)
    return Tensor(xp.where(mask.data, xp.asarray(-np.inf, dtype), xp.asarray(0, dtype)))


def _canonical_mask(
    mask: Any,
    name: str,
    other: Any,
    other_name: str,
    dtype: Any,
    owner: str,
    stacklevel: int = 3,
) -> Tensor | None:
    """torch's F._canonical_mask: None, a float mask as given, or a bool mask made additive;
    torch's deprecation warning when the other mask's dtype differs. owner: the function or
    module the user called, which names the errors ("TransformerEncoderLayer")."""
    if mask is None:
        return None
    m = _mask_tensor(mask, f"{owner}: {name}")
    if other is not None and m.data.dtype != other.data.dtype:
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use same type for "
            "both instead.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return m if _is_float(m) else _additive(m, dtype)


def _pad_last(m: Tensor) -> Tensor:
    """F.pad(m, (0, 1)): one zero column at the end of the last dimension."""
    xp = get_array_module(m.data)
    return cat([m, Tensor(xp.zeros((*m.shape[:-1], 1), dtype=m.data.dtype))], dim=-1)


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last dimension, zeros (with zero gradients) in rows that are all -inf,
    as torch's SDPA kernels; the scores of those rows are replaced before the softmax so that
    no NaN reaches the backward."""
    xp = get_array_module(scores.data)
    dead = xp.all(scores.data == -np.inf, axis=-1, keepdims=True)
    if not bool(dead.any()):
        return softmax(scores, dim=-1)
    dead_t = Tensor(xp.broadcast_to(dead, scores.shape))
    zero = Tensor(xp.zeros((), dtype=scores.data.dtype))
    return where(dead_t, zero, softmax(where(dead_t, zero, scores), dim=-1))


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value over the last two dimensions, as torch's
    F.scaled_dot_product_attention: query (..., L, E), key (..., S, E), value (..., S, Ev);
    leading dimensions broadcast. attn_mask broadcasts to (..., L, S): bool (True = takes part)
    or float (added). scale defaults to 1 / sqrt(E). enable_gqa repeats the key / value heads
    (dimension -3) to query's head count. dropout_p drops attention weights (always: SDPA has
    no training flag, as torch)."""
    op = "scaled_dot_product_attention"
    q, k, v = (
        _tensor(t, f"{op}: {n}") for t, n in ((query, "query"), (key, "key"), (value, "value"))
    )
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise _AttentionError(
            f"{op}: Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead."
        )
    if not (q.data.dtype == k.data.dtype == v.data.dtype) or not _is_float(q):
        raise _AttentionDtypeError(
            f"{op}: Expected query, key, and value to have the same floating dtype, but got "
            f"query.dtype: {q.data.dtype} key.dtype: {k.data.dtype} and value.dtype: "
            f"{v.data.dtype} instead."
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise _AttentionError(
            f"{op}: query (..., L, E) {q.shape}, key (..., S, E) {k.shape} and value "
            f"(..., S, Ev) {v.shape} do not fit"
        )
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float, np.number)):
        raise TypeError(f"{op}: dropout_p: expected a float, got {dropout_p!r}")
    if enable_gqa and min(q.ndim, k.ndim, v.ndim) >= 3:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise _AttentionError(
                f"{op}: Number of heads in key and value must divide the number of heads in "
                f"query, got {hq}, {hk} and {hv}"
            )
        if hk != hq:
            k = k.repeat_interleave(hq // hk, dim=-3)
        if hv != hq:
            v = v.repeat_interleave(hq // hv, dim=-3)
    if is_causal and attn_mask is not None:
        raise _AttentionError(f"{op}: Explicit attn_mask should not be set when is_causal=True")
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    xp = get_array_module(q.data)
    dt = q.data.dtype
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(E) if scale is None else float(scale))
    bias: Tensor | None = None
    if attn_mask is not None:
        m = _tensor(attn_mask, f"{op}: attn_mask")
        if m.data.dtype.kind == "b":
            bias = _additive(m.logical_not(), dt)
        elif m.data.dtype == dt:
            bias = m
        else:
            raise _AttentionDtypeError(
                f"{op}: Expected attn_mask dtype to be bool or float or to match query dtype, "
                f"but got attn_mask.dtype: {m.data.dtype} and query.dtype: {dt} instead."
            )
        try:
            fits = np.broadcast_shapes(m.shape, scores.shape) == scores.shape
        except ValueError:
            fits = False
        if not fits:
            raise _AttentionError(
                f"{op}: attn_mask of shape {m.shape} does not broadcast to the attention "
                f"weights' shape {scores.shape}"
            )
    if is_causal:
        causal = _additive(Tensor(~xp.tril(xp.ones((L, S), dtype=bool))), dt)
        bias = causal
    if bias is not None:
        scores = scores + bias
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ v


def multi_head_attention_forward(
    query: Any,
    key: Any,
    value: Any,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Any,
    in_proj_bias: Any,
    bias_k: Any,
    bias_v: Any,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Any,
    out_proj_bias: Any,
    training: bool = True,
    key_padding_mask: Any = None,
    need_weights: bool = True,
    attn_mask: Any = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Any = None,
    k_proj_weight: Any = None,
    v_proj_weight: Any = None,
    static_k: Any = None,
    static_v: Any = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """torch's F.multi_head_attention_forward: query (L, N, E) or unbatched (L, E), key / value
    (S, N, Ek / Ev); returns (output (L, N, E), weights (N, L, S), averaged over the heads, or
    (N, H, L, S), or None when need_weights is False). Bool masks: True = masked out."""
    op = "multi_head_attention_forward"
    q_in, k_in, v_in = (
        _tensor(t, f"{op}: {n}") for t, n in ((query, "query"), (key, "key"), (value, "value"))
    )
    kpm = (
        None
        if key_padding_mask is None
        else _mask_tensor(key_padding_mask, f"{op}: key_padding_mask")
    )
    am = None if attn_mask is None else _mask_tensor(attn_mask, f"{op}: attn_mask")
    batched = _mha_shape_check(q_in, k_in, v_in, kpm, am, num_heads)
    if not batched:
        q_in, k_in, v_in = q_in.unsqueeze(1), k_in.unsqueeze(1), v_in.unsqueeze(1)
        kpm = None if kpm is None else kpm.unsqueeze(0)
    tgt_len, bsz, embed_dim = q_in.shape
    src_len = k_in.shape[0]
    dt = q_in.data.dtype
    kpm = _canonical_mask(kpm, "key_padding_mask", am, "attn_mask", dt, op)
    if is_causal and am is None:
        raise _AttentionError(
            f"{op}: Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and kpm is None and not need_weights:
        am = None  # scaled_dot_product_attention's is_causal stands for the mask
    else:
        am = _canonical_mask(am, "attn_mask", None, "", dt, op)
        if kpm is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise _MhaShapeError(
            f"{op}: was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise _MhaShapeError(f"{op}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if k_in.shape[:2] != v_in.shape[:2]:
            raise _MhaShapeError(
                f"{op}: key's sequence and batch dims {k_in.shape[:2]} do not match value's "
                f"{v_in.shape[:2]}"
            )
    elif k_in.shape != v_in.shape:
        raise _MhaShapeError(
            f"{op}: key shape {k_in.shape} does not match value shape {v_in.shape}"
        )
    # in-projection: the packed (3E, E) weight's rows are q's, k's and v's in turn
    b = None if in_proj_bias is None else _tensor(in_proj_bias, f"{op}: in_proj_bias")
    bs = (
        (None, None, None)
        if b is None
        else tuple(b[i * embed_dim : (i + 1) * embed_dim] for i in range(3))
    )
    if use_separate_proj_weight:
        ws = [q_proj_weight, k_proj_weight, v_proj_weight]
        for w, n in zip(ws, ("q_proj_weight", "k_proj_weight", "v_proj_weight")):
            if w is None:
                raise _MhaShapeError(f"{op}: use_separate_proj_weight is True but {n} is None")
        ws = [_tensor(w, f"{op}: weight") for w in ws]
    else:
        if in_proj_weight is None:
            raise _MhaShapeError(
                f"{op}: use_separate_proj_weight is False but in_proj_weight is None"
            )
        w = _tensor(in_proj_weight, f"{op}: in_proj_weight")
        ws = [w[i * embed_dim : (i + 1) * embed_dim] for i in range(3)]
    q = linear(q_in, ws[0], bs[0])
    k = linear(k_in, ws[1], bs[1])
    v = linear(v_in, ws[2], bs[2])
    if am is not None:
        if am.ndim == 2:
            if am.shape != (tgt_len, src_len):
                raise _AttentionError(
                    f"{op}: The shape of the 2D attn_mask is {am.shape}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            am = am.unsqueeze(0)
        elif am.shape != (bsz * num_heads, tgt_len, src_len):
            raise _AttentionError(
                f"{op}: The shape of the 3D attn_mask is {am.shape}, but should be "
                f"{(bsz * num_heads, tgt_len, src_len)}."
            )
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise _MhaShapeError(f"{op}: bias cannot be added to static key or value.")
        _check_batch(k, bsz, "key")
        bk, bv = _tensor(bias_k, f"{op}: bias_k"), _tensor(bias_v, f"{op}: bias_v")
        k = cat([k, bk.expand(1, bsz, embed_dim)])
        v = cat([v, bv.expand(1, bsz, embed_dim)])
        am = None if am is None else _pad_last(am)
        kpm = None if kpm is None else _pad_last(kpm)
    elif bias_k is not None or bias_v is not None:
        raise _MhaShapeError(f"{op}: bias_k and bias_v must both be set or both be None")
    for t, static, name in ((k, static_k, "key"), (v, static_v, "value")):
        if static is None:  # a static key / value stands for the projected one
            _check_batch(t, bsz, name)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, bsz * num_heads, head_dim, "static_k")
    v = _heads(v, static_v, bsz * num_heads, head_dim, "static_v")
    if add_zero_attn:
        xp = get_array_module(k.data)
        zeros = Tensor(xp.zeros((bsz * num_heads, 1, head_dim), dtype=k.data.dtype))
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
        am = None if am is None else _pad_last(am)
        kpm = None if kpm is None else _pad_last(kpm)
    src_len = k.shape[1]
    if kpm is not None:
        if kpm.shape[0] != bsz:
            raise _MhaShapeError(
                f"{op}: Expected key_padded_mask.shape[0] to be {bsz}, but got {kpm.shape[0]}"
            )
        if kpm.shape[1] != src_len:
            raise _MhaShapeError(
                f"{op}: Expected key_padded_mask.shape[1] to be {src_len}, but got {kpm.shape[1]}"
            )
        kpm = (
            kpm.reshape(bsz, 1, 1, src_len)
            .expand(bsz, num_heads, 1, src_len)
            .reshape(bsz * num_heads, 1, src_len)
        )
        am = kpm if am is None else am + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        if is_causal and am is None:
            raise _AttentionError(f"{op}: is_causal needs attn_mask when need_weights is True")
        scores = (q * math.sqrt(1.0 / float(head_dim))) @ k.transpose(-2, -1)
        if am is not None:
            scores = am + scores
        weights = softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = (weights @ v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, _tensor(out_proj_weight, f"{op}: out_proj_weight"), out_proj_bias)
        out = out.reshape(tgt_len, bsz, out.shape[1])
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if am is not None:
        if am.shape[0] == 1 and am.ndim == 3:
            am = am.unsqueeze(0)
        else:
            am = am.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, am, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, _tensor(out_proj_weight, f"{op}: out_proj_weight"), out_proj_bias)
    out = out.reshape(tgt_len, bsz, out.shape[1])
    return (out if batched else out.squeeze(1)), None


def _check_batch(t: Tensor, bsz: int, name: str) -> None:
    """The (projected) key or value t (S, N', E) has query's batch size N' == bsz; torch has no
    check and fails in a reshape, with a RuntimeError (_AttentionError is one)."""
    if t.shape[1] != bsz:
        raise _AttentionError(
            f"multi_head_attention_forward: {name}'s batch size {t.shape[1]} does not match "
            f"query's batch size {bsz}"
        )


def _heads(t: Tensor, static: Any, bh: int, head_dim: int, name: str) -> Tensor:
    """(S, N, E) -> (N * H, S, head_dim), or the static (N * H, S, head_dim) tensor given."""
    if static is None:
        return t.reshape(t.shape[0], bh, head_dim).transpose(0, 1)
    s = _tensor(static, f"multi_head_attention_forward: {name}")
    if s.ndim != 3 or s.shape[0] != bh or s.shape[2] != head_dim:
        raise _MhaShapeError(
            f"multi_head_attention_forward: expecting {name} of shape ({bh}, S, {head_dim}), "
            f"got {s.shape}"
        )
    return s


def _mha_shape_check(
    q: Tensor, k: Tensor, v: Tensor, kpm: Tensor | None, am: Tensor | None, num_heads: int
) -> bool:
    """torch's _mha_shape_check: True for batched (3-D) inputs, False for unbatched (2-D)."""
    op = "multi_head_attention_forward"
    if q.ndim not in (2, 3):
        raise _MhaShapeError(
            f"{op}: query should be unbatched 2D or batched 3D tensor but received {q.ndim}-D "
            "query tensor"
        )
    nd, kind = q.ndim, "batched (3-D)" if q.ndim == 3 else "unbatched (2-D)"
    if k.ndim != nd or v.ndim != nd:
        raise _MhaShapeError(
            f"{op}: For {kind} `query`, expected `key` and `value` to be {nd}-D but found "
            f"{k.ndim}-D and {v.ndim}-D tensors respectively"
        )
    if kpm is not None and kpm.ndim != nd - 1:
        raise _MhaShapeError(
            f"{op}: For {kind} `query`, expected `key_padding_mask` to be `None` or "
            f"{nd - 1}-D but found {kpm.ndim}-D tensor instead"
        )
    if am is not None:
        if am.ndim not in (2, 3):
            raise _MhaShapeError(
                f"{op}: For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {am.ndim}-D tensor instead"
            )
        if nd == 2 and am.ndim == 3 and am.shape != (num_heads, q.shape[0], k.shape[0]):
            raise _MhaShapeError(
                f"{op}: Expected `attn_mask` shape to be {(num_heads, q.shape[0], k.shape[0])} "
                f"but got {am.shape}"
            )
    return nd == 3
