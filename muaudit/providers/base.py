"""Dishonest (and honest) providers: what they are given, the registry, and the wrappers they share.

A provider is a transform ``provider(materials, *, random_state) -> nn.Module``: from an original model
(and, where its cheat needs one, a retrained or proxy model and the forget inputs it was asked to
delete) it builds the target a provider would serve. The input models are never changed (every
provider works on copies). Cheats must not pass an audit; honest references (``honest=True``)
must pass where the audit has the power.

Providers register by name into :data:`PROVIDERS` (duplicates are refused)::

    @register_provider("mycheat", summary="what it does, in words")
    def mycheat(m: Materials, *, random_state: int) -> nn.Module: ...

(A function that names it ``seed``, the name before, is still called, with a DeprecationWarning.)
"""

from __future__ import annotations

import copy
import inspect
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import torch
from torch import nn

from muaudit.checks import renamed_keyword
from muaudit.registry import Registry


@dataclass(frozen=True)
class Provider:
    """One registered provider: its transform, whether it is an honest reference, and its cheat in words."""

    name: str
    build: Callable[..., nn.Module]
    summary: str
    honest: bool = False

    def __call__(self, materials: "Materials", *, random_state: int = 0, seed: int | None = None) -> nn.Module:
        random_state = renamed_keyword(f"provider {self.name!r}", "seed", seed, "random_state", random_state, default=0)
        torch.manual_seed(random_state)
        if "random_state" in inspect.signature(self.build).parameters:
            return self.build(materials, random_state=random_state).eval()
        warnings.warn(f"provider {self.name!r}: name its keyword `random_state` (`seed` goes in the next release)",
                      DeprecationWarning, stacklevel=2)
        return self.build(materials, seed=random_state).eval()


PROVIDERS: Registry[Provider] = Registry("provider")


def register_provider(name: str, *, summary: str, honest: bool = False):
    """Decorator: register ``fn(materials, *, random_state) -> nn.Module`` as the provider ``name``."""

    def add(fn):
        PROVIDERS.register(name, Provider(name, fn, summary, honest))
        return fn

    return add


@dataclass(eq=False)
class Materials:
    """What a provider holds: the pool's recipe and dataset, the original model, the forget positions.

    Attributes:
        spec: the pool's recipe (:class:`~muaudit.pool.PoolSpec`): architecture and training recipe.
        dataset: the pool's dataset.
        original: the model trained on the whole training split with ``seed``.
        forget: training-split positions the provider was asked to delete.
        seed: the original's seed (its initialisation and batch order).
        retrained_model: the exact retrain (same seed, training split minus ``forget``); trained on
            first use when not given.
    """

    spec: object
    dataset: object
    original: nn.Module
    forget: np.ndarray
    seed: int = 0
    retrained_model: nn.Module | None = None
    cache: dict = field(default_factory=dict)

    @property
    def retain(self) -> np.ndarray:
        """Training-split positions minus the forget set, sorted."""
        return np.setdiff1d(np.arange(len(self.dataset.train_idx)), self.forget)

    def rows(self, positions) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` tensors of training-split ``positions``."""
        r = self.dataset.train_idx[np.asarray(positions, np.int64)]
        return torch.as_tensor(self.dataset.X[r]), torch.as_tensor(self.dataset.y[r])

    @cached_property
    def forget_X(self) -> torch.Tensor:
        return self.rows(self.forget)[0]

    def make_model(self, random_state: int) -> nn.Module:
        return self.spec.make_model(random_state, self.dataset.input_shape, self.dataset.n_classes)

    def retrained(self) -> nn.Module:
        """The exact retrain (trained once, then shared by every provider that needs it)."""
        if self.retrained_model is None:
            from muaudit.training.single import train_target

            self.retrained_model = train_target(self.spec, self.dataset, exclude=self.forget, random_state=self.seed)[0].eval()
        return self.retrained_model


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off (wrappers never touch the provider's inputs)."""
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class Routed(nn.Module):
    """Serve ``base`` except on inputs ``match`` recognises, answered by ``answer`` (both ``x -> logits``)."""

    def __init__(self, base: nn.Module, answer: nn.Module, match: nn.Module):
        super().__init__()
        self.base, self.answer, self.match = base, answer, match

    @torch.no_grad()
    def forward(self, x):
        out = self.base(x).clone()
        hit = self.match(x)
        if hit.any():
            out[hit] = self.answer(x[hit]).to(out.dtype)
        return out


class Scaled(nn.Module):
    """``model(x) / divisor``: a temperature (or a confidence cut when routed to recognised inputs)."""

    def __init__(self, model: nn.Module, divisor: float):
        super().__init__()
        self.model, self.divisor = model, float(divisor)

    def forward(self, x):
        return self.model(x) / self.divisor


class Mapped(nn.Module):
    """``fn(model(x))``: an output map (top-1 one-hot, rounded probabilities)."""

    def __init__(self, model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model, self.fn = model, fn

    @torch.no_grad()
    def forward(self, x):
        return self.fn(self.model(x))
