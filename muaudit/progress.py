"""Progress reporting without a UI: long-running library functions take an optional
``progress(done, total)`` callback and call it as work completes (``total`` 0 = not known ahead).

The CLI passes a progress bar on stderr when stderr is a terminal, and plain lines at a steady
interval otherwise (:class:`LogLines`: what a cluster job's or CI's log shows); library calls and
tests stay silent.

Example:
    >>> seen = []
    >>> counter = Counter(lambda done, total: seen.append((done, total)), total=3)
    >>> for _ in range(3):
    ...     counter.step()
    >>> seen
    [(1, 3), (2, 3), (3, 3)]
"""

from __future__ import annotations

import time
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


# -- showing progress: a bar on a terminal, plain lines in a log (the CLI picks, cli/common.py) --

LOG_INTERVAL = 10.0  # seconds between two lines in a log; MUAUDIT_PROGRESS_INTERVAL overrides it


class Rate:
    """The measured rate of a job: units per second since its first finished unit (the start,
    imports and the first model's warm-up are not a rate), once that span is ``min_span`` seconds.

    Example:
        >>> t = iter([0.0, 5.0, 9.0, 13.0])
        >>> r = Rate(clock=lambda: next(t))
        >>> r.update(0, 4); r.update(1, 4); r.update(3, 4)   # started at 0 s; at 5, 9 and 13 s
        >>> r.per_second(), r.seconds_left()
        (0.5, 2.0)
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, min_span: float = 1.0):
        self.clock, self.min_span = clock, min_span
        self.start = clock()
        self.done, self.total, self.now = 0, 0, self.start
        self._first: tuple[float, int] | None = None

    def update(self, done: int, total: int) -> None:
        self.now, self.done, self.total = self.clock(), int(done), int(total)
        if self._first is None and self.done > 0:
            self._first = (self.now, self.done)

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    def per_second(self) -> float | None:
        """Units per second since the first finished unit (None until it is measurable)."""
        if self._first is None:
            return None
        t0, d0 = self._first
        span = self.now - t0
        return (self.done - d0) / span if span >= self.min_span and self.done > d0 else None

    def seconds_left(self) -> float | None:
        rate = self.per_second()
        if rate is None or self.total <= 0:
            return None
        return max(self.total - self.done, 0) / rate


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_rate(per_second: float | None) -> str:
    if per_second is None:
        return "rate not measured yet"
    return f"{per_second:.3g}/s" if per_second >= 1 else f"{per_second * 60:.3g}/min"


def log_interval() -> float:
    """Seconds between two log lines: ``MUAUDIT_PROGRESS_INTERVAL`` (a number > 0) or 10."""
    import os

    text = os.environ.get("MUAUDIT_PROGRESS_INTERVAL", "").strip()
    if not text:
        return LOG_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        from muaudit.errors import ConfigError

        raise ConfigError(f"Expected MUAUDIT_PROGRESS_INTERVAL a number of seconds > 0, got {text!r}")
    return value


class LogLines:
    """A ``progress(done, total)`` callback for logs (stderr not a terminal: cluster jobs, CI):
    one plain line every ``interval`` seconds and one at the end, each with done/total, the
    measured rate and the estimated time left. A job shorter than ``interval`` prints nothing.

    Example:
        >>> import io
        >>> t = iter([0.0, 4.0, 10.0, 16.0, 20.0])
        >>> out = io.StringIO()
        >>> log = LogLines("training", out, interval=10, clock=lambda: next(t))
        >>> for done in (1, 2, 3, 4):                     # at 4, 10, 16 and 20 s
        ...     log(done, 4)
        >>> print(out.getvalue(), end="")
        training: 2/4 (50%) after 10 s, 10/min, about 12 s left
        training: 4/4 (100%) in 20 s, 12/min
    """

    def __init__(self, label: str, stream, *, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.stream = label, stream
        self.interval = log_interval() if interval is None else float(interval)
        self.rate = Rate(clock=clock)
        self._last = self.rate.start
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        if total != self.rate.total and self.rate.total > 0 and done < total:  # a new phase: start over
            self.__init__(self.label, self.stream, interval=self.interval, clock=self.rate.clock)
        self.rate.update(done, total)
        if total > 0 and done >= total:
            self._finish()
        elif self.rate.now - self._last >= self.interval:
            self._last = self.rate.now
            self._write(self._line())

    def _line(self) -> str:
        r = self.rate
        count = f"{r.done:,}/{r.total:,} ({r.done / r.total:.0%})" if r.total > 0 else f"{r.done:,}"
        left = r.seconds_left()
        tail = "" if left is None else f", about {format_duration(left)} left"
        return f"{self.label}: {count} after {format_duration(r.elapsed)}, {format_rate(r.per_second())}{tail}"

    def close(self) -> None:
        """The closing line (only after a job long enough to have shown lines)."""
        if not self._finished:
            self.rate.update(self.rate.done, self.rate.total)
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        r = self.rate
        if r.elapsed >= self.interval:
            count = f"{r.done:,}/{r.total:,} (100%)" if r.total > 0 and r.done >= r.total else f"{r.done:,}"
            overall = r.done / r.elapsed if r.elapsed > 0 else None
            self._write(f"{self.label}: {count} in {format_duration(r.elapsed)}, {format_rate(overall)}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class TerminalBar:
    """A ``progress(done, total)`` callback drawing one bar on a terminal (redrawn in place):
    ``label [#####-----] done/total  rate  eta``. The estimate follows the measured rate after
    the first finished unit (:class:`Rate`). A new bar starts whenever ``total`` changes or the
    previous one finished; ``total`` 0 (not known ahead) shows a running count instead.
    :meth:`close` ends whatever is drawn.

    Example:
        >>> import io
        >>> t = iter([0.0, 1.0, 3.0])
        >>> out = io.StringIO()
        >>> bar = TerminalBar("training", out, clock=lambda: next(t), width=10)
        >>> bar(1, 4); bar(2, 4)                         # at 1 and 3 s: 0.5 models/s from the first
        >>> out.getvalue().split("\\r")[-1]
        'training [#####-----] 2/4  30/min  eta 4 s'
    """

    def __init__(self, label: str, stream, *, clock: Callable[[], float] = time.monotonic, width: int = 30):
        self.label, self.stream, self.clock, self.width = label, stream, clock, width
        self.rate: Rate | None = None
        self._drawn = self._count_shown = False
        self._last, self._done = -1.0, 0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return self._count(done)
        if self.rate is None or self.rate.total != total:
            self.close()
            self.rate = Rate(clock=self.clock)
        self.rate.update(done, total)
        finished = done >= total
        if finished or self.rate.now - self._last >= 0.1:
            self._last = self.rate.now
            self._draw()
        if finished:
            self.close()

    def _draw(self) -> None:
        r = self.rate
        filled = min(self.width, self.width * r.done // r.total)
        left = r.seconds_left()
        rate = "" if r.per_second() is None else f"  {format_rate(r.per_second())}"
        eta = "" if left is None else f"  eta {format_duration(left)}"
        if r.done >= r.total:
            eta = f"  in {format_duration(r.elapsed)}"
        self.stream.write(f"\r{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {r.done}/{r.total}{rate}{eta}")
        self.stream.flush()
        self._drawn = True

    def _count(self, done: int) -> None:
        now, self._done = self.clock(), done
        if now - self._last >= 0.2:
            self._last, self._count_shown = now, True
            self.stream.write(f"\r{self.label}: {done:,}")
            self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        if self._count_shown:
            self.stream.write(f"\r{self.label}: {self._done:,}\n")
            self._count_shown = False
        self.rate = None
        self.stream.flush()
