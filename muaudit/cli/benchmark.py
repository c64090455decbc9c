"""``muaudit benchmark``."""

from __future__ import annotations

import click

from muaudit.benchmark.spec import MAX_TRIALS
from muaudit.checks import check_count
from muaudit.cli.common import THREADS, Checked

TRIALS = Checked(click.INT, lambda name, v: check_count("--trials", v, MAX_TRIALS), "integer in [1, 100000]")


@click.command("benchmark")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: results/benchmark-DATE/).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the (method, seed, trial) tasks run.")
@click.option("--workers", type=THREADS, default=1, show_default=True, help="Local worker processes, at most 4 x the CPU cores.")
@click.option("--trials", type=TRIALS, help="Search budget per (method, forget setting), at most 100000; overrides the spec's.")
@click.option("--resume", is_flag=True, help="Continue the benchmark in --out (finished trials are kept).")
def benchmark(spec, out, executor, workers, trials, resume):
    """Run the benchmark SPEC (a TOML file, or a packaged spec: digits-small, digits-deepunlearn, ...):
    methods x seeds x forget settings, searched and measured."""
    from muaudit.jobs.benchmark import run_benchmark

    res = run_benchmark(spec, out, executor=executor, trials=trials, resume=resume, workers=workers)
    click.echo(res["benchmark"]["markdown"])
    click.echo(f"results: {res['out']}")


COMMANDS = [benchmark]
