"""F.ctc_loss on the CPU kernel (csrc/cpu/ctc.h, round 43) against torch 2.13 and against the
NumPy path it replaced (_functional_extra._ctc_nll, kept for other array backends): losses and
gradients for both target layouts, repeated labels, impossible alignments, empty targets,
short inputs, every reduction, float32 and float64; the kernel's log-space fallback (forced,
and where log_probs leave the probability-space range); the binding's checks."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import _cpu
from deltagrad import _functional_extra as FX

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# The kernel computes in double whatever the dtype: a float32 result is held to 1e-5 against
# torch in float64; torch's float32 answer (and the NumPy path's) carries its own rounding, about
# eps32 x the loss in the exponent (5e-5 at a loss of 150, 2e-3 at 7000), so it gets 2e-4.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
LOOSE32 = dict(rtol=2e-4, atol=2e-4)


def _case(rng, t, n, c, s, blank=0, repeats=False, dtype=np.float64, scale=1.0):
    """Random log_probs (T, N, C) (log_softmax of scaled normal logits), padded targets
    (N, S) avoiding blank, input lengths in [1, T] (the first T), target lengths in [0, S]."""
    x = rng.standard_normal((t, n, c)) * scale
    lp = (x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))) - x.max(
        -1, keepdims=True
    )
    labels = [k for k in range(c) if k != blank]
    tg = rng.choice(labels, size=(n, max(s, 1)))
    if repeats:  # runs of one label: each repeat needs a blank between
        tg[:, 1::2] = tg[:, 0::2][:, : tg[:, 1::2].shape[1]]
    il = rng.integers(1, t + 1, n)
    il[0] = t
    tl = rng.integers(0, s + 1, n)
    return lp.astype(dtype), tg, il, tl


def _torch_run(lp, tg, il, tl, blank, reduction, zi, g):
    lpt = torch.tensor(lp, requires_grad=True)
    out = TF.ctc_loss(
        lpt, torch.tensor(tg), torch.tensor(il), torch.tensor(tl), blank, reduction, zi
    )
    out.backward(torch.tensor(g, dtype=lpt.dtype))
    return out.detach().numpy(), lpt.grad.numpy()


def _dg_run(lp, tg, il, tl, blank, reduction, zi, g):
    lpd = dg.Tensor(lp.copy(), requires_grad=True)
    out = F.ctc_loss(lpd, dg.Tensor(tg), dg.Tensor(il), dg.Tensor(tl), blank, reduction, zi)
    out.backward(dg.Tensor(np.asarray(g, dtype=lp.dtype)))
    return out.numpy(), np.asarray(lpd.grad)


def _ref_run(lp, tg, il, tl, blank, zi, g):
    """The NumPy path (per-sample losses, reduction 'none') and its gradient for g."""
    lpd = dg.Tensor(lp.copy(), requires_grad=True)
    tg = np.asarray(tg, np.int64)
    tl = np.asarray(tl, np.int64)
    labels = FX._ctc_labels("ctc_loss", tg, tl, lp.shape[-1], blank)
    out = FX._ctc_nll("ctc_loss", lpd, labels, np.asarray(il, np.int64), tl, blank, zi)
    out.backward(dg.Tensor(np.asarray(g, dtype=lp.dtype)))
    return out.numpy(), np.asarray(lpd.grad)


def _close(got, want, dtype, what, f32_peer=False):
    """got against want; f32_peer: want came from a float32 computation (LOOSE32)."""
    tol = LOOSE32 if f32_peer and dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(got, want, err_msg=what, equal_nan=True, **tol)


def _grad_for(rng, reduction, n):
    return rng.random(n) + 0.5 if reduction == "none" else np.asarray(rng.random() + 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize(
    "shape", [(17, 5, 7, 4), (31, 3, 11, 9), (9, 1, 5, 3), (64, 16, 28, 20), (5, 4, 3, 2)]
)
def test_matches_torch_and_numpy_path(shape, reduction, dtype):
    t, n, c, s = shape
    rng = np.random.default_rng(hash((shape, reduction)) % 2**32)
    for blank, repeats in ((0, False), (c - 1, True)):
        lp, tg, il, tl = _case(rng, t, n, c, s, blank, repeats, dtype)
        g = _grad_for(rng, reduction, n)
        want, want_g = _torch_run(lp, tg, il, tl, blank, reduction, False, g)
        got, got_g = _dg_run(lp, tg, il, tl, blank, reduction, False, g)
        assert got.dtype == dtype and got_g.dtype == dtype
        _close(got, want, dtype, "loss vs torch", True)
        _close(got_g, want_g, dtype, "grad vs torch", True)
        # torch in float64: the kernel computes in double whatever the dtype
        want64, want64_g = _torch_run(lp.astype(np.float64), tg, il, tl, blank, reduction, False, g)
        _close(got, want64, dtype, "loss vs torch float64")
        _close(got_g, want64_g, dtype, "grad vs torch float64")
        gn = np.ones(n) if reduction != "none" else g
        ref, ref_g = _ref_run(lp, tg, il, tl, blank, False, gn)
        got_n, got_ng = _dg_run(lp, tg, il, tl, blank, "none", False, gn)
        _close(got_n, ref, dtype, "loss vs the numpy path", True)
        _close(got_ng, ref_g, dtype, "grad vs the numpy path", True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concatenated_targets(dtype):
    rng = np.random.default_rng(1)
    lp, tg, il, tl = _case(rng, 23, 6, 9, 7, dtype=dtype, repeats=True)
    tl[2] = 0
    flat = np.concatenate([tg[i, : tl[i]] for i in range(6)]).astype(np.int64)
    g = rng.random(6) + 0.5
    want, want_g = _torch_run(lp.astype(np.float64), flat, il, tl, 0, "none", False, g)
    got, got_g = _dg_run(lp, flat, il, tl, 0, "none", False, g)
    _close(got, want, dtype, "loss")
    _close(got_g, want_g, dtype, "grad")
    padded, padded_g = _dg_run(lp, tg, il, tl, 0, "none", False, g)
    np.testing.assert_array_equal(got, padded)
    np.testing.assert_array_equal(got_g, padded_g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zi", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_impossible_alignments_and_edges(zi, reduction, dtype):
    """A target too long for its input (repeats need blanks: 3 x 'a' needs 5 steps), an input
    of length 0 (loss 0 for an empty target, inf else), an empty target, inputs shorter than T:
    inf losses (0 with zero_infinity) and torch's NaN (or 0) gradients."""
    rng = np.random.default_rng(2)
    t, c = 6, 5
    lp, _, _, _ = _case(rng, t, 7, c, 3, dtype=dtype)
    tg = np.array([[1, 1, 1], [2, 3, 4], [1, 2, 0], [3, 0, 0], [4, 4, 0], [1, 2, 3], [2, 0, 0]])
    il = np.array([4, 6, 0, 0, 2, 3, 5])
    tl = np.array([3, 3, 0, 1, 2, 3, 0])
    g = _grad_for(rng, reduction, 7)
    want, want_g = _torch_run(lp.astype(np.float64), tg, il, tl, 0, reduction, zi, g)
    got, got_g = _dg_run(lp, tg, il, tl, 0, reduction, zi, g)
    _close(got, want, dtype, "loss")
    _close(got_g, want_g, dtype, "grad")
    if reduction == "none":
        assert np.isinf(got).sum() == (0 if zi else 3)
        assert np.isnan(got_g).any() != zi


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unbatched_and_single_sample(dtype):
    rng = np.random.default_rng(3)
    lp, tg, il, tl = _case(rng, 13, 1, 6, 5, dtype=dtype)
    g = np.asarray(0.75)
    for red in ("none", "mean"):
        x64, t0 = lp[:, 0].astype(np.float64), tg[0, : tl[0]]
        want, want_g = _torch_run(x64, t0, il[:1], tl[:1], 0, red, False, g)
        lpd = dg.Tensor(lp[:, 0].copy(), requires_grad=True)
        out = F.ctc_loss(lpd, dg.Tensor(t0), int(il[0]), [int(tl[0])], reduction=red)
        assert out.shape == ()
        out.backward(dg.Tensor(g.astype(dtype)))
        _close(out.numpy(), want, dtype, red)
        _close(np.asarray(lpd.grad), want_g, dtype, red)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_space_fallback(dtype):
    """Each sample by ATen's log-space recursions (forced, and where the probability-space pass
    cannot keep its bits: log_probs of -1e3 and -inf, confident logits over a long input)
    gives what the probability-space pass gives, and torch's answer."""
    rng = np.random.default_rng(4)
    lp, tg, il, tl = _case(rng, 41, 6, 8, 6, dtype=dtype, repeats=True)
    args = (lp, tg.astype(np.int64), il.astype(np.int64), tl.astype(np.int64), 0, False, True)
    fast, fast_g = _cpu.ctc_loss(*args)
    slow, slow_g = _cpu.ctc_loss(*args, force_log=True)
    _close(fast, slow, dtype, "loss")
    _close(fast_g, slow_g, dtype, "grad")
    lp2 = lp.copy()
    lp2[3, 1, 2] = -1e3  # outside the probability-space range: sample 1 in log space
    lp2[5, 2, 0] = -np.inf  # a NaN gradient for torch at (5, 2, 0)
    # confident: exp(-40) a step off the best path over 200 steps
    lp3, tg3, il3, tl3 = _case(rng, 200, 3, 6, 10, dtype=dtype, scale=40.0)
    for x, t_, i_, l_ in ((lp2, tg, il, tl), (lp3, tg3, il3, tl3)):
        g = rng.random(x.shape[1]) + 0.5
        want, want_g = _torch_run(x.astype(np.float64), t_, i_, l_, 0, "none", False, g)
        got, got_g = _dg_run(x, t_, i_, l_, 0, "none", False, g)
        _close(got, want, dtype, "loss")
        _close(got_g, want_g, dtype, "grad")


