"""A custom differentiable op in pure Python: the smooth-L1 (Huber) loss as a dg.autograd.Function,
checked against its NumPy reference, gradchecked, then used to fit a line to data with outliers.

    python examples/custom_op.py

smooth_l1(r) = 0.5 r^2 / beta   for |r| < beta      (quadratic near 0, like the squared error)
             = |r| - 0.5 beta   otherwise           (linear in the tails, like the absolute error)

Its gradient is clip(r / beta, -1, 1): an outlier pulls on the fit with force at most 1, where
under the squared error it pulls with force |r|. That is why the fit below ignores the outliers
that drag the least-squares line away.
"""

import numpy as np

import deltagrad as dg
import deltagrad.functional as F
from deltagrad.testing import check_op


class SmoothL1(dg.autograd.Function):
    """Elementwise smooth-L1 of the residual r; forward and backward work on arrays (numpy on
    the CPU, cupy on a GPU), so `np` below would be `cupy` for device arrays."""

    @staticmethod
    def forward(ctx, r, beta=1.0):
        ctx.save_for_backward(r)  # backward needs the residual
        ctx.beta = beta  # plain Python values go on ctx
        a = abs(r)
        return np.where(a < beta, 0.5 * r * r / beta, a - 0.5 * beta)

    @staticmethod
    def backward(ctx, grad_out):
        (r,) = ctx.saved_tensors
        # one gradient per forward argument: r gets one, beta (a number) gets None
        return grad_out * np.clip(r / ctx.beta, -1.0, 1.0), None


def smooth_l1(r, beta=1.0):
    return SmoothL1.apply(r, beta)


def smooth_l1_reference(r, beta=1.0):
    """The NumPy float64 reference the op is checked against."""
    a = np.abs(r)
    return np.where(a < beta, 0.5 * r * r / beta, a - 0.5 * beta)


def fit_line(x, y, loss, steps=400, lr=0.05):
    dg.manual_seed(0)
    model = dg.nn.Linear(1, 1, dtype=np.float64)
    opt = dg.optim.Adam(model.parameters(), lr=lr)
    xt, yt = dg.tensor(x), dg.tensor(y)
    for _ in range(steps):
        value = loss(model(xt) - yt)
        opt.zero_grad()
        value.backward()
        opt.step()
    return float(model.weight.numpy()[0, 0]), float(model.bias.numpy()[0])


def main():
    # 1. check it: forward vs the reference, gradients vs the reference's central differences,
    #    gradcheck, extremes and the empty case, in float64 and float32, on every device
    report = check_op(
        lambda r: smooth_l1(r, 0.5),
        lambda r: smooth_l1_reference(r, 0.5),
        [("n", "m")],
        name="smooth_l1",
    )
    print(report.lines[0].strip(), f"... ({len(report.lines)} checks)")
    r = dg.tensor(np.random.default_rng(0).normal(size=(4, 3)) * 2, requires_grad=True)
    print("gradcheck:", dg.gradcheck(lambda t: smooth_l1(t, 0.5), [r]))

    # 2. use it: a line y = 2x - 1 with noise, and 15% of the points thrown far off
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (80, 1))
    y = 2.0 * x - 1.0 + 0.1 * rng.normal(size=x.shape)
    out = rng.choice(80, 12, replace=False)
    y[out] += rng.uniform(8, 15, (12, 1))
    w_mse, b_mse = fit_line(x, y, lambda res: F.mse_loss(res, np.zeros_like(x)))
    w_l1, b_l1 = fit_line(x, y, lambda res: smooth_l1(res, 0.5).mean())
    print("true line:            y = 2.000 x - 1.000")
    print(f"least squares (MSE):  y = {w_mse:.3f} x {b_mse:+.3f}")
    print(f"smooth-L1 (custom):   y = {w_l1:.3f} x {b_l1:+.3f}")
    err_mse = abs(w_mse - 2) + abs(b_mse + 1)
    err_l1 = abs(w_l1 - 2) + abs(b_l1 + 1)
    print(
        f"smooth-L1 error {err_l1:.3f} vs least squares {err_mse:.3f}: the custom loss "
        f"{'ignores' if err_l1 < err_mse / 3 else 'does not ignore'} the outliers"
    )


if __name__ == "__main__":
    main()
