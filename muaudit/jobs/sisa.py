"""SISA at the file level: ``muaudit train`` of a ``[sisa]`` recipe and ``muaudit unlearn --method sisa``.

A SISA checkpoint keeps every shard's stage checkpoints (:mod:`muaudit.sisa.store`); unlearning
reads them, retrains exactly the shards that held a forget example from the checkpoint before the
first slice that held one (:mod:`muaudit.sisa.unlearn`), and writes a SISA checkpoint again, so
it can be unlearned from once more.
"""

from __future__ import annotations

import numpy as np
import torch

from muaudit.errors import CheckpointError, ConfigError, DataError


def train_sisa_checkpoint(spec, ds, out, *, exclude=None, random_state: int = 0, device=None, progress=None):
    """Train the SISA model of ``spec`` on the training split minus ``exclude`` (positions) and
    write it with its stage checkpoints to ``out``; return ``(model, meta)``."""
    from muaudit.sisa.store import save_sisa_checkpoint
    from muaudit.sisa.target import train_sisa_target

    model, meta, checkpoints = train_sisa_target(spec, ds, exclude=exclude, random_state=random_state, device=device, progress=progress)
    save_sisa_checkpoint(out, model, meta, checkpoints)
    return model, meta


def unlearn_sisa_checkpoint(model_path, forget_path, out_path, *, overrides: dict | None = None,
                            budget: float | None = None, random_state: int = 0, device=None, arch: str | None = None,
                            progress=None) -> dict:
    """``muaudit unlearn --method sisa``: the result dict of
    :func:`muaudit.jobs.unlearn.unlearn_checkpoint` plus ``sisa`` (which shards and slices were
    retrained, and the cost beside a full SISA retrain and a single-model retrain).

    ``random_state`` is recorded only: SISA retrains with the seeds the original training used."""
    from muaudit.checks import check_seed
    from muaudit.data import load_index_file
    from muaudit.jobs.unlearn import dataset_of, evaluate, split_data
    from muaudit.models import load_state
    from muaudit.models.checkpoint import model_from_meta, train_positions
    from muaudit.models.factory import allowed_arch
    from muaudit.paths import output_file
    from muaudit.sisa.model import config_from_meta
    from muaudit.sisa.store import read_sisa_checkpoint, save_sisa_checkpoint
    from muaudit.sisa.target import shard_factory, sisa_meta
    from muaudit.sisa.unlearn import unlearn_sisa
    from muaudit.training.device import select_device

    if overrides:
        raise ConfigError(f"--method sisa takes no --set options (got {sorted(overrides)[0]!r}): it retrains with the "
                          "recipe the SISA model was trained with")
    if budget is not None:
        raise ConfigError("--method sisa takes no --budget: it is exact, and costs what the affected shards cost")
    check_seed("seed", random_state)
    dev = select_device(device)
    output_file(out_path, {"--model": model_path, "--forget": forget_path}, CheckpointError)
    state, meta, checkpoints = read_sisa_checkpoint(model_path)
    model = load_state(model_from_meta(meta, trusted_arch=arch, source=model_path), state, model_path)
    cfg = config_from_meta(meta["sisa"], model_path)
    ds = dataset_of(meta, model_path)
    forget = load_index_file(forget_path, len(ds.train_idx), what="forget")
    train_idx = train_positions(meta, len(ds.train_idx), model_path)
    forget_d, retain_d, test, retain_pos = split_data(ds, train_idx, forget, name=f"forget file {forget_path}")
    if not len(retain_pos):
        raise DataError(f"forget file {forget_path} covers every training example of {model_path}; nothing would remain")
    parts = _parts(meta, cfg, train_idx, model_path)
    recipe = _recipe(meta, model_path)
    make = shard_factory(allowed_arch(meta["arch"], source=f"{model_path} (meta 'arch')", trusted=arch),
                         meta.get("arch_kwargs") or {}, ds.input_shape, ds.n_classes)
    _check_checkpoints(make, checkpoints, model_path)
    X = torch.as_tensor(ds.X[ds.train_idx], device=dev)
    y = torch.as_tensor(ds.y[ds.train_idx], device=dev)
    before = evaluate(model, forget_d, retain_d, test)
    res = unlearn_sisa(make, X, y, parts, checkpoints, recipe, cfg, random_state=int(meta.get("seed", 0)), forget=forget)
    unl = res.model.cpu()
    after = evaluate(unl, forget_d, retain_d, test)
    record = {"method": "sisa", "config": cfg.to_dict(), "forget_idx": [int(i) for i in forget], "seed": int(random_state),
              "budget": None, "cost": _cost(res.record), "accuracy": after, "sisa": res.record}
    history = list(meta.get("unlearning_history", [])) + ([meta["unlearning"]] if "unlearning" in meta else [])
    new_meta = {**meta, "train_idx": [int(i) for i in retain_pos], "unlearning": record,
                "sisa": sisa_meta(cfg, recipe.epochs, res.parts)}
    if history:
        new_meta["unlearning_history"] = history
    save_sisa_checkpoint(out_path, unl, new_meta, res.checkpoints)
    if progress is not None:
        progress(res.record["sample_gradients"], 0)
    return {"method": "sisa", "config": cfg.to_dict(), "cost": record["cost"], "before": before, "after": after,
            "out": str(out_path), "reference_sample_gradients": _reference(meta),
            "sisa": res.record}


