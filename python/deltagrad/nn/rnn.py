"""Recurrent layers, as torch.nn: RNN (tanh / relu), LSTM (with proj_size), GRU and the single
step cells RNNCell, LSTMCell, GRUCell.

Built from differentiable Tensor ops (F.linear, sigmoid, tanh, relu, chunk, stack), so autograd
gives every gradient and the layers run on any device those ops support. The parameters are
torch's, by name, shape, gate order (LSTM i, f, g, o; GRU r, z, n) and init
(U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))), so a torch state_dict loads unchanged. The input
projection W_ih x + b_ih of a whole sequence is one matmul; the recurrence then runs step by
step. A PackedSequence input (nn.utils.rnn) runs batch_sizes[t] rows at step t and gives a
PackedSequence output, with torch's h_n / c_n: each sequence's state at its own last step."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import _cpu, ops
from .. import functional as F
from ..autograd import Function
from ..tensor import Tensor, cat, get_array_module, stack
from .init import uniform_
from .module import Module
from .parameter import Parameter, _float_dtype
from .utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _torch_dtype(dt: Any) -> str:
    return f"torch.{np.dtype(dt).name}"


def _input(x: Any, owner: str, name: str = "input") -> Tensor:
    """x as a Tensor (a TypeError for anything else, a PackedSequence included)."""
    return F._tensor(x, f"{owner}: {name}")


class _Steps(Function):
    """x.unbind(0) as ONE graph node: its backward stacks the T step gradients once (Tensor
    unbind's T index nodes would each scatter into a zero array of x's full shape: O(T^2))."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> tuple[Any, ...]:
        return tuple(x[t] for t in range(x.shape[0]))

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return get_array_module(grads[0]).stack(grads, 0)


class _Split(Function):
    """The consecutive row blocks of x of the given sizes as ONE graph node (a packed
    sequence's steps); its backward concatenates their gradients once."""

    @staticmethod
    def forward(ctx: Any, x: Any, sizes: tuple[int, ...]) -> tuple[Any, ...]:
        ends = np.cumsum(sizes)
        return tuple(x[e - n : e] for e, n in zip(ends, sizes))

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return get_array_module(grads[0]).concatenate(grads, 0), None


def _act(a: Any, name: str) -> Any:
    """sigmoid / tanh of an array by the activation kernels (a copy of a strided view)."""
    return ops.activation(a, name)


