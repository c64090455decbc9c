"""The ``muaudit`` command group. Every module in ``muaudit/cli/`` that defines ``COMMANDS``
(a list of click commands) is added here, so a new command needs no edit of this file."""

from __future__ import annotations

import gc
import importlib
import pkgutil

import click

import muaudit
from muaudit.cli.common import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(muaudit.__version__, prog_name="muaudit")
def cli():
    """muaudit: audit machine unlearning with membership-inference and poisoning attacks.

    Start with `muaudit demo`, or build a pool with `muaudit pool build digits-mlp` (a packaged recipe).
    """


def _register() -> None:
    import muaudit.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name in ("main", "common"):
            continue
        for command in getattr(importlib.import_module(f"muaudit.cli.{info.name}"), "COMMANDS", []):
            cli.add_command(command)


_register()


def main() -> None:
    """The ``muaudit`` console script: the command group, then an exit without Python's last
    garbage collection, which would walk every object torch created (~0.5 s of a 3 s audit, the
    same in any process that imports torch; docs/benchmarks.md). ``gc.freeze`` leaves those objects
    to the end of the process; files, atexit handlers and module teardown run as before."""
    try:
        cli()
    finally:
        gc.freeze()


if __name__ == "__main__":  # python -m muaudit.cli.main
    main()
