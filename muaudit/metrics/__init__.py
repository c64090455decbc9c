"""Metrics of membership attacks: ROC, AUC, TPR at low FPR, intervals and epsilon lower bounds.

Pure functions over numpy arrays. Convention everywhere: arguments ``(y_true, y_score)`` in
scikit-learn's order; labels True / 1 = member, and a higher score means "member". :func:`summarize` gives the standard block written to ``results.json``.
"""

from muaudit.checks import StatisticsWarning
from muaudit.metrics.epsilon import epsilon_from_counts, epsilon_lower_bound
from muaudit.metrics.intervals import bootstrap_auc_ci, clopper_pearson
from muaudit.metrics.roc import TprAtFpr, auc, balanced_accuracy, roc, tpr_at_fpr
from muaudit.metrics.summary import DEFAULT_FPRS, balanced_accuracy_ci, summarize, tpr_at_fpr_block

__all__ = [
    "DEFAULT_FPRS",
    "StatisticsWarning",
    "TprAtFpr",
    "auc",
    "balanced_accuracy",
    "balanced_accuracy_ci",
    "bootstrap_auc_ci",
    "clopper_pearson",
    "epsilon_from_counts",
    "epsilon_lower_bound",
    "roc",
    "summarize",
    "tpr_at_fpr",
    "tpr_at_fpr_block",
]
