"""The scripts in examples/ run (with --quick: a tiny digits pool) and say what they should."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_example(name: str, workdir: Path, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--quick", "--workdir", str(workdir), *args],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_audit_checkpoint_catches_a_model_that_never_unlearned(tmp_path):
    out = run_example("audit_checkpoint.py", tmp_path)
    assert "verdict: not unlearned" in out.splitlines()
    assert (tmp_path / "audit" / "results.json").is_file()


def test_evaluate_method_ulira_tells_ga_from_retraining(tmp_path):
    out = run_example("evaluate_method_ulira.py", tmp_path, "--method", "ga")
    assert "ga: not unlearned" in out.splitlines()
    assert (tmp_path / "ulira-ga" / "results.json").is_file()
    assert not (tmp_path / "ulira-ga" / "pool.h5").exists() and (tmp_path / "pools" / "ulira-ga" / "pool.h5").is_file()


def test_plugin_method_is_found_through_the_entry_point(tmp_path):
    out = run_example("plugin_method.py", tmp_path)
    assert out.startswith("registered: noisy-ft (noisy_ft.NoisyFT)")
    assert f"wrote {tmp_path / 'noisy-ft-cli.pt'}" in out.splitlines()
    assert (tmp_path / "noisy-ft.pt").is_file() and not list(tmp_path.rglob("site-packages"))
