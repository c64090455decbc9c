"""Honest references: real retrains on the training split minus the forget set. They must pass.

- ``retrain``: the exact retrain, same initialisation and seed as the original, trained on the
  retained examples only.
- ``adv-sr``: Zhang et al.'s "Adv-Sr" (Verification of Machine Unlearning is Fragile, ICML 2024,
  https://arxiv.org/abs/2408.00929): the original's own run replayed from the same initialisation
  and batch order, where every forget example in a batch is replaced by a retained example, chosen
  among ``ADV_SR_CANDIDATES`` random ones as the one whose per-layer gradient norms (on the current
  model) are closest to the forget example's. Its training log looks like the original's; it never
  trains on a forget example, so it is a real retrain and an audit must let it pass.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from muaudit.providers.base import Materials, frozen_copy, register_provider
from muaudit.training.batches import augment_images, augment_rng, batch_plan, steps_per_epoch
from muaudit.training.optim import FunctionalOptimizer

ADV_SR_CANDIDATES = 4  # M: retained candidates per forget example ("M small on digits")


@register_provider("retrain", summary="the exact retrain: same initialisation and seed, trained on the retained "
                                      "examples only", honest=True)
def retrain(m: Materials, *, random_state: int) -> nn.Module:
    return frozen_copy(m.retrained())


def layer_grad_norms(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example gradient norm of every parameter tensor, ``[B, n_tensors]`` (model in eval mode)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, t):
        return F.cross_entropy(functional_call(model, p, (x[None],)), t[None])

    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, X, y)
    return torch.stack([v.flatten(1).norm(dim=1) for v in g.values()], 1)


def substitutes(model: nn.Module, X, y, forget_pos: np.ndarray, retain: np.ndarray, random_state, M: int) -> np.ndarray:
    """For each forget position, the retained position (of M random ones) with the closest per-layer gradient norms."""
    cand = random_state.choice(retain, size=(len(forget_pos), M))
    model.eval()
    nf = layer_grad_norms(model, X[forget_pos], y[forget_pos])
    nc = layer_grad_norms(model, X[cand.ravel()], y[cand.ravel()]).view(len(forget_pos), M, -1)
    model.train()
    best = (nc - nf[:, None]).norm(dim=-1).argmin(1).numpy()
    return cand[np.arange(len(forget_pos)), best]


@register_provider("adv-sr", summary=f"Adv-Sr (Zhang et al. 2024): the original's run replayed with each forget "
                                     f"example swapped for a gradient-norm-matched retained one (M = {ADV_SR_CANDIDATES})",
                   honest=True)
def adv_sr(m: Materials, *, random_state: int) -> nn.Module:
    recipe, n = m.spec.train, len(m.dataset.train_idx)
    X, y = m.rows(np.arange(n))
    is_forget = np.zeros(n, bool)
    is_forget[m.forget] = True
    model = m.make_model(m.seed).train()  # the original's initialisation
    params = [p for p in model.parameters() if p.requires_grad]
    opt, rng, arng = FunctionalOptimizer(params, recipe), np.random.default_rng([random_state, 5]), augment_rng(m.seed)
    total = recipe.epochs * steps_per_epoch(n, recipe.batch_size)
    for t, pos in enumerate(batch_plan(n, recipe.batch_size, recipe.epochs, m.seed)):  # the original's order
        pos = pos.copy()
        hit = is_forget[pos]
        if hit.any():
            pos[hit] = substitutes(model, X, y, pos[hit], m.retain, rng, ADV_SR_CANDIDATES)
        xb, yb = X[pos], y[pos]
        if recipe.augment and xb.dim() == 4:
            xb = augment_images(xb, arng)
        loss = F.cross_entropy(model(xb), yb, label_smoothing=recipe.label_smoothing)
        for p in params:
            p.grad = None
        loss.backward()
        opt.step(recipe.lr_at(t, total))
    return model.eval()
