"""Thread policy: how many torch threads training uses, and a context manager to set them."""

from __future__ import annotations

import contextlib
import os

import torch


def default_threads() -> int:
    """Threads a training command uses when ``--threads`` is not given (see docs/scale.md).

    ``MUAUDIT_THREADS`` or ``OMP_NUM_THREADS`` when set; else 1. Measured on a shared 2-core
    machine, torch's default (one thread per core, spinning OpenMP waits) collapses as soon as
    another process competes for the cores, while one thread per process holds up; more
    throughput comes from more processes (``--executor ray``), not more threads per model.
    """
    for var in ("MUAUDIT_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


@contextlib.contextmanager
def using_threads(threads: int | None):
    """Run the block with ``threads`` torch threads (None: :func:`default_threads`), then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(int(threads) if threads else default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(old)
