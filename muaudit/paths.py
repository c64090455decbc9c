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


def check_output_dir(path, error=MuauditError) -> Path:
    """Raise ``error`` unless ``path`` can be an output folder (not a file, not under a file, not
    a dangling or looping link); creates nothing."""
    p = Path(path)
    _check_parents(p, error)
    if p.exists() and not p.is_dir():
        raise error(f"cannot write into {p}: it is a file, not a directory")
    return p


def output_dir(path, error=MuauditError) -> Path:
    """Create the output folder ``path`` (and its parents) or raise ``error`` saying why not."""
    p = check_output_dir(path, error)
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


# Windows device names: refused on every platform, so a folder written here can be copied anywhere
RESERVED_NAMES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})
MAX_NAME = 128


def safe_name(name, what: str, error=None) -> str:
    """``name`` (read from a file: a spec's ``[[forget]] name``, a group name) if it is safe as
    one path component, else ``error`` (default :class:`~muaudit.errors.ConfigError`) saying why:
    a non-empty string of at most 128 characters, no separator (``/``, ``\\``), no NUL or other
    control character, not ``.`` / ``..`` or starting with ``..``, not absolute, not a drive
    (``C:``), not a reserved device name (``CON``, ``NUL``, ``COM1``, ... with any extension).

    Example:
        >>> safe_name("random10", "[[forget]] name")
        'random10'
        >>> safe_name("../victim", "[[forget]] name")
        Traceback (most recent call last):
        ...
        muaudit.errors.ConfigError: Expected [[forget]] name one plain file name (no '/', '\\\\', '..', control characters or device names), got '../victim'
    """
    from muaudit.errors import ConfigError

    error = error or ConfigError
    ok = (isinstance(name, str) and 0 < len(name) <= MAX_NAME and not name.startswith("..")
          and name not in (".", "..") and not any(c in name for c in "/\\:") and name.isprintable()
          and name.strip() == name and name.split(".")[0].lower() not in RESERVED_NAMES
          and not os.path.isabs(name))
    if not ok:
        raise error(f"Expected {what} one plain file name (no '/', '\\\\', '..', control characters or device "
                    f"names), got {name!r}")
    return name


def inside(path, root) -> bool:
    """Whether ``path`` resolves (symbolic links followed) to ``root`` or somewhere under it."""
    p, r = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return p == r or r in p.parents


def check_inside(path, root, error=MuauditError) -> Path:
    """``path`` if it resolves inside the output folder ``root``, else ``error`` (a name from a
    file, or a symbolic link planted in the folder, would make it write elsewhere)."""
    if not inside(path, root):
        raise error(f"refusing to write {path}: it resolves to {os.path.realpath(path)}, outside the output folder {root}")
    return Path(path)


def same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` are one file (resolved path, or device and inode)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_inputs(outputs: dict, inputs: dict, error=MuauditError) -> None:
    """Refuse when an output is one of the files read in the same run, or two outputs are one file
    (``{"--out": path, "--csv": path}`` against ``{"R/results.json": path, ...}``); files are
    compared by resolved path and by device and inode (hard links, symbolic links)."""
    named = [(k, v) for k, v in outputs.items() if v is not None]
    for i, (opt, out) in enumerate(named):
        for other, path in named[:i]:
            if same_file(out, path):
                raise error(f"{opt} {out} and {other} {path} are one file; name two different files")
        for what, src in inputs.items():
            if src is None:
                continue
            if same_file(out, src):
                raise error(f"{opt} {out} is the input {what}; write to another file")
