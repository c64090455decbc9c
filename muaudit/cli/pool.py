"""``muaudit pool build|info|merge`` and ``muaudit train``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from muaudit.attacks.presets import EVALUATE_PRESETS
from muaudit.cli.common import echo_json
from muaudit.cli.options import executor_options, open_executor, threads_option


def _progress_bar(label: str):
    state = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=max(total, 1), label=label, show_pos=True, file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    return update


def _load_forget(path, spec):
    if path is None:
        return None
    from muaudit.data import load_index_file

    return load_index_file(path, len(spec.load_dataset().train_idx), what="forget")


@click.group()
def pool():
    """Build, inspect and merge shadow-model pools."""


@pool.command("build")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Pool directory (default: shadow_models/NAME/).")
@click.option("--models", "n_models", type=int, help="Override the recipe's number of shadow models.")
@click.option("--forget", type=click.Path(), help="Forget-aware pool: this forget set is IN for half the models.")
@click.option("--shard", help="Build only models m with m % n == k, as k/n, into its own file.")
@click.option("--device", help="torch device (default: cuda if available, else cpu).")
@threads_option
@executor_options
def pool_build(recipe, out, n_models, forget, shard, device, threads, executor, address, cpus_per_model,
               gpus_per_model):
    """Train (or resume) the shadow-model pool of RECIPE and store its logits in HDF5."""
    from muaudit.pool import build_pool, format_summary, load_spec, parse_shard, pool_summary, Pool

    spec = load_spec(recipe)
    if n_models is not None:
        spec = spec.with_overrides(n_models=n_models)
    out = Path(out) if out else Path(recipe).with_suffix("")
    forget_idx, shard_k = _load_forget(forget, spec), parse_shard(shard)
    with open_executor(executor, address, cpus_per_model, gpus_per_model, threads) as ex:
        path = build_pool(spec, out, forget=forget_idx, shard=shard_k, device=device, executor=ex,
                          progress=_progress_bar(f"training {spec.name}"))
    click.echo(format_summary(pool_summary(Pool(path))))


@pool.command("info")
@click.argument("pool_dir", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def pool_info(pool_dir, as_json):
    """Show a pool's progress, keep balance, shadow accuracy and recipe."""
    from muaudit.pool import Pool, format_summary, pool_summary

    summary = pool_summary(Pool(pool_dir))
    echo_json(summary) if as_json else click.echo(format_summary(summary))


@pool.command("evaluate")
@click.argument("pool_dir", type=click.Path())
@click.option("--attack", type=click.Choice(EVALUATE_PRESETS), default="online", show_default=True)
@click.option("--targets", "n_targets", type=int, help="Shadows used as targets (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def pool_evaluate(pool_dir, attack, n_targets, as_json):
    """Leave-one-out strength of an attack on the pool: each shadow in turn is the target."""
    from muaudit.jobs.evaluate import evaluate_pool
    from muaudit.report import summary_text

    res = evaluate_pool(pool_dir, attack=attack, n_targets=n_targets)
    echo_json(res) if as_json else click.echo(summary_text(res))


@pool.command("merge")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("shards", nargs=-1, required=True, type=click.Path())
def pool_merge(out, shards):
    """Join SHARDS (built with --shard k/n) into OUT/pool.h5."""
    from muaudit.pool import Pool, format_summary, merge_pools, pool_summary

    click.echo(format_summary(pool_summary(Pool(merge_pools(out, list(shards))))))


@click.command("train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.pt).")
@click.option("--exclude", type=click.Path(), help="Training-split positions (.npy) to leave out (a retrained target).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="torch device (default: cuda if available, else cpu).")
@threads_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def train(recipe, out, exclude, seed, device, threads, as_json):
    """Train one model of RECIPE on the training split (minus --exclude) and save a checkpoint."""
    from muaudit.jobs.train import run_train

    r = run_train(recipe, out, exclude=exclude, seed=seed, device=device, threads=threads)
    if as_json:
        return echo_json(r)
    click.echo(f"saved {r['out']}: trained on {r['n_train']} examples in {r['seconds']:.1f} s; "
               f"train acc {r['train_accuracy']:.3f}, test acc {r['test_accuracy']:.3f}")


COMMANDS = [pool, train]
