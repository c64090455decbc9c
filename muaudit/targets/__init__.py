"""Targets of an audit: a target is ``(model or logits, input adapter)``, opened by one loader.

- :func:`open_target` (:mod:`~muaudit.targets.load`): the one entry point that turns whatever
  names a target (a file of any format, an endpoint URL, an ``nn.Module``, a logits array) into an
  :class:`AuditTarget` (:mod:`~muaudit.targets.target`); :class:`TargetContext` is what the audit's
  data says about it (input shape, classes, fingerprint, the pool's architecture).
- :mod:`~muaudit.targets.adapter`: :class:`InputAdapter` (layout nchw / nhwc / flat, per-channel
  mean / std), recorded in results.
- :mod:`~muaudit.targets.runner`: running PyTorch / TorchScript models, probing the layout,
  turning probabilities into log-probabilities; every model failure is a :class:`CheckpointError`.
- :mod:`~muaudit.targets.formats`: ONNX (onnxruntime) and safetensors.
- :mod:`~muaudit.targets.outputs`: which output of a model with several is the class scores.
- :mod:`~muaudit.targets.v2` and :mod:`~muaudit.targets.endpoint`: deployed models behind the Open
  Inference Protocol (v2 REST): the HTTP client, and the endpoint as a target.
- :mod:`~muaudit.targets.compat`: the ``compatibility`` block of an audit (target vs pool).
"""

from muaudit.targets.adapter import LAYOUTS, InputAdapter
from muaudit.targets import compat
from muaudit.targets.load import TargetContext, adapter_from_meta, open_target
from muaudit.targets.target import AuditTarget

__all__ = ["AuditTarget", "InputAdapter", "LAYOUTS", "TargetContext", "adapter_from_meta", "compat", "open_target"]
