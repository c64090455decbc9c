"""The HDF5 pool store (schema in docs/pool-format.md).

Crash safety: ``pool.h5`` is never modified in place. Each commit copies it to a temporary file,
writes the finished models' rows and sets ``done[m]``, flushes, fsyncs and atomically renames the
copy over ``pool.h5``. A build killed at any moment leaves the previous valid ``pool.h5``.
A lock file (``flock``) stops a second writer.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

import muaudit
from muaudit.errors import PoolError

SCHEMA_VERSION = 1
POOL_FILE = "pool.h5"


def resolve_pool_file(path) -> Path:
    """``DIR`` -> ``DIR/pool.h5``; a file path is returned unchanged."""
    p = Path(path)
    return p / POOL_FILE if p.is_dir() or p.suffix != ".h5" else p


@contextmanager
def pool_lock(pool_file: Path):
    """Exclusive writer lock next to the pool file; a second writer gets a PoolError."""
    pool_file.parent.mkdir(parents=True, exist_ok=True)
    lock_path = pool_file.with_name(pool_file.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="ignore").strip() or "?"
            raise PoolError(f"pool {pool_file} is locked by another build (pid {holder}); wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _atomic_rewrite(pool_file: Path, write) -> None:
    """Copy ``pool_file`` (if any), let ``write(h5file)`` change the copy, then rename it over."""
    tmp = pool_file.with_name(f".{pool_file.name}.tmp")
    if pool_file.exists():
        shutil.copyfile(pool_file, tmp)
    with h5py.File(tmp, "a") as f:
        write(f)
        f.flush()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, pool_file)


def create_pool_file(pool_file: Path, *, spec_json: str, fingerprint: str, population: np.ndarray,
                     labels: np.ndarray, split: np.ndarray, keep: np.ndarray, seeds: np.ndarray,
                     n_views: int, n_classes: int, attrs: dict, forget: np.ndarray | None = None) -> None:
    """Write a new, empty pool (no model done yet)."""
    M, N = keep.shape

    def write(f):
        f.attrs.update({"schema_version": SCHEMA_VERSION, "spec": spec_json, "dataset_fingerprint": fingerprint,
                        "muaudit_version": muaudit.__version__, **attrs})
        f["population"], f["labels"], f["split"] = population, labels, split
        f["keep"], f["seeds"] = keep, seeds
        f["done"] = np.zeros(M, bool)
        f["seconds"] = np.zeros(M, np.float64)
        f.create_dataset("logits", shape=(M, N, n_views, n_classes), dtype="f4",
                         chunks=(1, N, n_views, n_classes), compression="gzip", compression_opts=4,
                         fillvalue=np.nan)
        if forget is not None:
            f["forget"] = forget

    _atomic_rewrite(pool_file, write)


def commit_rows(pool_file: Path, rows: dict[int, tuple[np.ndarray, float]]) -> None:
    """Write finished models' logits ``[N, V, C]`` and seconds, then mark them done (atomically)."""
    for m, (logits, _) in rows.items():
        if not np.isfinite(logits).all():
            raise PoolError(f"model {m} produced NaN/inf logits; lower the learning rate in the recipe")

    def write(f):
        for m, (logits, seconds) in rows.items():
            f["logits"][m] = logits
            f["seconds"][m] = seconds
        done = f["done"][()]
        done[list(rows)] = True
        f["done"][...] = done

    _atomic_rewrite(pool_file, write)


class Pool:
    """Read access to a pool file. Arrays are loaded lazily; ``logits`` only on request.

    Attributes: ``spec`` (dict), ``fingerprint``, ``keep`` bool ``[M, N]``, ``seeds``, ``done``,
    ``population`` (dataset rows ``[N]``), ``labels``, ``split``, ``forget`` (bool ``[N]`` or None),
    ``attrs`` (all root attributes).
    """

    def __init__(self, path):
        self.path = resolve_pool_file(path)
        if not self.path.is_file():
            raise PoolError(f"no pool at {path}; build one with `muaudit pool build RECIPE --out {path}`")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
                version = self.attrs.get("schema_version")
                if version != SCHEMA_VERSION:
                    raise PoolError(f"pool {self.path} has schema version {version}, this muaudit reads "
                                    f"{SCHEMA_VERSION}; rebuild it with `muaudit pool build`")
                for name in ("keep", "seeds", "done", "population", "labels", "split", "seconds"):
                    setattr(self, name, f[name][()])
                self.forget = f["forget"][()] if "forget" in f else None
                self.logits_shape = tuple(f["logits"].shape)
        except (OSError, KeyError) as e:
            raise PoolError(f"pool {self.path} is corrupt or not a muaudit pool ({e}); rebuild it") from None
        self.spec = json.loads(self.attrs["spec"])
        self.fingerprint = self.attrs["dataset_fingerprint"]

    @property
    def n_models(self) -> int:
        return self.keep.shape[0]

    @property
    def n_done(self) -> int:
        return int(self.done.sum())

    def require_complete(self) -> "Pool":
        if not self.done.all():
            raise PoolError(f"pool {self.path} is unfinished ({self.n_done}/{self.n_models} models done); "
                            f"resume with `muaudit pool build RECIPE --out {self.path.parent}`")
        return self

    def check_fingerprint(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise PoolError(f"pool {self.path} was built on other data (fingerprint {self.fingerprint[:12]} "
                            f"!= {fingerprint[:12]}); use a pool built on this dataset")

    def logits(self, models=None) -> np.ndarray:
        """float32 ``[M', N, V, C]`` for the given model indices (default: all done models)."""
        idx = np.flatnonzero(self.done) if models is None else np.asarray(models)
        with h5py.File(self.path, "r") as f:
            out = np.stack([f["logits"][int(m)] for m in idx]) if len(idx) else np.zeros((0,) + self.logits_shape[1:], np.float32)
        if not np.isfinite(out).all():
            raise PoolError(f"pool {self.path} holds NaN/inf logits; rebuild it")
        return out
