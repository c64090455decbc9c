"""One thread policy for every command: the CLI runs each command with muaudit.threads'
threads in torch and in the BLAS / OpenMP pools (audits, demo and reports as training)."""

import click
import torch
from click.testing import CliRunner
from threadpoolctl import threadpool_info

from muaudit.cli.common import Group
from muaudit.threads import command_threads


def blas_threads():
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_command_threads_sets_and_restores(monkeypatch):
    monkeypatch.delenv("MUAUDIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    try:
        with command_threads() as n:
            import os

            assert n == 1 and torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
            assert blas_threads() == {1}
        assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS" not in os.environ
        monkeypatch.setenv("MUAUDIT_THREADS", "2")
        with command_threads() as n:
            assert n == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_every_cli_command_runs_under_the_policy(monkeypatch):
    monkeypatch.delenv("MUAUDIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = {}

    @click.group(cls=Group)
    def cli():
        pass

    @cli.command("audit")
    def audit():
        seen["torch"], seen["blas"] = torch.get_num_threads(), blas_threads()

    torch.set_num_threads(2)
    try:
        assert CliRunner().invoke(cli, ["audit"]).exit_code == 0
    finally:
        torch.set_num_threads(1)
    assert seen["torch"] == 1 and seen["blas"] == {1}
