"""The Ray executor: tasks run as Ray tasks; results come back to the driver as they finish."""

from __future__ import annotations

import math
import os
import socket
from typing import Any, Iterator, Sequence

from muaudit.execution.base import ExecutionError, TaskFn


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutionError("--executor ray needs Ray: pip install 'muaudit[ray]'") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast (Ray itself retries for minutes) when nothing listens at ``host:port``."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutionError(f"Expected --address host:port, ray://host:port or auto, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ExecutionError(f"no Ray cluster answers at {address!r} ({e.strerror or e}); start one with "
                             "`ray start --head` or check the address") from None


def _run_task(fn: TaskFn, shared: Any, task: Any, threads: int):
    """Runs on a Ray worker: ``fn(shared, task)`` with ``threads`` torch threads."""
    from muaudit.training.threads import using_threads

    with using_threads(threads):
        return fn(shared, task)


class RayExecutor:
    """Ray tasks of ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs; see :func:`make_executor`."""

    name = "ray"
    in_process = False

    def __init__(self, *, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0,
                 max_retries: int = 3):
        if cpus_per_task <= 0 or gpus_per_task < 0:
            raise ExecutionError(f"Expected --cpus-per-model > 0 and --gpus-per-model >= 0, got {cpus_per_task} "
                                 f"and {gpus_per_task}")
        self.ray = _import_ray()
        self.cpus, self.gpus, self.max_retries = cpus_per_task, gpus_per_task, max_retries
        self._started = not self.ray.is_initialized()
        if self._started:
            self._connect(address)
        self._check_resources(address)
        self._remote = self.ray.remote(_run_task)

    def _connect(self, address: str | None) -> None:
        if address not in (None, "auto"):
            _probe(address)
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            if address is None:
                self.ray.init(num_cpus=os.cpu_count() or 1, **kw)
            else:
                self.ray.init(address=address, **kw)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ExecutionError(f"cannot connect to the Ray cluster at {address!r}: {first}") from None

    def _check_resources(self, address: str | None) -> None:
        have = self.ray.cluster_resources()
        for key, need, flag in (("CPU", self.cpus, "--cpus-per-model"), ("GPU", self.gpus, "--gpus-per-model")):
            if need > 0 and have.get(key, 0) < need:
                where = "the local Ray instance" if address is None else f"the Ray cluster at {address!r}"
                self.close()
                raise ExecutionError(f"{where} has {have.get(key, 0):g} {key}s; {flag} {need:g} asks for more")

    @property
    def width(self) -> int:
        """Tasks the cluster runs at once: its CPUs over ``cpus_per_task`` (at least 1)."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1) // self.cpus))

    def map(self, fn: TaskFn, tasks: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]:
        ref = self.ray.put(shared)  # once: every task reads the same object-store copy
        opts = dict(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries)
        threads = max(1, math.floor(self.cpus))
        pending = {self._remote.options(**opts).remote(fn, ref, t, threads): i for i, t in enumerate(tasks)}
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for r in ready:
                    yield pending.pop(r), self.ray.get(r)
        finally:
            for r in pending:  # the driver stopped early (error, interrupt): drop queued work
                self.ray.cancel(r, force=True)

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
