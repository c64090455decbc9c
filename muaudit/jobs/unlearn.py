"""Unlearning a muaudit checkpoint: what ``muaudit unlearn`` does, as a library function.

The checkpoint's meta names the dataset (checked against its fingerprint) and the training
positions ``train_idx``; the forget file holds positions in the training split that must all be
in ``train_idx``. The output checkpoint's meta is the input's with ``train_idx`` = the retained
positions and an ``unlearning`` record: method, config, forget indices, seed, budget, cost and
accuracies.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from muaudit.data import load_dataset, load_index_file, split_forget
from muaudit.errors import CheckpointError, ConfigError, DataError
from muaudit.models import load_state, read_checkpoint, save_checkpoint
from muaudit.models.checkpoint import model_from_meta
from muaudit.targets.adapter import InputAdapter
from muaudit.targets.adapter_module import AdapterModule
from muaudit.targets import adapter_from_meta
from muaudit.targets.runner import TorchRunner, resolve_adapter
from muaudit.checks import check_seed
from muaudit.paths import output_file
from muaudit.models.checkpoint import train_positions
from muaudit.training.device import select_device
from muaudit.unlearning.base import UnlearnData, get_method, make_config
from muaudit.unlearning.run import accuracy, run_unlearning, training_sample_gradients


def dataset_of(meta: dict, source):
    """Load the dataset a checkpoint was trained on and check its fingerprint."""
    spec = dict(meta.get("dataset") or {})
    if "name" not in spec:
        raise CheckpointError(f"{source}: meta has no dataset; was it written by muaudit?")
    ds = load_dataset(spec.pop("name"), **spec)
    want = meta.get("dataset_fingerprint")
    if want and want != ds.fingerprint:
        raise DataError(f"{source} was trained on {ds.name} with fingerprint {want[:12]}..., but the dataset "
                        f"loaded now has {ds.fingerprint[:12]}...; load the same data files")
    return ds


def split_data(ds, train_idx: np.ndarray, forget: np.ndarray, *, augment: bool = False, name: str = "forget"):
    """``(forget, retain, test, retain_positions)``: :class:`UnlearnData` of the forget set, the
    retained rest of ``train_idx`` (see :func:`muaudit.data.split_forget`; every forget position
    must be in ``train_idx``) and the test split; ``retain.val`` is the test split."""
    rows = ds.train_idx
    forget, retain_pos = split_forget(train_idx, forget, name=name)
    test = UnlearnData(ds.X[ds.test_idx], ds.y[ds.test_idx])
    forget_d = UnlearnData(ds.X[rows[forget]], ds.y[rows[forget]], augment=augment)
    retain_d = UnlearnData(ds.X[rows[retain_pos]], ds.y[rows[retain_pos]], val=test, augment=augment)
    return forget_d, retain_d, test, retain_pos


def evaluate(model, forget: UnlearnData, retain: UnlearnData, test: UnlearnData) -> dict:
    return {"retain": accuracy(model, retain), "forget": accuracy(model, forget), "test": accuracy(model, test)}


def adapt_model(model, dataset, adapter: InputAdapter, source):
    """``model`` behind its input adapter: ``(model to run, adapter)``; the model itself when the
    resolved adapter is the identity (the dataset's own layout, no normalisation)."""
    runner = TorchRunner(model, torch.device("cpu"))
    adapter = resolve_adapter(runner, dataset.X, dataset.n_classes, adapter, source=source)
    return (model, adapter) if adapter.is_identity else (nn.Sequential(adapter.module(), model), adapter)


def unlearn_checkpoint(method: str, model_path, forget_path, out_path, *, overrides: dict | None = None,
                       budget: float | None = None, random_state: int = 0, device=None, arch: str | None = None,
                       input_layout: str = "auto", input_mean=None, input_std=None, progress=None) -> dict:
    """Unlearn ``forget_path`` from the checkpoint ``model_path``; write ``out_path``.

    ``arch`` trusts the user factory the checkpoint's meta names (``package.module:function``);
    ``input_*`` give the model's input convention (:class:`~muaudit.targets.InputAdapter`): the
    methods then train through it, and the output checkpoint records it as ``input_adapter``.
    ``progress(sample_gradients, cap or 0)`` is called while the method trains.

    Returns ``{"method", "config", "cost", "before": {...}, "after": {...}, "out"}`` where
    before/after hold retain / forget / test accuracy. ``arch`` trusts a model factory the
    checkpoint's meta names. ``out_path`` may not be an input; NaN weights are never written.

    Example:
        Gradient ascent on the forget set of the tiny checkpoint of the doctest setup (``conftest.py``):

        >>> res = unlearn_checkpoint("ga", checkpoint, forget_file, tmp / "ga.pt", overrides={"epochs": 1})
        >>> res["method"], res["cost"]["sample_gradients"], sorted(res["after"])
        ('ga', 100, ['forget', 'retain', 'test'])
    """
    if method == "sisa":  # exact unlearning of a SISA checkpoint (muaudit.sisa), not a model transform
        from muaudit.jobs.sisa import unlearn_sisa_checkpoint

        return unlearn_sisa_checkpoint(model_path, forget_path, out_path, overrides=overrides, budget=budget,
                                       random_state=random_state, device=device, arch=arch, progress=progress)
    unlearner = get_method(method)
    make_config(unlearner, overrides)  # unknown keys and bad values fail before any loading
    check_seed("seed", random_state)
    dev = select_device(device)
    output_file(out_path, {"--model": model_path, "--forget": forget_path}, CheckpointError)
    adapter = InputAdapter.from_options(input_layout, input_mean, input_std)
    state, meta = read_checkpoint(model_path)
    if not meta:
        raise CheckpointError(f"{model_path} is a raw state_dict: muaudit unlearn needs a muaudit checkpoint, whose meta "
                              "names the dataset and the training positions (write one with `muaudit train`)")
    if "sisa" in meta:
        raise ConfigError(f"{model_path} is a SISA model; unlearn it with --method sisa (a method that changes the "
                          "weights would leave its shards' stage checkpoints stale)")
    model = load_state(model_from_meta(meta, trusted_arch=arch), state, model_path)
    if "train_idx" not in meta:
        raise CheckpointError(f"{model_path}: meta has no train_idx; cannot tell what the model trained on")
    ds = dataset_of(meta, model_path)
    adapter = InputAdapter.from_options(input_layout, input_mean, input_std, input_shape=ds.input_shape)
    adapter = adapter_from_meta(adapter, meta, model_path)
    model, adapter = adapt_model(model, ds, adapter, model_path)
    forget = load_index_file(forget_path, len(ds.train_idx), what="forget")
    train_idx = train_positions(meta, len(ds.train_idx), model_path)
    augment = bool((meta.get("recipe") or {}).get("augment", False))
    forget_d, retain_d, test, retain_pos = split_data(ds, train_idx, forget, augment=augment,
                                                      name=f"forget file {forget_path}")
    model = model.to(dev)
    config = make_config(unlearner, overrides, meta=meta)
    before = evaluate(model, forget_d, retain_d, test)
    res = run_unlearning(unlearner, model, forget_d, retain_d, config=config, random_state=random_state, meta=meta, budget=budget,
                         progress=progress)
    after = evaluate(res.model, forget_d, retain_d, test)
    record = {"method": unlearner.name, "config": config.to_dict(), "forget_idx": [int(i) for i in forget],
              "seed": int(random_state), "budget": budget, "cost": res.cost, "accuracy": after}
    history = list(meta.get("unlearning_history", [])) + ([meta["unlearning"]] if "unlearning" in meta else [])
    new_meta = {**meta, "train_idx": [int(i) for i in retain_pos], "unlearning": record,
                "input_adapter": adapter.to_dict()}
    if history:
        new_meta["unlearning_history"] = history
    inner = res.model[1] if isinstance(res.model, nn.Sequential) and isinstance(res.model[0], AdapterModule) else res.model
    save_checkpoint(out_path, inner.cpu(), new_meta)
    return {"method": unlearner.name, "config": record["config"], "cost": res.cost, "before": before,
            "after": after, "out": str(out_path), "reference_sample_gradients": _reference(meta)}


def _reference(meta: dict) -> int | None:
    """The original training's sample-gradients, when the meta tells."""
    try:
        return training_sample_gradients(meta)
    except ConfigError:
        return None
