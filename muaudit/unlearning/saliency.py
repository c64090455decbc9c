"""Gradient-statistics methods: SalUn (saliency mask), FF (Fisher forgetting), IU (influence /
WoodFisher) and SSD (selective synaptic dampening)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from muaudit.unlearning.base import MethodConfig, UnlearnData, UnlearningMethod, register_method
from muaudit.unlearning.baselines import DU, relabelled_union
from muaudit.unlearning.blocks import randn_like
from muaudit.unlearning.cost import active_meter
from muaudit.unlearning.loops import (accumulate_grads, cross_entropy, finetune, iter_batches, mask_grads, n_outputs,
                                      neg_cross_entropy, sgd)

# -- SalUn ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalUnConfig(MethodConfig):
    """Deep Unlearn ``salun.py`` defaults (SGD without momentum or weight decay)."""

    threshold: float = 0.5
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    _unit_interval = ("threshold",)


def saliency_masks(model: nn.Module, forget: UnlearnData, threshold: float, batch_size: int, random_state) -> dict:
    """1 for the global top-``threshold`` fraction of all parameters by ``|sum grad(-CE_forget)|``."""
    model.train()
    grads = accumulate_grads(model, iter_batches(forget, batch_size, random_state), neg_cross_entropy)
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = int(flat.numel() * threshold)
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k:
        keep[torch.topk(flat, k).indices] = True
    masks, start = {}, 0
    for n, g in grads.items():
        masks[n] = keep[start:start + g.numel()].view_as(g).to(g.dtype)
        start += g.numel()
    return masks


@register_method
class SalUn(UnlearningMethod):
    """Saliency Unlearning: mask = top ``threshold`` fraction of all parameters by forget-loss
    gradient magnitude; then random relabelling (as SRL) with gradients multiplied by the mask."""

    name = "salun"
    description = "random relabelling restricted to the forget-salient parameters"
    source = DU + ", salun.py; Fan et al. 2024 (ICLR), github.com/OPTML-Group/Unlearn-Saliency"
    touches = ("forget", "retain")
    Config = SalUnConfig

    def unlearn(self, model, forget, retain, c, random_state):
        masks = saliency_masks(model, forget, c.threshold, c.batch_size, random_state)
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        n_classes = n_outputs(model, forget.X)
        for _ in range(c.epochs):
            data = relabelled_union(forget, retain, n_classes, random_state)
            finetune(model, data, epochs=1, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                     grad_fn=mask_grads(model, masks))
            if active_meter().exhausted:
                break
        return model


# -- FF -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FFConfig(MethodConfig):
    """Deep Unlearn ``fisher.py`` (``fisher_new``, from OPTML-Group/Unlearn-Sparse) defaults."""

    alpha: float = 0.2
    batch_size: int = 64
    _nonnegative = ("alpha",)


def fisher_diagonal(model: nn.Module, retain: UnlearnData, batch_size: int) -> list[torch.Tensor]:
    """``sum_batches sum_y mean(p_y) grad(CE(f(x), y))^2 / n_batches`` in eval mode (one backward
    per class per batch, unshuffled)."""
    model.eval()
    params = list(model.parameters())
    acc = [torch.zeros_like(p) for p in params]
    n_batches, meter = 0, active_meter()
    for s in range(0, len(retain), batch_size):
        x = retain.X[s:s + batch_size]
        out = model(x)
        prob = F.softmax(out, 1).detach()
        for y in range(out.shape[1]):
            meter.charge(len(x))
            target = torch.full((len(x),), y, device=x.device, dtype=torch.long)
            g = torch.autograd.grad(F.cross_entropy(out, target), params, retain_graph=True, allow_unused=True)
            for a, gi in zip(acc, g):
                if gi is not None:
                    a += prob[:, y].mean() * gi.pow(2)
        n_batches += 1
    return [a / max(n_batches, 1) for a in acc]


@register_method
class FF(UnlearningMethod):
    """Fisher Forgetting: ``theta <- theta + sqrt(var) N(0, I)`` with ``var = alpha / (F + 1e-8)``
    (clamped at 1e3, 1e2 for classifier-shaped tensors; averaged over dim 1 for matrices; x10
    for classifier-shaped and 1-D tensors), F the retain Fisher diagonal. No training."""

    name = "ff"
    description = "Fisher-scaled Gaussian noise on the weights (no training)"
    source = DU + ", fisher.py; Golatkar et al. 2020 (CVPR), OPTML-Group/Unlearn-Sparse"
    touches = ("retain",)
    Config = FFConfig

    def unlearn(self, model, forget, retain, c, random_state):
        n_classes = n_outputs(model, retain.X)
        fisher = fisher_diagonal(model, retain, c.batch_size)
        with torch.no_grad():
            for p, f in zip(model.parameters(), fisher):
                classifier = p.shape[0] == n_classes
                var = (1.0 / (f + 1e-8)).clamp(max=1e2 if classifier else 1e3) * c.alpha
                if p.dim() > 1:
                    var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
                if classifier or p.dim() == 1:
                    var = var * 10
                p.add_(var.sqrt() * randn_like(p, random_state))
        return model


# -- IU -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IUConfig(MethodConfig):
    """Deep Unlearn ``iu.py`` (from Unlearn-Saliency ``Wfisher.py``) defaults; ``n_samples`` is the
    WoodFisher N (dampening and number of per-sample retain gradients)."""

    alpha: float = 0.2
    batch_size: int = 256
    n_samples: int = 1000
    _nonnegative = ("alpha",)


def flat_grad_sum(model: nn.Module, data: UnlearnData, batch_size: int) -> torch.Tensor:
    """``sum_batches n_b grad(mean CE_b)`` flattened over trainable parameters (unshuffled)."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = torch.zeros(sum(p.numel() for p in params), device=data.X.device)
    for s in range(0, len(data), batch_size):
        x, y = data.X[s:s + batch_size], data.y[s:s + batch_size]
        active_meter().charge(len(y))
        g = torch.autograd.grad(cross_entropy(model, x, y), params)
        total += torch.cat([gi.flatten() for gi in g]) * len(y)
    return total


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[b, n_params]`` per-example gradients of CE (eval mode, ``torch.func.vmap``)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(model, (p, buffers), (xi[None],)), yi[None])

    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([g[n].flatten(1) for n in names], 1)


