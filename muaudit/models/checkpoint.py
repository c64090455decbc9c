"""Checkpoint I/O that never unpickles untrusted objects.

A **muaudit checkpoint** is ``torch.save({"state_dict": ..., "meta": {...}})``; ``meta`` holds only
plain values (arch and kwargs, input shape, n_classes, dataset fingerprint, train indices, seed,
and after unlearning the method, forget indices, config and cost). Everything is read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from muaudit.atomic import write_file
from muaudit.data.dataset import MAX_CLASSES
from muaudit.errors import ArchitectureMismatch, CheckpointError, CheckpointWriteError, reason
from muaudit.paths import existing_file
from muaudit.models.factory import allowed_arch, build_model


def save_checkpoint(path, model: nn.Module, meta: dict) -> Path:
    """Write a muaudit checkpoint atomically (temporary file, then rename).

    Weights holding NaN or inf are refused (a diverged training is never saved as a model), and
    a failed write leaves no temporary file and the old ``path`` as it was.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"refusing to write {path}: weight {k!r} holds NaN or inf (the training "
                                  "diverged; try a smaller lr)")
    obj = {"state_dict": state, "meta": plain_meta(meta)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointWriteError(f"cannot write {path} ({reason(e)})") from None
    # a temporary sibling, fsynced, then renamed (muaudit.atomic); torch reports a full disk as RuntimeError
    return write_file(path, lambda f: torch.save(obj, f), error=CheckpointWriteError)


def plain_meta(value, where: str = "meta"):
    """Return ``value`` as plain Python (numpy scalars and arrays, tuples -> lists) so that it
    loads with ``weights_only=True``; other objects raise :class:`CheckpointError`."""
    if isinstance(value, dict):
        return {str(k): plain_meta(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain_meta(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"{where} is a {type(value).__name__}; checkpoint meta holds only plain values")


def _torch_load(path: Path):
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror or e})") from None
    if not head:
        raise CheckpointError(f"{path} is empty")
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # a zip archive or a legacy pickle
        raise CheckpointError(f"{path} is not a PyTorch file (expected what torch.save writes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise CheckpointError(f"{path} holds pickled objects other than tensors ({found.group(1)}); "
                                  "refusing to unpickle it") from None
        why = str(e).partition("WeightsUnpickler error:")[2].strip() or str(e)
        raise CheckpointError(f"{path} is not a readable PyTorch file ({reason(ValueError(why))})") from None
    except Exception as e:  # torch parsing hostile bytes raises KeyError, IndexError, RuntimeError, ...
        raise CheckpointError(f"{path} is not a readable PyTorch file ({reason(e)})") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def check_finite(state_dict: dict, source) -> None:
    """Raise if any floating tensor holds NaN or inf."""
    for k, v in state_dict.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{source}: weight {k!r} contains NaN or inf")


def load_state(model: nn.Module, state_dict: dict, source) -> nn.Module:
    """Load ``state_dict`` into ``model`` strictly, naming missing / unexpected / mis-shaped keys."""
    if all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shaped = [f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
              if k in state_dict and state_dict[k].shape != v.shape]
    problems = [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
                for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("mis-shaped keys", shaped)) if items]
    if problems:
        raise ArchitectureMismatch(f"{source} does not fit the architecture ({'; '.join(problems)})")
    check_finite(state_dict, source)
    _check_fits_dtype(state_dict, own, source)
    model.load_state_dict(state_dict)
    return model.eval()


def _check_fits_dtype(state_dict: dict, own: dict, source) -> None:
    """A float64 weight beyond the model's float32 range would load as inf: its own message."""
    for k, v in state_dict.items():
        want = own[k].dtype
        if v.is_floating_point() and want.is_floating_point and v.dtype != want and v.numel():
            biggest = float(v.detach().abs().max())
            if biggest > torch.finfo(want).max:
                raise CheckpointError(f"{source}: weight {k!r} holds {biggest:g}, finite in {v.dtype} but not in "
                                      f"the model's {want} (it would load as inf)".replace("torch.", ""))


