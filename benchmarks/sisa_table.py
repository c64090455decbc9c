"""SISA on digits: accuracy against the single model, unlearning cost, and audit verdicts.

Usage:
    python benchmarks/sisa_table.py [--quick] [--seeds 3] [--models 16] [--parts accuracy,cost,audit]
                                    [--out docs/sisa.md | --no-write]

Recipe: the packaged ``digits-mlp`` (MLP 512, Adam 1e-3, 100 epochs, batch 128) with a ``[sisa]``
section. One torch thread throughout (tiny models; the machine is shared), so CPU time is the
figure that other processes' load does not change; wall time is reported beside it.

1. **Accuracy**: test accuracy of SISA models (S = 5, 10, 20 shards; R slices; mean and vote
   aggregation) and of the single model, mean over ``--seeds`` seeds.
2. **Unlearning cost**: for forget sets of 1, 10 and 10% of the training examples (uniform,
   seeded), SISA unlearning (:func:`muaudit.sisa.unlearn.unlearn_sisa`) against a full SISA retrain
   without the forget set and a single-model retrain: sample-gradients, CPU and wall seconds.
   Every unlearned model is checked to equal the full SISA retrain bit for bit.
3. **Audit**: a pool of ``--models`` SISA shadows (S = 5); LiRA (online) verdicts of the SISA
   original, the SISA-unlearned model and the SISA retrain on a forget set of 10% of the examples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _doc import load, write_blocks  # noqa: E402

from muaudit.pool import load_spec  # noqa: E402
from muaudit.pool.recipes import resolve_recipe  # noqa: E402
from muaudit.sisa.config import SisaConfig, drop, partition  # noqa: E402
from muaudit.sisa.target import shard_factory  # noqa: E402
from muaudit.sisa.train import train_sisa  # noqa: E402
from muaudit.sisa.unlearn import unlearn_sisa  # noqa: E402
from muaudit.training import predict_logits  # noqa: E402
from muaudit.training.recipe import TrainRecipe  # noqa: E402
from muaudit.training.sequential import train_sequential  # noqa: E402


def timed(fn, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def setup(quick: bool):
    spec = load_spec(resolve_recipe("digits-mlp"))
    if quick:
        spec = spec.with_overrides(train=TrainRecipe(**{**spec.train.to_dict(), "epochs": 10}))
    ds = spec.load_dataset()
    X, y = torch.as_tensor(ds.X[ds.train_idx]), torch.as_tensor(ds.y[ds.train_idx])
    make = shard_factory(spec.model["arch"], spec.arch_kwargs, ds.input_shape, ds.n_classes)
    return spec, ds, X, y, make


def test_acc(model, ds) -> float:
    pred = predict_logits(model, ds.X[ds.test_idx])[:, 0].argmax(-1)
    return float((pred == ds.y[ds.test_idx]).mean())


def accuracy_table(spec, ds, X, y, make, shards, slices, seeds) -> str:
    n = len(y)
    single = [test_acc(train_sequential(make(s), X, y, spec.train, s), ds) for s in range(seeds)]
    rows = [f"| single model | - | {np.mean(single):.4f} (±{np.std(single):.4f}) | - |"]
    for S in shards:
        acc = {}
        for agg in ("mean", "vote"):
            cfg = SisaConfig(shards=S, slices=slices, aggregation=agg)
            vals = []
            for s in range(seeds):
                run = train_sisa(make, X, y, partition(np.arange(n), cfg, random_state=s), spec.train, cfg, random_state=s,
                                 keep_checkpoints=False)
                vals.append(test_acc(run.model, ds))
            acc[agg] = vals
        rows.append(f"| SISA S = {S}, R = {slices} | {n // S} | {np.mean(acc['mean']):.4f} (±{np.std(acc['mean']):.4f}) "
                    f"| {np.mean(acc['vote']):.4f} (±{np.std(acc['vote']):.4f}) |")
        print(rows[-1], flush=True)
    head = ("| model | examples per shard | test accuracy, mean aggregation (± sd over seeds) | vote aggregation |\n"
            "|---|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def cost_table(spec, ds, X, y, make, shards, slices, draws: int = 20) -> str:
    n, e = len(y), spec.train.epochs
    sizes = [("1", 1), ("10", 10), ("10%", round(0.1 * n))]
    rows, single = [], {}
    for label, k in sizes:  # the single-model retrain does not depend on S
        forget = np.random.default_rng([k, 11]).choice(n, k, replace=False)
        keep = np.setdiff1d(np.arange(n), forget)
        _, w, c = timed(train_sequential, make(0), X, y, spec.train, 0, rows=keep)
        single[label] = (e * len(keep), w, c)
    for S in shards:
        cfg = SisaConfig(shards=S, slices=slices)
        parts = partition(np.arange(n), cfg, random_state=0)
        orig = train_sisa(make, X, y, parts, spec.train, cfg, random_state=0)
        for label, k in sizes:
            forget = np.random.default_rng([k, 11]).choice(n, k, replace=False)
            res, uw, uc = timed(unlearn_sisa, make, X, y, parts, orig.checkpoints, spec.train, cfg, seed=0,
                                forget=forget)
            full, fw, fc = timed(train_sisa, make, X, y, drop(parts, forget), spec.train, cfg, seed=0,
                                 keep_checkpoints=False)
            same = all(torch.equal(a, b) for a, b in zip(res.model.state_dict().values(), full.model.state_dict().values()))
            assert same, "the unlearned model differs from the full SISA retrain"
            sg, sw, sc = single[label]
            r = res.record
            rows.append(f"| {S} | {label} | {r['shards_retrained']} | {r['sample_gradients']:,} | "
                        f"{r['full_sisa_retrain_sample_gradients']:,} | {sg:,} | "
                        f"{r['full_sisa_retrain_sample_gradients'] / max(r['sample_gradients'], 1):.2f}x | "
                        f"{sg / max(r['sample_gradients'], 1):.2f}x | {uc:.2f} / {fc:.2f} / {sc:.2f} | "
                        f"{fc / uc:.2f}x | {sc / uc:.2f}x | {uw:.2f} / {fw:.2f} / {sw:.2f} |")
            print(rows[-1], flush=True)
            if label == "1":
                one = (r["full_sisa_retrain_sample_gradients"], fc, fw)
        rows.append(_single_requests(make, X, y, parts, orig, spec, cfg, single["1"], one, draws))
        print(rows[-1], flush=True)
    head = ("| S | forget | shards retrained | sample-gradients: SISA unlearning | full SISA retrain | single retrain "
            "| speed-up vs SISA retrain | vs single retrain | CPU s: unlearn / SISA retrain / single | CPU speed-up vs "
            "SISA retrain | vs single | wall s: unlearn / SISA retrain / single |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def _single_requests(make, X, y, parts, orig, spec, cfg, single, full, draws: int) -> str:
    """The row of one-example requests averaged over ``draws`` random examples (where the
    example falls, in which slice, decides the cost); retrain costs from the measured row."""
    n, sgs, cpus, walls, hit = len(y), [], [], [], []
    for i in np.random.default_rng(13).choice(n, draws, replace=False):
        res, w, c = timed(unlearn_sisa, make, X, y, parts, orig.checkpoints, spec.train, cfg, seed=0, forget=[i])
        sgs.append(res.record["sample_gradients"])
        cpus.append(c)
        walls.append(w)
        hit.append(res.record["retrained"][0]["from_slice"])
    sg, c, w = np.mean(sgs), np.mean(cpus), np.mean(walls)
    return (f"| {cfg.shards} | 1 (mean of {draws}; first slice {np.mean(hit):.1f} on average) | 1 | {sg:,.0f} | "
            f"{full[0]:,} | {single[0]:,} | {full[0] / sg:.2f}x | {single[0] / sg:.2f}x | "
            f"{c:.2f} / {full[1]:.2f} / {single[2]:.2f} | {full[1] / c:.2f}x | {single[2] / c:.2f}x | "
            f"{w:.2f} / {full[2]:.2f} / {single[1]:.2f} |")


def audit_table(models: int, slices: int, quick: bool) -> str:
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train
    from muaudit.jobs.unlearn import unlearn_checkpoint
    from muaudit.pool import build_pool

    base = Path(resolve_recipe("digits-mlp")).read_text()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        recipe = d / "digits-mlp-sisa.toml"
        epochs = "epochs = 10\n" if quick else ""
        recipe.write_text(base.replace("epochs = 100\n", epochs or "epochs = 100\n") +
                          f"\n[sisa]\nshards = 5\nslices = {slices}\naggregation = \"mean\"\n")
        spec = load_spec(recipe).with_overrides(n_models=models)
        _, bw, bc = timed(build_pool, spec, d / "pool")
        run_train(recipe, d / "orig.pt", random_state=1, threads=1)
        n = 1347
        forget = np.random.default_rng(5).choice(n, round(0.1 * n), replace=False)
        np.save(d / "forget.npy", forget)
        unlearn_checkpoint("sisa", d / "orig.pt", d / "forget.npy", d / "unl.pt")
        run_train(recipe, d / "retrain.pt", random_state=1, exclude=d / "forget.npy", threads=1)
        for name in ("orig", "unl", "retrain"):
            res, _ = run_lira(target=d / f"{name}.pt", forget=d / "forget.npy", pool=d / "pool", write=False)
            label = {"orig": "SISA original", "unl": "SISA-unlearned (--method sisa)", "retrain": "SISA retrain"}[name]
            ctl = res.get("power_control") or {}
            rows.append(f"| {label} | {res['verdict']} | {res['auc']:.3f} | {res.get('p_value', float('nan')):.3g} | "
                        f"{ctl.get('auc', float('nan')):.3f} | {ctl.get('power', float('nan')):.2f} |")
            print(rows[-1], flush=True)
    head = (f"Pool: {models} SISA shadows (S = 5, R = {slices}, mean), built in {bw:.0f} s wall / {bc:.0f} s CPU; "
            f"forget set: {len(forget)} random training examples (10%).\n\n"
            "| target | LiRA verdict | AUC (forget vs non-members) | p-value | power control: AUC (retained members vs "
            "non-members) | its power |\n|---|---|---:|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 epochs, one seed, S = 5 only, 4 shadows")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--slices", type=int, default=5)
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--parts", default="accuracy,cost,audit", help="which tables to measure (comma-separated)")
    ap.add_argument("--out", default="docs/sisa.md")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    shards = [5] if a.quick else [5, 10, 20]
    seeds, models = (1, 4) if a.quick else (a.seeds, a.models)
    before = load()
    spec, ds, X, y, make = setup(a.quick)
    parts, blocks = a.parts.split(","), {}
    if "accuracy" in parts:
        blocks["sisa-accuracy"] = accuracy_table(spec, ds, X, y, make, shards, a.slices, seeds)
    if "cost" in parts:
        blocks["sisa-cost"] = cost_table(spec, ds, X, y, make, shards, a.slices, 3 if a.quick else 20)
    if "audit" in parts:
        blocks["sisa-audit"] = audit_table(models, a.slices, a.quick)
    write_blocks(blocks, before, a.out, write=not a.no_write)


if __name__ == "__main__":
    main()
