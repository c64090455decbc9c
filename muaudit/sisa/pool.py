"""SISA shadows for a pool build, and their SISA unlearning (``[[unlearn]] method = "sisa"``).

Every shadow is a SISA model of the recipe's ``[sisa]`` section (the same S, R and aggregation as
the target), its partition drawn from the shadow's own seed over the rows it keeps. A shadow
that ``[[unlearn]]`` entries will unlearn from keeps, in memory and only until its unlearned
copies are made, the stage checkpoints that SISA unlearning of its forget sets starts from (for
each shard, the checkpoint before the first slice holding a forget row: at most S per forget
set, not S x (R + 1)); :func:`unlearn_shadow` then retrains exactly the affected shards
(:func:`~muaudit.sisa.unlearn.unlearn_sisa`), so the unlearned shadow equals, bit for bit, the
shadow trained without its forget set with the same partition and seeds. Nothing of this is
written to the pool but the logits (and, with ``save_weights``, the SISA model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from muaudit.sisa.config import partition
from muaudit.sisa.model import SISAModel
from muaudit.sisa.target import shard_factory
from muaudit.sisa.train import set_active, stage_cost, train_shard
from muaudit.sisa.unlearn import SisaUnlearnResult, first_slices, unlearn_sisa

HISTORY = "sisa_history"  # attribute of a shadow's SISAModel in memory (not part of its state dict)


@dataclass
class ShadowHistory:
    """What SISA unlearning of a shadow needs from its training: ``parts`` (its partition of the
    population rows it kept), ``states[k]`` (``{stage: state dict}`` kept for shard ``k``) and the
    ``sample_gradients`` the shadow's training took."""

    parts: list[list[np.ndarray]]
    states: list[dict[int, dict]]
    sample_gradients: int


def needed_stages(parts: list[list[np.ndarray]], forgets) -> list[set[int]]:
    """Per shard, the stage checkpoints that unlearning each forget set in ``forgets`` starts from.

    Example:
        >>> parts = [[np.array([0, 1]), np.array([2, 3])], [np.array([4]), np.array([5])]]
        >>> needed_stages(parts, [np.array([3]), np.array([1, 5])])
        [{0, 1}, {1}]
    """
    need: list[set[int]] = [set() for _ in parts]
    for f in forgets:
        for k, r0 in first_slices(parts, f).items():
            need[k].add(r0 - 1)
    return need


def train_shadow(make, X: torch.Tensor, y: torch.Tensor, rows, random_state: int, spec, recipe=None,
                 forgets=()) -> SISAModel:
    """One SISA shadow on population ``rows`` (as :func:`~muaudit.sisa.train.train_sisa` trains it),
    keeping the stage checkpoints :func:`needed_stages` names for ``forgets`` (arrays of rows); its
    :class:`ShadowHistory` is the model's attribute ``sisa_history``."""
    recipe = spec.train if recipe is None else recipe
    parts = partition(np.asarray(rows, np.int64), spec.sisa, random_state=int(random_state))
    need = needed_stages(parts, forgets)
    shards, states, cost = [], [], 0
    for k, slices in enumerate(parts):
        model, kept = train_shard(make, X, y, slices, recipe, random_state=int(random_state), shard=k, keep=bool(need[k]))
        shards.append(model)
        states.append({r: kept[r] for r in need[k]})  # kept[r]: the state after stage r (0 = initialisation)
        cost += stage_cost(slices, recipe.epochs)
    sisa = SISAModel(shards, spec.sisa.aggregation).to(X.device)
    set_active(sisa, parts)
    setattr(sisa, HISTORY, ShadowHistory(parts, states, int(cost)))
    return sisa.eval()


def sisa_trainer(spec, input_shape, n_classes: int, forgets=None):
    """A function with :func:`muaudit.training.train_models`'s signature that trains SISA shadows
    (one at a time, shard by shard with the sequential engine; ``make_model`` and the engine
    arguments are not used). ``forgets[i]``: the forget sets (arrays of population rows) the
    ``i``-th shadow will be unlearned from (its needed stage checkpoints are kept)."""
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, input_shape, n_classes)

    def train(_make_model, X: torch.Tensor, y: torch.Tensor, rows: list[np.ndarray], seeds: list[int], recipe,
              **_engine) -> Iterator[list[tuple[int, nn.Module]]]:
        for i, (r, seed) in enumerate(zip(rows, seeds)):
            yield [(i, train_shadow(make, X, y, r, seed, spec, recipe, forgets[i] if forgets else ()))]

    return train


def trained_cost(model: nn.Module, default: int) -> int:
    """The sample-gradients a SISA shadow's training took (``default`` for another model)."""
    history = getattr(model, HISTORY, None)
    return default if history is None else history.sample_gradients


def unlearn_shadow(spec, input_shape, n_classes: int, X: torch.Tensor, y: torch.Tensor, model: nn.Module,
                   rows, random_state: int, forget) -> SisaUnlearnResult:
    """SISA unlearning of the population rows ``forget`` from shadow ``model`` (trained on ``rows``
    from ``random_state``). A shadow without the stage checkpoints it needs (read back from ``weights/``
    when a build resumes) is trained again from its seed first, which gives the same shadow."""
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, input_shape, n_classes)
    forget = np.asarray(forget, np.int64)
    history = getattr(model, HISTORY, None)
    if history is None or any(r0 - 1 not in history.states[k] for k, r0 in first_slices(history.parts, forget).items()):
        model = train_shadow(make, X, y, rows, random_state, spec, forgets=[forget])
        history = getattr(model, HISTORY)
    slices = spec.sisa.slices
    checkpoints = [[history.states[k].get(r) for r in range(slices)]
                   + [{n: t.detach().clone() for n, t in shard.state_dict().items()}]
                   for k, shard in enumerate(model.shards)]  # only the stages unlearn_sisa starts from are used
    return unlearn_sisa(make, X, y, history.parts, checkpoints, spec.train, spec.sisa, random_state=int(random_state), forget=forget)
