"""Shared mechanics of the crafted poisons (gradient matching, gradient canceling): parameter
gradients that stay differentiable in the inputs, projected signed-Adam steps on inputs, and the
surrogate model trained with the audit's recipe."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.data import Dataset
from muaudit.poisoning.base import PoisonContext, PoisonError


def param_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, create_graph: bool = False,
                reduction: str = "mean") -> list[torch.Tensor]:
    """``grad_theta CE(model(x), y)`` per parameter; ``create_graph=True`` keeps it differentiable in ``x``."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(model(x), y, reduction=reduction)
    return list(torch.autograd.grad(loss, params, create_graph=create_graph))


def flat(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def surrogate(context: PoisonContext, dataset: Dataset, seed: int) -> nn.Module:
    """A model trained on the clean training split with the audit's recipe (a seed of its own)."""
    if context.train is None:
        raise PoisonError("this attack crafts poisons on a surrogate model: pass a PoisonContext with `train`")
    model = context.train(dataset, np.arange(len(dataset.train_idx)), int(seed) + 7919)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def input_box(dataset: Dataset) -> tuple[float, float]:
    """The valid input range: the training inputs' min and max (``[0, 1]`` for pixel data)."""
    X = dataset.X[dataset.train_idx]
    return float(X.min()), float(X.max())


def signed_adam(x0: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor], *, steps: int, lr: float,
                project: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Minimise ``objective(x)`` from ``x0`` with Adam on the gradient's sign (Geiping et al.'s
    "signAdam"), projecting after every step, learning rate divided by 10 at 3/8, 5/8 and 7/8 of
    the steps. Returns the last iterate and its objective."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    milestones = {int(steps * f) for f in (3 / 8, 5 / 8, 7 / 8)}
    for t in range(steps):
        if t in milestones:
            for g in opt.param_groups:
                g["lr"] *= 0.1
        opt.zero_grad(set_to_none=True)
        loss = objective(x)
        loss.backward()
        x.grad.sign_()
        opt.step()
        with torch.no_grad():
            x.copy_(project(x))
    x = x.detach().requires_grad_(True)
    return x.detach(), float(objective(x).detach())
