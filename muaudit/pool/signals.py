"""Per-example signals stored beside the logits (schema version 4, docs/pool-format.md).

An audit reads one number per model, example and view, not the whole logits row: ``phi`` float32
``[M, N, V]`` (the logit-scaled confidence, :func:`muaudit.attacks.logit_scaled_confidence`) and
``correct`` bool ``[M, N, V]`` (the top-1 label is the true one: the label-only attack and the
compatibility block's accuracy). A commit computes them from the row's logits and the pool's
labels and writes them with their own bound sha256 (``signal_checksums``), so an audit's time and
memory do not grow with the number of classes. Pools written before (versions 1 to 3) have no
signals: :func:`signals_from_logits` computes them from the logits, a bounded chunk of models at
a time (:func:`logits_chunks`); ``muaudit pool build`` migrates such a pool at its next commit.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from muaudit.attacks.signals import logit_scaled_confidence

SIGNAL_DATASETS = ("phi", "correct", "signal_checksums")
CHUNK_BYTES = 256 * 2**20  # logits read per chunk of models where logits are still needed
_SIGNAL_TAG = b"muaudit-pool-signals-v4\0"


def row_signals(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(phi float32 [N, V], correct bool [N, V])`` of one row of logits ``[N, V, C]``.

    Example:
        >>> phi, ok = row_signals(np.array([[[2.0, 0.0]], [[0.0, 1.0]]], np.float32), np.array([0, 0]))
        >>> phi.round(2).tolist(), ok.tolist()
        ([[2.0], [-1.0]], [[True], [False]])
    """
    z = np.asarray(logits)
    phi = logit_scaled_confidence(z, labels).astype(np.float32)
    return phi, z.argmax(-1) == np.asarray(labels)[:, None]


def many_signals(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`row_signals` of every row of ``[M, N, V, C]``: ``(phi [M, N, V], correct [M, N, V])``."""
    phi = np.empty(logits.shape[:-1], np.float32)
    correct = np.empty(logits.shape[:-1], bool)
    for i, row in enumerate(logits):
        phi[i], correct[i] = row_signals(row, labels)
    return phi, correct


def signal_checksum(phi: np.ndarray, correct: np.ndarray, model: int, group: str = "") -> np.ndarray:
    """sha256 (uint8 ``[32]``) of one row's signals bound to its place (as the logits' row
    checksum): a tag, the group path, the model index, the shape, then ``phi`` as little-endian
    float32 and ``correct`` as one byte per entry, in C order."""
    p = np.ascontiguousarray(phi, dtype="<f4")
    c = np.ascontiguousarray(correct, dtype="|u1")
    h = hashlib.sha256(_SIGNAL_TAG + f"{group}\0{int(model)}\0{list(p.shape)}\0".encode())
    h.update(memoryview(p).cast("B"))
    h.update(memoryview(c).cast("B"))
    return np.frombuffer(h.digest(), np.uint8)


def signal_datasets(parent, M: int, N: int, V: int) -> None:
    """``phi``, ``correct`` (allocated at creation, never filled: holes) and ``signal_checksums``."""
    for name, dtype in (("phi", "<f4"), ("correct", "|b1")):
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        parent.create_dataset(name, shape=(M, N, V), dtype=dtype, dcpl=dcpl, fill_time="never", track_times=False)
    parent.create_dataset("signal_checksums", data=np.zeros((M, 32), np.uint8), track_times=False)


def chunk_models(row_shape: tuple, budget: int = CHUNK_BYTES) -> int:
    """How many rows of float32 ``row_shape`` fit ``budget`` bytes (at least one)."""
    return max(1, int(budget // max(1, 4 * int(np.prod(row_shape)))))


def logits_chunks(pool, models: np.ndarray, group: str | None = None, *, budget: int = CHUNK_BYTES):
    """Yield ``(positions, logits [k, N, V, C])`` over ``models`` in chunks of at most ``budget``
    bytes (each row checked against its checksum as :meth:`Pool.logits` does)."""
    k = chunk_models(pool.logits_shape[1:], budget)
    for start in range(0, len(models), k):
        yield slice(start, min(start + k, len(models))), pool.logits(models[start:start + k], group=group)


def signals_from_logits(pool, models: np.ndarray, group: str | None = None,
                        *, budget: int = CHUNK_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """``(phi, correct)`` ``[len(models), N, V]`` computed from the logits, one chunk at a time:
    memory is the signals plus one chunk of logits, whatever the number of models."""
    shape = (len(models),) + tuple(pool.logits_shape[1:3])
    phi, correct = np.empty(shape, np.float32), np.empty(shape, bool)
    for pos, z in logits_chunks(pool, models, group, budget=budget):
        phi[pos], correct[pos] = many_signals(z, pool.labels)
    return phi, correct
