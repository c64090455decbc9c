"""Building, resuming, sharding and merging shadow-model pools."""

from __future__ import annotations

import functools
import json
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from muaudit.data import Dataset
from muaudit.errors import PoolError
from muaudit.pool.design import make_keep, model_seeds
from muaudit.pool.fileio import removing_on_failure
from muaudit.pool.spec import PoolSpec
from muaudit.pool.store import POOL_FILE, Pool, commit, commit_rows, create_groups, create_pool_file, pool_lock
from muaudit.execution import Executor, LocalExecutor
from muaudit.pool.tasks import BuildContext, ChunkResult, ChunkTask, finish_chunk, run_chunk
from muaudit.pool.unlearned import ensure_groups, pending_rows, stored_retrains
from muaudit.training import choose_engine, select_device

Progress = Callable[[int, int], None]  # (models done, models in this build)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"k/n"`` -> ``(k, n)`` with ``0 <= k < n``."""
    if text is None:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise PoolError(f"Expected --shard k/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= k < n:
        raise PoolError(f"Expected --shard k/n with 0 <= k < n, got {text!r}")
    return k, n


def shard_file(out: Path, shard: tuple[int, int] | None) -> Path:
    return out / (POOL_FILE if shard is None else f"shard-{shard[0]}-of-{shard[1]}.h5")


def build_pool(spec: PoolSpec, out, *, forget: np.ndarray | None = None, shard: tuple[int, int] | None = None,
               device=None, progress: Progress | None = None, executor: Executor | None = None,
               threads: int | None = None) -> Path:
    """Build (or resume) the pool of ``spec`` under directory ``out``; return the pool file.

    ``forget`` (positions in the training split) makes a forget-aware pool. ``shard=(k, n)`` builds
    only models ``m % n == k`` into ``out/shard-k-of-n.h5``. Chunks of shadows (one ensemble's
    worth) run as pure tasks on ``executor`` (a :mod:`muaudit.execution` executor: worker
    processes, Ray; default: this process, ``threads`` torch threads);
    this process alone commits each finished chunk atomically, so an interrupted build resumes
    where it stopped with identical arrays. ``progress(done, total)`` is called per finished model.
    With ``[[unlearn]]`` entries every shadow is also unlearned (and retrained) per entry, in
    the same commit as its base model; entries added to a built pool reuse its base models.
    """
    ds = spec.load_dataset()
    out = Path(out)
    path = shard_file(out, shard)
    pop = spec.population_rows(ds)
    ex = executor or LocalExecutor(threads=threads)
    with pool_lock(path):
        if not path.exists():
            _create(path, spec, ds, pop, forget, ex, device)
        pool = ensure_groups(path, _open_matching(path, spec, ds, forget), spec)
        ids = [m for m in range(pool.n_models) if (not pool.done[m] or any(pending_rows(pool, spec, m)))
               and (shard is None or m % shard[1] == shard[0])]
        step = spec.ensemble_size if pool.attrs["engine"] == "ensemble" else 1
        plans = [_plan(pool, spec, out, ids[s:s + step]) for s in range(0, len(ids), step)]
        ctx = BuildContext(spec=spec, X=_population_X(ds, pop), y=ds.y[pop], split=ds.split[pop],
                           keep=pool.keep, seeds=pool.seeds, forgets={n: g.forget for n, g in pool.groups.items()},
                           engine=pool.attrs["engine"], input_shape=tuple(ds.input_shape), n_classes=ds.n_classes,
                           device=None if device is None else str(device))
        if progress:
            progress(0, len(ids))
        done = [0]

        def store(i: int, res: ChunkResult, models: dict) -> None:  # in the writer thread, one chunk at a time
            _store(path, out, plans[i], res, models, ctx, ds, pop)
            for _ in plans[i][0].models:
                done[0] += 1
                if progress:
                    progress(done[0], len(ids))

        _pipeline(ex, [task for task, _ in plans], ctx, store)  # before the lock is released
    return path


def _pipeline(ex: Executor, tasks: list[ChunkTask], ctx: BuildContext, store: Callable) -> None:
    """Run the chunks on ``ex`` and ``store(i, result, models)`` each, as a pipeline: chunk i + 1
    trains while chunk i is predicted (in-process builds defer it to the predictor thread; worker
    processes and Ray workers predict themselves) and chunk i - 1 is committed (the writer thread; a commit mostly
    waits for the disk). At most two chunks wait behind the training; each is waited for in
    order, its error raised here, and nothing is committed after a failed chunk. Returns when the
    last commit is done."""
    fn = functools.partial(run_chunk, defer_prediction=True) if getattr(ex, "in_process", False) else run_chunk
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="muaudit-predict") as predictor, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="muaudit-commit") as writer:
        in_flight: deque = deque()
        for i, res in ex.map(fn, tasks, shared=ctx):
            for msg in res.warnings:
                warnings.warn(msg, stacklevel=4)
            while len(in_flight) > 1:
                in_flight.popleft().result()
            predicted = predictor.submit(finish_chunk, ctx, res)
            previous = in_flight[-1] if in_flight else None
            in_flight.append(writer.submit(_after, previous, store, i, predicted, _weight_models(ctx, res)))
        while in_flight:
            in_flight.popleft().result()


