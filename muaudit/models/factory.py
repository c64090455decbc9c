"""Building models by registered name or by a user factory ``package.module:function``."""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.models.archs import ARCHS
from muaudit.registry import check_kwargs


def resolve_arch(arch: str):
    """Return the factory for ``arch``: a registered name or ``package.module:function``."""
    if ":" not in arch:
        return ARCHS.get(arch)
    module, _, fn = arch.partition(":")
    try:
        factory = getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import model factory {arch!r} ({e})") from None
    if not callable(factory):
        raise ConfigError(f"model factory {arch!r} is not callable")
    return factory


def build_model(arch: str, input_shape, n_classes: int, *, seed: int | None = None, **kwargs) -> nn.Module:
    """Build an architecture; with ``seed`` the initialisation is reproducible.

    User factories receive ``input_shape`` and ``n_classes`` if their signature names them.

    Example:
        >>> m = build_model("mlp", (1, 8, 8), 10, seed=0, hidden=[64])
        >>> m(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    factory = resolve_arch(arch)
    check_kwargs("architecture", arch, factory, kwargs)
    params = inspect.signature(factory).parameters
    extra = {k: v for k, v in (("input_shape", tuple(input_shape)), ("n_classes", n_classes)) if k in params}
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = factory(**extra, **kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model factory {arch!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model
