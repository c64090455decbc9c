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


def query_options(command):
    """Add ``--output`` (ONNX models and endpoints) and the endpoint options ``--batch-size``,
    ``--timeout``, ``--retries``, ``--max-queries`` (see docs/third-party.md); the command takes
    them as ``**query`` and passes them on."""
    for option in reversed([
        click.option("--output", metavar="NAME",
                     help="The output of an ONNX model or an endpoint to read (default: the one of shape [N, n_classes])."),
        click.option("--batch-size", type=int, help="Endpoints: rows per infer request [default: 128]."),
        click.option("--timeout", type=float, help="Endpoints: seconds to wait for one answer [default: 30]."),
        click.option("--retries", type=int,
                     help="Endpoints: tries again after a connection error, timeout, 429 or 5xx, waiting 0.5 s, 1 s, 2 s, ... [default: 3]."),
        click.option("--max-queries", type=int,
                     help="Endpoints: the most rows x views the audit may send; refused before the first request if it needs more."),
    ]):
        command = option(command)
    return command


def device_option(command):
    return click.option("--device", help=DEVICE_HELP)(command)
