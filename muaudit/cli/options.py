"""Options shared by the commands that train: ``--threads``, ``--device`` and the executor."""

from __future__ import annotations

import click

from muaudit.execution import EXECUTORS


def threads_option(f):
    return click.option("--threads", type=click.IntRange(min=1),
                        help="torch threads per model (default: $MUAUDIT_THREADS, $OMP_NUM_THREADS, else 1).")(f)


def executor_options(f):
    """``--executor``, ``--address``, ``--cpus-per-model``, ``--gpus-per-model``."""
    for opt in reversed([
        click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Where models train: this process, or Ray tasks (pip install 'muaudit[ray]')."),
        click.option("--address", help="Ray cluster address (default: start a local Ray instance for this run)."),
        click.option("--cpus-per-model", type=float, default=1.0, show_default=True,
                     help="CPUs (and torch threads) each Ray task reserves."),
        click.option("--gpus-per-model", type=float, default=0.0, show_default=True,
                     help="GPUs each Ray task reserves (fractions share a GPU, e.g. 0.25)."),
    ]):
        f = opt(f)
    return f


def open_executor(executor: str, address, cpus_per_model: float, gpus_per_model: float, threads):
    """The executor the options describe (a context manager)."""
    from muaudit.execution import make_executor

    return make_executor(executor, address=address, cpus_per_task=cpus_per_model, gpus_per_task=gpus_per_model,
                         threads=threads)
