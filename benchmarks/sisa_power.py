"""SISA audits on digits: U-LiRA of ``sisa`` against retraining, the power of auditing a SISA
original (by shadows, forget size and aggregation), and verdicts over seeds.

Usage:
    python benchmarks/sisa_power.py [--work DIR] [--models 64] [--seeds 16] [--single POOL] [--parts ulira,power,verdicts,split]
                                    [--quick] [--out docs/sisa.md | --no-write]

Recipe: the packaged ``digits-mlp`` (MLP 512, Adam 1e-3, 100 epochs) with ``[sisa]`` S = 5, R = 5,
``aggregation = "mean"`` (and a ``"vote"`` twin), plus ``[[unlearn]] method = "sisa"`` on a random
10% of each shadow's training rows with SISA retrains. Pools are built into ``--work`` (kept, so
a rerun reuses them). One torch thread throughout.

1. **U-LiRA** (``muaudit ulira --method sisa``, leave-one-out over shadows): AUC of the unlearned
   shadows against the SISA retrains, with its interval, and the control (the never-unlearned
   original against the retrains).
2. **Power of auditing a SISA original**: each of ``T`` held-out shadows plays a SISA original;
   online LiRA (or the label-only attack on top-1 labels) is fitted on ``m`` other shadows; its
   power is the fraction of simulated forget sets of ``N`` of the target's members whose audit
   test (the mean-score permutation test, alpha 0.01) rejects against 450 of its non-members
   (:func:`muaudit.audit.power.estimate_power`, what an audit reports as the power control).
3. **Verdicts over seeds**: SISA originals (``muaudit train``), their SISA-unlearned models
   (``muaudit unlearn --method sisa``) on random 10% and 30% forget sets, audited with ``muaudit
   lira`` against the mean pool.
4. **Split check** (``--parts split``): the test split against non-members drawn from the
   training split, for SISA models trained without both (:func:`split_rows`).
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

from muaudit.data import TRAIN  # noqa: E402
from muaudit.pool import Pool, build_pool, load_spec  # noqa: E402
from muaudit.pool.recipes import resolve_recipe  # noqa: E402

ALPHA = 0.01
ENTRY = '\n[[unlearn]]\nmethod = "sisa"\nforget_fraction = 0.1\nretrain = true\n'


def recipe_text(aggregation: str, models: int, quick: bool, shards: int = 5, unlearn: bool = True) -> str:
    base = Path(resolve_recipe("digits-mlp")).read_text().replace("n_models = 64", f"n_models = {models}")
    if quick:
        base = base.replace("epochs = 100\n", "epochs = 10\n")
    return base + f"\n[sisa]\nshards = {shards}\nslices = 5\naggregation = \"{aggregation}\"\n" + (ENTRY if unlearn else "")


def built_pool(work: Path, aggregation: str, models: int, quick: bool, shards: int = 5,
               unlearn: bool = True) -> tuple[Path, Path, dict]:
    """The pool directory, its recipe file and build times (a pool already there is reused)."""
    name = f"sisa-s{shards}-{aggregation}-{models}{'' if unlearn else '-base'}{'-quick' if quick else ''}"
    recipe = work / f"{name}.toml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    if not recipe.exists():
        recipe.write_text(recipe_text(aggregation, models, quick, shards, unlearn))
    w, c = time.perf_counter(), time.process_time()
    build_pool(load_spec(recipe), work / name, threads=1)
    times = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c}
    return work / name, recipe, times


def ulira_rows(pool_dir: Path, label: str) -> list[str]:
    from muaudit.jobs.ulira import run_ulira

    rows = []
    for reference in ("retrain", "same-method", "out"):
        with tempfile.TemporaryDirectory() as tmp:
            r, _ = run_ulira(pool=pool_dir, method="sisa", reference=reference, out=Path(tmp) / "u")
        ctl, acc = r["power_control"], r["ulira_accuracy"]
        rows.append(f"| {label} | {reference} | {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] | "
                    f"{acc['accuracy']:.3f} | {r['verdict']} | {ctl['auc']:.3f} "
                    f"[{ctl['auc_ci'][0]:.3f}, {ctl['auc_ci'][1]:.3f}] | {ctl['power']:.2f} |")
        print(rows[-1], flush=True)
    return rows


def power_curve(pool_dir: Path, *, attack: str, sizes, counts, n_targets: int, seed: int = 0) -> dict:
    """``{(m, N): [power per held-out shadow]}`` and the leave-one-out AUC per m (see module doc)."""
    from muaudit.attacks import ReferenceSignals
    from muaudit.attacks.presets import PRESETS, make_preset
    from muaudit.audit.power import estimate_power
    from sklearn.metrics import roc_auc_score as auc  # (labels, scores)

    p = Pool(pool_dir / "pool.h5")
    phi, correct = p.signals()
    signals = phi if attack == "online" else correct.astype(np.float64)
    ref = ReferenceSignals(signals, p.keep)
    rng = np.random.default_rng(seed)
    targets = rng.choice(p.n_models, n_targets, replace=False)
    is_train = p.split == TRAIN  # an audit's forget set is drawn from the training split
    out, aucs = {}, {}
    for m in counts:
        for t in targets:
            others = np.flatnonzero(np.arange(p.n_models) != t)
            use = np.zeros(p.n_models, bool)
            use[rng.choice(others, m, replace=False)] = True
            fitted = make_preset(attack, PRESETS).fit(ref.subset(use))
            scores = fitted.score(signals[t])
            members = scores[p.keep[t] & is_train]
            nonmembers = rng.choice(scores[~p.keep[t]], 450, replace=False)
            aucs.setdefault(m, []).append(auc(np.r_[np.ones(members.size), np.zeros(nonmembers.size)],
                                              np.r_[members, nonmembers]))
            for n in sizes:
                out.setdefault((m, n), []).append(estimate_power(members, nonmembers, n, alpha=ALPHA, n_draws=100,
                                                                 random_state=rng))
    return {"power": out, "auc": aucs}


def power_rows(label: str, pool_dir: Path, attack: str, sizes, counts, n_targets: int) -> list[str]:
    res = power_curve(pool_dir, attack=attack, sizes=sizes, counts=counts, n_targets=n_targets)
    rows = []
    for m in counts:
        a = res["auc"][m]
        powers = " | ".join(f"{np.median(res['power'][(m, n)]):.2f} ({np.min(res['power'][(m, n)]):.2f}-"
                            f"{np.max(res['power'][(m, n)]):.2f})" for n in sizes)
        rows.append(f"| {label} | {attack} | {m} | {np.mean(a):.3f} ({np.min(a):.3f}-{np.max(a):.3f}) | {powers} |")
        print(rows[-1], flush=True)
    return rows


def verdict_rows(pool_dir: Path, recipe: Path, seeds: int, fractions=(0.1, 0.3)) -> list[str]:
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train
    from muaudit.jobs.unlearn import unlearn_checkpoint

    rows, n, tally = [], 1347, {}
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            run_train(recipe, d / "orig.pt", random_state=seed, threads=1)
            for frac in fractions:
                forget = np.random.default_rng([seed, int(100 * frac)]).choice(n, round(frac * n), replace=False)
                np.save(d / "forget.npy", forget)
                unlearn_checkpoint("sisa", d / "orig.pt", d / "forget.npy", d / "unl.pt")
                cells = []
                for name in ("orig", "unl"):
                    res, _ = run_lira(target=d / f"{name}.pt", forget=d / "forget.npy", pool=pool_dir, write=False)
                    key = (name, len(forget))
                    tally.setdefault(key, []).append(res["verdict"])
                    ctl = res.get("power_control") or {}
                    cells.append(f"{res['verdict']} | {res['auc']:.3f} | {res.get('p_value', float('nan')):.3g} | "
                                 f"{ctl.get('power', float('nan')):.2f}")
                rows.append(f"| {seed} | {len(forget)} ({100 * frac:.0f}%) | " + " | ".join(cells) + " |")
                print(rows[-1], flush=True)
    return rows, tally


def single_retrain_line(pool_dir: Path, seeds: int) -> str:
    """Single-model retrains (``digits-mlp``) on the same 10% forget sets as :func:`verdict_rows`,
    audited against a single-model pool: how their forget-set AUC scatters around 0.5."""
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train

    aucs, verdicts = [], []
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            np.save(d / "f.npy", np.random.default_rng([seed, 10]).choice(1347, 135, replace=False))
            run_train(resolve_recipe("digits-mlp"), d / "r.pt", random_state=seed, exclude=d / "f.npy", threads=1)
            res, _ = run_lira(target=d / "r.pt", forget=d / "f.npy", pool=pool_dir, write=False)
            aucs.append(res["auc"])
            verdicts.append(res["verdict"])
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))
    return (f"Single-model retrains (`digits-mlp`, the same 10% forget sets, seeds 1 to {seeds}) against the "
            f"single-model pool ({Pool(pool_dir / 'pool.h5').n_models} shadows): forget-set AUC mean {np.mean(aucs):.3f}, "
            f"sd {np.std(aucs):.3f}, {np.mean(np.array(aucs) < 0.5):.0%} below 0.5; verdicts: {counts}.")


def split_rows(pool_dir: Path, recipe: Path, seeds: int) -> list[str]:
    """The audit's default non-members (the test split) against non-members drawn from the training
    split: per seed a SISA model (a fresh partition) trained on train minus F and NM', F a random 135
    and NM' a random 450 of the training rows, audited with ``muaudit lira`` three ways. F vs NM'
    is exchangeable by construction; F vs the test split is the default audit; NM' vs the test split
    compares two sets of examples the model never saw."""
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train

    cases = {"F vs NM' (training split)": ("f", "nm"), "F vs the test split (default)": ("f", None),
             "NM' vs the test split": ("nm", None)}
    got = {case: [] for case in cases}
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            perm = np.random.default_rng([seed, 77]).permutation(1347)
            for name, rows in (("f", perm[:135]), ("nm", perm[135:585]), ("x", perm[:585])):
                np.save(d / f"{name}.npy", rows)
            run_train(recipe, d / "t.pt", random_state=seed + 2000, exclude=d / "x.npy", threads=1)
            for case, (forget, nm) in cases.items():
                res, _ = run_lira(target=d / "t.pt", forget=d / f"{forget}.npy", pool=pool_dir, write=False,
                                  nonmembers=None if nm is None else d / f"{nm}.npy")
                got[case].append((res["auc"], res["p_value_lower"], res["verdict"]))
    rows = []
    for case, v in got.items():
        auc, p = np.array([a for a, _, _ in v]), np.array([q for _, q, _ in v])
        rows.append(f"| {case} | {auc.mean():.4f} ± {auc.std() / np.sqrt(auc.size):.4f} | {auc.std():.3f} | "
                    f"{np.mean(auc < 0.5):.0%} | {np.sum(p < 0.05)} | {np.sum(p < ALPHA)} | "
                    f"{sum(x == 'over-unlearned' for *_, x in v)} | {auc.size} |")
        print(rows[-1], flush=True)
    return rows


def auc_line(rows: list[str]) -> str:
    """Mean and sd of the SISA-unlearned models' forget-set AUC per forget-set size."""
    out = []
    for size in sorted({r.split("|")[2].strip() for r in rows}):
        a = np.array([float(r.split("|")[8]) for r in rows if r.split("|")[2].strip() == size])
        out.append(f"{size}: mean {a.mean():.3f}, sd {a.std():.3f}, {np.mean(a < 0.5):.0%} below 0.5")
    return "SISA-unlearned models, forget-set AUC: " + "; ".join(out) + "."


