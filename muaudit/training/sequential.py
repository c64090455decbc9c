"""The sequential engine: one model at a time, all threads, ``channels_last`` for conv nets on CPU;
a recipe's mixed precision and ``torch.compile`` (:mod:`muaudit.training.accel`) apply here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.progress import Progress
from muaudit.training import accel
from muaudit.training.batches import augment_images, augment_rng, batch_plan, steps_per_epoch
from muaudit.training.device import is_conv
from muaudit.training.optim import FunctionalOptimizer
from muaudit.training.recipe import TrainRecipe


def train_sequential(model: nn.Module, X: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe, random_state: int,
                     progress: Progress | None = None, rows: np.ndarray | None = None) -> nn.Module:
    """Train ``model`` in place on the rows ``rows`` of ``X``/``y`` (default: all rows; tensors
    already on the model's device). ``rows`` gives the same model as passing ``X[rows]``,
    ``y[rows]``, without copying them: each batch is gathered from ``X`` directly.

    Returns the model in eval mode. The data order and augmentation come from ``random_state``
    (see :mod:`muaudit.training.batches`). ``progress(epoch, epochs)`` is called after each epoch.
    """
    settings = accel.effective(recipe, X.device, conv=is_conv(model))
    net, forward = accel.trainable(model, settings)  # with compile: a compiled template holding model's state
    channels_last = settings["channels_last"] and X.dim() == 4
    if channels_last:
        net.to(memory_format=torch.channels_last)
        if rows is None:  # batches gathered from a channels_last X are channels_last already
            X = X.contiguous(memory_format=torch.channels_last)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = FunctionalOptimizer(params, recipe)
    n, bs = len(y) if rows is None else len(rows), recipe.batch_size
    per_epoch = steps_per_epoch(n, bs)
    total = recipe.epochs * per_epoch
    arng = augment_rng(random_state)
    scaler = accel.LossScaler(settings["precision"] == "fp16")
    for t, pos in enumerate(batch_plan(n, bs, recipe.epochs, random_state)):
        idx = torch.as_tensor(pos if rows is None else rows[pos], device=X.device)
        xb, yb = X[idx], y[idx]
        if recipe.augment and xb.dim() == 4:
            xb = augment_images(xb, arng)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with accel.autocast(settings, X.device):
            loss = F.cross_entropy(forward(xb), yb, label_smoothing=recipe.label_smoothing)
        for p in params:
            p.grad = None
        scaler.scale(loss.float()).backward()
        if scaler.unscale(params):  # fp16: a step whose gradients overflowed is skipped
            opt.step(recipe.lr_at(t, total))
        if progress is not None and (t + 1) % per_epoch == 0:
            progress((t + 1) // per_epoch, recipe.epochs)
    for p in params:
        p.grad = None
    if channels_last:
        net.to(memory_format=torch.contiguous_format)
    if net is not model:
        model.load_state_dict(net.state_dict())
    return model.eval()


def fit_one(model: nn.Module, X: np.ndarray | torch.Tensor, y, recipe: TrainRecipe, random_state: int, device=None) -> nn.Module:
    """Convenience: train ``model`` on arrays with the sequential engine on ``device``."""
    from muaudit.training.device import select_device

    dev = select_device(device)
    Xt = torch.as_tensor(np.asarray(X, np.float32), device=dev)
    yt = torch.as_tensor(np.asarray(y, np.int64), device=dev)
    return train_sequential(model.to(dev), Xt, yt, recipe, random_state)
