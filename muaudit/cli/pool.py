"""``muaudit pool build|info|verify|evaluate|merge`` and ``muaudit train``."""

from __future__ import annotations

import click

from muaudit.attacks.presets import EVALUATE_PRESETS
from muaudit.cli.common import COUNT, DEVICE, MODELS, SEED, echo_json, progress_bar, verdict_options
from muaudit.cli.options import executor_options, open_executor, threads_option


@click.group()
def pool():
    """Build, inspect and merge shadow-model pools."""


@pool.command("build")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Pool directory (default: beside the recipe, NAME/; ./shadow_models/NAME/ for a packaged recipe).")
@click.option("--models", "n_models", type=MODELS, help="Override the recipe's number of shadow models.")
@click.option("--forget", type=click.Path(), help="Forget-aware pool: this forget set is IN for half the models.")
@click.option("--shard", help="Build only models m with m % n == k, as k/n, into its own file.")
@click.option("--arch", help="Trust the recipe's model factory pkg.mod:fn (repeat its [model] arch).")
@click.option("--device", type=DEVICE, help="torch device (default: cuda if available, else cpu).")
@threads_option
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the finished pool's summary as JSON.")
def pool_build(recipe, out, n_models, forget, shard, arch, device, threads, executor, workers, address, cpus_per_model,
               gpus_per_model, as_json):
    """Train (or resume) the shadow-model pool of RECIPE and store its logits in HDF5.

    RECIPE is a recipe TOML file or the name of a packaged recipe (digits-mlp, digits-cnn,
    digits-mlp-ulira)."""
    from muaudit.jobs.pool import PoolBuild, format_summary

    job = PoolBuild.prepare(recipe, out=out, n_models=n_models, forget=forget, shard=shard, arch=arch)
    with open_executor(executor, address, cpus_per_model, gpus_per_model, threads, workers) as ex:
        summary = job.run(device=device, executor=ex, progress=progress_bar(f"training {job.spec.name}"))
    echo_json(summary) if as_json else click.echo(format_summary(summary))


@pool.command("info")
@click.argument("pool_dir", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def pool_info(pool_dir, as_json):
    """Show a pool's progress, keep balance, shadow accuracy and recipe."""
    from muaudit.jobs.pool import format_summary, summarize_pool

    summary = summarize_pool(pool_dir)
    echo_json(summary) if as_json else click.echo(format_summary(summary))


@pool.command("verify")
@click.argument("pool_dir", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pool_verify(pool_dir, as_json):
    """Check every committed row of every group against its sha256, and the keep matrix, seeds and
    forget matrices against the stored seeds; print a one-line summary with the pool's digest."""
    from muaudit.jobs.pool import format_verify, verify_pool

    result = verify_pool(pool_dir)
    echo_json(result) if as_json else click.echo(format_verify(result))


@pool.command("evaluate")
@click.argument("pool_dir", type=click.Path())
@click.option("--attack", type=click.Choice(EVALUATE_PRESETS), default="online", show_default=True)
@click.option("--targets", "n_targets", type=COUNT, help="Shadows used as targets (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def pool_evaluate(pool_dir, attack, n_targets, as_json):
    """Leave-one-out strength of an attack on the pool: each shadow in turn is the target."""
    from muaudit.jobs.evaluate import evaluate_pool
    from muaudit.report import summary_text

    res = evaluate_pool(pool_dir, attack=attack, n_targets=n_targets)
    echo_json(res) if as_json else click.echo(summary_text(res))


@pool.command("plan")
@click.argument("pool_dir", type=click.Path())
@click.option("--forget-size", required=True, type=COUNT, help="Examples in the forget set you will audit.")
@verdict_options
@click.option("--targets", "n_targets", type=COUNT, default=4, show_default=True,
              help="Held-out shadows the residual is simulated on (median).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def pool_plan(pool_dir, forget_size, alpha, max_residual, n_targets, as_json):
    """How many shadows does a pass need? The residual reachable at --forget-size, and the shadows for --max-residual."""
    from muaudit.jobs.plan import format_plan, plan_pool

    plan = plan_pool(pool_dir, forget_size=forget_size, max_residual=max_residual, alpha=alpha, n_targets=n_targets)
    echo_json(plan) if as_json else click.echo(format_plan(plan))


@pool.command("merge")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("shards", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the merged pool's summary as JSON.")
def pool_merge(out, shards, as_json):
    """Join SHARDS (built with --shard k/n) into OUT/pool.h5."""
    from muaudit.jobs.pool import format_summary, merge_shards

    summary = merge_shards(out, shards)
    echo_json(summary) if as_json else click.echo(format_summary(summary))


@click.command("train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.pt).")
@click.option("--exclude", type=click.Path(), help="Training-split positions (.npy) to leave out (a retrained target).")
@click.option("--arch", help="Trust the recipe's model factory pkg.mod:fn (repeat its [model] arch).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--device", type=DEVICE, help="torch device (default: cuda if available, else cpu).")
@threads_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def train(recipe, out, exclude, arch, seed, device, threads, as_json):
    """Train one model of RECIPE (a TOML file or a packaged recipe's name) on the training split
    (minus --exclude) and save a checkpoint."""
    from muaudit.jobs.train import run_train

    r = run_train(recipe, out, exclude=exclude, random_state=seed, device=device, arch=arch, threads=threads,
                  progress=progress_bar("training (epochs)"))
    if as_json:
        return echo_json(r)
    click.echo(f"saved {r['out']}: trained on {r['n_train']} examples in {r['seconds']:.1f} s; "
               f"train acc {r['train_accuracy']:.3f}, test acc {r['test_accuracy']:.3f}")
    if "sisa" in r:
        s = r["sisa"]
        click.echo(f"SISA: {s['shards']} shards x {s['slices']} slices, {s['aggregation']} aggregation; "
                   "every shard's stage checkpoints kept in the file (for `muaudit unlearn --method sisa`)")


COMMANDS = [pool, train]
