"""Thread policy on a shared machine: torch's default threads against one thread and against
``OMP_WAIT_POLICY=PASSIVE``, for ``muaudit train`` and a small ``muaudit pool build``.

Usage:
    python benchmarks/bench_threads.py [--rounds 3] [--out docs/benchmarks.md | --no-write]

Each run is a fresh ``muaudit`` process (wall seconds, median of the interleaved rounds):

- ``all cores``: ``--threads`` = the number of cores, OpenMP's default (spinning) wait policy: what
  torch does when nothing is set;
- ``1 thread``: ``--threads 1`` (muaudit's default since this measurement);
- ``all cores, PASSIVE``: as the first, with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _doc import load, replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1
RECIPE = """[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [512]
[train]
optimizer = "adam"
lr = 1e-3
weight_decay = 0.0
epochs = 30
batch_size = 128
[pool]
n_models = 8
engine = "ensemble"
ensemble_size = 8
"""
POLICIES = {"all cores": ({}, CORES), "1 thread": ({}, 1), "all cores, PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, CORES)}


def run(cmd: list[str], extra_env: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MUAUDIT_THREADS")}
    env.update(PYTHONPATH=str(ROOT), **extra_env)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    return time.perf_counter() - t0


def measure(rounds: int) -> dict:
    res: dict = {}
    with tempfile.TemporaryDirectory() as d:
        recipe = Path(d) / "threads.toml"
        recipe.write_text(RECIPE)
        cli = [sys.executable, "-m", "muaudit.cli.main"]
        for r in range(rounds):
            for name, (env, threads) in POLICIES.items():
                t = ["--threads", str(threads)]
                res.setdefault(("train", name), []).append(
                    run(cli + ["train", str(recipe), "--out", f"{d}/t{r}.pt"] + t, env))
                res.setdefault(("pool build (8 models)", name), []).append(
                    run(cli + ["pool", "build", str(recipe), "--out", f"{d}/p-{r}-{name[:3]}{len(name)}"] + t, env))
    return {k: statistics.median(v) for k, v in res.items()}


def block(res: dict, rounds: int, load0, load1) -> str:
    lines = []
    for job in ("train", "pool build (8 models)"):
        one = res[(job, "1 thread")]
        cells = " | ".join(f"{res[(job, p)]:.1f} s ({res[(job, p)] / one:.1f}x)" for p in POLICIES)
        lines.append(f"| {job} | {cells} |")
    return f"""Run with `python benchmarks/bench_threads.py --rounds {rounds}`: a digits MLP ([512] hidden,
Adam, 30 epochs); `muaudit train` (one model) and `muaudit pool build` (8 shadows, one ensemble),
each a fresh process; median wall seconds of {rounds} interleaved rounds, and the ratio to one thread.
{CORES} cores; load average {load0[0]:.1f} at the start and {load1[0]:.1f} at the end (other work shared
the machine, which is the case this policy is for).

| job | {' | '.join(POLICIES)} |
|---|---:|---:|---:|
{chr(10).join(lines)}

Default chosen from these numbers: **one torch thread per process** unless `--threads`,
`MUAUDIT_THREADS` or `OMP_NUM_THREADS` says otherwise. `OMP_WAIT_POLICY=PASSIVE` rescues the
all-cores run to about the one-thread time, but not beyond it, and only if set before the OpenMP
runtime starts (muaudit cannot set it for the user's process); one thread needs nothing. More cores
are used by more processes (`--executor ray`), which do not wait on each other."""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    load0 = load()
    md = block(measure(a.rounds), a.rounds, load0, load())
    print(md)
    if not a.no_write:
        replace_block(a.out, "bench-threads", "## Threads on a shared machine", md)


if __name__ == "__main__":
    main()
