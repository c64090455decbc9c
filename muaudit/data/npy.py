"""Reading ``.npy`` files from untrusted sources: header first, nothing pickled, sizes checked.

:func:`read_npy` reads the NPY header before any data, so a header that claims more entries
than the file holds (or than the machine's memory) is an error naming the file, not a
``MemoryError``; object (pickled) arrays, ``.npz`` archives, empty and truncated files are
refused with a one-line reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.checks import check_fits_memory
from muaudit.errors import DataError, reason

PICKLE_PROTO = b"\x80"
ZIP_MAGIC = b"PK\x03\x04"


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


def read_npy(path, what: str, error=DataError) -> np.ndarray:
    """Load a plain numeric ``.npy`` file; every problem is ``error("<what> <path> ...")``."""
    p = existing_file(path, what, error)
    name = f"{what} {p}"
    try:
        with open(p, "rb") as f:
            head = f.read(6)
            if not head:
                raise error(f"{name} is empty")
            if head.startswith(ZIP_MAGIC):
                raise error(f"{name} is an .npz archive, not a .npy file; save the array with numpy.save")
            if head.startswith(PICKLE_PROTO):
                raise error(f"{name} holds pickled objects; refusing to unpickle it")
            if head != b"\x93NUMPY":
                raise error(f"{name} is not a .npy file (no NPY header); save the array with numpy.save")
            f.seek(0)
            shape, dtype = _header(f, name, error)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            left = p.stat().st_size - f.tell()
            if nbytes > left:
                raise error(f"{name} is truncated: its header claims {shape} {dtype} ({nbytes:,} bytes), "
                            f"the file holds {left:,}")
            check_fits_memory(name, nbytes, error)
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except OSError as e:
        raise error(f"{name} cannot be read ({e.strerror or e})") from None
    except (ValueError, EOFError) as e:
        raise error(f"{name} is not a valid .npy file ({reason(e)})") from None


def _header(f, name: str, error) -> tuple[tuple, np.dtype]:
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(f)
        else:
            shape, _, dtype = npformat.read_array_header_2_0(f)
    except (ValueError, EOFError, SyntaxError) as e:
        raise error(f"{name} has a broken NPY header ({reason(e)})") from None
    if dtype.hasobject:
        raise error(f"{name} holds pickled objects (dtype {dtype}); refusing to unpickle it")
    return shape, dtype


def output_file(path, inputs: dict, error=DataError) -> Path:
    """Check that ``path`` can be a new output file: not a directory, not under a regular file,
    and not one of ``inputs`` (``{"--model": path, ...}``: never overwrite what was read)."""
    import os

    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"output {p} is a directory; name a file")
        for option, other in inputs.items():
            if other is not None and Path(other).exists() and p.exists() and os.path.samefile(p, other):
                raise error(f"output {p} is the {option} input; write to another file")
        parent = p.resolve().parent
        for up in (parent, *parent.parents):
            if up.exists():
                if not up.is_dir():
                    raise error(f"cannot write {p}: {up} is a file, not a directory")
                break
    except OSError as e:  # a symlink loop, a name too long
        raise error(f"cannot write {p} ({e.strerror or e})") from None
    except RuntimeError as e:  # Path.resolve on a symlink loop (Python < 3.13)
        raise error(f"cannot write {p} ({e})") from None
    return p
