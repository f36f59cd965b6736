"""Convolutional networks end to end and the layers the issue's shape list leaves out, against
torch CPU from the same weights, interleaved in one process (_timing.py), 1 and 2 threads:

- a whole training step (zero_grad, forward, cross_entropy, backward, SGD momentum) of the main
  job's SmallCNN (1x8x8 digits, batch 64) and of resnet_cifar(20) (3x32x32, batch 32);
- ResNet's downsampling convolutions (3x3 and 1x1, stride 2), forward + backward;
- 2x2 max and average pooling on the small planes of those networks (8x8, 4x4), forward and
  backward, one thread.

    PYTHONPATH=python python -m pytest bench/bench_cnn.py --benchmark-enable -o addopts="" -s

Each case prints and records speedup_vs_torch = torch's best time / ours (> 1: faster). Without
torch, or with benchmarks disabled (CI's smoke run), each case runs once at a small size.
"""

from __future__ import annotations

import numpy as np
import pytest
from _timing import interleaved, threads

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import ops
from deltagrad.nn_models import SmallCNN, resnet_cifar


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_models(torch):
    tnn = torch.nn

    class Block(tnn.Module):  # torchvision's BasicBlock
        def __init__(self, inp, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inp != planes:
                self.downsample = tnn.Sequential(
                    tnn.Conv2d(inp, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes)
                )

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    class ResNet(tnn.Module):  # deltagrad.nn_models.ResNet's layout and state_dict keys
        def __init__(self, layers, widths, ncls=10, cin=3):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, widths[0], 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(widths[0])
            self.relu = tnn.ReLU()
            inp, self.stages = widths[0], len(layers)
            for i, (nb, p) in enumerate(zip(layers, widths)):
                blocks = [Block(inp, p, 1 if i == 0 else 2)]
                blocks += [Block(p, p, 1) for _ in range(nb - 1)]
                inp = p
                self.add_module(f"layer{i + 1}", tnn.Sequential(*blocks))
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(widths[-1], ncls)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            for i in range(self.stages):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    class Small(tnn.Module):  # deltagrad.nn_models.SmallCNN
        def __init__(self, cin=1, ncls=10, widths=(16, 32, 64), hw=8):
            super().__init__()
            a, b, c = widths
            self.features = tnn.Sequential(
                tnn.Conv2d(cin, a, 3, 1, 1, bias=False),
                tnn.BatchNorm2d(a),
                tnn.ReLU(),
                tnn.Conv2d(a, b, 3, 1, 1, bias=False),
                tnn.BatchNorm2d(b),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Conv2d(b, c, 3, 1, 1, bias=False),
                tnn.BatchNorm2d(c),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
            )
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(c * (hw // 4) ** 2, ncls))

        def forward(self, x):
            return self.classifier(self.features(x))

    return ResNet, Small


STEPS = {  # name: (model, input shape)
    "smallcnn_b64": ("small", (64, 1, 8, 8)),
    "resnet20_b32": ("resnet20", (32, 3, 32, 32)),
}


def _step_fns(name, small):
    kind, shape = STEPS[name]
    if small:
        shape = (4,) + shape[1:]
    dg.manual_seed(0)
    ours = SmallCNN() if kind == "small" else resnet_cifar(20)
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])
    x = dg.tensor(X)
    opt = dg.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)

    def ours_step():
        opt.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        opt.step()

    fns = {"ours": ours_step}
    torch = _torch()
    if torch is not None:
        ResNet, Small = _torch_models(torch)
        peer = Small() if kind == "small" else ResNet([3, 3, 3], [16, 32, 64])
        state = {k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}
        peer.load_state_dict(state, strict=True)  # the same weights, the same keys
        tx, ty = torch.from_numpy(X), torch.from_numpy(y)
        topt = torch.optim.SGD(peer.parameters(), lr=0.01, momentum=0.9)

        def torch_step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(peer(tx), ty).backward()
            topt.step()

        fns["torch"] = torch_step
    return fns


# name: (N, C, H, W, O, kernel, stride, padding): the stride-2 convolutions of resnet_cifar
STRIDED = {
    "n32c16_32x32_o32_k3s2": (32, 16, 32, 32, 32, 3, 2, 1),
    "n32c32_16x16_o64_k3s2": (32, 32, 16, 16, 64, 3, 2, 1),
    "n32c16_32x32_o32_k1s2": (32, 16, 32, 32, 32, 1, 2, 0),
}


