"""Training many models of one recipe: engine choice (by measurement) and chunked dispatch."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from muaudit.errors import ConfigError
from muaudit.training.device import bounded_ensemble_size, device_clock
from muaudit.training.ensemble import supports_ensemble, train_ensemble
from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import train_sequential

ModelFactory = Callable[[int], nn.Module]  # seed -> freshly initialised model


def train_models(make_model: ModelFactory, X: torch.Tensor, y: torch.Tensor, rows: list[np.ndarray],
                 seeds: list[int], recipe: TrainRecipe, *, engine: str = "sequential",
                 ensemble_size: int = 16) -> Iterator[list[tuple[int, nn.Module]]]:
    """Train one model per ``(rows[i], seeds[i])``; yield finished ``(i, model)`` chunks.

    ``engine`` is ``"sequential"`` or ``"ensemble"`` (resolve ``"auto"`` with
    :func:`choose_engine` first). ``X``/``y`` are tensors on the training device, where they stay.
    On a CUDA device the ensemble size is capped by free memory
    (:func:`~muaudit.training.device.bounded_ensemble_size`); the models are the same either way.
    """
    if engine not in ("sequential", "ensemble"):
        raise ConfigError(f"Expected `engine` in ('sequential', 'ensemble'), got {engine!r}")
    if engine == "ensemble" and len(rows):  # on a GPU: as many models as its free memory holds
        ensemble_size = bounded_ensemble_size(ensemble_size, make_model(seeds[0]), recipe.batch_size,
                                              recipe.optimizer, X.device)
    step = ensemble_size if engine == "ensemble" else 1
    for start in range(0, len(rows), step):
        ids = list(range(start, min(start + step, len(rows))))
        models = [make_model(seeds[i]).to(X.device) for i in ids]
        if engine == "ensemble":
            train_ensemble(models, X, y, [rows[i] for i in ids], recipe, [seeds[i] for i in ids])
        else:
            train_sequential(models[0], X, y, recipe, seeds[ids[0]], rows=np.asarray(rows[ids[0]]))
        yield list(zip(ids, models))


def choose_engine(make_model: ModelFactory, X: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe, *,
                  ensemble_size: int = 16, probe_steps: int = 6, rounds: int = 2) -> tuple[str, dict]:
    """Pick the faster engine for this model and machine by timing a few training steps of each.

    Returns ``(engine, info)`` where ``info`` has the measured samples per second per engine
    (best of ``rounds`` interleaved rounds; on CPU in CPU time, so other processes on the machine
    do not decide the choice; on CUDA in wall time read after ``torch.cuda.synchronize``, since
    kernels run after the call returns), or why the ensemble is unavailable. Models with BatchNorm/Dropout always train sequentially.
    """
    if not supports_ensemble(make_model(0)):
        return "sequential", {"reason": "model has BatchNorm/Dropout/normalisation layers"}
    if recipe.compile is not False or (recipe.precision != "fp32" and X.device.type == "cuda"):
        return "sequential", {"reason": "the recipe's precision / compile options apply to the sequential engine"}
    n = min(len(y), recipe.batch_size * probe_steps)
    probe = TrainRecipe(**{**recipe.to_dict(), "epochs": 1})
    rows = np.arange(n)
    sizes = {"sequential": 2, "ensemble": ensemble_size}
    for engine, k in sizes.items():  # warm-up (allocator, kernels)
        list(train_models(make_model, X, y, [rows[:recipe.batch_size]] * k, list(range(k)), probe,
                          engine=engine, ensemble_size=k))
    clock = device_clock(X.device)
    rates: dict[str, float] = {}
    for _ in range(rounds):  # interleaved rounds, best per engine, in CPU time: robust to other load
        for engine, k in sizes.items():
            t0 = clock()
            list(train_models(make_model, X, y, [rows] * k, list(range(k)), probe, engine=engine, ensemble_size=k))
            rate = round(k * n / max(clock() - t0, 1e-9), 1)
            rates[engine] = max(rates.get(engine, 0.0), rate)
    best = max(rates, key=rates.get)
    key = "samples_per_cpu_s" if X.device.type == "cpu" else "samples_per_s"
    return best, {key: rates}
