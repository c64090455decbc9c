"""Loading and validation of index files (``--forget``, ``--nonmembers``, ``--train-idx``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from muaudit.data.npy import read_npy
from muaudit.errors import DataError


def load_index_file(path, n_train: int, *, what: str = "index") -> np.ndarray:
    """Load an ``.npy`` of distinct positions in ``[0, n_train)`` of the canonical training split.

    Returns int64 ``[k]`` in file order. Every malformed file raises :class:`DataError` naming the
    file and the first bad entry. Pickled (object) arrays are never loaded.
    """
    p = Path(path)
    name = f"{what} file {p}"
    if p.suffix != ".npy":
        raise DataError(f"{name} is not a .npy file; save indices with numpy.save")
    arr = read_npy(p, f"{what} file")
    return validate_indices(arr, n_train, name=name)


def read_indices(source, n_train: int, *, what: str = "index") -> np.ndarray:
    """Training-split positions from an index file (a path, see :func:`load_index_file`) or from
    an in-memory array (checked by :func:`validate_indices`); int64 ``[k]`` in the given order.

    Example:
        >>> read_indices([3, 1], 10, what="forget").tolist()
        [3, 1]
    """
    if isinstance(source, (str, os.PathLike)):
        return load_index_file(source, n_train, what=what)
    return validate_indices(np.asarray(source), n_train, name=what)


def validate_indices(arr: np.ndarray, n_train: int, *, name: str = "indices") -> np.ndarray:
    """Check ``arr`` is a non-empty 1-D array of distinct integers in ``[0, n_train)``.

    The error names the first (lowest-position) bad entry: negative, ``>= n_train``, or a
    repeat of an earlier entry. Returns int64 ``[k]`` in the given order.
    """
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise DataError(f"{name} is empty")
    if arr.dtype.hasobject:
        raise DataError(f"{name} holds values that are not 64-bit integers (first: {arr[0]!r} at position 0)")
    if arr.dtype.kind not in "iu":  # numpy counts timedelta64 as an integer type: not positions
        kind = "booleans" if arr.dtype == bool else f"{arr.dtype} values"
        raise DataError(f"{name} holds {kind} (first: {arr[0].item()!r} at position 0); expected integer positions")
    order = np.argsort(arr, kind="stable")
    repeat = np.zeros(arr.shape, bool)
    repeat[order[1:]] = arr[order][1:] == arr[order][:-1]
    checks = ((arr < 0, "is negative"), (arr >= n_train, f"is >= n_train = {n_train}"), (repeat, "is a duplicate"))
    bad = np.logical_or.reduce([mask for mask, _ in checks])
    if bad.any():
        i = int(np.argmax(bad))
        why = next(w for mask, w in checks if mask[i])
        raise DataError(f"{name}: entry {arr[i].item()} at position {i} {why}")
    return arr.astype(np.int64)


def split_forget(train_positions, forget, *, strict: bool = True, name: str = "forget") -> tuple[np.ndarray, np.ndarray]:
    """Split the positions a model trained on into the forget set and the retained rest.

    The one definition of the forget/retain split used by unlearning, training and the audits.

    Args:
        train_positions: int ``[n]`` positions in the training split the model trained on.
        forget: int ``[k]`` positions to forget (may be empty).
        strict: every forget position must be one the model trained on (unlearning); pass False
            when ``train_positions`` may already exclude them (auditing an unlearned checkpoint,
            whose meta lists the retained positions).
        name: what ``forget`` is called in error messages (e.g. ``"forget file f.npy"``).

    Returns:
        ``(forget, retain)``: int64 ``forget`` in the given order and int64 ``retain`` =
        ``train_positions`` minus ``forget``, sorted and unique.

    Example:
        >>> forget, retain = split_forget(np.arange(6), [4, 1])
        >>> forget.tolist(), retain.tolist()
        ([4, 1], [0, 2, 3, 5])
        >>> split_forget([0, 2], [1])
        Traceback (most recent call last):
        muaudit.errors.DataError: forget: entry 1 at position 0 is not in the model's training set (the checkpoint's train_idx)
        >>> split_forget([0, 2], [1], strict=False)[1].tolist()
        [0, 2]
    """
    train, forget = _positions(train_positions, "training positions"), _positions(forget, name)
    if strict:
        outside = ~np.isin(forget, train)
        if outside.any():
            i = int(np.argmax(outside))
            raise DataError(f"{name}: entry {forget[i]} at position {i} is not in the model's training set "
                            "(the checkpoint's train_idx)")
    return forget, np.setdiff1d(train, forget)


def _positions(arr, name: str) -> np.ndarray:
    """``arr`` as int64 ``[k]``; an empty sequence of any dtype is an empty array."""
    a = np.asarray(arr)
    if a.size == 0 and a.ndim <= 1:
        return np.zeros(0, np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise DataError(f"Expected {name} a 1-D array of integer positions, got {a.dtype} of shape {tuple(a.shape)}")
    return a.astype(np.int64)

