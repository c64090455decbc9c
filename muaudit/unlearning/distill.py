"""Teacher/student methods: BT (bad teacher), SCRUB, KDE (kgltop6) and FCS (kgltop1)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from muaudit.unlearning.base import MethodConfig, UnlearnData, UnlearningMethod, register_method
from muaudit.unlearning.baselines import DU
from muaudit.unlearning.blocks import fresh_init, head, reset_modules, stem
from muaudit.unlearning.loops import (cosine_lr, distill_kl, finetune, frozen_copy, iter_batches,
                                      optimizer_step, set_lr, sgd, soft_cross_entropy, step_decay_lr, take)

# -- BT -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BTConfig(MethodConfig):
    """Deep Unlearn ``bad_teacher.py`` defaults (Adam)."""

    lr: float = 0.01
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    temperature: float = 1.0


@register_method
class BT(UnlearningMethod):
    """Bad Teacher: distil from the original (competent teacher) on retain and from a randomly
    initialised network (incompetent teacher) on forget: target
    ``l softmax(bad/T) + (1 - l) softmax(good/T)`` (l = 1 on forget), loss
    ``kl_div(log_softmax(student/T), target)`` with element-mean reduction, Adam.
    The incompetent teacher is a fresh initialisation of the model's own architecture (the source
    always uses a random torchvision ResNet-18)."""

    name = "bt"
    description = "distil from the original on retain and from a random network on forget"
    source = DU + ", bad_teacher.py; Chundawat et al. 2023 (AAAI), vikram2000b/bad-teaching-unlearning"
    touches = ("forget", "retain")
    Config = BTConfig

    def unlearn(self, model, forget, retain, c, random_state):
        good = frozen_copy(model)
        bad = frozen_copy(fresh_init(copy.deepcopy(model), random_state))
        flags = torch.cat([torch.zeros(len(retain)), torch.ones(len(forget))]).long().to(retain.X.device)
        data = UnlearnData(torch.cat([retain.X, forget.X]), flags)  # y = origin flag (forget = 1)
        opt = torch.optim.Adam(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        T = c.temperature

        def loss(m, x, flag):
            with torch.no_grad():
                f = flag.float()[:, None]
                target = f * F.softmax(bad(x) / T, 1) + (1 - f) * F.softmax(good(x) / T, 1)
            return F.kl_div(F.log_softmax(m(x) / T, 1), target, reduction="none").mean()  # torch "mean"

        finetune(model, data, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state, loss=loss)
        return model


# -- SCRUB ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SCRUBConfig(MethodConfig):
    """Deep Unlearn ``scrubv2.py`` defaults. The source's ``beta`` (weight of a "kd" term that is 0
    for ``distill="kd"``) and ``smoothing`` (an identically-zero term) have no effect and are
    left out."""

    epochs: int = 5
    msteps: int = 3
    lr: float = 5e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    temperature: float = 2.0
    gamma: float = 1.0
    alpha: float = 0.5
    retain_batch_size: int = 32
    forget_batch_size: int = 64
    decay_rate: float = 0.1
    _nonnegative = ("msteps", "gamma", "alpha", "decay_rate")


def error_rate(model, data: UnlearnData | None, batch_size: int = 1024) -> float:
    """Top-1 error of ``model`` on ``data`` in eval mode (NaN for no data)."""
    if data is None or not len(data):
        return math.nan
    was = model.training
    model.eval()
    with torch.no_grad():
        wrong = sum(int((model(data.X[s:s + batch_size]).argmax(1) != data.y[s:s + batch_size]).sum())
                    for s in range(0, len(data), batch_size))
    model.train(was)
    return wrong / len(data)


def same_classes(val: UnlearnData | None, forget: UnlearnData) -> UnlearnData | None:
    if val is None:
        return None
    keep = torch.isin(val.y, torch.unique(forget.y))
    return val.subset(torch.nonzero(keep).flatten()) if bool(keep.any()) else None


@register_method
class SCRUB(UnlearningMethod):
    """SCRUB: the student (a copy of the original) alternates, per epoch, a max-step on forget
    (``-KL_T(teacher||student) T^2``, first ``msteps`` epochs) and a min-step on retain
    (``gamma CE + alpha KL_T T^2``); step decay of the rate at 50/80/90 %. The returned epoch is
    the one whose forget error is closest to the final validation error on the forget set's
    classes (``retain.val``; without it the final model is kept)."""

    name = "scrub"
    description = "teacher/student: max KL on forget, min KL + CE on retain, epoch selection"
    source = DU + ", scrubv2.py; Kurmanji et al. 2023 (NeurIPS), github.com/meghdadk/SCRUB"
    touches = ("forget", "retain", "val")
    Config = SCRUBConfig

    def unlearn(self, model, forget, retain, c, random_state):
        teacher = frozen_copy(model)
        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        lr_at = step_decay_lr(c.lr, c.epochs, c.decay_rate)
        val_f = same_classes(retain.val, forget)
        states, forget_err = [], [error_rate(model, forget)]
        for epoch in range(c.epochs):
            set_lr(opt, lr_at(epoch))
            model.train()
            if epoch < c.msteps:
                self._pass(model, teacher, forget, opt, c, random_state, maximize=True)
            self._pass(model, teacher, retain, opt, c, random_state, maximize=False)
            states.append(copy.deepcopy(model.state_dict()))
            forget_err.append(error_rate(model, forget))
        target = error_rate(model, val_f)
        if states and not math.isnan(target):
            best = min(range(len(forget_err)), key=lambda i: abs(forget_err[i] - target))
            if best != 0:
                model.load_state_dict(states[best - 1])
        return model

    @staticmethod
    def _pass(model, teacher, data, opt, c, random_state, *, maximize: bool) -> None:
        T = c.temperature
        batch = c.forget_batch_size if maximize else c.retain_batch_size
        for x, y in iter_batches(data, batch, random_state, shuffle=not maximize):
            if not take(len(y)):
                return
            out = model(x)
            with torch.no_grad():
                t_out = teacher(x)
            kl = distill_kl(out, t_out, T) * T * T
            loss = -kl if maximize else c.gamma * F.cross_entropy(out, y) + c.alpha * kl
            optimizer_step(opt, loss)


# -- KDE ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KDEConfig(MethodConfig):
    """Deep Unlearn ``kgltop6.py`` defaults (warm-up ``epochs`` on the validation set, then
    ``retain_epochs`` on retain)."""

    temperature: float = 5.0
    epochs: int = 3
    lr: float = 9e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    retain_epochs: int = 3
    retain_lr: float = 1e-3
    retain_momentum: float = 0.9
    retain_weight_decay: float = 5e-4
    batch_size: int = 64


@register_method
class KDE(UnlearningMethod):
    """kgltop6 ("unlearning by resetting layers"): reset the stem's conv/linear layers and the
    head; warm up by distilling the original (``KL_T``) on the held-out ``retain.val`` inputs
    (labels unused; retain inputs when there is no val), then train on retain with
    ``softCE_T + CE + KL_T`` and cosine annealing."""

    name = "kde"
    description = "reset stem + head, distil the original on held-out data, then on retain"
    source = DU + ", kgltop6.py (Kaggle notebook 'unlearning-by-resetting-layers-7th-on-private-lb')"
    touches = ("retain", "val")
    Config = KDEConfig

    def unlearn(self, model, forget, retain, c, random_state):
        teacher, T = frozen_copy(model), c.temperature
        reset_modules(stem(model).modules, random_state, norms=False)
        reset_modules(head(model).modules, random_state)
        warm = retain.val if retain.val is not None and len(retain.val) else retain

        def warm_loss(m, x, y):
            with torch.no_grad():
                t = teacher(x)
            return distill_kl(m(x), t, T)

        def retain_loss(m, x, y):
            out = m(x)
            with torch.no_grad():
                t = teacher(x)
            return (soft_cross_entropy(out / T, F.softmax(t / T, 1)) + F.cross_entropy(out, y)
                    + distill_kl(out, t, T))

        opt = sgd(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        finetune(model, warm, epochs=c.epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 loss=warm_loss)
        opt = sgd(model.parameters(), lr=c.retain_lr, momentum=c.retain_momentum, weight_decay=c.retain_weight_decay)
        finetune(model, retain, epochs=c.retain_epochs, batch_size=c.batch_size, optimizer=opt, random_state=random_state,
                 loss=retain_loss, lr_at=cosine_lr(c.retain_lr, c.retain_epochs))
        return model


# -- FCS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FCSConfig(MethodConfig):
    """Deep Unlearn ``kgltop1.py`` defaults (``lr``: stage 1; ``forget_*``: contrastive rounds;
    ``retain_*``: retain rounds, whose rate is scaled by ``batch_size / 64`` as in the source)."""

    epochs: int = 8
    batch_size: int = 256
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    forget_lr: float = 3e-4
    forget_momentum: float = 0.9
    forget_weight_decay: float = 0.0
    retain_lr: float = 1e-3
    retain_momentum: float = 0.9
    retain_weight_decay: float = 1e-2
    temperature: float = 1.15
    eta_min: float = 1e-6
    _nonnegative = ("eta_min",)


def uniform_kl(m, x, y):
    out = m(x)
    return F.kl_div(F.log_softmax(out, 1), torch.full_like(out, 1 / out.shape[1]), reduction="batchmean")


@register_method
class FCS(UnlearningMethod):
    """kgltop1: one pass pushing forget outputs towards uniform (KL); then per epoch a contrastive
    forget round (each forget logit vector made equally similar to all retain logit vectors:
    ``-mean log_softmax(f(x_f) f(x_r)^T / tau)``, per-batch cosine rate) and a CE retain round."""

    name = "fcs"
    description = "forget outputs to uniform, contrastive forget rounds, retain rounds"
    source = DU + ", kgltop1.py (NeurIPS 2023 Kaggle, 1st place)"
    touches = ("forget", "retain")
    Config = FCSConfig

    def unlearn(self, model, forget, retain, c, random_state):
        bs, params = c.batch_size, list(model.parameters())
        opt = sgd(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        opt_f = sgd(params, lr=c.forget_lr, momentum=c.forget_momentum, weight_decay=c.forget_weight_decay)
        opt_r = sgd(params, lr=c.retain_lr * bs / 64, momentum=c.retain_momentum, weight_decay=c.retain_weight_decay)
        finetune(model, forget, epochs=1, batch_size=bs, optimizer=opt, random_state=random_state, loss=uniform_kl)
        rate = cosine_lr(c.forget_lr, -(-len(forget) // bs) * c.epochs, c.eta_min)
        step = 0
        for _ in range(c.epochs):
            model.train()
            for (xf, _), (xr, _) in zip(iter_batches(forget, bs, random_state), iter_batches(retain, bs, random_state)):
                if not take(len(xf)):
                    return model
                set_lr(opt_f, rate(step))
                out_f, out_r = model(xf), model(xr).detach()
                optimizer_step(opt_f, -F.log_softmax(out_f @ out_r.T / c.temperature, 1).mean())
                step += 1
            finetune(model, retain, epochs=1, batch_size=bs, optimizer=opt_r, random_state=random_state)
        return model
