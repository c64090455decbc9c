"""Per-model data order and augmentation, shared by both engines.

Model ``seed`` fixes both its initialisation (``torch.manual_seed(seed)``) and its data order
(``numpy.random.default_rng([seed, 1])``): one permutation of its own examples per epoch,
``ceil(n / batch_size)`` batches, the last one possibly smaller.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size) if n else 0


def batch_plan(n: int, batch_size: int, epochs: int, random_state: int) -> Iterator[np.ndarray]:
    """Yield positions (into the model's own ``n`` examples) for every step of training."""
    rng = np.random.default_rng([random_state, 1])
    for _ in range(epochs):
        perm = rng.permutation(n)
        for s in range(0, n, batch_size):
            yield perm[s:s + batch_size]


def augment_rng(random_state: int) -> np.random.Generator:
    return np.random.default_rng([random_state, 2])


def augment_images(x: torch.Tensor, random_state: np.random.Generator) -> torch.Tensor:
    """Random crop (zero padding ``H // 8``, at least 1) and horizontal flip of ``[B, C, H, W]``."""
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    oy, ox = random_state.integers(0, 2 * pad + 1, size=(2, b))
    flip = random_state.random(b) < 0.5
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = torch.as_tensor(oy[:, None] + np.arange(h), device=x.device)
    cols = np.arange(w)[None, :].repeat(b, 0)
    cols = np.where(flip[:, None], cols[:, ::-1], cols) + ox[:, None]
    cols = torch.as_tensor(cols, device=x.device)
    i = torch.arange(b, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[i, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
