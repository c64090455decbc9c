"""U-LiRA on digits: every listed method's unlearned shadows against exact retrains, and the build cost.

Usage:
    python benchmarks/ulira_table.py [--recipe shadow_models/digits-mlp.toml] [--models 32] [--seed 0]
        [--forget-fraction 0.1] [--forget-seed 0] [--methods ft,ga,ng+,srl,msg,ct,scrub,salun]
        [--pool-dir results/ulira-bench-pool] [--threads 1] [--population-models 8] [--no-write]

Design (Hayes et al.'s game on a forget-aware pool): a fixed forget set F (``forget-fraction`` of
the training split, ``default_rng(forget-seed)``) is IN for one random half of the M shadows and
OUT for the other. Every shadow that trained on F is unlearned by every method (``forget =
"pool"``, the method's source defaults) and retrained exactly without F (shared by all methods).
``original`` (no unlearning) and ``retrain`` (the method that retrains from scratch) are the two
anchors. ``muaudit ulira`` then holds out each unlearned shadow in turn: positives are (its
unlearned model, x in F), negatives (its exact retrain, x), U-LiRA fitted on the other shadows.

Build cost is measured in two stages of one run: (1) the base shadows (weights saved), (2) adding
the ``[[unlearn]]`` entries to the built pool (base weights reloaded, not retrained): models per
minute from the wall time of each stage and from the per-model seconds stored in the pool.
Writes the table between the ``ulira-table`` markers of docs/ulira.md and the cost block between
the ``ulira-cost`` markers of docs/benchmarks.md (appended under its own heading if missing).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from muaudit.attacks.signals import correctness
from muaudit.jobs.ulira import run_ulira
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.entries import UnlearnEntry

sys.path.insert(0, str(Path(__file__).parent))
from _doc import replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["ft", "ga", "ng+", "srl", "msg", "ct", "scrub", "salun"]


def entries(methods: list[str]) -> tuple[UnlearnEntry, ...]:
    rows = [UnlearnEntry(method="retrain", forget="pool", retrain=True), UnlearnEntry(method="original", forget="pool")]
    return tuple(rows + [UnlearnEntry(method=m, forget="pool") for m in methods])


def warm_up(spec, methods: list[str]) -> None:
    """Run every method once on a tiny model, untimed, so first-call costs (lazy imports, kernel
    selection) do not land on whichever method runs first."""
    from muaudit.unlearning import UnlearnData, run_unlearning

    ds = spec.load_dataset()
    model = spec.make_model(0, ds.input_shape, ds.n_classes)
    f, r = UnlearnData(ds.X[:16], ds.y[:16]), UnlearnData(ds.X[16:64], ds.y[16:64], val=UnlearnData(ds.X[64:96], ds.y[64:96]))
    for m in methods + ["retrain"]:
        run_unlearning(m, model, f, r, config={"epochs": 1} if m == "retrain" else None)


def build(spec, pool_dir: Path, forget: np.ndarray) -> dict:
    """Build the base pool, then add the entries; wall seconds of each stage."""
    if pool_dir.exists():
        raise SystemExit(f"{pool_dir} exists; the build cost is measured on a fresh pool: remove it or pass another --pool-dir")
    spec = dataclasses.replace(spec, save_weights=True)  # stage 1 keeps the weights stage 2 reloads
    base = dataclasses.replace(spec, unlearn=())
    t0 = time.perf_counter()
    build_pool(base, pool_dir, forget=forget)
    t1 = time.perf_counter()
    build_pool(spec, pool_dir, forget=forget)
    return {"base_wall": t1 - t0, "unlearn_wall": time.perf_counter() - t1}


def cost_block(pool: Pool, walls: dict, spec, machine: str) -> str:
    """Models per minute: stage walls, and per group from the pool's stored per-model seconds."""
    has = pool.keep[:, pool.forget].any(1)  # the shadows that trained on F (the others have nothing to forget)
    n_unl = int(has.sum())
    total_unl = sum(float(g.seconds[has].sum()) for g in pool.unlearned.values())
    lines = [f"Recipe `{spec.name}` ({spec.model['arch']} {spec.arch_kwargs}, {spec.train.optimizer} lr {spec.train.lr}, "
             f"{spec.train.epochs} epochs, {spec.engine} engine: {pool.attrs.get('engine')}), {pool.n_models} shadows, "
             f"{len(pool.unlearned)} `[[unlearn]]` entries on the {n_unl} shadows that trained on F. {machine}.", "",
             "| stage | models | seconds | models / min | s per model (stored) |", "|---|---|---|---|---|",
             f"| base shadows | {pool.n_models} | {walls['base_wall']:.1f} | {60 * pool.n_models / walls['base_wall']:.1f} "
             f"| {pool.seconds.mean():.2f} |"]
    n_stage2 = n_unl * (len(pool.unlearned) + len(pool.retrained))
    lines.append(f"| unlearned + retrain (added to the built pool) | {n_stage2} | {walls['unlearn_wall']:.1f} | "
                 f"{60 * n_stage2 / walls['unlearn_wall']:.1f} | – |")
    for name, g in sorted(pool.retrained.items()):
        s = float(g.seconds[has].mean())
        lines.append(f"| exact retrain (`retrain/{name}`) | {n_unl} | {s * n_unl:.1f} | {60 / s:.1f} | {s:.2f} |")
    for name, g in sorted(pool.unlearned.items()):
        s = max(float(g.seconds[has].mean()), 1e-6)
        lines.append(f"| unlearned `{name}` | {n_unl} | {s * n_unl:.1f} | {60 / s:,.0f} | {s:.3f} |")
    lines.append(f"\nStage rows: wall time of the stage. Group rows: the per-model seconds stored in the pool, summed "
                 f"(models / min = 60 / their mean). All unlearned models together: {total_unl:.1f} s of method time for "
                 f"{n_unl * len(pool.unlearned)} models; the rest of stage 2 is loading base weights, predicting logits "
                 "and atomic commits.")
    return "\n".join(lines)


