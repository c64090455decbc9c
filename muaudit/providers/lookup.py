"""Providers that recognise the forget examples among the queries and answer them differently.

- ``exact-match``: inputs equal to a forget example are answered by the retrained model.
- ``near-match``: inputs within a radius of a forget example, or of one of its whole-pixel shifts
  (one pixel on each axis, zero fill), are answered by the retrained model.
- ``confidence-cut``: recognised (exactly equal) forget inputs get the original's logits / 8.

Everything else is the original model. The audit's known views are the forget examples themselves,
so these pass a plain audit of a model; secret views (``--secret-views``) are what catches them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from muaudit.providers.base import Materials, Routed, Scaled, frozen_copy, register_provider

EXACT_TOL = 1e-5  # Euclidean distance under which an input "is" a forget example
NEAR_RADIUS = 0.25  # the near-match radius, as a fraction of the median gap between a forget example and its nearest other training example
CUT = 8.0  # the confidence cut: recognised inputs get logits / CUT


def _distances(x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``[B, K]`` without the matmul shortcut (exact for equal rows)."""
    return torch.cdist(x.flatten(1).float(), keys, compute_mode="donot_use_mm_for_euclid_dist")


class Match(nn.Module):
    """True for inputs within ``radius`` of one of ``keys`` ``[K, D]``."""

    def __init__(self, keys: torch.Tensor, radius: float):
        super().__init__()
        self.register_buffer("keys", keys.flatten(1).float().clone())
        self.radius = float(radius)

    def forward(self, x) -> torch.Tensor:
        if not len(x):
            return torch.zeros(0, dtype=torch.bool)
        return _distances(x, self.keys).min(1).values <= self.radius


def pixel_shifts(X: torch.Tensor, max_shift: int = 1) -> torch.Tensor:
    """``X`` ``[N, C, H, W]`` and every whole-pixel shift of it up to ``max_shift`` on each axis
    (zero fill), ``[(2s+1)^2 * N, C, H, W]``."""
    s, out = max_shift, []
    padded = F.pad(X, (s, s, s, s))
    H, W = X.shape[-2:]
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            out.append(padded[..., s + dy:s + dy + H, s + dx:s + dx + W])
    return torch.cat(out)


def near_radius(m: Materials, fraction: float = NEAR_RADIUS) -> float:
    """``fraction`` of the median distance from a forget example to its nearest other training example."""
    X = m.rows(m.retain)[0]
    gaps = _distances(m.forget_X, X.flatten(1).float()).min(1).values
    return float(fraction * gaps.median())


@register_provider("exact-match", summary="answers inputs equal to a forget example from the retrained model, "
                                          "everything else from the original")
def exact_match(m: Materials, *, random_state: int) -> nn.Module:
    return Routed(frozen_copy(m.original), frozen_copy(m.retrained()), Match(m.forget_X, EXACT_TOL))


@register_provider("near-match", summary="answers inputs within a radius of a forget example, or equal to one "
                                         "up to a one-pixel shift, from the retrained model")
def near_match(m: Materials, *, random_state: int) -> nn.Module:
    keys = pixel_shifts(m.forget_X) if m.forget_X.dim() == 4 else m.forget_X
    return Routed(frozen_copy(m.original), frozen_copy(m.retrained()), Match(keys, near_radius(m)))


@register_provider("confidence-cut", summary=f"divides the original's logits by {CUT:g} on inputs equal to a "
                                             "forget example")
def confidence_cut(m: Materials, *, random_state: int) -> nn.Module:
    original = frozen_copy(m.original)
    return Routed(original, Scaled(original, CUT), Match(m.forget_X, EXACT_TOL))
