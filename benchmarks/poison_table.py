"""Poisoning efficacy of the unlearning methods on digits, and the power behind the attack defaults.

Usage:
    python benchmarks/poison_table.py [--recipe shadow_models/digits-mlp.toml] [--seeds 3]
        [--budget 0.1] [--attacks gaussian,backdoor,label-flip] [--methods gd,ngd,...]
        [--threads 1] [--out docs/poisoning.md]
    python benchmarks/poison_table.py --power     # the attack-strength sweep behind the defaults

Efficacy table: per attack, ``muaudit.poisoning.run_protocol`` with every method (each method gets
the same poisoned original per seed; the budget caps each method at that fraction of the original
training's sample-gradients), then ``summarize_method`` per method. Power sweep: per attack setting,
the original's and the retrained model's attack metric (and for Gaussian canaries the pooled z
against N(0, 1)) over seeds. The markdown goes between the marker comments of ``docs/poisoning.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from muaudit.pool.spec import load_spec
from muaudit.poisoning import get_poison, run_protocol, summarize_method
from muaudit.poisoning.report import power_block

sys.path.insert(0, str(Path(__file__).parent))
from _doc import replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["gd", "ngd", "ga", "ng+", "scrub", "ssd", "eu-k", "cf-k", "msg", "ct"]
ATTACKS = ["gaussian", "backdoor", "label-flip"]
SWEEP = {
    "gaussian": [{"fraction": 0.015, "eps_p": 0.3}, {"fraction": 0.05, "eps_p": 0.3}, {"fraction": 0.015, "eps_p": 1.0},
                 {"fraction": 0.05, "eps_p": 1.0}, {"fraction": 0.1, "eps_p": 1.0}],
    "backdoor": [{"fraction": 0.01}, {"fraction": 0.02}, {"fraction": 0.05}],
    "gradient-matching": [{"eps": 16 / 255, "fraction": 0.01, "n_targets": 4, "steps": 250, "restarts": 8},
                          {"eps": 0.25, "fraction": 0.03}, {"eps": 0.5, "fraction": 0.03}],
    "label-flip": [{"fraction": 0.1, "mode": "random"}, {"fraction": 0.2, "mode": "random"},
                   {"fraction": 0.1, "mode": "shift"}, {"fraction": 0.2, "mode": "shift"}],
    "gradient-canceling": [{}, {"fraction": 0.1}, {"clip": False, "lr": 0.5}],
    "interclass": [{"fraction": 0.05}, {"fraction": 0.1}],
}


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def efficacy_cell(eff: dict) -> str:
    ci = "" if not eff["ci"] else f" [{fmt(eff['ci'][0], 2)}, {fmt(eff['ci'][1], 2)}]"
    return f"{fmt(eff['value'], 2)}{ci}"


def spread_cell(eff: dict) -> str:
    return fmt(eff["mean"], 2) if eff["std"] is None else f"{eff['mean']:.2f} ± {eff['std']:.2f}"


def power_line(attack, runs, summary: dict, alpha: float) -> str:
    pw = power_block(attack, runs, alpha=alpha)
    gap, null = pw["original_vs_retrained"], pw["original_vs_null"]
    models, mia, acc = summary["models"], summary["mia"], summary["accuracy"]
    text = (f"**{attack.name}** ({attack.metric}; config {runs[0].poison.config}, {len(runs[0].poison.forget)} poisons "
            f"per seed). Original {fmt(models['original']['metric'])}, retrained {fmt(models['retrained']['metric'])} "
            f"(paired p = {gap['p_value']:.2g})")
    if null:
        text += f"; original z = {null['z']:.2f} against N(0, 1) (p = {null['p_value']:.2g})"
    return (text + f"; powered: {'yes' if pw['powered'] else 'no'}. Loss-MIA on the poisons vs "
            f"{mia['original'].get('nonmembers') or 'the test split'}: TPR@1%FPR original {fmt(mia['original']['tpr'])}, "
            f"retrained {fmt(mia['retrained']['tpr'])}; AUC original {fmt(mia['original']['auc'])}, retrained "
            f"{fmt(mia['retrained']['auc'])}. Test accuracy: original "
            f"{fmt(acc['original']['mean'])}, retrained {fmt(acc['retrained']['mean'])}.")


def attack_table(attack, runs, methods: list[str], alpha: float) -> str:
    lines = ["| method | efficacy [95% CI] | per-seed mean ± std | verdict | attack metric | loss-MIA TPR@1% | "
             "loss-MIA AUC | test acc | % of training |", "|---|---|---|---|---|---|---|---|---|"]
    first = None
    for m in methods:
        s = summarize_method(attack, runs, m, alpha=alpha)
        first = first or s
        damaged = " (test acc. ↓)" if s["utility_loss"]["significant"] else ""
        lines.append(f"| `{m}` | {efficacy_cell(s['efficacy'])} | {spread_cell(s['efficacy'])} | {s['verdict']}{damaged} | "
                     f"{fmt(s['models'][m]['metric'])} | {fmt(s['mia'][m]['tpr'])} | {fmt(s['mia'][m]['auc'])} | "
                     f"{fmt(s['accuracy'][m]['mean'])} | "
                     f"{100 * s['cost']['fraction_of_training']:.1f} |")
    return power_line(attack, runs, first, alpha) + "\n\n" + "\n".join(lines)


def machine(args, wall: float) -> str:
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    except OSError:
        load = ""
    return (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs, torch "
            f"{torch.__version__} with {args.threads} thread(s){load}; whole run {wall:.0f} s.")


def efficacy_tables(spec, args) -> str:
    methods, attacks = args.methods.split(","), args.attacks.split(",")
    t0, parts = time.perf_counter(), []
    for name in attacks:
        attack, runs = run_protocol(name, spec, methods=methods, seeds=args.seeds, budget=args.budget,
                                    log=lambda s, name=name: print(f"  {name} {s}", file=sys.stderr, flush=True))
        parts.append(attack_table(attack, runs, methods, args.alpha))
        print(parts[-1], file=sys.stderr, flush=True)
    n = len(spec.load_dataset().train_idx)
    head = (f"Recipe `{spec.name}`: {spec.model['arch']} {spec.arch_kwargs}, {spec.train.optimizer} lr {spec.train.lr}, "
            f"{spec.train.epochs} epochs on digits ({n} training examples; the original training = "
            f"{spec.train.epochs * n:,} sample-gradients). Budget: each method at its default config, capped at "
            f"{args.budget:.0%} of the original training's sample-gradients. Seeds {list(range(args.seeds))} (poisons, "
            f"original, retrained model and method seed); efficacy pooled over seeds with a 95% bootstrap interval, "
            f"verdicts at alpha = {args.alpha}. {machine(args, time.perf_counter() - t0)}")
    return head + "\n\n" + "\n\n".join(parts)


def seed_z(run) -> str:
    """One seed's GUS z of the original: ``sqrt(n) mean(I)`` (item values are ``-I``)."""
    v = run.scores["original"].values
    return f"{-np.sqrt(len(v)) * np.mean(v):.2f}"


