"""Auditing one unlearned target: is the forget set still detectably "member"?

This is the statistics behind ``muaudit lira --target ckpt --forget idx``. Every example is scored
by a shadow attack (LiRA or RMIA), then:

(a) forget vs known non-members: the ROC block;
(b) power control: retained members vs the same non-members;
(c) p-value of H0 "the target treats F like non-members": one-sided permutation test of the mean of the
    per-example *calibrated* scores of F against those of the non-members (a global shift between
    target and shadows affects both alike);
(d) verdict: ``not unlearned`` if p < alpha; else ``inconclusive`` if F scores significantly
    *lower* than the non-members (over-unlearning is not retraining either), or unless the attack
    demonstrably would have caught a non-unlearned F of this size (power control); else
    ``consistent with retraining``;
(e) a calibration warning when the target's non-members do not look like the shadows' OUT.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np
from scipy.stats import ks_2samp

from muaudit.attacks.gaussian import side_stats
from muaudit.attacks.base import ReferenceSignals, make_attack
from muaudit.errors import DataError
from muaudit.metrics import summarize
from muaudit.checks import StatisticsWarning, check_finite, check_positive_int, check_unit_interval

Verdict = Literal["not unlearned", "consistent with retraining", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


def decide(remembered: bool, reasons: list[str]) -> tuple[Verdict, list[str]]:
    """The verdict rule every audit shares (membership, U-LiRA and poisoning audits).

    ``not unlearned`` when the test finds the forget set remembered; otherwise ``inconclusive``
    when any reason says the test could not have seen it (no power, a failed control, scores
    that point the other way); only with no such reason ``consistent with retraining``.
    An audit without power never passes.

    Example:
        >>> decide(False, ["estimated power 0.40 < 0.95"])
        ('inconclusive', ['estimated power 0.40 < 0.95'])
        >>> decide(False, [])
        ('consistent with retraining', [])
    """
    if remembered:
        return "not unlearned", []
    if reasons:
        return "inconclusive", list(reasons)
    return "consistent with retraining", []


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


def _indices(name: str, idx, n: int, *, allow_empty: bool = False) -> np.ndarray:
    """Validate row indices into the N examples: 1-D integers in [0, n), no duplicates."""
    a = np.asarray([] if idx is None else idx)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise DataError(f"Expected `{name}` to be a 1-D integer index array, got {a.dtype} {a.shape}")
    a = a.astype(np.int64)
    if a.size == 0 and not allow_empty:
        raise DataError(f"Expected a non-empty `{name}` index array")
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        raise DataError(f"Expected `{name}` indices in [0, {n}), got {a[bad[0]]} at position {bad[0]}")
    uniq, counts = np.unique(a, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"Expected unique `{name}` indices, got {uniq[counts > 1][0]} twice")
    return a


def _check_disjoint(**sets: np.ndarray) -> None:
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = np.intersect1d(sets[a], sets[b])
            if common.size:
                raise DataError(f"Expected `{a}` and `{b}` to be disjoint, both contain index {common[0]}")


def one_sided_p_values(x: np.ndarray, y: np.ndarray, *, alternative: str = "greater",
                       n_permutations: int = 10_000, random_state: int = 0) -> np.ndarray:
    """Permutation p-values of "the mean of each row of x exceeds (``"less"``: falls below) y's mean".

    ``x`` is ``[B, k]`` (one test per row) or ``[k]``; ``y`` is ``[n]``. Under H0 the k + n scores
    are exchangeable; the statistic is the sum of x's scores, compared with the sums of
    ``n_permutations`` random k-subsets of the pooled scores: ``p = (1 + #{perm >= obs}) /
    (1 + n_permutations)``. For LiRA scores (per-example log-likelihood ratios) the sum is the
    log-likelihood ratio of "all of x are members", so the test uses the heavy upper tail that
    carries memorisation, where a rank test (Mann-Whitney U) discards it: on digits it raised
    the power to catch a remembered 10% forget set from 0.80 to 1.00 at alpha = 0.01 (see
    docs/attacks.md). Exact level under exchangeability; never NaN.

    Example:
        >>> y = np.array([0.0, 1.0, 2.0, 0.5])
        >>> one_sided_p_values(np.array([[3.0, 4.0], [0.0, 1.0]]), y, n_permutations=999).round(2).tolist()
        [0.07, 0.8]
    """
    x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    B, k = x2.shape
    pooled = np.concatenate([x2, np.broadcast_to(y, (B, y.size))], axis=1)
    obs = x2.sum(1)
    tol = 1e-9 * (np.abs(pooled).max(1) + 1.0) * k
    sign = 1.0 if alternative == "greater" else -1.0
    rng = np.random.default_rng(random_state)
    count = np.zeros(B)
    chunk = max(1, min(n_permutations, int(2e7 // max(B * k, 1))))
    for start in range(0, n_permutations, chunk):
        n = min(chunk, n_permutations - start)
        idx = np.argpartition(rng.random((n, pooled.shape[1])), k - 1, axis=1)[:, :k]
        sums = pooled[:, idx].sum(-1)  # [B, n]
        count += (sign * (sums - obs[:, None]) >= -tol[:, None]).sum(1)
    return (1.0 + count) / (1.0 + n_permutations)


def permutation_p_value(x, y, *, alternative: str = "greater", **options) -> float:
    """The p-value of one test, see :func:`one_sided_p_values`.

    Example:
        >>> permutation_p_value([5.0, 6.0], [0.0, 1.0, 2.0, 0.5, 1.5], n_permutations=999)   # 1/21 exactly
        0.041
    """
    return float(one_sided_p_values(x, y, alternative=alternative, **options)[0])


def estimate_power(member_scores, nonmember_scores, size: int, *, alpha: float, n_draws: int,
                   rng: np.random.Generator) -> float:
    """Fraction of ``n_draws`` random ``size``-subsets of members whose one-sided test rejects at ``alpha``.

    It estimates the probability that the test would catch a forget set of ``size`` examples that
    the target still remembers as well as its retained members.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> estimate_power(rng.normal(2, 1, 200), rng.normal(0, 1, 200), 20, alpha=0.05, n_draws=50, rng=rng)
        1.0
    """
    size = min(size, len(member_scores))
    draws = np.array([rng.choice(len(member_scores), size, replace=False) for _ in range(n_draws)])
    p = one_sided_p_values(member_scores[draws], nonmember_scores, n_permutations=1_000,
                           random_state=int(rng.integers(2**31)))
    return float(np.mean(p < alpha))


def _calibration(target, reference: ReferenceSignals, nonmembers, *, recenter: bool, ks_alpha: float,
                 max_offset_iqr: float = 1.0):
    """Offset of the target's non-members from the shadows' OUT median, and a KS shape comparison.

    A pure shift (e.g. a target trained on more data than the shadows) is removed by recentering
    and only warned about when it exceeds ``max_offset_iqr`` interquartile ranges of the OUT phi
    (or when it is not removed). The KS test compares the *recentred* non-member phi with the
    pooled OUT phi, so it warns when the shapes differ: the pool does not model this target.
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


def _forget_test(scores, forget, nonmembers, *, alpha, notes, summary_options):
    """Forget vs non-members: the summarize block and both one-sided p-values (notes over-unlearning)."""
    labels = np.r_[np.ones(forget.size, bool), np.zeros(nonmembers.size, bool)]
    block = summarize(np.r_[scores[forget], scores[nonmembers]], labels, **summary_options)
    p_value = permutation_p_value(scores[forget], scores[nonmembers])
    p_lower = permutation_p_value(scores[forget], scores[nonmembers], alternative="less")
    if p_lower < alpha:
        notes.append(f"the forget set scores LOWER than the non-members (p = {p_lower:.2g}): "
                     "over-unlearning is itself detectable and differs from retraining")
    return block, p_value, p_lower


def _power_control(scores, forget, nonmembers, members, *, alpha, n_draws, rng, summary_options):
    """Retained members vs non-members: the summarize block, its p-value and the power for |F|."""
    if members.size == 0:
        return None
    labels = np.r_[np.ones(members.size, bool), np.zeros(nonmembers.size, bool)]
    block = summarize(np.r_[scores[members], scores[nonmembers]], labels, **summary_options)
    power = estimate_power(scores[members], scores[nonmembers], forget.size, alpha=alpha,
                           n_draws=n_draws, rng=rng)
    return {**block, "p_value": permutation_p_value(scores[members], scores[nonmembers]),
            "power": power, "power_draws": n_draws, "power_subset_size": int(min(forget.size, members.size))}


def _verdict(p_value: float, p_lower: float, control: dict | None, *, alpha: float,
             min_power: float) -> tuple[str, list[str]]:
    """The verdict and, when ``inconclusive``, the reasons (see the module docstring)."""
    if p_value < alpha:
        return decide(True, [])
    if p_lower < alpha:
        return decide(False, [f"the forget set scores lower than the non-members (p = {p_lower:.2g}): "
                              "it is not remembered, but it is not treated like unseen data either"])
    if control is None:
        return decide(False, ["no retained members were given, so the power control cannot be run"])
    reasons = []
    if control["p_value"] >= alpha:
        reasons.append(f"the attack does not separate retained members from non-members "
                       f"(p = {control['p_value']:.3g} >= alpha = {alpha:g})")
    lo, hi = control["auc_ci"]
    if lo <= 0.5 <= hi:
        reasons.append(f"the power control's AUC interval [{lo:.3f}, {hi:.3f}] contains 0.5")
    if control["power"] < min_power:
        reasons.append(f"estimated power {control['power']:.2f} < {min_power:g} to detect a forget set of "
                       f"{control['power_subset_size']} remembered examples")
    return decide(False, reasons)


def assess_scores(scores, forget, nonmembers, members, *, alpha: float = 0.05, min_power: float = 0.95,
                  n_power_draws: int = 200, level: float = 0.95, n_bootstrap: int = 1000,
                  random_state: int = 0, notes: list | None = None) -> dict:
    """Verdict, p-values, ROC block and power control for per-example ``scores`` (higher = member).

    Shared by every audit (shadow attacks here, population attacks in ``muaudit mia``): forget rows
    vs non-member rows, with retained ``members`` as the power control. ``notes`` collects
    warnings (e.g. over-unlearning).

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
    """
    notes = [] if notes is None else notes
    opts = {"level": level, "n_bootstrap": n_bootstrap, "random_state": random_state}
    block, p_value, p_lower = _forget_test(scores, forget, nonmembers, alpha=alpha, notes=notes, summary_options=opts)
    control = _power_control(scores, forget, nonmembers, members, alpha=alpha, n_draws=n_power_draws,
                             rng=np.random.default_rng(random_state), summary_options=opts)
    verdict, reasons = _verdict(p_value, p_lower, control, alpha=alpha, min_power=min_power)
    return {"verdict": verdict, "inconclusive_reasons": reasons, "alpha": alpha,
            "test": "one-sided permutation test of the mean score, forget vs non-members",
            "p_value": p_value, "p_value_lower": p_lower, **block, "power_control": control,
            "min_power": min_power, "n_forget": int(np.size(forget)), "n_nonmembers": int(np.size(nonmembers))}


def _fitted_info(attack) -> dict:
    """The fitted choices worth recording (e.g. LiRA's resolved variance, RMIA's tuned ``a``)."""
    return {k.rstrip("_"): v for k, v in vars(attack).items()
            if k.endswith("_") and isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _score_all(target, reference, attack, attack_options, nonmembers, *, recenter, ks_alpha):
    """Fit the attack on the shadows and score every example; returns scores, attack, info, notes."""
    calib, notes = _calibration(target, reference, nonmembers, recenter=recenter, ks_alpha=ks_alpha)
    shifted = target - calib["offset"] if recenter else target
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        fitted = make_attack(attack, **(attack_options or {})).fit(reference)
        scores = fitted.score(shifted)
    notes += [str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)]
    return scores, fitted, calib, notes


def _check_inputs(target, shadows, keep, forget, nonmembers, members):
    """Validated reference, target ``[N, V]`` and the three disjoint index arrays."""
    reference = ReferenceSignals(shadows, keep)
    t = np.asarray(target, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    if t.shape != reference.signals.shape[1:]:
        raise DataError(f"Expected target phi of shape {reference.signals.shape[1:]}, got {np.shape(target)}")
    check_finite("target", t)
    n = reference.n_samples
    F, NM = _indices("forget", forget, n), _indices("nonmembers", nonmembers, n)
    R = _indices("members", members, n, allow_empty=True)
    _check_disjoint(forget=F, nonmembers=NM, members=R)
    return reference, t, F, NM, R


def audit_target(target, shadows, keep, *, forget, nonmembers, members=None, attack="lira",
                 attack_options: dict | None = None, alpha: float = 0.05, min_power: float = 0.95,
                 n_power_draws: int = 200, recenter: bool = True, ks_alpha: float = 0.01,
                 level: float = 0.95, n_bootstrap: int = 1000, random_state: int = 0) -> AuditResult:
    """Audit one target against a shadow pool: verdict, ROC block, p-value and power control.

    Args:
        target: the target's phi, float ``[N, V]`` (or ``[N]``) on the pool's N examples.
        shadows: the shadows' phi, float ``[M, N, V]`` (or ``[M, N]``).
        keep: bool ``[M, N]``, shadow m trained on example n.
        forget: row indices of the forget set F.
        nonmembers: row indices of known non-members of the target (e.g. the test split).
        members: row indices of retained training examples, for the power control (optional,
            but without it a non-rejection is always ``inconclusive``).
        attack, attack_options: a registered shadow attack (``"lira"``, ``"rmia"``) and its options.
        alpha: significance level of the test.
        min_power: the power below which a non-rejection is ``inconclusive``.
        n_power_draws: subsets of |F| retained members drawn to estimate the power.
        recenter: subtract the median offset between the target's non-member phi and the shadows'
            OUT median before scoring (makes the verdict invariant to a global shift of the target).
        ks_alpha: level of the KS calibration check that adds a warning.
        level, n_bootstrap, random_state: intervals, AUC bootstrap, seeds (power draws too).

    Returns:
        :class:`AuditResult`. ``results`` keys: ``verdict``, ``inconclusive_reasons``, ``p_value``
        (one-sided, F > non-members), ``p_value_lower`` (F < non-members: over-unlearning), the
        summarize block of F vs non-members (``auc``, ``auc_ci``, ``balanced_accuracy``(``_ci``),
        ``tpr_at_fpr``, ``epsilon_lower_bound``...), ``power_control`` (summarize block + ``p_value``,
        ``power``; None without members), ``n_forget``, ``n_nonmembers``, ``n_members``, ``attack``,
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
    reference, t, F, NM, R = _check_inputs(target, shadows, keep, forget, nonmembers, members)
    scores, fitted, calib, notes = _score_all(t, reference, attack, attack_options, NM,
                                              recenter=recenter, ks_alpha=ks_alpha)
    assessed = assess_scores(scores, F, NM, R, alpha=alpha, min_power=min_power, n_power_draws=n_power_draws,
                             level=level, n_bootstrap=n_bootstrap, random_state=random_state, notes=notes)
    for note in notes:
        warnings.warn(note, StatisticsWarning, stacklevel=2)
    results = {
        **assessed, "n_members": int(R.size), "attack": fitted.name,
        "attack_config": {**asdict(fitted.config), **_fitted_info(fitted)},
        "calibration": calib, "warnings": notes,
    }
    arrays = {"scores": scores, "forget": F, "nonmembers": NM, "members": R}
    return AuditResult(results, arrays)
