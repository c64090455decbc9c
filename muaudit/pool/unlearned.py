"""Unlearned and exactly retrained shadows: the model groups of ``[[unlearn]]`` entries (U-LiRA).

For every base shadow m and entry e, the build picks ``F_m`` inside ``keep_m``
(:func:`~muaudit.pool.entries.forget_matrix`), runs e's method on the in-memory base model with
forget = ``F_m`` and retain = ``keep_m \\ F_m`` and stores the result's logits in
``unlearned/<name>``; with ``retrain = true`` it also trains a model of the pool's recipe from
the shadow's own seed on ``keep_m \\ F_m`` (``retrain/<name>``). Entries with equal forget
settings share one retrain per shadow (it is trained once and written to each of their groups).
In a recipe with ``[sisa]`` the method is ``"sisa"`` (exact SISA unlearning of the SISA shadow,
:mod:`muaudit.sisa.pool`) and the retrain is a SISA model trained on ``keep_m \\ F_m``.
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
from muaudit.training import predict_logits


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


def pending_rows(pool: Pool, spec, m: int) -> tuple[list[str], list[str]]:
    """Shadow m's pending ``[[unlearn]]`` entry names and retrain group paths."""
    names = [e.name for e in spec.unlearn if not pool.groups[f"unlearned/{e.name}"].done[m]]
    return names, [p for p in group_paths(spec.unlearn) if p.startswith("retrain/") and not pool.groups[p].done[m]]


def stored_retrains(pool: Pool, spec, m: int, paths: list[str]) -> tuple[dict[str, tuple], list[str]]:
    """Rows of pending retrain ``paths`` that another group of the same forget setting already
    holds (copied, not retrained), and the paths still to train."""
    by_path = {f"retrain/{e.name}": forget_key(e) for e in spec.unlearn if e.retrain}
    copies, todo = {}, []
    for p in paths:
        src = next((g for g in pool.groups.values() if g.kind == "retrain" and g.done[m]
                    and forget_key(UnlearnEntry(**g.entry)) == by_path[p]), None)
        if src is None:
            todo.append(p)
        else:
            copies[p] = (pool.logits([m], group=src.path)[0], float(src.seconds[m]), int(src.sample_gradients[m]))
    return copies, todo


class ChunkUnlearner:
    """Runs the recipe's entries on a chunk of base shadows held in memory.

    ``ctx``: the build's :class:`~muaudit.pool.tasks.BuildContext`; ``X``, ``y``: its population
    on the training device.
    """

    def __init__(self, ctx, X: torch.Tensor, y: torch.Tensor):
        self.ctx, self.spec, self.X, self.y = ctx, ctx.spec, X, y

    def rows(self, models: dict[int, torch.nn.Module], unlearn: dict[int, list[str]],
             retrain: dict[int, list[str]]) -> dict[str, dict[int, tuple]]:
        """``{group: {m: (logits, seconds, sample_gradients)}}`` of the pending rows
        (``unlearn``: entry names per shadow; ``retrain``: retrain group paths per shadow)."""
        out: dict[str, dict[int, tuple]] = {}
        entries = {e.name: e for e in self.spec.unlearn}
        for m, names in unlearn.items():
            for name in names:
                out.setdefault(f"unlearned/{name}", {})[m] = self.unlearn(entries[name], m, models[m])
        for p, rows in self.retrain_rows(retrain).items():
            out.setdefault(p, {}).update(rows)
        return out

    def data(self, m: int, forget: np.ndarray):
        """Forget, retain (with held-out ``val``) :class:`UnlearnData` of shadow m."""
        from muaudit.unlearning import UnlearnData

        keep, test = self.ctx.keep[m], self.ctx.split == TEST
        held = ~keep & test if (~keep & test).any() else ~keep  # never trained on: held-out test examples
        dev, aug = self.X.device, self.spec.train.augment
        pick = lambda mask: torch.as_tensor(np.flatnonzero(mask), device=dev)  # noqa: E731
        val = UnlearnData(self.X[pick(held)], self.y[pick(held)])
        f, r = pick(forget), pick(keep & ~forget)
        return UnlearnData(self.X[f], self.y[f], augment=aug), UnlearnData(self.X[r], self.y[r], val=val, augment=aug)

    def unlearn(self, e: UnlearnEntry, m: int, model) -> tuple:
        from muaudit.unlearning import run_unlearning

        forget = self.ctx.forgets[f"unlearned/{e.name}"][m]
        if not forget.any():  # a forget-aware pool's shadow that never trained on F: nothing to forget
            return predict_logits(model, self.X, views=self.spec.views), 0.0, 0
        if e.method == "sisa":  # exact: the affected shards retrained from their stage checkpoints (muaudit.sisa)
            from muaudit.sisa.pool import unlearn_shadow

            res = unlearn_shadow(self.spec, self.ctx.input_shape, self.ctx.n_classes, self.X, self.y, model,
                                 np.flatnonzero(self.ctx.keep[m]), int(self.ctx.seeds[m]), np.flatnonzero(forget))
            logits = predict_logits(res.model, self.X, views=self.spec.views)
            return logits, float(res.record["seconds"]), int(res.record["sample_gradients"])
        f, r = self.data(m, forget)
        meta = {"recipe": self.spec.train.to_dict(), "train_idx": np.flatnonzero(self.ctx.keep[m]).tolist()}
        res = run_unlearning(e.method, model, f, r, config=e.method_config(self.spec.train),
                             random_state=method_seed(self.ctx.seeds[m], e), meta=meta, budget=e.budget)
        logits = predict_logits(res.model, self.X, views=self.spec.views)
        return logits, float(res.cost["seconds"]), int(res.cost["sample_gradients"])

    def retrain_rows(self, retrain: dict[int, list[str]]) -> dict[str, dict[int, tuple]]:
        """Exact retrains, one per (shadow, forget setting), written to every pending group path
        of that setting."""
        keys = {f"retrain/{e.name}": forget_key(e) for e in self.spec.unlearn if e.retrain}
        by_key: dict[tuple, dict[int, list[str]]] = {}
        for m, paths in retrain.items():
            for p in paths:
                by_key.setdefault(keys[p], {}).setdefault(m, []).append(p)
        out: dict[str, dict[int, tuple]] = {}
        for per_model in by_key.values():
            ids = sorted(per_model)
            forget = self.ctx.forgets[per_model[ids[0]][0]]
            for m, row in self._retrain(ids, forget).items():
                for p in per_model[m]:
                    out.setdefault(p, {})[m] = row
        return out

    def _retrain(self, ids: list[int], forget: np.ndarray) -> dict[int, tuple]:
        rows = {}
        keep_rows = [np.flatnonzero(self.ctx.keep[m] & ~forget[m]) for m in ids]
        seeds = [int(self.ctx.seeds[m]) for m in ids]
        t0 = time.perf_counter()
        from muaudit.pool.tasks import shadow_trainer  # SISA shadows: retrained as SISA models (muaudit.sisa)
        from muaudit.sisa.pool import trained_cost

        for chunk in shadow_trainer(self.ctx)(self.ctx.make, self.X, self.y, keep_rows, seeds, self.spec.train,
                                        engine=self.ctx.engine, ensemble_size=self.spec.ensemble_size):
            seconds = (time.perf_counter() - t0) / len(chunk)
            for i, model in chunk:
                logits = predict_logits(model, self.X, views=self.spec.views)
                rows[ids[i]] = (logits, seconds, trained_cost(model, int(self.spec.train.epochs * len(keep_rows[i]))))
            t0 = time.perf_counter()
        return rows
