"""Auditing one unlearned target: is the forget set still detectably "member"?

This is the statistics behind ``muaudit lira --target ckpt --forget idx``. Every example is scored
by a shadow attack (LiRA or RMIA), then:

(a) forget vs known non-members: the ROC block;
(b) power control: retained members vs the same non-members;
(c) p-value of H0 "the target treats F like non-members": one-sided permutation test of the mean of the
    per-example *calibrated* scores of F against those of the non-members (a global shift between
    target and shadows affects both alike);
(d) verdict, by the one rule :func:`muaudit.audit.decision.decide`: ``not unlearned`` if p < alpha;
    ``over-unlearned`` if F scores significantly *lower* than the non-members; ``consistent with
    retraining`` only when the audit could have caught a forget set of which a fraction
    ``max_residual`` is still remembered (minimum detectable residual) and the controls hold;
    else ``inconclusive`` with the reasons;
(e) a calibration warning when the target's non-members do not look like the shadows' OUT.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from scipy.stats import ks_2samp, rankdata

from muaudit.attacks.gaussian import side_stats
from muaudit.attacks.base import ReferenceSignals, make_attack
from muaudit.audit.permutation import one_sided_p_values, p_values_both_sides_shared, permutation_p_value
from muaudit.audit.decision import (DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, DEFAULT_MIN_POWER, VERDICTS, Evidence,
                                    Verdict, apply_decision, check_max_residual)
from muaudit.audit.statistic import STATISTICS, agreement_note, effect_size, mixture_scores
from muaudit.audit.power import estimate_power, min_detectable_residual, single_stratum, weakest_class_power
from muaudit.audit.strata import check_labels, class_strata, draw_design, known_class_nonmembers
from muaudit.errors import ConfigError, DataError
from muaudit.metrics import summarize
from muaudit.checks import (StatisticsWarning, check_disjoint, check_finite, check_indices, check_positive_int,
                            check_unit_interval)

__all__ = ["VERDICTS", "AuditResult", "Verdict", "assess_scores", "audit_target", "estimate_power",
           "evidence_of", "one_sided_p_values", "permutation_p_value"]

CLASS_MIX_ALPHA = 0.05  # chi-square level below which the forget test is stratified by class


@dataclass(frozen=True)
class AuditResult:
    """``results``: JSON-ready dict for ``results.json``; ``arrays``: per-example arrays for ``scores.npz``.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=8, n_samples=60)
        >>> res = audit_target(pool.draw(np.arange(60) < 30), pool.phi, pool.keep, forget=np.arange(10),
        ...                    nonmembers=np.arange(30, 60), n_power_draws=20)
        >>> isinstance(res, AuditResult), sorted(res.arrays)
        (True, ['forget', 'members', 'nonmembers', 'scores'])
    """

    results: dict
    arrays: dict


def check_calibration(target, reference: ReferenceSignals, nonmembers, *, recenter: bool, ks_alpha: float,
                 max_offset_iqr: float = 1.0):
    """Offset of the target's non-members from the shadows' OUT median, and a KS shape comparison.

    A pure shift (e.g. a target trained on more data than the shadows) is removed by recentering
    and only warned about when it exceeds ``max_offset_iqr`` interquartile ranges of the OUT phi
    (or when it is not removed). The KS test compares the *recentred* non-member phi with the
    pooled OUT phi, so it warns when the shapes differ: the pool does not model this target.
    Shared by every audit that scores a target against shadows (LiRA, U-LiRA, ``muaudit mia``'s
    compatibility block). Returns ``(info, notes)``: ``offset``, ``recentered``, ``ks_statistic``,
    ``ks_p_value``, ``out_iqr``, and the warnings.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=16, n_samples=300)
        >>> target = pool.draw(np.arange(300) < 150) + 5.0              # a target shifted by +5
        >>> info, notes = check_calibration(target, ReferenceSignals(pool.phi, pool.keep), np.arange(150, 300),
        ...                                 recenter=True, ks_alpha=0.01)
        >>> round(info["offset"]), len(notes)                           # the shift is measured and reported
        (5, 1)
    """
    out = side_stats(reference.signals[:, nonmembers], ~reference.keep[:, nonmembers], "median")
    has = out.count > 0
    offset = float(np.median(target[nonmembers][has] - out.center[has])) if has.any() else 0.0
    info = {"offset": offset, "recentered": bool(recenter), "ks_statistic": None, "ks_p_value": None,
            "out_iqr": None}
    notes = []
    if out.values.size:
        iqr = float(np.subtract(*np.percentile(out.values, [75, 25])))
        shifted = target[nonmembers].ravel() - (offset if recenter else 0.0)
        ks = ks_2samp(shifted, out.values)
        info.update(ks_statistic=float(ks.statistic), ks_p_value=float(ks.pvalue), out_iqr=iqr)
        if ks.pvalue < ks_alpha:
            notes.append(
                f"the target's non-member phi is distributed differently from the shadows' OUT phi "
                f"(KS D = {ks.statistic:.3f}, p = {ks.pvalue:.2g}, after removing a median offset of {offset:+.3g}"
                f"{'' if recenter else ' (not removed: recenter=False)'}): the shadow pool may not match the target's "
                "training recipe, and the p-value assumes the scores are calibrated")
        elif abs(offset) > max_offset_iqr * max(iqr, 1e-12) or (not recenter and ks.pvalue < ks_alpha):
            fix = "it was removed before scoring" if recenter else "it was NOT removed (recenter=False)"
            notes.append(f"the target's non-member phi is shifted by {offset:+.3g} from the shadows' OUT phi "
                         f"(more than {max_offset_iqr:g} IQR = {iqr:.3g}; {fix}): the target was probably trained "
                         "differently from the shadows")
    return info, notes


def _forget_test(scores, ranks, forget, nonmembers, *, summary_options, strata=None):
    """Forget vs non-members: the summarize block, the upper p-value (mean of ``scores``) and the
    lower p-value (mean rank: a rank-sum test, the AUC below 0.5; a bounded statistic such as the
    mixture LLR has little power below, ranks do).

    With ``strata`` (forget labels, non-member labels) the tests run within classes and the ROC
    block compares the forget set with the non-members of its own classes.
    """
    nm = nonmembers if strata is None else nonmembers[np.isin(strata[1], strata[0])]
    labels = np.r_[np.ones(forget.size, bool), np.zeros(nm.size, bool)]
    block = summarize(labels, np.r_[scores[forget], scores[nm]], **summary_options)
    (p_value, _), (_, p_lower) = p_values_both_sides_shared(  # one set of permutations for both statistics
        [(scores[forget], scores[nonmembers]), (ranks[forget], ranks[nonmembers])], strata=strata)
    return block, p_value, p_lower


def _control_sets(scores, forget, nonmembers, members, labels):
    """Members and non-members of the power control and the design of its simulated forget sets.

    Unstratified (``labels`` None): all of them, one stratum. Stratified: the forget set's class
    counts when the retained members have enough of each class; else (e.g. class-wise forgetting
    leaves no member of the forgotten class) an unmatched design, which :func:`_power_control`
    replaces by the weakest single class; only classes that have non-members.
    """
    if labels is None:
        return members, nonmembers, single_stratum(forget.size, members.size), None
    usable = members[np.isin(labels[members], labels[nonmembers])]
    if usable.size == 0:
        return usable, nonmembers, None, labels
    design = draw_design(labels[forget], labels[usable])
    R = usable[np.isin(labels[usable], design.classes)]
    NM = nonmembers[np.isin(labels[nonmembers], design.classes)]
    return R, NM, design, labels


def _power_control(scores, ranks, forget, nonmembers, members, *, alpha, n_draws, rng, summary_options,
                   labels=None, residual_options=None):
    """Retained members vs non-members: summarize block, p-value, power for |F| and the minimum detectable residual."""
    if members.size == 0:
        return None
    R, NM, design, lab = _control_sets(scores, forget, nonmembers, members, labels)
    if R.size == 0:
        return None
    ml, nl = (None, None) if lab is None else (lab[R], lab[NM])
    strata = None if lab is None else (ml, nl)
    block = summarize(np.r_[np.ones(R.size, bool), np.zeros(NM.size, bool)], np.r_[scores[R], scores[NM]],
                      **summary_options)
    per_class = None
    if design.matched:
        power = estimate_power(scores[R], scores[NM], alpha=alpha, n_draws=n_draws, random_state=rng, design=design,
                               member_labels=ml, nonmember_labels=nl)
    else:  # the forget set's classes have no retained members: assume the weakest measurable class
        design, power, per_class = weakest_class_power(scores[R], ml, scores[NM], nl, forget.size, alpha=alpha,
                                                       n_draws=n_draws, random_state=rng)
    residual = min_detectable_residual(scores[R], scores[NM], design, alpha=alpha, member_labels=ml,
                                       nonmember_labels=nl, random_state=int(rng.integers(2**31)),
                                       **(residual_options or {}))
    # the lower side's own power: a forget set ranking as far BELOW the non-members' median as the
    # members rank above it (their mirror image), tested with the lower one-sided rank test
    mirror = 2.0 * np.median(ranks[NM]) - ranks[R]
    power_lower = estimate_power(-mirror, -ranks[NM], alpha=alpha, n_draws=n_draws, random_state=rng, design=design,
                                 member_labels=ml, nonmember_labels=nl)
    return {**block, "p_value": permutation_p_value(scores[R], scores[NM], strata=strata),
            "power": power, "power_lower": power_lower, "power_draws": n_draws, "power_subset_size": int(design.counts.sum()),
            "stratified": lab is not None, "class_matched": bool(design.matched), "power_by_class": per_class,
            "min_detectable_residual": residual["r"], "residual_simulation": residual}


def evidence_of(results: dict, *, blockers=(), max_residual: float = DEFAULT_MAX_RESIDUAL,
                min_power: float = DEFAULT_MIN_POWER) -> Evidence:
    """The :class:`~muaudit.audit.decision.Evidence` of :func:`assess_scores`' statistics, with the
    power control's failures and the caller's ``blockers`` (e.g. a compatibility ``fail``).

    Example:
        >>> evidence_of({"p_value": 0.5, "p_value_lower": 0.5, "alpha": 0.01, "power_control": None}).blockers
        ('no retained members were given, so the power control cannot be run',)
    """
    control, alpha = results.get("power_control"), results["alpha"]
    reasons = []
    if control is None:
        reasons.append("no retained members were given, so the power control cannot be run")
    else:
        if control["p_value"] >= alpha:
            reasons.append(f"the attack does not separate retained members from non-members "
                           f"(p = {control['p_value']:.3g} >= alpha = {alpha:g})")
        lo, hi = control["auc_ci"]
        if lo <= 0.5 <= hi:
            reasons.append(f"the power control's AUC interval [{lo:.3f}, {hi:.3f}] contains 0.5")
    c = control or {}
    return Evidence(p_value=results["p_value"], p_value_lower=results.get("p_value_lower"), alpha=alpha,
                    residual=c.get("min_detectable_residual"), power=c.get("power"),
                    power_lower=c.get("power_lower"), blockers=tuple(reasons) + tuple(blockers),
                    max_residual=max_residual, min_power=min_power)


def assess_scores(scores, forget, nonmembers, members, *, labels=None, alpha: float = DEFAULT_ALPHA,
                  min_power: float = DEFAULT_MIN_POWER, max_residual: float = DEFAULT_MAX_RESIDUAL,
                  n_power_draws: int = 200, level: float = 0.95, n_bootstrap: int = 1000, random_state: int = 0,
                  notes: list | None = None, residual_options: dict | None = None, blockers=(),
                  decide: bool = True, statistic: str = "mean") -> dict:
    """Verdict, p-values, ROC block and power control for per-example ``scores`` (higher = member).

    Shared by every audit (shadow attacks here, population attacks in ``muaudit mia``): forget rows
    vs non-member rows, with retained ``members`` as the power control. ``notes`` collects
    warnings. With ``labels`` (class of every row) a chi-square test compares the forget set's
    class mix with the non-members'; when it differs (p < 0.05) the tests and the power control
    run within class strata (``class_mix`` in the results).
    ``power_control.min_detectable_residual`` is the smallest fraction of the members' signal
    the test catches with probability ``min_power`` (see :mod:`muaudit.audit.power`); a pass needs
    it at most ``max_residual`` (:mod:`muaudit.audit.decision`). With ``decide=False`` the results
    carry no verdict yet: the caller adds its ``blockers`` and decides once with
    :func:`evidence_of` and :func:`~muaudit.audit.decision.apply_decision`.

    ``statistic``: ``"mean"`` (the mean score) or ``"mixture"`` (:func:`mixture_scores`: for
    scores that are per-example log-likelihood ratios, the most powerful test against a forget
    set of which a fraction ``max_residual`` is still remembered; measured on digits in
    docs/power.md). Both are permutation tests of a mean, exact under exchangeability.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> F, NM, R = np.arange(50), np.arange(50, 250), np.arange(250, 450)
        >>> remembered = np.r_[rng.normal(2, 1, 50), rng.normal(0, 1, 200), rng.normal(2, 1, 200)]
        >>> assess_scores(remembered, F, NM, R, n_power_draws=50)["verdict"]
        'not unlearned'
        >>> forgotten = np.r_[rng.normal(0, 1, 50), rng.normal(0, 1, 200), rng.normal(2, 1, 200)]
        >>> res = assess_scores(forgotten, F, NM, R, n_power_draws=50)
        >>> res["verdict"], res["power_control"]["power"]
        ('consistent with retraining', 1.0)
        >>> over = np.r_[rng.normal(-2, 1, 50), rng.normal(0, 1, 200), rng.normal(2, 1, 200)]
        >>> assess_scores(over, F, NM, R, n_power_draws=50)["verdict"]
        'over-unlearned'
    """
    alpha, max_residual = check_unit_interval("alpha", alpha), check_max_residual(max_residual)
    if statistic not in STATISTICS:
        raise ConfigError(f"Expected `statistic` in {STATISTICS}, got {statistic!r}")
    ranks = rankdata(np.asarray(scores, np.float64))
    scores = mixture_scores(scores, max_residual) if statistic == "mixture" else np.asarray(scores, np.float64)
    notes = [] if notes is None else notes
    opts = {"level": level, "n_bootstrap": n_bootstrap, "random_state": random_state}
    mix, lab = class_strata(labels, forget, nonmembers, np.shape(scores)[0], alpha=CLASS_MIX_ALPHA)
    strata = None if lab is None else (lab[forget], lab[nonmembers])
    block, p_value, p_lower = _forget_test(scores, ranks, forget, nonmembers, summary_options=opts, strata=strata)
    control = _power_control(scores, ranks, forget, nonmembers, members, alpha=alpha, n_draws=n_power_draws,
                             rng=np.random.default_rng(random_state), summary_options=opts, labels=lab,
                             residual_options={"target_power": min_power, **(residual_options or {})})
    test = (f"one-sided permutation tests, forget vs non-members, at alpha each: above, the mean "
            f"{STATISTICS[statistic]}; below, the mean rank")
    results = {"alpha": alpha, "test": test + (", within class strata" if lab is not None else ""),
               "p_value": p_value, "p_value_lower": p_lower, **block,
               "statistic": statistic, "effect": effect_size(scores, forget, nonmembers, level=level,
                                                            name=STATISTICS[statistic]), "power_control": control,
               "class_mix": mix, "stratified": None if mix is None else mix["stratified"], "min_power": min_power,
               "max_residual": max_residual, "n_forget": int(np.size(forget)), "n_nonmembers": int(np.size(nonmembers)),
               "n_nonmembers_compared": int(np.size(nonmembers) if lab is None else np.isin(lab[nonmembers], lab[forget]).sum())}
    results["agreement"] = agreement_note(results)
    if decide:
        apply_decision(results, evidence_of(results, blockers=blockers, max_residual=max_residual, min_power=min_power))
    return results


def _fitted_info(attack) -> dict:
    """The fitted choices worth recording (e.g. LiRA's resolved variance, RMIA's tuned ``a``)."""
    return {k.rstrip("_"): v for k, v in vars(attack).items()
            if k.endswith("_") and isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _score_all(target, reference, attack, attack_options, nonmembers, *, recenter, ks_alpha):
    """Fit the attack on the shadows and score every example; returns scores, attack, info, notes."""
    calib, notes = check_calibration(target, reference, nonmembers, recenter=recenter, ks_alpha=ks_alpha)
    shifted = target - calib["offset"] if recenter else target
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        fitted = make_attack(attack, **(attack_options or {})).fit(reference)
        scores = fitted.score(shifted)
    notes += [str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)]
    return scores, fitted, calib, notes


def check_audit_inputs(target, shadows, keep, forget, nonmembers, members):
    """Validated reference, target ``[N, V]`` and the three disjoint index arrays of an audit.

    Example:
        >>> ref, t, F, NM, R = check_audit_inputs(np.zeros(4), np.zeros((2, 4)), np.eye(2, 4, dtype=bool),
        ...                                       [0], [2, 3], None)
        >>> t.shape, F, NM, R
        ((4, 1), array([0]), array([2, 3]), array([], dtype=int64))
    """
    reference = ReferenceSignals(shadows, keep)
    t = np.asarray(target, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    if t.shape != reference.signals.shape[1:]:
        raise DataError(f"Expected target phi of shape {reference.signals.shape[1:]}, got {np.shape(target)}")
    check_finite("target", t)
    n = reference.n_samples
    F, NM = check_indices("forget", forget, n), check_indices("nonmembers", nonmembers, n)
    R = check_indices("members", members, n, allow_empty=True)
    check_disjoint(forget=F, nonmembers=NM, members=R)
    return reference, t, F, NM, R


def audit_target(target, shadows, keep, *, forget, nonmembers, members=None, labels=None, attack="lira",
                 attack_options: dict | None = None, alpha: float = DEFAULT_ALPHA,
                 min_power: float = DEFAULT_MIN_POWER, max_residual: float = DEFAULT_MAX_RESIDUAL,
                 n_power_draws: int = 200, recenter: bool = True, ks_alpha: float = 0.01,
                 level: float = 0.95, n_bootstrap: int = 1000, random_state: int = 0,
                 on_scores: Callable[[np.ndarray], None] | None = None, decide: bool = True) -> AuditResult:
    """Audit one target against a shadow pool: verdict, ROC block, p-value and power control.

    Args:
        target: the target's phi, float ``[N, V]`` (or ``[N]``) on the pool's N examples.
        shadows: the shadows' phi, float ``[M, N, V]`` (or ``[M, N]``).
        keep: bool ``[M, N]``, shadow m trained on example n.
        forget: row indices of the forget set F.
        nonmembers: row indices of known non-members of the target (e.g. the test split).
        members: row indices of retained training examples, for the power control (optional,
            but without it a non-rejection is always ``inconclusive``).
        labels: the class of each of the N examples (optional); a forget set whose class mix
            differs from the non-members' is then tested within class strata (see
            :func:`assess_scores`). None: one unstratified test.
        attack, attack_options: a registered shadow attack (``"lira"``, ``"rmia"``) and its options.
        alpha: significance level of the test (each side).
        max_residual: the largest minimum detectable residual a pass allows
            (:mod:`muaudit.audit.decision`).
        decide: False leaves the verdict to the caller, who adds its blockers (e.g. the
            compatibility block of a third-party target) and decides once.
        min_power: the power below which a non-rejection is ``inconclusive``.
        n_power_draws: subsets of |F| retained members drawn to estimate the power.
        recenter: subtract the median offset between the target's non-member phi and the shadows'
            OUT median before scoring (makes the verdict invariant to a global shift of the target).
        ks_alpha: level of the KS calibration check that adds a warning.
        level, n_bootstrap, random_state: intervals, AUC bootstrap, seeds (power draws too).
        on_scores: called with the scores ``[N]`` as soon as they exist, before the statistics
            (``muaudit lira`` starts drawing its figures there).

    Returns:
        :class:`AuditResult`. ``results`` keys: ``verdict``, ``inconclusive_reasons``, ``p_value``
        (one-sided, F > non-members), ``p_value_lower`` (F < non-members: over-unlearning), the
        summarize block of F vs non-members (``auc``, ``auc_ci``, ``balanced_accuracy``(``_ci``),
        ``tpr_at_fpr``, ``epsilon_lower_bound``...), ``power_control`` (summarize block + ``p_value``,
        ``power``, ``min_detectable_residual``; None without members), ``class_mix`` (None without
        labels), ``n_forget``, ``n_nonmembers``, ``n_members``, ``attack``,
        ``attack_config``, ``calibration``, ``warnings``. ``arrays``: ``scores`` ``[N]`` (higher =
        member) and ``forget``, ``nonmembers``, ``members`` (the index arrays).

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=16, n_samples=300)
        >>> trained = np.arange(300) < 150                                  # the target trained on 0..149
        >>> res = audit_target(pool.draw(trained), pool.phi, pool.keep, forget=np.arange(50),
        ...                    nonmembers=np.arange(150, 300), members=np.arange(50, 150), n_power_draws=50)
        >>> res.results["verdict"]                                          # 0..49 were never forgotten
        'not unlearned'
        >>> retrained = pool.draw(trained & (np.arange(300) >= 50))        # retrained without 0..49
        >>> audit_target(retrained, pool.phi, pool.keep, forget=np.arange(50), nonmembers=np.arange(150, 300),
        ...              members=np.arange(50, 150), n_power_draws=50).results["verdict"]
        'consistent with retraining'
    """
    alpha, min_power = check_unit_interval("alpha", alpha), check_unit_interval("min_power", min_power)
    n_power_draws = check_positive_int("n_power_draws", n_power_draws)
    reference, t, F, NM, R = check_audit_inputs(target, shadows, keep, forget, nonmembers, members)
    labels = None if labels is None else check_labels(labels, t.shape[0])
    NM_known, gone = known_class_nonmembers(labels, F, NM, R)  # a forgotten class is expected to score low
    scores, fitted, calib, notes = _score_all(t, reference, attack, attack_options, NM_known,
                                              recenter=recenter, ks_alpha=ks_alpha)
    calib["excluded_classes"] = gone.tolist()
    if on_scores is not None:
        on_scores(scores)
    llr = fitted.name == "lira" and getattr(fitted.config, "mode", None) == "online"  # scores are LLRs
    assessed = assess_scores(scores, F, NM, R, labels=labels, alpha=alpha, min_power=min_power,
                             max_residual=max_residual, n_power_draws=n_power_draws, level=level,
                             n_bootstrap=n_bootstrap, random_state=random_state, notes=notes, decide=decide,
                             statistic="mixture" if llr else "mean")
    for note in notes:
        warnings.warn(note, StatisticsWarning, stacklevel=2)
    results = {
        **assessed, "n_members": int(R.size), "attack": fitted.name,
        "attack_config": {**asdict(fitted.config), **_fitted_info(fitted)},
        "calibration": calib, "warnings": notes,
    }
    arrays = {"scores": scores, "forget": F, "nonmembers": NM, "members": R}
    return AuditResult(results, arrays)
