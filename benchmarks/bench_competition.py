"""Speed of the competition score's rule search: the counting implementation against the first one.

Usage:
    python benchmarks/bench_competition.py [--examples 135] [--models 32] [--repeats 3]
                                           [--out docs/benchmarks.md | --no-write]

Times :func:`muaudit.benchmark.competition.competition_score` on synthetic statistics (the
unlearned side shifted by 0.3 sd) against the first implementation, which evaluated every rule
of the ~400 x 400 interval grid per example (kept as the reference in
tests/test_benchmark_competition.py). Both give the same epsilons (checked here too). CPU
seconds of this process (``time.process_time``), median of ``--repeats``, one thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).parent), str(ROOT / "tests"), str(ROOT)]
from _doc import load, replace_block  # noqa: E402


def cpu_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=135)
    ap.add_argument("--models", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from muaudit.benchmark.competition import example_epsilon
    from test_benchmark_competition import _reference_epsilon

    rng = np.random.default_rng(0)
    u, r = rng.normal(0.3, 1, (a.models, a.examples)), rng.normal(0, 1, (a.models, a.examples))
    cols = range(a.examples)
    load_before = load()[0]
    new = [example_epsilon(u[:, i], r[:, i]) for i in cols]
    old = [_reference_epsilon(u[:, i], r[:, i]) for i in cols]
    assert new == old, "the implementations disagree"
    t_new = cpu_seconds(lambda: [example_epsilon(u[:, i], r[:, i]) for i in cols], a.repeats)
    t_old = cpu_seconds(lambda: [_reference_epsilon(u[:, i], r[:, i]) for i in cols], a.repeats)
    load_after = load()[0]
    block = f"""Run with `python benchmarks/bench_competition.py` ({a.examples} forget examples x {a.models} models
per side, synthetic statistics; median CPU seconds of {a.repeats} runs in one process, one thread).
Load average {load_before:.1f} when it started and {load_after:.1f} when it ended on this
{os.cpu_count()}-core machine.

| rule search (every example's epsilon) | CPU s | per example |
|---|---:|---:|
| first implementation: every rule of the ~400 x 400 interval grid evaluated | {t_old:.2f} | {1000 * t_old / a.examples:.1f} ms |
| counting: the distinct (FPR, FNR) pairs of each grid row at its break points | {t_new:.2f} | {1000 * t_new / a.examples:.1f} ms |
| speedup | **{t_old / t_new:.1f}x** | |

The epsilons are identical (`==`, also asserted by the script and by
`tests/test_benchmark_competition.py` on 145 varied cases)."""
    print(block)
    if not a.no_write:
        replace_block(a.out, "bench-competition", "## Competition score: the rule search", block)


if __name__ == "__main__":
    main()
