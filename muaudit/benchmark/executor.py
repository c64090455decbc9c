"""A small executor interface: map a task function over task inputs, yield results as they finish.

The benchmark only needs::

    for index, result in executor.map_unordered(fn, inputs):
        ...

``fn`` must be a module-level function of one plain (JSON-able) argument, so any executor can ship
it elsewhere. :class:`LocalExecutor` runs in this process (``workers=1``) or in a process pool.
``--executor ray`` runs the tasks as Ray tasks through :mod:`muaudit.execution` (the executor
layer pool builds and poison seeds use), behind :class:`SharedExecutor`, which adapts its
``map(fn, tasks, shared=...)`` to this one method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from muaudit.errors import ConfigError

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[Any], Any], inputs: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(position in inputs, fn(input))`` in completion order; an exception in ``fn``
        propagates."""


class LocalExecutor:
    """Run tasks here: one after the other (``workers=1``), or in ``workers`` processes."""

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"Expected `workers` an integer >= 1, got {workers!r}")
        self.workers = workers

    def map_unordered(self, fn, inputs):
        inputs = list(inputs)
        if self.workers == 1 or len(inputs) <= 1:
            for i, x in enumerate(inputs):
                yield i, fn(x)
            return
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(self.workers) as pool:
            futures = {pool.submit(fn, x): i for i, x in enumerate(inputs)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


class SharedExecutor:
    """A :mod:`muaudit.execution` executor (``local`` or ``ray``) behind :meth:`map_unordered`."""

    def __init__(self, inner):
        self.inner = inner

    def map_unordered(self, fn, inputs):
        yield from self.inner.map(_apply, list(inputs), shared=fn)

    def close(self) -> None:
        self.inner.close()


def _apply(fn, task):
    """Run one task: ``fn`` travels as the executor's shared object (put once on Ray)."""
    return fn(task)


def get_executor(name: str = "local", *, workers: int = 1) -> Executor:
    """The executor called ``name``: ``local`` (this process, or ``workers`` processes) or ``ray``
    (a local Ray instance with this machine's CPUs, one CPU per task; see :mod:`muaudit.execution`)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        from muaudit.execution import make_executor

        return SharedExecutor(make_executor("ray", cpus_per_task=1, threads=1))
    raise ConfigError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
