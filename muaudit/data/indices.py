"""Loading and validation of index files (``--forget``, ``--nonmembers``, ``--train-idx``)."""

from __future__ import annotations

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
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
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
