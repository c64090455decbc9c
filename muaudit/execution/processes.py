"""The local executor's worker processes: one per core by default, one torch thread each.

Tasks run in a :class:`concurrent.futures.ProcessPoolExecutor` whose workers are forked from a
clean ``forkserver`` process (``spawn`` where there is none) that has imported torch once, so a
worker starts in milliseconds and never inherits a parent's threads (forking a process that has
run torch is unsafe). The workers ignore Ctrl-C: the driver alone stops the build, cancels what is
queued and ends the workers. The shared value reaches every worker once (see
:mod:`muaudit.execution.shared`); results come back to the driver, the one writer.
"""

from __future__ import annotations

import itertools

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterator, Sequence

from muaudit.execution.base import ExecutionError, TaskFn
from muaudit.execution.shared import Packed, SharedRef


def _context(fn):
    """The forkserver context (spawn where there is none). The forkserver (one per driver process)
    imports the main module, torch and the first task function's module once; each worker is a
    fork of it, ready in milliseconds."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    module = getattr(getattr(fn, "func", fn), "__module__", None)  # a functools.partial's function
    ctx.set_forkserver_preload(["__main__", "muaudit.execution.worker"] + ([module] if module else []))
    return ctx


class ProcessExecutor:
    """``workers`` worker processes of ``threads`` torch threads each (None: the thread policy's
    default, 1); see :func:`muaudit.execution.make_executor`. Started at the first map, reused
    by later maps, ended by :meth:`close`.

    Example:
        (Starts two processes, a second or more: tests/test_executor_local.py runs the same.)

        >>> with ProcessExecutor(2) as ex:                 # doctest: +SKIP
        ...     sorted(ex.map(pow, [2, 3], shared=2))      # pow(2, task)
        [(0, 4), (1, 8)]
    """

    name = "local"
    in_process = False

    def __init__(self, workers: int, *, threads: int | None = None):
        from muaudit.training.threads import default_threads

        self.width, self.threads = int(workers), int(threads or default_threads())
        self._pool: ProcessPoolExecutor | None = None
        self._futures: set = set()  # submitted, not yet handed to the driver
        self._stopped_early = False

    def _start(self, fn) -> ProcessPoolExecutor:
        if self._pool is None:
            from muaudit.execution.worker import init_worker

            self._pool = ProcessPoolExecutor(self.width, mp_context=_context(fn), initializer=init_worker,
                                             initargs=(self.threads,))
        return self._pool

    def map(self, fn: TaskFn, tasks: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]:
        tasks = list(tasks)
        if not tasks:
            return
        pool = self._start(fn)
        with Packed(shared) as packed:
            from muaudit.execution.worker import run

            # at most two tasks per worker queued or finished and unread: results wait for the driver
            # in bounded memory (a pool build's rows), whatever the number of tasks
            todo, futures = iter(enumerate(tasks)), {}

            def submit() -> None:
                for i, t in itertools.islice(todo, 2 * self.width - len(futures)):
                    fut = pool.submit(run, fn, packed.ref, t)
                    futures[fut] = i
                    self._futures.add(fut)

            submit()
            try:
                while futures:
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in sorted(finished, key=futures.get):
                        i = futures.pop(fut)
                        self._futures.discard(fut)
                        yield i, self._result(fut)
                    submit()
            finally:
                if futures:  # the driver stopped early (an error, an interrupt): drop the queued work
                    self._stopped_early = True
                    for fut in futures:
                        fut.cancel()

    def _result(self, fut):
        try:
            return fut.result()
        except BrokenProcessPool:
            self._stopped_early = True
            self.close()  # the next map starts fresh workers
            raise ExecutionError("a worker process died (killed, or out of memory?); finished work is kept: "
                                 "rerun the same command to resume, with fewer --workers if memory is short") from None

    def close(self) -> None:
        """End the workers: at once when tasks are left that nobody will read (the driver stopped:
        an error, Ctrl-C), else once they are idle."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._stopped_early or any(not f.done() for f in self._futures):
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        else:
            pool.shutdown(wait=True)
        self._stopped_early, self._futures = False, set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["ProcessExecutor", "SharedRef"]
