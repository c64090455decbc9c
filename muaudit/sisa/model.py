"""The SISA model: shard models whose predictions are aggregated, as one ``nn.Module``.

Its output is a logit vector whose softmax is the aggregate, so every prediction and audit path
(phi, LiRA, RMIA, accuracy) treats it like any other model:

- ``"mean"``: ``log`` of the mean of the active shard models' softmax probabilities (computed
  with ``logsumexp``, finite for finite inputs);
- ``"vote"``: ``log((votes_c + 1/C) / (S + 1))`` where ``votes_c`` counts the active shard models
  whose top label is ``c``: the vote share with one extra vote spread evenly, so no class has
  probability 0 (the top label is the vote winner; ties go to the lower class index).

A shard that lost every example to unlearning is inactive (buffer ``active``) and left out.

Example:
    >>> import torch
    >>> m = SISAModel([torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)], "vote")
    >>> torch.allclose(m(torch.zeros(2, 4)).exp().sum(1), torch.ones(2))
    True
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from muaudit.errors import CheckpointError, ConfigError


class SISAModel(nn.Module):
    """``len(shards)`` shard models aggregated by ``aggregation`` (``"mean"`` or ``"vote"``)."""

    def __init__(self, shards: list[nn.Module], aggregation: str = "mean"):
        super().__init__()
        if aggregation not in ("mean", "vote"):
            raise ConfigError(f"Expected `aggregation` in ('mean', 'vote'), got {aggregation!r}")
        self.shards = nn.ModuleList(shards)
        self.aggregation = aggregation
        self.register_buffer("active", torch.ones(len(shards)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = [m for m, a in zip(self.shards, self.active.tolist()) if a > 0]
        if not on:
            raise ConfigError("every shard of this SISA model is inactive (all its examples were unlearned)")
        logits = torch.stack([m(x) for m in on])  # [S, B, C]
        if self.aggregation == "mean":
            return torch.logsumexp(F.log_softmax(logits, -1), 0) - math.log(len(on))
        c = logits.shape[-1]
        votes = F.one_hot(logits.argmax(-1), c).sum(0).to(logits.dtype)
        return torch.log((votes + 1.0 / c) / (len(on) + 1))


def config_from_meta(sisa, source):
    """The :class:`~muaudit.sisa.config.SisaConfig` a checkpoint's ``meta["sisa"]`` names, checked."""
    from muaudit.sisa.config import SisaConfig

    if not isinstance(sisa, dict):
        raise CheckpointError(f"{source}: meta 'sisa' must be a dict, got {type(sisa).__name__}")
    try:
        return SisaConfig.from_options({k: sisa.get(k) for k in ("shards", "slices", "aggregation")},
                                       owner=f"{source} meta 'sisa'")
    except ConfigError as e:
        raise CheckpointError(f"{source}: meta 'sisa': {e}") from None


def sisa_from_meta(sisa, make_shard: Callable[[], nn.Module], source) -> SISAModel:
    """The (untrained) SISA model a checkpoint's ``meta["sisa"]`` describes, after checking it."""
    cfg = config_from_meta(sisa, source)
    return SISAModel([make_shard() for _ in range(cfg.shards)], cfg.aggregation)
