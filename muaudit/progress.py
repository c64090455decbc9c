"""Progress reporting without a UI: long-running library functions take an optional
``progress(done, total)`` callback and call it as work completes (``total`` 0 = not known ahead).

The CLI passes a progress bar on stderr when stderr is a terminal, and nothing otherwise, so
library calls, tests and piped runs stay silent.

Example:
    >>> seen = []
    >>> counter = Counter(lambda done, total: seen.append((done, total)), total=3)
    >>> for _ in range(3):
    ...     counter.step()
    >>> seen
    [(1, 3), (2, 3), (3, 3)]
"""

from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[[int, int], None]


def notify(progress: Optional[Progress], done: int, total: int) -> None:
    """Call ``progress(done, total)`` if there is one."""
    if progress is not None:
        progress(int(done), int(total))


class Counter:
    """Counts finished units of a job of ``total`` units and reports each to ``progress``."""

    def __init__(self, progress: Optional[Progress], total: int):
        self.progress, self.total, self.done = progress, int(total), 0

    def step(self, n: int = 1) -> None:
        self.done += n
        notify(self.progress, self.done, self.total)