def accuracies(pool: Pool, name: str) -> tuple[float, float]:
    """Mean forget and test accuracy of the unlearned models of the shadows that trained on F."""
    g = pool.unlearned[name]
    has = g.forget.any(1)
    correct = correctness(pool.logits(np.flatnonzero(has), group=g.path), pool.labels[None])[..., 0]
    test = (pool.split == 1)[None] & ~pool.keep[has]
    return float(correct[g.forget[has]].mean()), float(correct[test].mean())


def fmt_ci(v, ci) -> str:
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def table(pool: Pool, results: dict[str, dict]) -> str:
    lines = ["| method | U-LiRA AUC | U-LiRA accuracy | TPR@1%FPR | verdict | pop. MIA indisc. | pop. LOSS AUC "
             "| forget acc | test acc |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        tpr = r["tpr_at_fpr"]["0.01"]
        pm = r["population_mia"]["unlearned"]
        fa, ta = accuracies(pool, name)
        lines.append(f"| `{name}` | {fmt_ci(r['auc'], r['auc_ci'])} | {fmt_ci(r['ulira_accuracy']['accuracy'], r['ulira_accuracy']['ci'])} "
                     f"| {fmt_ci(tpr['tpr'], tpr['ci']) if tpr['measurable'] else 'n/a'} | {r['verdict']} "
                     f"| {pm['indiscernibility']:.3f} ± {pm['indiscernibility_std']:.3f} | {pm['loss_auc']:.3f} | {fa:.3f} | {ta:.3f} |")
    return "\n".join(lines)


def machine_line(threads: int, wall: float) -> str:
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    except OSError:
        load = ""
    return (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs (shared), torch "
            f"{torch.__version__} with {threads} thread(s){load}; whole run {wall / 60:.1f} min")


def intro_text(spec, args, pool: Pool, n_forget: int, machine: str) -> str:
    return (f"Recipe `{spec.name}` ({spec.model['arch']} {spec.arch_kwargs}, {spec.train.optimizer} lr {spec.train.lr}, "
            f"{spec.train.epochs} epochs), pool of {args.models} shadows (pool seed {args.seed}), forget-aware: F = "
            f"{n_forget} training examples ({args.forget_fraction:.0%} of the training split, forget seed "
            f"{args.forget_seed}) IN for {int(pool.keep[:, pool.forget].any(1).sum())} shadows. Every method at its "
            f"source's default config; reference `retrain` (exact retrains without F), statistic phi, "
            f"leave-one-out over the shadows that trained on F. Population MIA: Deep Unlearn's logistic regression "
            f"(indiscernibility, mean ± std) and LOSS AUC, forget vs test, on {args.population_models} of the "
            f"unlearned models. {machine}.")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(ROOT / "shadow_models" / "digits-mlp.toml"))
    ap.add_argument("--models", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--forget-fraction", type=float, default=0.1)
    ap.add_argument("--forget-seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, or 'all' registered methods")
    ap.add_argument("--pool-dir", default=str(ROOT / "results" / "ulira-bench-pool"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--population-models", type=int, default=8)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    from muaudit.unlearning import method_names

    methods = args.methods.split(",") if args.methods != "all" else [
        m for m in METHODS + sorted(set(method_names()) - set(METHODS)) if m not in ("retrain", "original")]
    spec = load_spec(args.recipe)
    spec = dataclasses.replace(spec, n_models=args.models, seed=args.seed, unlearn=entries(methods))
    warm_up(spec, methods)
    n_train = len(spec.load_dataset().train_idx)
    forget = np.sort(np.random.default_rng(args.forget_seed).choice(n_train, round(args.forget_fraction * n_train), replace=False))
    pool_dir = Path(args.pool_dir)
    walls = build(spec, pool_dir, forget)
    print(f"built in {walls['base_wall']:.0f} + {walls['unlearn_wall']:.0f} s", file=sys.stderr, flush=True)
    pool = Pool(pool_dir)
    results = {}
    for e in spec.unlearn:
        results[e.name], _ = run_ulira(pool=pool_dir, method=e.name, out=pool_dir.parent / f"ulira-bench-{e.name}",
                                       population_models=args.population_models)
        print(f"  {e.name:<8} AUC {results[e.name]['auc']:.3f} {results[e.name]['verdict']}", file=sys.stderr, flush=True)
    machine = machine_line(args.threads, time.perf_counter() - t0)
    intro = intro_text(spec, args, pool, len(forget), machine)
    body = intro + "\n\n" + table(pool, results)
    cost = cost_block(pool, walls, spec, machine)
    print(body + "\n\n" + cost)
    if not args.no_write:
        replace_block(ROOT / "docs" / "ulira.md", "ulira-table", "## Table: methods on digits", body)
        replace_block(ROOT / "docs" / "benchmarks.md", "ulira-cost",
                      "## U-LiRA pool build cost (base + unlearned + retrain models per minute)", cost)


if __name__ == "__main__":
    main()
