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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from muaudit.data.npy import read_npy
from muaudit.errors import ArchitectureMismatch, CheckpointError, ConfigError, reason
from muaudit.models import build_model, load_state, read_checkpoint
from muaudit.models.checkpoint import check_finite, is_torchscript, model_from_meta
from muaudit.models.factory import allowed_arch
from muaudit.paths import existing_file
from muaudit.targets.adapter import InputAdapter
from muaudit.targets.endpoint import load_endpoint_target
from muaudit.targets.formats import OnnxRunner, detect_format, read_safetensors
from muaudit.targets.runner import TorchRunner, layer_kinds, n_parameters
from muaudit.targets.target import AuditTarget
from muaudit.targets.v2 import is_endpoint
from muaudit.training.device import select_device


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
    elif isinstance(target, nn.Module):
        t = AuditTarget("module", Path(f"<{type(target).__name__}>"), runner=TorchRunner(target, torch.device("cpu")),
                        model=target, n_params=n_parameters(target), layer_kinds=layer_kinds(target))
    else:
        t = AuditTarget("logits", Path("<logits array>"), logits=_logits_array(target))
    if adapter is not None and t.runner is not None and not t.adapter.resolved:
        t.adapter = adapter
    return t


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
    path, dev = existing_file(path, "target", CheckpointError), select_device(device)
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
    if fmt == "onnx":
        runner = OnnxRunner(path, dev, output=output, n_classes=context.n_classes)
        return AuditTarget("onnx", path, runner=runner, adapter=adapter, n_params=runner.n_params,
                           layer_kinds=runner.layer_kinds, device=runner.provider)
    if fmt == "safetensors":
        return _torch_target("safetensors", path, _state_model(path, read_safetensors(path), arch, context), {},
                             adapter, dev)
    if is_torchscript(path):
        return _torch_target("torchscript", path, _load_torchscript(path), {}, adapter, dev)
    state, meta = read_checkpoint(path)
    if not meta:
        return _torch_target("state_dict", path, _state_model(path, state, arch, context), {}, adapter, dev)
    kind, model = _checkpoint_model(path, state, meta, arch, context)
    return _torch_target(kind, path, model, meta, adapter_from_meta(adapter, meta, path, context.input_shape), dev)


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


def _checkpoint_model(path, state, meta, arch, context: TargetContext) -> tuple[str, nn.Module]:
    """A muaudit checkpoint in the architecture its meta names; ``--arch`` naming another one
    builds that (with the pool's kwargs when it is the pool's) as a state_dict."""
    if arch in (None, meta.get("arch")):
        return "checkpoint", load_state(model_from_meta(meta, trusted_arch=arch, source=path), state, path)
    if context.input_shape is None or context.n_classes is None:
        raise CheckpointError(f"{path} is a raw state_dict: building {arch!r} needs the dataset's input shape and "
                              "n_classes")
    kwargs = context.arch_kwargs if arch == context.arch else None
    return "state_dict", load_state(build_model(arch, context.input_shape, context.n_classes, **(kwargs or {})),
                                    state, path)


def _state_model(path, state, arch, context: TargetContext):
    """A raw state_dict loaded into ``arch`` (default: the pool's); a misfit of the pool's
    architecture says to pass the target's own with --arch."""
    name, kwargs = _arch_for_state(path, arch, context)
    try:
        return load_state(_build(name, kwargs, context, path), state, path)
    except ArchitectureMismatch as e:
        if arch is not None:
            raise
        raise ArchitectureMismatch(f"{e}; it was built as the pool's architecture {name!r}: pass --arch with the "
                                   "target's own") from None


def _arch_for_state(path, arch, context: TargetContext) -> tuple[str, dict]:
    if arch is None and context.arch is None:
        raise CheckpointError(f"{path} is a raw state_dict; pass --arch (or use a pool whose arch fits)")
    if arch is None:  # the pool's architecture: a file names it, so only a built-in name is built
        return allowed_arch(context.arch, source="the pool's recipe ([model] arch)"), dict(context.arch_kwargs or {})
    if arch == context.arch:
        return arch, dict(context.arch_kwargs or {})
    return arch, {}


def _build(arch, kwargs, context: TargetContext, path):
    if context.input_shape is None or context.n_classes is None:
        raise CheckpointError(f"{path} is a state_dict: building {arch!r} needs the dataset's input shape and "
                              "n_classes; pass --pool")
    return build_model(arch, context.input_shape, context.n_classes, **kwargs)


def _load_torchscript(path: Path) -> nn.Module:
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # torch parsing a hostile archive raises many kinds
        raise CheckpointError(f"{path} is not a loadable TorchScript archive ({reason(e)})") from None
    check_finite(model.state_dict(), path)
    return model.eval()


def _load_logits(path: Path) -> np.ndarray:
    arr = read_npy(path, "logits file", CheckpointError)
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.floating) or 0 in arr.shape:
        raise CheckpointError(f"logits file {path} must be float [N, C] or [N, V, C], got {arr.dtype} {arr.shape}")
    if not np.isfinite(arr).all():
        raise CheckpointError(f"logits file {path} contains NaN or inf")
    return (arr[:, None, :] if arr.ndim == 2 else arr).astype(np.float32)


def _torch_target(kind, path, model, meta, adapter, dev) -> AuditTarget:
    return AuditTarget(kind, path, runner=TorchRunner(model, dev), meta=meta, model=model, adapter=adapter,
                       n_params=n_parameters(model), layer_kinds=layer_kinds(model), device=str(dev))
