"""TransformerEncoder, TransformerDecoderLayer, TransformerDecoder and Transformer, as torch
2.13's torch.nn, built from MultiheadAttention, TransformerEncoderLayer, Linear, LayerNorm and
Dropout (autograd gives every gradient). State_dict keys are torch's, so a torch model's
weights load unchanged.

torch's inference fast path (TransformerEncoder turning a batch with src_key_padding_mask into
a nested tensor in eval mode without gradients, whose padded output positions are zeros) has no
counterpart: the same arithmetic runs in every mode. enable_nested_tensor is accepted and
use_nested_tensor is set as torch sets it, without torch's warning about a fast path that
deltagrad does not have."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functional as F
from .._functional_attention import _AttentionError, _canonical_mask, _tensor
from ..creation import full
from ..tensor import Tensor
from .attention import MultiheadAttention, TransformerEncoderLayer, _activation_fn
from .container import ModuleList
from .dropout import Dropout
from .init import xavier_uniform_
from .linear import Linear
from .module import Module
from .normalization import LayerNorm
from .parameter import _float_dtype

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerDecoderLayer"]


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    """(sz, sz) with -inf above the diagonal and 0 elsewhere (True / False for bool)."""
    if isinstance(sz, bool) or not isinstance(sz, (int, np.integer)):
        raise TypeError(f"generate_square_subsequent_mask: sz: expected an int, got {sz!r}")
    if sz < 0:
        raise _AttentionError(
            f"generate_square_subsequent_mask: sz: Trying to create tensor with negative "
            f"dimension {sz}"
        )
    return full((int(sz), int(sz)), float("-inf"), dtype=dtype, device=device).triu(1)


def _get_seq_len(src: Tensor, batch_first: bool) -> int:
    """The sequence length of src: dimension 0 unbatched or not batch_first, else 1."""
    if src.ndim == 2:
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(
    mask: Any, is_causal: bool | None = None, size: int | None = None
) -> bool:
    """torch's _detect_is_causal_mask: is_causal when it is given (True / False); with None,
    whether mask equals generate_square_subsequent_mask(size) of the mask's dtype."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        m = _tensor(mask, "is_causal detection: mask")
        sz = size if size is not None else m.shape[-2]
        ref = _generate_square_subsequent_mask(sz, device=m.device, dtype=m.data.dtype)
        make_causal = m.shape == ref.shape and bool((m.data == ref.data).all())
    return make_causal


