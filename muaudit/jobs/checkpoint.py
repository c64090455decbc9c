"""``muaudit.audit_checkpoint``: the Python entry point of an audit, for files or in-memory objects."""

from __future__ import annotations

import os

import numpy as np  # noqa: F401 - the examples use it

from muaudit.targets import AuditTarget, open_target


def as_target(target) -> AuditTarget | str | os.PathLike:
    """A path unchanged (the runner loads it), else an in-memory :class:`~muaudit.targets.AuditTarget`
    (:func:`~muaudit.targets.open_target`).

    Accepts an ``nn.Module`` (audited as is; its train/eval state is restored after prediction),
    or logits (numpy array or tensor) ``[N, C]`` or ``[N, V, C]`` over the dataset rows or the
    pool population.

    Example:
        >>> as_target(np.zeros((5, 3))).logits.shape
        (5, 1, 3)
        >>> as_target("ckpt.pt")
        'ckpt.pt'
    """
    if isinstance(target, (str, os.PathLike)):
        return target
    return open_target(target)


def audit_checkpoint(target, forget, pool=None, *, out=None, **options) -> dict:
    """Audit whether ``target`` still remembers ``forget``; return the results dict.

    A membership audit (LiRA against the shadow pool, with the permutation test, the power control
    and the verdict of ``muaudit lira``), usable from Python on files or in-memory objects.

    Args:
        target: a checkpoint / state_dict / TorchScript / ONNX / logits ``.npy`` path, a deployed
            model's URL (``http(s)://HOST:PORT/v2/models/NAME``), an ``nn.Module``, or a logits
            array ``[N, C]`` or ``[N, V, C]`` (dataset rows or pool population).
        forget: an index file or an int array of positions in the training split.
        pool: a built pool directory (default ``$MUAUDIT_POOL``).
        out: write a results folder there (``results.json``, scores, figures; render it with
            ``muaudit report``); nothing is written without it.
        **options: the other options of :func:`muaudit.jobs.lira.run_lira`: ``attack``
            (``"online"``, ``"offline"``, ``"rmia"``, ...), ``alpha``, ``nonmembers``,
            ``train_idx`` (a file or array: the retained training positions, for the power
            control; default the checkpoint's meta), ``method`` (U-LiRA with the pool's unlearned
            shadows of that ``[[unlearn]]`` entry), ``arch``, ``random_state``; ``output`` (the
            output of an ONNX model or an endpoint to read); for an endpoint ``batch_size``,
            ``timeout``, ``retries``, ``max_queries``.

    Returns:
        The results dict: ``verdict`` (``"not unlearned"``, ``"consistent with retraining"`` or
        ``"inconclusive"``), ``p_value``, ``auc``, ``tpr_at_fpr``, ``power``, ``reasons``, ...;
        with ``out``, ``results["folder"]`` is the results folder.

    Example:
        With the tiny pool, checkpoint and forget file of the doctest setup (``conftest.py``):

        >>> import muaudit
        >>> from muaudit.audit import VERDICTS
        >>> from muaudit.models import load_checkpoint
        >>> model, meta = load_checkpoint(checkpoint)              # or any nn.Module
        >>> results = muaudit.audit_checkpoint(model, np.load(forget_file), pool_dir,
        ...                                    train_idx=meta["train_idx"], random_state=0)
        >>> results["verdict"] in VERDICTS, 0 <= results["p_value"] <= 1
        (True, True)
        >>> "folder" in muaudit.audit_checkpoint(checkpoint, forget_file, pool_dir, out=tmp / "audit")
        True
    """
    from muaudit.jobs.lira import run_lira

    results, folder = run_lira(target=as_target(target), forget=forget, pool=pool, out=out,
                               write=out is not None, **options)
    return results if folder is None else {**results, "folder": str(folder)}
