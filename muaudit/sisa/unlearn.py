"""SISA unlearning: retrain exactly the shards that held a forget example, from the checkpoint
taken before the first slice that held one; every other shard and checkpoint stays as it was.

Example:
    >>> import torch
    >>> from muaudit.sisa.config import SisaConfig, partition
    >>> from muaudit.sisa.train import train_sisa
    >>> from muaudit.training.recipe import TrainRecipe
    >>> X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    >>> cfg, recipe = SisaConfig(shards=2, slices=2), TrainRecipe(epochs=3, batch_size=8)
    >>> make = lambda s: torch.nn.Linear(4, 3)
    >>> parts = partition(range(40), cfg, random_state=0)
    >>> run = train_sisa(make, X, y, parts, recipe, cfg, random_state=0)
    >>> res = unlearn_sisa(make, X, y, parts, run.checkpoints, recipe, cfg, random_state=0, forget=[int(parts[1][1][0])])
    >>> res.record["retrained"], res.record["sample_gradients"]
    ([{'shard': 1, 'from_slice': 2, 'stages': [2]}], 38)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from muaudit.errors import DataError
from muaudit.sisa.config import SisaConfig, drop, shard_seed
from muaudit.sisa.model import SISAModel
from muaudit.sisa.train import ShardFactory, set_active, stage_cost, train_shard
from muaudit.training.recipe import TrainRecipe


@dataclass
class SisaUnlearnResult:
    """``model`` (eval mode), the new ``parts`` and ``checkpoints``, and the ``record`` of what was
    retrained (``retrained``: shard, first retrained slice and stages per affected shard) and its
    cost (``sample_gradients``, ``seconds``) beside a full SISA retrain and a single-model retrain."""

    model: SISAModel
    parts: list[list[np.ndarray]]
    checkpoints: list[list[dict]]
    record: dict


def first_slices(parts: list[list[np.ndarray]], forget) -> dict[int, int]:
    """``{shard: first slice (1-based) holding a forget row}`` for the shards that hold one."""
    forget = np.asarray(forget, np.int64)
    hits = {}
    for k, slices in enumerate(parts):
        held = [r for r, s in enumerate(slices, start=1) if np.isin(s, forget).any()]
        if held:
            hits[k] = held[0]
    return hits


def unlearn_sisa(make_shard: ShardFactory, X: torch.Tensor, y: torch.Tensor, parts: list[list[np.ndarray]],
                 checkpoints: list[list[dict]], recipe: TrainRecipe, cfg: SisaConfig, *, random_state: int,
                 forget) -> SisaUnlearnResult:
    """Remove the rows ``forget`` (rows of ``X``, all in ``parts``) from a SISA model trained with
    :func:`~muaudit.sisa.train.train_sisa` (same ``make_shard``, ``recipe``, ``cfg`` and ``random_state``)."""
    forget = np.unique(np.asarray(forget, np.int64))
    held = np.concatenate([s for slices in parts for s in slices])
    missing = forget[~np.isin(forget, held)]
    if missing.size:
        raise DataError(f"row {int(missing[0])} of the forget set is in no shard of this SISA model")
    t0 = time.perf_counter()
    hits, new_parts = first_slices(parts, forget), drop(parts, forget)
    shards: list[nn.Module] = []
    new_ckpts, retrained, cost = [list(states) for states in checkpoints], [], 0
    for k in range(len(parts)):
        if k in hits:
            r0 = hits[k]
            model, states = train_shard(make_shard, X, y, new_parts[k], recipe, random_state=random_state, shard=k, start=r0 - 1,
                                        start_state=checkpoints[k][r0 - 1])
            new_ckpts[k] = list(checkpoints[k][:r0]) + states
            cost += stage_cost(new_parts[k], recipe.epochs, start=r0 - 1)
            retrained.append({"shard": k, "from_slice": r0, "stages": list(range(r0, cfg.slices + 1))})
        else:
            model = make_shard(shard_seed(random_state, k, 0)).to(X.device)
            model.load_state_dict(checkpoints[k][-1])
        shards.append(model.eval())
    sisa = SISAModel(shards, cfg.aggregation).to(X.device)
    set_active(sisa, new_parts)
    n_retain = sum(len(s) for slices in new_parts for s in slices)
    full = sum(stage_cost(slices, recipe.epochs) for slices in new_parts)
    record = {"retrained": retrained, "shards_retrained": len(retrained), "shards": cfg.shards,
              "sample_gradients": int(cost), "seconds": time.perf_counter() - t0,
              "full_sisa_retrain_sample_gradients": int(full),
              "single_model_retrain_sample_gradients": int(recipe.epochs * n_retain),
              "speedup_vs_sisa_retrain": _ratio(full, cost),
              "speedup_vs_single_retrain": _ratio(recipe.epochs * n_retain, cost)}
    return SisaUnlearnResult(sisa.eval(), new_parts, new_ckpts, record)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None
