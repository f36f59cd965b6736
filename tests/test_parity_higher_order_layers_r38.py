"""Double backward (create_graph=True) of the layers -- convolutions, pooling, normalizations,
padding, resampling, dropout, embedding and the losses -- against torch 2.13 in float64, a
WGAN-GP gradient penalty through small conv discriminators, and a CNN Hessian-vector
product."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deltagrad as dg  # noqa: E402
import deltagrad.nn.functional as F  # noqa: E402
from deltagrad.autograd import functional as AF  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(3800)


def R(*s: int) -> np.ndarray:
    return rng.standard_normal(s)


def P(*s: int) -> np.ndarray:  # probabilities away from 0 and 1
    return rng.uniform(0.05, 0.95, s)


def _close(d, t, tol: float = 1e-9) -> None:
    """|d - t| <= tol * max(1, max |t|) (the second derivatives of the cubed losses are large)."""
    assert d is not None and t is not None
    a, b = np.asarray(d.data), t.detach().numpy()
    assert a.shape == b.shape and a.dtype == b.dtype
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)


def _second(fd, ft, arrays, diff=None, tol: float = 1e-9) -> None:
    """y = f(inputs); L = <u, y> + 0.1 sum(y^3) (so a linear op has a second derivative too);
    compare y, dL/dinputs (with a graph) and the gradient of <dL/dinputs, v> w.r.t. every
    differentiable input."""
    diff = list(range(len(arrays))) if diff is None else diff
    ds = [dg.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    din, tin = [ds[i] for i in diff], [ts[i] for i in diff]
    yd, yt = fd(*ds), ft(*ts)
    _close(yd, yt, tol)
    u = rng.standard_normal(tuple(yt.shape))
    ld = (yd * dg.tensor(u)).sum() + 0.1 * (yd**3).sum()
    lt = (yt * torch.tensor(u)).sum() + 0.1 * (yt**3).sum()
    gd = dg.autograd.grad(ld, din, create_graph=True)
    gt = torch.autograd.grad(lt, tin, create_graph=True)
    sd, st = 0, 0
    for a, b in zip(gd, gt):
        _close(a, b, tol)
        v = rng.standard_normal(tuple(b.shape))
        sd = sd + (a * dg.tensor(v)).sum()
        st = st + (b * torch.tensor(v)).sum()
    hd = dg.autograd.grad(sd, din, allow_unused=True, materialize_grads=True)
    ht = torch.autograd.grad(st, tin, allow_unused=True, materialize_grads=True)
    for a, b in zip(hd, ht):
        _close(a, b, tol)


W4 = np.arange(1, 5.0)
IDX = rng.integers(0, 4, (3, 5))
IDX[0, 1] = -100

CASES = {
    # convolutions (bilinear: the product rule through conv / conv_transpose nodes)
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
        lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1, groups=2),
        [R(2, 4, 7, 6), R(6, 2, 3, 3), R(6)],
    ),
    "conv2d_same_dilated": (
        lambda x, w: F.conv2d(x, w, padding="same", dilation=2),
        lambda x, w: TF.conv2d(x, w, padding="same", dilation=2),
        [R(2, 3, 7, 6), R(4, 3, 2, 3)],
    ),
    "conv2d_unbatched": (
        lambda x, w: F.conv2d(x, w, stride=(1, 2)),
        lambda x, w: TF.conv2d(x, w, stride=(1, 2)),
        [R(3, 5, 6), R(2, 3, 1, 2)],
    ),
    "conv1d": (
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
        lambda x, w, b: TF.conv1d(x, w, b, stride=2, padding=1),
        [R(2, 3, 9), R(4, 3, 3), R(4)],
    ),
    "conv3d": (
        lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1),
        lambda x, w, b: TF.conv3d(x, w, b, stride=(2, 1, 1), padding=1),
        [R(2, 2, 5, 4, 5), R(3, 2, 3, 2, 3), R(3)],
    ),
    "conv_transpose2d": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [R(2, 4, 4, 5), R(4, 3, 3, 3), R(3)],
    ),
    "conv_transpose2d_groups": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=2, dilation=3, output_padding=2),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2, groups=2, dilation=3, output_padding=2),
        [R(1, 4, 3, 2), R(4, 1, 2, 2)],
    ),
    "conv_transpose1d": (
        lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, dilation=2, output_padding=2),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, stride=3, dilation=2, output_padding=2),
        [R(2, 4, 5), R(4, 3, 3), R(3)],
    ),
    "conv_transpose3d": (
        lambda x, w, b: F.conv_transpose3d(x, w, b, stride=2, padding=1),
        lambda x, w, b: TF.conv_transpose3d(x, w, b, stride=2, padding=1),
        [R(1, 2, 3, 4, 3), R(2, 3, 3, 2, 3), R(3)],
    ),
    # pooling
    "max_pool2d": (
        lambda x: F.max_pool2d(x, 3, 2, 1),
        lambda x: TF.max_pool2d(x, 3, 2, 1),
        [R(2, 3, 7, 8)],
    ),
    "max_pool2d_ceil_dilated": (
        lambda x: F.max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=True),
        lambda x: TF.max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=True),
        [R(2, 3, 7, 8)],
    ),
    "max_pool2d_indices": (
        lambda x: F.max_pool2d(x, 2, return_indices=True)[0],
        lambda x: TF.max_pool2d(x, 2, return_indices=True)[0],
        [R(3, 5, 6)],
    ),
    "max_pool1d": (
        lambda x: F.max_pool1d(x, 3, 2, 1),
        lambda x: TF.max_pool1d(x, 3, 2, 1),
        [R(2, 3, 8)],
    ),
    "max_pool3d": (
        lambda x: F.max_pool3d(x, 2, (1, 2, 2)),
        lambda x: TF.max_pool3d(x, 2, (1, 2, 2)),
        [R(2, 2, 3, 4, 5)],
    ),
    "avg_pool2d": (
        lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        lambda x: TF.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        [R(2, 3, 7, 8)],
    ),
    "avg_pool2d_divisor": (
        lambda x: F.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3),
        lambda x: TF.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3),
        [R(2, 3, 5, 5)],
    ),
    "avg_pool1d": (
        lambda x: F.avg_pool1d(x, 3, 2, 1),
        lambda x: TF.avg_pool1d(x, 3, 2, 1),
        [R(2, 3, 8)],
    ),
    "avg_pool3d": (
        lambda x: F.avg_pool3d(x, 2, (1, 2, 2)),
        lambda x: TF.avg_pool3d(x, 2, (1, 2, 2)),
        [R(2, 2, 3, 4, 5)],
    ),
    "adaptive_avg_pool2d": (
        lambda x: F.adaptive_avg_pool2d(x, (3, 4)),
        lambda x: TF.adaptive_avg_pool2d(x, (3, 4)),
        [R(2, 3, 7, 9)],
    ),
    "adaptive_avg_pool1d": (
        lambda x: F.adaptive_avg_pool1d(x, 3),
        lambda x: TF.adaptive_avg_pool1d(x, 3),
        [R(2, 3, 8)],
    ),
    "adaptive_avg_pool3d": (
        lambda x: F.adaptive_avg_pool3d(x, (2, 3, 2)),
        lambda x: TF.adaptive_avg_pool3d(x, (2, 3, 2)),
        [R(2, 2, 3, 4, 5)],
    ),
    "adaptive_max_pool2d": (
        lambda x: F.adaptive_max_pool2d(x, (2, 3)),
        lambda x: TF.adaptive_max_pool2d(x, (2, 3)),
        [R(2, 3, 5, 7)],
    ),
    "adaptive_max_pool1d": (
        lambda x: F.adaptive_max_pool1d(x, 3),
        lambda x: TF.adaptive_max_pool1d(x, 3),
        [R(2, 3, 7)],
    ),
    "adaptive_max_pool3d": (
        lambda x: F.adaptive_max_pool3d(x, (2, 2, 3)),
        lambda x: TF.adaptive_max_pool3d(x, (2, 2, 3)),
        [R(2, 2, 3, 5, 7)],
    ),
    # normalizations (recomputed from Tensor ops)
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
        lambda x, w, b: TF.batch_norm(x, None, None, w, b, True),
        [R(4, 3, 5, 2), R(3), R(3)],
    ),
    "batch_norm_train_2d_noaffine": (
        lambda x: F.batch_norm(x, None, None, training=True, eps=0.1),
        lambda x: TF.batch_norm(x, None, None, training=True, eps=0.1),
        [R(5, 3)],
    ),
    "batch_norm_eval": (
        lambda x, w, b: F.batch_norm(
            x, dg.tensor(np.arange(3.0)), dg.tensor(np.arange(1, 4.0)), w, b, False
        ),
        lambda x, w, b: TF.batch_norm(
            x, torch.arange(3.0).double(), torch.arange(1, 4.0).double(), w, b, False
        ),
        [R(4, 3, 5), R(3), R(3)],
    ),
    "layer_norm": (
        lambda x, w, b: F.layer_norm(x, (4, 3), w, b),
        lambda x, w, b: TF.layer_norm(x, (4, 3), w, b),
        [R(2, 5, 4, 3), R(4, 3), R(4, 3)],
    ),
    "layer_norm_noaffine": (
        lambda x: F.layer_norm(x, (6,), eps=0.5),
        lambda x: TF.layer_norm(x, (6,), eps=0.5),
        [R(3, 6)],
    ),
    "group_norm": (
        lambda x, w, b: F.group_norm(x, 2, w, b),
        lambda x, w, b: TF.group_norm(x, 2, w, b),
        [R(3, 4, 5), R(4), R(4)],
    ),
    "instance_norm": (
        lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
        lambda x, w, b: TF.instance_norm(x, weight=w, bias=b),
        [R(3, 4, 2, 3), R(4), R(4)],
    ),
    "instance_norm_running": (
        lambda x: F.instance_norm(
            x, dg.tensor(np.arange(2.0)), dg.tensor(np.arange(1, 3.0)), use_input_stats=False
        ),
        lambda x: TF.instance_norm(
            x, torch.arange(2.0).double(), torch.arange(1, 3.0).double(), use_input_stats=False
        ),
        [R(3, 2, 5)],
    ),
    # padding and resampling
    "pad_constant": (
        lambda x: F.pad(x, (1, -1, 2, 0), value=0.5),
        lambda x: TF.pad(x, (1, -1, 2, 0), value=0.5),
        [R(2, 3, 4, 5)],
    ),
    "pad_reflect": (
        lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"),
        lambda x: TF.pad(x, (2, 1, 1, 2), mode="reflect"),
        [R(2, 3, 4, 5)],
    ),
    "pad_replicate": (
        lambda x: F.pad(x, (2, 1), mode="replicate"),
        lambda x: TF.pad(x, (2, 1), mode="replicate"),
        [R(2, 3, 5)],
    ),
    "pad_circular": (
        lambda x: F.pad(x, (2, 1, 1, 1, 1, 0), mode="circular"),
        lambda x: TF.pad(x, (2, 1, 1, 1, 1, 0), mode="circular"),
        [R(1, 2, 3, 4, 5)],
    ),
    "interpolate_nearest": (
        lambda x: F.interpolate(x, scale_factor=1.7),
        lambda x: TF.interpolate(x, scale_factor=1.7),
        [R(2, 3, 4, 5)],
    ),
    "interpolate_nearest_exact": (
        lambda x: F.interpolate(x, size=7, mode="nearest-exact"),
        lambda x: TF.interpolate(x, size=7, mode="nearest-exact"),
        [R(2, 3, 4)],
    ),
    "interpolate_bilinear": (
        lambda x: F.interpolate(x, size=(5, 7), mode="bilinear"),
        lambda x: TF.interpolate(x, size=(5, 7), mode="bilinear"),
        [R(2, 3, 4, 5)],
    ),
    "interpolate_linear_align": (
        lambda x: F.interpolate(x, size=7, mode="linear", align_corners=True),
        lambda x: TF.interpolate(x, size=7, mode="linear", align_corners=True),
        [R(2, 3, 4)],
    ),
    "interpolate_trilinear": (
        lambda x: F.interpolate(x, size=(3, 5, 2), mode="trilinear"),
        lambda x: TF.interpolate(x, size=(3, 5, 2), mode="trilinear"),
        [R(1, 2, 2, 4, 3)],
    ),
    "interpolate_bicubic": (
        lambda x: F.interpolate(x, size=(5, 7), mode="bicubic"),
        lambda x: TF.interpolate(x, size=(5, 7), mode="bicubic"),
        [R(2, 3, 4, 5)],
    ),
    "interpolate_area": (
        lambda x: F.interpolate(x, size=(3, 2), mode="area"),
        lambda x: TF.interpolate(x, size=(3, 2), mode="area"),
        [R(2, 3, 4, 5)],
    ),
    "unfold": (
        lambda x: F.unfold(x, (2, 3), padding=1, stride=2),
        lambda x: TF.unfold(x, (2, 3), padding=1, stride=2),
        [R(2, 3, 5, 6)],
    ),
    "fold": (
        lambda x: F.fold(x, (4, 5), (2, 2)),
        lambda x: TF.fold(x, (4, 5), (2, 2)),
        [R(2, 12, 12)],
    ),
    "embedding": (
        lambda w: F.embedding(dg.tensor(np.array([[1, 2, 1], [0, 4, 2]])), w, padding_idx=0),
        lambda w: TF.embedding(torch.tensor([[1, 2, 1], [0, 4, 2]]), w, padding_idx=0),
        [R(5, 3)],
    ),
}

_KL = {"mean": "batchmean", "sum": "sum", "none": "none"}  # (kl_div's "mean" warns)

for _red in ("mean", "sum", "none"):
    CASES.update(
        {
            f"l1_{_red}": (
                lambda x, t, r=_red: F.l1_loss(x, t, reduction=r),
                lambda x, t, r=_red: TF.l1_loss(x, t, reduction=r),
                [R(3, 4), R(3, 4)],
            ),
            f"smooth_l1_{_red}": (
                lambda x, t, r=_red: F.smooth_l1_loss(x, t, reduction=r, beta=0.7),
                lambda x, t, r=_red: TF.smooth_l1_loss(x, t, reduction=r, beta=0.7),
                [R(3, 4), R(3, 4)],
            ),
            f"huber_{_red}": (
                lambda x, t, r=_red: F.huber_loss(x, t, reduction=r, delta=0.8),
                lambda x, t, r=_red: TF.huber_loss(x, t, reduction=r, delta=0.8),
                [R(3, 4), R(3, 4)],
            ),
            f"bce_{_red}": (
                lambda x, t, r=_red: F.binary_cross_entropy(x, t, reduction=r),
                lambda x, t, r=_red: TF.binary_cross_entropy(x, t, reduction=r),
                [P(3, 4), P(3, 4)],
            ),
            f"bce_weight_{_red}": (
                lambda x, t, r=_red: F.binary_cross_entropy(x, t, dg.tensor(W4), reduction=r),
                lambda x, t, r=_red: TF.binary_cross_entropy(x, t, torch.tensor(W4), reduction=r),
                [P(3, 4), P(3, 4)],
            ),
            f"bce_logits_{_red}": (
                lambda x, t, r=_red: F.binary_cross_entropy_with_logits(x, t, reduction=r),
                lambda x, t, r=_red: TF.binary_cross_entropy_with_logits(x, t, reduction=r),
                [R(3, 4) * 3, P(3, 4)],
            ),
            f"bce_logits_weights_{_red}": (
                lambda x, t, r=_red: F.binary_cross_entropy_with_logits(
                    x, t, dg.tensor(W4), reduction=r, pos_weight=dg.tensor(W4[::-1] / 2)
                ),
                lambda x, t, r=_red: TF.binary_cross_entropy_with_logits(
                    x, t, torch.tensor(W4), reduction=r, pos_weight=torch.tensor(W4[::-1] / 2)
                ),
                [R(3, 4), P(3, 4)],
            ),
            f"kl_div_{_red}": (
                lambda x, t, r=_red: F.kl_div(x, t, reduction=_KL[r]),
                lambda x, t, r=_red: TF.kl_div(x, t, reduction=_KL[r]),
                [R(3, 4), P(3, 4)],
            ),
            f"kl_div_log_target_{_red}": (
                lambda x, t, r=_red: F.kl_div(x, t, reduction=_KL[r], log_target=True),
                lambda x, t, r=_red: TF.kl_div(x, t, reduction=_KL[r], log_target=True),
                [R(3, 4), R(3, 4)],
            ),
            f"nll_loss_nd_{_red}": (
                lambda x, r=_red: F.nll_loss(x, dg.tensor(IDX), dg.tensor(W4), reduction=r),
                lambda x, r=_red: TF.nll_loss(x, torch.tensor(IDX), torch.tensor(W4), reduction=r),
                [R(3, 4, 5)],
            ),
            f"cross_entropy_nd_{_red}": (
                lambda x, r=_red: F.cross_entropy(
                    x, dg.tensor(IDX), reduction=r, label_smoothing=0.1
                ),
                lambda x, r=_red: TF.cross_entropy(
                    x, torch.tensor(IDX), reduction=r, label_smoothing=0.1
                ),
                [R(3, 4, 5)],
            ),
            f"cross_entropy_probs_nd_{_red}": (
                lambda x, t, r=_red: F.cross_entropy(
                    x, t, dg.tensor(W4), reduction=r, label_smoothing=0.2
                ),
                lambda x, t, r=_red: TF.cross_entropy(
                    x, t, torch.tensor(W4), reduction=r, label_smoothing=0.2
                ),
                [R(3, 4, 5), P(3, 4, 5)],
            ),
            f"cross_entropy_probs_{_red}": (
                lambda x, t, r=_red: F.cross_entropy(x, t, reduction=r),
                lambda x, t, r=_red: TF.cross_entropy(x, t, reduction=r),
                [R(3, 4), P(3, 4)],
            ),
        }
    )


SIGNS = np.array([1, -1, 1, -1.0])
CASES.update(
    {  # the losses built from Tensor ops as one node (_functional_losses._node), and lp_pool
        "poisson_nll_loss": (
            lambda x, t: F.poisson_nll_loss(x, t),
            lambda x, t: TF.poisson_nll_loss(x, t),
            [R(4, 3), P(4, 3)],
        ),
        "poisson_nll_loss_full": (
            lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True),
            lambda x, t: TF.poisson_nll_loss(x, t, log_input=False, full=True),
            [P(4, 3) + 1, P(4, 3) * 3],
        ),
        "gaussian_nll_loss": (
            lambda x, t, v: F.gaussian_nll_loss(x, t, v),
            lambda x, t, v: TF.gaussian_nll_loss(x, t, v),
            [R(4, 3), R(4, 3), P(4, 3)],
        ),
        "soft_margin_loss": (
            lambda x: F.soft_margin_loss(x, dg.tensor(SIGNS[:3])),
            lambda x: TF.soft_margin_loss(x, torch.tensor(SIGNS[:3])),
            [R(4, 3)],
        ),
        "cosine_embedding_loss": (
            lambda a, b: F.cosine_embedding_loss(a, b, dg.tensor(SIGNS)),
            lambda a, b: TF.cosine_embedding_loss(a, b, torch.tensor(SIGNS)),
            [R(4, 3), R(4, 3)],
        ),
        "margin_ranking_loss": (
            lambda a, b: F.margin_ranking_loss(a, b, dg.tensor(SIGNS)),
            lambda a, b: TF.margin_ranking_loss(a, b, torch.tensor(SIGNS)),
            [R(4), R(4)],
        ),
        "triplet_margin_loss": (
            lambda a, p, n: F.triplet_margin_loss(a, p, n),
            lambda a, p, n: TF.triplet_margin_loss(a, p, n),
            [R(4, 3), R(4, 3), R(4, 3)],
        ),
        "prelu": (
            lambda x, w: F.prelu(x, w),
            lambda x, w: TF.prelu(x, w),
            [R(3, 4, 5), R(4)],
        ),
        "prelu_scalar": (lambda x, w: F.prelu(x, w), lambda x, w: TF.prelu(x, w), [R(3, 4), R(1)]),
        "hardtanh": (
            lambda x: F.hardtanh(x, -0.5, 0.7),
            lambda x: TF.hardtanh(x, -0.5, 0.7),
            [R(3, 4)],
        ),
        "lp_pool2d": (
            lambda x: F.lp_pool2d(x, 2, 2),
            lambda x: TF.lp_pool2d(x, 2, 2),
            [R(1, 2, 4, 4) + 3],
        ),
        "conv_transpose2d_empty": (
            lambda x, w, b: F.conv_transpose2d(x, w, b),
            lambda x, w, b: TF.conv_transpose2d(x, w, b),
            [R(0, 2, 3, 3), R(2, 3, 2, 2), R(3)],
        ),
    }
)


@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives(name: str) -> None:
    fd, ft, arrays = CASES[name]
    _second(fd, ft, arrays)


def test_target_held_constant() -> None:
    """A target that does not require grad: the input's second derivatives alone."""
    _second(
        lambda x, t: F.binary_cross_entropy_with_logits(x, t),
        lambda x, t: TF.binary_cross_entropy_with_logits(x, t),
        [R(4, 3), P(4, 3)],
        diff=[0],
    )
    _second(lambda x, t: F.l1_loss(x, t), lambda x, t: TF.l1_loss(x, t), [R(4, 3), R(4, 3)], [0])
    _second(
        lambda x, w: F.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [R(1, 2, 4, 4), R(3, 2, 2, 2)],
        diff=[1],
    )  # fmt: skip


