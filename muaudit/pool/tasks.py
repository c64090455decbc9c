"""The pool build's pure task: one chunk of shadows in, their finished rows out.

A chunk is one ensemble's worth of base shadows (one shadow for the sequential engine). The
task trains (or receives the saved weights of) its base shadows, runs the recipe's
``[[unlearn]]`` entries and exact retrains on them, and returns every row; it reads no pool file
and writes nothing, so it runs the same in this process or on a Ray worker. The driver commits.
"""

from __future__ import annotations

from pathlib import Path

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from muaudit.pool.spec import PoolSpec
from muaudit.training import predict_logits, select_device, train_models
from muaudit.training.predict import predict_many


@dataclass(frozen=True)
class BuildContext:
    """What every task of a build shares (sent once, through Ray's object store under Ray).

    ``X [N, ...] float32``, ``y [N]``, ``split [N]``: the population; ``keep [M, N]``,
    ``seeds [M]``: the pool's design; ``forgets``: ``{group path: forget [M, N]}``.
    """

    spec: PoolSpec
    X: np.ndarray
    y: np.ndarray
    split: np.ndarray
    keep: np.ndarray
    seeds: np.ndarray
    forgets: dict
    engine: str
    input_shape: tuple
    n_classes: int
    device: str | None = None

    def make(self, seed: int) -> torch.nn.Module:
        return self.spec.make_model(int(seed), self.input_shape, self.n_classes)


@dataclass
class ChunkTask:
    """One chunk: ``train`` base shadows to train from their seeds (``new`` of them not stored
    yet), ``stored`` base shadows given as ``{m: checkpoint path}`` (read by the task: on a
    cluster the pool directory must be on a shared filesystem, else they are retrained), ``check`` stored logits of done
    shadows, and the pending ``unlearn`` entry names / ``retrain`` group paths per shadow."""

    train: list[int]
    new: list[int]
    stored: dict[int, str] = field(default_factory=dict)
    check: dict[int, np.ndarray] = field(default_factory=dict)
    unlearn: dict[int, list[str]] = field(default_factory=dict)
    retrain: dict[int, list[str]] = field(default_factory=dict)
    return_weights: bool = False

    @property
    def models(self) -> list[int]:
        return sorted(set(self.train) | set(self.stored) | set(self.unlearn) | set(self.retrain))


@dataclass
class ChunkResult:
    """``rows``: ``{"": {m: (logits, seconds)}, group: {m: (logits, seconds, sample_gradients)}}``;
    ``weights``: CPU state dicts of trained base shadows (when asked); ``warnings``: messages;
    ``deferred``: ``{m: (model, seconds)}``, new base shadows whose logits :func:`finish_chunk`
    still has to compute (only from ``run_chunk(..., defer_prediction=True)``)."""

    rows: dict
    weights: dict
    warnings: list
    deferred: dict = field(default_factory=dict)


