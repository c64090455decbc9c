"""Reference points and gradient baselines: ``original``, ``retrain``, FT, GD, NGD, GA, SRL, NG+."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import train_sequential
from muaudit.unlearning.base import MethodConfig, UnlearnData, UnlearningMethod, register_method
from muaudit.unlearning.blocks import draw_seed, fresh_init, randn_like
from muaudit.unlearning.cost import active_meter
from muaudit.unlearning.loops import (cosine_lr, cross_entropy, cycle_batches, finetune, iter_batches, l2_distance,
                                      n_outputs, neg_cross_entropy, optimizer_step, sgd, take)

DU = "Cadet et al. 2024, Deep Unlearn (arXiv:2410.01276), github.com/xcadet/deepunlearn"


@dataclass(frozen=True)
class OriginalConfig(MethodConfig):
    """No hyperparameters."""


@register_method
class Original(UnlearningMethod):
    """The trained model unchanged: the "no unlearning" reference (Deep Unlearn's O)."""

    name = "original"
    description = "no change (the 'no unlearning' reference)"
    source = DU + " (reference model O)"
    touches = ()
    Config = OriginalConfig

    def unlearn(self, model, forget, retain, config, random_state):
        return model


@dataclass(frozen=True)
class RetrainConfig(MethodConfig, TrainRecipe):
    """The training recipe: :class:`~muaudit.training.recipe.TrainRecipe`'s fields, defaults and
    checks, as a method config; ``muaudit unlearn`` fills it from the checkpoint's meta."""

    def __post_init__(self):
        MethodConfig.__post_init__(self)
        TrainRecipe.__post_init__(self)  # optimizer / schedule names

    def to_dict(self) -> dict:
        """As the recipe's (later keys at their defaults left out: stored configs keep their digest)."""
        return TrainRecipe.to_dict(self)


@register_method
class Retrain(UnlearningMethod):
    """Exact unlearning: re-initialise and train from scratch on retain with the original recipe
    (the sequential engine of :mod:`muaudit.training`, as ``train_target`` does). The gold
    standard every method is compared with (Deep Unlearn's R, "naive")."""

    name = "retrain"
    description = "train from scratch on retain with the checkpoint's recipe (gold standard)"
    source = DU + " (reference model R); recipe from the checkpoint meta"
    touches = ("retain",)
    Config = RetrainConfig

    @classmethod
    def config_from_meta(cls, meta: dict) -> dict:
        return dict(meta.get("recipe") or {})

    def unlearn(self, model, forget, retain, config, random_state):
        recipe = TrainRecipe.from_dict(config.to_dict())
        n, meter = len(retain), active_meter()
        epochs = recipe.epochs
        if meter.remaining() is not None and meter.remaining() < epochs * n:
            epochs = meter.remaining() // max(n, 1)
        take(epochs * n)
        if epochs < recipe.epochs:
            meter.truncated = True
        fresh_init(model, random_state)
        recipe = TrainRecipe(**{**recipe.to_dict(), "epochs": int(epochs)})
        return train_sequential(model, retain.X, retain.y, recipe, draw_seed(random_state))


@dataclass(frozen=True)
class FTConfig(MethodConfig):
    """Deep Unlearn ``munl/unlearning/finetune.py`` defaults."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 5
    batch_size: int = 256


@register_method
class FT(UnlearningMethod):
    """Fine-tune on retain with CE, SGD and per-epoch cosine annealing (``T_max = epochs``)."""

    name = "ft"
    description = "fine-tune on retain (SGD, cosine schedule)"
    source = DU + ", munl/unlearning/finetune.py"
    touches = ("retain",)
    Config = FTConfig

    def unlearn(self, model, forget, retain, c, random_state):
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 lr_at=cosine_lr(c.lr, c.epochs))
        return model


@dataclass(frozen=True)
class GDConfig(MethodConfig):
    """Poisoning study's GD (Neel et al. 2021). The paper's learning rates are in its Appendix D
    (not retrieved); these are FT-like defaults at a 10 %-of-training-sized epoch count."""

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 5
    batch_size: int = 256


@register_method
class GD(UnlearningMethod):
    """Gradient descent on the retain loss at a constant rate (Neel et al. 2021, as used by
    Pawelczyk et al. 2025, "Machine unlearning fails to remove data poisoning attacks")."""

    name = "gd"
    description = "gradient descent on retain at a constant rate (fine-tuning)"
    source = "Neel et al. 2021 (ALT); Pawelczyk et al. 2025 (ICLR), poisoning study"
    touches = ("retain",)
    Config = GDConfig

    def unlearn(self, model, forget, retain, c, random_state):
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state)
        return model


@dataclass(frozen=True)
class NGDConfig(GDConfig):
    """GD defaults plus the gradient-noise variance of Pawelczyk et al.'s Fig. 6 (1e-7)."""

    noise_var: float = 1e-7
    _nonnegative = ("noise_var",)


@register_method
class NGD(UnlearningMethod):
    """Noisy GD: ``theta <- theta - lr (grad L(retain) + N(0, noise_var I))`` per step
    (Chourasia & Shah 2023; Chien et al. 2024)."""

    name = "ngd"
    description = "noisy gradient descent on retain (Gaussian noise added to every gradient)"
    source = "Chourasia & Shah 2023 (ICML); Pawelczyk et al. 2025 (ICLR), poisoning study"
    touches = ("retain",)
    Config = NGDConfig

    def unlearn(self, model, forget, retain, c, random_state):
        params = [p for p in model.parameters() if p.requires_grad]
        std = c.noise_var ** 0.5
        noise = torch.Generator().manual_seed((random_state.initial_seed() * 7919 + 1) % 2**63)

        def add_noise() -> None:  # own stream: the data order is GD's, whatever the noise
            for p in params:
                if p.grad is not None and std:
                    p.grad.add_(randn_like(p.grad, noise), alpha=std)

        opt = sgd(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, retain, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 grad_fn=add_noise)
        return model


@dataclass(frozen=True)
class GAConfig(MethodConfig):
    """Deep Unlearn ``gradient_ascent.py`` defaults."""

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 10
    batch_size: int = 256


@register_method
class GA(UnlearningMethod):
    """Gradient ascent on the forget set: minimise ``-CE(f(x_f), y_f)`` with SGD, train mode."""

    name = "ga"
    description = "gradient ascent on forget"
    source = DU + ", gradient_ascent.py (from OPTML-Group/Unlearn-Sparse); Graves et al. 2021"
    touches = ("forget",)
    Config = GAConfig

    def unlearn(self, model, forget, retain, c, random_state):
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, forget, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 loss=neg_cross_entropy)
        return model


