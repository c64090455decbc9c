"""``muaudit benchmark``."""

from __future__ import annotations

import click

from muaudit.checks import MAX_TRIALS, check_count
from muaudit.cli.common import Checked
from muaudit.cli.options import executor_options, open_executor

TRIALS = Checked(click.INT, lambda name, v: check_count("--trials", v, MAX_TRIALS), "integer in [1, 100000]")


@click.command("benchmark")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: results/benchmark-DATE/).")
@click.option("--trials", type=TRIALS, help="Search budget per (method, forget setting), at most 100000; overrides the spec's.")
@click.option("--resume", is_flag=True, help="Continue the benchmark in --out (finished trials are kept).")
@executor_options
def benchmark(spec, out, trials, resume, executor, workers, address, cpus_per_model, gpus_per_model):
    """Run the benchmark SPEC (a TOML file, or a packaged spec: digits-small, digits-deepunlearn, ...):
    methods x seeds x forget settings, searched and measured."""
    from muaudit.jobs.benchmark import run_benchmark

    with open_executor(executor, address, cpus_per_model, gpus_per_model, None, workers) as ex:
        res = run_benchmark(spec, out, executor=ex, trials=trials, resume=resume)
    click.echo(res["benchmark"]["markdown"])
    click.echo(f"results: {res['out']}")


COMMANDS = [benchmark]
