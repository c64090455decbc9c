"""What runs inside a local worker process (imported by the forkserver before it forks workers)."""

from __future__ import annotations

import signal

import torch  # noqa: F401  (imported once in the forkserver, inherited by every worker)

from muaudit.execution.shared import SharedRef, unpack


def init_worker(threads: int) -> None:
    """A worker's start: Ctrl-C is the driver's to handle; ``threads`` torch (and BLAS) threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from muaudit.training.threads import set_process_threads

    set_process_threads(threads)


def run(fn, ref: SharedRef, task):
    """One task: ``fn(shared, task)`` with the map's shared value (rebuilt once per worker and map)."""
    return fn(unpack(ref), task)
