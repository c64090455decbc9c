"""Model files and in-memory modules as targets (PyTorch and ONNX): what :func:`~muaudit.targets.open_target`
does once a target is a model, apart from :mod:`~muaudit.targets.load` so that an audit of
precomputed logits never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from muaudit.errors import ArchitectureMismatch, CheckpointError, reason
from muaudit.models import build_model, load_state, read_checkpoint
from muaudit.models.checkpoint import check_finite, is_torchscript, model_from_meta
from muaudit.models.factory import allowed_arch
from muaudit.targets.adapter import InputAdapter
from muaudit.targets.formats import OnnxRunner, read_safetensors
from muaudit.targets.load import TargetContext, adapter_from_meta
from muaudit.targets.runner import TorchRunner, layer_kinds, n_parameters
from muaudit.targets.target import AuditTarget
from muaudit.training.device import select_device


def open_model_file(path: Path, fmt: str, context: TargetContext, *, arch, adapter: InputAdapter, device,
                    output) -> AuditTarget:
    """The model in file ``path`` of format ``fmt`` (``onnx``, ``safetensors`` or ``torch``: a
    checkpoint, a raw state_dict or a TorchScript archive), run on ``device``."""
    dev = select_device(device)
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


def module_target(model: nn.Module) -> AuditTarget:
    """An in-memory module as a target, run on the CPU."""
    return AuditTarget("module", Path(f"<{type(model).__name__}>"), runner=TorchRunner(model, torch.device("cpu")),
                       model=model, n_params=n_parameters(model), layer_kinds=layer_kinds(model))


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


def _torch_target(kind, path, model, meta, adapter, dev) -> AuditTarget:
    return AuditTarget(kind, path, runner=TorchRunner(model, dev), meta=meta, model=model, adapter=adapter,
                       n_params=n_parameters(model), layer_kinds=layer_kinds(model), device=str(dev))
