"""Running a third-party model: batches in, ``[N, V, C]`` log-scores out, every failure an Error.

A runner is a callable ``numpy [B, ...] -> numpy [B, ...]`` for one framework (PyTorch modules
and TorchScript archives, ONNX sessions). :func:`resolve_adapter` probes which input layout the
model accepts; :func:`predict_outputs` runs the whole population through the adapter, and turns
probability outputs (rows non-negative and summing to 1) into log-probabilities.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from muaudit.errors import CheckpointError
from muaudit.targets.adapter import InputAdapter, candidate_layouts
from muaudit.training.views import apply_view_numpy, resolve_views

if TYPE_CHECKING:  # torch is imported where a model is run: an audit of logits never loads it
    import torch
    from torch import nn

PROBE_SIZE = 16



class ModelCallError(Exception):
    """A third-party model raised (or returned something unusable) on a batch."""


def describe_error(e: BaseException) -> str:
    """An exception's whole message on one line (its lines joined); for TorchScript (which prints
    its own traceback first) the message from the last ``...Error:`` line on, where the actual
    error is (a multi-line message is kept whole)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
    if len(lines) > 1 and "TorchScript" in lines[0]:
        starts = [i for i, line in enumerate(lines) if _NAMED.match(line)]
        lines = lines[starts[-1]:] if starts else lines[-1:]
    text = " / ".join(lines)
    return text[:600] if _NAMED.match(text) else f"{type(e).__name__}: {text[:560]}"


_NAMED = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


class TorchRunner:
    """An ``nn.Module`` or TorchScript module in eval mode on ``device``."""

    framework = "torch"

    def __init__(self, model: nn.Module, device: torch.device):
        self.device = device
        try:
            self.model = model.to(device).eval()
        except Exception as e:  # a TorchScript module can refuse a device
            raise CheckpointError(f"cannot move the target to {device} ({describe_error(e)})") from None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        try:
            with torch.no_grad():
                out = self.model(torch.as_tensor(x, device=self.device))
        except Exception as e:  # anything a third-party forward raises
            raise ModelCallError(describe_error(e)) from None
        if isinstance(out, dict) and "logits" in out:  # e.g. Hugging Face style outputs
            out = out["logits"]
        if isinstance(out, (tuple, list)) and out:
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ModelCallError(f"the model returned {type(out).__name__}, not a tensor")
        return out.float().cpu().numpy()


def n_parameters(model) -> int | None:
    try:
        return int(sum(p.numel() for p in model.parameters()))
    except Exception:  # noqa: BLE001 - an exotic module: unknown
        return None


KINDS = {"Conv": "conv", "Linear": "linear", "BatchNorm": "norm", "LayerNorm": "norm", "GroupNorm": "norm",
         "LSTM": "recurrent", "GRU": "recurrent", "RNN": "recurrent", "MultiheadAttention": "attention"}


def layer_kinds(model) -> list[str] | None:
    """The kinds of layers a module is built of (``conv``, ``linear``, ``norm``, ``recurrent``,
    ``attention``); TorchScript modules keep their layers' class names, so this works on them too."""
    try:
        names = [getattr(m, "original_name", type(m).__name__) for m in model.modules()]
    except Exception:  # noqa: BLE001 - an exotic module: unknown
        return None
    return sorted({kind for n in names for prefix, kind in KINDS.items() if n.startswith(prefix)})


def labels_as_one_hot(z: np.ndarray, n_classes: int) -> np.ndarray:
    """A model that answers with labels ``[B]`` (integers in ``[0, n_classes)``) as one-hot rows
    ``[B, n_classes]`` (then audited label-only); any other output unchanged.

    Example:
        >>> labels_as_one_hot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    z = np.asarray(z)
    if z.ndim != 1 or not z.size or not np.isfinite(z).all() or (z != np.round(z)).any():
        return z
    if z.min() < 0 or z.max() >= n_classes:
        return z
    return np.eye(n_classes, dtype=np.float32)[z.astype(np.int64)]


def _check_output(z: np.ndarray, n: int, n_classes: int) -> str | None:
    if z.shape != (n, n_classes):
        return f"output {list(z.shape)}, expected [{n}, {n_classes}]"
    if not np.isfinite(z).all():
        return "output has NaN/inf"
    return None


def resolve_adapter(runner, X: np.ndarray, n_classes: int, adapter: InputAdapter, *, source) -> InputAdapter:
    """The adapter with its layout fixed: the requested one, or under ``auto`` the first of
    :func:`candidate_layouts` whose probe batch gives finite ``[n, n_classes]`` outputs."""
    layouts = candidate_layouts(X.shape[1:]) if not adapter.resolved else (adapter.layout,)
    probe, tried = X[:PROBE_SIZE], []
    for layout in layouts:
        a = adapter.with_layout(layout)
        xb = a.apply(probe)
        try:
            problem = _check_output(labels_as_one_hot(runner(xb), n_classes), len(probe), n_classes)
        except ModelCallError as e:
            problem = str(e)
        if problem is None:
            return a
        tried.append(f"{layout} {list(xb.shape)}: {problem}")
    raise CheckpointError(f"target {source} accepts none of the input layouts tried ({'; '.join(tried)}); "
                          "pass --input-layout, or export the model to take one of them")


def is_probabilities(z: np.ndarray, atol: float = 1e-3) -> bool:
    """Rows non-negative and summing to 1 (within ``atol``): softmax outputs, not logits."""
    return bool(z.size) and bool((z >= 0).all()) and bool(np.allclose(z.sum(-1), 1.0, atol=atol))


def to_log_scores(z: np.ndarray) -> tuple[np.ndarray, str]:
    """Logits stay; probabilities become log-probabilities (floored at 1e-30). Returns the kind."""
    if is_probabilities(z):
        return np.log(np.maximum(z, 1e-30)).astype(np.float32), "probabilities (converted to log-probabilities)"
    return z.astype(np.float32), "logits"


def predict_outputs(runner, adapter: InputAdapter, X: np.ndarray, n_classes: int, *, n_views: int = 1,
                    views=None, batch_size: int = 1024, source="target") -> np.ndarray:
    """Raw outputs ``[N, V, C]`` of ``runner`` on canonical ``X`` under ``views`` (a recipe's views,
    :func:`~muaudit.training.views.resolve_views`; default ``n_views``: 1 = identity, 2 adds the flip)."""
    views = resolve_views(n_views if views is None else views)
    n_views, out = len(views), []
    for s in range(0, len(X), batch_size):
        xb = X[s:s + batch_size]
        views_b = [apply_view_numpy(xb, v) for v in views]
        try:
            zs = [labels_as_one_hot(runner(adapter.apply(np.ascontiguousarray(x))), n_classes) for x in views_b]
        except ModelCallError as e:
            raise CheckpointError(f"target {source} failed on examples {s}..{s + len(xb) - 1} ({e})") from None
        for z in zs:
            problem = _check_output(z, len(xb), n_classes)
            if problem:
                raise CheckpointError(f"target {source} gave {problem} on examples {s}..{s + len(xb) - 1}")
        out.append(np.stack(zs, axis=1))
    return np.concatenate(out) if out else np.zeros((0, n_views, n_classes), np.float32)
