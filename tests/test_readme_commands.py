"""The README's command list, in order, from an empty folder, with the installed ``muaudit``
console script: packaged recipes and specs are found by name, each command finds what the
previous ones wrote, and nothing needs the checkout.

Small settings (the only changes to the README's lines): ``pool build`` trains 4 shadows instead of
64 (``--models 4``), ``pool evaluate`` holds out 2 of them (``--targets 2``), ``benchmark`` searches 1
trial per method (``--trials 1``). Measured: 31 min on the shared 2-core machine at load average
~17 (every command passed; most of it the benchmark and the U-LiRA pool).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"pool build": "--models 4", "pool evaluate": "--targets 2", "benchmark": "--trials 1"}

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    block = README.read_text().split("## Commands", 1)[1].split("```", 2)[1]
    lines = [line.split("  #", 1)[0].strip() for line in block.strip().splitlines()]
    return [line for line in lines if line]


def small(command: str) -> str:
    return " ".join([command] + [extra for cmd, extra in SMALL.items() if command.startswith(f"muaudit {cmd} ")])


def test_the_readme_commands_parse():
    commands = readme_commands()
    assert commands[0].startswith("muaudit forget-set ") and len(commands) >= 10
    assert all(c.startswith("muaudit ") for c in commands)
    assert not [c for c in commands if re.search(r"shadow_models/[\w-]+\.toml|benchmarks/", c)]  # no checkout paths


def test_readme_commands_run_in_order_from_an_empty_folder(tmp_path):
    exe = shutil.which("muaudit")
    assert exe, "the muaudit console script is not installed (pip install -e .)"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUAUDIT_THREADS": "1"}
    env.pop("MUAUDIT_POOL", None)
    for command in readme_commands():
        run = subprocess.run(["bash", "-c", small(command)], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=1200)
        assert run.returncode == 0, f"{small(command)}\n{run.stdout}\n{run.stderr}"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["forget.npy", "orig.pt", "report.html", "results", "retrain.pt", "runs.csv", "shadow_models",
                       "unl.pt"]
    assert sorted(p.name for p in (tmp_path / "shadow_models").iterdir()) == ["digits-mlp", "digits-mlp-ulira"]
    assert not list(tmp_path.rglob("*.lock"))
