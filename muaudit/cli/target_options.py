"""Options shared by every command that runs a target model: its input convention and the device."""

from __future__ import annotations

import click

from muaudit.checks import INPUT_LAYOUTS

DEVICE_HELP = "torch device (default: cuda if available, else cpu)."


def input_options(command):
    """Add ``--input-layout``, ``--input-mean`` and ``--input-std`` (see docs/third-party.md)."""
    for option in reversed([
        click.option("--input-layout", type=click.Choice(INPUT_LAYOUTS), default="auto", show_default=True,
                     help="How the model takes inputs: auto probes the dataset's layout, then flat, then channels-last."),
        click.option("--input-mean", metavar="M[,M...]", help="Per-channel mean the model's inputs were normalised with."),
        click.option("--input-std", metavar="S[,S...]", help="Per-channel std the model's inputs were normalised with."),
    ]):
        command = option(command)
    return command


def device_option(command):
    return click.option("--device", help=DEVICE_HELP)(command)
