"""Third-party targets: a target is ``(model or logits, input adapter)``.

- :mod:`~muaudit.targets.adapter`: :class:`InputAdapter` (layout nchw / nhwc / flat, per-channel
  mean / std), recorded in results.
- :mod:`~muaudit.targets.runner`: running PyTorch / TorchScript models, probing the layout,
  turning probabilities into log-probabilities; every model failure is a :class:`CheckpointError`.
- :mod:`~muaudit.targets.formats`: ONNX (onnxruntime) and safetensors.
- :mod:`~muaudit.targets.outputs`: which output of a model with several is the class scores.
- :mod:`~muaudit.targets.v2` and :mod:`~muaudit.targets.endpoint`: deployed models behind the Open
  Inference Protocol (v2 REST): the HTTP client, and the endpoint as a target.
- :mod:`~muaudit.targets.load`: :func:`load_model_target`, one loader for every ``--target``.
- :mod:`~muaudit.targets.compat`: the ``compatibility`` block of an audit (target vs pool).
"""

from muaudit.targets.adapter import LAYOUTS, InputAdapter
from muaudit.targets import compat
from muaudit.targets.load import AuditTarget, load_model_target

__all__ = ["AuditTarget", "InputAdapter", "LAYOUTS", "compat", "load_model_target"]
