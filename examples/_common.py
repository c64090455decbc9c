"""What the examples share: options, a recipe, a built shadow pool, a checkpoint and a forget set.

Every example takes ``--quick`` (or the environment variable ``MUAUDIT_EXAMPLES_QUICK=1``): a tiny
digits pool (16 shadows, 128 hidden units, 30 epochs) that builds in about ten seconds; CI runs that. Without it
they use the packaged default recipe ``digits-mlp`` (64 shadows, built once, in minutes).

Everything an example writes goes under its work folder (``--workdir``, default
``results/examples[-quick]``), each kind in a folder of its own: ``pools/NAME/`` (a pool, with its
weights), ``NAME.pt`` and ``forget.npy`` (targets and index files), and one results folder per
audit; nothing else in the current folder is touched.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TINY_RECIPE = """\
[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [128]
[train]
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
epochs = 30
batch_size = 128
[pool]
n_models = 16
seed = 3
"""


def parse_args(description: str, **extra) -> argparse.Namespace:
    """``--quick`` and ``--workdir`` (where recipes, pools, checkpoints and results go), plus ``extra``
    options given as ``name=(default, help)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("MUAUDIT_EXAMPLES_QUICK") == "1",
                        help="a tiny pool that builds in seconds (what CI runs)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: results/examples[-quick]")
    for name, (default, help) in extra.items():
        parser.add_argument(f"--{name}", default=default, help=help)
    args = parser.parse_args()
    args.workdir = args.workdir or Path("results") / ("examples-quick" if args.quick else "examples")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def write_recipe(args, name: str, extra: str = "") -> Path:
    """The tiny recipe (``--quick``) or the default one, with ``extra`` TOML appended, in the workdir
    (the packaged default recipe itself when there is nothing to append)."""
    from muaudit.pool.recipes import resolve_recipe

    default = resolve_recipe("digits-mlp")
    if not args.quick and not extra:
        return default
    base = TINY_RECIPE if args.quick else default.read_text()
    path = args.workdir / "recipes" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(base + extra)
    return path


def build(args, recipe: Path) -> Path:
    """Build the recipe's pool into ``WORKDIR/pools/NAME/`` (resumes or reuses a finished one);
    return its folder."""
    from muaudit.pool import build_pool, load_spec

    pool_dir = args.workdir / "pools" / recipe.stem
    build_pool(load_spec(recipe), pool_dir)
    return pool_dir


def forget_set(args, recipe: Path, fraction: float = 0.1, seed: int = 0) -> Path:
    """A random ``fraction`` of the training split, saved as an index file (``np.save``)."""
    from muaudit.pool import load_spec

    n_train = len(load_spec(recipe).load_dataset().train_idx)
    forget = np.sort(np.random.default_rng(seed).choice(n_train, int(fraction * n_train), replace=False))
    path = args.workdir / "forget.npy"
    np.save(path, forget)
    return path


def checkpoint(args, recipe: Path, name: str = "original", exclude: Path | None = None) -> Path:
    """Train one model of the recipe (on everything, or without ``exclude``) as a muaudit checkpoint."""
    from muaudit.jobs.train import run_train

    path = args.workdir / f"{name}.pt"
    run_train(recipe, path, exclude=exclude, random_state=10_000)
    return path
