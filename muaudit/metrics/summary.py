"""The standard block of attack metrics written to ``results.json``."""

from __future__ import annotations

import numpy as np  # noqa: F401  (the examples use it)

from muaudit.checks import as_labels_scores, check_positive_int, check_unit_interval
from muaudit.metrics.epsilon import epsilon_lower_bound
from muaudit.metrics.intervals import bootstrap_auc_ci, clopper_pearson
from muaudit.metrics.roc import auc, balanced_accuracy, tpr_at_fpr

DEFAULT_FPRS = (1e-3, 1e-2, 1e-1)


def _interval(count: int, nobs: int, level: float) -> list[float]:
    lo, hi = clopper_pearson(count, nobs, level=level)
    return [float(lo), float(hi)]


def tpr_at_fpr_block(y_true, y_score, alphas=DEFAULT_FPRS, *, level: float = 0.95) -> dict:
    """``{"0.001": {"tpr", "ci", "fpr", "measurable"}, ...}``: TPR at each FPR with its CP interval.

    Unmeasurable entries (``alpha < 1/n_neg``) have ``tpr``, ``ci`` and ``fpr`` set to None.

    Example:
        >>> block = tpr_at_fpr_block([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1], alphas=(0.1, 0.5))
        >>> block["0.5"]["tpr"], block["0.1"]["measurable"]                 # 2 non-members: FPR 0.1 unmeasurable
        (1.0, False)
    """
    block = {}
    for alpha in alphas:
        r = tpr_at_fpr(y_true, y_score, alpha)
        ci = _interval(r.n_true_positives, r.n_pos, level) if r.measurable else None
        block[f"{alpha:g}"] = {"tpr": r.tpr, "ci": ci, "fpr": r.fpr, "measurable": r.measurable}
    return block


def balanced_accuracy_ci(value: float, n_pos: int, n_neg: int, *, level: float = 0.95) -> list[float]:
    """Clopper-Pearson interval for a balanced accuracy, read as a proportion of ``2 * min(n_pos, n_neg)``.

    Conservative: the effective sample is the balanced subsample the rarer class allows. It does not
    account for the threshold being chosen on the same data (the point value is optimistic).

    Example:
        >>> lo, hi = balanced_accuracy_ci(0.75, n_pos=40, n_neg=100)        # an interval over 80 "trials"
        >>> bool(lo < 0.75 < hi), round(hi - lo, 2)
        (True, 0.2)
    """
    nobs = 2 * min(n_pos, n_neg)
    return _interval(int(round(value * nobs)), nobs, level)


def summarize(y_true, y_score, *, alphas=DEFAULT_FPRS, level: float = 0.95, delta: float = 1e-5,
              n_bootstrap: int = 1000, random_state: int = 0, groups=None) -> dict:
    """The standard metric block of an attack: JSON-ready, no NaN.

    Args:
        y_true: bool or 0/1 ``[n]``, True = member (positive).
        y_score: float ``[n]``, higher = member.
        alphas: FPR budgets for ``tpr_at_fpr`` (keys are ``f"{alpha:g}"``: "0.001", "0.01", "0.1").
        level: confidence level of every interval.
        delta: delta of the epsilon lower bound.
        n_bootstrap, random_state: the seeded AUC bootstrap (and the epsilon split).
        groups: cluster ids ``[n]`` (or ``[k, n]`` for k crossed groupings): the AUC interval
            resamples whole clusters (cases that share an example or a model are not
            independent; see :func:`bootstrap_auc_ci`).

    Returns:
        ``{"auc", "auc_ci", "balanced_accuracy", "balanced_accuracy_ci", "tpr_at_fpr",
        "epsilon_lower_bound", "n_pos", "n_neg", "level"}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> block = summarize(np.arange(1000) < 500, np.r_[rng.normal(2, 1, 500), rng.normal(0, 1, 500)])
        >>> round(block["auc"], 3), block["tpr_at_fpr"]["0.001"]["measurable"]
        (0.932, False)
    """
    level = check_unit_interval("level", level)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    y, s = as_labels_scores(y_true, y_score)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    bacc = balanced_accuracy(y, s)
    return {
        "auc": auc(y, s),
        "auc_ci": list(bootstrap_auc_ci(y, s, level=level, n_bootstrap=n_bootstrap, random_state=random_state,
                                        groups=groups)),
        "balanced_accuracy": bacc,
        "balanced_accuracy_ci": balanced_accuracy_ci(bacc, n_pos, n_neg, level=level),
        "tpr_at_fpr": tpr_at_fpr_block(y, s, alphas, level=level),
        "epsilon_lower_bound": epsilon_lower_bound(y, s, delta=delta, level=level, random_state=random_state),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "level": level,
    }