def test_dropout_double_backward() -> None:
    """dropout: the gradient is g times the saved mask (the same mask in the penalty)."""
    dg.manual_seed(0)
    x = dg.tensor(R(4, 5), requires_grad=True)
    y = F.dropout(x, 0.4)
    scale = y.data / x.data
    (g,) = dg.autograd.grad((y**3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * y.data**2 * scale, rtol=1e-12)
    (h,) = dg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * y.data * scale * scale, rtol=1e-12)


def test_embedding_scale_grad_by_freq() -> None:
    """scale_grad_by_freq: the scaled weight gradient's derivative in weight, as torch's and
    as central differences give it (the double backward's gather is unscaled, as torch's)."""
    _second(
        lambda w: F.embedding(dg.tensor(np.array([[1, 2, 1], [0, 4, 2]])), w, 0, None, 2.0, True),
        lambda w: TF.embedding(torch.tensor([[1, 2, 1], [0, 4, 2]]), w, 0, None, 2.0, True),
        [R(5, 3)],
    )
    idx = dg.tensor(np.array([[1, 2, 1], [0, 4, 2]]))

    def first(w):
        with dg.enable_grad():  # (gradcheck's perturbed forwards run under no_grad)
            y = F.embedding(idx, w, padding_idx=4, scale_grad_by_freq=True)
            return dg.autograd.grad((y**3).sum(), w, create_graph=True)[0]

    assert dg.gradcheck(first, (dg.tensor(R(5, 3), requires_grad=True),))


