"""CIFAR-scale architectures: ``wrn`` (wide ResNet) and ``fastnet`` (an airbench-style small net).

Both take optional ``mean`` / ``std`` (one value per input channel): the inputs are normalised
inside the model (a non-persistent buffer, so no state-dict key), as the published recipes
normalise their data; muaudit's CIFAR loader gives pixels / 255.

- ``wrn``: WRN-``depth``-``width`` of Zagoruyko & Komodakis (2016), pre-activation basic blocks,
  ``(depth - 4) / 6`` per group, group widths 16, 32, 64 times ``width``, strides 1, 2, 2;
  WRN-16-4 has 2.75 M parameters.
- ``fastnet``: after airbench (Jordan 2024, github.com/KellerJordan/cifar10-airbench, written
  anew here): a 2x2 conv stem of ``2 * C * 4`` channels with GELU, three groups of
  (3x3 conv, 2x2 max-pool, BatchNorm, GELU, 3x3 conv, BatchNorm, GELU) of ``widths`` channels
  (default 64, 256, 256), a global max-pool and a bias-free linear layer whose output is scaled
  by ``scale`` (1/9). Its BatchNorms have a fixed scale of 1 (only the shift trains), momentum
  0.4 (airbench's 0.6 in its own convention) and eps 1e-12; the 3x3 convs start as identity on
  their first input channels (dirac init). airbench's data-dependent whitening init of the stem,
  its lookahead EMA and test-time augmentation are training-loop features muaudit does not have:
  the stem here trains from a standard init.
"""

from __future__ import annotations

import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.models.archs import ARCHS
from muaudit.models.options import check_depth, check_scale, check_wrn_width, nonempty_widths, stats


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the statistics are not part of the state dict."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


def normalizer(input_shape, mean, std) -> nn.Module:
    if (mean is None) != (std is None):
        raise ConfigError("give both `mean` and `std`, or neither")
    if mean is None:
        return nn.Identity()
    c = int(input_shape[0])
    return Normalize(stats("mean", mean, c), stats("std", std, c))


def _image(arch: str, input_shape) -> None:
    if len(input_shape) != 3:
        raise ConfigError(f"{arch} needs image inputs [C, H, W], got input shape {list(input_shape)}")


class WideBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus the shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(inplanes), nn.BatchNorm2d(planes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.shortcut = None
        if stride != 1 or inplanes != planes:
            self.shortcut = nn.Conv2d(inplanes, planes, 1, stride, bias=False)

    def forward(self, x):
        o = self.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(o)
        out = self.conv2(self.relu(self.bn2(self.conv1(o))))
        return out + identity


class WideResNet(nn.Module):
    def __init__(self, input_shape, n_classes: int, depth: int, width: int, mean=None, std=None):
        super().__init__()
        n = (depth - 4) // 6
        planes = [16, 16 * width, 32 * width, 64 * width]
        self.normalize = normalizer(input_shape, mean, std)
        self.conv1 = nn.Conv2d(int(input_shape[0]), planes[0], 3, 1, 1, bias=False)
        groups, inplanes = [], planes[0]
        for g, stride in zip(planes[1:], (1, 2, 2)):
            groups.append(nn.Sequential(*[WideBlock(inplanes if i == 0 else g, g, stride if i == 0 else 1)
                                          for i in range(n)]))
            inplanes = g
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.conv1(self.normalize(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(x))), 1))


@ARCHS.register("wrn")
def wrn(input_shape, n_classes: int, *, depth: int = 16, width: int = 4, mean: list | None = None,
        std: list | None = None) -> nn.Module:
    """Wide ResNet WRN-``depth``-``width`` (default WRN-16-4) with optional input normalisation."""
    _image("wrn", input_shape)
    return WideResNet(input_shape, n_classes, check_depth("depth", depth), check_wrn_width("width", width), mean, std)


class _FastBN(nn.BatchNorm2d):
    def __init__(self, c: int):
        super().__init__(c, eps=1e-12, momentum=0.4)
        self.weight.requires_grad_(False)


def _dirac_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(cin, cout)])
    return conv


class FastNet(nn.Sequential):
    def __init__(self, input_shape, n_classes: int, widths: tuple[int, ...], scale: float, mean=None, std=None):
        c = int(input_shape[0])
        stem = 2 * c * 4
        layers: list[nn.Module] = [normalizer(input_shape, mean, std), nn.Conv2d(c, stem, 2), nn.GELU()]
        h, w, cin = int(input_shape[1]) - 1, int(input_shape[2]) - 1, stem
        for cout in widths:
            pool = nn.MaxPool2d(2) if min(h, w) >= 2 else nn.Identity()
            h, w = (h // 2, w // 2) if min(h, w) >= 2 else (h, w)
            layers += [_dirac_conv(cin, cout), pool, _FastBN(cout), nn.GELU(), _dirac_conv(cout, cout), _FastBN(cout),
                       nn.GELU()]
            cin = cout
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(cin, n_classes, bias=False), _Scale(scale)]
        super().__init__(*layers)


class _Scale(nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = float(scale)

    def forward(self, x):
        return x * self.scale


@ARCHS.register("fastnet")
def fastnet(input_shape, n_classes: int, *, widths: list[int] = (64, 256, 256), scale: float = 1 / 9,
            mean: list | None = None, std: list | None = None) -> nn.Module:
    """airbench-style fast CIFAR net (see the module docstring); ``widths`` of its conv groups."""
    _image("fastnet", input_shape)
    if min(int(input_shape[1]), int(input_shape[2])) < 2:
        raise ConfigError(f"fastnet needs images of at least 2x2 pixels, got input shape {list(input_shape)}")
    return FastNet(input_shape, n_classes, nonempty_widths("widths", widths), check_scale("scale", scale), mean, std)
