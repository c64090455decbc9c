"""Latency of one audit: ``muaudit lira`` on the default digits pool against the import floor.

Usage:
    python benchmarks/bench_latency.py [--pool shadow_models/digits-mlp] [--repeats 5]
                                       [--out docs/benchmarks.md | --no-write]

The floor is a fresh interpreter importing what any audit needs (torch, h5py, numpy,
scipy.stats). Each round runs the floor and then the audit (a fresh ``python -m
muaudit.cli.main lira`` process on a target trained once from the pool's recipe, 40 forget
examples) and records wall and CPU seconds (user + sys of the child); the block reports the
medians and their ratio. CPU seconds say more than wall seconds on a machine other work shares.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _doc import load, replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLOOR = [sys.executable, "-c", "import torch, h5py, numpy, scipy.stats"]
FLOOR_FROZEN = [sys.executable, "-c", "import torch, h5py, numpy, scipy.stats, gc; gc.freeze()"]  # muaudit's exit


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(pool: Path, tmp: Path, env: dict) -> list[str]:
    """Train the audit's target once; return the audit command."""
    import json

    import h5py

    with h5py.File(pool / "pool.h5", "r") as f:
        spec = json.loads(f.attrs["spec"])
    recipe = ROOT / "shadow_models" / f"{spec['name']}.toml"
    target, forget = tmp / "target.pt", tmp / "forget.npy"
    subprocess.run([sys.executable, "-m", "muaudit.cli.main", "train", str(recipe), "--out", str(target),
                    "--seed", "7", "--threads", "1"], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    np.save(forget, np.arange(40))
    return [sys.executable, "-m", "muaudit.cli.main", "lira", "--target", str(target), "--forget", str(forget),
            "--pool", str(pool), "--out", str(tmp / "out")]


BREAKDOWN = """
import time, tempfile, numpy as np
t = time.process_time()
import muaudit.jobs.lira, muaudit.report.figures as F
from muaudit.audit.verdict import assess_scores
t0 = time.process_time()
s = np.random.default_rng(0).normal(size=1797); f, nm, r = np.arange(40), np.arange(1347, 1797), np.arange(40, 1347)
t1 = time.process_time()
assess_scores(s, f, nm, r, alpha=0.01)
t2 = time.process_time()
F.save_audit_figures(tempfile.mkdtemp(), {"forget": (np.r_[s[f], s[nm]], np.r_[np.ones(40), np.zeros(450)]),
                                         "control": (np.r_[s[r], s[nm]], np.r_[np.ones(r.size), np.zeros(450)])},
                     {"forget": s[f], "non-members": s[nm], "retained": s[r]})
print(t0 - t, t2 - t1, time.process_time() - t2)
"""


def breakdown(env: dict) -> tuple[float, float, float]:
    """CPU seconds of: importing the audit's modules, the statistics (permutation test, power,
    intervals) on digits-sized scores, and drawing the figures (matplotlib's import included)."""
    out = subprocess.run([sys.executable, "-c", BREAKDOWN], check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    return tuple(float(v) for v in out.stdout.split())


def measure(pool: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as d:
        audit = prepare(pool, Path(d), env)
        timed(FLOOR, env)  # warm the file cache for both
        rows = {"floor": [], "floor_frozen": [], "audit": [], "audit_inline": []}
        for r in range(repeats):
            rows["floor"].append(timed(FLOOR, env))
            rows["floor_frozen"].append(timed(FLOOR_FROZEN, env))
            rows["audit"].append(timed(audit[:-1] + [f"{audit[-1]}{r}"], env))
            rows["audit_inline"].append(timed(audit[:-1] + [f"{audit[-1]}i{r}"], {**env, "MUAUDIT_FIGURES": "inline"}))
    res = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    return {**res, "breakdown": breakdown(env)}


def block(res: dict, repeats: int, load0, load1) -> str:
    (fw, fc), (zw, zc), (aw, ac), (iw, ic), b = (res["floor"], res["floor_frozen"], res["audit"], res["audit_inline"],
                                                 res["breakdown"])
    quiet = max(load0[0], load1[0]) < 2
    return f"""Run with `python benchmarks/bench_latency.py` (median of {repeats} interleaved rounds; a fresh
process each; `OMP_NUM_THREADS=1`). Load average {load0[0]:.1f} when it started and {load1[0]:.1f} when it
ended on this 2-core machine{" (quiet)" if quiet else ", which other work shared: wall seconds are inflated by the queue for the cores"}.
CPU seconds are user + sys of the process and its children (the figure worker).

| | wall s | CPU s | wall / floor |
|---|---:|---:|---:|
| floor: `import torch, h5py, numpy, scipy.stats` | {fw:.2f} | {fc:.2f} | 1.00x |
| floor with muaudit's exit (`gc.freeze()` last) | {zw:.2f} | {zc:.2f} | {zw / fw:.2f}x |
| `muaudit lira` on the digits pool (64 shadows, 40 forget examples) | {aw:.2f} | {ac:.2f} | **{aw / fw:.2f}x** |
| the same, figures drawn in the process (`MUAUDIT_FIGURES=inline`) | {iw:.2f} | {ic:.2f} | {iw / fw:.2f}x |

Against the floor with the same exit, the audit is **{aw / zw:.2f}x** (wall).

How an audit stays near the floor:

- **Imports**: click, muaudit and what the audit uses; no Jinja2 (loaded when a report page is
  rendered), no scikit-learn, statsmodels or pandas.
- **Figures in a forked worker** (`muaudit/report/figure_worker.py`): the command forks a child
  before it imports torch; the child imports matplotlib and draws a throw-away figure while the
  parent imports torch and runs the attack, then draws the three figures (PNG bytes) while the
  parent runs the statistics. The parent writes them with the folder (an audit that fails writes
  nothing); the files are byte-identical to figures drawn in the process (tests/test_figure_worker.py).
  Linux only, and only in a fresh command (a library caller or test runner that has imported torch
  draws in its own process); a worker that dies is replaced by drawing in the process.
- **Exit**: Python's last garbage collection walks every object torch created (about 0.5 s in any
  process that imports torch: the floor's own exit); `muaudit` freezes them with `gc.freeze()` when
  the command is done (files, atexit handlers and module teardown run as before). The second row
  is the floor with that exit, so the audit's own cost is the ratio against it.
- **Statistics**: the same numbers as before, bit for bit (tests/test_audit.py compares the
  permutation test with its first implementation): the permutation test draws the same random keys
  but finds each permutation's subset with a partition and a 0/1 matrix product in 2 MiB blocks
  instead of `argpartition` index arrays, the forget test's two one-sided p-values come from one
  pass, and the AUC bootstrap counts blocks of replicates at once.

Where the CPU goes (one process, digits-sized scores): importing the audit's modules (torch,
scipy.stats and muaudit; mostly the floor) {b[0]:.2f} s, the statistics (10,000-permutation tests,
power control, bootstrap intervals; `muaudit.audit.verdict`) {b[1]:.2f} s, drawing the three figures
with matplotlib's import {b[2]:.2f} s (in the worker, beside the rest). Most of the statistics is fixed by
the seeds' random streams: the control's 10,000 permutations of 1,757 scores draw 17.6 million
random keys and partition them, the two AUC bootstraps draw 1,000 replicates each; changing those
streams would change every reported p-value and interval."""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pool", type=Path, default=Path(os.environ.get("MUAUDIT_POOL", ROOT / "shadow_models" / "digits-mlp")))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    if not (a.pool / "pool.h5").is_file():
        sys.exit(f"Error: no pool at {a.pool}; build it with `muaudit pool build shadow_models/digits-mlp.toml`")
    load0 = load()
    res = measure(a.pool, a.repeats)
    md = block(res, a.repeats, load0, load())
    print(md)
    if not a.no_write:
        replace_block(a.out, "bench-latency", "## Latency of one audit", md)


if __name__ == "__main__":
    main()
