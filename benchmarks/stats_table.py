"""Class-wise forgetting, QMIA vs pool LiRA, and the minimum detectable residual on digits.

Usage:
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/stats_table.py [--pool shadow_models/digits-mlp]
        [--cnn-recipe shadow_models/digits-cnn.toml] [--cnn-pool shadow_models/digits-cnn]
        [--out results/stats-bench] [--forget-class 3]

Trains (seed 0, the pool's recipe) an original MLP on the whole training split, a retrain without
a random 10% forget set F10 (``default_rng(0)``) and a retrain without every training example of
``--forget-class``; with ``--cnn-recipe`` also an original CNN and its retrain without F10. Each
(target, forget set) is audited with pool LiRA (online) and with QMIA (``--attack qmia``, fitted
on half of the test split); with ``--cnn-pool`` the CNN targets are also audited with LiRA
against that pool. Prints a markdown table (docs/attacks.md).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from muaudit.jobs.lira import run_lira
from muaudit.jobs.train import run_train
from muaudit.pool import load_spec


def forget_files(recipe, out: Path, forget_class: int) -> dict:
    ds = load_spec(recipe).load_dataset()
    n = len(ds.train_idx)
    sets = {"F10": np.sort(np.random.default_rng(0).choice(n, n // 10, replace=False)),
            f"class {forget_class}": np.flatnonzero(ds.y[ds.train_idx] == forget_class)}
    paths = {}
    for name, idx in sets.items():
        paths[name] = out / f"forget-{name.replace(' ', '')}.npy"
        np.save(paths[name], idx)
    return paths


def targets(pool_recipe, cnn_recipe, out: Path, forgets: dict) -> list[tuple[str, Path, list[str]]]:
    """(name, checkpoint, forget sets to audit it on)."""
    jobs = [("MLP original", pool_recipe, None, list(forgets)), ("MLP retrain w/o F10", pool_recipe, "F10", ["F10"])]
    cls = [k for k in forgets if k.startswith("class")][0]
    jobs.append((f"MLP retrain w/o {cls}", pool_recipe, cls, [cls]))
    if cnn_recipe:
        jobs += [("CNN original", cnn_recipe, None, ["F10"]), ("CNN retrain w/o F10", cnn_recipe, "F10", ["F10"])]
    made = []
    for name, recipe, exclude, sets in jobs:
        ckpt = out / (name.replace(" ", "_").replace("/", "") + ".pt")
        if not ckpt.exists():
            run_train(recipe, ckpt, exclude=None if exclude is None else forgets[exclude], random_state=0, device="cpu")
        made.append((name, ckpt, sets))
    return made


def row(name, forget, attack, r, seconds) -> str:
    c = r.get("power_control") or {}
    mdr = c.get("min_detectable_residual")
    strat = "yes" if (r.get("class_mix") or {}).get("stratified") else "no"
    return (f"| {name} | {forget} | {attack} | {r['verdict']} | {r['p_value']:.2g} | {r['auc']:.3f} | "
            f"{c.get('auc', float('nan')):.3f} | {c.get('power', float('nan')):.2f} | "
            f"{'n/a' if mdr is None else f'{mdr:.2f}'} | {strat} | {seconds:.0f} |")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", default="shadow_models/digits-mlp")
    ap.add_argument("--recipe", default="shadow_models/digits-mlp.toml")
    ap.add_argument("--cnn-recipe", default=None)
    ap.add_argument("--cnn-pool", default=None)
    ap.add_argument("--out", default="results/stats-bench")
    ap.add_argument("--forget-class", type=int, default=3)
    ap.add_argument("--attacks", default="online,qmia")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    forgets = forget_files(a.recipe, out, a.forget_class)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| target | forget set | attack | verdict | p | AUC | control AUC | power | min. detectable residual | stratified | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, ckpt, sets in targets(a.recipe, a.cnn_recipe, out, forgets):
        runs = [(attack, a.pool) for attack in a.attacks.split(",")]
        if a.cnn_pool and name.startswith("CNN"):
            runs.append(("online", a.cnn_pool))
        for forget in sets:
            for attack, pool in runs:
                t0 = time.perf_counter()
                r, _ = run_lira(target=ckpt, forget=forgets[forget], pool=pool, attack=attack, alpha=0.01,
                                out=out / "audits" / f"{ckpt.stem}-{forget.replace(' ', '')}-{attack}-{Path(pool).name}")
                label = attack if pool == a.pool else f"{attack} ({Path(pool).name} pool)"
                print(row(name, forget, label, r, time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    main()