def _after(previous, store, i: int, predicted, models) -> None:
    """Commit chunk ``i`` once it is predicted, unless the commit before it failed (its error again:
    nothing is committed after a failed commit)."""
    if previous is not None:
        previous.result()
    store(i, predicted.result(), models)


def _population_X(ds: Dataset, pop: np.ndarray) -> np.ndarray:
    """The population's inputs: the dataset's own array when the population is every row in order
    (no copy of a CIFAR-sized dataset), else a contiguous copy of its rows."""
    if len(pop) == ds.n_samples and np.array_equal(pop, np.arange(ds.n_samples)):
        return ds.X
    return np.ascontiguousarray(ds.X[pop])


def _plan(pool: Pool, spec: PoolSpec, out: Path, ids: list[int]) -> tuple[ChunkTask, dict]:
    """The task of one chunk, and the rows the driver copies itself (retrains already stored)."""
    task = ChunkTask(train=[], new=[], return_weights=spec.save_weights or bool(spec.unlearn))
    copies: dict[str, dict[int, tuple]] = {}
    for m in ids:
        if not pool.done[m]:
            task.train.append(m)
            task.new.append(m)
        else:
            ckpt = out / "weights" / f"m{m:05d}.pt"
            task.check[m] = pool.logits([m])[0]
            if ckpt.is_file():
                task.stored[m] = str(ckpt)
            else:
                task.train.append(m)
        names, retrain = pending_rows(pool, spec, m)
        stored, retrain = stored_retrains(pool, spec, m, retrain)
        for p, row in stored.items():
            copies.setdefault(p, {})[m] = row
        if names:
            task.unlearn[m] = names
        if retrain:
            task.retrain[m] = retrain
    return task, copies


def _weight_models(ctx: BuildContext, res: ChunkResult) -> dict:
    """The chunk's returned weights as models, made here in the main thread: a model factory seeds
    torch's global generator, which the next chunk's training uses at the same time."""
    models = {}
    for m, state in res.weights.items():
        models[m] = ctx.make(ctx.seeds[m])
        models[m].load_state_dict(state)
    return models


def _store(path: Path, out: Path, plan: tuple[ChunkTask, dict], res: ChunkResult, models: dict, ctx: BuildContext,
           ds, pop) -> None:
    """Save the chunk's weights (``models``, see :func:`_weight_models`), then commit its rows (one
    writer: this process's commit thread). Touches no global state (no random generators)."""
    task, copies = plan
    for m, model in models.items():
        _save_weights(out, m, model, ctx.spec, ds, pop[np.flatnonzero(ctx.keep[m])], int(ctx.seeds[m]))
    rows = {g: dict(r) for g, r in res.rows.items()}
    for g, r in copies.items():
        rows.setdefault(g, {}).update(r)
    commit(path, {g: r for g, r in rows.items() if r or g == ""})


def _choose(shared, _task) -> tuple[str, dict, str]:
    """Task: the engine for this model on the worker's device (see :func:`choose_engine`)."""
    spec, X, y, input_shape, n_classes, device = shared
    dev = select_device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        Xt, yt = torch.as_tensor(X).to(dev), torch.as_tensor(y).to(dev)
    make = lambda s: spec.make_model(int(s), input_shape, n_classes)  # noqa: E731
    engine, info = choose_engine(make, Xt, yt, spec.train, ensemble_size=spec.ensemble_size)
    return engine, info, str(dev)


def _create(path, spec, ds, pop, forget, ex: Executor, device) -> None:
    engine, info, dev = spec.engine, {}, str(select_device(device))
    if spec.sisa is not None:  # SISA shadows train shard by shard, slice by slice (muaudit.sisa)
        engine, info = "sequential", {"reason": "SISA shadows: shard models train one at a time, slice by slice"}
    if engine == "auto":
        shared = (spec, _population_X(ds, pop), ds.y[pop], tuple(ds.input_shape), ds.n_classes,
                  None if device is None else str(device))
        engine, info, dev = next(iter(ex.map(_choose, [None], shared=shared)))[1]
    settings = _train_settings(spec, ds, dev, engine)
    forget_pop = None
    if forget is not None:
        forget_pop = np.flatnonzero(np.isin(pop, ds.train_idx[forget]))
    keep = make_keep(spec.n_models, len(pop), spec.seed, forget_pop)
    forget_mask = None if forget_pop is None else np.isin(np.arange(len(pop)), forget_pop)
    create_pool_file(path, spec_json=spec.to_json(), fingerprint=ds.fingerprint, population=pop,
                     labels=ds.y[pop], split=ds.split[pop], keep=keep, seeds=model_seeds(spec.seed, spec.n_models),
                     n_views=len(spec.view_names), n_classes=ds.n_classes, forget=forget_mask,
                     attrs={"engine": engine, "engine_info": json.dumps(info), "device": dev,
                            "train_settings": json.dumps(settings),
                            **({"dataset_info": json.dumps(ds.info)} if ds.info else {})})  # e.g. tabular scaling


