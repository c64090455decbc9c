"""Audit time and memory against shadows: stored signals (schema 4) vs logits (schema 3).

    python benchmarks/bench_signals.py --models 64 [--dir /work/tmp/bench-signals] [--before GITREV]

Builds the CIFAR-100-shaped synthetic pool of ``bench_store.py --build`` (60,000 examples x 100
classes, 2 views, an MLP with 8 hidden units, 1 epoch) with ``muaudit pool build`` (peak RSS by
``/usr/bin/time -v``), makes a schema-version-3 copy of it (the signal datasets removed), and
audits one target (model 0's logits as a ``.npy`` target, forget = the first 1,000 training
positions) with ``muaudit lira``: from the stored signals, from the version-3 copy's logits (this
muaudit computes the signals in chunks), and, with ``--before REV``, by the muaudit of git
revision REV on the version-3 copy (which read all the logits at once). Prints one JSON line per
run (wall seconds, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_store import BUILD_RECIPE  # noqa: E402


def timed(cmd: list[str], env: dict, cwd=None) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall seconds and peak RSS (MB)."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
    return {"wall_s": round(secs, 2), "peak_rss_mb": round(rss / 1024)}


def as_version_3(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "pool.h5", dst / "pool.h5")
    with h5py.File(dst / "pool.h5", "r+") as f:
        for name in ("phi", "correct", "signal_checksums"):
            del f[name]
        f.attrs["schema_version"] = 3


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--before", default=None, help="a git revision to run the 'before' audit with")
    ap.add_argument("--keep", action="store_true", help="keep the pools")
    ap.add_argument("--only", choices=("before", "after"), default=None, help="run only these audits")
    args = ap.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-signals-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUAUDIT_THREADS": "1"}
    muaudit = [sys.executable, "-m", "muaudit.cli.main"]
    recipe, pool = work / "cifar100.toml", work / f"pool-{args.models}"
    recipe.write_text(BUILD_RECIPE.format(models=args.models))
    load = lambda: os.getloadavg()[0]  # noqa: E731
    if not (pool / "pool.h5").exists():
        r = timed(muaudit + ["pool", "build", str(recipe), "--out", str(pool)], env)
        print(json.dumps({"run": "build", "models": args.models, **r, "load": load()}), flush=True)
    old = work / f"pool-{args.models}-v3"
    if not (old / "pool.h5").exists():
        as_version_3(pool, old)
    with h5py.File(pool / "pool.h5") as f:
        np.save(work / "target.npy", f["logits"][0])
    np.save(work / "forget.npy", np.arange(1000))
    audit = ["lira", "--target", str(work / "target.npy"), "--forget", str(work / "forget.npy")]
    here = Path.cwd()
    runs = [] if args.only == "before" else [("after, stored signals", pool, env, here),
                                             ("after, version-3 copy (chunks)", old, env, here)]
    if args.before:
        src = work / "before-src"
        if not src.exists():
            src.mkdir()
            tar = subprocess.run(["git", "archive", args.before], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(src)], input=tar, check=True)
        runs.append((f"before ({args.before}), version-3 copy", old, {**env, "PYTHONPATH": str(src)}, src))
    for name, p, e, cwd in runs:  # `python -m` imports from its working directory first
        r = timed(muaudit + audit + ["--pool", str(p), "--out", str(work / "results" / name.split(",")[0])], e, cwd)
        print(json.dumps({"run": name, "models": args.models, **r, "load": load()}), flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
