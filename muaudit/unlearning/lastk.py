"""Train only the last k blocks: CF-k (catastrophic forgetting) and EU-k (exact unlearning of
the re-initialised last k blocks), Goel et al. 2022, as in Deep Unlearn."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from muaudit.unlearning.base import MethodConfig, UnlearningMethod, register_method
from muaudit.unlearning.baselines import DU
from muaudit.unlearning.blocks import NORMS, last_blocks, seeded
from muaudit.unlearning.loops import cross_entropy, finetune, l2_distance, sgd, step_decay_lr

GOEL = "Goel et al. 2022, Towards adversarial evaluation of unlearning algorithms (arXiv:2201.06640)"


@dataclass(frozen=True)
class LastKConfig(MethodConfig):
    """Deep Unlearn ``catastrophic_forgetting_k.py`` defaults: SGD without momentum or weight
    decay, step decay by ``decay_rate`` at 50/80/90 % of the epochs, ``l2`` = the
    ``(lambda/2)||theta - theta_0||^2`` weight (the source's ``sgda_weight_decay``)."""

    k: int = 1
    lr: float = 0.01
    epochs: int = 10
    batch_size: int = 256
    l2: float = 0.1
    decay_rate: float = 0.1
    _nonnegative = ("l2", "decay_rate")


def train_last_blocks(model: nn.Module, retain, c: LastKConfig, random_state, *, augment: bool = False) -> nn.Module:
    """Freeze all but the last ``k`` blocks and the head; train them on retain with
    ``CE + (l2/2)||theta - theta_0||^2`` in eval mode (BatchNorm statistics frozen)."""
    trainable = [p for b in last_blocks(model, c.k) for p in b.parameters()]
    ids = {id(p) for p in trainable}
    flags = {id(p): p.requires_grad for p in model.parameters()}
    origin = [p.detach().clone() for p in trainable]
    for p in model.parameters():
        p.requires_grad_(flags[id(p)] and id(p) in ids)

    def loss(m, x, y):
        return cross_entropy(m, x, y) + c.l2 / 2 * l2_distance(trainable, origin)

    try:
        opt = sgd([p for p in trainable if p.requires_grad], lr=c.lr)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 loss=loss, lr_at=step_decay_lr(c.lr, c.epochs, c.decay_rate), train_mode=False, augment=augment)
    finally:
        for p in model.parameters():
            p.requires_grad_(flags[id(p)])
    return model


@register_method
class CFk(UnlearningMethod):
    """CF-k: fine-tune only the last k blocks and the head on retain (the rest frozen)."""

    name = "cf-k"
    description = "fine-tune only the last k blocks + head on retain"
    source = DU + ", catastrophic_forgetting_k.py + scrub_utils.fk_finetune; " + GOEL
    touches = ("retain",)
    Config = LastKConfig

    def unlearn(self, model, forget, retain, c, random_state):
        return train_last_blocks(model, retain, c, random_state)


@dataclass(frozen=True)
class EUkConfig(LastKConfig):
    """CF-k defaults; ``augment`` trains on the augmented retain set when the original training
    augmented (``UnlearnData.augment``), as the source's ``augmented_train_retain_loaders``."""

    augment: bool = True


def reinit_blocks(blocks, random_state) -> None:
    """EU-k's re-initialisation: conv ``kaiming_uniform_(fan_out)``, linear ``xavier_uniform_``,
    norm weight 1 / bias 0; conv and linear biases 0."""
    with torch.no_grad(), seeded(random_state):
        for block in blocks:
            for m in (sub for mod in block.modules for sub in mod.modules()):
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_uniform_(m.weight, mode="fan_out")
                elif isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                elif isinstance(m, NORMS) and m.weight is not None:
                    nn.init.ones_(m.weight)
                if isinstance(m, (nn.Conv2d, nn.Linear, *NORMS)) and getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)


@register_method
class EUk(UnlearningMethod):
    """EU-k: re-initialise the last k blocks and the head, then train them (only) on retain."""

    name = "eu-k"
    description = "re-init the last k blocks + head, train them on retain"
    source = DU + ", exact_unlearning_k.py; " + GOEL
    touches = ("retain",)
    Config = EUkConfig

    def unlearn(self, model, forget, retain, c, random_state):
        reinit_blocks(last_blocks(model, c.k), random_state)
        return train_last_blocks(model, retain, c, random_state, augment=c.augment and retain.augment)
