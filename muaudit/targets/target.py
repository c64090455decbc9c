"""The object every audit reads a target through: :class:`AuditTarget` (a runnable model or
precomputed logits, plus its input adapter). :func:`~muaudit.targets.open_target` makes one from
whatever names a target (a file, an endpoint URL, a module, a logits array)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from muaudit.targets.adapter import InputAdapter
from muaudit.targets.runner import predict_outputs, resolve_adapter, to_log_scores

if TYPE_CHECKING:
    import torch


@dataclass
class AuditTarget:
    """A target of an audit.

    Attributes:
        kind: ``checkpoint``, ``state_dict``, ``safetensors``, ``torchscript``, ``onnx``, ``logits``,
            ``module`` (an in-memory ``nn.Module``) or ``endpoint``
            (:class:`~muaudit.targets.endpoint.EndpointTarget`).
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
