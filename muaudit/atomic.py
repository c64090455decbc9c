"""Atomic writes: every output file and results folder is written beside its final place and moved
into place only when complete, so a full disk, a read-only place or a kill leaves the previous
output intact (or nothing), never a half-written file.

- :func:`write_file` (``write_text`` / ``write_bytes``): a temporary sibling ``.NAME.tmp-XXXX``,
  flushed and fsynced, then ``os.replace`` onto the final name.
- :func:`staged_dir`: a results folder is written as ``OUT.tmp-XXXX/``; when complete, an existing
  ``OUT`` is renamed away, the new folder renamed in, and the old one deleted.

A failed write removes its temporaries and raises one :class:`~muaudit.errors.MuauditError` naming
the path (``no space left on device writing PATH``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from muaudit.errors import MuauditError

RESULTS_MARKER = "results.json"  # a folder holding it may be replaced by a new results folder


def write_error(path, e: BaseException, error=MuauditError) -> MuauditError:
    """The one-line error of a failed write of ``path`` (``ENOSPC`` said in words)."""
    no_space = getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(e)
    if no_space:
        return error(f"no space left on device writing {path}; the previous output (if any) is unchanged; "
                     "free space and rerun")
    text = str(e).strip()
    why = getattr(e, "strerror", None) or (text.splitlines()[0] if text else type(e).__name__)
    return error(f"cannot write {path} ({why})")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(final: Path, base: int) -> int:
    """The mode a plain ``open``/``mkdir`` would give (``mkstemp``/``mkdtemp`` give 0600/0700), or
    the mode of the file being replaced."""
    try:
        return final.stat().st_mode & 0o7777
    except OSError:
        return base & ~_umask()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path, writer, *, mode: str = "wb", error=MuauditError, **open_kwargs) -> Path:
    """Call ``writer(f)`` on a temporary sibling of ``path`` opened with ``mode``, then move it onto
    ``path``. ``path`` may be a symbolic link: the file it points to is replaced (the link stays)."""
    path = Path(path)
    final = Path(os.path.realpath(path)) if path.is_symlink() else path
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
        tmp = Path(name)
        os.chmod(fd, _default_mode(final, 0o666))
        with os.fdopen(fd, mode, **open_kwargs) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        tmp = None
        _fsync_dir(final.parent)
    except (OSError, RuntimeError, ValueError) as e:  # torch/numpy report a full disk as RuntimeError/ValueError
        raise write_error(path, e, error) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return path


def write_text(path, text: str, error=MuauditError) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_file(path, lambda f: f.write(text), mode="w", encoding="utf-8", newline="", error=error)


def write_bytes(path, data: bytes, error=MuauditError) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_file(path, lambda f: f.write(data), error=error)


def check_replaceable(out: Path, inputs=(), error=MuauditError) -> None:
    """Refuse to replace ``out`` when it holds anything but a results folder (it is not empty and
    has no ``results.json``) or when one of ``inputs`` lies inside it (it would be deleted)."""
    from muaudit.paths import inside

    if out.is_dir() and any(out.iterdir()) and not (out / RESULTS_MARKER).is_file():
        raise error(f"{out} is not empty and not a muaudit results folder; choose a new or empty --out")
    for p in (inputs.values() if isinstance(inputs, dict) else inputs):
        if isinstance(p, (str, os.PathLike)) and os.path.exists(p) and out.exists() and inside(p, out):
            raise error(f"the input {p} lies inside the output folder {out}; write the results elsewhere")


@contextlib.contextmanager
def staged_dir(out, inputs=(), error=MuauditError):
    """Yield a new temporary folder ``OUT.tmp-XXXX`` beside ``out``; when the block ends without an
    exception, swap it in for ``out`` (whose old contents are deleted). On any failure the
    temporary folder is removed and ``out`` is unchanged."""
    from muaudit.paths import check_output_dir, output_dir

    check_output_dir(out, error)
    out = Path(os.path.realpath(out))  # a symlinked folder is written through; the link stays
    cwd = Path.cwd().resolve()
    if out in (cwd, *cwd.parents):
        raise error(f"cannot replace {out}: it is the working folder or holds it; choose a new --out")
    output_dir(out.parent, error)
    check_replaceable(out, inputs, error)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
        os.chmod(tmp, _default_mode(out, 0o777))
    except OSError as e:
        raise write_error(out, e, error) from None
    try:
        yield tmp
        _sync_tree(tmp)
        _swap(tmp, out)
    except OSError as e:  # a full disk, a read-only place: one line naming the folder
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(out, e, error) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sync_tree(folder: Path) -> None:
    for dirpath, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _swap(new: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_inside(root, path, data, error=MuauditError) -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically, creating its folders, after checking
    that it resolves inside the output folder ``root`` (a name read from a file, or a symbolic
    link planted in the folder, must never make a command write elsewhere)."""
    from muaudit.paths import check_inside

    path = Path(path)
    check_inside(path, root, error)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e, error) from None
    check_inside(path, root, error)
    return write_text(path, data, error) if isinstance(data, str) else write_bytes(path, data, error)
