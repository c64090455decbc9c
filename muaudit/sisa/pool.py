"""SISA shadows for a pool build: every shadow is a SISA model of the recipe's ``[sisa]`` section
(the same S, R and aggregation as the target), its partition drawn from the shadow's own seed
over the rows it keeps. Shadows keep no stage checkpoints (nothing unlearns them in a pool yet).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

from muaudit.sisa.config import partition
from muaudit.sisa.target import shard_factory
from muaudit.sisa.train import train_sisa


def sisa_trainer(spec, input_shape, n_classes: int):
    """A function with :func:`muaudit.training.train_models`'s signature that trains SISA shadows
    (one at a time, shard by shard with the sequential engine; ``make_model`` and the engine
    arguments are not used)."""
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, input_shape, n_classes)

    def train(_make_model, X: torch.Tensor, y: torch.Tensor, rows: list[np.ndarray], seeds: list[int], recipe,
              **_engine) -> Iterator[list[tuple[int, nn.Module]]]:
        for i, (r, seed) in enumerate(zip(rows, seeds)):
            parts = partition(np.asarray(r), spec.sisa, seed=int(seed))
            yield [(i, train_sisa(make, X, y, parts, recipe, spec.sisa, seed=int(seed), keep_checkpoints=False).model)]

    return train
