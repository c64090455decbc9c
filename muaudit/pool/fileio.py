"""File mechanics of the pool store: opening HDF5 files, durable renames, and write failures
turned into one clear :class:`~muaudit.errors.PoolError` (see docs/security.md, "Pools")."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import signal
import warnings
from contextlib import contextmanager
from pathlib import Path

import h5py

from muaudit.errors import CheckpointWriteError, PoolError

# errno -> (what happened, what to do)
_REASONS = {
    errno.ENOSPC: ("no space left on device", "free space and rerun"),
    errno.EDQUOT: ("disk quota exceeded", "free space and rerun"),
    errno.EFBIG: ("file too large for the file system", "build into another --out"),
    errno.EROFS: ("read-only file system", "build into a writable --out"),
    errno.EACCES: ("permission denied", "build into a writable --out"),
    errno.EPERM: ("permission denied", "build into a writable --out"),
    errno.EIO: ("I/O error", "check the disk and rerun"),
}
_STRERRORS = {os.strerror(code).lower(): code for code in _REASONS}


class WriteFailure(PoolError):
    """A write, flush or fsync of the pool store failed; nothing was published."""


def h5open(path, mode: str = "r") -> h5py.File:
    """Open an HDF5 file without HDF5's own file locks (readers never block on a build; the
    single writer is guaranteed by :func:`~muaudit.pool.store.pool_lock`)."""
    return h5py.File(path, mode, locking=False, libver="earliest")


def real_path(path: Path) -> Path:
    """``path`` with symlinks resolved, so that writes go through a symlinked pool file."""
    return Path(os.path.realpath(path))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync directories
        pass
    finally:
        os.close(fd)


def publish(tmp: Path, target: Path) -> None:
    """fsync ``tmp`` and rename it over ``target`` (atomic), then fsync the directory."""
    fsync_file(tmp)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def run_isolated(fn, where: Path) -> None:
    """Run ``fn()`` (which writes a new HDF5 file) in a forked child. HDF5 crashes (segfaults)
    when it cannot flush metadata to a full disk while closing a file; in a child such a crash
    becomes an OSError here. The child dies with its parent (a killed build leaves no writer)."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork in threaded processes: the child only writes a file
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child: write, report, and leave without running any parent cleanup
        code = 0
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1), os.dup2(devnull, 2)  # HDF5's complaints while it fails; reported below
            _die_with_parent(parent)
            fn()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(write_end, f"{type(e).__name__}: {first_line(e)}".encode()[:4000])
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        if message.startswith("PoolError: "):  # e.g. a damaged row of the file being copied
            raise PoolError(message.removeprefix("PoolError: "))
        code = errno_of(OSError(message), where) or errno.EIO
        raise OSError(code, message or f"the writer died ({os.waitstatus_to_exitcode(status)})", str(where))


def _die_with_parent(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


@contextmanager
def removing_on_failure(tmp: Path):
    """Remove ``tmp`` if the block fails; a torch write error becomes an OSError with its errno."""
    try:
        yield
    except BaseException as e:
        remove_quietly(tmp)
        if isinstance(e, (RuntimeError, CheckpointWriteError)):
            code = errno_of(e, tmp.parent) or errno.EIO  # torch's write error, or save_checkpoint's word for one
            raise OSError(code, f"cannot write {tmp} ({first_line(e)})", str(tmp)) from None
        raise


def errno_of(exc: BaseException, where: Path | None = None) -> int | None:
    """The errno behind an OSError, an HDF5 error text (``errno = 28``) or a torch write error;
    else what the file system says (full or read-only)."""
    code = getattr(exc, "errno", None)
    if code in _REASONS:
        return code
    text = str(exc)
    found = re.search(r"errno = (\d+)", text)
    if found and int(found.group(1)) in _REASONS:
        return int(found.group(1))
    low = text.lower()
    for message, code in _STRERRORS.items():
        if message in low:
            return code
    if where is not None:
        where = Path(where)
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            st = os.statvfs(where)
        except OSError:
            return None
        if st.f_flag & os.ST_RDONLY:
            return errno.EROFS
        if st.f_bavail * st.f_frsize < 1 << 20:
            return errno.ENOSPC
    return None


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
_TORCH_WRITE = re.compile(r"PytorchStreamWriter|file write failed|iostream error|inline_container")


def is_write_error(exc: BaseException) -> bool:
    """A full, failing or read-only disk (by errno), or the RuntimeError torch raises when a
    checkpoint write fails; other errors (a missing input file, ...) are not write failures."""
    if isinstance(exc, RuntimeError) and _TORCH_WRITE.search(str(exc)):
        return True
    return isinstance(exc, OSError) and errno_of(exc) in DISK_ERRNOS


def write_failure(pool_file: Path, exc: BaseException, *, what: Path | None = None) -> WriteFailure:
    """``no space left on device writing POOL; the pool is intact at N models; free space and rerun``."""
    what = Path(what or pool_file)
    code = errno_of(exc, what.parent)
    reason, fix = _REASONS.get(code, (None, "check the disk and rerun"))
    if reason is None:
        reason = f"cannot write ({first_line(exc)})"
    return WriteFailure(f"{reason} writing {what}; the pool is intact at {count_done(pool_file)} models; {fix}")


def count_done(pool_file: Path) -> int:
    """Committed base models of a pool file (0 when there is none or it cannot be read)."""
    try:
        with h5open(pool_file) as f:
            return int(f["done"][()].sum())
    except Exception:  # noqa: BLE001 - only used to word an error message
        return 0


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
