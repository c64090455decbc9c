"""One contract table over every registered unlearning method, plus the framework around it
(registry, entry points, configs, block mapping, budget)."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, dataclass, fields

import numpy as np
import pytest
import torch

from muaudit.errors import ConfigError
from muaudit.models import build_model
from muaudit.registry import Registry
from muaudit.unlearning import (METHODS, MethodConfig, UnlearnData, UnlearningMethod, get_method, make_config,
                                method_names, model_blocks, run_unlearning)
from muaudit.unlearning import base as unl_base
from muaudit.unlearning.blocks import feature_layers, last_blocks

NAMES = method_names()
TRAINING = ["ft", "gd", "ngd", "ga", "srl", "ng+", "ct", "cfw", "prmq", "rni", "cf-k", "eu-k", "bt", "scrub",
            "kde", "fcs", "retrain"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def tiny_data(shape=(1, 4, 4), n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 2, size=(n_classes, int(np.prod(shape))))

    def draw(n):
        y = rng.integers(0, n_classes, n)
        return UnlearnData((means[y] + rng.normal(size=(n, means.shape[1]))).reshape((n,) + shape), y)

    forget, retain, val = draw(12), draw(40), draw(12)
    return forget, UnlearnData(retain.X, retain.y, val=val)


def tiny_model(arch, shape=(1, 4, 4), n_classes=3):
    kwargs = {"mlp": {"hidden": [8]}, "cnn": {"channels": [2, 4], "hidden": 6}, "resnet18": {}}[arch]
    model = build_model(arch, shape, n_classes, random_state=0, **kwargs)
    model.eval()
    return model


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", NAMES)
def test_method_contract(name, arch):
    forget, retain = tiny_data()
    model = tiny_model(arch)
    before, flags = state(model), [p.requires_grad for p in model.parameters()]
    res = run_unlearning(name, model, forget, retain, random_state=0)
    out = res.model
    # the input is untouched
    assert same_state(state(model), before)
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training
    # same architecture, finite, eval mode, trainability kept
    assert type(out) is type(model) and out is not model
    assert {k: v.shape for k, v in out.state_dict().items()} == {k: v.shape for k, v in before.items()}
    assert all(torch.isfinite(v).all() for v in out.state_dict().values() if v.is_floating_point())
    assert not out.training and [p.requires_grad for p in out.parameters()] == flags
    # cost recorded
    assert res.cost["seconds"] > 0 and isinstance(res.cost["sample_gradients"], int)
    assert (res.cost["sample_gradients"] == 0) == (name == "original")
    # deterministic with a seed
    again = run_unlearning(name, model, forget, retain, random_state=0).model
    assert same_state(state(again), state(out))
    # and the config round-trips through a dict
    assert make_config(get_method(name), res.config.to_dict()) == res.config


@pytest.mark.parametrize("name", TRAINING)
def test_budget_caps_training(name):
    forget, retain = tiny_data()
    res = run_unlearning(name, tiny_model("mlp"), forget, retain, max_sample_gradients=30)
    assert res.cost["sample_gradients"] <= 30
    assert res.cost["truncated"] and res.cost["budget_sample_gradients"] == 30


@pytest.mark.parametrize("name", NAMES)
def test_zero_budget_still_returns_a_finite_model(name):
    forget, retain = tiny_data()
    out = run_unlearning(name, tiny_model("mlp"), forget, retain, max_sample_gradients=0).model
    assert all(torch.isfinite(p).all() for p in out.parameters())


def test_budget_fraction_uses_the_training_compute():
    forget, retain = tiny_data()
    meta = {"recipe": {"epochs": 10}, "train_idx": list(range(52))}
    res = run_unlearning("ft", tiny_model("mlp"), forget, retain, meta=meta, budget=0.1)
    assert res.cost["budget_sample_gradients"] == 52 and res.cost["sample_gradients"] <= 52
    with pytest.raises(ConfigError, match=r"Expected `budget` > 0"):
        run_unlearning("ft", tiny_model("mlp"), forget, retain, meta=meta, budget=-0.5)


def test_methods_called_directly_record_cost_and_default_seed():
    forget, retain = tiny_data()
    ga = get_method("ga")
    a = ga(tiny_model("mlp"), forget, retain)
    assert ga.cost_["sample_gradients"] == 10 * len(forget)
    b = ga(tiny_model("mlp"), forget, retain, config=ga.Config(), random_state=torch.Generator().manual_seed(0))
    c = ga(tiny_model("mlp"), forget, retain, random_state=0)  # an int seeds the generator
    assert same_state(state(a), state(b)) and same_state(state(a), state(c))


def test_old_randomness_keywords_warn_for_one_release_and_give_the_same_model():
    forget, retain = tiny_data()
    new = run_unlearning("ft", tiny_model("mlp"), forget, retain, random_state=3).model
    with pytest.warns(DeprecationWarning, match="run_unlearning: `seed` is deprecated; use `random_state`"):
        old = run_unlearning("ft", tiny_model("mlp"), forget, retain, seed=3).model
    assert same_state(state(new), state(old))
    ft = get_method("ft")
    a = ft(tiny_model("mlp"), forget, retain, random_state=torch.Generator().manual_seed(5))
    with pytest.warns(DeprecationWarning, match="`generator` is deprecated; use `random_state`"):
        b = ft(tiny_model("mlp"), forget, retain, generator=torch.Generator().manual_seed(5))
    assert same_state(state(a), state(b)) and not same_state(state(a), state(new))
    with pytest.raises(ConfigError, match=r"give `random_state` only \(`seed` is its deprecated name\)"):
        run_unlearning("ft", tiny_model("mlp"), forget, retain, random_state=1, seed=3)


@pytest.mark.parametrize("name", ["ft", "ngd", "srl", "bt", "msg", "ff"])
def test_seed_changes_randomised_methods(name):
    forget, retain = tiny_data()
    a = run_unlearning(name, tiny_model("mlp"), forget, retain, random_state=0).model
    b = run_unlearning(name, tiny_model("mlp"), forget, retain, random_state=1).model
    assert not same_state(state(a), state(b))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_method_contract_resnet18(name):
    """BatchNorm models: same contract at one epoch (the full defaults are too slow for tests)."""
    forget, retain = tiny_data(shape=(3, 8, 8), n_classes=3)
    forget, retain = forget.subset(range(4)), UnlearnData(retain.X[:8], retain.y[:8], val=retain.val.subset(range(4)))
    model = tiny_model("resnet18", (3, 8, 8))
    before = state(model)
    method = get_method(name)
    valid = {f.name for f in fields(method.Config)}
    short = {k: v for k, v in {"epochs": 1, "retain_epochs": 1, "fine_epochs": 1, "n_samples": 4}.items() if k in valid}
    res = run_unlearning(method, model, forget, retain, config=short, random_state=0)
    assert same_state(state(model), before)
    assert all(torch.isfinite(v).all() for v in res.model.state_dict().values() if v.is_floating_point())
    assert same_state(state(run_unlearning(method, model, forget, retain, config=short, random_state=0).model),
                      state(res.model))


# -- registry, plug-ins, configs ------------------------------------------------------------------


def test_every_method_is_documented_and_registered_once():
    assert len(NAMES) == 23 and len(set(NAMES)) == 23
    for name in NAMES:
        m = get_method(name)
        assert m.name == name and m.description and m.source and m.Config.__doc__
        assert isinstance(m.Config(), MethodConfig)


def test_registry_refuses_duplicates_and_lists_valid_names():
    with pytest.raises(ConfigError, match="'ft' is already registered"):
        METHODS.register("ft", object)
    with pytest.raises(ConfigError, match=r"unknown unlearning method 'nope'; valid: bt, cf-k, "):
        get_method("nope")


@dataclass(frozen=True)
class _PlugConfig(MethodConfig):
    """A plug-in's config."""

    scale: float = 1.0


