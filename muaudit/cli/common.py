"""Shared CLI mechanics: error translation (one ``Error:`` line, exit code 2) and option helpers."""

from __future__ import annotations

import json
import math
import sys

import click

from muaudit.errors import MuauditError


class CLIError(click.ClickException):
    """A user mistake: printed as ``Error: <message>``, exit code 2."""

    exit_code = 2


class Group(click.Group):
    """A click group whose commands turn :class:`MuauditError` into :class:`CLIError`, and a
    filesystem failure the library did not name (``OSError``: a full disk, a read-only place,
    a path through a regular file) into one ``Error:`` line with the path and the reason."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.BadParameter as e:  # a value out of range: one line, like every other bad value
            raise CLIError(e.format_message()) from None
        except MuauditError as e:
            raise CLIError(" ".join(str(e).split("\n"))) from None
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise CLIError(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted; finished work is saved (rerun the same command to resume).", err=True)
            sys.exit(130)


class OpenUnitInterval(click.ParamType):
    """A float in the open interval (0, 1), finite (``--alpha``)."""

    name = "float in (0, 1)"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(x) and 0.0 < x < 1.0):
            self.fail(f"{value!r} is not in (0, 1)", param, ctx)
        return x


class PositiveFloat(click.ParamType):
    """A finite float > 0 (``--budget``, ``--eps``)."""

    name = "float > 0"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(x) and x > 0):
            self.fail(f"{value!r} is not a finite number > 0", param, ctx)
        return x


class Device(click.ParamType):
    """A torch device that exists on this machine (checked before any work)."""

    name = "device"

    def convert(self, value, param, ctx):
        from muaudit.training.device import select_device

        try:
            select_device(value)
        except MuauditError as e:
            self.fail(str(e), param, ctx)
        return value


# Every command checks the same option the same way (docs/cli.md, "Option ranges").
ALPHA = OpenUnitInterval()
SEED = click.IntRange(0, 2**32 - 1)
COUNT = click.IntRange(min=1)  # --threads, --targets, --seeds
POSITIVE = PositiveFloat()
DEVICE = Device()


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
