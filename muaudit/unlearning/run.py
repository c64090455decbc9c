"""Running a method with cost accounting and a compute budget, and evaluating the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from muaudit.checks import renamed_keyword
from muaudit.errors import ConfigError, DataError
from muaudit.unlearning.base import MethodConfig, UnlearnData, UnlearningMethod, get_method, make_config
from muaudit.unlearning.cost import metered


@dataclass
class UnlearnResult:
    """What :func:`run_unlearning` returns.

    Attributes:
        model: the new model (eval mode).
        config: the resolved config dataclass.
        cost: ``{"seconds", "sample_gradients", "budget_sample_gradients", "truncated"}``.
    """

    model: nn.Module
    config: MethodConfig
    cost: dict


def training_sample_gradients(meta: dict) -> int:
    """Sample-gradients of the original training: ``recipe.epochs x len(train_idx)``."""
    try:
        return int(meta["recipe"]["epochs"]) * len(meta["train_idx"])
    except (KeyError, TypeError):
        raise ConfigError("a budget needs checkpoint meta with `recipe.epochs` and `train_idx`") from None


def budget_limit(meta: dict, budget: float) -> int:
    """The sample-gradient cap for ``budget`` = a fraction of the original training's compute."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < float("inf"):
        raise ConfigError(f"Expected `budget` > 0 (a fraction of the original training), got {budget!r}")
    return int(budget * training_sample_gradients(meta))


def run_unlearning(method: str | UnlearningMethod, model: nn.Module, forget: UnlearnData, retain: UnlearnData, *,
                   config: MethodConfig | dict | None = None, random_state: int = 0, meta: dict | None = None,
                   budget: float | None = None, max_sample_gradients: int | None = None,
                   progress: Callable[[int, int], None] | None = None, seed: int | None = None) -> UnlearnResult:
    """Run ``method`` on ``model``; return the new model, resolved config and measured cost.

    Args:
        method: a registered name (``"ng+"``) or a method instance.
        config: a config dataclass, or a dict of overrides of the defaults.
        random_state: seeds the method's ``torch.Generator`` (same seed, same model).
        seed: the deprecated name of ``random_state`` (a DeprecationWarning; goes in the next release).
        meta: checkpoint meta; gives ``retrain`` its recipe and ``budget`` its reference.
        budget: at most this fraction of the original training's sample-gradients
            (``meta["recipe"]["epochs"] x len(meta["train_idx"])``); training loops stop there.
        max_sample_gradients: an absolute cap instead of ``budget``.
        progress: called as ``progress(sample_gradients_so_far, cap or 0)`` while the method trains.

    Example:
        >>> X, y = torch.randn(40, 8), torch.randint(0, 3, (40,))
        >>> forget, retain = UnlearnData(X[:10], y[:10]), UnlearnData(X[10:], y[10:])
        >>> res = run_unlearning("ga", torch.nn.Linear(8, 3), forget, retain, config={"epochs": 1})
        >>> res.cost["sample_gradients"] == len(forget), res.config.epochs
        (True, 1)
    """
    method = get_method(method) if isinstance(method, str) else method
    if not isinstance(config, MethodConfig):
        config = make_config(method, config, meta=meta)
    if not len(retain):
        raise DataError("the retain set is empty: the forget set covers the whole training set")
    limit = max_sample_gradients if budget is None else budget_limit(meta or {}, budget)
    random_state = renamed_keyword("run_unlearning", "seed", seed, "random_state", random_state, default=0)
    generator = torch.Generator().manual_seed(int(random_state))
    with metered(limit, progress=progress) as meter:
        new = method(model, forget, retain, config=config, random_state=generator)
        cost = meter.report()
    return UnlearnResult(new, config, cost)


@torch.no_grad()
def accuracy(model: nn.Module, data: UnlearnData | None, *, batch_size: int = 2048) -> float:
    """Top-1 accuracy in eval mode (NaN for no data); the model's mode is restored."""
    if data is None or not len(data):
        return float("nan")
    was = model.training
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    right = sum(int((model(data.X[s:s + batch_size].to(dev)).argmax(1).cpu() == data.y[s:s + batch_size].cpu()).sum())
                for s in range(0, len(data), batch_size))
    model.train(was)
    return right / len(data)
