"""Eval-mode logits of a model on every example, over V views (1 = identity, 2 adds a flip)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def view(x: torch.Tensor, v: int) -> torch.Tensor:
    """View ``v`` of a batch: 0 = identity, 1 = horizontal flip (images only)."""
    return x if v == 0 else torch.flip(x, dims=[-1])


@torch.no_grad()
def predict_logits(model: nn.Module, X: torch.Tensor | np.ndarray, *, n_views: int = 1,
                   batch_size: int = 2048, device=None) -> np.ndarray:
    """Return float32 ``[N, V, C]`` logits of ``model`` in eval mode.

    The model's train/eval state is restored afterwards.
    """
    dev = device or next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    X = torch.as_tensor(np.asarray(X, np.float32)) if isinstance(X, np.ndarray) else X
    out = []
    for s in range(0, len(X), batch_size):
        xb = X[s:s + batch_size].to(dev)
        out.append(torch.stack([model(view(xb, v)) for v in range(n_views)], dim=1).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, n_views, 0), np.float32)
