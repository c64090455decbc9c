"""Query views as a lever of audit strength (issue 18 (a)), secret views and the label-only attack (issue 20).

Builds (or reuses) one digits-mlp pool (the default recipe: 64 shadows) whose recipe queries 9
views (identity + the 8 one-pixel shifts, zero border) and keeps its shadows' weights; trains an
original on the whole training split and, per forget fraction, a retrain without a random forget
set. Then, per forget fraction and target:

- LiRA (online) on the first K = 1, 5, 9 views (identity; + 4 axis shifts; + 4 diagonal shifts):
  verdict, p-value, minimum detectable residual (``power_control.min_detectable_residual``) and
  audit seconds; the prediction time of the 64 shadows on K views (what K adds to a build);
- LiRA on ``--secret`` secret views (per-audit random sub-pixel shifts + noise, scored by the
  shadows' stored weights; :mod:`muaudit.targets.views`);
- the label-only attack on the same targets answering with top-1 labels only, on the 9 pool views
  and on the secret views.

Prints Markdown tables and writes them to ``WORK/views_table.md``.

    python benchmarks/views_table.py [--work /tmp/muaudit-views] [--fractions 0.1,0.2] [--secret 8]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from muaudit.attacks import logit_scaled_confidence
from muaudit.audit import audit_target
from muaudit.jobs.queries import label_signals
from muaudit.pool import Pool, build_pool
from muaudit.pool.recipes import resolve_recipe
from muaudit.pool.rescore import load_shadows, score_shadows
from muaudit.pool.spec import load_spec
from muaudit.targets.views import draw_secret_views
from muaudit.training.predict import predict_many
from muaudit.training.single import train_target
from muaudit.training.views import apply_view_numpy

VIEWS = ["identity", "shift:1,0", "shift:-1,0", "shift:0,1", "shift:0,-1",
         "shift:1,1", "shift:1,-1", "shift:-1,1", "shift:-1,-1"]


def views_of(shift: float) -> list[str]:
    """Identity, the 4 axis shifts and the 4 diagonal shifts of ``shift`` pixels."""
    d = f"{shift:g}"
    return ["identity"] + [v.replace("1", d) for v in VIEWS[1:]]


def _audit(z_t, z_s, keep, labels, rows, *, label_only=False, alpha=0.01):
    """One audit at the array level: the results dict and its seconds."""
    F, NM, R = rows
    t0 = time.perf_counter()
    if label_only:
        t, s, opts = label_signals(z_t, labels), label_signals(z_s, labels), {"attack": "label-only", "recenter": False}
    else:
        t, s, opts = logit_scaled_confidence(z_t, labels), logit_scaled_confidence(z_s, labels[None]), {}
    res = audit_target(t, s, keep, forget=F, nonmembers=NM, members=R, labels=labels, alpha=alpha, **opts).results
    return res, time.perf_counter() - t0


def _row(res, seconds) -> dict:
    pc = res.get("power_control") or {}
    return {"verdict": res["verdict"], "p": res["p_value"], "auc": res["auc"], "power": pc.get("power"),
            "residual": pc.get("min_detectable_residual"), "control_auc": pc.get("auc"), "seconds": seconds}


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _pool(work: Path, log, n_models: int, epochs: int | None) -> tuple[Pool, object, float | None]:
    spec = replace(load_spec(resolve_recipe("digits-mlp")), views=tuple(VIEWS), save_weights=True, n_models=n_models)
    if epochs:  # a quick smoke run only; the table uses the recipe's epochs
        spec = replace(spec, train=replace(spec.train, epochs=epochs))
    out = work / "pool"
    seconds = None
    if not (out / "pool.h5").exists() or not Pool(out).done.all():
        log(f"building {out} (64 shadows, 9 views, weights kept) ...")
        t0 = time.perf_counter()
        build_pool(spec, out)
        seconds = time.perf_counter() - t0
    return Pool(out), spec, seconds


def _targets(spec, ds, fractions, work: Path, log):
    """The original and one retrain per forget fraction (train-split positions of each forget set)."""
    from muaudit.models import load_checkpoint, save_checkpoint

    def trained(name, exclude):
        path = work / f"{name}.pt"
        if not path.exists():
            log(f"training {name} ...")
            model, meta = train_target(spec, ds, exclude=exclude, random_state=10_000)
            save_checkpoint(path, model, meta)
        return load_checkpoint(path)[0]

    n_train = len(ds.train_idx)
    forgets = {f: np.sort(np.random.default_rng(0).choice(n_train, int(round(f * n_train)), replace=False))
               for f in fractions}
    return trained("original", None), {f: trained(f"retrain-{f:g}", forgets[f]) for f in fractions}, forgets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/muaudit-views")
    ap.add_argument("--fractions", default="0.1,0.2")
    ap.add_argument("--ks", default="1,5,9")
    ap.add_argument("--secret", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (smoke runs only)")
    ap.add_argument("--shift", type=float, default=1.0,
                    help="shift of the K views in pixels; other than 1 (the pool's views) scored from the weights")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def log(msg):
        print(msg, flush=True)

    pool, spec, build_s = _pool(work, log, args.models, args.epochs)
    ds = spec.load_dataset()
    pop, labels, keep = pool.population, pool.labels, pool.keep
    X = ds.X[pop]
    stored = pool.logits()
    names = views_of(args.shift)
    fractions = [float(f) for f in args.fractions.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    original, retrains, forgets = _targets(spec, ds, fractions, work, log)
    models = load_shadows(pool, spec, X, stored, random_state=np.random.default_rng(0))
    predict_s = {}
    for k in ks:
        t0 = time.perf_counter()
        shadows = np.stack(predict_many(models, X, views=names[:k]))
        predict_s[k] = time.perf_counter() - t0
    if names != VIEWS:  # views the pool was not built with: the shadows' logits from their weights
        stored = shadows if max(ks) == len(names) else np.stack(predict_many(models, X, views=names))
    secret = draw_secret_views(args.secret, X, flips=False)  # max shift and noise of muaudit.targets.views
    t0 = time.perf_counter()
    secret_X = [apply_view_numpy(X, v) for v in secret.views]
    secret_shadows = np.stack([score_shadows(models, x) for x in secret_X], axis=2)
    secret_s = time.perf_counter() - t0

    lira_rows, label_rows = [], []
    for f in fractions:
        F = ds.train_idx[forgets[f]]
        NM = ds.test_idx
        R = np.setdiff1d(ds.train_idx, F)
        rows = (F, NM, R)
        for name, model in (("retrain", retrains[f]), ("original", original)):
            z_all = predict_many([model], X, views=names)[0]
            z_secret = np.stack([predict_many([model], x)[0][:, 0] for x in secret_X], axis=1)
            lira = {}
            for k in ks:
                res, s = _audit(z_all[:, :k], stored[:, :, :k], keep, labels, rows, alpha=args.alpha)
                lira[k] = _row(res, s)
                lira_rows.append((f, name, f"{k} views ({args.shift:g} px)", lira[k]))
            res, s = _audit(z_secret, secret_shadows, keep, labels, rows, alpha=args.alpha)
            lira["secret"] = _row(res, s)
            lira_rows.append((f, name, f"{args.secret} secret views", lira["secret"]))
            for what, key, zt, zs in ((f"{len(names)} views ({args.shift:g} px)", max(ks), z_all, stored),
                                      (f"{args.secret} secret views", "secret", z_secret, secret_shadows)):
                lo, s = _audit(zt, zs, keep, labels, rows, label_only=True, alpha=args.alpha)
                label_rows.append((f, name, what, _row(lo, s), lira[key]))

    load = os.getloadavg()
    lines.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python benchmarks/views_table.py`, "
                 f"{os.cpu_count()} CPUs (shared), load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. "
                 f"Pool build ({args.models} shadows, 9 views, weights): "
                 f"{'reused' if build_s is None else f'{build_s:.0f} s'}; shadows' prediction on K views: "
                 + ", ".join(f"K={k}: {predict_s[k]:.1f} s" for k in ks)
                 + f"; {args.secret} secret views scored from the weights: {secret_s:.1f} s. alpha = {args.alpha:g}.")
    lines += ["", "| forget | target | queries | verdict | p | AUC | power | min. detectable residual | audit s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f, name, what, r in lira_rows:
        lines.append(f"| {f:.0%} | {name} | {what} | {r['verdict']} | {_fmt(r['p'])} | {_fmt(r['auc'])} | "
                     f"{_fmt(r['power'])} | {_fmt(r['residual'])} | {r['seconds']:.1f} |")
    lines += ["", "Label-only (top-1 labels) next to LiRA (full logits) on the same targets and queries:", "",
              "| forget | target | queries | label-only verdict | p | AUC | residual | LiRA p | LiRA AUC | LiRA residual |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for f, name, what, lo, li in label_rows:
        lines.append(f"| {f:.0%} | {name} | {what} | {lo['verdict']} | {_fmt(lo['p'])} | {_fmt(lo['auc'])} | "
                     f"{_fmt(lo['residual'])} | {_fmt(li['p'])} | {_fmt(li['auc'])} | {_fmt(li['residual'])} |")
    text = "\n".join(lines)
    print(text)
    (work / "views_table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
