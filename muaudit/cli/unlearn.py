"""``muaudit methods`` and ``muaudit unlearn``."""

from __future__ import annotations

import click

from muaudit.cli.common import DEVICE, SEED, echo_json, parse_set, progress_bar
from muaudit.cli.target_options import input_options
from muaudit.cli.options import threads_option


@click.command("methods")
@click.option("--json", "as_json", is_flag=True, help="Print names, descriptions, sources and defaults as JSON.")
def methods(as_json):
    """List the registered unlearning methods: name, one-line description, source."""
    from muaudit.unlearning import get_method, method_names

    rows = [get_method(n) for n in method_names()]
    if as_json:
        echo_json([{"name": m.name, "description": m.description, "source": m.source,
                    "touches": list(m.touches), "defaults": m.Config().to_dict()} for m in rows])
        return
    width = max(len(m.name) for m in rows)
    for m in rows:
        click.echo(f"{m.name:<{width}}  {m.description}")
        click.echo(f"{'':<{width}}  source: {m.source}")


@click.command("unlearn")
@click.option("--method", required=True, help="Method name (see `muaudit methods`), or sisa for a SISA model.")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False), help="muaudit checkpoint to unlearn from.")
@click.option("--forget", "forget_path", required=True, type=click.Path(dir_okay=False), help=".npy of training-split positions to forget.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Where to write the unlearned checkpoint.")
@click.option("--arch", help="Trust the model factory pkg.mod:fn the checkpoint's meta names (repeat it).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="Override a config value (repeatable).")
@click.option("--budget", type=float, help="At most this fraction of the original training's sample-gradients.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the method's randomness.")
@click.option("--device", type=DEVICE, help="torch device (default: cuda if available, else cpu).")
@threads_option
@input_options
@click.option("--json", "as_json", is_flag=True, help="Print method, config, cost and accuracies as JSON.")
def unlearn(method, model_path, forget_path, out_path, pairs, budget, seed, device, threads, arch, input_layout,
            input_mean, input_std, as_json):
    """Unlearn the FORGET examples from MODEL with METHOD; write OUT and print accuracies."""
    from muaudit.jobs.unlearn import unlearn_checkpoint
    from muaudit.training.threads import using_threads

    bar = progress_bar(f"unlearning with {method} (sample-gradients)")
    try:
        with using_threads(threads):
            res = unlearn_checkpoint(method, model_path, forget_path, out_path, overrides=parse_set(pairs),
                                     budget=budget, random_state=seed, device=device, arch=arch, input_layout=input_layout,
                                     input_mean=input_mean, input_std=input_std, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        return echo_json(res)
    cost, ref = res["cost"], res["reference_sample_gradients"]
    share = f", {cost['sample_gradients'] / ref:.1%} of the original training" if ref else ""
    cut = " (stopped at the budget)" if cost["truncated"] else ""
    click.echo(f"{res['method']}: {cost['seconds']:.2f} s, {cost['sample_gradients']:,} sample-gradients{share}{cut}")
    if "sisa" in res:  # which shards and slices were retrained (muaudit.sisa)
        from muaudit.jobs.sisa import describe

        click.echo(describe(res["sisa"]))
    for label in ("before", "after"):
        acc = res[label]
        click.echo(f"{label:<6}  retain {acc['retain']:.4f}  forget {acc['forget']:.4f}  test {acc['test']:.4f}")
    click.echo(f"wrote {res['out']}")


COMMANDS = [methods, unlearn]
