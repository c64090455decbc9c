"""The one loader of every target: :func:`open_target` (the entry point of ``lira``, ``mia``,
``evasion``, ``demo`` and :func:`muaudit.audit_checkpoint`).

What names a target: a file (a muaudit checkpoint, a raw state_dict ``.pt`` built as ``--arch``
or the pool's arch, a safetensors state_dict (same), a TorchScript archive, an ONNX model run
with onnxruntime, precomputed logits ``.npy``), a deployed model's ``http(s)://`` URL
(:mod:`~muaudit.targets.endpoint`), an in-memory ``nn.Module`` or logits array, or an
:class:`~muaudit.targets.target.AuditTarget` already made. What the audit's data says about a
target (the dataset's input shape, classes and fingerprint, the pool's architecture) is a
:class:`TargetContext`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.data.npy import read_npy
from muaudit.errors import CheckpointError, ConfigError
from muaudit.paths import existing_file
from muaudit.targets.adapter import InputAdapter
from muaudit.targets.endpoint import load_endpoint_target
from muaudit.targets.formats import detect_format
from muaudit.targets.target import AuditTarget
from muaudit.targets.v2 import is_endpoint


@dataclass(frozen=True)
class TargetContext:
    """What the data a target is audited on says about it: the dataset's ``input_shape``,
    ``n_classes`` and ``fingerprint`` (a checkpoint trained on other data is refused), and the
    pool's architecture ``arch`` with its ``arch_kwargs`` (what a raw state_dict is built as
    without ``--arch``; ``--arch`` equal to it also takes its kwargs).

    Example:
        >>> TargetContext(input_shape=(1, 8, 8), n_classes=10).arch is None
        True
    """

    input_shape: tuple | None = None
    n_classes: int | None = None
    fingerprint: str | None = None
    arch: str | None = None
    arch_kwargs: dict | None = None


def open_target(target, context: TargetContext | None = None, *, arch: str | None = None,
                adapter: InputAdapter | None = None, device=None, output: str | None = None,
                query=None) -> AuditTarget:
    """The target ``target`` names, ready to run on ``context``'s data.

    ``target``: a file path, an ``http(s)://`` URL (queried as ``query``, a
    :class:`~muaudit.targets.v2.QueryOptions`), an ``nn.Module`` (run on the CPU), logits
    ``[N, C]`` / ``[N, V, C]`` (numpy or tensor), or an :class:`AuditTarget` (returned as given).
    ``arch`` builds a state_dict (and trusts a model factory a checkpoint names); ``adapter`` is the
    input convention (an in-memory model whose own layout is unresolved takes it); ``device`` runs
    a file's model (default: cuda if present); ``output`` names the output of an ONNX model or an
    endpoint to read (default: the one of shape ``[N, n_classes]``). Every bad target or option is a
    :class:`~muaudit.errors.MuauditError` (a file: :class:`~muaudit.errors.CheckpointError`, an
    endpoint: :class:`~muaudit.errors.EndpointError`, a misplaced option: ``ConfigError``) with a
    one-line message.

    Example:
        >>> t = open_target(np.zeros((5, 3)))
        >>> t.kind, t.logits.shape
        ('logits', (5, 1, 3))
    """
    if not isinstance(target, (str, os.PathLike)):
        return _in_memory(target, adapter)
    if is_endpoint(target):
        return load_endpoint_target(target, adapter=adapter, output=output, query=query)
    context = context or TargetContext()
    t = _open_file(target, context, arch=arch, adapter=adapter or InputAdapter(), device=device, output=output,
                   query=query)
    fp = t.meta.get("dataset_fingerprint")
    if fp and context.fingerprint and fp != context.fingerprint:
        raise CheckpointError(f"target {target} was trained on other data (fingerprint {fp[:12]} != pool's "
                              f"{context.fingerprint[:12]}); audit it with a pool built on its dataset")
    return t


def _in_memory(target, adapter: InputAdapter | None) -> AuditTarget:
    """An :class:`AuditTarget` as given, an ``nn.Module`` or a logits array as a target."""
    if isinstance(target, AuditTarget):
        t = target
    elif _is_torch_module(target):
        from muaudit.targets.model_files import module_target

        t = module_target(target)
    else:
        t = AuditTarget("logits", Path("<logits array>"), logits=_logits_array(target))
    if adapter is not None and t.runner is not None and not t.adapter.resolved:
        t.adapter = adapter
    return t


def _is_torch_module(target) -> bool:
    """An ``nn.Module`` (without importing torch: none can exist before torch was imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(target, torch.nn.Module)


def _logits_array(target) -> np.ndarray:
    what = f"Expected a target path, an nn.Module or a logits array, got {type(target).__name__}"
    try:
        z = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target, dtype=np.float32)
    except (TypeError, ValueError):
        raise CheckpointError(what) from None
    if z.ndim == 0:  # None, a number: not an array at all
        raise CheckpointError(what)
    z = z[:, None] if z.ndim == 2 else z
    if z.ndim != 3:
        raise CheckpointError(f"Expected target logits of shape [N, C] or [N, V, C], got {z.shape}")
    return z


def _open_file(path, context: TargetContext, *, arch, adapter: InputAdapter, device, output, query) -> AuditTarget:
    path = existing_file(path, "target", CheckpointError)
    fmt = detect_format(path)
    if query is not None:
        raise ConfigError(f"{path} is a file: --batch-size/--timeout/--retries/--max-queries apply to endpoints "
                          "(http:// or https:// targets) only; drop them")
    if output is not None and fmt != "onnx":
        raise ConfigError(f"{path}: --output names an output of an ONNX model or an endpoint; drop it")
    if fmt == "logits":
        if adapter != InputAdapter():
            raise ConfigError(f"{path} holds precomputed outputs: --input-layout/--input-mean/--input-std apply to "
                              "models only; drop them")
        return AuditTarget("logits", path, logits=_load_logits(path), adapter=adapter)
    from muaudit.targets.model_files import open_model_file  # torch: not for logits

    return open_model_file(path, fmt, context, arch=arch, adapter=adapter, device=device, output=output)


def adapter_from_meta(adapter: InputAdapter, meta: dict, path, input_shape=None) -> InputAdapter:
    """Without input options, a checkpoint unlearned through an adapter (meta ``input_adapter``) is
    run through the same one, checked like the options (one value or one per channel of
    ``input_shape``, finite in float32)."""
    saved = meta.get("input_adapter")
    if adapter != InputAdapter() or not isinstance(saved, dict):
        return adapter
    try:
        return InputAdapter.from_options(saved.get("layout", "auto"), saved.get("mean"), saved.get("std"),
                                         input_shape=input_shape)
    except ConfigError as e:
        raise CheckpointError(f"{path}: meta 'input_adapter' is not valid ({e})") from None


def _load_logits(path: Path) -> np.ndarray:
    arr = read_npy(path, "logits file", CheckpointError)
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.floating) or 0 in arr.shape:
        raise CheckpointError(f"logits file {path} must be float [N, C] or [N, V, C], got {arr.dtype} {arr.shape}")
    if not np.isfinite(arr).all():
        raise CheckpointError(f"logits file {path} contains NaN or inf")
    return (arr[:, None, :] if arr.ndim == 2 else arr).astype(np.float32)


