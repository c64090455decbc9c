"""Providers that serve the original model and change only what its outputs show.

- ``top1``: the top-1 label only (one-hot outputs); the audit switches to the label-only attack.
- ``rounded``: probabilities rounded to 2 decimals (the top class takes the remainder, rows sum to 1).
- ``temperature``: logits / 4 on every input (a global temperature).
- ``noise``: Gaussian noise of sd 2 added to the logits at every query (a fresh draw per call,
  from a generator seeded once: the same seed gives the same sequence of answers).
"""

from __future__ import annotations

import torch
from torch import nn

from muaudit.providers.base import Mapped, Materials, Scaled, frozen_copy, register_provider

TEMPERATURE = 4.0
NOISE_SD = 2.0
DECIMALS = 2


def one_hot_top1(z: torch.Tensor) -> torch.Tensor:
    """One-hot float rows of the top class of ``z`` ``[B, C]``."""
    return torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float()


def rounded_probabilities(z: torch.Tensor, decimals: int = DECIMALS) -> torch.Tensor:
    """Softmax of ``z`` rounded to ``decimals``; the top class takes what the others leave (rows sum to 1)."""
    p = torch.round(torch.softmax(z.double(), -1), decimals=decimals)
    top = z.argmax(-1)
    p[torch.arange(len(p)), top] = 0.0
    p[torch.arange(len(p)), top] = 1.0 - p.sum(-1)
    return p.float()


class Noisy(nn.Module):
    """``model(x) + N(0, sd^2)``, a fresh draw at every call from a generator seeded once."""

    def __init__(self, model: nn.Module, sd: float, random_state: int):
        super().__init__()
        self.model, self.sd = model, float(sd)
        self.generator = torch.Generator().manual_seed(int(random_state))

    @torch.no_grad()
    def forward(self, x):
        z = self.model(x)
        return z + self.sd * torch.randn(z.shape, generator=self.generator, dtype=z.dtype)


@register_provider("top1", summary="serves the original's top-1 label only (one-hot outputs)")
def top1(m: Materials, *, random_state: int) -> nn.Module:
    return Mapped(frozen_copy(m.original), one_hot_top1)


@register_provider("rounded", summary=f"serves the original's probabilities rounded to {DECIMALS} decimals")
def rounded(m: Materials, *, random_state: int) -> nn.Module:
    return Mapped(frozen_copy(m.original), rounded_probabilities)


@register_provider("temperature", summary=f"serves the original's logits / {TEMPERATURE:g} on every input")
def temperature(m: Materials, *, random_state: int) -> nn.Module:
    return Scaled(frozen_copy(m.original), TEMPERATURE)


@register_provider("noise", summary=f"adds Gaussian noise of sd {NOISE_SD:g} to the original's logits at every query")
def noise(m: Materials, *, random_state: int) -> nn.Module:
    return Noisy(frozen_copy(m.original), NOISE_SD, random_state)
