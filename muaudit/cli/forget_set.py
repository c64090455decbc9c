"""``muaudit forget-set``."""

from __future__ import annotations

import click

from muaudit.cli.common import ALPHA, COUNT, SEED, echo_json


@click.command("forget-set")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--recipe", default="digits-mlp", show_default=True,
              help="Recipe (file or packaged name) whose dataset's training split the positions index.")
@click.option("--fraction", type=ALPHA, help="A random fraction of the training split (e.g. 0.1).")
@click.option("--count", type=COUNT, help="A random number of training examples.")
@click.option("--class", "classes", type=int, multiple=True, help="Every training example of this class (repeatable).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Positions from a CSV file (first column, or --column; a header row is allowed).")
@click.option("--column", help="The CSV column that holds the positions.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the random choice.")
@click.option("--arch", help="Trust the recipe's model factory pkg.mod:fn (repeat it).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def forget_set(out, recipe, fraction, count, classes, csv_path, column, seed, arch, as_json):
    """Write OUT (.npy): the training-split positions of a forget set, chosen one way."""
    from muaudit.jobs.forget_set import describe, run_forget_set

    res = run_forget_set(out, recipe=recipe, fraction=fraction, count=count, classes=list(classes) or None,
                         csv=csv_path, column=column, random_state=seed, arch=arch)
    if as_json:
        return echo_json(res)
    click.echo(describe(res))


COMMANDS = [forget_set]
