"""Unlearned and exactly retrained shadows: the model groups of ``[[unlearn]]`` entries (U-LiRA).

For every base shadow m and entry e, the build picks ``F_m`` inside ``keep_m``
(:func:`~muaudit.pool.entries.forget_matrix`), runs e's method on the in-memory base model with
forget = ``F_m`` and retain = ``keep_m \\ F_m`` and stores the result's logits in
``unlearned/<name>``; with ``retrain = true`` it also trains a model of the pool's recipe from
the shadow's own seed on ``keep_m \\ F_m`` (``retrain/<name>``). Entries with equal forget
settings share one retrain per shadow (it is trained once and written to each of their groups).
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from muaudit.data import TEST
from muaudit.errors import PoolError
from muaudit.pool.entries import UnlearnEntry, forget_key, forget_matrix, method_seed
from muaudit.pool.store import Pool, create_groups
from muaudit.training import predict_logits, train_models


def group_paths(entries) -> list[str]:
    """Every group the entries need (``unlearned/<name>``, plus ``retrain/<name>`` if asked)."""
    return [p for e in entries for p in (f"unlearned/{e.name}",) + ((f"retrain/{e.name}",) if e.retrain else ())]


def ensure_groups(path, pool: Pool, spec) -> Pool:
    """Create the groups of entries new to the pool; refuse an entry that changed since."""
    new = {}
    for e in spec.unlearn:
        g = pool.groups.get(f"unlearned/{e.name}")
        if g is not None:
            if g.entry != json.loads(e.to_json()):
                raise PoolError(f"[[unlearn]] entry {e.name!r} differs from the one pool {pool.path} was built "
                                "with; keep it unchanged, or give the changed entry another `name`")
            continue
        forget = forget_matrix(e, pool.keep, pool.seeds, pool.forget)
        config = json.dumps(e.method_config(spec.train).to_dict(), sort_keys=True)
        new[f"unlearned/{e.name}"] = (forget, {"entry": e.to_json(), "method": e.method, "config": config})
        if e.retrain:
            new[f"retrain/{e.name}"] = (forget, {"entry": e.to_json(), "method": "retrain",
                                                 "config": json.dumps(spec.train.to_dict(), sort_keys=True)})
    if new:
        create_groups(path, new)
        pool = Pool(path)
    return pool


def pending(pool: Pool, spec, m: int) -> list[str]:
    """Groups of the recipe's entries whose row m is not done yet."""
    return [p for p in group_paths(spec.unlearn) if not pool.groups[p].done[m]]


class ChunkUnlearner:
    """Runs the recipe's entries on a chunk of base shadows held in memory.

    ``X``, ``y``: the population on the training device; ``split``: its split codes.
    """

    def __init__(self, pool: Pool, spec, X: torch.Tensor, y: torch.Tensor, make_model, engine: str):
        self.pool, self.spec, self.X, self.y = pool, spec, X, y
        self.make, self.engine = make_model, engine

    def rows(self, models: dict[int, torch.nn.Module]) -> dict[str, dict[int, tuple]]:
        """``{group: {m: (logits, seconds, sample_gradients)}}`` of every pending group row."""
        out: dict[str, dict[int, tuple]] = {p: {} for p in group_paths(self.spec.unlearn)}
        for m, model in models.items():
            for e in self.spec.unlearn:
                if not self.pool.groups[f"unlearned/{e.name}"].done[m]:
                    out[f"unlearned/{e.name}"][m] = self.unlearn(e, m, model)
        out.update(self.retrain_rows(list(models)))
        return {g: r for g, r in out.items() if r}

    def data(self, m: int, forget: np.ndarray):
        """Forget, retain (with held-out ``val``) :class:`UnlearnData` of shadow m."""
        from muaudit.unlearning import UnlearnData

        keep, test = self.pool.keep[m], self.pool.split == TEST
        held = ~keep & test if (~keep & test).any() else ~keep  # never trained on: held-out test examples
        dev, aug = self.X.device, self.spec.train.augment
        pick = lambda mask: torch.as_tensor(np.flatnonzero(mask), device=dev)  # noqa: E731
        val = UnlearnData(self.X[pick(held)], self.y[pick(held)])
        f, r = pick(forget), pick(keep & ~forget)
        return UnlearnData(self.X[f], self.y[f], augment=aug), UnlearnData(self.X[r], self.y[r], val=val, augment=aug)

    def unlearn(self, e: UnlearnEntry, m: int, model) -> tuple:
        from muaudit.unlearning import run_unlearning

        forget = self.pool.groups[f"unlearned/{e.name}"].forget[m]
        if not forget.any():  # a forget-aware pool's shadow that never trained on F: nothing to forget
            return predict_logits(model, self.X, n_views=self.spec.views), 0.0, 0
        f, r = self.data(m, forget)
        meta = {"recipe": self.spec.train.to_dict(), "train_idx": np.flatnonzero(self.pool.keep[m]).tolist()}
        res = run_unlearning(e.method, model, f, r, config=e.method_config(self.spec.train),
                             seed=method_seed(self.pool.seeds[m], e), meta=meta, budget=e.budget)
        logits = predict_logits(res.model, self.X, n_views=self.spec.views)
        return logits, float(res.cost["seconds"]), int(res.cost["sample_gradients"])

    def retrain_rows(self, ids: list[int]) -> dict[str, dict[int, tuple]]:
        """Exact retrains of the chunk, one per (shadow, forget setting), written to every group that
        shares the setting; a retrain already stored in another group of the setting is copied."""
        out: dict[str, dict[int, tuple]] = {}
        by_key: dict[tuple, list[str]] = {}
        for e in self.spec.unlearn:
            by_key.setdefault(forget_key(e), [])
            if e.retrain:
                by_key[forget_key(e)].append(f"retrain/{e.name}")
        for key, paths in by_key.items():
            need = [m for m in ids if any(not self.pool.groups[p].done[m] for p in paths)]
            for m, row in self._retrain(key, need).items():
                for p in paths:
                    if not self.pool.groups[p].done[m]:
                        out.setdefault(p, {})[m] = row
        return out

    def _retrain(self, key: tuple, ids: list[int]) -> dict[int, tuple]:
        rows = {}
        for g in self.pool.groups.values():  # reuse a stored retrain of the same forget setting
            if g.kind == "retrain" and forget_key(UnlearnEntry(**g.entry)) == key:
                for m in [m for m in ids if g.done[m] and m not in rows]:
                    rows[m] = (self.pool.logits([m], group=g.path)[0], float(g.seconds[m]), int(g.sample_gradients[m]))
        todo = [m for m in ids if m not in rows]
        if not todo:
            return rows
        entry = next(e for e in self.spec.unlearn if forget_key(e) == key)
        forget = self.pool.groups[f"unlearned/{entry.name}"].forget
        keep_rows = [np.flatnonzero(self.pool.keep[m] & ~forget[m]) for m in todo]
        seeds = [int(self.pool.seeds[m]) for m in todo]
        t0 = time.perf_counter()
        for chunk in train_models(self.make, self.X, self.y, keep_rows, seeds, self.spec.train, engine=self.engine,
                                  ensemble_size=self.spec.ensemble_size):
            seconds = (time.perf_counter() - t0) / len(chunk)
            for i, model in chunk:
                logits = predict_logits(model, self.X, n_views=self.spec.views)
                rows[todo[i]] = (logits, seconds, int(self.spec.train.epochs * len(keep_rows[i])))
            t0 = time.perf_counter()
        return rows