def tally_rows(tally: dict) -> list[str]:
    names = {"orig": "SISA original", "unl": "SISA-unlearned"}
    verdicts = ("not unlearned", "over-unlearned", "consistent with retraining", "inconclusive")
    return [f"| {names[name]} | {size} | " + " | ".join(str(v.count(w)) for w in verdicts) + f" | {len(v)} |"
            for (name, size), v in sorted(tally.items())]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/muaudit-sisa-power", help="where pools are built (and reused)")
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--targets", type=int, default=6, help="held-out shadows per power estimate")
    ap.add_argument("--single", help="a built digits-mlp pool (single models) to measure the same power on")
    ap.add_argument("--parts", default="ulira,power,verdicts")
    ap.add_argument("--shards", default="", help="more S for the power table (mean, base shadows only), e.g. 2,10")
    ap.add_argument("--unlearn-vote", default="", help="'vote': give the vote pool sisa entries too (U-LiRA)")
    ap.add_argument("--quick", action="store_true", help="10 epochs, 8 shadows, 1 seed")
    ap.add_argument("--out", default="docs/sisa.md")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    models, seeds = (8, 1) if a.quick else (a.models, a.seeds)
    counts = [m for m in (7, 15, 31, 63) if m < models]
    sizes = (135, 404, 674)
    before, parts, blocks = load(), a.parts.split(","), {}
    work = Path(a.work)
    pools = {"mean": built_pool(work, "mean", models, a.quick),  # the vote pool: base shadows only (CPU time)
             "vote": built_pool(work, "vote", models, a.quick, unlearn="vote" in a.unlearn_vote)}
    build = "; ".join(f"{agg}: {t['wall']:.0f} s wall / {t['cpu']:.0f} s CPU" if t["wall"] > 5 else f"{agg}: reused"
                      for agg, (_, _, t) in pools.items())
    if "ulira" in parts:
        rows = [r for agg, (d, _, _) in pools.items() if Pool(d / "pool.h5").unlearned
                for r in ulira_rows(d, f"S = 5, {agg}")]
        blocks["sisa-ulira"] = (f"Pool: {models} SISA shadows (S = 5, R = 5, mean), `[[unlearn]] method = \"sisa\"` on a "
                                f"random 10% of every shadow's training rows, SISA retrains (build: {build}).\n\n"
                                "| pool | reference | U-LiRA AUC [95% interval] | U-LiRA accuracy | verdict | control: "
                                "original vs reference, AUC [interval] | control power |\n|---|---|---|---:|---|---|---:|\n"
                                + "\n".join(rows))
    if "power" in parts:
        rows = []
        for agg, (d, _, _) in pools.items():
            for attack in ("online", "label-only"):
                rows += power_rows(f"SISA S = 5, {agg}", d, attack, sizes, counts, a.targets)
        for shards in [int(v) for v in a.shards.split(",") if v]:
            d, _, t = built_pool(work, "mean", models, a.quick, shards=shards, unlearn=False)
            print(f"S = {shards} pool: {t['wall']:.0f} s wall / {t['cpu']:.0f} s CPU", flush=True)
            for attack in ("online", "label-only"):
                rows += power_rows(f"SISA S = {shards}, mean", d, attack, sizes, counts, a.targets)
        if a.single:
            single = Path(a.single)
            for attack in ("online", "label-only"):
                rows += power_rows("single model (digits-mlp)", single.parent if single.suffix == ".h5" else single,
                                   attack, sizes, counts, a.targets)
        head = " | ".join(f"power at N = {n}" for n in sizes)
        blocks["sisa-power"] = (f"{a.targets} held-out shadows per row; median power (min-max) at alpha {ALPHA}, "
                                "450 non-members.\n\n"
                                f"| model | attack | shadows fitted | LOO AUC, members vs non-members (min-max) | {head} |\n"
                                "|---|---|---:|---|" + "---|" * len(sizes) + "\n" + "\n".join(rows))
    if "verdicts" in parts:
        d, recipe, _ = pools["mean"]
        rows, tally = verdict_rows(d, recipe, seeds)
        shown = min(len(rows), 8)
        single = f" {single_retrain_line(Path(a.single).parent if a.single.endswith('.h5') else Path(a.single), 16)}" \
            if a.single else ""
        blocks["sisa-verdicts"] = (f"Verdicts over {seeds} seeds:\n\n| target | forget set | not unlearned | over-unlearned | "
                                   "consistent with retraining | inconclusive | audits |\n|---|---:|---:|---:|---:|---:|---:|\n"
                                   + "\n".join(tally_rows(tally)) + f"\n\n{auc_line(rows)}{single}"
                                   + f"\n\nThe first {shown // 2} seeds in detail (p: the "
                                   "upper one-sided test; power: the audit's power control):\n\n"
                                   "| seed | forget set | original: verdict | AUC | p | power | SISA-unlearned: verdict | "
                                   "AUC | p | power |\n|---:|---|---|---:|---:|---:|---|---:|---:|---:|\n" + "\n".join(rows[:shown]))
    if "split" in parts:
        d, recipe, _ = pools["mean"]
        blocks["sisa-split"] = (f"{seeds} seeds; AUC: mean ± standard error over seeds, sd over seeds; p: the lower "
                                "one-sided p-value (`over-unlearned` below alpha 0.01).\n\n| comparison | AUC | sd | "
                                "below 0.5 | p < 0.05 | p < 0.01 | over-unlearned | audits |\n|---|---:|---:|---:|---:|---:|"
                                "---:|---:|\n" + "\n".join(split_rows(d, recipe, seeds)))
    write_blocks(blocks, before, a.out, write=not a.no_write)


if __name__ == "__main__":
    main()
