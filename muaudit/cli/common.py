"""Shared CLI mechanics: error translation (one ``Error:`` line, exit code 2) and option helpers."""

from __future__ import annotations

import json
import sys
import warnings

import click

from muaudit.checks import (MAX_CPUS_PER_TASK, MAX_GPUS_PER_TASK, MAX_SEEDS, check_count, check_number_range,
                            check_positive_int, check_seed, check_threads, check_unit_interval)
from muaudit.errors import MuauditError
from muaudit.progress import LogLines, TerminalBar
from muaudit.threads import command_threads


class CLIError(click.ClickException):
    """A user mistake: printed as ``Error: <message>``, exit code 2."""

    exit_code = 2


class Group(click.Group):
    """A click group whose commands turn :class:`MuauditError` into :class:`CLIError`, and a
    filesystem failure the library did not name (``OSError``: a full disk, a read-only place,
    a path through a regular file) into one ``Error:`` line with the path and the reason."""

    def invoke(self, ctx):
        """Run the command; warnings (numpy's, click's, the library's) are held back and shown only
        when it succeeds: a failed command prints its one ``Error:`` line and nothing else."""
        with warnings.catch_warnings(record=True) as caught:
            result = self._invoke(ctx)
        for w in caught:  # success: show them (to an outer group's record, or stderr)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        return result

    def _invoke(self, ctx):
        try:
            with command_threads():  # one thread policy (threads.py); a bad $MUAUDIT_THREADS is an Error: line
                return super().invoke(ctx)
        except click.BadParameter as e:  # not a number where one belongs: one line, like every bad value
            raise CLIError(e.format_message()) from None
        except MuauditError as e:
            raise CLIError(" ".join(str(e).split("\n"))) from None
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise CLIError(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted; finished work is saved (rerun the same command to resume).", err=True)
            sys.exit(130)


def _max_residual(value):
    from muaudit.audit.decision import check_max_residual

    return check_max_residual(value)


def verdict_options(f):
    """``--alpha`` and ``--max-residual``: the pass rule's two thresholds, the same in every command that decides."""
    f = click.option("--max-residual", type=RESIDUAL, default=0.5, show_default=True,
                     help="A pass needs the audit to catch a forget set of which only this fraction is still "
                          "remembered (minimum detectable residual), in (0, 1]; see docs/power.md.")(f)
    return click.option("--alpha", type=ALPHA, default=0.01, show_default=True,
                        help="Significance level of each one-sided test, in (0, 1).")(f)


class Checked(click.ParamType):
    """An option value parsed by click (int or float), then range-checked by the library's own
    check, so the CLI and a Python call refuse a value with the same message
    (``Error: Expected `alpha` in (0, 1), got 2.0``)."""

    def __init__(self, base: click.ParamType, check, name: str):
        self.base, self.check, self.name = base, check, name

    def convert(self, value, param, ctx):
        value = self.base.convert(value, param, ctx)
        return self.check(param.name if param is not None else "value", value)


def _device(name, value):
    from muaudit.training.device import select_device

    select_device(value)
    return value


# Every command checks the same option the same way (docs/cli.md, "Option values").
ALPHA = Checked(click.FLOAT, check_unit_interval, "float in (0, 1)")  # --alpha, --fraction
RESIDUAL = Checked(click.FLOAT, lambda name, v: _max_residual(v), "float in (0, 1]")  # --max-residual
SEED = Checked(click.INT, check_seed, "integer in [0, 2**32)")
COUNT = Checked(click.INT, check_positive_int, "integer >= 1")  # --threads, --targets, --seeds
MODELS = Checked(click.INT, lambda name, v: check_positive_int(name, v, minimum=2), "integer >= 2")
DEVICE = Checked(click.STRING, _device, "device")
THREADS = Checked(click.INT, check_threads, "integer in [1, 4 x CPU cores]")  # --threads, --workers
SEEDS = Checked(click.INT, lambda name, v: check_count(name, v, MAX_SEEDS), "integer in [1, 1000]")  # poison --seeds
CPUS = Checked(click.FLOAT, lambda name, v: check_number_range(name, v, 0, MAX_CPUS_PER_TASK), "number in (0, 1024]")
GPUS = Checked(click.FLOAT, lambda name, v: check_number_range(name, v, 0, MAX_GPUS_PER_TASK, open_low=False),
               "number in [0, 64]")


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


ProgressBar = TerminalBar  # the terminal's progress bar (muaudit/progress.py)


def progress_bar(label: str, file=None) -> TerminalBar | LogLines:
    """A ``progress(done, total)`` callback on ``file`` (default stderr): a :class:`TerminalBar`
    on a terminal, else :class:`LogLines` (a plain line every ``MUAUDIT_PROGRESS_INTERVAL``
    seconds, 10 by default, and one at the end; nothing for a job shorter than that)."""
    stream = file or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TerminalBar(label, stream) if isatty and isatty() else LogLines(label, stream)


def progress_factory(file=None):
    """``label -> progress bar or None``, for jobs with several phases (``muaudit demo``)."""
    return lambda label: progress_bar(label, file)
