"""Per-example signals computed stably from logits: phi, loss, confidence, correctness.

Logits are ``float [..., C]`` (e.g. ``[N, C]``, ``[N, V, C]`` or ``[M, N, V, C]``) and labels are
``int [N]``; the example axis is the one of length N just before the views (``-3`` for 4-D
input, ``0`` otherwise). Every function returns the logits' shape without the class axis, in
float64. Nothing ever calls ``exp`` on a raw logit, so logits of magnitude 1e4 are fine.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_expit, logsumexp

from muaudit.errors import DataError
from muaudit.metrics._checks import check_finite


def _logits_labels(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate; return float64 logits and labels broadcastable to ``logits.shape[:-1]``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim not in (2, 3, 4):
        raise DataError(f"Expected logits of shape [N, C], [N, V, C] or [M, N, V, C], got {z.shape}")
    axis = 1 if z.ndim == 4 else 0
    if y.ndim != 1 or y.shape[0] != z.shape[axis] or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"Expected integer `labels` of shape [{z.shape[axis]}], got {y.dtype} {y.shape}")
    n_classes = z.shape[-1]
    if n_classes < 2:
        raise DataError(f"Expected at least 2 classes in the last logits axis, got {n_classes}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"Expected `labels` in [0, {n_classes - 1}], got values in [{y.min()}, {y.max()}]")
    check_finite("logits", z)
    shape = [1] * (z.ndim - 1)
    shape[axis] = y.shape[0]
    return z, y.reshape(shape)


def _true_logit(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.take_along_axis(z, np.broadcast_to(y, z.shape[:-1])[..., None], axis=-1)[..., 0]


def _others_mask(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[..., C]`` True where the class is not the example's label."""
    return np.arange(z.shape[-1]) != y[..., None]


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    """phi = ``log p_y - log(sum_{j != y} p_j)`` = ``z_y - logsumexp_{j != y} z_j`` (the LiRA statistic).

    Exactly the logit of the true-class softmax probability: ``p_y = expit(phi)``.

    Example:
        >>> float(logit_scaled_confidence([[1e4, 0.0, -1e4]], [0])[0])
        10000.0
    """
    z, y = _logits_labels(logits, labels)
    others = logsumexp(np.where(_others_mask(z, y), z, -np.inf), axis=-1)
    return _true_logit(z, y) - others


def cross_entropy_loss(logits, labels) -> np.ndarray:
    """Per-example cross-entropy ``-log p_y = logsumexp(z) - z_y`` (never negative).

    Example:
        >>> round(float(cross_entropy_loss([[0.0, 0.0]], [1])[0]), 4)
        0.6931
    """
    z, y = _logits_labels(logits, labels)
    return np.maximum(logsumexp(z, axis=-1) - _true_logit(z, y), 0.0)


def confidence(logits, labels) -> np.ndarray:
    """The softmax probability of the true label, ``p(y|x)`` (SalUn's "confidence", RMIA's signal)."""
    return np.exp(-cross_entropy_loss(logits, labels))


def correctness(logits, labels) -> np.ndarray:
    """1.0 where the top-1 prediction equals the label, else 0.0 (Deep Unlearn's U-LiRA statistic)."""
    z, y = _logits_labels(logits, labels)
    return (np.argmax(z, axis=-1) == y).astype(np.float64)


def log_probability_from_phi(phi) -> np.ndarray:
    """``log p(y|x)`` from phi, exactly and stably: ``log expit(phi)``."""
    return log_expit(np.asarray(phi, dtype=np.float64))


def loss_from_phi(phi) -> np.ndarray:
    """Cross-entropy ``-log p(y|x)`` from phi: ``softplus(-phi)``."""
    return -log_probability_from_phi(phi)
