"""``muaudit ulira``: evaluate an unlearning method with U-LiRA on a pool's unlearned shadows."""

from __future__ import annotations

import click

from muaudit.cli.common import COUNT, echo_json, progress_bar, verdict_options

REFERENCES = ("retrain", "out", "same-method")
STATISTICS = ("phi", "correct")


@click.command("ulira")
@click.option("--pool", type=click.Path(), help="Pool directory with [[unlearn]] groups (default: $MUAUDIT_POOL).")
@click.option("--method", required=True, help="The pool's [[unlearn]] entry: its name, or its method if unique.")
@click.option("--reference", type=click.Choice(REFERENCES), default="retrain", show_default=True,
              help="What a correct unlearning looks like: exact retrains, base shadows without x, or the method's own.")
@click.option("--statistic", type=click.Choice(STATISTICS), default="phi", show_default=True,
              help="phi (logit-scaled confidence) or 0/1 correctness (Deep Unlearn).")
@click.option("--variance", type=click.Choice(["auto", "fixed", "per-example"]), default="auto", show_default=True)
@verdict_options
@click.option("--targets", "n_targets", type=COUNT, help="Shadows used as held-out targets (default: all).")
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
def ulira(pool, method, reference, statistic, variance, alpha, max_residual, n_targets, out, as_json):
    """Can U-LiRA tell METHOD's unlearned shadows from the reference? Leave-one-out over shadows."""
    from muaudit.jobs.ulira import run_ulira
    from muaudit.report import summary_text

    results, out_dir = run_ulira(pool=pool, method=method, reference=reference, statistic=statistic,
                                 variance=variance, n_targets=n_targets, out=out, alpha=alpha,
                                 max_residual=max_residual,
                                 progress=progress_bar("U-LiRA: held-out targets"))
    if as_json:
        echo_json(results)
        return
    click.echo(summary_text(results))
    click.echo(f"Results written to {out_dir}/")


COMMANDS = [ulira]
