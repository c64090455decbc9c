"""Human labels, a glossary and value formatting for reports (HTML, CSV, terminal).

Every number a report shows goes through :func:`format_value`: proportions as percentages,
intervals as ``[lo, hi]``, missing values as ``n/a`` (never ``None``).
"""

from __future__ import annotations

import math
import re

# key in results.json -> (label, glossary text); the glossary of the HTML page is this table.
GLOSSARY: dict[str, tuple[str, str]] = {
    "verdict": ("verdict", "not unlearned (the forget set scores above never-seen examples, p < alpha), "
                "over-unlearned (it scores below them: a retrain would not, so the unlearning is visible), "
                "consistent with retraining (neither, and the audit could have caught a forget set of which only "
                "the max-residual fraction is still remembered), or inconclusive (the reasons are listed)."),
    "effect": ("test statistic", "the statistic the test uses (the mean score of the forget set minus that of the "
               "non-members) with its 95% interval; it can disagree with AUC, which weighs every example equally."),
    "p_value": ("p-value", "one-sided test that the forget examples score higher than known non-members; small "
                "means the model still treats them as training members."),
    "alpha": ("significance level", "the p-value threshold of the verdict."),
    "auc": ("AUC", "area under the ROC curve of forget vs non-member scores: 0.5 = the attack cannot tell them "
            "apart (what a correct unlearning gives), 1 = perfect separation."),
    "auc_ci": ("AUC interval", "95% bootstrap interval of the AUC."),
    "balanced_accuracy": ("balanced accuracy", "best (TPR + TNR) / 2 over thresholds; 50% = chance."),
    "balanced_accuracy_ci": ("balanced accuracy interval", "95% Clopper-Pearson interval."),
    "tpr_at_fpr": ("TPR at FPR", "true positive rate (forget examples flagged) at a fixed false positive rate "
                   "(non-members flagged); unmeasurable when the FPR is below 1 / number of non-members."),
    "epsilon_lower_bound": ("epsilon lower bound", "the differential-privacy epsilon (delta = 1e-5) the attack "
                            "proves the model cannot have; 0 = no evidence of leakage."),
    "n_forget": ("forget examples", "examples claimed unlearned (positives)."),
    "n_nonmembers": ("non-members", "known non-members (negatives), by default the test split."),
    "n_members": ("retained members", "training examples that were not forgotten (the power control's positives)."),
    "power": ("power", "the chance that the test flags a forget set of this size that was NOT unlearned; an audit "
              "below the required power is inconclusive, never a pass."),
    "power_auc": ("power control AUC", "AUC of retained members vs non-members: how well the attack sees "
                  "membership at all on this model."),
    "min_detectable_residual": ("minimum detectable residual", "the smallest fraction of the forget set that could "
                                "still be remembered (as well as the retained members) and be caught with 95% "
                                "power; a pass needs it at most max-residual (docs/power.md)."),
    "compatibility": ("compatibility", "whether the target fits the pool's recipe and data (ok / warn / fail); a "
                      "fail can never give 'consistent with retraining'."),
    "stratified": ("class-stratified permutations", "the permutation test exchanged forget and non-member "
                   "examples only within classes, because their class mixes differ."),
    "ulira_accuracy": ("U-LiRA accuracy", "balanced accuracy at a threshold chosen on held-out targets; 50% = "
                       "the unlearned models are indistinguishable from the reference."),
    "efficacy": ("poisoning efficacy", "(T_init - T_unlearned) / (T_init - T_retrain): 1 = as good as "
                 "retraining, 0 = nothing removed, < 0 = made worse."),
    "indiscernibility": ("indiscernibility", "Deep Unlearn's 1 - |2 acc - 1| of a logistic regression on the "
                         "loss, forget vs non-members; 100% = indistinguishable."),
    "logistic_regression_accuracy": ("logistic-regression MIA accuracy", "Deep Unlearn's MIA: cross-validated "
                                     "accuracy of telling forget from non-members by their loss; 50% = chance."),
    "svc_mia_efficacy": ("SVC-MIA efficacy", "SalUn's SVC-MIA: share of forget examples predicted non-member."),
}

_LABELS = {
    "logistic_regression_n_per_class": "examples per class (logistic regression)",
    "svc_train_accuracy": "SVC training accuracy", "forget_accuracy": "forget accuracy",
    "retain_accuracy": "retain accuracy", "test_accuracy": "test accuracy", "loss_auc": "LOSS-attack AUC",
    "indiscernibility_std": "indiscernibility std", "sample_gradients": "sample-gradients",
    "fraction_of_training": "share of the original training", "seconds": "seconds",
    "truncated": "stopped at the budget", "training_sample_gradients": "sample-gradients of the original training",
    "n_shadows": "shadow models", "n_pos": "positives", "n_neg": "negatives",
}

# a label (or key) naming a proportion in [0, 1] is shown as a percentage
_PERCENT = re.compile(r"(accuracy|power|tpr|share of|fraction|indiscernibility|efficacy\b.*svc|svc.*efficacy|"
                      r"mean posterior > 0\.5|caught|detectable.residual|max.residual)", re.IGNORECASE)
_NOT_PERCENT = re.compile(r"(interval|threshold|examples per class|std)", re.IGNORECASE)


def label(key: str) -> str:
    """A human label for a results key (``"p_value"`` -> ``"p-value"``); unknown keys lose underscores."""
    if key in GLOSSARY:
        return GLOSSARY[key][0]
    return _LABELS.get(key, key.replace("_", " "))


def is_percent(name: str) -> bool:
    """Whether the quantity called ``name`` (a key or a label) is a proportion shown in percent."""
    return bool(_PERCENT.search(name)) and not _NOT_PERCENT.search(name)


def pct(x) -> str:
    """``0.953`` -> ``"95.3%"``, ``1.0`` -> ``"100%"``; ``None`` -> ``"n/a"``."""
    if not _finite(x):
        return "n/a"
    text = f"{100 * float(x):.1f}"
    return f"{text[:-2] if text.endswith('.0') else text}%"


def num(x) -> str:
    """Four significant digits; ``None`` / NaN -> ``"n/a"``; integers with thousands separators."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if not _finite(x):
        return "n/a"
    return f"{float(x):.4g}"


def interval(ci, *, percent: bool = False) -> str:
    """``[lo, hi]`` of a two-element list; ``"n/a"`` when missing."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(_finite(v) for v in ci):
        return "n/a"
    f = pct if percent else num
    return f"[{f(ci[0])}, {f(ci[1])}]"


def format_value(value, name: str = "") -> str:
    """Format any value from results.json for display; ``name`` (key or label) picks percent or not."""
    percent = is_percent(name)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and percent and _finite(value) and 0.0 <= value <= 1.0:
        return pct(value)
    if isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                and "interval" in name.lower():
            return interval(value, percent=percent)
        return ", ".join(format_value(v, name) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{label(str(k))}: {format_value(v, str(k))}" for k, v in value.items()) or "none"
    return str(value)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
