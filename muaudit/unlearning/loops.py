"""Shared mechanics of the methods, written once: batching, the fine-tune loop (with gradient
transforms and extra loss terms), gradient accumulation, distillation losses, schedules.

Every training step asks the running :class:`~muaudit.unlearning.cost.CostMeter` for its batch's
sample-gradients first and stops the loop when the budget says no.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.training.batches import augment_images
from muaudit.unlearning.base import UnlearnData
from muaudit.unlearning.blocks import draw_seed
from muaudit.unlearning.cost import active_meter

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# -- data ---------------------------------------------------------------------------------------


def iter_batches(data: UnlearnData, batch_size: int, random_state: torch.Generator, *, shuffle: bool = True,
                 augment: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass over ``data`` in batches (shuffled by ``random_state``); optional crop+flip augmentation."""
    n = len(data)
    order = torch.randperm(n, generator=random_state) if shuffle else torch.arange(n)
    order = order.to(data.X.device)
    rng = np.random.default_rng(draw_seed(random_state)) if augment and data.X.dim() == 4 else None
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        xb = data.X[idx]
        yield (augment_images(xb, rng) if rng is not None else xb), data.y[idx]


def cycle_batches(data: UnlearnData, batch_size: int, random_state: torch.Generator) -> Iterator:
    """Endless batches: a new shuffled pass whenever one ends (``itertools.cycle`` semantics
    of the sources, but reshuffled)."""
    while True:
        yield from iter_batches(data, batch_size, random_state)


def n_outputs(model: nn.Module, X: torch.Tensor) -> int:
    """Number of classes the model predicts (one eval forward pass)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        c = model(X[:1]).shape[-1]
    model.train(was)
    return int(c)


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with ``requires_grad=False`` (teacher / reference weights)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


# -- optimisers and schedules -------------------------------------------------------------------


def sgd(params, *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.SGD:
    return torch.optim.SGD(list(params), lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def cosine_lr(base: float, t_max: int, eta_min: float = 0.0) -> Callable[[int], float]:
    """``CosineAnnealingLR`` stepped once per epoch: the learning rate of epoch ``e``."""
    return lambda e: eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / max(t_max, 1))) / 2


def step_decay_lr(base: float, epochs: int, rate: float) -> Callable[[int], float]:
    """SCRUB / CF-k decay: ``base * rate**k``, k = milestones (50/80/90 % of epochs) passed.

    Epoch ``e`` is 0-based; the sources count from 1 and decay when ``epoch > milestone``.
    """
    milestones = [int(epochs * f) for f in (0.5, 0.8, 0.9)]
    return lambda e: base * rate ** sum((e + 1) > m for m in milestones)


def linear_anneal_lr(base: float, epochs: int) -> Callable[[int], float]:
    """MSG's ``LinearAnnealingLR`` stepped per epoch: linearly up to ``base``, then down.

    With A = (E + 1) // 2 and T = E + 1 the factor of epoch s = 1..E is s/A, then (T - s)/(T - A);
    for E = 5: 1/3, 2/3, 1, 2/3, 1/3.
    """
    a, t = (epochs + 1) // 2, epochs + 1
    return lambda e: base * ((e + 1) / a if e + 1 <= a else (t - e - 1) / (t - a))


# -- losses ---------------------------------------------------------------------------------------


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def neg_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient ascent on the loss: ``-CE``."""
    return -F.cross_entropy(model(x), y)


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(softmax(teacher/T) || softmax(student/T))``, batch mean, no ``T^2`` factor."""
    return F.kl_div(F.log_softmax(student / temperature, 1), F.softmax(teacher / temperature, 1), reduction="batchmean")


def soft_cross_entropy(student: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """``mean_i sum_j -p_ij log softmax(student)_ij``."""
    return torch.sum(-target_probs * F.log_softmax(student, 1), 1).mean()


def l2_distance(params: Iterable[torch.Tensor], reference: Iterable[torch.Tensor]) -> torch.Tensor:
    """``||theta - theta_ref||^2`` over matching parameter lists."""
    return sum(((p - r) ** 2).sum() for p, r in zip(params, reference))


# -- the loops ------------------------------------------------------------------------------------


def take(n: int) -> bool:
    """Reserve ``n`` sample-gradients from the running method's budget (False: stop training)."""
    return active_meter().take(n)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_fn: Callable[[], None] | None = None) -> None:
    """``zero_grad``; ``backward``; optional gradient transform (masks, noise); ``step``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_fn is not None:
        grad_fn()
    optimizer.step()


def finetune(model: nn.Module, data: UnlearnData, *, epochs: int, batch_size: int,
             optimizer: torch.optim.Optimizer, random_state: torch.Generator, loss: LossFn = cross_entropy,
             lr_at: Callable[[int], float] | None = None, grad_fn: Callable[[], None] | None = None,
             train_mode: bool = True, augment: bool = False, max_steps: int | None = None,
             on_epoch: Callable[[int], None] | None = None) -> int:
    """The fine-tune loop of FT, GD, NGD, GA, CT, CFW, MSG, CF-k, EU-k, RNI, PRMQ, SalUn, SRL.

    Per epoch: set the rate from ``lr_at(epoch)``, call ``on_epoch(epoch)``, then one shuffled pass
    of ``loss(model, x, y)`` steps with ``grad_fn`` applied between backward and step. The model is
    in train mode (``train_mode=False``: eval mode, BatchNorm statistics frozen, as NG+ and CF-k
    do). Stops after ``max_steps`` steps or when the budget runs out. Returns the steps done.
    """
    steps = 0
    for epoch in range(epochs):
        if lr_at is not None:
            set_lr(optimizer, lr_at(epoch))
        if on_epoch is not None:
            on_epoch(epoch)
        model.train(train_mode)
        for xb, yb in iter_batches(data, batch_size, random_state, augment=augment):
            if (max_steps is not None and steps >= max_steps) or not take(len(yb)):
                return steps
            optimizer_step(optimizer, loss(model, xb, yb), grad_fn)
            steps += 1
    return steps


def accumulate_grads(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], loss: LossFn, *,
                     square: bool = False, grads: dict | None = None) -> dict[str, torch.Tensor]:
    """Sum over ``batches`` of the gradient (or its square) of ``loss``, per named parameter.

    Charged to the meter unconditionally (masks and Fisher diagonals are one-shot passes).
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    grads = grads if grads is not None else {n: torch.zeros_like(p) for n, p in params.items()}
    meter = active_meter()
    for xb, yb in batches:
        meter.charge(len(yb))
        g = torch.autograd.grad(loss(model, xb, yb), list(params.values()), allow_unused=True)
        for (n, _), gi in zip(params.items(), g):
            if gi is not None:
                grads[n] += gi.pow(2) if square else gi
    return grads


def mask_grads(model: nn.Module, masks: dict[str, torch.Tensor]) -> Callable[[], None]:
    """A ``grad_fn`` multiplying each named parameter's gradient by its mask."""
    pairs = [(p, masks[n]) for n, p in model.named_parameters() if n in masks]

    def apply() -> None:
        for p, m in pairs:
            if p.grad is not None:
                p.grad.mul_(m)

    return apply
