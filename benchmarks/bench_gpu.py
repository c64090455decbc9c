"""Models per hour of the packaged CIFAR-10 recipes on one GPU (prepared; run it where a GPU is).

Usage:
    python benchmarks/bench_gpu.py [--data data/cifar10] [--epochs 1] [--models 2]
                                   [--recipes cifar10-fast,cifar10-wrn16-4,cifar10-resnet18]
                                   [--device cuda] [--quick] [--out docs/benchmarks.md | --no-write]

For each recipe it trains ``--models`` shadows (each on a random half of the population, as a pool
build does) for ``--epochs`` epochs with the recipe's own settings (precision, channels_last,
compile, augmentation on the device), then predicts the whole population under the recipe's
views, timing both with the device's clock (wall time after ``torch.cuda.synchronize``). A first
model is trained and thrown away before timing (CUDA start-up, cuDNN autotuning, ``torch.compile``).
Models per hour = 3600 / (training seconds per epoch x the recipe's epochs + prediction seconds).

It also times the ensemble engine against the sequential one for a small BatchNorm-free net
(``cnn`` with channels 32, 64, hidden 256: fastnet has BatchNorm, which the ensemble engine does
not batch) with the fast recipe's optimiser settings, in fp32 (the ensemble trains in fp32).

Data: the CIFAR-10 python batches in ``--data`` when that folder exists, else CIFAR-shaped synthetic
data of the same size (60,000 x 3 x 32 x 32; the speed does not depend on the pixels). ``--quick``:
a 512-example synthetic population, tiny widths, for a smoke test on CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _doc import load, replace_block  # noqa: E402

from muaudit.data import load_dataset  # noqa: E402
from muaudit.models import build_model  # noqa: E402
from muaudit.pool import load_spec  # noqa: E402
from muaudit.pool.recipes import resolve_recipe  # noqa: E402
from muaudit.training import TrainRecipe, select_device, train_models  # noqa: E402
from muaudit.training.accel import effective  # noqa: E402
from muaudit.training.device import device_clock, is_conv  # noqa: E402
from muaudit.training.predict import predict_many  # noqa: E402

RECIPES = ["cifar10-fast", "cifar10-wrn16-4", "cifar10-resnet18"]
QUICK_MODEL = {"cifar10-fast": {"widths": [8, 16, 16]}, "cifar10-wrn16-4": {"depth": 10, "width": 1}}


def population(data: str, quick: bool):
    if not quick and Path(data).is_dir():
        ds = load_dataset("cifar10", path=data)
        return ds.X, ds.y, "CIFAR-10 python batches"
    n = 512 if quick else 60_000
    ds = load_dataset("synthetic", n_samples=n, n_classes=10, shape=[3, 32, 32], seed=0)
    return ds.X, ds.y, f"synthetic CIFAR-shaped ({n} x 3 x 32 x 32)"


def halves(n: int, models: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.permutation(n)[: n // 2]) for _ in range(models)]


def time_recipe(name: str, X, y, dev, args) -> dict:
    spec = load_spec(resolve_recipe(name))
    model_opts = {**spec.arch_kwargs, **(QUICK_MODEL.get(name, {}) if args.quick else {})}
    train = dataclasses.replace(spec.train, epochs=args.epochs, **({"batch_size": 64} if args.quick else {}))
    make = lambda s: build_model(spec.model["arch"], (3, 32, 32), 10, random_state=s, **model_opts)  # noqa: E731
    Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(y, device=dev)
    rows = halves(len(y), args.models + 1)
    clock = device_clock(dev)
    list(train_models(make, Xt, yt, rows[:1], [0], train, engine="sequential"))  # warm-up, compile
    t0 = clock()
    models = [m for chunk in train_models(make, Xt, yt, rows[1:], list(range(1, args.models + 1)), train,
                                          engine="sequential") for _, m in chunk]
    train_s = (clock() - t0) / args.models
    t0 = clock()
    predict_many(models[:1], Xt, n_views=spec.views, device=dev)
    predict_s = clock() - t0
    per_model = train_s / args.epochs * spec.train.epochs + predict_s
    return {"recipe": name, "arch": spec.model["arch"], "epochs": spec.train.epochs,
            "settings": effective(spec.train, dev, conv=is_conv(models[0])),
            "epoch_s": round(train_s / args.epochs, 3), "predict_s": round(predict_s, 3),
            "model_s": round(per_model, 1), "models_per_hour": round(3600 / per_model, 1)}


def time_engines(X, y, dev, args) -> dict:
    base = load_spec(resolve_recipe("cifar10-fast")).train
    recipe = TrainRecipe(**{**base.to_dict(), "epochs": args.epochs, "precision": "fp32", "compile": False,
                            **({"batch_size": 64} if args.quick else {"batch_size": 512})})
    opts = {"channels": [8, 16], "hidden": 32} if args.quick else {"channels": [32, 64], "hidden": 256}
    make = lambda s: build_model("cnn", (3, 32, 32), 10, random_state=s, **opts)  # noqa: E731
    Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(y, device=dev)
    k = 2 if args.quick else 16
    rows = halves(len(y), k)
    clock, out = device_clock(dev), {}
    for engine in ("sequential", "ensemble", "sequential", "ensemble"):  # second round timed
        t0 = clock()
        list(train_models(make, Xt, yt, rows, list(range(k)), recipe, engine=engine, ensemble_size=k))
        out[engine] = round(k * args.epochs * 3600 / max(clock() - t0, 1e-9) / recipe.epochs, 1)
    return {"net": f"cnn {opts}", "models": k, "models_per_hour_at_recipe_epochs": out}


def table(rows: list[dict], engines: dict, info: dict) -> str:
    lines = [f"Device: {info['device']}; data: {info['data']}; torch {info['torch']}; timed epochs: "
             f"{info['epochs']}, models: {info['models']} (after one warm-up model); CPU load "
             f"{info['load']}.", "",
             "| recipe | arch | settings | s / epoch | prediction s | s / model (recipe's epochs) | models / hour |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        s = r["settings"]
        lines.append(f"| `{r['recipe']}` | {r['arch']} | {s['precision']}, channels_last {s['channels_last']}, "
                     f"compile {s['compile']} | {r['epoch_s']} | {r['predict_s']} | {r['model_s']} "
                     f"({r['epochs']} epochs) | **{r['models_per_hour']}** |")
    e = engines["models_per_hour_at_recipe_epochs"]
    lines += ["", f"Ensemble against sequential engine, {engines['net']}, {engines['models']} models, fp32: "
              f"sequential {e['sequential']} models/hour, ensemble {e['ensemble']} models/hour."]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/cifar10")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--models", type=int, default=2)
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="docs/benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    dev = select_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    X, y, data = population(args.data, args.quick)
    rows = []
    for name in args.recipes.split(","):
        rows.append(time_recipe(name, X, y, dev, args))
        print(json.dumps(rows[-1]), flush=True)
    engines = time_engines(X, y, dev, args)
    print(json.dumps(engines), flush=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "CPU"
    info = {"device": f"{dev} ({name})", "data": data, "torch": torch.__version__, "epochs": args.epochs,
            "models": args.models, "load": " / ".join(f"{v:.1f}" for v in load())}
    text = table(rows, engines, info)
    print(text)
    if not args.no_write and not args.quick and dev.type == "cuda":
        replace_block(Path(args.out), "bench-gpu", "## CIFAR-10 recipes on one GPU (benchmarks/bench_gpu.py)", text)


if __name__ == "__main__":
    main()