def test_forward_only_and_no_grad():
    rng = np.random.default_rng(5)
    lp, tg, il, tl = _case(rng, 15, 4, 6, 5)
    want = TF.ctc_loss(torch.tensor(lp), torch.tensor(tg), torch.tensor(il), torch.tensor(tl))
    got = F.ctc_loss(dg.Tensor(lp), dg.Tensor(tg), dg.Tensor(il), dg.Tensor(tl))
    assert not got.requires_grad
    _close(got.numpy(), want.numpy(), np.float64, "loss")
    x = dg.Tensor(lp, requires_grad=True)
    with dg.no_grad():
        got = F.ctc_loss(x, dg.Tensor(tg), dg.Tensor(il), dg.Tensor(tl))
    _close(got.numpy(), want.numpy(), np.float64, "no_grad loss")


def test_backward_twice_accumulates():
    rng = np.random.default_rng(6)
    lp, tg, il, tl = _case(rng, 11, 3, 5, 4)
    x = dg.Tensor(lp, requires_grad=True)
    out = F.ctc_loss(x, dg.Tensor(tg), dg.Tensor(il), dg.Tensor(tl), reduction="sum")
    out.backward(retain_graph=True)
    once = np.asarray(x.grad).copy()
    out.backward()
    np.testing.assert_allclose(np.asarray(x.grad), 2 * once, rtol=1e-14)


