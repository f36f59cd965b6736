"""Convolutional networks against torch in float64, from the same weights (issue 17): a small
CNN (conv-bn-relu-maxpool twice, flatten, linear) trained 4 steps with SGD + momentum in
train mode ends with the same weights and running statistics (1e-8); the ResNet of
deltagrad.models (BasicBlock with torchvision's state_dict keys) loads a hand-built torch
ResNet's state_dict (converted to numpy) and gives the same outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import nn
from deltagrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = {"rtol": 1e-10, "atol": 1e-10}
STEPS_TOL = {"rtol": 1e-8, "atol": 1e-8}


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def close(actual, expected, tol=TOL, name="value"):
    a = actual.data if isinstance(actual, dg.Tensor) else actual
    assert_close(np.asarray(a), _np(expected), name=name, **tol)


def load_from_torch(dg_model, t_model):
    """torch state_dict -> numpy -> dg load_state_dict (strict: every key, every shape)."""
    dg_model.load_state_dict(
        {k: v.detach().numpy().copy() for k, v in t_model.state_dict().items()}
    )


def randomize_bn(t_model, seed):
    """Non-trivial affine parameters and running statistics for every torch BatchNorm2d."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in t_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                m.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                m.num_batches_tracked.fill_(3)


# ---- a small CNN, 4 steps of SGD with momentum ----------------------------------------------


def dg_small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 5),
    ).double()


def torch_small_cnn():
    T = torch.nn
    return T.Sequential(
        T.Conv2d(3, 4, 3, padding=1),
        T.BatchNorm2d(4),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Conv2d(4, 6, 3, stride=1, padding=1),
        T.BatchNorm2d(6),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Flatten(),
        T.Linear(6 * 2 * 2, 5),
    ).double()


@pytest.mark.parametrize("nesterov, weight_decay", [(False, 0.0), (True, 1e-3)])
def test_small_cnn_four_sgd_momentum_steps_match_torch(nesterov, weight_decay):
    torch.manual_seed(0)
    t_model = torch_small_cnn()
    model = dg_small_cnn()
    load_from_torch(model, t_model)
    assert list(model.state_dict()) == list(t_model.state_dict())
    kw = {"lr": 0.05, "momentum": 0.9, "nesterov": nesterov, "weight_decay": weight_decay}
    opt = dg.optim.SGD(model.parameters(), **kw)
    t_opt = torch.optim.SGD(t_model.parameters(), **kw)
    rng = np.random.default_rng(1)
    model.train()
    t_model.train()
    for step in range(4):
        # 9x9 (odd): the floor-mode pools drop the last row and column
        x = rng.standard_normal((6, 3, 9, 9)) * 2.0 + 0.3
        y = rng.integers(0, 5, 6)
        loss = F.cross_entropy(model(dg.tensor(x)), dg.tensor(y))
        t_loss = torch.nn.functional.cross_entropy(t_model(torch.tensor(x)), torch.tensor(y))
        close(loss, t_loss, name=f"loss at step {step}")
        opt.zero_grad()
        t_opt.zero_grad()
        loss.backward()
        t_loss.backward()
        if step == 0:
            t_params = dict(t_model.named_parameters())
            for name, p in model.named_parameters():
                close(p.grad, t_params[name].grad, name=f"{name}.grad at step 0")
        opt.step()
        t_opt.step()
    t_state = t_model.state_dict()
    for name, value in model.state_dict().items():  # weights and running statistics
        close(value, t_state[name], STEPS_TOL, name=f"{name} after 4 steps")
    # the trained models agree in eval mode too (running statistics)
    model.eval()
    t_model.eval()
    x = rng.standard_normal((3, 3, 9, 9))
    with dg.no_grad():
        out = model(dg.tensor(x))
    close(out, t_model(torch.tensor(x)), STEPS_TOL, name="eval output after 4 steps")


# ---- ResNet ---------------------------------------------------------------------------------


class TorchBasicBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock, written out (torchvision is not a dependency)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        T = torch.nn
        self.conv1 = T.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = T.BatchNorm2d(planes)
        self.relu = T.ReLU(inplace=True)
        self.conv2 = T.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = T.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TorchResNet(torch.nn.Module):
    """torchvision's ResNet with the small-image stem (3x3 stride-1 conv, no max pool)."""

    def __init__(self, layers, widths, num_classes, in_channels):
        super().__init__()
        T = torch.nn
        self.inplanes = widths[0]
        self.conv1 = T.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = T.BatchNorm2d(widths[0])
        self.relu = T.ReLU(inplace=True)
        self.n_stages = len(layers)
        for i, (blocks, planes) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or self.inplanes != planes:
                down = T.Sequential(
                    T.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                    T.BatchNorm2d(planes),
                )
            mods = [TorchBasicBlock(self.inplanes, planes, stride, down)]
            self.inplanes = planes
            mods += [TorchBasicBlock(planes, planes) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", T.Sequential(*mods))
        self.avgpool = T.AdaptiveAvgPool2d((1, 1))
        self.fc = T.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


@pytest.mark.parametrize(
    "layers, widths, in_channels, size",
    [((1, 2), (4, 8), 3, 9), ((2, 1, 1), (3, 3, 5), 1, 8)],
)
def test_resnet_loads_torch_state_dict_and_matches(layers, widths, in_channels, size):
    torch.manual_seed(2)
    t_model = TorchResNet(layers, widths, 7, in_channels).double()
    randomize_bn(t_model, 3)
    model = dg.models.ResNet(layers, widths, num_classes=7, in_channels=in_channels).double()
    assert list(model.state_dict()) == list(t_model.state_dict())  # torchvision's keys, in order
    load_from_torch(model, t_model)
    x = np.random.default_rng(4).standard_normal((5, in_channels, size, size))
    # eval: the loaded running statistics
    model.eval()
    t_model.eval()
    with dg.no_grad():
        close(model(dg.tensor(x)), t_model(torch.tensor(x)), name="eval output")
    # train: batch statistics, the running-statistics update, input and parameter gradients
    model.train()
    t_model.train()
    xd, xt = dg.tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    out, t_out = model(xd), t_model(xt)
    close(out, t_out, name="train output")
    g = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(dg.tensor(g))
    t_out.backward(torch.tensor(g))
    close(xd.grad, xt.grad, name="input grad")
    t_params = dict(t_model.named_parameters())
    for name, p in model.named_parameters():
        close(p.grad, t_params[name].grad, name=f"{name}.grad")
    t_state = t_model.state_dict()
    for name, value in model.state_dict().items():
        close(value, t_state[name], name=name)


def test_basic_block_keys_and_forward_match_torchvision_layout():
    torch.manual_seed(6)
    for inplanes, planes, stride in ((4, 4, 1), (4, 6, 1), (3, 5, 2)):
        down = None
        if stride != 1 or inplanes != planes:
            down = torch.nn.Sequential(
                torch.nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                torch.nn.BatchNorm2d(planes),
            )
        t_block = TorchBasicBlock(inplanes, planes, stride, down).double()
        randomize_bn(t_block, 7)
        block = dg.models.BasicBlock(inplanes, planes, stride).double()  # downsample built
        keys = list(block.state_dict())
        assert keys == list(t_block.state_dict())
        assert ("downsample.0.weight" in keys) == (down is not None)
        load_from_torch(block, t_block)
        x = np.random.default_rng(8).standard_normal((3, inplanes, 7, 7))
        block.eval()
        t_block.eval()
        with dg.no_grad():
            close(block(dg.tensor(x)), t_block(torch.tensor(x)), name=f"block {inplanes}->{planes}")
