"""The datasets of a schema-version-4 pool file (docs/pool-format.md) and the row checksum.

Every per-model array is allocated in full, uncompressed and contiguous, when its file or group
is created, so committing a row changes only raw data bytes, never HDF5 metadata: a build
killed during a commit can tear at most the rows being written, whose ``done`` flags are still
false. Rows never written are file-system holes (they take no disk space and read as zeros).
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np

from muaudit.pool.signals import signal_datasets

SCHEMA_VERSION = 4
# version 1: copy-on-commit files, gzip rows, no checksums; version 2: row checksums over the
# logits only (not bound to their model), no content checksums; version 3: no per-example signals
# (muaudit.pool.signals: computed from the logits). All are read with their own rules.
READABLE_VERSIONS = (1, 2, 3, 4)
CHECKSUM_BYTES = 32  # sha256
CONTENT_ATTR = "content_sha256"  # version 3: JSON {part: sha256 hex} of the root / a group (muaudit.pool.digest)
_ROW_TAG = b"muaudit-pool-row-v3\0"


def row_checksum(row: np.ndarray, model: int, group: str = "") -> np.ndarray:
    """sha256 (uint8 ``[32]``) of one row bound to its place: a tag, the group path (``""`` for
    the base shadows, ``"unlearned/ga"``, ...), the model index, the row's shape, then the logits
    as little-endian float32 bytes in C order. A row moved to another model or group (with its
    checksum) fails its check."""
    data = np.ascontiguousarray(row, dtype="<f4")
    h = hashlib.sha256(_ROW_TAG + f"{group}\0{int(model)}\0{list(data.shape)}\0".encode())
    h.update(memoryview(data).cast("B"))
    return np.frombuffer(h.digest(), np.uint8)


def legacy_row_checksum(row: np.ndarray) -> np.ndarray:
    """The schema-version-2 row checksum: sha256 of the logits bytes alone (not bound to the row)."""
    data = np.ascontiguousarray(row, dtype="<f4")
    return np.frombuffer(hashlib.sha256(memoryview(data).cast("B")).digest(), np.uint8)


def logits_dataset(parent, M: int, N: int, V: int, C: int):
    """float32 ``[M, N, V, C]``, contiguous, allocated at creation, never filled (holes)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return parent.create_dataset("logits", shape=(M, N, V, C), dtype="<f4", dcpl=dcpl, fill_time="never",
                                 track_times=False)


def row_datasets(parent, M: int, N: int, V: int, C: int, *, sample_gradients: bool) -> None:
    """The per-model datasets of the base shadows (``parent`` = root) or of one model group."""
    parent.create_dataset("done", data=np.zeros(M, bool), track_times=False)
    parent.create_dataset("seconds", data=np.zeros(M, "<f8"), track_times=False)
    parent.create_dataset("checksums", data=np.zeros((M, CHECKSUM_BYTES), np.uint8), track_times=False)
    if sample_gradients:
        parent.create_dataset("sample_gradients", data=np.zeros(M, "<i8"), track_times=False)
    logits_dataset(parent, M, N, V, C)
    signal_datasets(parent, M, N, V)


def write_root(f, *, attrs: dict, arrays: dict, shape: tuple[int, int, int, int]) -> None:
    """Root attributes, the design arrays (``keep``, ``seeds``, ``population``, ...), the base
    rows, and the content checksums of everything under the digest (``content_sha256``)."""
    from muaudit.pool.digest import root_parts

    f.attrs.update({**{k: v for k, v in attrs.items() if k != CONTENT_ATTR}, "schema_version": SCHEMA_VERSION})
    for name, value in arrays.items():
        if value is not None:
            f.create_dataset(name, data=value, track_times=False)
    row_datasets(f, *shape, sample_gradients=False)
    f.attrs[CONTENT_ATTR] = json.dumps(root_parts(f), sort_keys=True)


def write_group(f, path: str, forget: np.ndarray, attrs: dict, shape: tuple[int, int, int, int]):
    """An empty model group (``unlearned/<name>`` or ``retrain/<name>``) with its content checksums."""
    from muaudit.pool.digest import group_parts

    g = f.create_group(path)
    g.attrs.update({k: v for k, v in attrs.items() if k != CONTENT_ATTR})
    g.create_dataset("forget", data=np.asarray(forget, bool), track_times=False)
    row_datasets(g, *shape, sample_gradients=True)
    g.attrs[CONTENT_ATTR] = json.dumps(group_parts(g), sort_keys=True)
    return g
