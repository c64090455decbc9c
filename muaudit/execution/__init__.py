"""Executors: run pure tasks (inputs -> finished results) in worker processes, in this process or
on a Ray cluster.

One small interface, used by pool builds, poison seeds and the benchmark::

    with make_executor("local") as ex:                         # one worker process per core; or "ray"
        for i, result in ex.map(fn, tasks, shared=big_arrays):
            ...                                                # the driver (one writer) stores result i

``fn(shared, task)`` must be a module-level function without side effects on shared state:
it gets ``shared`` (sent once: shared memory between local workers, Ray's object store on Ray) and
one task, and returns what the driver stores. Results arrive as tasks finish (any order).
"""

from muaudit.execution.base import (EXECUTORS, ExecutionError, Executor, LocalExecutor, check_workers, each,
                                    make_executor)

__all__ = ["EXECUTORS", "ExecutionError", "Executor", "LocalExecutor", "check_workers", "each",
           "make_executor"]
