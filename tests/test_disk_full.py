"""A full disk never leaves half an output (issue 19): ``lira``, ``mia``, ``ulira``, ``report``,
``unlearn`` and ``benchmark`` on small tmpfs mounts end with one ``Error:`` line naming the path,
and leave the previous output exactly as it was (or nothing), never a truncated file or a mix of
old and new files. The pool's own full-disk sweep is tests/test_pool_disk.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit import copy_kit, ok, snapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount")),
                                 reason="mounting a tmpfs needs root (CI runs as root)")]

SPEC = 'recipe = "{recipe}"\nmethods = ["original", "retrain"]\nseeds = [0]\n[[forget]]\nfraction = 0.1\n'


@pytest.fixture(scope="module")
def kit(tmp_path_factory, cli_kit_base):
    d = copy_kit(cli_kit_base, tmp_path_factory.mktemp("kit"))  # tiny.toml, pool/, model.pt, forget.npy, results/
    (d / "spec.toml").write_text(SPEC.format(recipe=d / "tiny.toml"))
    ok("report", d / "results", "--html", "--out", d / "old.html")
    return d


def _folder(src):
    return lambda kit, target: shutil.copytree(kit / src, target)


def _file(src):
    return lambda kit, target: shutil.copy(kit / src, target)


# (id, argv given (kit, OUT), the previous output to put at OUT first, or None)
CASES = [
    ("lira", lambda k, o: ["lira", "--target", k / "model.pt", "--forget", k / "forget.npy", "--pool", k / "pool",
                           "--out", o], _folder("results")),
    ("mia", lambda k, o: ["mia", "--target", k / "model.pt", "--forget", k / "forget.npy", "--out", o], _folder("results")),
    ("ulira", lambda k, o: ["ulira", "--pool", k / "pool", "--method", "ft", "--out", o], _folder("results")),
    ("report-html", lambda k, o: ["report", k / "results", "--html", "--out", o], _file("old.html")),
    ("report-csv", lambda k, o: ["report", k / "results", "--csv", o], _file("forget.npy")),
    ("unlearn", lambda k, o: ["unlearn", "--method", "ft", "--model", k / "model.pt", "--forget", k / "forget.npy",
                              "--out", o, "--set", "epochs=1"], _file("model.pt")),
    ("lira-fresh", lambda k, o: ["lira", "--target", k / "model.pt", "--forget", k / "forget.npy", "--pool", k / "pool",
                                 "--out", o], None),
]


def _pages(path: Path) -> int:
    """KiB a file or folder takes on a tmpfs (whole 4 KiB pages)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(-(-p.stat().st_size // 4096) * 4 for p in files)


def _run(argv, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "muaudit.cli.main", *map(str, argv)], cwd=cwd, check=False,
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("make, previous", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_full_disk_keeps_the_previous_output(kit, tmp_path, make, previous):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = mnt / "out"
    staging = tmp_path / "prev"
    if previous is not None:
        previous(kit, staging)
    size = (_pages(staging) if previous is not None else 0) + 8  # the old output and two more pages
    size -= 8 if "--csv" in map(str, make(kit, staging)) else 0  # a CSV takes one page: leave none
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", str(mnt)], check=True)
    try:
        if previous is not None:
            (shutil.copytree if staging.is_dir() else shutil.copy)(staging, out)
        before = snapshot(mnt)
        r = _run(make(kit, out), tmp_path)
        text = r.stdout + r.stderr
        assert r.returncode == 2, text
        assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("Error: "), text  # the only output
        assert "no space left on device writing" in r.stderr and str(mnt) in r.stderr, r.stderr  # names the path
        assert snapshot(mnt) == before  # the previous output byte for byte, no temporary, no partial folder
        if previous is None:
            assert not out.exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_benchmark_on_a_full_disk_leaves_only_complete_files(kit, tmp_path):
    """A benchmark folder is a resumable workspace: what is there after ENOSPC is whole (every
    JSON parses, no temporaries), and a rerun with --resume on a roomy disk finishes."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(mnt)], check=True)
    try:
        r = _run(["benchmark", kit / "spec.toml", "--out", mnt / "b"], tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stdout + r.stderr
        assert not [p for p in mnt.rglob("*") if ".tmp" in p.name]
        for p in mnt.rglob("*.json"):
            json.loads(p.read_text())
        shutil.copytree(mnt / "b", tmp_path / "b") if (mnt / "b").exists() else None
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    args = ["benchmark", kit / "spec.toml", "--out", tmp_path / "b"] + (["--resume"] if (tmp_path / "b" / "spec.json").exists() else [])
    r = _run(args, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "b" / "results.json").is_file()
