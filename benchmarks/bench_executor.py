"""Pool build through the executors: in this process (workers 1, the default before worker
processes), the local default (one worker process per core) and Ray with 2 one-CPU workers.

Usage:
    python benchmarks/bench_executor.py [--models 32] [--ensemble-size 4] [--epochs 100] [--rounds 2]
                                        [--ways local-1,local,ray-2] [--out docs/benchmarks.md | --no-write]

Each way builds the same digits MLP pool (``--models`` shadows, chunks of ``--ensemble-size``,
i.e. models / ensemble-size tasks) into a fresh directory, in a fresh process, one torch thread
per worker: ``local-1`` (``--workers 1``: this process, its predictor thread beside the training),
``local`` (the default: one worker process per core, started by the build itself, so its
start-up is in the build time) and ``ray-2`` (a local Ray instance with 2 CPUs; Ray's start and
stop are timed apart from the build). Rounds are interleaved; medians are reported, with each
way's spread.
"""

from __future__ import annotations

import argparse
import json
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
WAYS = ("local-1", "local", "ray-2")
RECIPE = """[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [512]
[train]
optimizer = "adam"
lr = 1e-3
weight_decay = 0.0
epochs = {epochs}
batch_size = 128
[pool]
n_models = {models}
seed = 0
engine = "ensemble"
ensemble_size = {ensemble_size}
"""


def child(way: str, recipe: Path, out: Path) -> dict:
    """One build in this process; returns seconds of start, build and stop."""
    from muaudit.execution import make_executor
    from muaudit.pool import build_pool, load_spec

    spec = load_spec(recipe)
    t0 = time.perf_counter()
    if way.startswith("local"):
        ex = make_executor("local", workers=1 if way == "local-1" else None, threads=1)
    else:
        import ray

        ray.init(num_cpus=int(way[-1]), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ex = make_executor("ray", cpus_per_task=1)
    t1 = time.perf_counter()
    build_pool(spec, out, executor=ex)
    ex.close()
    t2 = time.perf_counter()
    if not way.startswith("local"):
        ray.shutdown()
    return {"start": t1 - t0, "build": t2 - t1, "stop": time.perf_counter() - t2}


def recipe_text(a) -> str:
    """The benchmark's recipe, or a packaged recipe as shipped (``--recipe digits-mlp``)."""
    if a.recipe is None:
        return RECIPE.format(epochs=a.epochs, models=a.models, ensemble_size=a.ensemble_size)
    from muaudit.pool import load_spec
    from muaudit.pool.recipes import resolve_recipe

    path = resolve_recipe(a.recipe)
    spec = load_spec(path)
    a.models, a.ensemble_size, a.epochs = spec.n_models, spec.ensemble_size, spec.train.epochs
    return Path(path).read_text()


def measure(a) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("MUAUDIT_WORKERS", None)
    res = {w: [] for w in a.ways}
    with tempfile.TemporaryDirectory() as d:
        recipe = Path(d) / "bench-executor.toml"
        recipe.write_text(recipe_text(a))
        for r in range(a.rounds):
            for way in a.ways:
                out = subprocess.run([sys.executable, __file__, "--child", way, str(recipe), f"{d}/{way}-{r}"],
                                     check=True, env=env, capture_output=True, text=True).stdout
                res[way].append(json.loads(out.strip().splitlines()[-1]))
                print(way, r, res[way][-1], f"load {load()[0]:.1f}", file=sys.stderr)
    return {w: {**{k: statistics.median(x[k] for x in v) for k in v[0]},
                "min": min(x["build"] for x in v), "max": max(x["build"] for x in v)} for w, v in res.items()}


def block(res: dict, a, load0, load1) -> str:
    tasks = a.models // a.ensemble_size
    sg = a.models * a.epochs * 1797 // 2  # sample-gradients: every model trains on half of the 1797 examples
    base = res["local-1"]["build"] if "local-1" in res else None
    rows = "\n".join(f"| {w} | {r['start']:.1f} | {r['build']:.1f} ({r['min']:.1f}-{r['max']:.1f}) | {sg / r['build']:,.0f} | "
                     f"{'' if base is None else format(base / r['build'], '.2f') + 'x'} | {r['stop']:.1f} |"
                     for w, r in res.items())
    quiet = max(load0[0], load1[0]) < 2
    run = (f"--recipe {a.recipe}" if a.recipe else
           f"--models {a.models} --ensemble-size {a.ensemble_size} --epochs {a.epochs}")
    return f"""Run with `python benchmarks/bench_executor.py {run} --rounds {a.rounds}`:
a digits MLP pool ({f"the packaged `{a.recipe}` recipe: " if a.recipe else ""}[512] hidden, Adam, {a.epochs} epochs), {a.models} shadows in {tasks} tasks of {a.ensemble_size}
(ensemble engine), each way in a fresh process with one torch thread per worker; medians of {a.rounds}
interleaved rounds (range in brackets). Load average {load0[0]:.1f} at the start and {load1[0]:.1f} at the end on
this 2-core machine ({"quiet: nothing else ran" if quiet else "which other work shared: absolute rates are low, and every worker competes with that work"}).

| way | start s | build s | sample-gradients/s | throughput vs local-1 | stop s |
|---|---:|---:|---:|---:|---:|
{rows}

`local-1` is `--workers 1` (the default before worker processes: one training thread in this
process, prediction in a second thread); `local` is today's default, one worker process per
core, whose build time includes starting them (a forkserver that imports torch once; about a
second on a quiet machine); `ray-2` is `--executor ray` on a local Ray instance of 2 CPUs,
started and stopped outside the build time (`start`, `stop`)."""


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], Path(argv[2]), Path(argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=int, default=32)
    p.add_argument("--ensemble-size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--recipe", help="a packaged recipe as shipped (e.g. digits-mlp) instead of --models/--epochs")
    p.add_argument("--ways", type=lambda t: tuple(t.split(",")), default=WAYS)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    load0 = load()
    res = measure(a)
    md = block(res, a, load0, load())
    print(md)
    if not a.no_write:
        replace_block(a.out, "bench-executor", "## Pool build through the executors (local, Ray)", md)


if __name__ == "__main__":
    main()
