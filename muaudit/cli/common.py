"""Shared CLI mechanics: error translation (one ``Error:`` line, exit code 2) and option helpers."""

from __future__ import annotations

import json
import sys

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