def _lstm_cell(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """(h', c') of an LSTM step from the summed gate pre-activations gates (N, 4H) (i, f, g, o)
    and the cell state c (N, H), as ONE graph node over [h', c'] (2, N, H) (both halves
    contiguous, as F.linear's fast path wants h): its backward is the
    cell's closed form (a dozen array ops) instead of a dozen graph nodes each way, and its
    double backward recomputes the cell with Tensor ops."""
    hd = c.shape[-1]
    gd, cd = gates.data, c.data
    xp = get_array_module(gd)
    s = _act(gd, "sigmoid")  # i, f, o (and an unused sigmoid of g: one kernel call)
    i, f, o = s[:, :hd], s[:, hd : 2 * hd], s[:, 3 * hd :]
    g = _act(gd[:, 2 * hd : 3 * hd], "tanh")
    c_new = f * cd + i * g
    tc = _act(c_new, "tanh")
    out = xp.stack([o * tc, c_new])

    def _backward(grad: Any) -> None:
        dh, dc = grad[0], grad[1]
        dct = dc + dh * o * (1 - tc * tc)
        if gates.requires_grad:
            dg = xp.empty_like(gd)
            dg[:, :hd] = dct * g * i * (1 - i)
            dg[:, hd : 2 * hd] = dct * cd * f * (1 - f)
            dg[:, 2 * hd : 3 * hd] = dct * i * (1 - g * g)
            dg[:, 3 * hd :] = dh * tc * o * (1 - o)
            gates._accumulate(dg)
        if c.requires_grad:
            c._accumulate(dct * f)

    def _dbackward(grad: Tensor) -> tuple[Any, ...]:
        ti, tf, tg, to = gates.chunk(4, 1)
        ti, tf, tg, to = ti.sigmoid(), tf.sigmoid(), tg.tanh(), to.sigmoid()
        ttc = (tf * c + ti * tg).tanh()
        dh, dc = grad[0], grad[1]
        dct = dc + dh * to * (1 - ttc * ttc)
        dg = cat(
            [
                dct * tg * ti * (1 - ti),
                dct * c * tf * (1 - tf),
                dct * ti * (1 - tg * tg),
                dh * ttc * to * (1 - to),
            ],
            1,
        )
        return dg, dct * tf

    hc = Tensor._make(out, (gates, c), _backward, "lstm_cell", (gates, c), _dbackward)
    return hc[0], hc[1]


def _gru_cell(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """h' of a GRU step from the input and hidden projections gi, gh (N, 3H) (r, z, n) and h,
    as ONE graph node (see _lstm_cell): r = sigmoid(gi_r + gh_r), z likewise, n = tanh(gi_n +
    r * gh_n), h' = (1 - z) n + z h."""
    hd = h.shape[-1]
    a, b, hdat = gi.data, gh.data, h.data
    xp = get_array_module(a)
    rz = _act(a[:, : 2 * hd] + b[:, : 2 * hd], "sigmoid")
    r, z = rz[:, :hd], rz[:, hd:]
    bn = b[:, 2 * hd :]
    n = _act(a[:, 2 * hd :] + r * bn, "tanh")
    out = n + z * (hdat - n)

    def _backward(grad: Any) -> None:
        dn = grad * (1 - z) * (1 - n * n)  # through tanh: the n pre-activation's gradient
        d = xp.empty_like(a)
        d[:, :hd] = dn * bn * r * (1 - r)
        d[:, hd : 2 * hd] = grad * (hdat - n) * z * (1 - z)
        d[:, 2 * hd :] = dn
        if gh.requires_grad:
            dh_ = d.copy() if gi.requires_grad else d  # gi's array is handed over below
            dh_[:, 2 * hd :] = dn * r
            gh._accumulate(dh_)
        if gi.requires_grad:
            gi._accumulate(d)
        if h.requires_grad:
            h._accumulate(grad * z)

    def _dbackward(grad: Tensor) -> tuple[Any, ...]:
        ir, iz, i_n = gi.chunk(3, 1)
        hr, hz, h_n = gh.chunk(3, 1)
        tr, tz = (ir + hr).sigmoid(), (iz + hz).sigmoid()
        tn = (i_n + tr * h_n).tanh()
        dn = grad * (1 - tz) * (1 - tn * tn)
        dr = dn * h_n * tr * (1 - tr)
        dz = grad * (h - tn) * tz * (1 - tz)
        return cat([dr, dz, dn], 1), cat([dr, dz, dn * tr], 1), grad * tz

    return Tensor._make(out, (gi, gh, h), _backward, "gru_cell", (gi, gh, h), _dbackward)


def _sequence(
    mode: str,
    gis: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """A whole layer-direction's recurrence as ONE graph node: from the input projections gis
    (T, N, G H) (W_ih x_t + b_ih), the initial state h0 (and c0) (N, H) and W_hh, b_hh, the
    outputs (T, N, H), h_n and c_n. No double backward (the per-step cells have one).

    A long thin sequence (small N, H) is bound by the per-step array calls, so the loops do as
    few as they can, all into preallocated buffers: forward, the gate buffer is prefilled with
    gis + b_hh for every step at once and one GEMM per step adds h W_hh^T into it (beta = 1);
    the activations run in place on contiguous blocks. Backward (through time), every factor
    that does not depend on the incoming gradient (sigmoid' and tanh' products) is computed
    for all steps at once before the loop, which then does a few multiplies and one GEMM per
    step, that GEMM adding the previous state's gradient into its slot of the output gradient
    (beta = 1); W_hh's and b_hh's gradients are ONE GEMM and one sum over all T N rows."""
    xp = get_array_module(gis.data)
    seq, batch, width = gis.shape
    hd = h0.shape[-1]
    lstm, gru = mode == "LSTM", mode == "GRU"
    w, dt = w_hh.data, gis.data.dtype
    order = range(seq - 1, -1, -1) if reverse else range(seq)
    # the states by slot: step t reads slot t + prv, writes slot t + cur; slot `first` is h0
    # (forward: s[0] = h0, s[t + 1] = h_t; reverse: s[T] = h0, s[t] = h_t)
    cur, prv = (0, 1) if reverse else (1, 0)
    first = seq if reverse else 0
    s = xp.empty((seq + 1, batch, hd), dt)
    s[first] = h0.data
    # the gate pre-activations, W_hh h (+ b_hh) added per step: LSTM i, f, g, o; GRU r, z
    # (gis + b_hh) and n (b_hn: W_hn h + b_hn, which r scales, stays apart from gi_n)
    pre = gis.data.copy() if b_hh is None or gru else gis.data + b_hh.data
    gates = pre.reshape(seq, batch, width // hd, hd)  # gates[:, :, k]: gate k, (T, N, H)
    # the C++ time loop (cpu/rnn.h) for LSTM on numpy: every step's GEMM and gate math in one
    # call (512 steps of N 8, H 32 were bound by the array calls below: 0.36x torch)
    kernel = lstm and xp is np and dt in (np.float32, np.float64) and w.dtype == dt
    if kernel:
        w = np.ascontiguousarray(w)
        pre = np.ascontiguousarray(pre)
        gates = pre.reshape(seq, batch, width // hd, hd)
        ai, af, g, ao = (gates[:, :, k] for k in range(4))  # activated in place, g by tanh
        cs = np.empty((seq + 1, batch, hd), dt)
        cs[first] = c0.data
        tcs = np.empty((seq, batch, hd), dt)
        _cpu.lstm_sequence_forward(pre, s, cs, tcs, np.ascontiguousarray(w.T), reverse)
    elif lstm:
        ai, af, ao = gates[:, :, 0], gates[:, :, 1], gates[:, :, 3]
        g = xp.empty((seq, batch, hd), dt)  # tanh(g) (pre's g block keeps a sigmoid)
        cs = xp.empty((seq + 1, batch, hd), dt)  # the cell states, slots as s
        cs[first] = c0.data
        tcs = xp.empty((seq, batch, hd), dt)  # tanh(c_t)
        tmp = xp.empty((batch, hd), dt)
        for t in order:
            a = pre[t]
            ops.matmul(s[t + prv], w, trans_b=True, beta=1.0, out=a)
            xp.tanh(a[:, 2 * hd : 3 * hd], out=g[t])
            ops.activation(a, "sigmoid", out=a)
            c = cs[t + cur]
            xp.multiply(af[t], cs[t + prv], out=c)
            xp.multiply(ai[t], g[t], out=tmp)
            c += tmp
            ops.activation(c, "tanh", out=tcs[t])
            xp.multiply(ao[t], tcs[t], out=s[t + cur])
    elif gru:
        gin = xp.ascontiguousarray(gis.data[..., 2 * hd :])
        pre[..., 2 * hd :] = 0
        if b_hh is not None:
            pre += b_hh.data
        ghn = gates[:, :, 2]  # W_hn h + b_hn
        sg = xp.empty((seq, batch, width), dt)  # sigmoid(pre): r, z (and maybe an unused third)
        r, z = sg[..., :hd], sg[..., hd : 2 * hd]
        n = xp.empty((seq, batch, hd), dt)
        # sigmoid of whole rows is one kernel call on a contiguous block (the r, z columns of
        # more than one row are a strided view, which the kernel call copies): worth its
        # wasted third only while the per-call overhead dominates
        rows = batch == 1 or batch * hd <= 2048
        for t in order:
            ops.matmul(s[t + prv], w, trans_b=True, beta=1.0, out=pre[t])
            if rows:
                ops.activation(pre[t], "sigmoid", out=sg[t])
            else:
                sg[t, :, : 2 * hd] = ops.activation(pre[t, :, : 2 * hd], "sigmoid")
            nt, h = n[t], s[t + cur]
            xp.multiply(r[t], ghn[t], out=nt)
            nt += gin[t]
            ops.activation(nt, "tanh", out=nt)
            xp.subtract(s[t + prv], nt, out=h)  # h' = n + z (h - n)
            h *= z[t]
            h += nt
    else:
        act = "tanh" if mode == "RNN_TANH" else "relu"
        for t in order:
            ops.matmul(s[t + prv], w, trans_b=True, beta=1.0, out=pre[t])
            ops.activation(pre[t], act, out=s[t + cur])
    ys = s[cur : cur + seq]  # the outputs h_t in time order; the states h_(t-1) follow
    hprev = s[prv : prv + seq]
    if lstm:
        y = xp.empty((seq + 1, batch, hd), dt)  # outputs, then c_n
        y[:seq] = ys
        y[seq] = cs[seq - first]
    else:
        y = ys.copy()  # the node's own array: an in-place change to it leaves s intact

    def _backward(grad: Any) -> None:
        dgates = xp.empty((seq, batch, width), dt)  # d(W_hh h + b_hh) per step
        dg = dgates.reshape(seq, batch, width // hd, hd)
        gacc = xp.empty((seq + 1, batch, hd), dt)  # d(state) by slot, as s
        gacc[cur : cur + seq] = grad[:seq]
        gacc[first] = 0
        if kernel:
            dc = np.array(grad[seq], dt)  # dc_T in, dc_0 out
            _cpu.lstm_sequence_backward(pre, cs, tcs, w, gacc, dc, dgates, reverse)
            dgis = dgates
        elif lstm:
            # d(gates) = dct * (P_i, P_f, P_g) and dh * P_o, dct = dc + dh * A
            i, f, o, tc = ai, af, ao, tcs
            cprev = cs[prv : prv + seq]
            amul = o * (1 - tc * tc)
            p = xp.empty((seq, batch, 3, hd), dt)
            p[:, :, 0] = g * i * (1 - i)
            p[:, :, 1] = cprev * f * (1 - f)
            p[:, :, 2] = i * (1 - g * g)
            po = tc * o * (1 - o)
            dg3, dgo = dg[:, :, :3], dg[:, :, 3]
            dc = grad[seq].copy()
            dct = xp.empty((batch, hd), dt)
            for t in reversed(order):
                dh = gacc[t + cur]
                xp.multiply(dh, amul[t], out=dct)
                dct += dc
                xp.multiply(dct[:, None], p[t], out=dg3[t])
                xp.multiply(dh, po[t], out=dgo[t])
                xp.multiply(dct, f[t], out=dc)
                ops.matmul(dgates[t], w, beta=1.0, out=gacc[t + prv])
            dgis = dgates
        elif gru:
            pn = (1 - z) * (1 - n * n)  # dn = dh * pn (through tanh, the n pre-activation)
            pr = ghn * r * (1 - r)
            pz = (hprev - n) * z * (1 - z)
            dr, dz, dhn = dg[:, :, 0], dg[:, :, 1], dg[:, :, 2]
            dn = xp.empty((seq, batch, hd), dt)
            tmp = xp.empty((batch, hd), dt)
            for t in reversed(order):
                dh, dnt, gp = gacc[t + cur], dn[t], gacc[t + prv]
                xp.multiply(dh, pn[t], out=dnt)
                xp.multiply(dnt, pr[t], out=dr[t])
                xp.multiply(dh, pz[t], out=dz[t])
                xp.multiply(dnt, r[t], out=dhn[t])
                xp.multiply(dh, z[t], out=tmp)
                gp += tmp
                ops.matmul(dgates[t], w, beta=1.0, out=gp)
            dgis = None
            if gis.requires_grad:
                dgis = dgates.copy()
                dgis[..., 2 * hd :] = dn
        else:
            dact = 1 - ys * ys if mode == "RNN_TANH" else ys > 0
            for t in reversed(order):
                xp.multiply(gacc[t + cur], dact[t], out=dgates[t])
                ops.matmul(dgates[t], w, beta=1.0, out=gacc[t + prv])
            dgis = dgates
        if gis.requires_grad:
            gis._accumulate(dgis)
        rows = dgates.reshape(seq * batch, width)
        if w_hh.requires_grad:  # one (G H, T N) @ (T N, H) product for all the steps
            w_hh._accumulate(ops.matmul(rows, hprev.reshape(seq * batch, hd), trans_a=True))
        if b_hh is not None and b_hh.requires_grad:
            b_hh._accumulate(rows.sum(0))
        if h0.requires_grad:
            h0._accumulate(gacc[first].copy())
        if lstm and c0.requires_grad:
            c0._accumulate(dc)

    parents = (gis, h0, c0, w_hh, b_hh)
    parents = tuple(p for p in parents if p is not None)
    node = Tensor._make(y, parents, _backward, "rnn_sequence", saves=parents)
    out = node[:seq] if lstm else node
    last = 0 if reverse else seq - 1
    return out, out[last], (node[seq] if lstm else None)


def _fused(*ts: Tensor) -> bool:
    """The fused cells run the activation kernels: float32 / float64 only."""
    return all(t.data.dtype in (np.float32, np.float64) for t in ts)


def _step(
    mode: str,
    gi: Tensor,
    h: Tensor,
    c: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One recurrence step from the input projection gi = W_ih x + b_ih (batch, gates): the new
    (h, c) (c None but for LSTM)."""
    gh = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return (gi + gh).tanh(), None
    if mode == "RNN_RELU":
        return (gi + gh).relu(), None
    if mode == "LSTM":
        if _fused(gi, gh, c):
            h, c = _lstm_cell(gi + gh, c)
        else:
            i, f, g, o = (gi + gh).chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        return (h if w_hr is None else F.linear(h, w_hr)), c
    if _fused(gi, gh, h):
        return _gru_cell(gi, gh, h), None
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return (1 - z) * n + z * h, None


def _check_bool(v: Any, owner: str, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} should be of type bool, got: {type(v).__name__}")
    return bool(v)


def _check_int(v: Any, owner: str, name: str, lo: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{owner}: {name} should be of type int, got: {type(v).__name__}")
    if v < lo:
        raise ValueError(
            f"{owner}: {name} must be greater than zero"
            if lo == 1
            else f"{owner}: {name} must be >= {lo}, got {v}"
        )
    return int(v)


class RNNBase(Module):
    """The layers' shared part (torch's RNNBase): the parameters weight_ih_l{k}{_reverse},
    weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and weight_hr_l{k} for an LSTM with
    proj_size > 0), in torch's order, and the multi-layer, bidirectional forward."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{owner}: Unrecognized RNN mode: {mode}")
        if (
            isinstance(dropout, (bool, np.bool_))
            or not isinstance(dropout, (int, float, np.integer, np.floating))
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{owner}: dropout should be a number in range [0, 1] representing the "
                "probability of an element being zeroed"
            )
        num_layers = _check_int(num_layers, owner, "num_layers", 1)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        self.mode = mode
        self.bias = _check_bool(bias, owner, "bias")
        self.batch_first = _check_bool(batch_first, owner, "batch_first")
        self.input_size = _check_int(input_size, owner, "input_size", 1)
        self.hidden_size = _check_int(hidden_size, owner, "hidden_size", 1)
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = _check_bool(bidirectional, owner, "bidirectional")
        proj_size = _check_int(proj_size, owner, "proj_size", -(2**62))
        if proj_size < 0:
            raise ValueError(
                f"{owner}: proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= self.hidden_size:
            raise ValueError(f"{owner}: proj_size has to be smaller than hidden_size")
        self.proj_size = proj_size
        dt = _float_dtype(dtype, owner)
        gate_size = _GATES[mode] * self.hidden_size
        real_hidden = proj_size or self.hidden_size
        directions = 2 if self.bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = self.input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [
                    (f"weight_ih{sfx}", (gate_size, layer_input)),
                    (f"weight_hh{sfx}", (gate_size, real_hidden)),
                ]
                if self.bias:
                    shapes += [(f"bias_ih{sfx}", (gate_size,)), (f"bias_hh{sfx}", (gate_size,))]
                if proj_size:
                    shapes.append((f"weight_hr{sfx}", (proj_size, self.hidden_size)))
                for name, shape in shapes:
                    self.register_parameter(name, Parameter(np.zeros(shape), dtype=dt))
                    self._flat_weights_names.append(name)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """torch's init: every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction, as torch's all_weights."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i : i + per]] for i in range(0, len(names), per)]

    def flatten_parameters(self) -> None:
        """A no-op (torch packs the weights for cuDNN; deltagrad needs no packing)."""

    def _weights(self, layer: int, direction: int) -> tuple[Any, ...]:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")

        def get(name: str) -> Any:
            return getattr(self, name)

        return (
            get(f"weight_ih{sfx}"),
            get(f"weight_hh{sfx}"),
            get(f"bias_ih{sfx}") if self.bias else None,
            get(f"bias_hh{sfx}") if self.bias else None,
            get(f"weight_hr{sfx}") if self.proj_size else None,
        )

    def _check_hidden(self, h: Tensor, expected: tuple[int, ...], what: str) -> None:
        if tuple(h.shape) != expected:
            raise RuntimeError(
                f"{type(self).__name__}: Expected {what} size {expected}, got {list(h.shape)}"
            )

    def _run(self, input: Any, hx: Any) -> tuple[Any, Tensor, Tensor | None]:
        """The shared forward: (output, h_n, c_n), c_n None but for LSTM."""
        if isinstance(input, PackedSequence):
            return self._run_packed(input, hx)
        owner = type(self).__name__
        lstm = self.mode == "LSTM"
        x = _input(input, owner)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{owner}: Expected input to be 2D or 3D, got {x.ndim}D tensor instead"
            )
        batched = x.ndim == 3
        bdim = 0 if self.batch_first else 1
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(
                        f"{owner}: hx: expected a tuple (h_0, c_0), got {type(hx).__name__}"
                    )
                h0, c0 = _input(hx[0], owner, "h_0"), _input(hx[1], owner, "c_0")
                if (h0.ndim, c0.ndim) != ((3, 3) if batched else (2, 2)):
                    kind = "batched 3-D" if batched else "unbatched 2-D"
                    raise RuntimeError(
                        f"{owner}: For {kind} input, hx and cx should also be "
                        f"{3 if batched else 2}-D but got ({h0.ndim}-D, {c0.ndim}-D) tensors"
                    )
            else:
                h0 = _input(hx, owner, "hx")
                if h0.ndim != (3 if batched else 2):
                    kind = "batched 3-D" if batched else "unbatched 2-D"
                    raise RuntimeError(
                        f"{owner}: For {kind} input, hx should also be "
                        f"{3 if batched else 2}-D but got {h0.ndim}-D tensor"
                    )
        if not batched:
            x = x.unsqueeze(bdim)
            h0 = None if h0 is None else h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        w0 = self.weight_ih_l0
        if x.dtype != w0.dtype:
            raise ValueError(
                f"{owner} input dtype ({_torch_dtype(x.dtype)}) does not match weight dtype "
                f"({_torch_dtype(w0.dtype)}). Convert input: input.to({_torch_dtype(w0.dtype)}),"
                f" or convert model: model.to({_torch_dtype(x.dtype)})"
            )
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{owner}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        if self.batch_first:
            x = x.transpose(0, 1)  # (L, N, H_in) from here on
        seq, batch = x.shape[0], x.shape[1]
        if seq == 0:
            raise RuntimeError(f"{owner}: Expected sequence length to be larger than 0 in RNN")
        directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size or self.hidden_size
        h_shape = (self.num_layers * directions, batch, real_hidden)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if h0 is None:
            h0 = x.new_zeros(h_shape)
        else:
            self._check_hidden(h0, h_shape, "hidden[0]" if lstm else "hidden")
        if lstm:
            if c0 is None:
                c0 = x.new_zeros(c_shape)
            else:
                self._check_hidden(c0, c_shape, "hidden[1]")
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                k = layer * directions + d
                h, c = h0[k], (c0[k] if lstm else None)
                proj = F.linear(x, w_ih, b_ih)  # the input projection, all steps at once
                if w_hr is None and _fused(proj, h, w_hh) and (c is None or _fused(c)):
                    y, h, c = _sequence(self.mode, proj, h, c, w_hh, b_hh, bool(d))
                    outs.append(y)
                    hs.append(h)
                    if lstm:
                        cs.append(c)
                    continue
                gis = _Steps.apply(proj)
                out: list[Any] = [None] * seq
                for t in range(seq - 1, -1, -1) if d else range(seq):
                    h, c = _step(self.mode, gis[t], h, c, w_hh, b_hh, w_hr)
                    out[t] = h
                outs.append(stack(out, 0))
                hs.append(h)
                if lstm:
                    cs.append(c)
            x = outs[0] if directions == 1 else cat(outs, 2)
        h_n = stack(hs, 0)
        c_n = stack(cs, 0) if lstm else None
        if self.batch_first:
            x = x.transpose(0, 1)
        if not batched:
            x = x.squeeze(bdim)
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        return x, h_n, c_n

    def _packed_hidden(
        self, hx: Any, batch: int, sorted_indices: Any
    ) -> tuple[Tensor | None, Tensor | None]:
        """(h_0, c_0) of a packed input, checked ((layers * directions, batch, H)) and put in
        the packed (sorted) batch order; None where not given."""
        owner = type(self).__name__
        if hx is None:
            return None, None
        directions = 2 if self.bidirectional else 1
        h_shape = (self.num_layers * directions, batch, self.proj_size or self.hidden_size)
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    f"{owner}: hx: expected a tuple (h_0, c_0), got {type(hx).__name__}"
                )
            h0, c0 = _input(hx[0], owner, "h_0"), _input(hx[1], owner, "c_0")
            self._check_hidden(h0, h_shape, "hidden[0]")
            self._check_hidden(c0, (*h_shape[:2], self.hidden_size), "hidden[1]")
        else:
            h0, c0 = _input(hx, owner, "hx"), None
            self._check_hidden(h0, h_shape, "hidden")
        if sorted_indices is not None:
            h0 = h0.index_select(1, sorted_indices)
            c0 = None if c0 is None else c0.index_select(1, sorted_indices)
        return h0, c0

    def _run_packed(
        self, seq: PackedSequence, hx: Any
    ) -> tuple[PackedSequence, Tensor, Tensor | None]:
        """The forward of a PackedSequence: step t runs the first batch_sizes[t] rows (the
        sequences still running, a prefix in the sorted order). Forward direction: a sequence's
        final state is its state when it stops running; reverse direction: a sequence joins
        (from h_0) at its own last step. h_n / c_n are put back in the caller's batch order."""
        owner = type(self).__name__
        lstm = self.mode == "LSTM"
        x = _input(seq.data, owner, "input.data")
        bs = [int(n) for n in np.asarray(getattr(seq.batch_sizes, "data", seq.batch_sizes))]
        w0 = self.weight_ih_l0
        if x.dtype != w0.dtype:
            raise ValueError(
                f"{owner} input dtype ({_torch_dtype(x.dtype)}) does not match weight dtype "
                f"({_torch_dtype(w0.dtype)}). Convert input: input.to({_torch_dtype(w0.dtype)}),"
                f" or convert model: model.to({_torch_dtype(x.dtype)})"
            )
        if x.ndim != 2:
            raise RuntimeError(f"{owner}: input must have 2 dimensions, got {x.ndim}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{owner}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        if not bs or min(bs) <= 0 or sorted(bs, reverse=True) != bs or sum(bs) != x.shape[0]:
            raise ValueError(
                f"{owner}: input: batch_sizes {bs} are not positive and non-increasing, "
                f"summing to data's {x.shape[0]} rows"
            )
        steps, batch = len(bs), bs[0]
        h0, c0 = self._packed_hidden(hx, batch, seq.sorted_indices)
        directions = 2 if self.bidirectional else 1
        if h0 is None:
            h0 = x.new_zeros(
                (self.num_layers * directions, batch, self.proj_size or self.hidden_size)
            )
        if lstm and c0 is None:
            c0 = x.new_zeros((self.num_layers * directions, batch, self.hidden_size))
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                k = layer * directions + d
                gis = _Split.apply(F.linear(x, w_ih, b_ih), tuple(bs))
                out: list[Any] = [None] * steps
                if d == 0:  # the batch shrinks: keep each sequence's state as it stops
                    h, c = h0[k], (c0[k] if lstm else None)
                    done: list[tuple[Tensor, Tensor | None]] = []
                    for t in range(steps):
                        n = bs[t]
                        if n < h.shape[0]:
                            done.append((h[n:], None if c is None else c[n:]))
                            h, c = h[:n], (None if c is None else c[:n])
                        h, c = _step(self.mode, gis[t], h, c, w_hh, b_hh, w_hr)
                        out[t] = h
                    if done:
                        done.append((h, c))
                        h = cat([p[0] for p in reversed(done)], 0)
                        c = cat([p[1] for p in reversed(done)], 0) if lstm else None
                else:  # the batch grows: a sequence starts from h_0 at its last step
                    n = bs[-1]
                    h, c = h0[k][:n], (c0[k][:n] if lstm else None)
                    for t in range(steps - 1, -1, -1):
                        m, n = n, bs[t]
                        if n > m:
                            h = cat([h, h0[k][m:n]], 0)
                            c = cat([c, c0[k][m:n]], 0) if lstm else None
                        h, c = _step(self.mode, gis[t], h, c, w_hh, b_hh, w_hr)
                        out[t] = h
                outs.append(out[0] if steps == 1 else cat(out, 0))
                hs.append(h)
                if lstm:
                    cs.append(c)
            x = outs[0] if directions == 1 else cat(outs, 1)
        h_n = stack(hs, 0)
        c_n = stack(cs, 0) if lstm else None
        if seq.unsorted_indices is not None:
            h_n = h_n.index_select(1, seq.unsorted_indices)
            c_n = None if c_n is None else c_n.index_select(1, seq.unsorted_indices)
        packed = PackedSequence(x, seq.batch_sizes, seq.sorted_indices, seq.unsorted_indices)
        return packed, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh), nonlinearity
    'tanh' or 'relu'. forward(input, hx=None) -> (output, h_n): input (L, N, H_in) ((N, L, H_in)
    with batch_first) or unbatched (L, H_in), or a PackedSequence (then output is one too);
    hx / h_n (num_layers * num_directions, N, H_out)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Tensor]:
        out, h_n, _ = self._run(input, hx)
        return out, h_n


class LSTM(RNNBase):
    """Long short-term memory, torch's gates i, f, g, o: c_t = f * c_(t-1) + i * g,
    h_t = o * tanh(c_t) (then h_t = W_hr h_t with proj_size > 0). forward(input, hx=None) ->
    (output, (h_n, c_n)); hx is a tuple (h_0, c_0)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, tuple[Tensor, Tensor]]:
        out, h_n, c_n = self._run(input, hx)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, torch's gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h +
    b_hn)), h_t = (1 - z) * n + z * h_(t-1). forward(input, hx=None) -> (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Tensor]:
        out, h_n, _ = self._run(input, hx)
        return out, h_n


class RNNCellBase(Module):
    """The cells' shared part: weight_ih (chunks * hidden_size, input_size), weight_hh
    (chunks * hidden_size, hidden_size), bias_ih, bias_hh (None with bias=False)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_int(input_size, owner, "input_size", 0)
        self.hidden_size = _check_int(hidden_size, owner, "hidden_size", 0)
        self.bias = _check_bool(bias, owner, "bias")
        dt = _float_dtype(dtype, owner)
        g = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.zeros((g, self.input_size)), dtype=dt)
        self.weight_hh = Parameter(np.zeros((g, self.hidden_size)), dtype=dt)
        if self.bias:
            self.bias_ih = Parameter(np.zeros(g), dtype=dt)
            self.bias_hh = Parameter(np.zeros(g), dtype=dt)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """torch's init: every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input: Any, hx: Any, names: tuple[str, ...]) -> tuple[Tensor, list[Any]]:
        """Input and hidden states as 2-D (batch, features) Tensors, checked as torch checks
        them; a missing state is zeros. Unbatched (1-D) input gets a batch dim of 1."""
        owner = type(self).__name__
        x = _input(input, owner)
        if x.ndim not in (1, 2):
            raise ValueError(f"{owner}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        states: list[Any] = [None] * len(names)
        if hx is not None:
            if len(names) == 1:
                states = [_input(hx, owner, "hx")]
            else:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(
                        f"{owner}: hx: expected a tuple (h_0, c_0), got {type(hx).__name__}"
                    )
                states = [_input(hx[0], owner, "h_0"), _input(hx[1], owner, "c_0")]
            for s, name in zip(states, names):
                if s.ndim not in (1, 2):
                    raise ValueError(
                        f"{owner}: Expected {name} to be 1D or 2D, got {s.ndim}D instead"
                    )
        if x.ndim == 1:
            x = x.unsqueeze(0)
            states = [None if s is None else s.unsqueeze(0) for s in states]
        if x.dtype != self.weight_ih.dtype:
            raise RuntimeError(
                f"{owner}: input dtype {x.dtype} does not match the weights' "
                f"dtype {self.weight_ih.dtype} (torch: mat1 and mat2 must have "
                "the same dtype)"
            )
        if x.shape[1] != self.input_size:
            raise RuntimeError(
                f"{owner}: input has inconsistent input_size: got {x.shape[1]} "
                f"expected {self.input_size}"
            )
        batch = x.shape[0]
        for i, s in enumerate(states):
            if s is None:
                states[i] = x.new_zeros((batch, self.hidden_size))
                continue
            if s.shape[0] != batch:
                raise RuntimeError(
                    f"{owner}: Input batch size {batch} doesn't match hidden{i} "
                    f"batch size {s.shape[0]}"
                )
            if s.ndim != 2 or s.shape[1] != self.hidden_size:
                got = s.shape[1] if s.ndim > 1 else None
                raise RuntimeError(
                    f"{owner}: hidden{i} has inconsistent hidden_size: got "
                    f"{got}, expected {self.hidden_size}"
                )
            if s.dtype != x.dtype:
                raise RuntimeError(
                    f"{owner}: hidden{i} dtype {s.dtype} does not match the input's {x.dtype}"
                )
        return x, states

    def _gi(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh). forward(input,
    hx=None) -> h': input (N, H_in) or (H_in,), hx (N, H) or (H,)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        batched = _input(input, "RNNCell").ndim != 1
        x, (h,) = self._prepare(input, hx, ("hidden",))
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"RNNCell: Unknown nonlinearity: {self.nonlinearity}")
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        h, _ = _step(mode, self._gi(x), h, None, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o). forward(input, hx=None) -> (h', c'); hx is a tuple
    (h, c) of (N, H) or (H,) tensors."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        batched = _input(input, "LSTMCell").ndim != 1
        x, (h, c) = self._prepare(input, hx, ("hx[0]", "hx[1]"))
        h, c = _step("LSTM", self._gi(x), h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n). forward(input, hx=None) -> h'."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        batched = _input(input, "GRUCell").ndim != 1
        x, (h,) = self._prepare(input, hx, ("hidden",))
        h, _ = _step("GRU", self._gi(x), h, None, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
