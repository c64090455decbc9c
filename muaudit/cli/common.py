"""Shared CLI mechanics: error translation (one ``Error:`` line, exit code 2) and option helpers."""

from __future__ import annotations

import json
import sys
import time

import click

from muaudit.errors import MuauditError


class CLIError(click.ClickException):
    """A user mistake: printed as ``Error: <message>``, exit code 2."""

    exit_code = 2


class Group(click.Group):
    """A click group whose commands turn :class:`MuauditError` into :class:`CLIError`."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MuauditError as e:
            raise CLIError(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted; finished work is saved (rerun the same command to resume).", err=True)
            sys.exit(130)


def parse_set(pairs: tuple[str, ...]) -> dict:
    """Parse ``--set key=value`` pairs; values are read as TOML scalars (``1e-3``, ``true``, ``"x"``)."""
    from muaudit.pool.spec import parse_scalar

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"Expected --set key=value, got {pair!r}")
        out[key.strip()] = parse_scalar(value.strip())
    return out


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


class ProgressBar:
    """A ``progress(done, total)`` callback drawing a click progress bar on stderr.

    A new bar starts whenever ``total`` changes or the previous one finished; ``total`` 0 (not
    known ahead) shows a running count instead. :meth:`close` ends whatever is drawn.
    """

    def __init__(self, label: str, file=None):
        self.label, self.file = label, file or sys.stderr
        self._bar, self._count_shown, self._last, self._done = None, False, 0.0, 0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return self._count(done)
        if self._bar is None or self._bar.length != total:
            self.close()
            self._bar = click.progressbar(length=total, label=self.label, show_pos=True, file=self.file)
            self._bar.__enter__()
        self._bar.update(max(done - self._bar.pos, 0))
        if done >= total:
            self.close()

    def _count(self, done: int) -> None:
        now, self._done = time.monotonic(), done
        if now - self._last >= 0.2:
            self._last, self._count_shown = now, True
            click.echo(f"\r{self.label}: {done:,}", file=self.file, nl=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        if self._count_shown:
            click.echo(f"\r{self.label}: {self._done:,}", file=self.file)
            self._count_shown = False


def progress_bar(label: str, file=None) -> ProgressBar | None:
    """A :class:`ProgressBar` when ``file`` (default stderr) is a terminal, else None (silent)."""
    stream = file or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return ProgressBar(label, stream) if isatty and isatty() else None


def progress_factory(file=None):
    """``label -> progress bar or None``, for jobs with several phases (``muaudit demo``)."""
    return lambda label: progress_bar(label, file)
