"""The forked figure worker of `muaudit lira` / `muaudit mia`: the same folder as figures drawn in
the process, errors raised in the parent, a dead worker replaced by drawing in the process.

Each case runs in a fresh interpreter (the worker is forked only where torch is not yet imported,
which a pytest process is not)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers_audit import tiny_audit_kit

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked on Linux only")


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_audit_base):
    d = tmp_path_factory.mktemp("figures")
    tiny_audit_kit(tiny_audit_base, d)
    return d


def lira(kit: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "muaudit.cli.main", "lira", "--target", str(kit / "orig.pt"), "--forget",
           str(kit / "forget.npy"), "--pool", str(kit / "pool"), "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.slow  # measured: two CLI processes, 63 s at load 9 (the fast loop, docs/development.md)
def test_worker_and_inline_write_the_same_folder(kit, tmp_path):
    forked = lira(kit, tmp_path / "forked")
    inline = lira(kit, tmp_path / "inline", {"MUAUDIT_FIGURES": "inline"})
    assert forked.returncode == 0 and inline.returncode == 0, forked.stderr + inline.stderr
    assert forked.stderr == "" and inline.stderr == ""  # the worker prints nothing
    names = ["roc.png", "roc_loglog.png", "scores_hist.png"]
    for name in names:
        a, b = (tmp_path / "forked" / name).read_bytes(), (tmp_path / "inline" / name).read_bytes()
        assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b, name
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("forked", "inline"))
    assert ra["verdict"] == rb["verdict"] and ra["p_value"] == rb["p_value"]


@pytest.mark.slow  # measured: 6.5 s CPU, two interpreters (the fast loop, docs/development.md)
def test_worker_runs_beside_a_fresh_command_only():
    code = """
from muaudit.report import figure_worker as W
print(W.start_figure_worker(), W._worker[0].is_alive(), W._worker[0].name)
import torch
W._worker[1].close(); W._worker[0].join(5); W._worker = None
print(W.start_figure_worker())  # torch is imported now: no fork
"""
    r = python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "muaudit-figures", "False"]
    off = python("from muaudit.report import figure_worker as W; print(W.start_figure_worker())",
                 {"MUAUDIT_FIGURES": "inline"})
    assert off.stdout.split() == ["False"]


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_dead_worker_is_replaced_and_errors_reach_the_parent(tmp_path):
    code = f"""
import os, signal, numpy as np
from pathlib import Path
from muaudit.report import figure_worker as W
out = Path({str(tmp_path)!r})
(out / "a").mkdir(); (out / "b").mkdir()
curves = {{"f": (np.r_[np.arange(5.0), np.arange(5.0) - 2], np.r_[np.ones(5), np.zeros(5)])}}
groups = {{"forget": np.arange(5.0), "non-members": np.arange(5.0) - 2}}
assert W.start_figure_worker()
W.draw_figures({{"g": (np.arange(8.0), np.r_[np.ones(4), np.zeros(4)])}}, groups)  # never written (a failed audit)
W.draw_figures(curves, groups).write(out / "a")    # gets its own figures, not the unwritten job's
try:
    W.draw_figures({{"f": ("not", "arrays")}}, groups).write(out)
except Exception as e:
    print("raised", type(e).__name__)
os.kill(W._worker[0].pid, signal.SIGKILL)
W._worker[0].join(5)
print(W.draw_figures(curves, groups).write(out / "b"), W._worker)
"""
    r = python(code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("raised ") and lines[0] != "raised RuntimeError"  # the child's own error type
    assert lines[1] == "['roc.png', 'roc_loglog.png', 'scores_hist.png'] None"  # drawn here, worker forgotten
    assert (tmp_path / "a" / "roc.png").read_bytes() == (tmp_path / "b" / "roc.png").read_bytes()


@pytest.mark.slow  # measured: 5.3 s CPU, a CLI process (the fast loop, docs/development.md)
def test_failed_audit_leaves_no_files_and_one_error_line(kit, tmp_path):
    np.save(tmp_path / "bad.npy", np.array([10**6]))
    r = subprocess.run([sys.executable, "-m", "muaudit.cli.main", "lira", "--target", str(kit / "orig.pt"),
                        "--forget", str(tmp_path / "bad.npy"), "--pool", str(kit / "pool"), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and [ln for ln in r.stderr.splitlines() if ln.strip()][-1].startswith("Error: ")
    assert len([ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]) == 1
    assert not (tmp_path / "out").exists()