def power_sweep(spec, args) -> str:
    t0 = time.perf_counter()
    lines = ["| attack | setting | poisons / seed | original | retrained | paired p | original z vs N(0,1) |",
             "|---|---|---|---|---|---|---|"]
    for name, settings in SWEEP.items():
        attack = get_poison(name)
        for opts in settings:
            _, runs = run_protocol(attack, spec, methods=[], attack_options=opts, seeds=args.seeds)
            pw = power_block(attack, runs, alpha=args.alpha)
            ro = [np.mean([r.scores[m].metric for r in runs]) for m in ("original", "retrained")]
            null = pw["original_vs_null"]
            z = "–" if null is None else f"{null['z']:.2f} (per seed {', '.join(seed_z(r) for r in runs)})"
            setting = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in opts.items()) or "defaults"
            lines.append(f"| {name} | {setting} | {len(runs[0].poison.forget)} | {ro[0]:.3f} | {ro[1]:.3f} | "
                         f"{pw['original_vs_retrained']['p_value']:.2g} | {z} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return (f"Recipe `{spec.name}`, seeds {list(range(args.seeds))}, attack metric as in the efficacy table "
            f"(Gaussian: -mean GUS). {machine(args, time.perf_counter() - t0)}\n\n" + "\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(ROOT / "shadow_models" / "digits-mlp.toml"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--power", action="store_true", help="run the attack-strength sweep instead")
    ap.add_argument("--out", default=str(ROOT / "docs" / "poisoning.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = load_spec(args.recipe)
    if args.power:
        replace_block(Path(args.out), "poison-power", None, power_sweep(spec, args))
    else:
        replace_block(Path(args.out), "poison-table", None, efficacy_tables(spec, args))


if __name__ == "__main__":
    main()
