"""A SISA checkpoint: one muaudit checkpoint file that also holds every shard's stage checkpoints.

``torch.save({"state_dict": <the SISA model>, "meta": {..., "sisa": {...}}, "sisa_checkpoints":
{"<shard>/<stage>/<key>": tensor}})``, written atomically (a temporary file, then a rename) and read
with ``weights_only=True``: tensors and plain values only. ``meta["sisa"]`` holds ``shards``,
``slices``, ``aggregation``, ``stage_epochs`` and ``parts`` (``parts[k][r]``: the training
positions in slice ``r`` of shard ``k``); stage 0 of a shard is its initialisation.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from muaudit.errors import CheckpointError, CheckpointWriteError, reason
from muaudit.models.checkpoint import check_finite, plain_meta, read_checkpoint
from muaudit.sisa.model import config_from_meta

KEY = "sisa_checkpoints"


def save_sisa_checkpoint(path, model: torch.nn.Module, meta: dict, checkpoints: list[list[dict]]) -> Path:
    """Write the SISA model, its meta and ``checkpoints[k][r]`` (states of shard ``k`` after stage ``r``)."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    flat = {f"{k}/{r}/{name}": t.detach().cpu() for k, states in enumerate(checkpoints)
            for r, st in enumerate(states) for name, t in st.items()}
    for what, tensors in (("weights", state), ("stage checkpoints", flat)):
        try:
            check_finite(tensors, path)
        except CheckpointError:
            raise CheckpointError(f"refusing to write {path}: its {what} hold NaN or inf (the training diverged; "
                                  "try a smaller lr)") from None
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": state, "meta": plain_meta(meta), KEY: flat}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(f"cannot write {path} ({reason(e)})") from None
    return path


def read_sisa_checkpoint(path) -> tuple[dict, dict, list[list[dict]]]:
    """``(state_dict, meta, checkpoints[k][r])`` of a SISA checkpoint; a clear error for any other file."""
    state, meta = read_checkpoint(path)  # checks the file and refuses pickled objects
    if "sisa" not in meta:
        raise CheckpointError(f"{path} is not a SISA model (its meta has no 'sisa' section); --method sisa unlearns "
                              "checkpoints that `muaudit train` wrote from a recipe with a [sisa] section")
    cfg = config_from_meta(meta["sisa"], path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    flat = obj.get(KEY) if isinstance(obj, dict) else None
    if not isinstance(flat, dict) or not flat:
        raise CheckpointError(f"{path} holds no SISA stage checkpoints (was it written by `muaudit train`?)")
    shards, slices = cfg.shards, cfg.slices
    out: list[list[dict]] = [[{} for _ in range(slices + 1)] for _ in range(shards)]
    for key, t in flat.items():
        k, r, name = _split(key, path)
        if not (0 <= k < shards and 0 <= r <= slices) or not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{path}: stage checkpoint {key!r} does not fit {shards} shards x {slices} slices")
        out[k][r][name] = t
    if any(not st for states in out for st in states):
        raise CheckpointError(f"{path}: some stage checkpoints are missing")
    return state, meta, out


def _split(key, path) -> tuple[int, int, str]:
    parts = str(key).split("/", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise CheckpointError(f"{path}: malformed stage checkpoint key {key!r}")
    return int(parts[0]), int(parts[1]), parts[2]
