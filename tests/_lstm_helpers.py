"""The float64 reference of one LSTM layer-direction's time loop (csrc/cpu/rnn.h), forward and
backward through time, and the kernel's run, for the kernel tests (test_lstm_kernel_r43.py and
test_lstm_prepacked_r44.py)."""

from __future__ import annotations

import numpy as np

from deltagrad import _cpu


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_reference(pre, h0, c0, w, reverse, dys, dcn):
    """Forward and backward through time in float64: outputs, c_n, d(pre), dh0, dc0."""
    seq, batch, g4 = pre.shape
    hd = g4 // 4
    order = range(seq - 1, -1, -1) if reverse else range(seq)
    h, c = h0.copy(), c0.copy()
    keep, ys = {}, np.zeros((seq, batch, hd))
    for t in order:
        a = pre[t] + h @ w.T
        i, f = sigmoid(a[:, :hd]), sigmoid(a[:, hd : 2 * hd])
        g, o = np.tanh(a[:, 2 * hd : 3 * hd]), sigmoid(a[:, 3 * hd :])
        cn = f * c + i * g
        keep[t] = (i, f, g, o, c, np.tanh(cn))
        h, c = o * np.tanh(cn), cn
        ys[t] = h
    dpre = np.zeros_like(pre)
    dh, dc = np.zeros((batch, hd)), dcn.copy()
    for t in reversed(list(order)):
        i, f, g, o, cp, tc = keep[t]
        dh = dh + dys[t]
        dct = dh * o * (1 - tc * tc) + dc
        d = np.concatenate(
            [dct * g * i * (1 - i), dct * cp * f * (1 - f), dct * i * (1 - g * g),
             dh * tc * o * (1 - o)], axis=1)  # fmt: skip
        dpre[t] = d
        dc = dct * f
        dh = d @ w
    return ys, c, dpre, dh, dc


def lstm_kernel(pre, h0, c0, w, reverse, dys, dcn, dtype):
    """The kernel's forward then backward in dtype: outputs, c_n, the gates (written over a copy
    of pre), d(pre), dh0, dc0."""
    seq, batch, g4 = pre.shape
    hd = g4 // 4
    first, cur = (seq, 0) if reverse else (0, 1)
    p = pre.astype(dtype)
    s = np.empty((seq + 1, batch, hd), dtype)
    cs = np.empty((seq + 1, batch, hd), dtype)
    s[first], cs[first] = h0, c0
    tcs = np.empty((seq, batch, hd), dtype)
    wd = w.astype(dtype)
    _cpu.lstm_sequence_forward(p, s, cs, tcs, np.ascontiguousarray(wd.T), reverse)
    ys, cn = s[cur : cur + seq].copy(), cs[seq - first].copy()
    gacc = np.zeros((seq + 1, batch, hd), dtype)
    gacc[cur : cur + seq] = dys
    dc = dcn.astype(dtype)
    dgates = np.empty_like(p)
    _cpu.lstm_sequence_backward(p, cs, tcs, wd, gacc, dc, dgates, reverse)
    return ys, cn, p, dgates, gacc[first], dc