def _train_settings(spec: PoolSpec, ds: Dataset, dev: str, engine: str) -> dict:
    """The precision / channels_last / compile the shadows train with on ``dev``
    (:func:`muaudit.training.accel.recorded`); a recipe option this device ignores is warned about."""
    from muaudit.training.accel import recorded

    settings = recorded(spec.train, spec.make_model(0, ds.input_shape, ds.n_classes), dev, engine)
    for msg in settings["notes"]:
        warnings.warn(msg, stacklevel=4)
    return settings


def _open_matching(path: Path, spec: PoolSpec, ds: Dataset, forget) -> Pool:
    pool = Pool(path)
    pool.check_dataset(ds)  # its fingerprint (computed once per Dataset), population, labels and split
    if pool.spec != json.loads(spec.to_json()):
        raise PoolError(f"pool {path} was built from a different recipe; build into another --out, "
                        "or delete it to rebuild")
    if (pool.forget is None) != (forget is None) or (
            forget is not None and not np.array_equal(np.flatnonzero(pool.forget), np.flatnonzero(np.isin(pool.population, ds.train_idx[forget])))):
        raise PoolError(f"pool {path} was built with a different --forget set; build into another --out")
    return pool


def _save_weights(out: Path, m: int, model, spec: PoolSpec, ds: Dataset, rows: np.ndarray, seed: int) -> None:
    from muaudit.models import save_checkpoint
    from muaudit.training.single import model_meta

    meta = model_meta(arch=spec.model["arch"], arch_kwargs=spec.arch_kwargs, dataset=ds, train_idx=[],
                      seed=seed, recipe=spec.train, dataset_rows=[int(r) for r in rows], pool_model=m,
                      **({} if spec.sisa is None else {"sisa": spec.sisa.to_dict()}))
    with removing_on_failure(out / "weights" / f".m{m:05d}.pt.tmp"):  # a full disk leaves no temporary
        save_checkpoint(out / "weights" / f"m{m:05d}.pt", model, meta)  # copies the weights to CPU


def merge_pools(out, shards: list) -> Path:
    """Join shard files (same recipe, data, keep matrix and seeds) into ``out/pool.h5``."""
    if not shards:
        raise PoolError("pool merge needs at least one shard")
    pools = [Pool(s) for s in shards]
    first = pools[0]
    for p in pools[1:]:
        for what, a, b in (("recipe", p.spec, first.spec), ("dataset fingerprint", p.fingerprint, first.fingerprint)):
            if a != b:
                raise PoolError(f"cannot merge {p.path} with {first.path}: different {what}")
        differ = [k for k in first.parts[""] if p.parts[""].get(k) != first.parts[""][k]]  # keep, seeds, labels, ...
        if differ:
            raise PoolError(f"cannot merge {p.path} with {first.path}: different {', '.join(differ)}")
    owners = np.stack([p.done for p in pools]).sum(0)
    if (owners > 1).any():
        raise PoolError(f"cannot merge: model {int(np.argmax(owners > 1))} is done in more than one shard")
    path = Path(out) / POOL_FILE
    with pool_lock(path):
        if path.exists():
            raise PoolError(f"{path} already exists; merge into an empty --out directory")
        create_pool_file(path, spec_json=json.dumps(first.spec, sort_keys=True), fingerprint=first.fingerprint,
                         population=first.population, labels=first.labels, split=first.split, keep=first.keep,
                         seeds=first.seeds, n_views=first.logits_shape[2], n_classes=first.logits_shape[3],
                         forget=first.forget, attrs={k: first.attrs[k] for k in ("engine", "engine_info", "device", "dataset_info", "train_settings") if k in first.attrs})
        for p in pools:
            ms = np.flatnonzero(p.done)
            if len(ms):
                commit_rows(path, {int(m): (lg, float(p.seconds[m])) for m, lg in zip(ms, p.logits(ms))})
        _merge_groups(path, pools)
    return path


def _merge_groups(path: Path, pools: list[Pool]) -> None:
    """Union of the shards' unlearned / retrain groups (same entry and forget matrix where shared)."""
    groups = {}
    for p in pools:
        for name, g in p.groups.items():
            first = groups.setdefault(name, g)
            if first.entry != g.entry or not np.array_equal(first.forget, g.forget):
                raise PoolError(f"cannot merge {p.path}: its group {name} differs from another shard's")
    if not groups:
        return
    create_groups(path, {n: (g.forget, g.attrs) for n, g in groups.items()})
    for p in pools:
        rows = {}
        for name, g in p.groups.items():
            ms = np.flatnonzero(g.done)
            rows[name] = {int(m): (lg, float(g.seconds[m]), int(g.sample_gradients[m]))
                          for m, lg in zip(ms, p.logits(ms, group=name))}
        commit(path, rows)
