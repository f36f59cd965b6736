"""col2im (F.fold's forward, F.unfold's backward) writes each pixel's one tap where the taps
never meet (round 44: patchify, kernel == stride; dilated interleaving windows) instead of
adding into zeros; where they also tile the image no zeros are written first. Values, signed
zeros (torch's zero-started sum turns -0.0 into +0.0), NaN / inf and the overlapping case
against torch, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deltagrad as dg
import deltagrad.functional as F
from deltagrad._functional_unfold import _taps_disjoint

CASES = [  # kernel, dilation, padding, stride, (H, W)
    ((2, 2), (1, 1), (0, 0), (2, 2), (8, 10)),  # patchify: tiled
    ((4, 4), (1, 1), (0, 0), (4, 4), (9, 13)),  # disjoint, a ragged edge left at zero
    ((3, 3), (2, 2), (0, 0), (3, 3), (11, 12)),  # dilated taps interleaving: disjoint
    ((2, 3), (1, 1), (1, 0), (2, 3), (7, 9)),  # disjoint with padding
    ((3, 3), (1, 1), (1, 1), (1, 1), (6, 7)),  # overlapping: added
    ((2, 2), (2, 1), (0, 0), (2, 2), (8, 8)),  # rows collide (2o + 2i), columns do not
    ((1, 1), (1, 1), (0, 0), (1, 1), (3, 4)),
]


def _signed(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    flat[rng.choice(flat.size, max(1, flat.size // 9), replace=False)] = -0.0
    flat[rng.choice(flat.size, max(1, flat.size // 31), replace=False)] = np.inf
    flat[rng.choice(flat.size, max(1, flat.size // 37), replace=False)] = np.nan
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_fold_and_unfold_backward_match_torch(case, dtype):
    k, d, p, s, hw = case
    x = np.random.default_rng(0).standard_normal((2, 3, *hw)).astype(dtype)
    X = dg.tensor(x, requires_grad=True)
    XT = torch.tensor(x, requires_grad=True)
    y, yt = F.unfold(X, k, d, p, s), torch.nn.functional.unfold(XT, k, d, p, s)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    g = _signed(tuple(y.shape), dtype, 1)
    y.backward(dg.tensor(g))
    yt.backward(torch.tensor(g))
    ours, ref = np.asarray(X.grad), XT.grad.numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert np.array_equal(np.signbit(ours), np.signbit(ref))
    folded = F.fold(dg.tensor(g), hw, k, d, p, s).numpy()
    folded_t = torch.nn.functional.fold(torch.tensor(g), hw, k, d, p, s).numpy()
    np.testing.assert_allclose(folded, folded_t, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert np.array_equal(np.signbit(folded), np.signbit(folded_t))


@pytest.mark.parametrize(
    "blocks,k,d,s,expect",
    [(4, 2, 1, 2, True), (4, 3, 1, 2, False), (3, 3, 2, 3, True), (3, 2, 2, 2, False),
     (1, 5, 1, 1, True), (5, 1, 1, 1, True), (4, 2, 3, 2, True)],
)  # fmt: skip
def test_taps_disjoint(blocks, k, d, s, expect):
    pos = [o * s + i * d for o in range(blocks) for i in range(k)]
    assert (len(set(pos)) == len(pos)) == expect
    assert _taps_disjoint(blocks, k, d, s) == expect