def run_chunk(ctx: BuildContext, task: ChunkTask, *, defer_prediction: bool = False) -> ChunkResult:
    """Train, unlearn and retrain one chunk; return its rows (a pure function of its inputs).

    ``defer_prediction`` (in-process builds): the logits of a chunk without ``[[unlearn]]`` work
    are left to :func:`finish_chunk`, which the build runs in another thread while the next chunk
    trains (prediction draws no random numbers, so the rows are the same)."""
    from muaudit.pool.unlearned import ChunkUnlearner

    dev = select_device(ctx.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Ray's object store hands out read-only arrays
        X, y = torch.as_tensor(ctx.X).to(dev), torch.as_tensor(ctx.y).to(dev)
    notes: list[str] = []
    defer = defer_prediction and not (task.unlearn or task.retrain)
    models, base_rows, weights, deferred = _base_models(ctx, task, X, y, notes, defer=defer)
    rows = {"": base_rows}
    if task.unlearn or task.retrain:
        rows.update(ChunkUnlearner(ctx, X, y).rows(models, task.unlearn, task.retrain))
    return ChunkResult(rows, weights, notes, deferred)


def finish_chunk(ctx: BuildContext, res: ChunkResult) -> ChunkResult:
    """``res`` with the logits of its deferred shadows computed (in one pass over the data)."""
    if res.deferred:
        ms = sorted(res.deferred)
        logits = predict_many([res.deferred[m][0] for m in ms], ctx.X, views=ctx.spec.views)
        res.rows[""].update({m: (lg, res.deferred[m][1]) for m, lg in zip(ms, logits)})
        res.deferred = {}
    return res


def _base_models(ctx: BuildContext, task: ChunkTask, X, y, notes: list[str], *, defer: bool = False):
    models, rows, weights, deferred = {}, {}, {}, {}
    train = list(task.train)
    for m, ckpt in task.stored.items():
        model = _load_weights(ctx, ckpt, X.device)
        if model is None:
            notes.append(f"cannot read {ckpt}; retraining shadow {m} from its seed")
            train.append(m)
        elif float(np.abs(task.check[m] - predict_logits(model, X, views=ctx.spec.views)).max()) > 1e-4:
            notes.append(f"{ckpt} does not reproduce shadow {m}'s stored logits; retraining it from its seed")
            train.append(m)
        else:
            models[m] = model
    if not train:
        return models, rows, weights, deferred
    keep_rows = [np.flatnonzero(ctx.keep[m]) for m in train]
    t0 = time.perf_counter()
    for chunk in shadow_trainer(ctx, train)(ctx.make, X, y, keep_rows, [int(ctx.seeds[m]) for m in train], ctx.spec.train,
                              engine=ctx.engine, ensemble_size=ctx.spec.ensemble_size):
        seconds = (time.perf_counter() - t0) / len(chunk)
        ms = [train[i] for i, _ in chunk]
        models.update((train[i], model) for i, model in chunk)
        if task.return_weights:
            weights.update((m, {k: v.detach().cpu().clone() for k, v in models[m].state_dict().items()}) for m in ms)
        if defer and all(m in task.new for m in ms):
            deferred.update((m, (models[m], seconds)) for m in ms)
        else:
            for m, logits in zip(ms, predict_many([models[m] for m in ms], X, views=ctx.spec.views)):
                if m in task.new:
                    rows[m] = (logits, seconds)
                else:
                    _check_rebuilt(m, task.check[m], logits, notes)
        t0 = time.perf_counter()
    return models, rows, weights, deferred


def shadow_trainer(ctx: BuildContext, ids: list[int] = ()):
    """:func:`train_models`, or for a recipe with ``[sisa]`` the SISA shadows' trainer (shadows
    ``ids``, in the order trained, keep the stage checkpoints their ``[[unlearn]]`` forget sets need)."""
    if ctx.spec.sisa is None:
        return train_models
    from muaudit.sisa.pool import sisa_trainer

    forgets = [[np.flatnonzero(f[m]) for g, f in ctx.forgets.items() if g.startswith("unlearned/")] for m in ids]
    return sisa_trainer(ctx.spec, ctx.input_shape, ctx.n_classes, forgets=forgets)


def _load_weights(ctx: BuildContext, ckpt: str, device):
    """The saved shadow (weights only, never pickled objects), or None where the file is gone."""
    from muaudit.errors import CheckpointError, MuauditError, PoolError
    from muaudit.models import load_checkpoint

    try:  # the recipe the user passed (checked by load_spec), never the weights' meta, says what may be built
        return load_checkpoint(ckpt, arch=ctx.spec.model["arch"])[0].to(device).eval()
    except (CheckpointError, FileNotFoundError):
        return None
    except MuauditError as e:  # e.g. its meta names a factory the recipe does not: never built
        m = int(Path(ckpt).stem.lstrip("m") or 0)
        raise PoolError(f"{e}; delete {ckpt} to retrain shadow {m} from its seed") from None


def _check_rebuilt(m: int, stored: np.ndarray, logits: np.ndarray, notes: list[str]) -> None:
    """A base model retrained because its weights were not saved should match its stored logits."""
    diff = float(np.abs(stored - logits).max())
    if diff > 1e-3:
        notes.append(f"shadow {m} retrained from its seed differs from its stored logits by up to {diff:.2g}; "
                     "its unlearned models start from the retrained weights")
