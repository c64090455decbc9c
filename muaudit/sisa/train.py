"""SISA training: each shard's model trained slice by slice, a checkpoint after every stage.

Stage ``r`` of shard ``k`` starts from the checkpoint of stage ``r - 1`` (stage 0: the shard's
seeded initialisation), trains on the shard's slices ``1..r`` for ``stage_epochs(e, R)[r - 1]``
epochs with a fresh optimizer of the recipe and the data order of seed ``shard_seed(seed, k, r)``
(the sequential engine), and ends in checkpoint ``r``. Everything a stage does is a function of
its start checkpoint, its rows and its seed, so retraining a shard from checkpoint ``r - 1``
without some rows gives, bit for bit, what training without them from the start gives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from muaudit.sisa.config import SisaConfig, shard_seed, stage_epochs
from muaudit.sisa.model import SISAModel
from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import train_sequential

ShardFactory = Callable[[int], nn.Module]  # seed -> freshly initialised shard model
State = dict  # a CPU state dict


@dataclass
class SisaRun:
    """What :func:`train_sisa` returns.

    Attributes:
        model: the :class:`SISAModel` (eval mode).
        checkpoints: ``checkpoints[k][r]`` = shard ``k``'s state after stage ``r`` (0 = its
            initialisation), when kept; else ``None``.
        sample_gradients: per shard, the sample-gradients its training took.
        seconds: wall time.
    """

    model: SISAModel
    checkpoints: list[list[State]] | None
    sample_gradients: list[int] = field(default_factory=list)
    seconds: float = 0.0


def stage_rows(slices: list[np.ndarray], r: int) -> np.ndarray:
    """The rows stage ``r`` (1-based) trains on: slices ``1..r``, in slice order."""
    return np.concatenate([np.asarray(s, np.int64) for s in slices[:r]]) if r else np.zeros(0, np.int64)


def stage_cost(slices: list[np.ndarray], epochs: int, start: int = 0) -> int:
    """Sample-gradients of stages ``start + 1..R`` of one shard (``epochs``: the recipe's)."""
    per = stage_epochs(epochs, len(slices))
    return sum(per[r - 1] * len(stage_rows(slices, r)) for r in range(start + 1, len(slices) + 1))


def _state(model: nn.Module) -> State:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def train_shard(make_shard: ShardFactory, X: torch.Tensor, y: torch.Tensor, slices: list[np.ndarray],
                recipe: TrainRecipe, *, random_state: int, shard: int, start: int = 0, start_state: State | None = None,
                keep: bool = True) -> tuple[nn.Module, list[State]]:
    """Train shard ``shard`` from checkpoint ``start`` (``start_state``, or without it the shard's
    seeded initialisation) through stage ``R``; return the model and the checkpoints ``start + 1..R``
    (with ``keep``; without ``start_state``, checkpoint 0 first)."""
    model = make_shard(shard_seed(random_state, shard, 0)).to(X.device)
    if start_state is not None:
        model.load_state_dict(start_state)
    states = [_state(model)] if keep and start_state is None else []
    for r, epochs in enumerate(stage_epochs(recipe.epochs, len(slices)), start=1):
        if r <= start:
            continue
        stage = TrainRecipe(**{**recipe.to_dict(), "epochs": epochs})
        train_sequential(model, X, y, stage, shard_seed(random_state, shard, r), rows=stage_rows(slices, r))
        if keep:
            states.append(_state(model))
    return model.eval(), states


def train_sisa(make_shard: ShardFactory, X: torch.Tensor, y: torch.Tensor, parts: list[list[np.ndarray]],
               recipe: TrainRecipe, cfg: SisaConfig, *, random_state: int, keep_checkpoints: bool = True,
               progress: Callable[[int, int], None] | None = None) -> SisaRun:
    """Train one SISA model on ``parts[k][r]`` (rows of ``X``/``y``, see
    :func:`~muaudit.sisa.config.partition`); ``progress(shards done, shards)`` after each shard.

    Example:
        >>> from muaudit.sisa.config import partition
        >>> X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
        >>> cfg = SisaConfig(shards=2, slices=2)
        >>> run = train_sisa(lambda s: torch.nn.Linear(4, 3), X, y, partition(range(40), cfg, random_state=0),
        ...                  TrainRecipe(epochs=3, batch_size=8), cfg, random_state=0)
        >>> len(run.checkpoints), len(run.checkpoints[0]), run.sample_gradients
        (2, 3, [60, 60])
    """
    t0 = time.perf_counter()
    shards, checkpoints, costs = [], [], []
    for k, slices in enumerate(parts):
        model, states = train_shard(make_shard, X, y, slices, recipe, random_state=random_state, shard=k, keep=keep_checkpoints)
        shards.append(model)
        checkpoints.append(states)
        costs.append(stage_cost(slices, recipe.epochs))
        if progress is not None:
            progress(k + 1, len(parts))
    model = SISAModel(shards, cfg.aggregation).to(X.device)
    set_active(model, parts)
    return SisaRun(model.eval(), checkpoints if keep_checkpoints else None, costs, time.perf_counter() - t0)


def set_active(model: SISAModel, parts: list[list[np.ndarray]]) -> None:
    """Mark the shards that hold no example at all inactive (they take no part in predictions)."""
    sizes = [sum(len(s) for s in slices) for slices in parts]
    model.active.copy_(torch.tensor([1.0 if n else 0.0 for n in sizes]))