def _get_clones(module: Module, n: int, owner: str) -> ModuleList:
    """n deep copies of module (independent parameters), as torch's _get_clones."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{owner}: num_layers: expected an int, got {n!r}")
    if n < 0:
        raise ValueError(f"{owner}: num_layers: expected a non-negative int, got {n}")
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: expected a Module layer, got {type(module).__name__}")
    return ModuleList([copy.deepcopy(module) for _ in range(int(n))])


def _nested_tensor_blocker(layer: Any) -> str:
    """torch's reason (empty when none) why TransformerEncoder sets use_nested_tensor False."""
    if not isinstance(layer, TransformerEncoderLayer):
        return "encoder_layer was not TransformerEncoderLayer"
    attn = layer.self_attn
    checks = (
        (layer.norm_first, "encoder_layer.norm_first was True"),
        (not attn.batch_first, "encoder_layer.self_attn.batch_first was not True"),
        (not attn._qkv_same_embed_dim, "encoder_layer.self_attn._qkv_same_embed_dim was not True"),
        (attn.in_proj_bias is None, "encoder_layer.self_attn was passed bias=False"),
        (not layer.activation_relu_or_gelu, "encoder_layer.activation_relu_or_gelu was not True"),
        (layer.norm1.eps != layer.norm2.eps, "encoder_layer.norm1.eps was not equal to norm2.eps"),
        (attn.num_heads % 2 == 1, "encoder_layer.self_attn.num_heads is odd"),
    )
    return next((why for bad, why in checks if bad), "")


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer applied in turn, then the optional norm, as
    torch.nn.TransformerEncoder. Bool masks: True = masked out; float masks are added. A mask
    equal to generate_square_subsequent_mask is detected as causal when is_causal is None."""

    __constants__ = ["norm"]

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and not _nested_tensor_blocker(encoder_layer)
        self.mask_check = mask_check

    def forward(
        self,
        src: Any,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """src (S, N, E) ((N, S, E) with batch_first, (S, E) unbatched) to the same shape."""
        src = _tensor(src, "TransformerEncoder: src")
        m = None if mask is None else _tensor(mask, "TransformerEncoder: mask")
        kpm = _canonical_mask(
            src_key_padding_mask,
            "src_key_padding_mask",
            m,
            "mask",
            src.data.dtype,
            "TransformerEncoder",
            4,
        )
        m = _canonical_mask(m, "mask", None, "", src.data.dtype, "TransformerEncoder")
        first_layer = self.layers[0]
        seq_len = _get_seq_len(src, first_layer.self_attn.batch_first)
        is_causal = _detect_is_causal_mask(m, is_causal, seq_len)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=m, is_causal=is_causal, src_key_padding_mask=kpm)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoderLayer(Module):
    """Self-attention over tgt, attention from tgt to memory, and a feed-forward block, each
    with a residual connection and a LayerNorm (after the residual, or before the block with
    norm_first), as torch.nn.TransformerDecoderLayer; state_dict keys as torch's (self_attn.*,
    multihead_attn.*, linear1.*, linear2.*, norm1-3.*). Bool masks: True = masked out."""

    __constants__ = ["norm_first"]

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
        dt = _float_dtype(dtype, "TransformerDecoderLayer")
        act = _activation_fn(activation, "TransformerDecoderLayer")
        super().__init__()

        def attention() -> MultiheadAttention:
            return MultiheadAttention(
                d_model,
                nhead,
                dropout=dropout,
                batch_first=batch_first,
                bias=bias,
                device=device,
                dtype=dt,
            )

        def layer_norm() -> LayerNorm:
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dt)

        self.self_attn = attention()
        self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        self.norm1 = layer_norm()
        self.norm2 = layer_norm()
        self.norm3 = layer_norm()
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = act

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """tgt (T, N, E) ((N, T, E) with batch_first, (T, E) unbatched) and memory (S, N, E)
        to tgt's shape."""
        x = _tensor(tgt, "TransformerDecoderLayer: tgt")
        mem = _tensor(memory, "TransformerDecoderLayer: memory")
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), mem, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x + self._mha_block(x, mem, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, am: Any, kpm: Any, is_causal: bool) -> Tensor:
        y = self.self_attn(
            x, x, x, attn_mask=am, key_padding_mask=kpm, is_causal=is_causal, need_weights=False
        )[0]
        return self.dropout1(y)

    def _mha_block(self, x: Tensor, mem: Tensor, am: Any, kpm: Any, is_causal: bool) -> Tensor:
        if mem.ndim == x.ndim:  # torch fails inside the attention, with a RuntimeError
            attn = self.multihead_attn
            if mem.shape[-1] != attn.embed_dim:
                raise _AttentionError(
                    f"TransformerDecoderLayer: memory: expected {attn.embed_dim} features "
                    f"(d_model), got shape {mem.shape}"
                )
            b = 0 if attn.batch_first else 1
            if x.ndim == 3 and mem.shape[b] != x.shape[b]:
                raise _AttentionError(
                    f"TransformerDecoderLayer: memory's batch size {mem.shape[b]} does not match "
                    f"tgt's {x.shape[b]}"
                )
        y = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=am,
            key_padding_mask=kpm,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout2(y)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer applied in turn to tgt (each attending to
    memory), then the optional norm, as torch.nn.TransformerDecoder. A tgt_mask equal to
    generate_square_subsequent_mask is detected as causal when tgt_is_causal is None."""

    __constants__ = ["norm"]

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """tgt (T, N, E) ((N, T, E) with batch_first, (T, E) unbatched) to the same shape."""
        output = _tensor(tgt, "TransformerDecoder: tgt")
        seq_len = _get_seq_len(output, self.layers[0].self_attn.batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        for mod in self.layers:
            output = mod(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=tgt_is_causal,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """An encoder-decoder transformer, as torch.nn.Transformer: encoder = TransformerEncoder
    of num_encoder_layers layers and a final LayerNorm (or custom_encoder), decoder likewise;
    forward(src, tgt) = decoder(tgt, encoder(src)). Every parameter with more than one
    dimension is re-initialized with xavier_uniform_ (custom encoder / decoder included), as
    torch."""

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Any], Tensor] = F.relu,
        custom_encoder: Any | None = None,
        custom_decoder: Any | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        dt = _float_dtype(dtype, "Transformer")
        super().__init__()
        layer_args = (
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            device,
            dt,
        )

        def final_norm() -> LayerNorm:
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dt)

        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, final_norm())
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, final_norm())
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(
        self,
        src: Any,
        tgt: Any,
        src_mask: Any = None,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """src (S, N, E) and tgt (T, N, E) ((N, S, E) / (N, T, E) with batch_first, (S, E) /
        (T, E) unbatched) to tgt's shape."""
        src = _tensor(src, "Transformer: src")
        tgt = _tensor(tgt, "Transformer: tgt")
        is_batched = src.dim() == 3
        bdim = 0 if self.batch_first else 1
        if src.size(bdim) != tgt.size(bdim) and is_batched:
            raise _AttentionError("Transformer: the batch number of src and tgt must be equal")
        if src.size(-1) != self.d_model or tgt.size(-1) != self.d_model:
            raise _AttentionError(
                "Transformer: the feature number of src and tgt must be equal to d_model"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """A causal mask for a sequence of length sz: (sz, sz) with -inf above the diagonal,
        0 elsewhere, float32 unless dtype is given (True above the diagonal for bool)."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self) -> None:
        """xavier_uniform_ on every parameter with more than one dimension, as torch."""
        for p in self.parameters():
            if p.dim() > 1:
                xavier_uniform_(p)