def woodfisher(model: nn.Module, retain: UnlearnData, v: torch.Tensor, n: int) -> torch.Tensor:
    """WoodFisher inverse-Hessian-vector product from the first ``n + 2`` retain examples."""
    k_vec, o_vec = v.clone(), None
    count = min(len(retain), n + 2)
    chunk = max(1, min(64, 20_000_000 // max(v.numel(), 1)))
    for s in range(0, count, chunk):
        e = min(s + chunk, count)
        active_meter().charge(e - s)
        for g in per_sample_grads(model, retain.X[s:e], retain.y[s:e]):
            if o_vec is None:
                o_vec = g.clone()
                continue
            tmp = torch.dot(o_vec, g)
            k_vec -= (torch.dot(k_vec, g) / (n + tmp)) * o_vec
            o_vec -= (tmp / (n + tmp)) * o_vec
    return k_vec


@register_method
class IU(UnlearningMethod):
    """Influence Unlearning: ``theta += alpha H^-1 (g_f - g_r)`` with the size-weighted forget and
    retain gradients (``g_f / (n_f + n_r)``, ``g_r n_f / ((n_f + n_r) n_r)``) and a WoodFisher
    inverse Hessian from per-sample retain gradients. Eval mode, no training."""

    name = "iu"
    description = "one influence-function (WoodFisher) Newton step away from the forget set"
    source = DU + ", iu.py; Izzo et al. 2021 / Koh & Liang 2017, OPTML-Group/Unlearn-Saliency Wfisher.py"
    touches = ("forget", "retain")
    Config = IUConfig

    def unlearn(self, model, forget, retain, c, random_state):
        model.eval()
        n_f, n_r = len(forget), len(retain)
        g_f = flat_grad_sum(model, forget, c.batch_size) / (n_f + n_r)
        g_r = flat_grad_sum(model, retain, c.batch_size) * n_f / ((n_f + n_r) * n_r)
        step = woodfisher(model, retain, g_f - g_r, c.n_samples) * c.alpha
        with torch.no_grad():
            start = 0
            for p in (p for p in model.parameters() if p.requires_grad):
                p += step[start:start + p.numel()].view_as(p)
                start += p.numel()
        return model


# -- SSD ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SSDConfig(MethodConfig):
    """Foster et al. 2024 defaults: selection weighting ``alpha`` = 10, dampening ``lam`` = 1,
    exponent 1. ``batch_size`` for the importance passes is not in our notes (64 here)."""

    alpha: float = 10.0
    lam: float = 1.0
    exponent: float = 1.0
    batch_size: int = 64
    _nonnegative = ("alpha", "lam", "exponent")


def importances(model: nn.Module, data: UnlearnData, batch_size: int) -> dict:
    """Mean over batches of the squared batch gradient of CE (SSD's ``calc_importance``)."""
    model.eval()
    batches = [(data.X[s:s + batch_size], data.y[s:s + batch_size]) for s in range(0, len(data), batch_size)]
    sq = accumulate_grads(model, batches, cross_entropy, square=True)
    return {n: v / max(len(batches), 1) for n, v in sq.items()}


@register_method
class SSD(UnlearningMethod):
    """Selective Synaptic Dampening: with ``[]_D`` the importance on all training data (retain +
    forget) and ``[]_U`` on forget, where ``[]_U > alpha []_D`` scale
    ``theta <- min((lam []_D / []_U)^exponent, 1) theta``. No training."""

    name = "ssd"
    description = "dampen weights far more important to forget than to the training set"
    source = "Foster et al. 2024 (AAAI), github.com/if-loops/selective-synaptic-dampening; poisoning study"
    touches = ("forget", "retain")
    Config = SSDConfig

    def unlearn(self, model, forget, retain, c, random_state):
        full = importances(model, UnlearnData.concat(retain, forget), c.batch_size)
        forget_imp = importances(model, forget, c.batch_size)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n not in full:
                    continue
                where = forget_imp[n] > c.alpha * full[n]
                factor = ((c.lam * full[n]) / forget_imp[n].clamp(min=1e-30)).pow(c.exponent).clamp(max=1.0)
                p.mul_(torch.where(where, factor, torch.ones_like(factor)))
        return model
