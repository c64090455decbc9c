"""The thread policy of every command: how many threads torch, OpenMP and BLAS may use.

One number, :func:`default_threads`: ``MUAUDIT_THREADS`` or ``OMP_NUM_THREADS`` when set, else 1.
Training applies it per process (``--threads`` overrides it; :mod:`muaudit.training.threads`);
:func:`command_threads` applies it to a whole command (the CLI wraps every command in it), so
audits, ``demo`` and reports run their models and their NumPy / SciPy work with the same threads
as training does. More throughput comes from more processes (``--workers``), not more threads per
process: on a shared machine, spinning OpenMP / BLAS threads collapse as soon as another process
competes for the cores (docs/scale.md). This module imports neither torch nor NumPy.
"""

from __future__ import annotations

import contextlib
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_threads() -> int:
    """Threads per process when ``--threads`` is not given: ``MUAUDIT_THREADS`` or
    ``OMP_NUM_THREADS`` when set to a positive integer, else 1.

    Example:
        >>> default_threads() >= 1
        True
    """
    for var in ("MUAUDIT_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return bound_threads(f"${var}", int(value))
    return 1


THREADS_PER_CORE = 4  # the most threads (or workers) per CPU core any option accepts


def machine_cores() -> int:
    """The CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads (or worker processes) any option accepts: this machine's cores times
    :data:`THREADS_PER_CORE` (more only oversubscribes the cores; far more exhausts memory in
    OpenMP's per-thread stacks, or crashes torch)."""
    return machine_cores() * THREADS_PER_CORE


def bound_threads(name: str, value: int) -> int:
    """``value`` if it is at most :func:`max_threads`, else :class:`~muaudit.errors.ConfigError`
    (no NumPy here: this module runs before the BLAS libraries load; see ``checks.check_threads``)."""
    from muaudit.errors import ConfigError

    if value > max_threads():
        raise ConfigError(f"Expected `{name}` at most {max_threads()} ({THREADS_PER_CORE} x this machine's "
                          f"{machine_cores()} CPU cores), got {value}")
    return value


@contextlib.contextmanager
def command_threads(threads: int | None = None):
    """Run a command with ``threads`` (None: :func:`default_threads`) threads per pool, then restore.

    Three layers, so the policy holds whichever library the command loads and when: the OpenMP /
    BLAS variables (read by libraries loaded during the command, torch's OpenMP among them; a
    variable the user set is kept), ``threadpoolctl`` limits on the pools already loaded (NumPy's
    BLAS), and torch's intra-op threads when torch is already imported.
    """
    n = int(threads or default_threads())
    saved = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    for v in THREAD_VARIABLES:
        os.environ.setdefault(v, str(n))
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        with _limits(n):
            if torch is not None:
                torch.set_num_threads(n)
            yield n
    finally:
        if torch is not None:
            torch.set_num_threads(before)
        for v, value in saved.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


def _limits(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it only the variables and torch apply
        return contextlib.nullcontext()
    return threadpool_limits(limits=n)