class _Plug(UnlearningMethod):
    name = "plug-test"
    description = "test plug-in"
    source = "tests"
    Config = _PlugConfig

    def unlearn(self, model, forget, retain, c, generator):
        return model


class _EP:
    def __init__(self, name, obj):
        self.name, self._obj = name, obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_entry_points_register_plugins(monkeypatch):
    import importlib.metadata as md

    registry = Registry("unlearning method")
    registry._items = dict(METHODS._items)
    monkeypatch.setattr(unl_base, "METHODS", registry)
    monkeypatch.setattr(unl_base, "_PLUGINS_LOADED", False)
    clash = type("Clash", (_Plug,), {"name": "ft"})
    eps = [_EP("plug-test", _Plug), _EP("broken", ImportError("no module")), _EP("clash", clash)]
    monkeypatch.setattr(md, "entry_points", lambda group: eps if group == "muaudit.methods" else [])
    with pytest.warns(UserWarning) as caught:
        unl_base.load_entry_points()
    assert [str(w.message) for w in caught] == [
        "muaudit.methods plug-in 'broken' failed to load: no module",
        "muaudit.methods plug-in 'clash': method 'ft' is already registered; skipped"]
    assert unl_base.get_method("ft").__class__.__name__ == "FT"
    assert isinstance(unl_base.get_method("plug-test"), _Plug)
    assert "plug-test" not in METHODS


