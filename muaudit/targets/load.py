"""Loading any ``--target`` into one object: a runnable model (or logits) plus its input adapter.

Formats: muaudit checkpoints, raw state_dicts (``.pt``, with ``--arch`` or the pool's arch),
safetensors state_dicts (same), TorchScript archives, ONNX models (onnxruntime) and precomputed
logits ``.npy``. :meth:`AuditTarget.outputs` gives the ``[N, V, C]`` log-scores an audit uses,
with the adapter resolved and probability outputs converted; :meth:`AuditTarget.describe` is
what ``results.json`` records about the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from muaudit.errors import ArchitectureMismatch, CheckpointError, ConfigError
from muaudit.models import build_model, load_state, load_target, read_checkpoint
from muaudit.models.checkpoint import _is_torchscript
from muaudit.targets.adapter import InputAdapter
from muaudit.targets.formats import OnnxRunner, detect_format, read_safetensors
from muaudit.targets.v2 import is_endpoint
from muaudit.targets.runner import (TorchRunner, layer_kinds, n_parameters, predict_outputs, resolve_adapter,
                                   to_log_scores)
from muaudit.models.factory import allowed_arch
from muaudit.paths import existing_file
from muaudit.training.device import select_device


@dataclass
class AuditTarget:
    """A target of an audit.

    Attributes:
        kind: ``checkpoint``, ``state_dict``, ``safetensors``, ``torchscript``, ``onnx``, ``logits`` or
            ``endpoint`` (:class:`~muaudit.targets.endpoint.EndpointTarget`).
        path: the file.
        runner: callable numpy batch -> numpy outputs (None for logits).
        logits: precomputed outputs ``[N, V, C]`` (logits targets only).
        meta: muaudit checkpoint meta (``{}`` for other formats).
        model: the ``nn.Module`` of PyTorch targets (None otherwise).
        adapter: the input adapter (layout resolved by :meth:`outputs`).
        n_params: number of weights, when known.
        layer_kinds: the kinds of layers (``conv``, ``linear``, ...), when known.
        output_kind: ``logits`` or ``probabilities (converted ...)``, set by :meth:`outputs`.
    """

    kind: str
    path: Path
    runner: object = None
    logits: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    model: torch.nn.Module | None = None
    adapter: InputAdapter = field(default_factory=InputAdapter)
    n_params: int | None = None
    layer_kinds: list[str] | None = None
    device: str = "cpu"
    output_kind: str | None = None

    def outputs(self, X: np.ndarray, n_classes: int, *, n_views: int = 1, views=None) -> np.ndarray:
        """Log-scores ``[N, V, C]`` of the model on canonical inputs ``X`` under ``views`` (or
        ``n_views``, see :func:`~muaudit.targets.runner.predict_outputs`); not for logits targets."""
        self.adapter = resolve_adapter(self.runner, X, n_classes, self.adapter, source=self.path)
        z = predict_outputs(self.runner, self.adapter, X, n_classes, n_views=n_views, views=views, source=self.path)
        z, self.output_kind = to_log_scores(z)
        return z

    def log_logits(self) -> np.ndarray:
        """The precomputed logits (probabilities converted to log-probabilities)."""
        z, self.output_kind = to_log_scores(self.logits)
        return z

    def describe(self) -> dict:
        """What ``results.json`` records about the target (with the runner's own record, e.g. the
        output an ONNX model or an endpoint is read from)."""
        runner_record = getattr(self.runner, "describe", None)
        return {"kind": self.kind, "input_adapter": self.adapter.to_dict() if self.runner is not None else None,
                "outputs": self.output_kind, "n_params": self.n_params, "layer_kinds": self.layer_kinds,
                "device": self.device if self.runner is not None else None,
                **(runner_record() if callable(runner_record) else {})}


def load_model_target(path, *, arch: str | None = None, default_arch: str | None = None,
                      default_kwargs: dict | None = None, input_shape=None, n_classes: int | None = None,
                      adapter: InputAdapter | None = None, device=None, output: str | None = None,
                      query=None) -> AuditTarget:
    """Load ``--target``. A state_dict (``.pt`` or safetensors) without ``arch`` is built as
    ``default_arch`` with ``default_kwargs`` (the pool's); ``arch`` equal to ``default_arch`` also
    takes ``default_kwargs``. An ``http(s)://`` URL is a deployed model
    (:mod:`~muaudit.targets.endpoint`, queried as ``query``, a
    :class:`~muaudit.targets.v2.QueryOptions`); ``output`` names the output of an ONNX model or an
    endpoint to read (default: the one of shape ``[N, n_classes]``)."""
    if is_endpoint(path):
        from muaudit.targets.endpoint import load_endpoint_target

        return load_endpoint_target(path, adapter=adapter, output=output, query=query)
    path, dev = existing_file(path, "target", CheckpointError), select_device(device)
    adapter = adapter or InputAdapter()
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
        t = load_target(path)
        return AuditTarget("logits", path, logits=t.logits, adapter=adapter)
    if fmt == "onnx":
        runner = OnnxRunner(path, dev, output=output, n_classes=n_classes)
        return AuditTarget("onnx", path, runner=runner, adapter=adapter, n_params=runner.n_params,
                           layer_kinds=runner.layer_kinds, device=runner.provider)
    if fmt == "safetensors":
        model = _state_model(path, read_safetensors(path), arch, default_arch, default_kwargs, input_shape, n_classes)
        return _torch_target("safetensors", path, model, {}, adapter, dev)
    if _is_torchscript(path):
        t = load_target(path)
        return _torch_target("torchscript", path, t.model, {}, adapter, dev)
    state, meta = read_checkpoint(path)
    if not meta:
        model = _state_model(path, state, arch, default_arch, default_kwargs, input_shape, n_classes)
        return _torch_target("state_dict", path, model, {}, adapter, dev)
    kwargs = default_kwargs if arch is not None and arch == default_arch and arch != meta.get("arch") else None
    t = load_target(path, arch=arch, arch_kwargs=kwargs, input_shape=input_shape, n_classes=n_classes)
    return _torch_target(t.kind, path, t.model, t.meta, adapter_from_meta(adapter, t.meta, path, input_shape), dev)


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


def _state_model(path, state, arch, default_arch, default_kwargs, input_shape, n_classes):
    """A raw state_dict loaded into ``arch`` (default: the pool's); a misfit of the pool's
    architecture says to pass the target's own with --arch."""
    name, kwargs = _arch_for_state(path, arch, default_arch, default_kwargs)
    try:
        return load_state(_build(name, kwargs, input_shape, n_classes, path), state, path)
    except ArchitectureMismatch as e:
        if arch is not None:
            raise
        raise ArchitectureMismatch(f"{e}; it was built as the pool's architecture {name!r}: pass --arch with the "
                              "target's own") from None


def _arch_for_state(path, arch, default_arch, default_kwargs) -> tuple[str, dict]:
    if arch is None and default_arch is None:
        raise CheckpointError(f"{path} is a raw state_dict; pass --arch (or use a pool whose arch fits)")
    if arch is None:  # the pool's architecture: a file names it, so only a built-in name is built
        return allowed_arch(default_arch, source="the pool's recipe ([model] arch)"), dict(default_kwargs or {})
    if arch == default_arch:
        return arch, dict(default_kwargs or {})
    return arch, {}


def _build(arch, kwargs, input_shape, n_classes, path):
    if input_shape is None or n_classes is None:
        raise CheckpointError(f"{path} is a state_dict: building {arch!r} needs the dataset's input shape and "
                              "n_classes; pass --pool")
    return build_model(arch, input_shape, n_classes, **kwargs)


def _torch_target(kind, path, model, meta, adapter, dev) -> AuditTarget:
    return AuditTarget(kind, path, runner=TorchRunner(model, dev), meta=meta, model=model, adapter=adapter,
                       n_params=n_parameters(model), layer_kinds=layer_kinds(model), device=str(dev))
