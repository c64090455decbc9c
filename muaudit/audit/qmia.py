"""The recipe-free audit: quantile-regression MIA scores, then the shared verdict and power control.

Known non-members are split once at random into a *fitting* part (trains the quantile
regressor) and an *evaluation* part (the non-members of the permutation test, the ROC block and
the power control), so that no example is both fitted on and tested.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from muaudit.attacks.base import make_attack
from muaudit.attacks.qmia import NonMemberSignals
from muaudit.audit.verdict import AuditResult, assess_scores
from muaudit.checks import check_disjoint, check_indices, check_unit_interval
from muaudit.errors import DataError


def split_nonmembers(nonmembers, fit_fraction: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """(fitting part, evaluation part) of the non-members, disjoint, random.

    Example:
        >>> fit, ev = split_nonmembers(np.arange(100), 0.5, 0)
        >>> len(fit), len(ev), len(np.intersect1d(fit, ev))
        (50, 50, 0)
    """
    check_unit_interval("fit_fraction", fit_fraction)
    perm = np.random.default_rng(random_state).permutation(np.asarray(nonmembers))
    n_fit = int(round(fit_fraction * perm.size))
    if n_fit < 20 or perm.size - n_fit < 20:
        raise DataError(f"Expected at least 20 non-members to fit and 20 to evaluate QMIA, got {perm.size} "
                        f"non-members (fit_fraction {fit_fraction:g}); pass a larger --nonmembers set")
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])


def _coverage(scores, rows, alpha_q: float) -> tuple[dict, list[str]]:
    """How often held-out non-members exceed their predicted quantile (should be ~ alpha_q)."""
    k = int(np.sum(scores[rows] > 0))
    p = float(binomtest(k, rows.size, alpha_q).pvalue)
    info = {"nonmember_exceedance": k / rows.size, "expected_exceedance": alpha_q, "binomial_p_value": p}
    notes = []
    if p < 0.01 and k / rows.size > 2 * alpha_q:  # the test stays valid; only the threshold's meaning is off
        notes.append(f"QMIA's quantile is miscalibrated: {k / rows.size:.3f} of held-out non-members exceed it, "
                     f"expected {alpha_q:g} (binomial p = {p:.2g}); the regressor may need more non-members")
    return info, notes


def audit_qmia(phi, X, labels, *, forget, nonmembers, members=None, n_classes: int, fit_fraction: float = 0.5,
               attack_options: dict | None = None, random_state: int = 0, **assess_options) -> AuditResult:
    """Audit a target from its phi alone, with QMIA fitted on half of the known non-members.

    Args:
        phi: the target's score per example, float ``[N]`` (e.g. logit-scaled confidence).
        X, labels: the N inputs (any shape, flattened) and their classes.
        forget, nonmembers, members: row indices as in :func:`~muaudit.audit.verdict.audit_target`.
        fit_fraction: share of ``nonmembers`` that fits the regressor; the rest are the test's.
        attack_options: :class:`~muaudit.attacks.qmia.QMIAConfig` fields.
        assess_options: ``alpha``, ``min_power`` ... of :func:`~muaudit.audit.verdict.assess_scores`.

    Returns:
        :class:`AuditResult` with the keys of ``audit_target`` (``attack`` = ``"qmia"``,
        ``calibration`` = the non-members' exceedance rate of their quantile) plus
        ``qmia_fit_nonmembers``.

    Example: see tests/test_qmia.py (a planted leak and a null).
    """
    phi = np.asarray(phi, np.float64)
    phi = phi[:, 0] if phi.ndim == 2 else phi
    n = phi.shape[0]
    F, NM = check_indices("forget", forget, n), check_indices("nonmembers", nonmembers, n)
    R = check_indices("members", members, n, allow_empty=True)
    check_disjoint(forget=F, nonmembers=NM, members=R)
    fit, ev = split_nonmembers(NM, fit_fraction, random_state)
    attack = make_attack("qmia", **{"random_state": random_state, **(attack_options or {})})
    attack.fit(NonMemberSignals(X, labels, phi, fit, n_classes))
    scores = attack.score(phi)  # every row; the fitting rows are in-sample
    calib, notes = _coverage(scores, ev, attack.config.alpha_q)
    assessed = assess_scores(scores, F, ev, R, labels=labels, notes=notes, random_state=random_state, **assess_options)
    results = {**assessed, "n_members": int(R.size), "attack": "qmia", "attack_config": attack.info(),
               "calibration": calib, "warnings": notes, "qmia_fit_nonmembers": int(fit.size)}
    return AuditResult(results, {"scores": scores, "forget": F, "nonmembers": ev, "members": R, "qmia_fit": fit})
