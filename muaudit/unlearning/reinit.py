"""Perturb-or-reset, then fine-tune on retain: the Kaggle entries MSG, CT, CFW, PRMQ and RNI
(NeurIPS 2023 Machine Unlearning challenge, as packaged by Deep Unlearn ``kgltop2/5/3/4/7.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.unlearning.base import MethodConfig, UnlearningMethod, register_method
from muaudit.unlearning.baselines import DU
from muaudit.unlearning.blocks import (draw_seed, fan_in, feature_layers, head, rand_like, randn_like, reset_modules,
                                       stem, weighted_layers)
from muaudit.unlearning.loops import (accumulate_grads, cosine_lr, cross_entropy, finetune, frozen_copy,
                                      iter_batches, linear_anneal_lr, n_outputs, neg_cross_entropy, sgd)


@dataclass(frozen=True)
class FinetuneConfig(MethodConfig):
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 5
    batch_size: int = 64


# -- MSG ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MSGConfig(FinetuneConfig):
    """Deep Unlearn ``kgltop2.py`` defaults."""

    init_rate: float = 0.3
    _unit_interval = ("init_rate",)


def snip_gradients(model: nn.Module, forget, retain, batch_size: int, random_state) -> dict:
    """MSG's accumulated gradient: CE over a random retain subset of size |forget| (batch 64),
    then -CE over the forget set, summed without ``zero_grad`` in between (train mode)."""
    model.train()
    idx = torch.randperm(len(retain), generator=random_state)[:len(forget)]
    grads = accumulate_grads(model, iter_batches(retain.subset(idx), 64, random_state), cross_entropy)
    return accumulate_grads(model, iter_batches(forget, batch_size, random_state), neg_cross_entropy, grads=grads)


def reinit_small_gradients(model: nn.Module, grads: dict, rate: float, random_state) -> dict:
    """Per feature layer, re-initialise (``kaiming_normal_``, fan_out) the ``round(rate * numel)``
    weights with the smallest ``|grad|``; return gradient scales (1 there, 0.1 elsewhere)."""
    names = {id(p): n for n, p in model.named_parameters()}
    scales = {}
    with torch.no_grad():
        for layer in feature_layers(model):
            w, g = layer.weight, grads[names[id(layer.weight)]]
            k = round(rate * w.numel())
            chosen = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
            chosen[torch.topk(-g.abs().flatten(), k).indices] = True
            chosen = chosen.view_as(w)
            fresh = torch.empty_like(w, device="cpu")
            nn.init.kaiming_normal_(fresh, mode="fan_out", nonlinearity="relu", generator=random_state)
            w.copy_(torch.where(chosen, fresh.to(w.device), w))
            scales[names[id(w)]] = torch.where(chosen, 1.0, 0.1).to(w.dtype)
    return scales


@register_method
class MSG(UnlearningMethod):
    """Masked Small Gradients (kgltop2): re-initialise, per feature layer, the fraction
    ``init_rate`` of weights with the smallest accumulated (retain - forget) gradient, then
    fine-tune on retain with their gradients at full scale and all other weight gradients
    scaled by 0.1, SGD with a linear warm-up/anneal schedule per epoch. (The source's
    ``MaskConv2d`` gradient mask is applied as a gradient transform, so the architecture is kept;
    biases are kept.)"""

    name = "msg"
    description = "re-init smallest-gradient weights of each feature layer, then masked fine-tune"
    source = DU + ", munl/unlearning/kgltop2.py (NeurIPS 2023 Kaggle, 2nd place)"
    touches = ("forget", "retain")
    Config = MSGConfig

    def unlearn(self, model, forget, retain, c, random_state):
        grads = snip_gradients(model, forget, retain, c.batch_size, random_state)
        scales = reinit_small_gradients(model, grads, c.init_rate, random_state)
        params = dict(model.named_parameters())

        def scale_grads() -> None:
            for n, s in scales.items():
                if params[n].grad is not None:
                    params[n].grad.mul_(s)

        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 lr_at=linear_anneal_lr(c.lr, c.epochs), grad_fn=scale_grads)
        return model


# -- CT -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CTConfig(FinetuneConfig):
    """Deep Unlearn ``kgltop5.py`` defaults."""

    epochs: int = 3


def transpose_kernels(model: nn.Module, input_shape) -> int:
    """Transpose the spatial kernel of every square ``Conv2d`` (``weight.swapaxes(2, 3)``).

    A model without convolutions on square image inputs ``[C, H, H]`` gets its first ``Linear``
    transposed the same way (each row viewed as a full-image ``[C, H, H]`` kernel). Returns the
    number of layers changed.
    """
    changed = 0
    with torch.no_grad():
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        for conv in convs:
            if conv.weight.shape[2] == conv.weight.shape[3]:
                conv.weight.copy_(conv.weight.transpose(2, 3).clone())
                changed += 1
        if not convs and len(input_shape) == 3 and input_shape[1] == input_shape[2]:
            lin = next(m for m in model.modules() if isinstance(m, nn.Linear))
            if lin.in_features == int(np.prod(input_shape)):
                w = lin.weight.view(lin.out_features, *input_shape)
                lin.weight.copy_(w.transpose(2, 3).reshape(lin.out_features, -1).clone())
                changed += 1
    return changed


@register_method
class CT(UnlearningMethod):
    """Convolution Transpose (kgltop5): transpose every k x k conv kernel, then fine-tune on
    retain (SGD, cosine over epochs). Never touches the forget set."""

    name = "ct"
    description = "transpose conv kernels, then fine-tune on retain"
    source = DU + ", munl/unlearning/kgltop5.py (NeurIPS 2023 Kaggle, 5th place)"
    touches = ("retain",)
    Config = CTConfig

    def unlearn(self, model, forget, retain, c, random_state):
        transpose_kernels(model, tuple(retain.X.shape[1:]))
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 lr_at=cosine_lr(c.lr, c.epochs))
        return model


# -- CFW ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CFWConfig(FinetuneConfig):
    """Deep Unlearn ``kgltop3.py`` defaults."""

    lr: float = 7e-4
    epochs: int = 4
    start_std: float = 0.6
    final_std: float = 0.005
    _nonnegative = ("start_std", "final_std")


def confuse_stem(model: nn.Module, std: float, random_state) -> None:
    """``w <- N(w, std)`` for the stem's conv/linear weights (the source's ``vision_confuser``
    matches top-level children named ``conv*``: ``conv1`` on ResNet-18)."""
    with torch.no_grad():
        for module in stem(model).modules:
            for layer in weighted_layers(module):
                layer.weight.add_(randn_like(layer.weight, random_state), alpha=std)


@register_method
class CFW(UnlearningMethod):
    """kgltop3: perturb the stem weights with N(0, start_std), fine-tune on retain with a
    class-balanced CE (``CE_mean x mean batch weight``, sklearn "balanced" weights), SGD and cosine
    annealing; after epoch E - 2 perturb again with final_std."""

    name = "cfw"
    description = "perturb stem weights, class-weighted fine-tune on retain"
    source = DU + ", munl/unlearning/kgltop3.py (NeurIPS 2023 Kaggle, 3rd place)"
    touches = ("retain",)
    Config = CFWConfig

    def unlearn(self, model, forget, retain, c, random_state):
        confuse_stem(model, c.start_std, random_state)
        counts = torch.bincount(retain.y, minlength=n_outputs(model, retain.X)).float()
        weights = len(retain) / ((counts > 0).sum() * counts.clamp(min=1))

        def loss(m, x, y):
            return F.cross_entropy(m(x), y) * weights[y].mean()

        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        for epoch in range(c.epochs):
            finetune(model, retain, epochs=1, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                     loss=loss, lr_at=lambda _, epoch=epoch: cosine_lr(c.lr, c.epochs)(epoch))
            if epoch == c.epochs - 2:
                confuse_stem(model, c.final_std, random_state)
        return model


# -- PRMQ -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PRMQConfig(FinetuneConfig):
    """Deep Unlearn ``kgltop4.py`` defaults (``epochs`` is a float: iterations = epochs x batches)."""

    lr: float = 5e-4
    epochs: float = 3.2
    prune_amount: float = 0.99
    _unit_interval = ("prune_amount",)


def prune_and_reinit(model: nn.Module, amount: float, random_state) -> None:
    """Global L1 pruning of the ``round(amount * n)`` smallest conv/linear weights and biases;
    zero weights are then re-drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (biases stay 0)."""
    layers = weighted_layers(model)
    tensors = [t for m in layers for t in (m.weight, m.bias) if t is not None]
    with torch.no_grad():
        flat = torch.cat([t.abs().flatten() for t in tensors])
        k = round(amount * flat.numel())
        if k:
            cut = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
            cut[torch.topk(flat, k, largest=False).indices] = True
            start = 0
            for t in tensors:
                t.masked_fill_(cut[start:start + t.numel()].view_as(t), 0.0)
                start += t.numel()
        for m in layers:
            bound = fan_in(m.weight) ** -0.5
            fresh = (rand_like(m.weight, random_state) - 0.5) * 2 * bound
            m.weight.copy_(torch.where(m.weight == 0, fresh, m.weight))


def entropy(logits: torch.Tensor) -> torch.Tensor:
    return torch.sum(-F.softmax(logits, 1) * F.log_softmax(logits, 1), 1)


@register_method
class PRMQ(UnlearningMethod):
    """Prune, Retrain, Mask, Quantize (kgltop4): prune 99 % of weights globally and re-draw
    them, train on retain with ``CE_w + MSE(H(student), H(teacher))`` (class weights
    ``count^-0.1``, teacher = the original) for ``int(batches x epochs) + 1`` steps, then round the
    weights through float16."""

    name = "prmq"
    description = "prune + re-init 99% of weights, entropy-matched retrain, fp16 round trip"
    source = DU + ", munl/unlearning/kgltop4.py (NeurIPS 2023 Kaggle, 4th place)"
    touches = ("retain",)
    Config = PRMQConfig

    def unlearn(self, model, forget, retain, c, random_state):
        teacher = frozen_copy(model)
        counts = torch.bincount(retain.y, minlength=n_outputs(model, retain.X)).float()
        class_weights = counts.clamp(min=1) ** -0.1
        prune_and_reinit(model, c.prune_amount, random_state)

        def loss(m, x, y):
            out = m(x)
            with torch.no_grad():
                target = entropy(teacher(x))
            return F.cross_entropy(out, y, weight=class_weights) + F.mse_loss(entropy(out), target)

        n_batches = -(-len(retain) // c.batch_size)
        steps = int(n_batches * c.epochs) + 1
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=-(-steps // n_batches), batch_size=c.batch_size, optimizer=opt,
                 random_state=random_state, loss=loss, max_steps=steps)
        return model.half().float()


# -- RNI ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RNIConfig(MethodConfig):
    """Deep Unlearn ``kgltop7.py`` defaults; ``fine_lr`` is indexed by fine-tuning epoch (the
    last entry repeats), as in the source notebook."""

    epochs: int = 9
    fine_epochs: int = 4
    reset_epochs: int = 1
    lr: float = 2e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    fine_lr: tuple[float, ...] = (2e-4, 2e-4, 2e-4, 1e-3, 1e-3, 1e-4)
    fine_momentum: float = 0.9
    fine_weight_decay: float = 5e-4
    noise_ratio: float = 0.7
    origin_noise: float = 0.04
    n_layers: int = 9
    batch_size: int = 64
    _unit_interval = ("noise_ratio",)
    _nonnegative = ("origin_noise", "n_layers")


def rni_epoch_keys(names: list[str], c: RNIConfig, random_state: np.random.Generator) -> tuple[list[str], list[str]]:
    """Tensors trained this (non-final) epoch: ``n_layers`` random non-"bn" tensors plus all "bn"
    tensors; and the ``int(noise_ratio * n_layers)`` of the former that get noise."""
    plain = [n for n in names if "bn" not in n]
    chosen = list(random_state.choice(plain, min(c.n_layers, len(plain)), replace=False))
    noisy = list(random_state.choice(chosen, min(int(c.noise_ratio * c.n_layers), len(chosen)), replace=False))
    return sorted(set(chosen) | {n for n in names if "bn" in n}), noisy


@register_method
class RNI(UnlearningMethod):
    """kgltop7: reset the head; then for ``epochs - fine_epochs`` epochs train only a random
    choice of tensors (plus all "bn" tensors) on retain, adding N(0, origin_noise^2) to some of
    them from epoch ``reset_epochs`` on (tensors never selected before); then fine-tune all
    parameters with the per-epoch ``fine_lr``."""

    name = "rni"
    description = "reset head, noise + train random layers, then fine-tune on retain"
    source = DU + ", munl/unlearning/kgltop7.py (NeurIPS 2023 Kaggle, 7th place)"
    touches = ("retain",)
    Config = RNIConfig

    def unlearn(self, model, forget, retain, c, random_state):
        reset_modules(head(model).modules, random_state)
        params = dict(model.named_parameters())
        flags = {n: p.requires_grad for n, p in params.items()}
        rng, seen = np.random.default_rng(draw_seed(random_state)), set()
        first_fine = c.epochs - c.fine_epochs
        try:
            for ep in range(c.epochs):
                keys = list(params)
                if ep < first_fine:
                    keys, noisy = rni_epoch_keys(keys, c, rng)
                    if ep >= c.reset_epochs:
                        self._add_noise([params[k] for k in noisy if k not in seen], c.origin_noise, random_state)
                    lr, mom, wd = c.lr, c.momentum, c.weight_decay
                else:
                    lr = c.fine_lr[min(ep - first_fine, len(c.fine_lr) - 1)]
                    mom, wd = c.fine_momentum, c.fine_weight_decay
                for n, p in params.items():
                    p.requires_grad_(flags[n] and n in keys)
                seen |= set(keys)
                opt = sgd(params.values(), lr=lr, momentum=mom, weight_decay=wd)
                finetune(model, retain, epochs=1, batch_size=c.batch_size, optimizer=opt, random_state=random_state)
        finally:
            for n, p in params.items():
                p.requires_grad_(flags[n])
        return model

    @staticmethod
    def _add_noise(tensors, std: float, random_state) -> None:
        with torch.no_grad():
            for t in tensors:
                t.add_(randn_like(t, random_state), alpha=std)
