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
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

import muaudit
from muaudit.errors import PoolError

SCHEMA_VERSION = 1
POOL_FILE = "pool.h5"
GROUP_KINDS = ("unlearned", "retrain")  # groups ``unlearned/<name>`` and ``retrain/<name>``


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
        _logits_dataset(f, "logits", M, N, n_views, n_classes)
        if forget is not None:
            f["forget"] = forget

    _atomic_rewrite(pool_file, write)


def _logits_dataset(f, name: str, M: int, N: int, V: int, C: int) -> None:
    f.create_dataset(name, shape=(M, N, V, C), dtype="f4", chunks=(1, N, V, C), compression="gzip",
                     compression_opts=4, fillvalue=np.nan)


def create_groups(pool_file: Path, groups: dict[str, tuple[np.ndarray, dict]]) -> None:
    """Add empty model groups ``{"unlearned/ga": (forget [M, N] bool, attrs)}`` (atomically)."""

    def write(f):
        M, N, V, C = f["logits"].shape
        for path, (forget, attrs) in groups.items():
            g = f.create_group(path)
            g.attrs.update(attrs)
            g["forget"] = np.asarray(forget, bool)
            g["done"] = np.zeros(M, bool)
            g["seconds"] = np.zeros(M, np.float64)
            g["sample_gradients"] = np.zeros(M, np.int64)
            _logits_dataset(g, "logits", M, N, V, C)

    _atomic_rewrite(pool_file, write)


def commit(pool_file: Path, rows: dict[str, dict[int, tuple]]) -> None:
    """Write finished rows of several groups at once, then mark them done (atomically).

    ``rows[group][m] = (logits [N, V, C], seconds[, sample_gradients])``; group ``""`` is the base
    shadows, ``"unlearned/<name>"`` / ``"retrain/<name>"`` the model groups.
    """
    for group, by_model in rows.items():
        for m, row in by_model.items():
            if not np.isfinite(row[0]).all():
                what = f"model {m}" + (f" of {group}" if group else "")
                raise PoolError(f"{what} produced NaN/inf logits; lower the learning rate in the recipe")

    def write(f):
        for group, by_model in rows.items():
            if not by_model:
                continue
            g = f[group] if group else f
            for m, row in by_model.items():
                g["logits"][m] = row[0]
                g["seconds"][m] = row[1]
                if len(row) > 2:
                    g["sample_gradients"][m] = row[2]
            done = g["done"][()]
            done[list(by_model)] = True
            g["done"][...] = done

    _atomic_rewrite(pool_file, write)


def commit_rows(pool_file: Path, rows: dict[int, tuple[np.ndarray, float]]) -> None:
    """Write finished base models' logits ``[N, V, C]`` and seconds, then mark them done (atomically)."""
    commit(pool_file, {"": rows})


@dataclass(frozen=True)
class ShadowGroup:
    """A group of per-shadow models derived from the base shadows (see docs/pool-format.md).

    ``kind`` is ``"unlearned"`` or ``"retrain"``; ``forget`` bool ``[M, N]`` (``F_m``), ``done``,
    ``seconds``, ``sample_gradients`` ``[M]``; ``attrs`` holds ``entry`` (the recipe entry, JSON),
    ``method`` and ``config`` (the resolved method config, JSON).
    """

    path: str
    kind: str
    name: str
    forget: np.ndarray
    done: np.ndarray
    seconds: np.ndarray
    sample_gradients: np.ndarray
    attrs: dict

    @property
    def entry(self) -> dict:
        return json.loads(self.attrs.get("entry", "{}"))


def _read_groups(f) -> dict[str, ShadowGroup]:
    out = {}
    for kind in GROUP_KINDS:
        for name, g in (f[kind].items() if kind in f else []):
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
            out[f"{kind}/{name}"] = ShadowGroup(f"{kind}/{name}", kind, name, g["forget"][()], g["done"][()],
                                                g["seconds"][()], g["sample_gradients"][()], attrs)
    return out


class Pool:
    """Read access to a pool file. Arrays are loaded lazily; ``logits`` only on request.

    Attributes: ``spec`` (dict), ``fingerprint``, ``keep`` bool ``[M, N]``, ``seeds``, ``done``,
    ``population`` (dataset rows ``[N]``), ``labels``, ``split``, ``forget`` (bool ``[N]`` or None),
    ``attrs`` (all root attributes), ``groups`` (``{"unlearned/ga": ShadowGroup, ...}``).
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
                self.groups = _read_groups(f)
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

    @property
    def unlearned(self) -> dict[str, ShadowGroup]:
        """``{name: group}`` of the unlearned-shadow groups."""
        return {g.name: g for g in self.groups.values() if g.kind == "unlearned"}

    @property
    def retrained(self) -> dict[str, ShadowGroup]:
        """``{name: group}`` of the exact-retrain groups."""
        return {g.name: g for g in self.groups.values() if g.kind == "retrain"}

    def logits(self, models=None, *, group: str | None = None) -> np.ndarray:
        """float32 ``[M', N, V, C]`` for the given model indices (default: all done models) of the
        base shadows, or of ``group`` (e.g. ``"unlearned/ga"``)."""
        done = self.groups[group].done if group else self.done
        idx = np.flatnonzero(done) if models is None else np.asarray(models)
        with h5py.File(self.path, "r") as f:
            ds = f[group]["logits"] if group else f["logits"]
            out = np.stack([ds[int(m)] for m in idx]) if len(idx) else np.zeros((0,) + self.logits_shape[1:], np.float32)
        if not np.isfinite(out).all():
            raise PoolError(f"pool {self.path} holds NaN/inf logits{' in ' + group if group else ''}; rebuild it")
        return out
