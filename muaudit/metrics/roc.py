"""ROC curve, AUC, balanced accuracy and TPR at a fixed FPR; labels 1 = member, higher score = member.

All functions agree with scikit-learn (``roc_curve``, ``roc_auc_score``); tests check that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from muaudit.checks import as_scores_labels, check_unit_interval


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fpr, tpr, thresholds)`` of "member if score >= threshold", every threshold kept.

    Args:
        scores: float ``[n]``, higher = member.
        labels: bool or 0/1 ``[n]``, True = member.

    Example:
        >>> fpr, tpr, thr = roc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s, y = as_scores_labels(scores, labels)
    return skm.roc_curve(y, s, drop_intermediate=False)


def auc(scores, labels) -> float:
    """Area under the ROC curve (ties count one half); 0.5 = chance, 1 = perfect separation.

    Example:
        >>> auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    fpr, tpr, _ = roc(scores, labels)
    return float(skm.auc(fpr, tpr))


def balanced_accuracy(scores, labels) -> float:
    """Best balanced accuracy over thresholds, ``max(1 - (FPR + FNR) / 2)``; at least 0.5.

    Example:
        >>> balanced_accuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    fpr, tpr, _ = roc(scores, labels)
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
        >>> t = tpr_at_fpr([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0], alpha=0.5)
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


def tpr_at_fpr(scores, labels, alpha: float) -> TprAtFpr:
    """The largest TPR among thresholds with FPR <= ``alpha``; no interpolation above ``alpha``.

    When ``alpha < 1 / n_neg`` the only admissible thresholds have FPR = 0, so the value says
    nothing about FPR ``alpha``: the result is marked unmeasurable (``tpr=None``).

    Example:
        >>> r = tpr_at_fpr([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5)
        >>> r.tpr, r.fpr, r.measurable
        (1.0, 0.5, True)
        >>> tpr_at_fpr([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.1).measurable
        False
    """
    alpha = check_unit_interval("alpha", alpha)
    s, y = as_scores_labels(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if alpha < 1.0 / n_neg:
        return TprAtFpr(alpha, None, None, None, None, n_pos, n_neg, False)
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    ok = np.flatnonzero(fpr <= alpha)
    best = ok[np.argmax(tpr[ok])]
    tp = int(round(tpr[best] * n_pos))
    return TprAtFpr(alpha, float(tpr[best]), float(fpr[best]), float(thr[best]), tp, n_pos, n_neg, True)
