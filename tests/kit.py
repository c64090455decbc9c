"""The small kit the tests share: run a ``muaudit`` command in-process (click's ``CliRunner``), check
that a refused command ends in exactly one ``Error:`` line, hash a folder to show nothing changed,
and write the tiny digits recipes most tests build from.

    from tests.kit import error_line, ok, run, tiny_digits_recipe
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from muaudit.cli.main import cli


def run(*args, env=None):
    """``muaudit ARGS`` in this process (paths and numbers are turned into strings); click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def ok(*args, env=None):
    """:func:`run` that must succeed (exit code 0); the Result."""
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


def error_line(result, *, after_progress: bool = False) -> str:
    """The ``Error: ...`` line of a refused command: exit code 2, no traceback, and that line as the
    whole output; with ``after_progress``, progress lines may come first but the one ``Error:`` line
    comes last."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert after_progress or len(lines) == 1, result.output
    return errors[0]


def one_error(result, expected: str) -> str:
    """:func:`error_line` (progress lines allowed) that contains ``expected``; the line."""
    line = error_line(result, after_progress=True)
    assert expected in line, line
    return line


def copy_kit(base: Path, d: Path) -> Path:
    """A module's own copy of a session kit folder (``cli_kit_base`` in tests/conftest.py): ``d``."""
    shutil.copytree(base, d, dirs_exist_ok=True)
    return d


def snapshot(*roots: Path) -> dict:
    """Every file, folder and link under ``roots``: content hash (files), ``dir``, or target (links),
    keyed by path; equal snapshots mean nothing was added, removed or changed."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                out[str(p)] = ("-> " + os.readlink(p) if p.is_symlink() else
                               hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
    return out


def interrupt_pool_commits(monkeypatch, at: int = 3):
    """Make the pool builder's ``at``-th commit of rows raise ``KeyboardInterrupt`` (a build stopped
    with Ctrl-C after ``at - 1`` commits); returns a function that puts the real commit back."""
    import muaudit.pool.build as build_module

    real, calls = build_module.commit, []

    def crash(path, rows):
        calls.append(path)
        if len(calls) == at:
            raise KeyboardInterrupt
        real(path, rows)

    monkeypatch.setattr(build_module, "commit", crash)
    return lambda: monkeypatch.setattr(build_module, "commit", real)


def digits_mlp_sections(*, hidden: int, epochs: int, batch_size: int, lr: float = 1e-2) -> str:
    """The ``[dataset]``, ``[model]`` and ``[train]`` sections of the test recipes: digits, a one-layer
    MLP of ``hidden`` units, Adam."""
    return f"""
[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [{hidden}]
[train]
optimizer = "adam"
lr = {lr}
weight_decay = 0.0
epochs = {epochs}
batch_size = {batch_size}
"""


def tiny_digits_recipe(*, hidden: int = 8, epochs: int = 1, batch_size: int = 256, lr: float = 1e-2,
                       n_models: int = 2, seed: int = 3, engine: str = "sequential", extra: str = "") -> str:
    """The text of a digits MLP recipe (one hidden layer, Adam); the defaults train 2 models in well
    under a second. ``extra`` is appended as is (more ``[pool]`` keys, ``[[unlearn]]`` entries)."""
    return (digits_mlp_sections(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr)
            + f'[pool]\nn_models = {n_models}\nseed = {seed}\nengine = "{engine}"\n{extra}')


def sisa_digits_recipe(*, shards: int = 3, slices: int = 3, aggregation: str = "mean", extra: str = "") -> str:
    """The text of the SISA tests' digits recipe (an MLP [16], 4 epochs; S shards x R slices; 4 models,
    seed 1); ``extra`` is appended to ``[pool]`` as is (``save_weights``, ``[[unlearn]]`` entries)."""
    return (digits_mlp_sections(hidden=16, epochs=4, batch_size=64)
            + f'[sisa]\nshards = {shards}\nslices = {slices}\naggregation = "{aggregation}"\n'
            + f"[pool]\nn_models = 4\nseed = 1\n{extra}")


TINY_RECIPE = tiny_digits_recipe()  # 2 digits MLPs (hidden [8]), 1 epoch: the CLI tests' throwaway recipe
ULIRA_ENTRY = '[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\nretrain = true\n'  # one U-LiRA pair per model
