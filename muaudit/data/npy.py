"""Reading ``.npy`` files from untrusted sources: header first, nothing pickled, sizes checked.

:func:`read_npy` reads the NPY header before any data, so a header that claims more entries
than the file holds (or than the machine's memory) is an error naming the file, not a
``MemoryError``; object (pickled) arrays, ``.npz`` archives, empty and truncated files are
refused with a one-line reason.
"""

from __future__ import annotations

import numpy as np

from muaudit.checks import check_fits_memory
from muaudit.errors import DataError, reason
from muaudit.paths import existing_file

PICKLE_PROTO = b"\x80"
ZIP_MAGIC = b"PK\x03\x04"


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