@dataclass(frozen=True)
class SRLConfig(FTConfig):
    """Deep Unlearn ``successive_random_labels.py`` defaults (SGD, no schedule)."""


def relabelled_union(forget: UnlearnData, retain: UnlearnData, n_classes: int, random_state) -> UnlearnData:
    """Forget with labels drawn uniformly over all classes (may equal the truth), plus retain."""
    labels = torch.randint(0, n_classes, (len(forget),), generator=random_state).to(forget.y.device)
    return UnlearnData.concat(UnlearnData(forget.X, labels), retain)


@register_method
class SRL(UnlearningMethod):
    """Successive random relabelling: every epoch, CE over retain plus forget with fresh uniform
    random labels (over all classes), shuffled together."""

    name = "srl"
    description = "fine-tune on retain + forget with labels redrawn at random every epoch"
    source = DU + ", successive_random_labels.py (RandomRelabel from SalUn, Fan et al. 2024)"
    touches = ("forget", "retain")
    Config = SRLConfig

    def unlearn(self, model, forget, retain, c, random_state):
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        n_classes = n_outputs(model, forget.X)
        for _ in range(c.epochs):
            data = relabelled_union(forget, retain, n_classes, random_state)
            finetune(model, data, epochs=1, batch_size=c.batch_size, optimizer=opt, random_state=random_state)
            if active_meter().exhausted:
                break
        return model


@dataclass(frozen=True)
class NGPlusConfig(MethodConfig):
    """Deep Unlearn ``neggradplus.py`` defaults. ``l2`` is the source's lambda of the
    ``(lambda/2)||theta - theta_0||^2`` term (resolves to 0.0 there, so off by default)."""

    alpha: float = 0.95
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    l2: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    _unit_interval = ("alpha",)
    _nonnegative = ("l2",)


@register_method
class NGPlus(UnlearningMethod):
    """NegGrad+: per retain batch (with a cycled forget batch) minimise
    ``alpha [CE_r + (l2/2)||theta - theta_0||^2] - (1 - alpha) CE_f``, model in eval mode."""

    name = "ng+"
    description = "retain CE minus weighted forget CE (NegGrad+)"
    source = DU + ", neggradplus.py; Kurmanji et al. 2023 (SCRUB paper, NeurIPS)"
    touches = ("forget", "retain")
    Config = NGPlusConfig

    def unlearn(self, model, forget, retain, c, random_state):
        params = [p for p in model.parameters() if p.requires_grad]
        origin = [p.detach().clone() for p in params]
        opt = sgd(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        forget_batches = cycle_batches(forget, c.batch_size, random_state)
        model.eval()
        for _ in range(c.epochs):
            for xr, yr in iter_batches(retain, c.batch_size, random_state):
                xf, yf = next(forget_batches)
                if not take(len(yr) + len(yf)):
                    return model
                retain_loss = cross_entropy(model, xr, yr)
                if c.l2:
                    retain_loss = retain_loss + c.l2 / 2 * l2_distance(params, origin)
                optimizer_step(opt, c.alpha * retain_loss - (1 - c.alpha) * cross_entropy(model, xf, yf))
        return model
