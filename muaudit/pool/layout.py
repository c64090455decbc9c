"""The datasets of a schema-version-2 pool file (docs/pool-format.md) and the row checksum.

Every per-model array is allocated in full, uncompressed and contiguous, when its file or group
is created, so committing a row changes only raw data bytes, never HDF5 metadata: a build
killed during a commit can tear at most the rows being written, whose ``done`` flags are still
false. Rows never written are file-system holes (they take no disk space and read as zeros).
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: copy-on-commit files, gzip rows, no checksums
CHECKSUM_BYTES = 32  # sha256


def row_checksum(row: np.ndarray) -> np.ndarray:
    """sha256 (uint8 ``[32]``) of one row's logits as little-endian float32 bytes in C order."""
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


def write_root(f, *, attrs: dict, arrays: dict, shape: tuple[int, int, int, int]) -> None:
    """Root attributes, the design arrays (``keep``, ``seeds``, ``population``, ...) and the base rows."""
    f.attrs.update({"schema_version": SCHEMA_VERSION, **attrs})
    for name, value in arrays.items():
        if value is not None:
            f.create_dataset(name, data=value, track_times=False)
    row_datasets(f, *shape, sample_gradients=False)


def write_group(f, path: str, forget: np.ndarray, attrs: dict, shape: tuple[int, int, int, int]):
    """An empty model group (``unlearned/<name>`` or ``retrain/<name>``)."""
    g = f.create_group(path)
    g.attrs.update(attrs)
    g.create_dataset("forget", data=np.asarray(forget, bool), track_times=False)
    row_datasets(g, *shape, sample_gradients=True)
    return g
