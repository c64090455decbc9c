"""Eval-mode logits of models on every example, over V query views (:mod:`muaudit.training.views`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.training.views import View, apply_view, check_views_fit, resolve_views

# On CPU a batch of rows is kept to about this many bytes, so that it (and its flipped view) stays in
# cache while every model of a chunk reads it: predicting is bound by reading the data, not by
# arithmetic, for the small models of a shadow pool (docs/benchmarks.md, CIFAR-100-shaped build).
CPU_BATCH_BYTES = 2 ** 21


def view(x: torch.Tensor, v: View | int, out: torch.Tensor | None = None) -> torch.Tensor:
    """View ``v`` of a batch (a :class:`~muaudit.training.views.View`; or 0 = identity, 1 = flip).

    ``out`` (a CPU tensor of ``x``'s shape, dtype float32): a plain flip is written there instead
    of a new tensor: a reused buffer and numpy's reversed-stride copy, about 4x faster on CPU than
    ``torch.flip`` into fresh memory (the same values)."""
    v = View(flip=bool(v)) if isinstance(v, int) else v
    if v != View(flip=True):
        return apply_view(x, v)
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
                 views=None, batch_size: int = 2048, device=None) -> list[np.ndarray]:
    """Float32 ``[N, V, C]`` eval-mode logits of every model in ``models``, in one pass over ``X``.

    Each batch of rows is moved to the device and flipped once, and every model runs on it while it
    is in cache; a model's logits are exactly those :func:`predict_logits` gives it alone (the same
    batches and operations). ``views``: a recipe's views (``1``, ``2`` or names, see
    :func:`~muaudit.training.views.resolve_views`; default ``n_views``: 1 = identity, 2 adds the
    horizontal flip); views other than the identity need images ``[N, C, H, W]``. The models'
    train/eval states are restored afterwards, also when a model raises.

    Example:
        >>> [a.shape for a in predict_many([torch.nn.Linear(4, 3), torch.nn.Linear(4, 2)], np.zeros((5, 4)))]
        [(5, 1, 3), (5, 1, 2)]
    """
    X = torch.as_tensor(np.asarray(X, np.float32)) if isinstance(X, np.ndarray) else X
    if views is None and n_views not in (1, 2):
        raise ConfigError(f"Expected `n_views` 1 or 2, got {n_views!r}")
    if views is None and n_views == 2 and X.dim() != 4:
        raise ConfigError(f"n_views=2 (horizontal flip) needs image inputs [N, C, H, W], got shape {tuple(X.shape)}")
    views = resolve_views(n_views if views is None else views)
    check_views_fit(views, tuple(X.shape[1:]))
    if any(v.noise for v in views):  # a batch's noise would depend on the batching
        raise ConfigError("noisy views are applied to the whole population first (muaudit.targets.views)")
    n_views = len(views)
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
        flips = View(flip=True) in views and dev.type == "cpu"
        flipped = torch.empty((step,) + tuple(X.shape[1:]), dtype=X.dtype) if flips else None
        for s in range(0, len(X), step):
            xb = X[s:s + step].to(dev)
            batch = [view(xb, v, None if flipped is None else flipped[:len(xb)]) for v in views]
            for k, m in enumerate(models):
                for v, xv in enumerate(batch):
                    z = m(xv).float().cpu().numpy()
                    if out[k] is None:
                        out[k] = np.empty((len(X), n_views) + z.shape[1:], np.float32)
                    out[k][s:s + len(z), v] = z
    finally:
        for m, state in zip(models, states):
            m.train(state)
    return [o if o is not None else np.zeros((0, n_views, 0), np.float32) for o in out]


def predict_logits(model: nn.Module, X: torch.Tensor | np.ndarray, *, n_views: int = 1, views=None,
                   batch_size: int = 2048, device=None) -> np.ndarray:
    """Return float32 ``[N, V, C]`` logits of ``model`` in eval mode (see :func:`predict_many`).

    View 0 is the input; ``views`` (or ``n_views``) as in :func:`predict_many`.
    The model's train/eval state is restored afterwards, also when the model raises.

    Example:
        >>> predict_logits(torch.nn.Linear(4, 3), np.zeros((5, 4))).shape
        (5, 1, 3)
    """
    return predict_many([model], X, n_views=n_views, views=views, batch_size=batch_size, device=device)[0]
