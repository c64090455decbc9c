"""ROC curve, AUC, balanced accuracy and TPR at a fixed FPR; labels 1 = member, higher score = member.

Every function takes ``(y_true, y_score)`` in scikit-learn's order (labels first, then scores).

All functions agree with scikit-learn (``roc_curve``, ``roc_auc_score``); tests check that. The
curve itself is computed here in NumPy (scikit-learn's algorithm: one threshold per distinct score),
because importing ``sklearn.metrics`` (it pulls pandas) costs more than a whole audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from muaudit.checks import as_labels_scores, check_unit_interval


def roc(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fpr, tpr, thresholds)`` of "member if score >= threshold", every threshold kept.

    Args:
        y_true: bool or 0/1 ``[n]``, True = member.
        y_score: float ``[n]``, higher = member.

    Example:
        >>> fpr, tpr, thr = roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    return roc_curve(*as_labels_scores(y_true, y_score))


def roc_curve(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=False)`` for checked bool
    ``y_true`` and float ``y_score`` (no checks: :func:`roc` checks).

    Example:
        >>> fpr, tpr, thr = roc_curve(np.array([False, True]), np.array([0.2, 0.9]))
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 1.0], [0.0, 1.0, 1.0])
    """
    y, s = y_true, y_score
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # last position of every distinct score
    tps = np.cumsum(y, dtype=np.float64)[last]
    fps = 1.0 + last - tps
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps / fps[-1], tps / tps[-1], np.r_[np.inf, s[last]]


def auc(y_true, y_score) -> float:
    """Area under the ROC curve (ties count one half); 0.5 = chance, 1 = perfect separation.

    Example:
        >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    fpr, tpr, _ = roc(y_true, y_score)
    return float(np.trapezoid(tpr, fpr))


def balanced_accuracy(y_true, y_score) -> float:
    """Best balanced accuracy over thresholds, ``max(1 - (FPR + FNR) / 2)``; at least 0.5.

    Example:
        >>> balanced_accuracy([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    fpr, tpr, _ = roc(y_true, y_score)
    return float(np.max(1.0 - (fpr + (1.0 - tpr)) / 2.0))


@dataclass(frozen=True)
class TprAtFpr:
    """TPR at a target FPR ``alpha``; ``tpr`` is None when ``measurable`` is False.

    Attributes:
        alpha: the FPR budget.
        tpr: the largest TPR among thresholds whose FPR <= alpha (None if unmeasurable).
        fpr: the FPR actually reached at that threshold (<= alpha).
        threshold: the score threshold ("member if score >= threshold").
        n_true_positives: members above the threshold (for a binomial interval).
        n_pos, n_neg: numbers of members and non-members.
        measurable: False when ``alpha < 1 / n_neg``: no threshold can have FPR in (0, alpha].

    Example:
        >>> t = tpr_at_fpr([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1], alpha=0.5)
        >>> isinstance(t, TprAtFpr), t.tpr, t.measurable
        (True, 1.0, True)
    """

    alpha: float
    tpr: float | None
    fpr: float | None
    threshold: float | None
    n_true_positives: int | None
    n_pos: int
    n_neg: int
    measurable: bool


def tpr_at_fpr(y_true, y_score, alpha: float) -> TprAtFpr:
    """The largest TPR among thresholds with FPR <= ``alpha``; no interpolation above ``alpha``.

    When ``alpha < 1 / n_neg`` the only admissible thresholds have FPR = 0, so the value says
    nothing about FPR ``alpha``: the result is marked unmeasurable (``tpr=None``).

    Example:
        >>> r = tpr_at_fpr([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.5)
        >>> r.tpr, r.fpr, r.measurable
        (1.0, 0.5, True)
        >>> tpr_at_fpr([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.1).measurable
        False
    """
    alpha = check_unit_interval("alpha", alpha)
    y, s = as_labels_scores(y_true, y_score)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if alpha < 1.0 / n_neg:
        return TprAtFpr(alpha, None, None, None, None, n_pos, n_neg, False)
    fpr, tpr, thr = roc_curve(y, s)
    ok = np.flatnonzero(fpr <= alpha)
    best = ok[np.argmax(tpr[ok])]
    tp = int(round(tpr[best] * n_pos))
    return TprAtFpr(alpha, float(tpr[best]), float(fpr[best]), float(thr[best]), tp, n_pos, n_neg, True)
