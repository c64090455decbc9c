"""Thread policy of training: how many torch threads a model trains with, and a context manager
to set them. The number itself is :func:`muaudit.threads.default_threads` (shared by every
command, see :mod:`muaudit.threads`)."""

from __future__ import annotations

import contextlib

import torch

from muaudit.threads import default_threads

__all__ = ["default_threads", "set_process_threads", "using_threads"]


@contextlib.contextmanager
def using_threads(threads: int | None):
    """Run the block with ``threads`` torch threads (None: :func:`default_threads`), then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(int(threads) if threads else default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(old)


def set_process_threads(threads: int) -> None:
    """For the rest of this process (a worker): ``threads`` torch threads, and as many in the
    BLAS / OpenMP pools loaded so far (NumPy's)."""
    torch.set_num_threads(int(threads))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=int(threads))
