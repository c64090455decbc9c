"""Architectures by name: ``mlp``, ``cnn`` and ``resnet18`` (and, from :mod:`muaudit.models.cifar`,
``wrn`` and ``fastnet``).

Every factory takes ``input_shape`` (without the batch dim) and ``n_classes`` plus its own
keyword options, and returns a freshly initialised ``nn.Module`` (seed with ``torch.manual_seed``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.models.options import check_stem, nonempty_widths, widths
from muaudit.models.options import width as one_width
from muaudit.registry import Registry

ARCHS: Registry = Registry("architecture")
class MLP(nn.Sequential):
    """Flatten -> (Linear -> ReLU) x len(hidden) -> Linear. The batched ensemble engine
    recognises this class and trains many copies as one ``baddbmm`` stack."""

    __jit_unused_properties__ = ["linears"]  # keeps the model scriptable with torch.jit.script

    def __init__(self, in_features: int, n_classes: int, hidden: tuple[int, ...]):
        layers: list[nn.Module] = [nn.Flatten()]
        sizes = [in_features, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_classes))
        super().__init__(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


@ARCHS.register("mlp")
def mlp(input_shape, n_classes: int, *, hidden: list[int] = (512,)) -> nn.Module:
    """Multi-layer perceptron on flattened inputs; ``hidden`` lists the hidden widths."""
    return MLP(int(math.prod(input_shape)), n_classes, widths("hidden", hidden))


@ARCHS.register("cnn")
def cnn(input_shape, n_classes: int, *, channels: list[int] = (32, 64), hidden: int = 128) -> nn.Module:
    """Small conv net: per entry of ``channels`` a 3x3 conv, 2x2 max-pool (while the image is at
    least 2x2) and ReLU, then Linear(hidden) -> ReLU -> Linear(n_classes). No BatchNorm.

    Pooling before the ReLU computes exactly conv -> ReLU -> pool (ReLU is monotone, so the two
    commute, gradients included) with the ReLU on a 4x smaller tensor.
    """
    if len(input_shape) != 3:
        raise ConfigError(f"cnn needs image inputs [C, H, W], got input shape {list(input_shape)}")
    channels, hidden = nonempty_widths("channels", channels), one_width("hidden", hidden)
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for out in channels:
        layers.append(nn.Conv2d(c, out, 3, padding=1))
        if h >= 2 and w >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        layers.append(nn.ReLU())
        c = out
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """ResNet-18 with torchvision's parameter names (``conv1``, ``bn1``, ``layer1..4``, ``fc``), so
    torchvision state_dicts load directly. ``stem="cifar"``: 3x3 stride-1 conv, no max-pool;
    ``stem="imagenet"``: 7x7 stride-2 conv and max-pool (what Deep Unlearn trains on 32x32)."""

    def __init__(self, in_channels: int, n_classes: int, stem: str = "cifar", normalize: nn.Module | None = None):
        super().__init__()
        if normalize is not None:  # only when asked: older models keep their exact module tree
            self.normalize = normalize
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        planes, layers = 64, []
        for i, width in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width)))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        if hasattr(self, "normalize"):
            x = self.normalize(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@ARCHS.register("resnet18")
def resnet18(input_shape, n_classes: int, *, stem: str = "cifar", mean: list | None = None,
             std: list | None = None) -> nn.Module:
    """ResNet-18; ``stem`` is ``"cifar"`` (default) or ``"imagenet"`` (torchvision-style);
    ``mean`` / ``std`` normalise the inputs inside the model (:mod:`muaudit.models.cifar`)."""
    from muaudit.models.cifar import normalizer

    check_stem("stem", stem)
    if len(input_shape) != 3:
        raise ConfigError(f"resnet18 needs image inputs [C, H, W], got input shape {list(input_shape)}")
    norm = None if mean is None and std is None else normalizer(input_shape, mean, std)
    return ResNet18(int(input_shape[0]), n_classes, stem, norm)


from muaudit.models import cifar  # noqa: E402,F401  (registers wrn and fastnet)
