"""Training one model of a recipe on (part of) the training split, with muaudit checkpoint meta.

This makes the "original" (all training examples) and "retrained" (training split minus the
forget set) targets of an audit, and is what the ``retrain`` unlearning method calls.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

import muaudit
from muaudit.data import Dataset, split_forget
from muaudit.progress import Progress
from muaudit.training.device import select_device
from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import train_sequential


def model_meta(*, arch: str, arch_kwargs: dict, dataset: Dataset, train_idx: np.ndarray, seed: int,
               recipe: TrainRecipe, **extra) -> dict:
    """The ``meta`` of a muaudit checkpoint (plain values only, so it loads with weights_only)."""
    return {"arch": arch, "arch_kwargs": dict(arch_kwargs), "input_shape": list(dataset.input_shape),
            "n_classes": dataset.n_classes, "dataset": {"name": dataset.name, **dataset.options},
            "dataset_fingerprint": dataset.fingerprint, "train_idx": [int(i) for i in train_idx],
            "seed": int(seed), "recipe": recipe.to_dict(), "muaudit_version": muaudit.__version__, **extra}


def train_on_positions(make_model, dataset: Dataset, positions: np.ndarray, recipe: TrainRecipe, random_state: int,
                       device=None, progress: Progress | None = None) -> tuple[nn.Module, dict]:
    """Train ``make_model(random_state)`` on training-split ``positions``; return the model and its cost.

    ``progress(epoch, epochs)`` is called after each epoch."""
    dev = select_device(device)
    rows = dataset.train_idx[np.asarray(positions, np.int64)]
    X = torch.as_tensor(dataset.X[rows], device=dev)
    y = torch.as_tensor(dataset.y[rows], device=dev)
    t0 = time.perf_counter()
    model = train_sequential(make_model(random_state).to(dev), X, y, recipe, random_state, progress=progress)
    cost = {"seconds": time.perf_counter() - t0, "sample_gradients": int(recipe.epochs * len(rows))}
    return model.cpu(), cost


def train_target(spec, dataset: Dataset, *, exclude: np.ndarray | None = None, random_state: int = 0,
                 device=None, progress: Progress | None = None) -> tuple[nn.Module, dict]:
    """Train one model of ``spec`` on the training split minus ``exclude`` (positions).

    Returns ``(model, meta)``; ``meta`` is ready for :func:`muaudit.models.save_checkpoint`.
    ``progress(epoch, epochs)`` is called after each epoch.
    """
    _, positions = split_forget(np.arange(len(dataset.train_idx)), [] if exclude is None else exclude, name="exclude")
    make = lambda s: spec.make_model(s, dataset.input_shape, dataset.n_classes)  # noqa: E731
    model, cost = train_on_positions(make, dataset, positions, spec.train, random_state, device, progress)
    meta = model_meta(arch=spec.model["arch"], arch_kwargs=spec.arch_kwargs, dataset=dataset,
                      train_idx=positions, seed=random_state, recipe=spec.train, cost=cost)
    return model, meta
