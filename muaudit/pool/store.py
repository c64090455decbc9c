"""The HDF5 pool store (schema version 4, docs/pool-format.md).

A commit writes the finished rows in place (their logits, their per-example signals
(:mod:`muaudit.pool.signals`), the sha256 of both and seconds), flushes and
fsyncs them, reads them back and checks their checksums, and only then writes and fsyncs their
``done`` flags: its cost is proportional to the rows it writes, and a build killed at any moment
leaves every committed row intact (a torn row is not marked done). Creating a file or adding
model groups writes a new file and renames it over the old one (atomic). Any write failure
(a full disk, an I/O error, a read-only file system) raises one :class:`PoolError` and publishes
nothing. A lock file (``flock``) stops a second writer; readers never need write access.
Version-1 pools (copy-on-commit), version-2 pools (row checksums not bound to their model) and
version-3 pools (no signals) are read with their own rules and migrated by the first commit.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import muaudit
from muaudit.errors import PoolError
from muaudit.pool.fileio import (WriteFailure, fsync_file, h5open, is_write_error, publish, real_path,
                                 remove_quietly, run_isolated, write_failure)
from muaudit.pool.layout import SCHEMA_VERSION, row_checksum, write_group, write_root
from muaudit.pool.signals import row_signals, signal_checksum
from muaudit.pool.reader import GROUP_KINDS, POOL_FILE, Pool, ShadowGroup, resolve_pool_file

__all__ = ["GROUP_KINDS", "POOL_FILE", "SCHEMA_VERSION", "Pool", "ShadowGroup", "commit", "commit_rows",
           "create_groups", "create_pool_file", "pool_lock", "resolve_pool_file"]


@contextmanager
def pool_lock(pool_file: Path):
    """Exclusive writer lock next to the (symlink-resolved) pool file; a second writer gets a
    PoolError. Where the lock cannot be created (a read-only location) the block runs unlocked:
    it can only read, and any write it tries fails with a clear error. Write failures inside
    the block (also of weight files) become one PoolError naming the pool's committed models."""
    pool_file = Path(pool_file)
    real = real_path(pool_file)
    lock_path = real.with_name(real.name + ".lock")  # one lock per file, whichever link names it
    fd = _acquire(pool_file, lock_path)
    try:
        if fd is not None:
            _write_pid(fd)
        try:
            yield
        except PoolError:
            raise
        except (OSError, RuntimeError) as e:
            where = _failed_path(e)
            ours = where is not None and real_path(where).is_relative_to(real_path(pool_file).parent)
            if not (is_write_error(e) or (isinstance(e, PermissionError) and ours)):
                raise
            raise write_failure(pool_file, e, what=where or pool_file) from None
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):  # no lock file left behind (a read-only place keeps it)
                os.unlink(lock_path)
            os.close(fd)


def _acquire(pool_file: Path, lock_path: Path) -> int | None:
    """Open and ``flock`` the lock file. The holder removes it when done (while still holding
    it), so a lock taken on a file that was removed meanwhile is dropped and taken again on the
    file now at ``lock_path``: two writers can never hold locks on two different files."""
    while True:
        fd = _open_lock(pool_file, lock_path)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="ignore").strip() or "?"
            os.close(fd)
            raise PoolError(f"pool {pool_file} is locked by another build (pid {holder}); wait for it to finish") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)


def _open_lock(pool_file: Path, lock_path: Path) -> int | None:
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_failure(pool_file, e, what=lock_path.parent) from None
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise write_failure(pool_file, e, what=lock_path) from None
    try:
        return os.open(lock_path, os.O_RDONLY)  # flock works on a read-only descriptor
    except OSError:
        return None


