"""Compute accounting for unlearning runs: wall time and sample-gradients under an optional budget.

A **sample-gradient** is one forward and backward pass of one example (Pawelczyk et al. count
unlearning compute this way, relative to the original training's ``epochs x n_train``). Forward-only
passes (teacher outputs, evaluations) are not counted; a teacher forward costs about a third of a
sample-gradient and is left out as in the source papers.

The meter of the running method is found through :func:`active_meter`, so the ``__call__`` contract
of a method stays ``(model, forget, retain, *, config, random_state)``. The shared loops in
:mod:`muaudit.unlearning.loops` charge it; a third-party method that trains with its own loop can
call ``active_meter().charge(n)`` itself.
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

_ACTIVE: contextvars.ContextVar["CostMeter | None"] = contextvars.ContextVar("muaudit_cost_meter", default=None)


@dataclass
class CostMeter:
    """Counts sample-gradients; ``limit`` (optional) caps what training loops may spend.

    Training loops ask :meth:`take` before each step and stop when it says no; one-shot passes
    a method cannot work without (saliency masks, Fisher diagonals) are :meth:`charge`\\ d
    unconditionally, so they may overshoot a very small budget (``truncated`` tells).
    """

    limit: int | None = None
    used: int = 0
    truncated: bool = False
    started: float = field(default_factory=time.perf_counter)
    progress: Callable[[int, int], None] | None = None  # progress(used, limit or 0) after each spend

    def take(self, n: int) -> bool:
        """Spend ``n`` sample-gradients if the budget allows; else mark truncated and return False."""
        if self.limit is not None and self.used + n > self.limit:
            self.truncated = True
            return False
        self.used += int(n)
        self._notify()
        return True

    def charge(self, n: int) -> None:
        """Spend ``n`` sample-gradients whatever the budget (a pass the method cannot skip)."""
        self.used += int(n)
        self._notify()

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress(self.used, self.limit or 0)

    @property
    def exhausted(self) -> bool:
        return self.truncated

    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def report(self) -> dict:
        return {"seconds": round(time.perf_counter() - self.started, 6), "sample_gradients": int(self.used),
                "budget_sample_gradients": self.limit, "truncated": bool(self.truncated)}


def active_meter() -> CostMeter:
    """The meter of the running method (a throwaway unlimited one outside :func:`metered`)."""
    meter = _ACTIVE.get()
    return CostMeter() if meter is None else meter


@contextmanager
def metered(limit: int | None = None, *, reuse: bool = False, progress: Callable[[int, int], None] | None = None):
    """Run a block with a fresh :class:`CostMeter` as the active meter; yields the meter.

    With ``reuse=True`` an already active meter is kept (nested calls charge the outer run).
    ``progress(sample_gradients, limit or 0)`` is called after each spend.
    """
    current = _ACTIVE.get()
    if reuse and current is not None:
        yield current
        return
    meter = CostMeter(limit=limit, progress=progress)
    token = _ACTIVE.set(meter)
    try:
        yield meter
    finally:
        _ACTIVE.reset(token)
