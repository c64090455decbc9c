"""Architectures, seeded initialisation and the model factory (registered names and user factories)."""

from pathlib import Path

import pytest
import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.models import ARCHS, MLP, build_model, resolve_arch

ROOT = str(Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("arch, shape, kwargs", [
    ("mlp", (1, 8, 8), {"hidden": [16, 8]}),
    ("mlp", (7,), {}),
    ("cnn", (1, 8, 8), {"channels": [4, 8], "hidden": 16}),
    ("cnn", (3, 32, 32), {"channels": [4], "hidden": 8}),
    ("resnet18", (3, 32, 32), {}),
    ("resnet18", (3, 32, 32), {"stem": "imagenet"}),
    ("resnet18", (1, 8, 8), {}),
])
def test_forward_shape(arch, shape, kwargs):
    model = build_model(arch, shape, 5, random_state=0, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(3, *shape))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_mlp_layout():
    model = build_model("mlp", (1, 8, 8), 10, hidden=[32, 16])
    assert isinstance(model, MLP)
    assert [(m.in_features, m.out_features) for m in model.linears] == [(64, 32), (32, 16), (16, 10)]


def test_resnet18_stems_and_torchvision_names():
    cifar = build_model("resnet18", (3, 32, 32), 10)
    imagenet = build_model("resnet18", (3, 32, 32), 10, stem="imagenet")
    assert cifar.conv1.kernel_size == (3, 3) and isinstance(cifar.maxpool, nn.Identity)
    assert imagenet.conv1.kernel_size == (7, 7) and isinstance(imagenet.maxpool, nn.MaxPool2d)
    keys = set(cifar.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer4.1.bn2.weight", "layer2.0.downsample.0.weight", "fc.bias"} <= keys
    assert sum(p.numel() for p in cifar.parameters()) == 11_173_962  # torchvision resnet18, 10 classes, 3x3 stem


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_seeded_init_is_reproducible(arch):
    a, b = (build_model(arch, (1, 8, 8), 10, random_state=7) for _ in range(2))
    c = build_model(arch, (1, 8, 8), 10, random_state=8)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_seeded_build_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("mlp", (4,), 2, random_state=0)
    build_model("mlp", (4,), 2)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        build_model("vgg", (1, 8, 8), 10)
    assert str(err.value) == f"unknown architecture 'vgg'; valid: {', '.join(ARCHS.names())}"
    assert {"cnn", "mlp", "resnet18"} <= set(ARCHS.names())


@pytest.mark.parametrize("arch, kwarg, valid", [
    ("mlp", "width", "hidden"),
    ("cnn", "depth", "channels, hidden"),
    ("resnet18", "hidden", "stem, mean, std"),
])
def test_unknown_kwarg_lists_valid_ones(arch, kwarg, valid):
    with pytest.raises(ConfigError) as err:
        build_model(arch, (3, 32, 32), 10, **{kwarg: 1})
    assert str(err.value) == f"unknown option {kwarg!r} for architecture {arch!r}; valid: {valid}"


def test_bad_option_values():
    with pytest.raises(ConfigError, match="Expected `stem` 'cifar' or 'imagenet', got 'tiny'"):
        build_model("resnet18", (3, 32, 32), 10, stem="tiny")
    for bad in (["a"], "512", [1.5], [0], [-5], [True], [2**20]):
        with pytest.raises(ConfigError, match=r"Expected `hidden` a list of integers in \[1, 65536\], got "):
            build_model("mlp", (4,), 2, hidden=bad)
    with pytest.raises(ConfigError, match=r"Expected `channels` a list of integers in \[1, 65536\], got \[\]"):
        build_model("cnn", (1, 8, 8), 2, channels=[])
    with pytest.raises(ConfigError, match=r"Expected `hidden` an integer in \[1, 65536\], got \[4\]"):
        build_model("cnn", (1, 8, 8), 2, hidden=[4])


@pytest.fixture
def importable_tests(monkeypatch):
    monkeypatch.syspath_prepend(ROOT)


def test_user_factory(importable_tests):
    model = build_model("tests.helpers_factory:make", (1, 8, 8), 10, random_state=0, width=6)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10) and model[1].out_features == 6
    same = build_model("tests.helpers_factory:make", (1, 8, 8), 10, random_state=0, width=6)
    assert torch.equal(model[1].weight, same[1].weight)
    fixed = build_model("tests.helpers_factory:make_fixed", (1, 8, 8), 10, out=2)
    assert fixed.out_features == 2


@pytest.mark.parametrize("arch, message", [
    ("tests.no_such_module:make", "cannot import model factory 'tests.no_such_module:make' (No module named 'tests.no_such_module')"),
    ("tests.helpers_factory:missing", "cannot import model factory 'tests.helpers_factory:missing' (module 'tests.helpers_factory' has no attribute 'missing')"),
    ("tests.helpers_factory:NOT_CALLABLE", "model factory 'tests.helpers_factory:NOT_CALLABLE' is not callable"),
    ("tests.helpers_factory:make_not_module", "model factory 'tests.helpers_factory:make_not_module' returned str, not a torch.nn.Module"),
    (":make", "Expected a model factory as 'package.module:function', got ':make'"),
    ("tests.helpers_factory:", "Expected a model factory as 'package.module:function', got 'tests.helpers_factory:'"),
])
def test_bad_factories(importable_tests, arch, message):
    with pytest.raises(ConfigError) as err:
        build_model(arch, (1, 8, 8), 10)
    assert str(err.value) == message


def test_user_factory_unknown_kwarg(importable_tests):
    with pytest.raises(ConfigError) as err:
        build_model("tests.helpers_factory:make", (4,), 2, depth=3)
    assert str(err.value) == "unknown option 'depth' for architecture 'tests.helpers_factory:make'; valid: width"
    assert resolve_arch("MLP") is ARCHS.get("mlp")