def test_config_errors_name_the_key_and_valid_values():
    ft = get_method("ft")
    with pytest.raises(ConfigError, match=r"unknown option 'lrr' for unlearning method 'ft'; valid: lr, momentum"):
        make_config(ft, {"lrr": 1})
    for key, value, msg in [("lr", "abc", "Expected `lr` a number, got 'abc'"), ("lr", -1, "Expected `lr` > 0, got -1"),
                            ("epochs", 1.5, "Expected `epochs` an integer, got 1.5"),
                            ("momentum", 1, r"Expected `momentum` in \[0, 1\), got 1")]:
        with pytest.raises(ConfigError, match=msg):
            make_config(ft, {key: value})
    with pytest.raises(ConfigError, match=r"Expected `threshold` in \[0, 1\], got 2"):
        make_config(get_method("salun"), {"threshold": 2})
    assert make_config(get_method("rni"), {"fine_lr": [1, 2e-3]}).fine_lr == (1.0, 2e-3)
    assert make_config(get_method("retrain"), meta={"recipe": {"epochs": 7, "optimizer": "adam"}}).epochs == 7


def test_config_is_frozen():
    with pytest.raises(FrozenInstanceError):
        get_method("ft").Config().lr = 1.0


# -- block mapping --------------------------------------------------------------------------------


def test_block_mapping_of_every_builtin_architecture():
    mlp = build_model("mlp", (1, 8, 8), 10, hidden=[16, 8])
    assert [b.name for b in model_blocks(mlp)] == ["1", "3", "5"]
    assert [b.name for b in last_blocks(mlp, 1)] == ["3", "5"]
    assert [b.name for b in last_blocks(mlp, 9)] == ["1", "3", "5"]
    assert feature_layers(mlp) == [mlp[1], mlp[3]]
    cnn = build_model("cnn", (1, 8, 8), 10, channels=[4, 8], hidden=16)
    assert [type(m).__name__ for b in model_blocks(cnn) for m in b.modules] == ["Conv2d", "Conv2d", "Linear", "Linear"]
    assert all(type(m).__name__ == "Conv2d" for m in feature_layers(cnn))
    resnet = build_model("resnet18", (3, 32, 32), 10)
    assert [b.name for b in model_blocks(resnet)] == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    assert [b.name for b in last_blocks(resnet, 1)] == ["layer4", "fc"]
    assert len(feature_layers(resnet)) == 20  # 17 3x3 convs + 3 downsample 1x1 convs


def test_unlearn_data_checks_shapes():
    from muaudit.errors import DataError

    with pytest.raises(DataError, match=r"Expected X \[n, ...\] and y \[n\]"):
        UnlearnData(np.zeros((3, 2)), np.zeros(4, np.int64))
    d = UnlearnData(np.zeros((3, 2)), np.arange(3))
    assert d.X.dtype == torch.float32 and d.y.dtype == torch.int64 and len(copy.copy(d)) == 3


def test_docs_describe_every_method_with_current_defaults():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "methods.md").read_text()
    block = text.split("<!-- methods-defaults:start -->")[1].split("<!-- methods-defaults:end -->")[0]
    rows = {line.split("|")[1].strip(" `"): line for line in block.splitlines() if line.startswith("| `")}
    for name in NAMES:
        assert f"**`{name}`**" in text, f"docs/methods.md does not describe {name}"
        for key, value in get_method(name).Config().to_dict().items():
            assert f"`{key}={value}`" in rows[name], f"{name}.{key}: rerun benchmarks/methods_table.py --defaults-only"