def test_third_order_conv() -> None:
    """The conv gradient nodes are differentiable again (the product rule, recursively)."""
    xa, wa = R(1, 2, 5, 4), R(3, 2, 2, 3)
    res = []
    for lib, fn in ((dg, F.conv2d), (torch, TF.conv2d)):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        y = (fn(x, w, stride=(2, 1), padding=1) ** 2).sum()
        (gx,) = lib.autograd.grad(y, x, create_graph=True)
        (gw,) = lib.autograd.grad((gx**2).sum(), w, create_graph=True)
        res.append(lib.autograd.grad((gw**2).sum(), (x, w)))
    for a, b in zip(*res):
        _close(a, b)


def test_max_pool_input_changed_in_place_raises() -> None:
    x = dg.tensor(R(1, 2, 4, 4), requires_grad=True)
    h = x * 1.0
    y = F.max_pool2d(h, 2)
    (g,) = dg.autograd.grad((y**2).sum(), h, create_graph=True)
    assert g.requires_grad
    h2 = x * 1.0
    y2 = F.max_pool2d(h2, 2)
    h2.data[...] = 0.0
    h2._version[0] += 1  # an in-place change (as h2.add_ would record)
    with pytest.raises(RuntimeError, match="inplace"):
        dg.autograd.grad((y2**2).sum(), h2, create_graph=True)


