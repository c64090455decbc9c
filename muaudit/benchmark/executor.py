"""A small executor interface: map a task function over task inputs, yield results as they finish.

The benchmark only needs::

    for index, result in executor.map_unordered(fn, inputs):
        ...

``fn`` must be a module-level function of one plain (JSON-able) argument, so any executor can ship
it elsewhere. :class:`LocalExecutor` runs in this process (``workers=1``) or in a process pool.
When ``muaudit.execution`` (the shared executor layer, ``local`` and ``ray``) is merged, an adapter
with this one method plugs it in: :func:`get_executor` is the only place to change.
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


def get_executor(name: str = "local", *, workers: int = 1) -> Executor:
    """The executor called ``name`` (``local``; ``ray`` once muaudit.execution provides it)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        try:
            from muaudit.execution import get_executor as shared  # noqa: F401  (added by the scale work)
        except ImportError:
            raise ConfigError("--executor ray needs muaudit.execution (the Ray executor), which this build "
                              "does not have; use --executor local") from None
        return shared("ray")
    raise ConfigError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