def _conv_fns(name, small):
    n, c, h, w, o, k, s, p = STRIDED[name]
    if small:
        n = 2
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, c, h, w)).astype(np.float32)
    Wt = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    G = rng.standard_normal((n, o, ho, wo)).astype(np.float32)
    x, wt, g = dg.tensor(X, requires_grad=True), dg.tensor(Wt, requires_grad=True), dg.tensor(G)

    def ours():
        x.grad = wt.grad = None
        F.conv2d(x, wt, None, s, p).backward(g)

    fns = {"ours": ours}
    torch = _torch()
    if torch is not None:
        tx, tw = torch.tensor(X, requires_grad=True), torch.tensor(Wt, requires_grad=True)
        tg = torch.from_numpy(G)

        def peer():
            tx.grad = tw.grad = None
            torch.nn.functional.conv2d(tx, tw, None, s, p).backward(tg)

        fns["torch"] = peer
    return fns, 3 * 2 * n * o * ho * wo * c * k * k


POOL_SHAPES = {"n64c32_8x8": (64, 32, 8, 8), "n64c64_4x4": (64, 64, 4, 4)}


def _pool_fns(op, direction, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    if op == "max":
        y, idx = ops.max_pool2d(x, 2, return_indices=True)
    else:
        y, idx = ops.avg_pool2d(x, 2), None
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    if op == "max":
        fwd = lambda: ops.max_pool2d(x, 2, return_indices=True)  # noqa: E731
        bwd = lambda: ops.max_pool2d_backward(dy, idx, shape, 2)  # noqa: E731
    else:
        fwd = lambda: ops.avg_pool2d(x, 2)  # noqa: E731
        bwd = lambda: ops.avg_pool2d_backward(dy, shape, 2)  # noqa: E731
    fns = {"ours": fwd if direction == "forward" else bwd}
    torch = _torch()
    if torch is not None:
        aten = torch.ops.aten
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        if op == "max" and direction == "forward":
            fns["torch"] = lambda: aten.max_pool2d_with_indices(tx, [2, 2], [2, 2])
        elif op == "max":
            ti = torch.from_numpy(idx)
            fns["torch"] = lambda: aten.max_pool2d_with_indices_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, ti
            )
        elif direction == "forward":
            fns["torch"] = lambda: aten.avg_pool2d(tx, [2, 2], [2, 2])
        else:
            fns["torch"] = lambda: aten.avg_pool2d_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], False, True, None
            )
    return fns


def _record(benchmark, label, fns, nthreads, rounds, flops=None):
    with threads(nthreads):
        t = interleaved(fns, rounds=rounds)
    best = {k: v["best"] for k, v in t.items()}
    for k, v in best.items():
        benchmark.extra_info[f"{k}_best_s"] = v
    line = f"\n[{label} t{nthreads}] " + " ".join(f"{k}={v * 1e3:.3f}ms" for k, v in best.items())
    if flops:
        benchmark.extra_info["ours_GFLOPs"] = flops / best["ours"] / 1e9
        line += f" ours={flops / best['ours'] / 1e9:.1f}GF/s"
    if "torch" in best:
        benchmark.extra_info["speedup_vs_torch"] = best["torch"] / best["ours"]
        line += f" vs_torch={best['torch'] / best['ours']:.2f}"
    print(line)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("name", list(STEPS))
def test_cnn_train_step(benchmark, name, nthreads):
    fns = _step_fns(name, benchmark.disabled)
    if benchmark.enabled:
        _record(benchmark, f"step {name}", fns, nthreads, rounds=9)
    with threads(nthreads):
        benchmark(fns["ours"])


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("name", list(STRIDED))
def test_conv2d_strided_fwd_bwd(benchmark, name, nthreads):
    fns, flops = _conv_fns(name, benchmark.disabled)
    if benchmark.enabled:
        _record(benchmark, f"conv {name}", fns, nthreads, rounds=9, flops=flops)
    with threads(nthreads):
        benchmark(fns["ours"])


@pytest.mark.parametrize("shape", list(POOL_SHAPES))
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_small_planes(benchmark, op, direction, shape):
    fns = _pool_fns(op, direction, POOL_SHAPES[shape])
    if benchmark.enabled:
        _record(benchmark, f"pool {op} {direction} {shape}", fns, 1, rounds=15)
    with threads(1):
        benchmark(fns["ours"])
