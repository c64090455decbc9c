"""The executor interface, the registry of executors and the in-process executor."""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Iterator, Protocol, Sequence

from muaudit.checks import check_threads
from muaudit.errors import MuauditError
from muaudit.registry import Registry
from muaudit.threads import machine_cores

TaskFn = Callable[[Any, Any], Any]  # (shared, task) -> result
EXECUTORS: Registry[Callable[..., "Executor"]] = Registry("executor")  # name -> factory(**options)


class ExecutionError(MuauditError):
    """The executor cannot run: Ray missing, a cluster that does not answer or lacks resources,
    a local worker process that died."""


class Executor(Protocol):
    """Runs ``fn(shared, task)`` for every task; yields ``(task index, result)`` as tasks finish.

    ``width``: how many tasks run at once (the benchmark asks for that many trials per batch);
    ``in_process``: tasks run in this process (a callback may then be passed to them)."""

    name: str
    width: int
    in_process: bool

    def map(self, fn: TaskFn, tasks: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


def check_workers(workers: int | None) -> int:
    """``workers`` (None: ``$MUAUDIT_WORKERS`` when set, else one per CPU core this process may
    use) checked like every count (:func:`muaudit.checks.check_threads`: an integer in
    ``[1, 4 x cores]``, else ConfigError); more than the cores is allowed, with a warning (the
    workers then share cores)."""
    cores = machine_cores()
    name = "workers"
    if workers is None:
        text = os.environ.get("MUAUDIT_WORKERS", "").strip()
        if not text:
            return cores
        name, workers = "$MUAUDIT_WORKERS", int(text) if text.isdigit() else text
    n = check_threads(name, workers)
    if n > cores:
        flag = "--workers" if name == "workers" else name
        warnings.warn(f"{flag} {n} is more than the {cores} CPU cores this process may use; the workers will share "
                      "cores (each one slower)", UserWarning, stacklevel=3)
    return n


class LocalExecutor:
    """Runs tasks one after another in this process, in order, with this process's threads.

    Example:
        >>> with LocalExecutor() as ex:
        ...     list(ex.map(lambda s, t: s + t, [1, 2], shared=10))
        [(0, 11), (1, 12)]
    """

    name = "local"
    width = 1
    in_process = True

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


def call(fn: Callable[[Any], Any], task: Any) -> Any:
    """A task function of one argument, run as ``fn(task)`` (``fn`` travels as the shared value)."""
    return fn(task)


def each(executor: Executor, fn: Callable[[Any], Any], tasks: Sequence) -> Iterator[tuple[int, Any]]:
    """``executor.map`` for module-level task functions of one argument (the benchmark's):
    yields ``(task index, fn(task))`` as tasks finish.

    Example:
        >>> sorted(each(LocalExecutor(), abs, [-2, 3]))
        [(0, 2), (1, 3)]
    """
    return executor.map(call, list(tasks), shared=fn)


@EXECUTORS.register("local")
def _local(*, workers: int | None = None, threads: int | None = None, **_ignored) -> Executor:
    n = check_workers(workers)
    if n == 1:
        return LocalExecutor(threads=threads)
    from muaudit.execution.processes import ProcessExecutor

    return ProcessExecutor(n, threads=threads)


@EXECUTORS.register("ray")
def _ray(*, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0, max_retries: int = 3,
         workers: int | None = None, **_ignored) -> Executor:
    if workers is not None:
        raise ExecutionError("--workers is for --executor local; a Ray executor runs as many tasks at once as "
                             "its CPUs allow (--cpus-per-model each)")
    from muaudit.execution.ray_executor import RayExecutor

    return RayExecutor(address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                       max_retries=max_retries)


def make_executor(name: str = "local", *, workers: int | None = None, address: str | None = None,
                  cpus_per_task: float = 1, gpus_per_task: float = 0, threads: int | None = None,
                  max_retries: int = 3) -> Executor:
    """The executor called ``name`` (a key of :data:`EXECUTORS`: ``"local"`` or ``"ray"``).

    ``local``: ``workers`` worker processes (default: one per available core; see
    :func:`check_workers`), each with ``threads`` torch threads (default: the thread policy,
    :func:`muaudit.training.threads.default_threads`: 1); ``workers=1`` runs the tasks in this
    process instead. ``ray``: connects to ``address`` (``"auto"``, ``"ray://host:10001"``,
    ``"host:6379"``) or, without one, starts a local Ray instance with this machine's CPUs,
    stopped by ``close()``. Each Ray task reserves ``cpus_per_task`` CPUs (and runs that many
    torch threads) and ``gpus_per_task`` GPUs (fractions share a GPU); a task whose worker dies is
    retried ``max_retries`` times.
    """
    factory = EXECUTORS.get(name)
    return factory(workers=workers, address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                   threads=threads, max_retries=max_retries)
