"""Every CLI command has --help and a section in docs/cli.md."""

from pathlib import Path

import click
from click.testing import CliRunner

from muaudit.cli.main import cli

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        path = prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)
        else:
            yield path


def test_every_command_has_help_and_docs():
    paths = list(_commands(cli))
    assert {("pool", "build"), ("lira",), ("demo",), ("unlearn",)} <= set(paths)
    for path in paths:
        r = CliRunner().invoke(cli, [*path, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, path
        assert f"## `muaudit {' '.join(path)}" in DOC, f"docs/cli.md lacks a section for muaudit {' '.join(path)}"


def test_ci_runs_exactly_the_readme_test_command():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    blocks = re.findall(r"```bash\n(.*?)\n```", (root / "README.md").read_text(), flags=re.S)
    test_command = next(b for b in blocks if "pytest" in b).strip()
    ci_lines = [line for line in (root / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == test_command
