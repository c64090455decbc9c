"""``muaudit lira`` and ``muaudit report``."""

from __future__ import annotations

import click

from muaudit.attacks.presets import AUDIT_PRESETS
from muaudit.cli.common import echo_json


@click.command("lira")
@click.option("--target", required=True, type=click.Path(), help="Checkpoint, raw state_dict, TorchScript or logits .npy.")
@click.option("--forget", required=True, type=click.Path(), help="Training-split positions claimed unlearned (.npy).")
@click.option("--pool", type=click.Path(), help="Shadow pool directory (default: $MUAUDIT_POOL).")
@click.option("--arch", help="Architecture of a raw state_dict (default: the pool's).")
@click.option("--nonmembers", type=click.Path(), help="Known non-members (.npy, training-split positions); default: the test split.")
@click.option("--train-idx", type=click.Path(), help="The target's training positions (.npy), for the power control.")
@click.option("--attack", type=click.Choice(AUDIT_PRESETS), default="online", show_default=True,
              help="online/offline LiRA or rmia on the pool's shadows; qmia: quantile regression on half of the non-members, no shadows (the pool gives only the dataset).")
@click.option("--method", help="The unlearning method the target used: U-LiRA with the pool's unlearned shadows of it.")
@click.option("--alpha", type=float, default=0.01, show_default=True, help="Significance level of the verdict.")
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
def lira(target, forget, pool, arch, nonmembers, train_idx, attack, method, alpha, out, as_json):
    """Audit whether TARGET still treats the FORGET examples as training members."""
    from muaudit.jobs import run_lira
    from muaudit.report import summary_text

    results, out_dir = run_lira(target=target, forget=forget, pool=pool, arch=arch, nonmembers=nonmembers,
                                train_idx=train_idx, attack=attack, alpha=alpha, out=out, method=method)
    if as_json:
        echo_json(results)
    else:
        click.echo(summary_text(results))
        click.echo(f"Results written to {out_dir}/")


@click.command("mia")
@click.option("--target", required=True, type=click.Path(), help="Checkpoint, raw state_dict, TorchScript or logits .npy.")
@click.option("--forget", required=True, type=click.Path(), help="Training-split positions claimed unlearned (.npy).")
@click.option("--pool", type=click.Path(), help="Pool whose dataset to use (default: $MUAUDIT_POOL, else the checkpoint's meta).")
@click.option("--arch", help="Architecture of a raw state_dict (default: the pool's).")
@click.option("--nonmembers", type=click.Path(), help="Known non-members (.npy, training-split positions); default: the test split.")
@click.option("--train-idx", type=click.Path(), help="The target's training positions (.npy), for the power control.")
@click.option("--alpha", type=float, default=0.01, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
def mia(target, forget, pool, arch, nonmembers, train_idx, alpha, out, as_json):
    """Population MIAs (LOSS, Deep Unlearn's logistic regression, SalUn's SVC) on the FORGET set."""
    from muaudit.jobs.mia import run_mia
    from muaudit.report import summary_text

    results, out_dir = run_mia(target=target, forget=forget, pool=pool, arch=arch, nonmembers=nonmembers,
                               train_idx=train_idx, alpha=alpha, out=out)
    if as_json:
        echo_json(results)
        return
    p = results["population_mia"]
    click.echo(summary_text(results))
    click.echo(f"Deep Unlearn MIA: accuracy {p['logistic_regression_accuracy']:.3f}, indiscernibility "
               f"{p['indiscernibility']:.3f}" + (f"; SalUn SVC-MIA efficacy {p['svc_mia_efficacy']:.3f}" if "svc_mia_efficacy" in p else ""))
    click.echo(f"Results written to {out_dir}/")


@click.command("report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--html", "as_html", is_flag=True, help="Render one self-contained HTML page.")
@click.option("--out", type=click.Path(dir_okay=False), help="HTML file (default: FIRST_FOLDER/report.html).")
def report(folders, as_html, out):
    """Summarise one or more results folders; --html renders them into one page."""
    from muaudit.report import read_results, render_html, summary_text

    for folder in folders:
        r, _ = read_results(folder)
        click.echo(f"{folder}: {summary_text(r)}")
    if as_html:
        click.echo(f"HTML report: {render_html(list(folders), out)}")


COMMANDS = [lira, mia, report]


@click.command("demo")
@click.option("--pool", type=click.Path(file_okay=False), help="Pool directory (default: shadow_models/digits-mlp/).")
@click.option("--out", type=click.Path(file_okay=False), default="results/demo", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(pool, out, seed):
    """End-to-end audit on built-in digits: pool, original / retrained / FT-unlearned targets, LiRA
    (and U-LiRA when the pool has unlearned shadows), HTML report."""
    from muaudit.jobs.demo import run_demo
    from muaudit.cli.pool import _progress_bar
    from muaudit.report import summary_text

    results = run_demo(pool=pool, out=out, seed=seed, progress=_progress_bar("training shadow pool"), log=click.echo)
    for name in ("original", "retrained", "ft-unlearned", "ulira"):
        if name in results:
            click.echo(f"\n[{name}] {summary_text(results[name])}")
    click.echo(f"\nHTML report: {results['report']}")


COMMANDS.append(demo)
