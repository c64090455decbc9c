"""A SISA model of a recipe on the training split (what ``muaudit train`` writes for a ``[sisa]``
recipe), and the shard factory of a recipe or a checkpoint's meta.

The partition is drawn over the whole training split from the model's seed, and ``exclude`` is
then dropped from its slices: a SISA model trained without ``exclude`` is, bit for bit, what
``--method sisa`` makes of the model trained with it (:mod:`muaudit.sisa.unlearn`).
"""

from __future__ import annotations

import numpy as np
import torch

from muaudit.data import Dataset, split_forget
from muaudit.sisa.config import SisaConfig, drop, partition, shard_seed, stage_epochs
from muaudit.sisa.model import SISAModel
from muaudit.sisa.train import SisaRun, ShardFactory, train_sisa
from muaudit.training.device import select_device


def shard_factory(arch: str, arch_kwargs: dict, input_shape, n_classes: int) -> ShardFactory:
    """``seed -> shard model`` of a built-in arch, or of a factory the caller already allowed."""
    from muaudit.models import build_model

    return lambda seed: build_model(arch, input_shape, n_classes, random_state=seed, **arch_kwargs)


def sisa_model(spec, random_state: int, input_shape, n_classes: int) -> SISAModel:
    """The untrained SISA model of ``spec`` with seed ``random_state`` (shard ``k`` initialised from
    ``shard_seed(random_state, k)``, as :func:`~muaudit.sisa.train.train_sisa` starts it)."""
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, input_shape, n_classes)
    return SISAModel([make(shard_seed(random_state, k)) for k in range(spec.sisa.shards)], spec.sisa.aggregation)


def sisa_meta(cfg: SisaConfig, epochs: int, parts: list[list[np.ndarray]]) -> dict:
    """``meta["sisa"]``: the config, epochs per stage and the slices' training positions."""
    return {**cfg.to_dict(), "stage_epochs": stage_epochs(epochs, cfg.slices),
            "parts": [[[int(i) for i in s] for s in slices] for slices in parts]}


def train_sisa_target(spec, dataset: Dataset, *, exclude=None, random_state: int = 0, device=None,
                      progress=None) -> tuple[torch.nn.Module, dict, list[list[dict]]]:
    """Train the SISA model of ``spec`` (a recipe with ``[sisa]``) on the training split minus
    ``exclude``; return ``(model, meta, checkpoints)`` for
    :func:`~muaudit.sisa.store.save_sisa_checkpoint`. ``progress(epochs, total)`` after each shard,
    in epoch-equivalents (shard k of S done: ``epochs x k / S``), as :func:`train_target` reports."""
    from muaudit.training.single import model_meta

    n = len(dataset.train_idx)
    excluded, kept = split_forget(np.arange(n), [] if exclude is None else exclude, name="exclude")
    parts = drop(partition(np.arange(n), spec.sisa, random_state=random_state), excluded)
    dev = select_device(device)
    X = torch.as_tensor(dataset.X[dataset.train_idx], device=dev)
    y = torch.as_tensor(dataset.y[dataset.train_idx], device=dev)
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, dataset.input_shape, dataset.n_classes)
    e = spec.train.epochs  # progress in epoch-equivalents: shard k of S done = e * k / S epochs
    shards_done = None if progress is None else (lambda k, n: progress(e * k // n, e))
    run: SisaRun = train_sisa(make, X, y, parts, spec.train, spec.sisa, random_state=random_state, progress=shards_done)
    cost = {"seconds": run.seconds, "sample_gradients": int(sum(run.sample_gradients)),
            "shard_sample_gradients": [int(c) for c in run.sample_gradients]}
    meta = model_meta(arch=spec.model["arch"], arch_kwargs=spec.arch_kwargs, dataset=dataset, train_idx=kept,
                      seed=random_state, recipe=spec.train, cost=cost, sisa=sisa_meta(spec.sisa, spec.train.epochs, parts))
    return run.model.cpu(), meta, run.checkpoints
