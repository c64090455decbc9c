"""Write the table of a `muaudit benchmark` results folder into docs/benchmark.md.

Usage:
    OMP_NUM_THREADS=1 muaudit benchmark benchmarks/specs/digits-deepunlearn.toml --out results/du
    python benchmarks/benchmark_table.py results/du [--out docs/benchmark.md]
    python benchmarks/benchmark_table.py results/comp --competition-only
    OMP_NUM_THREADS=1 muaudit benchmark benchmarks/specs/digits-ulira.toml --out results/ulira
    python benchmarks/benchmark_table.py results/ulira --block benchmark-ulira

The markdown goes between the ``benchmark-table`` marker comments (or those of ``--block``); the
search-space table between the ``benchmark-spaces`` markers (with the default block only); a run
with the competition phase writes its table between the ``competition-table`` markers (with
``--competition-only``, that table alone).
"""

from __future__ import annotations

import sys

import argparse
import json
import os
import platform
import time
from pathlib import Path

from muaudit.benchmark.space import space_table

sys.path.insert(0, str(Path(__file__).parent))
from _doc import replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def describe(results: dict) -> str:
    spec, b = results["spec"], results["benchmark"]
    forget = ", ".join(f"`{f['name']}` ({f['kind']}: " + (f"{f['fraction']:.0%} of the training split"
                       if f["kind"] == "random" else f"classes {f['classes']}") + ")" for f in spec["forget"])
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    except OSError:
        load = ""
    return (f"Spec `{spec['name']}`: recipe `{Path(spec['recipe']).stem}`, {len(spec['methods'])} methods, seeds "
            f"{spec['seeds']} (the search on the first {spec['search_seeds']}), forget settings {forget}, "
            f"{spec['trials']} NSGA-III trials per method and setting"
            + (f" (population {spec['population']})" if "population" in spec else "")
            + (f", U-LiRA on {ulira_models(b)} shadows of `{Path(b['ulira']['pools'][0]['recipe']).stem}`" if b.get("ulira") else "")
            + ". Mean [95% t-interval over seeds]. "
            f"Wall time {b.get('total_wall_seconds', b['wall_seconds']) / 60:.0f} min over {b.get('sessions', 1)} "
            f"session(s) with {b['workers']} local worker(s); table written "
            f"{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs{load}.")


def ulira_models(b: dict) -> str:
    rows = [r for r in b["rows"] if r.get("ulira_protocol", "").startswith("U-LiRA")]
    return rows[0]["ulira_protocol"].split(" shadows,")[0].rsplit(" ", 1)[-1] if rows else "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmark.md"))
    ap.add_argument("--block", default="benchmark-table", help="the marker name of the block to write")
    ap.add_argument("--competition-only", action="store_true", help="write only the competition table")
    args = ap.parse_args()
    results = json.loads((Path(args.folder) / "results.json").read_text())
    out = Path(args.out)
    competition = results["benchmark"].get("competition")
    if competition:
        replace_block(out, "competition-table", None, competition["markdown"])
    if args.competition_only:
        return
    replace_block(out, args.block, None, describe(results) + "\n\n" + results["benchmark"]["markdown"])
    if args.block == "benchmark-table":
        replace_block(out, "benchmark-spaces", None, space_table())


if __name__ == "__main__":
    main()
