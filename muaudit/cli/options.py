"""Options shared by the commands that train: ``--threads``, ``--device`` and the executor."""

from __future__ import annotations

import click

from muaudit.cli.common import CPUS, GPUS, THREADS
from muaudit.execution import EXECUTORS


def threads_option(f):
    return click.option("--threads", type=THREADS,
                        help="torch threads per model, at most 4 x the CPU cores (default: $MUAUDIT_THREADS, "
                             "$OMP_NUM_THREADS, else 1).")(f)


def executor_options(f):
    """``--executor``, ``--workers``, ``--address``, ``--cpus-per-model``, ``--gpus-per-model``."""
    for opt in reversed([
        click.option("--executor", type=click.Choice(EXECUTORS.names()), default="local", show_default=True,
                     help="Where models train: local worker processes, or Ray tasks (pip install 'muaudit[ray]')."),
        click.option("--workers", type=THREADS,
                     help="Local worker processes, one torch thread each (default: one per CPU core; 1: in this "
                          "process)."),
        click.option("--address", help="Ray cluster address (default: start a local Ray instance for this run)."),
        click.option("--cpus-per-model", type=CPUS, default=1.0, show_default=True,
                     help="CPUs (and torch threads) each Ray task reserves, in (0, 1024]."),
        click.option("--gpus-per-model", type=GPUS, default=0.0, show_default=True,
                     help="GPUs each Ray task reserves (fractions share a GPU, e.g. 0.25)."),
    ]):
        f = opt(f)
    return f


def open_executor(executor: str, address, cpus_per_model: float, gpus_per_model: float, threads, workers=None):
    """The executor the options describe (a context manager)."""
    from muaudit.execution import make_executor

    return make_executor(executor, workers=workers, address=address, cpus_per_task=cpus_per_model,
                         gpus_per_task=gpus_per_model, threads=threads)
