"""Loading and validation of index files (``--forget``, ``--nonmembers``, ``--train-idx``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
    if not p.is_file():
        raise DataError(f"{name} does not exist")
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as e:
        msg = "holds pickled objects" if "pickle" in str(e) else f"is not a valid .npy file ({e})"
        raise DataError(f"{name} {msg}; expected a 1-D integer array") from None
    except OSError as e:
        raise DataError(f"{name} cannot be read ({e})") from None
    return validate_indices(arr, n_train, name=name)


def validate_indices(arr: np.ndarray, n_train: int, *, name: str = "indices") -> np.ndarray:
    """Check ``arr`` is a non-empty 1-D array of distinct integers in ``[0, n_train)``."""
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise DataError(f"{name} is empty")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        kind = "booleans" if arr.dtype == bool else f"{arr.dtype} values"
        raise DataError(f"{name} holds {kind} (first: {arr[0].item()!r} at position 0); expected integer positions")
    arr = arr.astype(np.int64)
    for bad, why in ((arr < 0, "is negative"), (arr >= n_train, f"is >= n_train = {n_train}")):
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{name}: entry {arr[i]} at position {i} {why}")
    order = np.argsort(arr, kind="stable")
    repeats = order[1:][arr[order][1:] == arr[order][:-1]]
    if len(repeats):
        i = int(repeats.min())
        raise DataError(f"{name}: entry {arr[i]} at position {i} is a duplicate")
    return arr