def test_float32() -> None:
    xa, wa = R(2, 3, 6, 5).astype(np.float32), R(4, 3, 3, 3).astype(np.float32)

    def run(lib, conv, bn):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        y = bn(conv(x, w, padding=1), None, None, training=True).tanh().sum()
        (gx,) = lib.autograd.grad(y, x, create_graph=True)
        return lib.autograd.grad((gx**2).sum(), (x, w))

    for a, b in zip(run(dg, F.conv2d, F.batch_norm), run(torch, TF.conv2d, TF.batch_norm)):
        assert a.data.dtype == np.float32
        b = b.numpy()
        np.testing.assert_allclose(a.data, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_empty_batch() -> None:
    _second(
        lambda x, w: F.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [R(0, 2, 4, 4), R(3, 2, 2, 2)]
    )
    _second(lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [R(0, 2, 4, 4)])


# ---- WGAN-GP and a CNN Hessian-vector product ---------------------------------------------


def _disc(lib, fn, x, p, norm):
    h = fn.conv2d(x, p[0], p[1], stride=2, padding=1)
    if norm == "batch_norm":
        h = fn.batch_norm(h, None, None, p[4], p[5], training=True)
    elif norm == "layer_norm":
        h = fn.layer_norm(h, tuple(h.shape[1:]))
    elif norm == "group_norm":
        h = fn.group_norm(h, 2, p[4], p[5])
    h = fn.leaky_relu(h, 0.2)
    h = fn.conv2d(h, p[2], None, padding=1)
    h = fn.avg_pool2d(h, 2)
    return fn.linear(h.reshape(h.shape[0], -1), p[3])


@pytest.mark.parametrize("norm", [None, "batch_norm", "layer_norm", "group_norm"])
def test_wgan_gradient_penalty(norm) -> None:
    real, fake = R(3, 2, 8, 8), R(3, 2, 8, 8)
    alpha = rng.uniform(size=(3, 1, 1, 1))
    params = [R(4, 2, 3, 3) * 0.5, R(4), R(4, 4, 3, 3) * 0.3, R(1, 16) * 0.3, R(4) + 1, R(4)]
    out = []
    for lib, fn in ((dg, F), (torch, TF)):
        p = [lib.tensor(a, requires_grad=True) for a in params]
        xh = lib.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
        score = _disc(lib, fn, xh, p, norm)
        (g,) = lib.autograd.grad(score.sum(), xh, create_graph=True)
        gp = (((g * g).reshape(3, -1).sum(1).sqrt() - 1) ** 2).mean()
        loss = score.mean() + 10 * gp
        used = p if norm in ("batch_norm", "group_norm") else p[:4]
        out.append((float(gp.data), lib.autograd.grad(loss, used)))
    assert abs(out[0][0] - out[1][0]) <= 1e-10 * max(1.0, abs(out[1][0]))
    for a, b in zip(out[0][1], out[1][1]):
        _close(a, b, 1e-9)


def test_cnn_hessian_vector_product() -> None:
    xa, ta = R(3, 2, 6, 6), rng.integers(0, 3, 3)
    wa, la = R(3, 2, 3, 3) * 0.5, R(3, 12) * 0.5
    va, vb = R(3, 2, 3, 3), R(3, 12)

    def loss(lib, fn):
        def f(w, lw):
            h = fn.max_pool2d(fn.conv2d(lib.tensor(xa), w, padding=1).tanh(), 3)
            h = fn.batch_norm(h, None, None, training=True)
            return fn.cross_entropy(fn.linear(h.reshape(3, -1), lw), lib.tensor(ta))

        return f

    vd, hd = AF.hvp(loss(dg, F), (dg.tensor(wa), dg.tensor(la)), (dg.tensor(va), dg.tensor(vb)))
    vt, ht = torch.autograd.functional.hvp(
        loss(torch, TF), (torch.tensor(wa), torch.tensor(la)), (torch.tensor(va), torch.tensor(vb))
    )
    _close(vd, vt, 1e-12)
    for a, b in zip(hd, ht):
        _close(a, b)


def test_ops_without_double_backward_still_raise() -> None:
    """Never a silently wrong second derivative: an op without one names itself."""
    x = dg.tensor(R(5, 2, 3).astype(np.float32), requires_grad=True)
    y, _ = dg.nn.LSTM(3, 4)(x)
    with pytest.raises(NotImplementedError, match="rnn_sequence"):
        dg.autograd.grad((y**2).sum(), x, create_graph=True)


def test_training_path_unchanged() -> None:
    """create_graph=False: the plain backward of the ops given a double backward is as before
    (against torch), and records no second graph."""
    xa, wa = R(2, 3, 6, 6), R(4, 3, 3, 3)
    res = []
    for lib, fn in ((dg, F), (torch, TF)):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        h = fn.max_pool2d(fn.group_norm(fn.conv2d(x, w, padding=1), 2), 2)
        loss = fn.cross_entropy(h.reshape(2, -1)[:, :5], lib.tensor(np.array([1, 3])))
        loss.backward()
        res.append((x.grad, w.grad))
    for a, b in zip(*res):
        assert not isinstance(a, dg.Tensor) or not a.requires_grad
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-10, atol=1e-12)
