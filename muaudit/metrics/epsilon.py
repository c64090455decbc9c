"""A lower bound on the differential-privacy epsilon implied by a membership attack.

An (epsilon, delta)-DP training algorithm forces every membership test to satisfy
``FPR + e^eps * FNR >= 1 - delta`` and ``FNR + e^eps * FPR >= 1 - delta``. An attack with
small error rates therefore proves ``eps >= max(log((1-delta-FPR)/FNR), log((1-delta-FNR)/FPR))``.
To keep the bound honest the threshold is chosen on one half of the examples and the error rates
are measured on the other half, with Clopper-Pearson upper bounds in place of the point values.
"""

from __future__ import annotations

import numpy as np

from muaudit.checks import as_labels_scores, check_unit_interval, warn
from muaudit.metrics.intervals import clopper_pearson
from muaudit.metrics.roc import roc_curve


def epsilon_from_counts(fp, fn, n_neg: int, n_pos: int, *, delta: float = 1e-5,
                        level: float = 0.95) -> np.ndarray:
    """The epsilon bound for ``fp`` false positives and ``fn`` false negatives (arrays broadcast).

    Uses the upper ends of the two-sided Clopper-Pearson intervals of FPR and FNR (jointly valid
    at ``level`` by the union bound). Never negative, never inf or NaN: a term whose numerator
    ``1 - delta - rate`` is not positive contributes 0.

    Example:
        >>> round(float(epsilon_from_counts(0, 0, 500, 500)), 2)
        4.91
    """
    fpr_hi = np.asarray(clopper_pearson(fp, n_neg, level=level)[1], dtype=np.float64)
    fnr_hi = np.asarray(clopper_pearson(fn, n_pos, level=level)[1], dtype=np.float64)
    return np.maximum(_log_ratio(1.0 - delta - fpr_hi, fnr_hi), _log_ratio(1.0 - delta - fnr_hi, fpr_hi))


def _log_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``max(log(num / den), 0)``, and 0 where ``num <= 0`` (``den`` is a CP upper bound, > 0)."""
    ok = num > 0
    out = np.zeros(np.broadcast(num, den).shape)
    out[ok] = np.log(np.broadcast_to(num, out.shape)[ok] / np.broadcast_to(den, out.shape)[ok])
    return np.maximum(out, 0.0)


def _split_halves(y: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of the example indices in two halves, stratified by label."""
    rng = np.random.default_rng(random_state)
    first, second = [], []
    for cls in (True, False):
        idx = rng.permutation(np.flatnonzero(y == cls))
        first.append(idx[: idx.size // 2])
        second.append(idx[idx.size // 2:])
    return np.concatenate(first), np.concatenate(second)


def epsilon_lower_bound(y_true, y_score, *, delta: float = 1e-5, level: float = 0.95,
                        random_state: int = 0) -> float:
    """Epsilon lower bound (delta default 1e-5) with the threshold picked on a held-out half.

    The examples are split in two halves (seeded, stratified). On the first half the threshold
    maximising :func:`epsilon_from_counts` is chosen; the bound is then computed on the second
    half at that threshold ("member if score >= threshold"). Returns 0.0 with a warning when a
    half has no member or no non-member.

    Args:
        y_true: bool or 0/1 ``[n]``, True = member.
        y_score: float ``[n]``, higher = member.

    Example:
        >>> s = np.r_[np.full(1000, 1.0), np.full(1000, 0.0)]
        >>> round(epsilon_lower_bound(s > 0.5, s), 2)
        4.91
    """
    delta = check_unit_interval("delta", delta)
    y, s = as_labels_scores(y_true, y_score)
    a, b = _split_halves(y, random_state)
    if min(y[a].sum(), (~y[a]).sum(), y[b].sum(), (~y[b]).sum()) == 0:
        warn("epsilon lower bound needs >= 2 members and >= 2 non-members; returning 0.0")
        return 0.0
    fpr, tpr, thr = roc_curve(y[a], s[a])
    na_pos, na_neg = int(y[a].sum()), int((~y[a]).sum())
    fp_a = np.rint(fpr * na_neg)
    fn_a = np.rint((1.0 - tpr) * na_pos)
    t = thr[int(np.argmax(epsilon_from_counts(fp_a, fn_a, na_neg, na_pos, delta=delta, level=level)))]
    pos_b, neg_b = s[b][y[b]], s[b][~y[b]]
    fp_b, fn_b = int((neg_b >= t).sum()), int((pos_b < t).sum())
    return float(epsilon_from_counts(fp_b, fn_b, neg_b.size, pos_b.size, delta=delta, level=level))
