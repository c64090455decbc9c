"""Paths a user names: inputs that must be readable files, outputs that must be writable and
must not overwrite an input. Every problem is one error naming the path (never an ``OSError``
traceback), so a symlink loop, a path through a regular file, a directory where a file belongs
or a read-only place all end as one ``Error:`` line."""

from __future__ import annotations

import os
from pathlib import Path

from muaudit.errors import DataError, MuauditError


def existing_file(path, what: str, error=DataError) -> Path:
    """``path`` as a Path if it is a readable regular file, else ``error`` saying what it is."""
    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"{what} {p} is a directory, not a file")
        if not p.exists():
            raise error(f"{what} {p} does not exist")
        if not p.is_file():
            raise error(f"{what} {p} is not a regular file")
    except OSError as e:  # e.g. a symlink loop, a name too long
        raise error(f"{what} {p} cannot be read ({e.strerror or e})") from None
    return p


def output_file(path, inputs: dict, error=DataError) -> Path:
    """Check that ``path`` can be a new output file: not a directory, not under a regular file,
    and not one of ``inputs`` (``{"--model": path, ...}``: never overwrite what was read)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"output {p} is a directory; name a file")
        for option, other in inputs.items():
            if other is not None and Path(other).exists() and p.exists() and os.path.samefile(p, other):
                raise error(f"output {p} is the {option} input; write to another file")
        _check_parents(p, error)
    except OSError as e:  # a name too long, a permission problem on the way
        raise error(f"cannot write {p} ({e.strerror or e})") from None
    return p


def _check_parents(p: Path, error) -> None:
    """Raise when the first existing ancestor of ``p`` is not a directory, or ``p`` is a broken link."""
    if p.is_symlink() and not p.exists():
        raise error(f"cannot write {p}: it is a symbolic link that does not resolve (a loop or a dangling link)")
    for up in p.absolute().parents:
        if up.is_symlink() and not up.exists():
            raise error(f"cannot write {p}: {up} is a symbolic link that does not resolve (a loop or a dangling link)")
        if up.exists():
            if not up.is_dir():
                raise error(f"cannot write {p}: {up} is a file, not a directory")
            return


def output_dir(path, error=MuauditError) -> Path:
    """Create the output folder ``path`` (and its parents) or raise ``error`` saying why not."""
    p = Path(path)
    _check_parents(p, error)
    if p.exists() and not p.is_dir():
        raise error(f"cannot write into {p}: it is a file, not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"cannot create {p} ({e.strerror or e})") from None
    return p


def prepare_output_file(path, inputs: dict | None = None, error=MuauditError) -> Path:
    """Check ``path`` with :func:`output_file` and create its folder."""
    p = output_file(path, inputs or {}, error)
    output_dir(p.parent, error)
    return p
