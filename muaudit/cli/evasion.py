"""``muaudit evasion`` and ``muaudit providers``."""

from __future__ import annotations

import click

from muaudit.cli.audit import SECRET_VIEWS
from muaudit.cli.common import SEED, echo_json, progress_bar, verdict_options


@click.command("providers")
def providers():
    """List the registered providers (cheats and honest references) of `muaudit evasion`."""
    from muaudit.jobs.evasion import provider_rows

    for row in provider_rows():
        click.echo(f"{row['name']:<15} {'honest' if row['honest'] else 'cheat '}  {row['summary']}")


@click.command("evasion")
@click.option("--pool", type=click.Path(), help="Shadow pool directory (default: $MUAUDIT_POOL).")
@click.option("--forget", required=True, type=click.Path(), help="Training-split positions to unlearn (.npy).")
@click.option("--providers", "names", default="all", show_default=True,
              help="Comma-separated provider names (see `muaudit providers`), or all.")
@click.option("--secret-views", type=SECRET_VIEWS, default=0, show_default=True,
              help="Also audit every model under N secret views (needs a pool built with save_weights = true).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the original, the retrain and the providers.")
@verdict_options
@click.option("--out", type=click.Path(file_okay=False), help="Write results.json and evasion.csv there.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
def evasion(pool, forget, names, secret_views, seed, alpha, max_residual, out, as_json):
    """Audit every provider (dishonest and honest) on FORGET and print the table."""
    from muaudit.jobs.evasion import format_table, run_evasion

    bar = progress_bar("providers audited")
    try:
        results, folder = run_evasion(forget=forget, pool=pool, providers=names, secret_views=secret_views, random_state=seed,
                                      alpha=alpha, max_residual=max_residual, out=out, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        return echo_json(results)
    click.echo(format_table(results))
    if folder is not None:
        click.echo(f"Results written to {folder}/")


COMMANDS = [evasion, providers]
