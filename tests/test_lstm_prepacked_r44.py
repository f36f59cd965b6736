"""nn.LSTM's time loop with W_hh packed once per call (csrc/cpu/rnn.h StepGemm, cpu/gemm.h
gemm_prepack / gemm_prepacked) instead of by gemm() on every step: the same bits as the
per-step route (_cpu._set_rnn_prepack(False)) on every ISA, dtype and direction, at hidden sizes
that cross the GEMM blocking's k block (kc) and column block (nb), with C's rows or columns split
between threads; 1 and 2 threads the same bits; and the values against a NumPy float64 loop.
Every case checks (_cpu._rnn_prepacked_loops) that it took the prepacked route."""

from __future__ import annotations

import numpy as np
import pytest
from _lstm_helpers import lstm_kernel, lstm_reference

import deltagrad as dg
from deltagrad import _cpu

DTYPES = [np.float32, np.float64]


def _isas() -> list[str]:
    """The ISAs this machine runs (set_active_isa caps at the detected one)."""
    old = _cpu.active_isa()
    try:
        return [i for i in ("avx512", "avx2", "generic") if _cpu.set_active_isa(i) == i]
    finally:
        _cpu.set_active_isa(old)


ISAS = _isas()


def _cases(isa: str, dtype) -> list[tuple[int, int, int]]:
    """(seq, batch, hidden): hidden past kc (two k blocks forward, more backward), 4 hidden
    past nb (forward columns in two blocks), odd sizes, a batch large enough for the 2-thread
    split of C's rows (backward), one step."""
    blk = _cpu._gemm_blocking(isa, np.dtype(dtype).name)
    kc, hnb = blk["kc"], blk["nb"] // 4 + 5
    nb_batch = max(50, (1 << 20) // (4 * hnb * hnb) + 1)  # past gemm_direct's reach
    return [
        (3, 13, kc + 3),
        (4, nb_batch, hnb),
        (3, 29, 100),
        (2, 120, 80),
        (1, 33, 2 * kc + 1),
    ]


def _inputs(seq, batch, hd, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    pre = rng.standard_normal((seq, batch, 4 * hd)) * scale
    h0, c0 = rng.standard_normal((batch, hd)), rng.standard_normal((batch, hd))
    w = rng.standard_normal((4 * hd, hd)) / np.sqrt(hd)
    dys, dcn = rng.standard_normal((seq, batch, hd)), rng.standard_normal((batch, hd))
    return pre, h0, c0, w, dys, dcn


def _run(args, reverse, dtype):
    """lstm_kernel on _inputs' (pre, h0, c0, w, dys, dcn)."""
    pre, h0, c0, w, dys, dcn = args
    return lstm_kernel(pre, h0, c0, w, reverse, dys, dcn, dtype)


def _route(prepack: bool, fn):
    """fn() with the time loops' W_hh packed once per call (True) or by gemm() each step, and
    the check that the switch took: some loop packed (each case packs W_hh forward, backward or
    both), or none did."""
    old = _cpu._set_rnn_prepack(prepack)
    try:
        before = _cpu._rnn_prepacked_loops()
        out = fn()
        packed = _cpu._rnn_prepacked_loops() - before
    finally:
        _cpu._set_rnn_prepack(old)
    assert packed > 0 if prepack else packed == 0, packed
    return out


def _on(isa, nthreads, fn):
    old_isa, old_nt = _cpu.active_isa(), dg.get_num_threads()
    _cpu.set_active_isa(isa)
    dg.set_num_threads(nthreads)
    try:
        return fn()
    finally:
        _cpu.set_active_isa(old_isa)
        dg.set_num_threads(old_nt)


def _assert_same_bits(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        bits = np.uint32 if g.dtype == np.float32 else np.uint64
        diff = np.flatnonzero(g.view(bits) != w.view(bits))
        assert diff.size == 0, f"{diff.size} of {g.size} differ, first at {diff[0]}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_prepacked_route_has_the_per_step_bits(isa, dtype, reverse):
    for i, (seq, batch, hd) in enumerate(_cases(isa, dtype)):
        args = _inputs(seq, batch, hd, seed=1000 * i + hd)
        want = _route(False, lambda a=args: _on(isa, 1, lambda: _run(a, reverse, dtype)))
        for nthreads in (1, 2):
            got = _route(
                True,
                lambda a=args, n=nthreads: _on(isa, n, lambda: _run(a, reverse, dtype)),
            )
            _assert_same_bits(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prepacked_route_saturated_gates_same_bits(dtype):
    """Pre-activations up to ~150: sigmoid / tanh saturate, the state gradients vanish."""
    isa = ISAS[0]
    seq, batch, hd = _cases(isa, dtype)[2]
    args = _inputs(seq, batch, hd, seed=7, scale=50.0)
    want = _route(False, lambda: _on(isa, 2, lambda: _run(args, False, dtype)))
    got = _route(True, lambda: _on(isa, 2, lambda: _run(args, False, dtype)))
    _assert_same_bits(got, want)
    assert all(np.isfinite(g).all() for g in got)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-11), (np.float32, 3e-5)])
@pytest.mark.parametrize("reverse", [False, True])
def test_prepacked_route_equals_the_float64_loop(dtype, tol, reverse):
    isa = ISAS[0]
    for i, (seq, batch, hd) in enumerate(_cases(isa, dtype)[:3]):
        args = _inputs(seq, batch, hd, seed=50 + i)
        ys, cn, _, dpre, dh0, dc0 = _route(
            True, lambda a=args: _on(isa, 2, lambda: _run(a, reverse, dtype))
        )
        want = lstm_reference(*args[:4], reverse, *args[4:])
        for got, ref in zip((ys, cn, dpre, dh0, dc0), want, strict=True):
            scale = max(1.0, float(np.abs(ref).max()))
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)


def test_set_rnn_prepack_is_one_switch_returning_the_previous_value():
    """On by default; the setter returns the value it replaces; a small product (gemm() packs no
    B for it: nothing to reuse) runs per step even with the switch on."""
    assert _cpu._set_rnn_prepack(True) is True
    try:
        assert _cpu._set_rnn_prepack(False) is True
        assert _cpu._set_rnn_prepack(False) is False
    finally:
        assert _cpu._set_rnn_prepack(True) is False
    args = _inputs(3, 2, 5, seed=3)
    before = _cpu._rnn_prepacked_loops()
    got = _run(args, False, np.float64)
    assert _cpu._rnn_prepacked_loops() == before
    want = lstm_reference(*args[:4], False, *args[4:])
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-12)
