"""Per-example signals computed stably from logits: phi, loss, confidence, correctness.

Logits are ``float [..., C]`` (e.g. ``[N, C]``, ``[N, V, C]`` or ``[M, N, V, C]``) and labels are
``int [N]`` (or ``[1, N]``); the example axis is the one of length N just before the views
(``-3`` for 4-D input, ``0`` otherwise). Every function returns the logits' shape without the class axis, in
float64. Nothing ever calls ``exp`` on a raw logit, so logits of magnitude 1e4 are fine.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_expit, logsumexp

from muaudit.errors import DataError
from muaudit.checks import check_finite


def _logits_labels(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate; return the logits (floating, not copied) and labels shaped to broadcast over them."""
    z = np.asarray(logits)
    z = z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)
    y = np.asarray(labels)
    if y.ndim > 1 and all(d == 1 for d in y.shape[:-1]):
        y = y.reshape(-1)  # e.g. labels[None] for [M, N, V, C] logits
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
    return z, y.reshape((y.size,) + (1,) * (z.ndim - 2 - axis))


def _per_model(kernel, logits, labels) -> np.ndarray:
    """Apply ``kernel(float64 logits [N, (V,) C], labels) -> [N, (V)]``, one model at a time for 4-D
    input and a block of examples at a time (each example's value is computed from its own row
    alone), so that the float64 working copies stay small (a few MiB, not a few times the logits)."""
    z, y = _logits_labels(logits, labels)
    if z.ndim == 4:
        return np.stack([_per_block(kernel, z[m], y) for m in range(z.shape[0])])
    return _per_block(kernel, z, y)


_BLOCK = 1 << 18  # logits per block of examples (2 MiB of float64)


def _per_block(kernel, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    step = max(1, _BLOCK // max(1, int(np.prod(z.shape[1:]))))
    if len(z) <= step:
        return kernel(z.astype(np.float64), y)
    return np.concatenate([kernel(z[s:s + step].astype(np.float64), y[s:s + step]) for s in range(0, len(z), step)])


def _true_logit(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.take_along_axis(z, np.broadcast_to(y, z.shape[:-1])[..., None], axis=-1)[..., 0]


def _phi(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    others = np.where(np.arange(z.shape[-1]) != y[..., None], z, -np.inf)
    return _true_logit(z, y) - logsumexp(others, axis=-1)


def _loss(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(logsumexp(z, axis=-1) - _true_logit(z, y), 0.0)


def _correct(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (np.argmax(z, axis=-1) == y).astype(np.float64)


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    """phi = ``log p_y - log(sum_{j != y} p_j)`` = ``z_y - logsumexp_{j != y} z_j`` (the LiRA statistic).

    Exactly the logit of the true-class softmax probability: ``p_y = expit(phi)``.

    Example:
        >>> float(logit_scaled_confidence([[1e4, 0.0, -1e4]], [0])[0])
        10000.0
    """
    return _per_model(_phi, logits, labels)


def cross_entropy_loss(logits, labels) -> np.ndarray:
    """Per-example cross-entropy ``-log p_y = logsumexp(z) - z_y`` (never negative).

    Example:
        >>> round(float(cross_entropy_loss([[0.0, 0.0]], [1])[0]), 4)
        0.6931
    """
    return _per_model(_loss, logits, labels)


def confidence(logits, labels) -> np.ndarray:
    """The softmax probability of the true label, ``p(y|x)`` (SalUn's "confidence", RMIA's signal).

    Example:
        >>> confidence([[0.0, 0.0]], [1]).tolist()
        [0.5]
    """
    return np.exp(-cross_entropy_loss(logits, labels))


def correctness(logits, labels) -> np.ndarray:
    """1.0 where the top-1 prediction equals the label, else 0.0 (Deep Unlearn's U-LiRA statistic).

    Example:
        >>> correctness([[2.0, 1.0], [2.0, 1.0]], [0, 1]).tolist()
        [1.0, 0.0]
    """
    return _per_model(_correct, logits, labels)


def log_probability_from_phi(phi) -> np.ndarray:
    """``log p(y|x)`` from phi, exactly and stably: ``log expit(phi)``.

    Example:
        >>> log_probability_from_phi(np.array([0.0])).round(4).tolist()     # p = 1/2
        [-0.6931]
    """
    return log_expit(np.asarray(phi, dtype=np.float64))


def loss_from_phi(phi) -> np.ndarray:
    """Cross-entropy ``-log p(y|x)`` from phi: ``softplus(-phi)``.

    Example:
        >>> loss_from_phi(np.array([0.0, 50.0])).round(4).tolist()
        [0.6931, 0.0]
    """
    return -log_probability_from_phi(phi)