def test_label_out_of_range_and_binding_checks():
    rng = np.random.default_rng(7)
    lp, tg, il, tl = _case(rng, 8, 2, 4, 3)
    tg[1, 0] = 4
    tl[1] = 2
    with pytest.raises(IndexError, match=r"a label is out of range \[0, 4\)"):
        F.ctc_loss(dg.Tensor(lp), dg.Tensor(tg), dg.Tensor(il), dg.Tensor(tl))
    flat = np.array([1, 2, -1], np.int64)
    with pytest.raises(IndexError, match="out of range"):
        F.ctc_loss(dg.Tensor(lp), dg.Tensor(flat), dg.Tensor(il), [1, 2])
    tg[1, 0] = 1
    i64 = np.int64
    ok = (lp, tg.astype(i64), il.astype(i64), tl.astype(i64), 0, False, True)
    bad = [
        ((lp.astype(np.float16),) + ok[1:], TypeError, "float32 or float64"),
        ((lp[:, :, ::2],) + ok[1:], ValueError, "C-contiguous"),
        ((lp[0],) + ok[1:], ValueError, "3-D"),
        (ok[:1] + (tg.astype(np.int32),) + ok[2:], TypeError, "int64"),
        (ok[:2] + (il[:1].astype(i64),) + ok[3:], ValueError, "input_lengths"),
        (ok[:2] + (np.array([9, 1], i64),) + ok[3:], ValueError, "input_lengths"),
        (ok[:3] + (np.array([4, 1], i64),) + ok[4:], ValueError, "target_lengths"),
        (ok[:3] + (np.array([-1, 1], i64),) + ok[4:], ValueError, "target_lengths"),
        (ok[:4] + (4,) + ok[5:], ValueError, "blank"),
        (ok[:1] + (np.array([1, 2], i64),) + ok[2:], ValueError, "target_lengths|targets"),
    ]
    for args, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            _cpu.ctc_loss(*args)


def test_threads_agree():
    """The samples split over threads give the single-thread answer exactly."""
    rng = np.random.default_rng(8)
    lp, tg, il, tl = _case(rng, 70, 9, 12, 15, repeats=True)
    args = (lp, tg.astype(np.int64), il.astype(np.int64), tl.astype(np.int64), 0, False, True)
    prev = dg.get_num_threads()
    try:
        dg.set_num_threads(1)
        one = _cpu.ctc_loss(*args)
        dg.set_num_threads(2)
        two = _cpu.ctc_loss(*args)
    finally:
        dg.set_num_threads(prev)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
