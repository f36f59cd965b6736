"""Convolutional networks built only from deltagrad.nn's public modules: torchvision's
residual BasicBlock, a ResNet for small images (8x8 digits, 32x32 CIFAR-sized inputs) and a
small plain CNN (what ``deltagrad train --model cnn`` trains on the digits).

    from deltagrad.models import ResNet, resnet_cifar, SmallCNN   # re-exported there

    net = resnet_cifar(20, num_classes=10)           # CIFAR ResNet-20: 3 stages of 3 blocks
    net = ResNet(layers=(1, 1), widths=(16, 32), in_channels=1)   # for 8x8 digits
    net.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})

The state_dict keys are torchvision's: a block holds conv1, bn1, conv2, bn2 and, where the
shape changes, downsample.0 (1x1 conv) and downsample.1 (BatchNorm2d); the ResNet holds conv1,
bn1, layer1, layer2, ..., fc. The stem differs from torchvision's ImageNet stem (7x7 stride-2
conv and a max pool, which would leave nothing of an 8x8 image): a 3x3 stride-1 conv as in the
CIFAR ResNets of He et al. (2016), section 4.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import nn
from .tensor import Tensor

__all__ = ["conv3x3", "conv1x1", "BasicBlock", "ResNet", "resnet_cifar", "SmallCNN"]


def _positive_int(v: Any, owner: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{owner}: {name}: expected a positive int, got {v!r}")
    return int(v)


def _int_list(v: Any, owner: str, name: str) -> list[int]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
        raise ValueError(f"{owner}: {name}: expected a non-empty sequence of ints, got {v!r}")
    return [_positive_int(x, owner, name) for x in v]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    """3x3 convolution, padding 1, no bias (a BatchNorm2d follows), as torchvision's."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    """1x1 convolution, no bias, as torchvision's (the downsample's projection)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision's residual BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
    conv1 3x3 with `stride`, conv2 3x3; the shortcut is the identity, or `downsample`.

    downsample=None builds torchvision's projection, Sequential(conv1x1(inplanes, planes,
    stride), BatchNorm2d(planes)), when the shape changes (stride != 1 or inplanes != planes)
    and none otherwise; pass a module to choose it, as torchvision's ResNet does."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        inplanes = _positive_int(inplanes, "BasicBlock", "inplanes")
        planes = _positive_int(planes, "BasicBlock", "planes")
        stride = _positive_int(stride, "BasicBlock", "stride")
        if downsample is not None and not isinstance(downsample, nn.Module):
            raise TypeError(
                f"BasicBlock: downsample: expected an nn.Module or None, got "
                f"{type(downsample).__name__}"
            )
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        if downsample is None and (stride != 1 or inplanes != planes):
            downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks for small images: a 3x3 stem conv (stride 1) + bn + relu, then
    one stage per entry of `layers` (layers[i] blocks of widths[i] channels; the first stage
    keeps the resolution, each later one halves it with a stride-2 first block and a 1x1
    projection), AdaptiveAvgPool2d((1, 1)), flatten and a Linear head of num_classes.

    Initialized as torchvision's ResNet: kaiming_normal_(mode="fan_out", relu) for every conv,
    BatchNorm weight 1 and bias 0 (zero_init_residual=True: each block's bn2 weight 0, so
    every block starts as the identity), the Linear layer as nn.Linear."""

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2),
        widths: Sequence[int] = (16, 32, 64),
        num_classes: int = 10,
        in_channels: int = 3,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        layers = _int_list(layers, "ResNet", "layers")
        widths = _int_list(widths, "ResNet", "widths")
        if len(layers) != len(widths):
            raise ValueError(
                f"ResNet: widths: expected one width per stage ({len(layers)} in layers), got "
                f"{len(widths)}"
            )
        num_classes = _positive_int(num_classes, "ResNet", "num_classes")
        in_channels = _positive_int(in_channels, "ResNet", "in_channels")
        self.layers, self.widths = tuple(layers), tuple(widths)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.inplanes = widths[0]
        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        for i, (blocks, planes) in enumerate(zip(layers, widths)):
            self.add_module(f"layer{i + 1}", self._make_layer(planes, blocks, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes)
            )
        out = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        out += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(len(self.layers)):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.avgpool(x)
        return self.fc(x.flatten(1))

    def extra_repr(self) -> str:
        return f"layers={self.layers}, widths={self.widths}, num_classes={self.num_classes}"


def resnet_cifar(
    depth: int = 20,
    num_classes: int = 10,
    in_channels: int = 3,
    widths: Sequence[int] = (16, 32, 64),
) -> ResNet:
    """He et al.'s CIFAR ResNet of `depth` = 6n + 2 layers (8, 14, 20, 32, 44, 56, 110): three
    stages of n BasicBlocks, 16, 32 and 64 channels (`widths`), for 32x32 inputs."""
    depth = _positive_int(depth, "resnet_cifar", "depth")
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth: expected 6n + 2 >= 8 (8, 14, 20, ...), got {depth}")
    n = (depth - 2) // 6
    widths = _int_list(widths, "resnet_cifar", "widths")
    return ResNet([n] * len(widths), widths, num_classes=num_classes, in_channels=in_channels)


class SmallCNN(nn.Module):
    """A small plain CNN for small images (what ``deltagrad train --model cnn`` trains on the
    8x8 digits): features = [conv3x3-bn-relu (widths[0]), conv3x3-bn-relu (widths[1]),
    maxpool 2, conv3x3-bn-relu (widths[2]), maxpool 2], classifier = [flatten, Linear].
    `image_size` (an int or (H, W), each >= 4) sizes the Linear layer: widths[2] * (H // 4) *
    (W // 4) inputs. The convolutions have no bias (a BatchNorm2d follows each);
    ``features[0]`` is the first conv layer, whose filters ``--plot`` draws."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        image_size: int | Sequence[int] = 8,
    ) -> None:
        super().__init__()
        in_channels = _positive_int(in_channels, "SmallCNN", "in_channels")
        num_classes = _positive_int(num_classes, "SmallCNN", "num_classes")
        widths = _int_list(widths, "SmallCNN", "widths")
        if len(widths) != 3:
            raise ValueError(f"SmallCNN: widths: expected 3 widths, got {len(widths)}")
        size = [image_size] * 2 if not isinstance(image_size, Sequence) else list(image_size)
        if len(size) != 2:
            raise ValueError(f"SmallCNN: image_size: expected an int or (H, W), got {image_size!r}")
        h, w = (_positive_int(s, "SmallCNN", "image_size") for s in size)
        if h < 4 or w < 4:
            raise ValueError(
                f"SmallCNN: image_size: expected H and W >= 4 (two 2x2 max pools), got {(h, w)}"
            )
        a, b, c = widths
        self.widths, self.image_size = tuple(widths), (h, w)
        self.in_channels, self.num_classes = in_channels, num_classes
        self.features = nn.Sequential(
            conv3x3(in_channels, a),
            nn.BatchNorm2d(a),
            nn.ReLU(),
            conv3x3(a, b),
            nn.BatchNorm2d(b),
            nn.ReLU(),
            nn.MaxPool2d(2),
            conv3x3(b, c),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * (h // 4) * (w // 4), num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def describe(self) -> str:
        """One line: the layers, e.g. "conv3x3 16-bn-relu, conv3x3 32-bn-relu, maxpool2, ..."."""
        a, b, c = self.widths
        h, w = self.image_size
        return (
            f"CNN {self.in_channels}x{h}x{w} -> conv3x3 {a}-bn-relu -> conv3x3 {b}-bn-relu -> "
            f"maxpool2 -> conv3x3 {c}-bn-relu -> maxpool2 -> linear "
            f"{c * (h // 4) * (w // 4)}-{self.num_classes}"
        )
