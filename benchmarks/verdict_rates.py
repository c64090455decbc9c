"""False verdicts on real retrains, and where ``over-unlearned`` fires (issue 18).

On digits with a built digits-mlp pool: trains ``--retrains`` independent retrains (each its own
seed and its own random forget set of ``--fraction`` of the training split), audits each with
LiRA, and counts false ``not unlearned`` and false ``over-unlearned`` (each should be at most
alpha), with Clopper-Pearson intervals. Then unlearns one original with gradient-ascent style
methods (ga, ng+) at growing strength and prints the verdicts: where over-unlearning shows.

    python benchmarks/verdict_rates.py --pool /tmp/strength/pool256 [--shadows 64] [--retrains 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from muaudit.attacks import logit_scaled_confidence
from muaudit.audit import audit_target
from muaudit.data import split_forget
from muaudit.jobs.unlearn import split_data
from muaudit.pool import Pool, load_spec
from muaudit.pool.recipes import resolve_recipe
from muaudit.training.predict import predict_many
from muaudit.training.single import train_target
from muaudit.unlearning import run_unlearning


def _audit(model, ds, pool, phi_s, keep, forget, train_positions, alpha, views):
    inv = np.full(ds.n_samples, -1)
    inv[pool.population] = np.arange(pool.population.size)
    z = predict_many([model], ds.X[pool.population], n_views=views)[0]
    phi = logit_scaled_confidence(z, pool.labels)
    _, retained = split_forget(train_positions, forget, strict=False)
    return audit_target(phi, phi_s, keep, forget=inv[ds.train_idx[forget]], nonmembers=inv[ds.test_idx],
                        members=inv[ds.train_idx[retained]], labels=pool.labels, alpha=alpha,
                        n_power_draws=100).results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", required=True)
    ap.add_argument("--shadows", type=int, default=64)
    ap.add_argument("--retrains", type=int, default=8)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--methods", default="ga:1e-4,ga:1e-3,ga:1e-2,ng+:1e-3,ng+:1e-2")
    args = ap.parse_args()
    spec = load_spec(resolve_recipe("digits-mlp"))
    pool = Pool(args.pool)
    ds = spec.load_dataset()
    phi_s = logit_scaled_confidence(pool.logits(), pool.labels[None])[: args.shadows]
    keep = pool.keep[: args.shadows]
    n_train = len(ds.train_idx)
    counts = {"not unlearned": 0, "over-unlearned": 0, "consistent with retraining": 0, "inconclusive": 0}
    print("| retrain | forget | verdict | p (upper) | p (lower) | residual | seconds |\n|---|---|---|---|---|---|---|")
    for i in range(args.retrains):
        t0 = time.perf_counter()
        rng = np.random.default_rng(100 + i)
        forget = np.sort(rng.choice(n_train, int(round(args.fraction * n_train)), replace=False))
        model, meta = train_target(spec, ds, exclude=forget, random_state=20_000 + i)
        r = _audit(model, ds, pool, phi_s, keep, forget, np.asarray(meta["train_idx"]), args.alpha, spec.views)
        counts[r["verdict"]] += 1
        res = r["power_control"]["min_detectable_residual"]
        print(f"| {i} | {forget.size} | {r['verdict']} | {r['p_value']:.3g} | {r['p_value_lower']:.3g} | "
              f"{'-' if res is None else f'{res:.1%}'} | {time.perf_counter() - t0:.0f} |", flush=True)
    n = args.retrains
    for key in ("not unlearned", "over-unlearned"):
        lo, hi = proportion_confint(counts[key], n, alpha=0.05, method="beta")
        print(f"false {key}: {counts[key]}/{n} = {counts[key] / n:.1%} [95% CI {lo:.1%}, {hi:.1%}]")
    rng = np.random.default_rng(7)
    forget = np.sort(rng.choice(n_train, int(round(args.fraction * n_train)), replace=False))
    orig, meta = train_target(spec, ds, random_state=30_000)
    train_idx = np.asarray(meta["train_idx"])
    f, rt, _, _ = split_data(ds, train_idx, forget, augment=spec.train.augment)
    print("\n| method | lr | verdict | p (upper) | p (lower) | AUC | forget acc |\n|---|---|---|---|---|---|---|")
    r = _audit(orig, ds, pool, phi_s, keep, forget, train_idx, args.alpha, spec.views)
    print(f"| original | - | {r['verdict']} | {r['p_value']:.3g} | {r['p_value_lower']:.3g} | {r['auc']:.3f} | - |")
    for item in args.methods.split(","):
        name, lr = item.split(":")
        out = run_unlearning(name, orig, f, rt, random_state=0, meta=meta, config={"lr": float(lr)})
        r = _audit(out.model, ds, pool, phi_s, keep, forget, train_idx, args.alpha, spec.views)
        z = predict_many([out.model], ds.X[ds.train_idx[forget]])[0][:, 0]
        acc = float((z.argmax(-1) == ds.y[ds.train_idx[forget]]).mean())
        print(f"| {name} | {lr} | {r['verdict']} | {r['p_value']:.3g} | {r['p_value_lower']:.3g} | {r['auc']:.3f} | "
              f"{acc:.1%} |", flush=True)


if __name__ == "__main__":
    main()
