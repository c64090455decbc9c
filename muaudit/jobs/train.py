"""``muaudit train``: one model of a recipe (an "original" or, with ``exclude``, a retrained target)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_train(recipe, out, *, exclude=None, random_state: int = 0, device=None, arch: str | None = None,
              threads: int | None = None, progress=None) -> dict:
    """Train one model of ``recipe`` (a TOML path or a packaged recipe's name) on the training
    split minus ``exclude`` (an index file) and save a muaudit checkpoint at ``out`` (``threads``
    torch threads, default :func:`~muaudit.training.threads.default_threads`); return a
    JSON-ready summary. ``progress(epoch, epochs)`` is called after each epoch.

    The summary holds ``out``, ``n_train``, ``seconds``, ``train_accuracy`` and ``test_accuracy``.
    ``arch`` trusts a model factory the recipe names (see :func:`muaudit.pool.load_spec`). Every
    input is checked before training; ``out`` may not be an input file.

    Example:
        A retrained target of the tiny recipe of the doctest setup (``conftest.py``), without the
        forget set:

        >>> summary = run_train(recipe, tmp / "retrained.pt", exclude=forget_file, random_state=0)
        >>> summary["n_train"], summary["test_accuracy"] > 0.5
        (1247, True)
    """
    from muaudit.checks import check_seed
    from muaudit.paths import output_file
    from muaudit.errors import DataError
    from muaudit.training.device import select_device

    from muaudit.data import load_index_file
    from muaudit.models import save_checkpoint
    from muaudit.pool import load_spec
    from muaudit.pool.recipes import resolve_recipe
    from muaudit.training import predict_logits
    from muaudit.training.single import train_target
    from muaudit.training.threads import using_threads

    check_seed("seed", random_state)
    select_device(device)
    output_file(out, {"recipe": recipe, "--exclude": exclude})
    spec = load_spec(resolve_recipe(recipe), arch=arch)
    ds = spec.load_dataset()
    excl = None if exclude is None else load_index_file(exclude, len(ds.train_idx), what="exclude")
    if excl is not None and len(excl) == len(ds.train_idx):
        raise DataError(f"--exclude file {exclude} leaves out all {len(excl)} training examples; nothing to train on")
    with using_threads(threads):
        if spec.sisa is not None:  # S shard models, slice by slice, stage checkpoints kept (muaudit.sisa)
            from muaudit.jobs.sisa import train_sisa_checkpoint

            model, meta = train_sisa_checkpoint(spec, ds, out, exclude=excl, random_state=random_state, device=device, progress=progress)
        else:
            model, meta = train_target(spec, ds, exclude=excl, random_state=random_state, device=device, progress=progress)
            save_checkpoint(out, model, meta)
    pred = predict_logits(model, ds.X)[:, 0].argmax(-1)
    acc = lambda rows: float((pred[rows] == ds.y[rows]).mean())  # noqa: E731
    return {"out": str(Path(out)), "recipe": str(recipe), "seed": random_state, "n_train": len(meta["train_idx"]),
            "seconds": meta["cost"]["seconds"], "train_accuracy": acc(ds.train_idx[np.asarray(meta["train_idx"], int)]),
            "test_accuracy": acc(ds.test_idx), **({"sisa": spec.sisa.to_dict()} if spec.sisa is not None else {})}
