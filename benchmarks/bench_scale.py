"""Time and memory of one audit (and of a build) at scale: the numbers of docs/benchmarks.md's
"Audit time and memory against shadows and classes".

    python benchmarks/bench_scale.py audit POOL_DIR [--rev GITREV] [--repeat 2] [--work DIR]
    python benchmarks/bench_scale.py build RECIPE OUT_DIR

``audit``: ``muaudit lira`` of one target (model 0's logits as a ``.npy`` target; forget = the first
1,000 training positions; everything else default) against the pool in POOL_DIR, one thread, under
``/usr/bin/time -v``: wall, user and system CPU seconds, peak RSS, and the load average before
and after. With ``--rev`` the same audit also runs with the muaudit of that git revision (extracted
with ``git archive``), interleaved, so both see the same machine. The results folders of the runs
are compared: their ``results.json`` must be equal (but for the paths and timings they record).
``build``: ``muaudit pool build RECIPE --out OUT_DIR`` under ``/usr/bin/time -v`` (peak RSS of
the driver, the largest process; the workers are measured by the same tool as its children).
Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

MUAUDIT = [sys.executable, "-m", "muaudit.cli.main"]
VOLATILE = {"inputs", "config", "timing", "created", "elapsed", "results_dir", "muaudit_version", "environment"}


def timed(cmd: list[str], env: dict, cwd=None) -> dict:
    """``cmd`` under ``/usr/bin/time -v``: wall, user, system seconds and peak RSS (MB)."""
    load = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    field = lambda name: re.search(rf"{name}: ([\d:.]+)", proc.stderr).group(1)  # noqa: E731
    wall = sum(float(p) * 60 ** i for i, p in enumerate(reversed(field(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)").split(":"))))
    return {"wall_s": round(wall, 2), "user_s": float(field("User time \\(seconds\\)")),
            "sys_s": float(field("System time \\(seconds\\)")),
            "peak_rss_mb": round(int(field(r"Maximum resident set size \(kbytes\)")) / 1024),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def _source(rev: str, work: Path) -> Path:
    src = work / f"src-{rev}"
    if not src.exists():
        src.mkdir(parents=True)
        tar = subprocess.run(["git", "archive", rev], check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1]).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=tar, check=True)
    return src


def _inputs(pool: Path, work: Path) -> tuple[Path, Path]:
    import h5py
    import numpy as np

    target, forget = work / "target.npy", work / "forget.npy"
    if not target.exists():
        with h5py.File(pool / "pool.h5") as f:
            np.save(target, f["logits"][0])
        np.save(forget, np.arange(1000))
    return target, forget


def _results(folder: Path) -> dict:
    res = json.loads((folder / "results.json").read_text())
    return {k: v for k, v in res.items() if k not in VOLATILE}


def audit(args) -> None:
    pool, work = Path(args.pool).resolve(), Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    target, forget = _inputs(pool, work)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUAUDIT_THREADS": "1"}
    here = Path(__file__).resolve().parents[1]
    runs = [("this", {**env, "PYTHONPATH": str(here)}, here)]
    if args.rev:
        src = _source(args.rev, work)
        runs.append((args.rev, {**env, "PYTHONPATH": str(src)}, src))  # `python -m` imports from its cwd first
    seen = {}
    for i in range(args.repeat):
        for name, e, cwd in runs:
            out = work / f"results-{name}-{i}"
            cmd = MUAUDIT + ["lira", "--target", str(target), "--forget", str(forget), "--pool", str(pool),
                             "--out", str(out)]
            r = timed(cmd, e, cwd)
            seen.setdefault("first", _results(out))
            same = _results(out) == seen["first"]
            print(json.dumps({"run": name, "pool": str(pool), **r, "same_results": same}), flush=True)


def build(args) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    r = timed(MUAUDIT + ["pool", "build", args.recipe, "--out", args.out], env)
    print(json.dumps({"run": "build", "recipe": args.recipe, **r}), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("audit")
    a.add_argument("pool")
    a.add_argument("--rev", default=None, help="also audit with the muaudit of this git revision")
    a.add_argument("--repeat", type=int, default=1)
    a.add_argument("--work", default="bench-scale")
    b = sub.add_parser("build")
    b.add_argument("recipe")
    b.add_argument("out")
    args = ap.parse_args(argv)
    (audit if args.what == "audit" else build)(args)


if __name__ == "__main__":
    main()
