"""``muaudit train``: one model of a recipe (an "original" or, with ``exclude``, a retrained target)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_train(recipe, out, *, exclude=None, seed: int = 0, device=None, threads: int | None = None) -> dict:
    """Train one model of ``recipe`` on the training split minus ``exclude`` (an index file) and
    save a muaudit checkpoint at ``out`` (``threads`` torch threads, default
    :func:`~muaudit.training.threads.default_threads`); return a JSON-ready summary.

    The summary holds ``out``, ``n_train``, ``seconds``, ``train_accuracy`` and ``test_accuracy``.
    """
    from muaudit.data import load_index_file
    from muaudit.models import save_checkpoint
    from muaudit.pool import load_spec
    from muaudit.training import predict_logits
    from muaudit.training.single import train_target
    from muaudit.training.threads import using_threads

    spec = load_spec(recipe)
    ds = spec.load_dataset()
    excl = None if exclude is None else load_index_file(exclude, len(ds.train_idx), what="exclude")
    with using_threads(threads):
        model, meta = train_target(spec, ds, exclude=excl, seed=seed, device=device)
    save_checkpoint(out, model, meta)
    pred = predict_logits(model, ds.X)[:, 0].argmax(-1)
    acc = lambda rows: float((pred[rows] == ds.y[rows]).mean())  # noqa: E731
    return {"out": str(Path(out)), "recipe": str(recipe), "seed": seed, "n_train": len(meta["train_idx"]),
            "seconds": meta["cost"]["seconds"], "train_accuracy": acc(ds.train_idx[np.asarray(meta["train_idx"], int)]),
            "test_accuracy": acc(ds.test_idx)}
