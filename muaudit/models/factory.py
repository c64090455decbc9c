"""Building models by registered name or by a user factory ``package.module:function``."""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.models.archs import ARCHS
from muaudit.models.options import is_factory

SUPPLIED = ("input_shape", "n_classes")  # passed by muaudit (from the dataset) when the factory names them


def allowed_arch(arch, *, source: str, trusted: str | None = None) -> str:
    """The one gate between a file and an import: return ``arch``, read from ``source``, if muaudit
    may build it; else raise :class:`ConfigError`.

    Every loader that takes an architecture from a file (a recipe, a pool's ``spec``, a checkpoint's
    meta, a pool's ``weights/`` files) calls this before :func:`build_model`. A built-in name
    (``mlp``, ``cnn``, ``resnet18``) is always allowed; a factory ``package.module:function`` only
    when the user named the very same string themselves as ``trusted`` (``--arch`` on the command
    line, or the ``arch=`` argument of a Python call). Nothing a file names is ever imported.

    Example:
        >>> allowed_arch("mlp", source="recipe r.toml")
        'mlp'
        >>> allowed_arch("os:system", source="pool p")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        muaudit.errors.ConfigError: pool p names the model factory 'os:system'; ...
    """
    if not isinstance(arch, str) or not arch.strip():
        raise ConfigError(f"{source} names no architecture (got {arch!r}); valid: {', '.join(ARCHS.names())}")
    if not is_factory(arch):
        ARCHS.get(arch)  # unknown names: an error listing the valid ones
        return arch
    if arch != trusted:
        raise ConfigError(f"{source} names the model factory {arch!r}; muaudit never imports code a file names: "
                          f"pass --arch {arch} if you trust it")
    return arch


def resolve_arch(arch: str):
    """Return the factory for ``arch``: a registered name or ``package.module:function``.

    This imports what ``arch`` names: call it only with an ``arch`` the user gave, or one that
    passed :func:`allowed_arch`.
    """
    if not is_factory(arch):
        return ARCHS.get(arch)
    module, _, fn = arch.partition(":")
    if not module or not fn.isidentifier():
        raise ConfigError(f"Expected a model factory as 'package.module:function', got {arch!r}")
    try:
        factory = getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import model factory {arch!r} ({e})") from None
    except Exception as e:  # the user's module failed while importing
        raise ConfigError(f"importing model factory {arch!r} failed ({type(e).__name__}: {e})") from None
    if not callable(factory):
        raise ConfigError(f"model factory {arch!r} is not callable")
    return factory


def _check_options(arch: str, factory, kwargs: dict) -> list[str]:
    """Validate ``kwargs`` against the factory's options; return which of SUPPLIED it takes."""
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = [k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and k not in SUPPLIED]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown and not takes_any:
        raise ConfigError(f"unknown option {unknown[0]!r} for architecture {arch!r}; valid: {', '.join(valid) or 'none'}")
    return [k for k in SUPPLIED if k in params]


def build_model(arch: str, input_shape, n_classes: int, *, random_state: int | None = None, **kwargs) -> nn.Module:
    """Build an architecture; with ``random_state`` (an int seed) the initialisation is reproducible.

    User factories receive ``input_shape`` and ``n_classes`` if their signature names them.

    Example:
        >>> m = build_model("mlp", (1, 8, 8), 10, random_state=0, hidden=[64])
        >>> m(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    factory = resolve_arch(arch)
    wanted = _check_options(arch, factory, kwargs)
    supplied = {"input_shape": tuple(int(d) for d in input_shape), "n_classes": int(n_classes)}
    extra = {k: supplied[k] for k in wanted}
    with torch.random.fork_rng(devices=[]):
        if random_state is not None:
            torch.manual_seed(random_state)
        try:
            model = factory(**extra, **kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"architecture {arch!r} rejected its options {kwargs} ({e})") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model factory {arch!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def check_registered_options(arch: str, kwargs: dict) -> None:
    """Option names of an architecture registered in :data:`ARCHS` beyond the built-ins (checked
    against its builder's signature; an unknown name lists the registered ones)."""
    _check_options(arch, ARCHS.get(arch), kwargs)
