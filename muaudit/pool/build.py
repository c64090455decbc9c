"""Building, resuming, sharding and merging shadow-model pools."""

from __future__ import annotations

import json
import time
import warnings
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
from muaudit.pool.unlearned import ChunkUnlearner, ensure_groups, pending
from muaudit.training import choose_engine, predict_logits, select_device, train_models

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


def population_rows(spec: PoolSpec, ds: Dataset) -> np.ndarray:
    return np.arange(ds.n_samples) if spec.population == "all" else ds.train_idx


def build_pool(spec: PoolSpec, out, *, forget: np.ndarray | None = None, shard: tuple[int, int] | None = None,
               device=None, progress: Progress | None = None) -> Path:
    """Build (or resume) the pool of ``spec`` under directory ``out``; return the pool file.

    ``forget`` (positions in the training split) makes a forget-aware pool. ``shard=(k, n)`` builds
    only models ``m % n == k`` into ``out/shard-k-of-n.h5``. Finished models are committed
    atomically, so an interrupted build resumes where it stopped with identical arrays.
    With ``[[unlearn]]`` entries every shadow is also unlearned (and retrained) per entry, in
    the same commit as its base model; entries added to a built pool reuse its base models.
    """
    ds = spec.load_dataset()
    out = Path(out)
    path = shard_file(out, shard)
    dev = select_device(device)
    pop = population_rows(spec, ds)
    X = torch.as_tensor(ds.X[pop], device=dev)
    y = torch.as_tensor(ds.y[pop], device=dev)
    make = lambda s: spec.make_model(int(s), ds.input_shape, ds.n_classes)  # noqa: E731
    with pool_lock(path):
        if not path.exists():
            _create(path, spec, ds, pop, forget, X, y, make)
        pool = ensure_groups(path, _open_matching(path, spec, ds, forget), spec)
        ids = [m for m in range(pool.n_models) if (not pool.done[m] or pending(pool, spec, m))
               and (shard is None or m % shard[1] == shard[0])]
        engine = pool.attrs["engine"]
        unlearner = ChunkUnlearner(pool, spec, X, y, make, engine)
        step = spec.ensemble_size if engine == "ensemble" else 1
        if progress:
            progress(0, len(ids))
        for start in range(0, len(ids), step):
            chunk = ids[start:start + step]
            models, rows = _base_models(chunk, pool, spec, ds, pop, out, X, y, make, engine)
            commit(path, {"": rows, **(unlearner.rows(models) if spec.unlearn else {})})
            if progress:
                progress(start + len(chunk), len(ids))
    return path


def _base_models(ids, pool: Pool, spec: PoolSpec, ds, pop, out: Path, X, y, make, engine):
    """The chunk's base models in memory: trained if not done (their rows returned for commit),
    else loaded from ``weights/`` (when they reproduce the stored logits), else retrained
    deterministically from their seeds."""
    models, rows, train = {}, {}, []
    for m in ids:
        model = _load_weights(out, m, pool, X, spec.views) if pool.done[m] else None
        if model is not None:
            models[m] = model
        else:
            train.append(m)
    if not train:
        return models, rows
    keep_rows = [np.flatnonzero(pool.keep[m]) for m in train]
    t0 = time.perf_counter()
    for chunk in train_models(make, X, y, keep_rows, [int(pool.seeds[m]) for m in train], spec.train,
                              engine=engine, ensemble_size=spec.ensemble_size):
        seconds = (time.perf_counter() - t0) / len(chunk)
        for i, model in chunk:
            m = train[i]
            models[m] = model
            logits = predict_logits(model, X, n_views=spec.views)
            if pool.done[m]:
                _check_rebuilt(pool, m, logits)
            else:
                rows[m] = (logits, seconds)
            if spec.save_weights or spec.unlearn:
                _save_weights(out, m, model, spec, ds, pop[keep_rows[i]], int(pool.seeds[m]))
        t0 = time.perf_counter()
    return models, rows


def _load_weights(out: Path, m: int, pool: Pool, X, views: int):
    """Shadow m's saved weights, or None if missing or not the model whose logits the pool holds."""
    from muaudit.models import load_checkpoint

    ckpt = out / "weights" / f"m{m:05d}.pt"
    if not ckpt.is_file():
        return None
    # the recipe names the architecture: a user factory is trusted because the recipe names it
    model = load_checkpoint(ckpt, arch=pool.spec["model"]["arch"])[0].to(X.device).eval()
    if float(np.abs(pool.logits([m])[0] - predict_logits(model, X, n_views=views)).max()) > 1e-4:
        warnings.warn(f"{ckpt} does not reproduce shadow {m}'s stored logits; retraining it from its seed", stacklevel=3)
        return None
    return model


def _check_rebuilt(pool: Pool, m: int, logits: np.ndarray) -> None:
    """A base model retrained because its weights were not saved should match its stored logits."""
    diff = float(np.abs(pool.logits([m])[0] - logits).max())
    if diff > 1e-3:
        warnings.warn(f"shadow {m} retrained from its seed differs from its stored logits by up to {diff:.2g}; "
                      "its unlearned models start from the retrained weights", stacklevel=3)


def _create(path, spec, ds, pop, forget, X, y, make) -> None:
    engine, info = spec.engine, {}
    if engine == "auto":
        engine, info = choose_engine(make, X, y, spec.train, ensemble_size=spec.ensemble_size)
    forget_pop = None
    if forget is not None:
        forget_pop = np.flatnonzero(np.isin(pop, ds.train_idx[forget]))
    keep = make_keep(spec.n_models, len(pop), spec.seed, forget_pop)
    forget_mask = None if forget_pop is None else np.isin(np.arange(len(pop)), forget_pop)
    create_pool_file(path, spec_json=spec.to_json(), fingerprint=ds.fingerprint, population=pop,
                     labels=ds.y[pop], split=ds.split[pop], keep=keep, seeds=model_seeds(spec.seed, spec.n_models),
                     n_views=spec.views, n_classes=ds.n_classes, forget=forget_mask,
                     attrs={"engine": engine, "engine_info": json.dumps(info), "device": str(X.device)})


def _open_matching(path: Path, spec: PoolSpec, ds: Dataset, forget) -> Pool:
    pool = Pool(path)
    pool.check_fingerprint(ds.fingerprint)
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
                      seed=seed, recipe=spec.train, dataset_rows=[int(r) for r in rows], pool_model=m)
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
        if not (np.array_equal(p.keep, first.keep) and np.array_equal(p.seeds, first.seeds)):
            raise PoolError(f"cannot merge {p.path} with {first.path}: different keep matrix or seeds")
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
                         forget=first.forget, attrs={k: first.attrs[k] for k in ("engine", "engine_info", "device") if k in first.attrs})
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
