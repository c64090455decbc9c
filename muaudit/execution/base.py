"""The executor interface and the in-process executor."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, Sequence

from muaudit.errors import MuauditError

EXECUTORS = ("local", "ray")
TaskFn = Callable[[Any, Any], Any]  # (shared, task) -> result


class ExecutionError(MuauditError):
    """The executor cannot run: Ray missing, a cluster that does not answer or lacks resources."""


class Executor(Protocol):
    """Runs ``fn(shared, task)`` for every task; yields ``(task index, result)`` as tasks finish."""

    name: str

    def map(self, fn: TaskFn, tasks: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs tasks one after another in this process, in order, with this process's threads.

    Example:
        >>> with LocalExecutor() as ex:
        ...     list(ex.map(lambda s, t: s + t, [1, 2], shared=10))
        [(0, 11), (1, 12)]
    """

    name = "local"

    def __init__(self, *, threads: int | None = None):
        self.threads = threads

    def map(self, fn: TaskFn, tasks: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]:
        from muaudit.training.threads import using_threads

        with using_threads(self.threads):
            for i, task in enumerate(tasks):
                yield i, fn(shared, task)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_executor(name: str = "local", *, address: str | None = None, cpus_per_task: float = 1,
                  gpus_per_task: float = 0, threads: int | None = None, max_retries: int = 3) -> Executor:
    """The executor called ``name`` (``"local"`` or ``"ray"``).

    ``ray``: connects to ``address`` (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``) or,
    without one, starts a local Ray instance with this machine's CPUs, stopped by ``close()``.
    Each task reserves ``cpus_per_task`` CPUs (and runs that many torch threads) and
    ``gpus_per_task`` GPUs (fractions share a GPU); a task whose worker dies is retried
    ``max_retries`` times. ``local``: runs in this process with ``threads`` torch threads.
    """
    if name == "local":
        return LocalExecutor(threads=threads)
    if name == "ray":
        from muaudit.execution.ray_executor import RayExecutor

        return RayExecutor(address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                           max_retries=max_retries)
    raise ExecutionError(f"Expected `executor` in {EXECUTORS}, got {name!r}")
