"""The test's statistic and how it reads: the mixture log-likelihood ratio the audit averages, the
effect shown beside AUC with its interval, and the line that explains when the two disagree
(docs/power.md)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

STATISTICS = {"mean": "score", "mixture": "mixture log-likelihood ratio"}  # statistic -> what is averaged


def agreement_note(results: dict) -> str | None:
    """One line when the test and the AUC interval shown beside it disagree (or None).

    The test compares mean calibrated scores (sensitive to a few strongly remembered examples);
    AUC counts how often a forget example outranks a non-member (every example weighs the same).

    Example:
        >>> agreement_note({"p_value": 0.0004, "alpha": 0.01, "auc_ci": [0.49, 0.60]})[:46]
        'The test rejects while the AUC interval covers'
    """
    ci, p, alpha = results.get("auc_ci"), results.get("p_value"), results.get("alpha")
    if not ci or p is None or alpha is None or ci[0] is None:
        return None
    covers = ci[0] <= 0.5 <= ci[1]
    if p < alpha and covers:
        return ("The test rejects while the AUC interval covers 0.5: the test uses the mean per-example score, "
                "which a minority of strongly remembered examples moves; AUC weighs every example equally.")
    if p >= alpha and ci[0] > 0.5:
        return ("The AUC interval is above 0.5 while the mean-score test does not reject: many examples are "
                "slightly above the non-members but the mean score is not (the test is the one that decides).")
    return None


def mixture_scores(llr, rho: float) -> np.ndarray:
    """``log(1 - rho + rho exp(llr))``: per-example log-likelihood ratios turned into the log
    likelihood ratio of "remembered with probability rho" against "not remembered".

    Summed over a forget set this is the Neyman-Pearson statistic against a forget set of which a
    fraction rho is remembered. It is bounded below by ``log(1 - rho)``, so examples that look
    strongly like non-members (very negative LLR, the noise of a mean-LLR test) weigh little.
    ``rho = 1`` gives the LLRs back.

    Example:
        >>> mixture_scores(np.array([-50.0, 0.0, 2.0]), 0.5).round(3).tolist()
        [-0.693, 0.0, 1.434]
    """
    llr = np.asarray(llr, np.float64)
    return llr if rho >= 1 else np.logaddexp(np.log1p(-rho), np.log(rho) + llr)


def effect_size(scores, forget, nonmembers, *, level: float = 0.95, name: str = "score") -> dict:
    """The statistic the test uses: mean score of the forget set minus that of the non-members,
    with a normal-approximation (Welch) interval at ``level``.

    Example:
        >>> e = effect_size(np.r_[np.ones(10), np.zeros(10)], np.arange(10), np.arange(10, 20))
        >>> e["value"], e["ci"]
        (1.0, [1.0, 1.0])
    """
    f, n = np.asarray(scores, np.float64)[forget], np.asarray(scores, np.float64)[nonmembers]
    d = float(f.mean() - n.mean())
    se = float(np.sqrt(f.var(ddof=1) / f.size + n.var(ddof=1) / n.size)) if min(f.size, n.size) > 1 else 0.0
    z = float(norm.ppf(0.5 + level / 2))
    return {"statistic": f"mean {name} difference (forget - non-members)", "value": d,
            "ci": [d - z * se, d + z * se], "level": level}
