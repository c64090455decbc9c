"""Eval-mode logits of a model on every example, over V views (1 = identity, 2 adds a flip)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from muaudit.errors import ConfigError


def view(x: torch.Tensor, v: int) -> torch.Tensor:
    """View ``v`` of a batch: 0 = identity, 1 = horizontal flip (images only)."""
    return x if v == 0 else torch.flip(x, dims=[-1])


@torch.no_grad()
def predict_logits(model: nn.Module, X: torch.Tensor | np.ndarray, *, n_views: int = 1,
                   batch_size: int = 2048, device=None) -> np.ndarray:
    """Return float32 ``[N, V, C]`` logits of ``model`` in eval mode.

    View 0 is the input, view 1 (``n_views=2``, images ``[N, C, H, W]`` only) its horizontal flip.
    The model's train/eval state is restored afterwards, also when the model raises.

    Example:
        >>> predict_logits(torch.nn.Linear(4, 3), np.zeros((5, 4))).shape
        (5, 1, 3)
    """
    X = torch.as_tensor(np.asarray(X, np.float32)) if isinstance(X, np.ndarray) else X
    if n_views not in (1, 2):
        raise ConfigError(f"Expected `n_views` 1 or 2, got {n_views!r}")
    if n_views == 2 and X.dim() != 4:
        raise ConfigError(f"n_views=2 (horizontal flip) needs image inputs [N, C, H, W], got shape {tuple(X.shape)}")
    dev = device or next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        out = []
        for s in range(0, len(X), batch_size):
            xb = X[s:s + batch_size].to(dev)
            out.append(torch.stack([model(view(xb, v)) for v in range(n_views)], dim=1).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, n_views, 0), np.float32)
