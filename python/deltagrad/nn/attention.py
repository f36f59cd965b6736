"""MultiheadAttention and TransformerEncoderLayer, as torch 2.13's torch.nn, on
F.multi_head_attention_forward (built from differentiable Tensor ops: autograd gives every
gradient). torch's inference fast paths (torch._native_multi_head_attention,
torch._transformer_encoder_layer_fwd) have no counterpart: the same arithmetic runs in every
mode (torch's fast paths differ in fully masked rows and in returning nested tensors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functional as F
from .._functional_attention import _canonical_mask, _MhaShapeError, _tensor
from ..backends import canonical_device
from ..tensor import Tensor
from .dropout import Dropout
from .init import constant_, xavier_normal_, xavier_uniform_
from .linear import Linear
from .module import Module
from .normalization import LayerNorm
from .parameter import Parameter, _float_dtype

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear", "TransformerEncoderLayer"]


class NonDynamicallyQuantizableLinear(Linear):
    """torch's marker subclass of Linear for MultiheadAttention.out_proj (a plain Linear)."""


def _positive_int(v: Any, owner: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{owner}: {name}: expected an int, got {v!r}")
    return int(v)


class MultiheadAttention(Module):
    """Multi-head attention: out_proj(concat_h(softmax(q_h k_h^T / sqrt(head_dim)) v_h)), with
    q, k, v the in-projections of query, key and value, as torch.nn.MultiheadAttention.

    kdim / vdim other than embed_dim give separate q_proj_weight / k_proj_weight /
    v_proj_weight; else one packed in_proj_weight (3 * embed_dim, embed_dim). Initialized as
    torch: xavier_uniform_ on the in-projection, zero biases, out_proj a Linear's default
    weight, xavier_normal_ on bias_k / bias_v, from deltagrad's generator."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        owner = "MultiheadAttention"
        embed_dim = _positive_int(embed_dim, owner, "embed_dim")
        num_heads = _positive_int(num_heads, owner, "num_heads")
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                f"num_heads={num_heads} instead"
            )
        if canonical_device(device) not in (None, "cpu"):
            raise ValueError(f"{owner}: device: only None or 'cpu' is supported, got {device!r}")
        dt = _float_dtype(dtype, owner)
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = _positive_int(kdim, owner, "kdim") if kdim is not None else embed_dim
        self.vdim = _positive_int(vdim, owner, "vdim") if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise _MhaShapeError("embed_dim must be divisible by num_heads")

        def _param(*shape: int) -> Parameter:
            return Parameter(np.zeros(shape), dtype=dt)

        if not self._qkv_same_embed_dim:
            self.q_proj_weight = _param(embed_dim, embed_dim)
            self.k_proj_weight = _param(embed_dim, self.kdim)
            self.v_proj_weight = _param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = _param(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = _param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = _param(1, 1, embed_dim)
            self.bias_v = _param(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            xavier_uniform_(self.in_proj_weight)
        else:
            xavier_uniform_(self.q_proj_weight)
            xavier_uniform_(self.k_proj_weight)
            xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            constant_(self.in_proj_bias, 0.0)
            constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """(attn_output, attn_output_weights): output (L, N, E) ((N, L, E) with batch_first,
        (L, E) unbatched); weights (N, L, S) averaged over heads, else (N, H, L, S), or None
        when need_weights is False. Bool masks: True = masked out; float masks are added."""
        op = "MultiheadAttention"
        query = _tensor(query, f"{op}: query")
        key = _tensor(key, f"{op}: key")
        value = _tensor(value, f"{op}: value")
        batched = query.ndim == 3
        am = None if attn_mask is None else _tensor(attn_mask, f"{op}: attn_mask")
        kpm = _canonical_mask(
            key_padding_mask, "key_padding_mask", am, "attn_mask", query.data.dtype, op, 4
        )
        am = _canonical_mask(am, "attn_mask", None, "", query.data.dtype, op)
        if self.batch_first and batched:
            query, key, value = (t.transpose(1, 0) for t in (query, key, value))
        extra: dict[str, Any] = {}
        if not self._qkv_same_embed_dim:
            extra = {
                "use_separate_proj_weight": True,
                "q_proj_weight": self.q_proj_weight,
                "k_proj_weight": self.k_proj_weight,
                "v_proj_weight": self.v_proj_weight,
            }
        out, weights = F.multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=kpm,
            need_weights=need_weights,
            attn_mask=am,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
            **extra,
        )
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights


def _activation_fn(activation: Any, owner: str) -> Callable[[Any], Tensor]:
    """torch's _get_activation_fn: "relu" / "gelu" as F.relu / F.gelu, a callable as given;
    owner (the layer being built) names the errors. torch takes any other object and fails
    when the layer is called; deltagrad raises the TypeError at construction."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"{owner}: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"{owner}: activation: expected a str or a callable, got {activation!r}")
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a
    LayerNorm (after the residual, or before the block with norm_first), as
    torch.nn.TransformerEncoderLayer; state_dict keys as torch's (self_attn.*, linear1.*,
    linear2.*, norm1.*, norm2.*). Bool masks: True = masked out; float masks are added."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Any], Tensor] = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        dt = _float_dtype(dtype, "TransformerEncoderLayer")
        act = _activation_fn(activation, "TransformerEncoderLayer")
        super().__init__()
        self.self_attn = MultiheadAttention(
            d_model,
            nhead,
            dropout=dropout,
            bias=bias,
            batch_first=batch_first,
            device=device,
            dtype=dt,
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        name = type(act).__name__
        if act is F.relu or name == "ReLU":
            self.activation_relu_or_gelu = 1
        elif act is F.gelu or name == "GELU":
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        self.activation = act

    def forward(
        self,
        src: Any,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:
        """src (S, N, E) ((N, S, E) with batch_first, (S, E) unbatched) to the same shape."""
        op = "TransformerEncoderLayer"
        x = _tensor(src, f"{op}: src")
        am = None if src_mask is None else _tensor(src_mask, f"{op}: src_mask")
        kpm = _canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", am, "src_mask", x.data.dtype, op, 4
        )
        am = _canonical_mask(am, "src_mask", None, "", x.data.dtype, op)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), am, kpm, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, am, kpm, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, am: Any, kpm: Any, is_causal: bool) -> Tensor:
        y = self.self_attn(
            x, x, x, attn_mask=am, key_padding_mask=kpm, need_weights=False, is_causal=is_causal
        )[0]
        return self.dropout1(y)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
