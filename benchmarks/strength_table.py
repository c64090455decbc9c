"""How strong is the default audit? Minimum detectable residual against its levers (issue 18).

Builds (or reuses) one digits-mlp pool of 256 shadows, trains an original and retrains without
random forget sets of 10%, 20% and 30% of the training split, and audits each target with the
first 64, 128 and 256 shadows, with three test statistics at equal calibration:

- ``mixture``: the audit's test: the mean of ``log(1 - rho + rho LR)`` over the online-LiRA
  likelihood ratios, rho = max residual (the Neyman-Pearson statistic against a forget set of
  which a fraction rho is remembered);
- ``mean``: the mean online-LiRA score (= the mean per-example log-likelihood ratio, LiRA's own
  statistic summed over the forget set);
- ``offline``: the mean offline-LiRA score (one-sided against OUT alone);
- ``rank``: the online scores replaced by their ranks (a rank-sum permutation test).

Prints a Markdown table: forget size, shadows, statistic, retrain verdict, minimum detectable
residual r, the original's p-value and verdict, audit seconds.

    python benchmarks/strength_table.py [--work /tmp/muaudit-strength] [--views 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from muaudit.attacks import logit_scaled_confidence
from muaudit.audit import assess_scores, audit_target
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.recipes import resolve_recipe
from muaudit.training.predict import predict_many
from muaudit.training.single import train_target


def _phi(model, ds, population, labels, n_views):
    z = predict_many([model], ds.X[population], n_views=n_views)[0]
    return logit_scaled_confidence(z, labels)


def _audit(phi_t, phi_s, keep, F, NM, R, labels, stat, alpha):
    t0 = time.perf_counter()
    captured = {}
    attack_options = {"mode": "offline" if stat == "offline" else "online"}
    res = audit_target(phi_t, phi_s, keep, forget=F, nonmembers=NM, members=R, labels=labels, attack="lira",
                       attack_options=attack_options, alpha=alpha, n_power_draws=100,
                       on_scores=lambda s: captured.setdefault("s", s)).results
    if stat in ("rank", "mean"):
        s = captured["s"]
        if stat == "rank":
            s = np.argsort(np.argsort(s, kind="stable"), kind="stable").astype(np.float64)
        res = assess_scores(s, F, NM, R, labels=labels, alpha=alpha, n_power_draws=100, statistic="mean")
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/muaudit-strength")
    ap.add_argument("--models", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--fractions", default="0.1,0.2,0.3")
    ap.add_argument("--shadows", default="64,128,256")
    ap.add_argument("--stats", default="mixture,mean,offline,rank")
    args = ap.parse_args()
    work = Path(args.work)
    spec = load_spec(resolve_recipe("digits-mlp"))
    spec = replace(spec, n_models=args.models)
    t0 = time.perf_counter()
    build_pool(spec, work / f"pool{args.models}")
    build_s = time.perf_counter() - t0
    pool = Pool(work / f"pool{args.models}")
    ds = spec.load_dataset()
    labels, population = pool.labels, pool.population
    phi_all = logit_scaled_confidence(pool.logits(), labels[None])
    inv = np.full(ds.n_samples, -1)
    inv[population] = np.arange(population.size)
    NM = inv[ds.test_idx]
    orig, _ = train_target(spec, ds, random_state=10_000)
    phi_orig = _phi(orig, ds, population, labels, spec.views)
    n_train = len(ds.train_idx)
    print(f"pool: {args.models} shadows, built/reused in {build_s:.0f} s; views {spec.views}\n")
    print("| forget | shadows | statistic | retrain verdict | min. detectable residual | original p | original verdict | audit s |")
    print("|---|---|---|---|---|---|---|---|")
    for frac in map(float, args.fractions.split(",")):
        rng = np.random.default_rng(int(frac * 1000))
        forget = np.sort(rng.choice(n_train, int(round(frac * n_train)), replace=False))
        retrain, _ = train_target(spec, ds, exclude=forget, random_state=10_000)
        phi_re = _phi(retrain, ds, population, labels, spec.views)
        F = inv[ds.train_idx[forget]]
        R = inv[ds.train_idx[np.setdiff1d(np.arange(n_train), forget)]]
        for m in map(int, args.shadows.split(",")):
            for stat in args.stats.split(","):
                phi_s, keep = phi_all[:m], pool.keep[:m]
                re, secs = _audit(phi_re, phi_s, keep, F, NM, R, labels, stat, args.alpha)
                og, _ = _audit(phi_orig, phi_s, keep, F, NM, np.setdiff1d(R, F), labels, stat, args.alpha)
                r = re["power_control"]["min_detectable_residual"]
                print(f"| {frac:.0%} ({F.size}) | {m} | {stat} | {re['verdict']} | "
                      f"{'-' if r is None else f'{r:.1%}'} | {og['p_value']:.2g} | {og['verdict']} | {secs:.1f} |",
                      flush=True)


if __name__ == "__main__":
    main()
