"""Every unlearning method on the default digits recipe: accuracy, RTE and compute, in one run.

Usage:
    python benchmarks/methods_table.py [--recipe shadow_models/digits-mlp.toml] [--seeds 3]
        [--forget-fraction 0.1] [--methods ft,ga,...] [--threads 1] [--out docs/methods.md]
    python benchmarks/methods_table.py --defaults-only      # only regenerate the defaults table

Per seed s: train the original with the recipe (``train_target``, seed s) on the whole training
split, draw a random forget set of ``forget-fraction`` of the training positions
(``default_rng(s)``), then run every registered method with its default config and seed s
(``retrain`` takes the recipe from the checkpoint meta). Reported: retain / forget / test accuracy
(mean +- std over seeds), ``RTE = mean t_retrain / mean t_method`` (wall seconds of the method
call), sample-gradients (forward+backward per example) and their share of the original training's
``epochs x n_train``. The markdown goes between the marker comments of ``docs/methods.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from muaudit.pool.spec import PoolSpec, load_spec
from muaudit.training.single import train_target
from muaudit.unlearning import UnlearnData, accuracy, get_method, method_names, run_unlearning

sys.path.insert(0, str(Path(__file__).parent))
from _doc import replace_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["original", "retrain", "ft", "ga", "srl", "ng+", "msg", "ct", "fcs", "cfw", "prmq", "kde", "rni", "bt",
         "salun", "scrub", "ff", "iu", "cf-k", "eu-k", "gd", "ngd", "ssd"]
FALLBACK = {"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [512]},
            "train": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "epochs": 100, "batch_size": 128}}


def ordered(names: list[str]) -> list[str]:
    return [n for n in ORDER if n in names] + sorted(set(names) - set(ORDER))


def load_recipe(path: str) -> PoolSpec:
    p = Path(path)
    return load_spec(p) if p.is_file() else PoolSpec.from_dict(FALLBACK, name="digits-mlp")


def split(ds, n_train: int, fraction: float, seed: int):
    forget_pos = np.sort(np.random.default_rng(seed).choice(n_train, round(fraction * n_train), replace=False))
    retain_pos = np.setdiff1d(np.arange(n_train), forget_pos)
    rows = ds.train_idx
    test = UnlearnData(ds.X[ds.test_idx], ds.y[ds.test_idx])
    forget = UnlearnData(ds.X[rows[forget_pos]], ds.y[rows[forget_pos]])
    retain = UnlearnData(ds.X[rows[retain_pos]], ds.y[rows[retain_pos]], val=test)
    return forget, retain, test


def run_seed(spec: PoolSpec, ds, seed: int, fraction: float, names: list[str]) -> dict[str, dict]:
    """Train the original of ``seed`` and run every method on it; one row per method."""
    model, meta = train_target(spec, ds, random_state=seed)
    forget, retain, test = split(ds, len(ds.train_idx), fraction, seed)
    rows = {}
    for name in names:
        res = run_unlearning(name, model, forget, retain, random_state=seed, meta=meta)
        rows[name] = {"retain": accuracy(res.model, retain), "forget": accuracy(res.model, forget),
                      "test": accuracy(res.model, test), "seconds": res.cost["seconds"],
                      "sample_gradients": res.cost["sample_gradients"]}
        print(f"  seed {seed} {name:<8} R {rows[name]['retain']:.3f} F {rows[name]['forget']:.3f} "
              f"T {rows[name]['test']:.3f} {res.cost['seconds']:.2f}s", file=sys.stderr, flush=True)
    return rows


def warm_up(spec: PoolSpec, ds, names: list[str]) -> None:
    """Run every method once on a few examples, untimed, so first-call costs (kernel selection,
    lazy imports) do not land on whichever method happens to run first."""
    model = spec.make_model(0, ds.input_shape, ds.n_classes)
    forget, retain, _ = split(ds, 64, 0.25, 0)
    for name in names:
        run_unlearning(name, model, forget, retain, config={"epochs": 1} if name == "retrain" else None)


def mean_std(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def table(results: list[dict[str, dict]], names: list[str], reference: int) -> str:
    t_retrain = statistics.mean(r["retrain"]["seconds"] for r in results) if "retrain" in names else None
    lines = ["| method | retain acc | forget acc | test acc | RTE | seconds | sample-gradients | % of training |",
             "|---|---|---|---|---|---|---|---|"]
    for name in names:
        rows = [r[name] for r in results]
        secs = statistics.mean(r["seconds"] for r in rows)
        sg = statistics.mean(r["sample_gradients"] for r in rows)
        rte = "–" if t_retrain is None or name == "original" else f"{t_retrain / secs:.1f}"
        lines.append(f"| `{name}` | {mean_std([r['retain'] for r in rows])} | {mean_std([r['forget'] for r in rows])} "
                     f"| {mean_std([r['test'] for r in rows])} | {rte} | {secs:.3f} | {sg:,.0f} | {100 * sg / reference:.1f} |")
    return "\n".join(lines)


def describe_run(spec: PoolSpec, ds, args, wall: float) -> str:
    n = len(ds.train_idx)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with {args.threads} thread(s)"
    try:
        load = " (load average {:.1f} at the end)".format(os.getloadavg()[0])
    except OSError:
        load = ""
    return (f"Recipe `{spec.name}`: {spec.model['arch']} {spec.arch_kwargs}, {spec.train.optimizer} lr "
            f"{spec.train.lr}, {spec.train.epochs} epochs, batch {spec.train.batch_size} on {ds.name} "
            f"({n} training examples; the original training = {spec.train.epochs * n:,} sample-gradients). "
            f"Forget = random {args.forget_fraction:.0%} of the training split ({round(args.forget_fraction * n)} "
            f"examples), test = the {len(ds.test_idx)}-example test split. Mean ± std over seeds "
            f"{list(range(args.seeds))} (model, forget set and method seed). Every method at its source's "
            f"default config. Measured {time.strftime('%Y-%m-%d')} on {machine}{load}; whole run {wall:.0f} s.")


def defaults_table(names: list[str]) -> str:
    lines = ["| method | data | defaults |", "|---|---|---|"]
    for name in names:
        m = get_method(name)
        cfg = m.Config().to_dict()
        text = ", ".join(f"`{k}={v}`" for k, v in cfg.items()) or "–"
        lines.append(f"| `{name}` | {', '.join(m.touches) or '–'} | {text} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(ROOT / "shadow_models" / "digits-mlp.toml"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--forget-fraction", type=float, default=0.1)
    ap.add_argument("--methods", help="comma-separated subset (default: every registered method)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "docs" / "methods.md"))
    ap.add_argument("--defaults-only", action="store_true")
    args = ap.parse_args(argv)
    names = ordered(args.methods.split(",") if args.methods else method_names())
    out = Path(args.out)
    replace_block(out, "methods-defaults", None, defaults_table(ordered(method_names())))
    if args.defaults_only:
        return
    torch.set_num_threads(args.threads)
    spec = load_recipe(args.recipe)
    ds = spec.load_dataset()
    t0 = time.perf_counter()
    warm_up(spec, ds, names)
    results = [run_seed(spec, ds, s, args.forget_fraction, names) for s in range(args.seeds)]
    body = table(results, names, spec.train.epochs * len(ds.train_idx))
    body = describe_run(spec, ds, args, time.perf_counter() - t0) + "\n\n" + body
    replace_block(out, "methods-table", None, body)
    print(body)


if __name__ == "__main__":
    main()