def _write_pid(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError:  # a read-only lock file: the lock is held all the same
        pass


def _failed_path(e: BaseException) -> Path | None:
    name = getattr(e, "filename", None)
    return Path(name) if isinstance(name, (str, os.PathLike)) else None


def create_pool_file(pool_file: Path, *, spec_json: str, fingerprint: str, population: np.ndarray,
                     labels: np.ndarray, split: np.ndarray, keep: np.ndarray, seeds: np.ndarray,
                     n_views: int, n_classes: int, attrs: dict, forget: np.ndarray | None = None) -> None:
    """Write a new, empty pool (no model done yet); its rows are allocated but take no space."""
    M, N = keep.shape
    root_attrs = {"spec": spec_json, "dataset_fingerprint": fingerprint, "muaudit_version": muaudit.__version__, **attrs}
    arrays = {"population": population, "labels": labels, "split": split, "keep": keep, "seeds": seeds, "forget": forget}
    _write_new(Path(pool_file), lambda f: write_root(f, attrs=root_attrs, arrays=arrays, shape=(M, N, n_views, n_classes)))


def create_groups(pool_file: Path, groups: dict[str, tuple[np.ndarray, dict]]) -> None:
    """Add empty model groups ``{"unlearned/ga": (forget [M, N] bool, attrs)}`` (atomically:
    a new file with the committed rows, checked against their checksums, renamed over the old)."""
    _rewrite(Path(pool_file), groups)


def _rewrite(pool_file: Path, new_groups: dict) -> None:
    old = Pool(pool_file)
    if old.schema_version != SCHEMA_VERSION:
        warnings.warn(f"pool {pool_file} has schema version {old.schema_version}; migrating it to version "
                      f"{SCHEMA_VERSION} (a one-time copy of its {old.n_done} done models)", stacklevel=4)

    def write(f):
        arrays = {k: getattr(old, k) for k in ("population", "labels", "split", "keep", "seeds", "forget")}
        attrs = {k: val for k, val in old.attrs.items() if k != "schema_version"}
        write_root(f, attrs=attrs, arrays=arrays, shape=old.logits_shape)
        for path, g in old.groups.items():
            write_group(f, path, g.forget, g.attrs, old.logits_shape)
        for path, (forget, attrs) in new_groups.items():
            write_group(f, path, forget, attrs, old.logits_shape)
        for group in [None, *old.groups]:
            _copy_rows(old, f, group)

    _write_new(pool_file, write)


def _copy_rows(old: Pool, f, group: str | None) -> None:
    """Copy the committed rows of one group, one at a time (each checked on the way)."""
    g = f[group] if group else f
    extra = old.groups[group].sample_gradients if group else None
    seconds = old.groups[group].seconds if group else old.seconds
    for m in np.flatnonzero(old.done_of(group)):
        row = old.logits([m], group=group)[0]
        g["logits"][m] = row
        g["checksums"][m] = row_checksum(row, int(m), group or "")
        _write_signals(g, int(m), row_signals(row, old.labels), group or "")
        g["seconds"][m] = seconds[m]
        if extra is not None:
            g["sample_gradients"][m] = extra[m]
    g["done"][...] = old.done_of(group)


def _write_new(pool_file: Path, write) -> None:
    """Write a whole file next to the (symlink-resolved) target, check it, and rename it over."""
    target = real_path(pool_file)
    tmp = target.with_name(f".{target.name}.tmp")

    def write_file():
        with h5open(tmp, "w") as f:
            write(f)
            f.flush()

    try:
        run_isolated(write_file, tmp)
        _check_rows(Pool(tmp))
        publish(tmp, target)
    except BaseException as e:
        remove_quietly(tmp)
        if isinstance(e, OSError) or is_write_error(e):
            raise write_failure(pool_file, e) from None
        raise


def _check_rows(pool: Pool) -> None:
    from muaudit.pool.verify import bad_rows

    bad = bad_rows(pool)
    if bad:
        raise WriteFailure(f"rows {bad} read back other bytes than were written to {pool.path}; the disk is "
                           "failing; the pool is intact, rerun elsewhere")


def commit(pool_file: Path, rows: dict[str, dict[int, tuple]]) -> None:
    """Write finished rows of several groups at once, then mark them done.

    ``rows[group][m] = (logits [N, V, C], seconds[, sample_gradients])``; group ``""`` is the base
    shadows, ``"unlearned/<name>"`` / ``"retrain/<name>"`` the model groups. A row already done
    is left as it is (a row is written once). Rows are checked (finite) before anything is
    written; the write is in place and costs O(rows written), see the module docstring.
    """
    pool_file = Path(pool_file)
    rows = {g: {int(m): r for m, r in by.items()} for g, by in rows.items() if by}
    for group, by_model in rows.items():
        for m, row in by_model.items():
            if not np.isfinite(row[0]).all():
                what = f"model {m}" + (f" of {group}" if group else "")
                raise PoolError(f"{what} produced NaN/inf logits; lower the learning rate in the recipe")
    if not rows:
        return
    _migrate_if_old(pool_file)
    sums = {g: {m: row_checksum(r[0], m, g) for m, r in by.items()} for g, by in rows.items()}
    try:
        with h5open(pool_file, "r+") as f:
            labels = f["labels"][()]
            todo = _write_rows(f, rows, sums, labels)
            f.flush()
            fsync_file(pool_file)
            _check_written(f, pool_file, todo, sums)
            for group, ms in todo.items():
                done = (f[group] if group else f)["done"]
                flags = done[()]
                flags[ms] = True
                done[...] = flags
            f.flush()
        fsync_file(pool_file)
    except OSError as e:
        raise write_failure(pool_file, e) from None


def _write_signals(g, m: int, signals: tuple, group: str) -> np.ndarray:
    """Row ``m``'s ``phi`` and ``correct`` and their bound checksum (returned)."""
    phi, correct = signals
    g["phi"][m] = phi
    g["correct"][m] = correct
    g["signal_checksums"][m] = s = signal_checksum(phi, correct, m, group)
    return s


def _write_rows(f, rows: dict, sums: dict, labels: np.ndarray) -> dict[str, list[int]]:
    todo = {}
    for group, by_model in rows.items():
        g = f[group] if group else f
        done = g["done"][()]
        shape = g["logits"].shape[1:]
        for m, row in by_model.items():
            if done[m]:
                continue
            data = np.asarray(row[0], "<f4")
            if data.shape != shape:
                raise PoolError(f"model {m}{' of ' + group if group else ''} has logits of shape {data.shape}, "
                                f"the pool stores {shape}")
            g["logits"][m] = data
            g["checksums"][m] = sums[group][m]
            sums[(group, "signals")] = {**sums.get((group, "signals"), {}),
                                        m: _write_signals(g, m, row_signals(data, labels), group)}
            g["seconds"][m] = row[1]
            if len(row) > 2:
                g["sample_gradients"][m] = row[2]
            todo.setdefault(group, []).append(m)
    return todo


def _check_written(f, pool_file: Path, todo: dict, sums: dict) -> None:
    """Read every written row back: what the disk holds must be what was computed."""
    for group, ms in todo.items():
        g = f[group] if group else f
        for m in ms:
            signals = signal_checksum(g["phi"][m], g["correct"][m], m, group)
            if not (np.array_equal(row_checksum(g["logits"][m], m, group), sums[group][m])
                    and np.array_equal(signals, sums[(group, "signals")][m])):
                raise WriteFailure(f"model {m}{' of ' + group if group else ''} reads back other bytes than were "
                                   f"written to {pool_file}; the disk is failing; the pool is intact, rerun elsewhere")


def _migrate_if_old(pool_file: Path) -> None:
    with h5open(pool_file) as f:
        version = f.attrs.get("schema_version")
    if version == SCHEMA_VERSION:
        return
    _rewrite(pool_file, {})  # validates the file (refuses unknown versions) and says so


def commit_rows(pool_file: Path, rows: dict[int, tuple[np.ndarray, float]]) -> None:
    """Write finished base models' logits ``[N, V, C]`` and seconds, then mark them done."""
    commit(pool_file, {"": rows})
