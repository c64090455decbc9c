"""Forget sets: which positions of a dataset's training split a deletion request names.

A forget set is an index array (``forget.npy``) of distinct positions in the **training split, in
its canonical order** (docs/data.md): position ``i`` is dataset row ``Dataset.train_idx[i]``. Four
ways to choose one, exactly one per call: a random ``fraction`` or ``count`` of the training split
(drawn with ``random_state``), every training example of some ``classes``, or the positions listed
in a CSV file (:func:`read_positions_csv`).

Example:
    >>> y = np.array([0, 1, 1, 2, 0, 1])
    >>> choose_forget(y, count=2, random_state=0).tolist()
    [3, 4]
    >>> choose_forget(y, classes=[1]).tolist()
    [1, 2, 5]
    >>> class_counts(y, choose_forget(y, fraction=0.5, random_state=0), n_classes=3)
    [1, 1, 1]
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from muaudit.checks import check_int_range, check_seed, check_unit_interval
from muaudit.data.indices import validate_indices
from muaudit.errors import ConfigError, DataError


def choose_forget(train_labels, *, fraction: float | None = None, count: int | None = None,
                  classes=None, positions=None, random_state: int = 0) -> np.ndarray:
    """Sorted int64 training-split positions chosen by exactly one of ``fraction``, ``count``,
    ``classes`` (a list of labels) or ``positions`` (validated against the split's size)."""
    y = np.asarray(train_labels)
    n = len(y)
    given = [k for k, v in (("--fraction", fraction), ("--count", count), ("--class", classes),
                            ("--csv", positions)) if v is not None]
    if len(given) != 1:
        raise ConfigError("choose the forget set one way: --fraction, --count, --class or --csv"
                          + (f" (got {', '.join(given)})" if given else ""))
    if classes is not None:
        return _by_class(y, classes)
    if positions is not None:
        return np.sort(validate_indices(np.asarray(positions), n, name="forget positions"))
    if fraction is not None:
        count = int(round(check_unit_interval("--fraction", fraction) * n))
        if count == 0:
            raise ConfigError(f"--fraction {fraction} of {n} training examples selects none; give a larger fraction")
    count = check_int_range("--count", count, 1, n - 1)
    rng = np.random.default_rng(check_seed("--seed", random_state))
    return np.sort(rng.choice(n, count, replace=False)).astype(np.int64)


def _by_class(y: np.ndarray, classes) -> np.ndarray:
    classes = sorted(set(int(c) for c in classes))
    n_classes = int(y.max()) + 1 if len(y) else 0
    bad = [c for c in classes if not 0 <= c < n_classes]
    if bad:
        raise ConfigError(f"class {bad[0]} does not exist; the training split has classes 0..{n_classes - 1}")
    out = np.flatnonzero(np.isin(y, classes)).astype(np.int64)
    if len(out) == len(y):
        raise ConfigError("the forget set would be the whole training split; nothing would be retained")
    if not len(out):
        raise ConfigError(f"no training example has class {', '.join(map(str, classes))}")
    return out


def class_counts(train_labels, positions, *, n_classes: int) -> list[int]:
    """How many of ``positions`` fall in each class (a list of ``n_classes`` counts)."""
    return np.bincount(np.asarray(train_labels)[positions], minlength=n_classes).tolist()


def read_positions_csv(path, *, column: str | None = None) -> np.ndarray:
    """The integers of one CSV column (int64, in file order): the column named ``column``, else the
    first one. A first row that is not a number is a header. Any other non-integer cell is an error
    naming the file, its line and the cell."""
    p = Path(path)
    try:
        rows = list(csv.reader(p.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"CSV file {p} cannot be read ({getattr(e, 'strerror', None) or e})") from None
    rows = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"CSV file {p} holds no positions")
    col = 0
    header = rows[0][1]
    if not _is_int(header[0]) or column is not None:
        names = [h.strip() for h in header]
        if column is not None:
            if column not in names:
                raise DataError(f"CSV file {p} has no column {column!r}; columns: {', '.join(names)}")
            col = names.index(column)
        rows = rows[1:]
    values = []
    for line, r in rows:
        cell = r[col].strip() if col < len(r) else ""
        if not _is_int(cell):
            raise DataError(f"CSV file {p}, line {line}: {cell!r} is not an integer training-split position")
        values.append(int(cell))
    if not values:
        raise DataError(f"CSV file {p} holds no positions")
    return np.asarray(values, dtype=np.int64)


def _is_int(cell: str) -> bool:
    s = cell.strip()
    return s.lstrip("-").isdigit() and s.count("-") <= 1
