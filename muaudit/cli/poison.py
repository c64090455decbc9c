"""``muaudit poison``: poisoning-based unlearning efficacy (Pawelczyk et al., ICLR 2025)."""

from __future__ import annotations

import click

from muaudit.cli.common import ALPHA, DEVICE, RESIDUAL, SEEDS, THREADS, echo_json, parse_set, progress_bar
from muaudit.cli.options import executor_options, open_executor


def _efficacy_line(r: dict) -> str:
    """What the summary does not say (the pooled efficacy is in it, once): the spread over seeds,
    the attack metric per model, the power, the loss-MIA; numbers as the report formats them."""
    from muaudit.report.labels import num, pct

    eff, pw = r["efficacy"], r["power"]
    spread = "" if eff["std"] is None else f"Efficacy over seeds: {num(eff['mean'])} ± {num(eff['std'])}. "
    gap = pw["original_vs_retrained"]
    null = pw["original_vs_null"]
    power = f"original vs retrained p = {num(gap['p_value'])}" + (f", original z = {num(null['z'])} against N(0,1)" if null else "")
    order = ["original", r["method"], "retrained"]
    metric = ", ".join(f"{m} {num(r['models'][m]['metric'])}" for m in order)
    mia = ", ".join(f"{m} {pct(r['mia'][m]['tpr'])}" for m in order)
    return (f"{spread}Attack metric ({r['metric']}): {metric}. Power: {power}. "
            f"Loss-MIA TPR at 1% FPR on the same forget set: {mia}.")


@click.command("poison")
@click.argument("attack")
@click.option("--recipe", required=True, type=click.Path(dir_okay=False),
              help="Recipe TOML (dataset, model, training), or a packaged recipe's name (digits-mlp).")
@click.option("--arch", help="Trust the recipe's model factory pkg.mod:fn (repeat its [model] arch).")
@click.option("--method", required=True, help="Unlearning method (see `muaudit methods`).")
@click.option("--budget", type=float, help="At most this fraction of the original training's sample-gradients (e.g. 0.1).")
@click.option("--seeds", type=SEEDS, default=3, show_default=True, help="Independent poison + training seeds (pooled), at most 1000.")
@click.option("--out", type=click.Path(file_okay=False), help="Results folder (default: a new one under results/).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="Override a method config value (repeatable).")
@click.option("--fraction", type=ALPHA, help="Share of the training split to poison (default: per attack and dataset).")
@click.option("--eps", type=float, help="Noise std (gaussian eps_p) or perturbation bound (gradient-matching, gradient-canceling).")
@click.option("--attack-set", "attack_pairs", multiple=True, metavar="KEY=VALUE", help="Override an attack option (repeatable).")
@click.option("--alpha", type=ALPHA, default=0.05, show_default=True, help="Significance level of power and verdict.")
@click.option("--max-residual", type=RESIDUAL, default=0.5, show_default=True,
              help="A pass needs a detectable residual (fraction of the original's poison effect kept) at most this; see docs/power.md.")
@click.option("--threads", type=THREADS, help="torch threads, at most 4 x the CPU cores (1 is fastest for tiny models on a shared machine).")
@click.option("--device", type=DEVICE, help="torch device (default: cuda if available, else cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout.")
@executor_options
def poison(attack, recipe, arch, method, budget, seeds, out, pairs, fraction, eps, attack_pairs, alpha, max_residual, threads,
           device,
           as_json, executor, workers, address, cpus_per_model, gpus_per_model):
    """Poison, train, unlearn the poisons with METHOD, retrain, and report efficacy with its power.

    ATTACK is one of gaussian, backdoor, gradient-matching, label-flip, gradient-canceling, interclass.
    """
    from muaudit.jobs.poison import run_poison
    from muaudit.report import summary_text

    with open_executor(executor, address, cpus_per_model, gpus_per_model, threads, workers) as ex:
        results, out_dir = run_poison(attack, recipe, method, budget=budget, seeds=seeds, fraction=fraction, eps=eps,
                                      attack_options=parse_set(attack_pairs), method_options=parse_set(pairs),
                                      alpha=alpha, max_residual=max_residual, out=out, device=device, threads=threads, arch=arch, executor=ex,
                                      progress=progress_bar("poison: models trained (seeds x models)"))
    if as_json:
        echo_json(results)
        return
    click.echo(summary_text(results))
    click.echo(_efficacy_line(results))
    click.echo(f"Results written to {out_dir}/ (report.html)")


COMMANDS = [poison]
