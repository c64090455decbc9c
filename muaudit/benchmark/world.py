"""The fixed part of a benchmark cell: data splits, the original of a seed and its reference retrain.

Per seed ``s``: the **original** is the recipe's model trained (init and data order seeded by
``s``) on the whole training split; per (seed, forget setting) the **reference retrain R** is the
same recipe and seed trained on the training split minus the forget set. Both are trained once,
saved as muaudit checkpoints under ``OUT/models/`` and loaded by every task (so tasks stay pure
functions of their inputs and can run in other processes or on other machines sharing the folder).

The dataset's test split is cut in two fixed halves (``default_rng(VAL_SEED)``): the **validation**
half (Deep Unlearn's val split: the search objective's VA and MIA non-members, and the ``val``
data methods such as KDE and SCRUB may read) and the **test** half (reported only).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from muaudit.benchmark.spec import ForgetSetting
from muaudit.unlearning import UnlearnData

VAL_SEED = 20241001


@dataclass(frozen=True)
class World:
    """What every task of one (seed, forget setting) shares. ``forget``/``retain`` positions index
    the training split; ``retain.val`` is the validation half."""

    seed: int
    forget: UnlearnData
    retain: UnlearnData
    val: UnlearnData
    test: UnlearnData
    original: torch.nn.Module
    meta: dict
    reference: torch.nn.Module
    reference_cost: dict


def forget_positions(ds, setting: ForgetSetting, random_state: int) -> np.ndarray:
    """Training-split positions to forget: a seeded random fraction, or every example of the classes."""
    n = len(ds.train_idx)
    if setting.kind == "class":
        return np.flatnonzero(np.isin(ds.y[ds.train_idx], setting.classes)).astype(np.int64)
    k = max(1, round(setting.fraction * n))
    return np.sort(np.random.default_rng([random_state, 7]).choice(n, k, replace=False)).astype(np.int64)


def val_test_rows(ds) -> tuple[np.ndarray, np.ndarray]:
    """Dataset rows of the validation and test halves of the test split (fixed, seed-independent)."""
    rows = ds.test_idx[np.random.default_rng(VAL_SEED).permutation(len(ds.test_idx))]
    half = len(rows) // 2
    return np.sort(rows[:half]), np.sort(rows[half:])


def model_path(out: Path, kind: str, seed: int, setting: str | None = None) -> Path:
    name = f"{kind}-s{seed}.pt" if setting is None else f"{kind}-{setting}-s{seed}.pt"
    return Path(out) / "models" / name


@functools.lru_cache(maxsize=4)
def load_recipe(recipe: str):
    from muaudit.pool.spec import load_spec

    spec = load_spec(recipe)
    return spec, spec.load_dataset()


def train_reference(out: str, recipe: str, random_state: int, setting: dict | None) -> str:
    """Task: train and save the original (``setting`` None) or the reference retrain; returns its path.

    Skips the training when the checkpoint exists (a resumed benchmark)."""
    from muaudit.models import save_checkpoint
    from muaudit.paths import check_inside
    from muaudit.training.single import train_target

    s = None if setting is None else ForgetSetting(**{**setting, "classes": tuple(setting["classes"])})
    path = model_path(Path(out), "original" if s is None else "retrain", random_state, None if s is None else s.name)
    check_inside(path, out)  # a setting's name is a path component (checked by safe_name when parsed)
    if path.is_file():
        return str(path)
    spec, ds = load_recipe(recipe)
    exclude = None if s is None else forget_positions(ds, s, random_state)
    model, meta = train_target(spec, ds, exclude=exclude, random_state=random_state, device="cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_checkpoint(tmp, model, meta)
    tmp.replace(path)
    return str(path)


@functools.lru_cache(maxsize=8)
def load_world(out: str, recipe: str, seed: int, setting: ForgetSetting) -> World:
    """The :class:`World` of (seed, setting); the checkpoints must exist (see :func:`train_reference`)."""
    from muaudit.models import load_checkpoint

    spec, ds = load_recipe(recipe)
    original, meta = load_checkpoint(model_path(Path(out), "original", seed))
    reference, ref_meta = load_checkpoint(model_path(Path(out), "retrain", seed, setting.name))
    pos = forget_positions(ds, setting, seed)
    rows = ds.train_idx
    keep = np.setdiff1d(np.arange(len(rows)), pos)
    val_rows, test_rows = val_test_rows(ds)
    val = UnlearnData(ds.X[val_rows], ds.y[val_rows])
    augment = bool(spec.train.augment) if hasattr(spec.train, "augment") else False
    forget = UnlearnData(ds.X[rows[pos]], ds.y[rows[pos]], augment=augment)
    retain = UnlearnData(ds.X[rows[keep]], ds.y[rows[keep]], val=val, augment=augment)
    meta = {**meta, "train_idx": [int(i) for i in range(len(rows))]}
    return World(seed, forget, retain, val, UnlearnData(ds.X[test_rows], ds.y[test_rows]), original.eval(), meta,
                 reference.eval(), dict(ref_meta.get("cost") or {}))
