"""The dataset contract: ``X`` float32 ``[N, ...]``, ``y`` int64 ``[N]``, a split code per example.

Index files (``--forget``, ``--nonmembers``, ``--train-idx``) hold positions in the **training
split in its canonical order**: ``Dataset.train_idx[i]`` is the dataset row of training example
``i``. The canonical order is the order of the files as distributed (for ``digits``: ascending
original index).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

TRAIN, TEST = 0, 1
MAX_CLASSES = 2**20  # a label beyond this is a corrupt file, not a class (models get one output per class)


class DeferredInputs:
    """Inputs a loader produces on demand: float32 ``shape``, in row blocks of :meth:`chunks`.

    A :class:`Dataset` built with one reads them on the first access of ``X`` (and keeps them);
    its fingerprint, asked for before that, hashes the blocks as they are produced and keeps none,
    so an audit that never reads an input (a logits target) holds no copy of them. Subclasses
    implement :meth:`chunks` (the same blocks on every call) and stay picklable.
    """

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(d) for d in shape)

    def chunks(self):
        """Yield consecutive float32 row blocks ``[k, *shape[1:]]`` covering every row in order."""
        raise NotImplementedError

    def materialize(self) -> np.ndarray:
        X, start = np.empty(self.shape, np.float32), 0
        for block in self.chunks():
            X[start:start + len(block)] = block
            start += len(block)
        return X


class _Inputs:
    """The ``X`` field of :class:`Dataset`: an array, or :class:`DeferredInputs` read on first access."""

    def __get__(self, obj, owner=None):
        if obj is None:  # no class-level default: the dataclass field stays required
            raise AttributeError("X")
        x = obj.__dict__["_X"]
        if isinstance(x, DeferredInputs):
            x = obj.__dict__["_X"] = x.materialize()
        return x

    def __set__(self, obj, value):
        obj.__dict__["_X"] = value if isinstance(value, DeferredInputs) else np.ascontiguousarray(value, np.float32)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays of one dataset.

    Attributes:
        name: registry name (``"digits"``, ``"mnist"``, ...).
        X: float32 ``[N, ...]`` model inputs (images are ``[N, C, H, W]``); a loader may pass
            :class:`DeferredInputs`, produced on the first read of ``X``.
        y: int64 ``[N]`` labels in ``[0, n_classes)``.
        split: int8 ``[N]``, ``0`` = train, ``1`` = test.
        options: the loader options that produced it (recorded in pools and results).
        info: what the loader fitted, e.g. ``{"preprocessing": ...}`` of a tabular dataset (the
            training split's means, standard deviations and categories; recorded in pools).
    """

    name: str
    X: np.ndarray = _Inputs()  # noqa: RUF009 (a descriptor: required, see _Inputs)
    y: np.ndarray
    split: np.ndarray
    options: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "y", np.ascontiguousarray(self.y, dtype=np.int64))
        object.__setattr__(self, "split", np.ascontiguousarray(self.split, dtype=np.int8))
        from muaudit.errors import DataError

        n = len(self.y)
        if n == 0 or self.y.ndim != 1 or self._shape[:1] != (n,) or self.split.shape != (n,):
            raise DataError(f"dataset {self.name!r} needs at least one example and x, y, split of one length, got "
                            f"shapes {self._shape}, {self.y.shape}, {self.split.shape}")
        if self.y.min() < 0 or self.y.max() >= MAX_CLASSES:
            bad = int(np.argmax((self.y < 0) | (self.y >= MAX_CLASSES)))
            raise DataError(f"dataset {self.name!r}: label {int(self.y[bad])} at row {bad} is not in [0, {MAX_CLASSES})")

    @property
    def n_samples(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0

    @property
    def inputs_deferred(self) -> bool:
        """``X`` is :class:`DeferredInputs` not produced yet (a function of the loader's options)."""
        return isinstance(self.__dict__["_X"], DeferredInputs)

    @property
    def _shape(self) -> tuple[int, ...]:
        """X's shape, without reading deferred inputs."""
        return tuple(self.__dict__["_X"].shape)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._shape[1:]

    @property
    def is_image(self) -> bool:
        return self.X.ndim == 4

    @property
    def train_idx(self) -> np.ndarray:
        """Dataset rows of the training split, in canonical order (int64 ``[n_train]``)."""
        return np.flatnonzero(self.split == TRAIN)

    @property
    def test_idx(self) -> np.ndarray:
        """Dataset rows of the test split, in canonical order (int64 ``[n_test]``)."""
        return np.flatnonzero(self.split == TEST)

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over X, y and split (dtype, shape and bytes), as a hex string.

        Computed once per Dataset (a CIFAR-sized X is 737 MB; every saved shadow's metadata
        records it): a Dataset's arrays are not modified after loading. Deferred inputs not read
        yet are hashed block by block as they are produced (the same bytes), and not kept."""
        h = hashlib.sha256()
        x = self.__dict__["_X"]
        h.update(f"{np.dtype(np.float32).str}{tuple(x.shape)}".encode())
        for block in (x.chunks() if isinstance(x, DeferredInputs) else (x,)):
            h.update(np.ascontiguousarray(block, np.float32).data)  # the bytes, without a copy
        for a in (self.y, self.split):
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.data)  # the array's bytes (C-contiguous, see __post_init__), without a copy
        return h.hexdigest()

    def describe(self) -> dict:
        return {"name": self.name, "n_samples": self.n_samples, "n_train": len(self.train_idx),
                "n_test": len(self.test_idx), "n_classes": self.n_classes,
                "input_shape": list(self.input_shape), "fingerprint": self.fingerprint,
                "options": dict(self.options), **({"info": dict(self.info)} if self.info else {})}