def read_checkpoint(path) -> tuple[dict, dict]:
    """Return ``(state_dict, meta)`` of a muaudit checkpoint or raw state_dict (meta ``{}``)."""
    path = existing_file(path, "checkpoint", CheckpointError)
    if is_torchscript(path):
        raise CheckpointError(f"{path} is a TorchScript archive, not a muaudit checkpoint (what `muaudit train` "
                              "or save_checkpoint writes)")
    obj = _torch_load(path)
    if isinstance(obj, dict) and _is_state_dict(obj.get("state_dict")):
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path}: 'meta' must be a dict, got {type(meta).__name__}")
        return obj["state_dict"], meta
    if _is_state_dict(obj):
        return obj, {}
    raise CheckpointError(f"{path} is neither a muaudit checkpoint nor a state_dict of tensors")


def model_from_meta(meta: dict, *, trusted_arch: str | None = None, source="checkpoint") -> nn.Module:
    """Build the (untrained) architecture a checkpoint's meta describes, after validating it.

    A file never makes muaudit import code: a user factory ``package.module:function`` named in
    ``meta`` is built only when the caller names the same factory in ``trusted_arch`` (``--arch``;
    see :func:`muaudit.models.factory.allowed_arch`).
    """
    try:
        arch, shape, n_classes = meta["arch"], meta["input_shape"], meta["n_classes"]
    except KeyError as e:
        raise CheckpointError(f"{source}: meta lacks {e.args[0]!r}; pass --arch") from None
    arch = allowed_arch(arch, source=f"{source} (meta 'arch')", trusted=trusted_arch)
    shape, n_classes = check_model_shape(shape, n_classes, f"{source}: meta")
    kwargs = meta.get("arch_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{source}: meta 'arch_kwargs' must be a dict, got {type(kwargs).__name__}")
    if "sisa" in meta:  # a SISA model: its shard models aggregated (muaudit.sisa)
        from muaudit.sisa.model import sisa_from_meta

        return sisa_from_meta(meta["sisa"], lambda: build_model(arch, shape, n_classes, **kwargs), source)
    return build_model(arch, shape, n_classes, **kwargs)


def check_model_shape(input_shape, n_classes, source) -> tuple[tuple[int, ...], int]:
    """Validate an input shape (1 to 4 positive integers) and a class count (an integer >= 2)."""
    ok = isinstance(input_shape, (list, tuple)) and 1 <= len(input_shape) <= 4 and all(
        _int(d) and 1 <= d <= 2**16 for d in input_shape)
    if not ok:
        raise CheckpointError(f"{source} 'input_shape' must be 1 to 4 integers in [1, 65536], got {input_shape!r}")
    if not (_int(n_classes) and 2 <= n_classes <= MAX_CLASSES):
        raise CheckpointError(f"{source} 'n_classes' must be an integer in [2, {MAX_CLASSES}], got {n_classes!r}")
    return tuple(input_shape), n_classes


def train_positions(meta: dict, n_train: int, source) -> np.ndarray:
    """The meta's ``train_idx`` validated as distinct positions in ``[0, n_train)``."""
    from muaudit.data.indices import validate_indices
    from muaudit.errors import DataError

    raw = meta.get("train_idx")
    if not isinstance(raw, list) or not raw:
        raise CheckpointError(f"{source}: meta 'train_idx' must be a non-empty list of training positions")
    try:
        return validate_indices(np.asarray(raw), n_train, name=f"{source}: meta 'train_idx'")
    except (ValueError, TypeError, OverflowError):  # a ragged or mixed list
        raise CheckpointError(f"{source}: meta 'train_idx' must be a list of integers") from None
    except DataError as e:
        raise CheckpointError(str(e)) from None


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def load_checkpoint(path, *, arch: str | None = None) -> tuple[nn.Module, dict]:
    """Load a muaudit checkpoint into its architecture, in eval mode.

    ``arch`` must repeat the meta's arch when that is a user factory (see :func:`model_from_meta`).
    """
    state, meta = read_checkpoint(path)
    if not meta:
        raise CheckpointError(f"{path} is a raw state_dict without muaudit meta; pass --arch")
    return load_state(model_from_meta(meta, trusted_arch=arch, source=path), state, path), meta


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive (what ``torch.jit.save`` writes), told from what ``torch.save`` writes."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # not a (readable) zip archive: torch.load gives the error
