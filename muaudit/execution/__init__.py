"""Executors: run pure tasks (inputs -> finished results) locally or on a Ray cluster.

One small interface, used by pool builds, poison seeds and the benchmark grid::

    with make_executor("ray", cpus_per_task=1) as ex:          # or "local"
        for i, result in ex.map(fn, tasks, shared=big_arrays):
            ...                                                # the driver (one writer) stores result i

``fn(shared, task)`` must be a module-level function without side effects on shared state:
it gets ``shared`` (put once into Ray's object store, not copied per task) and one task, and
returns what the driver stores. Results arrive as tasks finish (any order under Ray).
"""

from muaudit.execution.base import EXECUTORS, ExecutionError, Executor, LocalExecutor, make_executor

__all__ = ["EXECUTORS", "ExecutionError", "Executor", "LocalExecutor", "make_executor"]
