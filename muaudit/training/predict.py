"""Eval-mode logits of models on every example, over V views (1 = identity, 2 adds a flip)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from muaudit.errors import ConfigError

# On CPU a batch of rows is kept to about this many bytes, so that it (and its flipped view) stays in
# cache while every model of a chunk reads it: predicting is bound by reading the data, not by
# arithmetic, for the small models of a shadow pool (docs/benchmarks.md, CIFAR-100-shaped build).
CPU_BATCH_BYTES = 2 ** 21


def view(x: torch.Tensor, v: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """View ``v`` of a batch: 0 = identity, 1 = horizontal flip (images only).

    ``out`` (a CPU tensor of ``x``'s shape, dtype float32): the flip is written there instead of
    a new tensor: a reused buffer and numpy's reversed-stride copy, about 4x faster on CPU than
    ``torch.flip`` into fresh memory (the same values)."""
    if v == 0:
        return x
    if out is None or x.device.type != "cpu" or x.dtype != out.dtype or x.shape != out.shape:
        return torch.flip(x, dims=[-1])
    np.copyto(out.numpy(), x.numpy()[..., ::-1])
    return out


def batch_rows(X: torch.Tensor, batch_size: int, device) -> int:
    """Rows per prediction batch: ``batch_size``, on CPU at most :data:`CPU_BATCH_BYTES` of input.

    Depends only on the data and the device, never on how many models are predicted together, so a
    model's logits are the same whichever chunk of models it is predicted with."""
    if torch.device(device).type != "cpu" or X.dim() == 0 or len(X) == 0:
        return batch_size
    row_bytes = X[:1].numel() * X.element_size()
    return max(1, min(batch_size, CPU_BATCH_BYTES // max(row_bytes, 1)))


@torch.no_grad()
def predict_many(models: Sequence[nn.Module], X: torch.Tensor | np.ndarray, *, n_views: int = 1,
                 batch_size: int = 2048, device=None) -> list[np.ndarray]:
    """Float32 ``[N, V, C]`` eval-mode logits of every model in ``models``, in one pass over ``X``.

    Each batch of rows is moved to the device and flipped once, and every model runs on it while it
    is in cache; a model's logits are exactly those :func:`predict_logits` gives it alone (the same
    batches and operations). View 1 (``n_views=2``, images ``[N, C, H, W]`` only) is the horizontal
    flip. The models' train/eval states are restored afterwards, also when a model raises.

    Example:
        >>> [a.shape for a in predict_many([torch.nn.Linear(4, 3), torch.nn.Linear(4, 2)], np.zeros((5, 4)))]
        [(5, 1, 3), (5, 1, 2)]
    """
    X = torch.as_tensor(np.asarray(X, np.float32)) if isinstance(X, np.ndarray) else X
    if n_views not in (1, 2):
        raise ConfigError(f"Expected `n_views` 1 or 2, got {n_views!r}")
    if n_views == 2 and X.dim() != 4:
        raise ConfigError(f"n_views=2 (horizontal flip) needs image inputs [N, C, H, W], got shape {tuple(X.shape)}")
    models = list(models)
    if not models:
        return []
    dev = torch.device(device or next((p.device for p in models[0].parameters()), "cpu"))
    states = [m.training for m in models]
    out: list[np.ndarray | None] = [None] * len(models)
    step = batch_rows(X, batch_size, dev)
    try:
        for m in models:
            m.eval()
        flipped = torch.empty((step,) + tuple(X.shape[1:]), dtype=X.dtype) if n_views == 2 and dev.type == "cpu" else None
        for s in range(0, len(X), step):
            xb = X[s:s + step].to(dev)
            views = [view(xb, v, None if flipped is None else flipped[:len(xb)]) for v in range(n_views)]
            for k, m in enumerate(models):
                for v, xv in enumerate(views):
                    z = m(xv).float().cpu().numpy()
                    if out[k] is None:
                        out[k] = np.empty((len(X), n_views) + z.shape[1:], np.float32)
                    out[k][s:s + len(z), v] = z
    finally:
        for m, state in zip(models, states):
            m.train(state)
    return [o if o is not None else np.zeros((0, n_views, 0), np.float32) for o in out]


def predict_logits(model: nn.Module, X: torch.Tensor | np.ndarray, *, n_views: int = 1,
                   batch_size: int = 2048, device=None) -> np.ndarray:
    """Return float32 ``[N, V, C]`` logits of ``model`` in eval mode (see :func:`predict_many`).

    View 0 is the input, view 1 (``n_views=2``, images ``[N, C, H, W]`` only) its horizontal flip.
    The model's train/eval state is restored afterwards, also when the model raises.

    Example:
        >>> predict_logits(torch.nn.Linear(4, 3), np.zeros((5, 4))).shape
        (5, 1, 3)
    """
    return predict_many([model], X, n_views=n_views, batch_size=batch_size, device=device)[0]