def describe(record: dict) -> str:
    """One line for the terminal: which shards and slices were retrained, and the cost beside a
    full SISA retrain and a single-model retrain.

    Example:
        >>> describe({"retrained": [{"shard": 1, "from_slice": 2, "stages": [2, 3]}], "shards": 4,
        ...           "sample_gradients": 100, "full_sisa_retrain_sample_gradients": 800,
        ...           "single_model_retrain_sample_gradients": 790, "speedup_vs_sisa_retrain": 8.0,
        ...           "speedup_vs_single_retrain": 7.9})
        'sisa: retrained 1 of 4 shards (shard 1 from slice 2); 100 sample-gradients vs 800 for a full SISA retrain (8.0x) and 790 for a single-model retrain (7.9x)'
    """
    where = ", ".join(f"shard {r['shard']} from slice {r['from_slice']}" for r in record["retrained"])
    speed = lambda v: "no work" if v is None else f"{v:.1f}x"  # noqa: E731
    return (f"sisa: retrained {len(record['retrained'])} of {record['shards']} shards ({where}); "
            f"{record['sample_gradients']:,} sample-gradients vs {record['full_sisa_retrain_sample_gradients']:,} "
            f"for a full SISA retrain ({speed(record['speedup_vs_sisa_retrain'])}) and "
            f"{record['single_model_retrain_sample_gradients']:,} for a single-model retrain "
            f"({speed(record['speedup_vs_single_retrain'])})")


def _cost(record: dict) -> dict:
    return {"seconds": record["seconds"], "sample_gradients": record["sample_gradients"],
            "budget_sample_gradients": None, "truncated": False}


def _reference(meta: dict) -> int | None:
    """The original SISA training's sample-gradients (its meta's cost), when recorded."""
    n = (meta.get("cost") or {}).get("sample_gradients") if isinstance(meta.get("cost"), dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _recipe(meta: dict, source):
    from muaudit.training.recipe import TrainRecipe

    try:
        return TrainRecipe.from_dict(dict(meta.get("recipe") or {}))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{source}: meta 'recipe' is not a training recipe ({e})") from None


def _parts(meta: dict, cfg, train_idx: np.ndarray, source) -> list[list[np.ndarray]]:
    """``meta["sisa"]["parts"]`` checked: S x R lists of positions that together are ``train_idx``."""
    raw = meta["sisa"].get("parts")
    ok = isinstance(raw, list) and len(raw) == cfg.shards and all(
        isinstance(sl, list) and len(sl) == cfg.slices and all(isinstance(s, list) for s in sl) for sl in raw)
    if not ok:
        raise CheckpointError(f"{source}: meta 'sisa' parts must be {cfg.shards} shards x {cfg.slices} slices of "
                              "training positions")
    try:
        parts = [[np.asarray(s, np.int64).reshape(-1) for s in sl] for sl in raw]
    except (ValueError, TypeError, OverflowError):
        raise CheckpointError(f"{source}: meta 'sisa' parts must hold integer training positions") from None
    flat = np.concatenate([s for sl in parts for s in sl])
    if len(flat) != len(train_idx) or not np.array_equal(np.sort(flat), np.sort(train_idx)):
        raise CheckpointError(f"{source}: meta 'sisa' parts do not cover the training positions (train_idx) "
                              "exactly once")
    return parts


def _check_checkpoints(make, checkpoints: list[list[dict]], source) -> None:
    """Every stage checkpoint must fit the shard architecture (keys and shapes) and be finite."""
    from muaudit.models import load_state

    shard = make(0)
    for k, states in enumerate(checkpoints):
        for r, st in enumerate(states):
            load_state(shard, st, f"{source} (shard {k}, stage {r})")
