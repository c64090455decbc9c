"""Evaluating an unlearning method with U-LiRA (leave-one-out over shadows), and auditing one
target with the method's unlearned shadows as the IN distribution.

**Method evaluation** (:func:`evaluate_ulira`): each held-out shadow t is a target. Positives are
``(its unlearned model, x)`` for x in ``F_t``; negatives are ``(its retrain, same x)`` for
``reference="retrain"``, else ``(its base / unlearned model, x)`` for the x it never trained on.
U-LiRA is fitted on the other shadows. The pooled scores give the summarize block (AUC, TPR at
low FPR, ...), the **U-LiRA accuracy** (balanced accuracy at a threshold chosen on the other half
of the targets, so 0.5 = indistinguishable from the reference) and the per-example likelihood
ratios. The **power control** runs the same machinery with the base shadows as the "unlearned"
ones (the ``original`` method, no unlearning); the verdict (:func:`auc_evidence`, then the one rule :func:`~muaudit.audit.decision.decide`) is
``consistent with retraining`` only when that control is caught.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict

import numpy as np
from scipy.special import expit
from scipy.stats import mannwhitneyu, norm

from muaudit.checks import as_signals_3d, check_mask, check_positive_int
from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, DEFAULT_MIN_POWER, Evidence, apply_decision
from muaudit.audit.verdict import AuditResult, assess_scores, check_audit_inputs, check_calibration
from muaudit.attacks.population import logistic_mia_possible, logistic_regression_mia
from muaudit.attacks.ulira import ShadowFamilies, ULiRA, ULiRAConfig, UnlearningSignals
from muaudit.errors import DataError
from muaudit.progress import Counter
from muaudit.metrics import StatisticsWarning, auc, balanced_accuracy_ci, roc, summarize

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def loo_scores(fam: ShadowFamilies, config: ULiRAConfig, targets, tick=None) -> dict:
    """Leave-one-out U-LiRA scores: ``{"scores", "labels", "target", "example"}`` (1-D, pooled);
    ``tick()`` after each target.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_families
        >>> fam = synthetic_families(n_models=16, n_samples=200, leak=3.0)   # unlearning leaves a trace
        >>> s = loo_scores(fam, ULiRAConfig(), targets=[0, 1])
        >>> sorted(s), bool(s["scores"][s["labels"]].mean() > s["scores"][~s["labels"]].mean())
        (['example', 'labels', 'scores', 'target'], True)
    """
    parts = {k: [] for k in ("scores", "labels", "target", "example")}
    for t in targets:
        fitted = ULiRA(config=config).fit(fam.signals(config.reference, np.arange(fam.n_models) != t))
        neg_signals, neg_mask = fam.negatives(config.reference, t)
        for signals, mask, label in ((fam.unlearned[t], fam.forget[t], True), (neg_signals, neg_mask, False)):
            idx = np.flatnonzero(mask)
            parts["scores"].append(fitted.score(signals)[idx])
            parts["labels"].append(np.full(idx.size, label))
            parts["target"].append(np.full(idx.size, t))
            parts["example"].append(idx)
        if tick is not None:
            tick()
    return {k: np.concatenate(v) for k, v in parts.items()}


def held_out_accuracy(s: dict, *, random_state: int = 0, level: float = 0.95) -> dict:
    """Balanced accuracy at a threshold chosen on the other half of the targets (two folds).

    Unlike the best-threshold ``balanced_accuracy`` (always >= 0.5), this estimate is unbiased
    under "indistinguishable", so its Clopper-Pearson interval may contain 0.5.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_families
        >>> s = loo_scores(synthetic_families(n_models=16, n_samples=200, leak=3.0), ULiRAConfig(), [0, 1, 2, 3])
        >>> acc = held_out_accuracy(s)
        >>> bool(acc["accuracy"] > 0.8), bool(acc["ci"][0] > 0.5)
        (True, True)
    """
    targets = np.unique(s["target"])
    fold = np.isin(s["target"], np.random.default_rng(random_state).permutation(targets)[: len(targets) // 2])
    pred = np.zeros(s["scores"].size, bool)
    for train in (fold, ~fold):
        test = ~train
        if not test.any():
            continue
        ok = train if np.unique(s["labels"][train]).size == 2 else test  # a single target: in-sample
        fpr, tpr, thr = roc(s["labels"][ok], s["scores"][ok])
        pred[test] = s["scores"][test] >= thr[np.argmax(tpr - fpr)]
    y = s["labels"]
    value = float((pred[y].mean() + (~pred[~y]).mean()) / 2)
    return {"accuracy": value, "ci": balanced_accuracy_ci(value, int(y.sum()), int((~y).sum()), level=level),
            "threshold": "chosen on the other half of the targets (2 folds)"}


def per_example(s: dict) -> dict:
    """Distribution of the unlearned-vs-reference log-likelihood ratios and posteriors.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_families
        >>> s = loo_scores(synthetic_families(n_models=16, n_samples=200, leak=3.0), ULiRAConfig(), [0, 1])
        >>> d = per_example(s)
        >>> bool(d["posterior_unlearned_above_half"] > d["posterior_reference_above_half"]), sorted(d["log_lr_unlearned"])
        (True, ['q05', 'q25', 'q50', 'q75', 'q95'])
    """
    pos, neg = s["scores"][s["labels"]], s["scores"][~s["labels"]]
    q = lambda v: dict(zip([f"q{int(100 * p):02d}" for p in QUANTILES], np.quantile(v, QUANTILES).tolist()))  # noqa: E731
    ex = s["example"][s["labels"]]
    uniq, inv = np.unique(ex, return_inverse=True)
    mean_post = np.bincount(inv, expit(pos)) / np.bincount(inv)
    return {"log_lr_unlearned": q(pos), "log_lr_reference": q(neg),
            "posterior_unlearned_above_half": float((pos > 0).mean()),
            "posterior_reference_above_half": float((neg > 0).mean()),
            "n_examples": int(uniq.size), "example_mean_posterior": q(mean_post),
            "examples_mean_posterior_above_half": float((mean_post > 0.5).mean())}


def mann_whitney_p_value(x, y) -> float:
    """Mann-Whitney U p-value of "x tends to be larger than y" (1.0 where undefined, never NaN).

    Example:
        >>> mann_whitney_p_value([3, 4, 5], [0, 1, 2])
        0.05
        >>> mann_whitney_p_value([], [1.0])      # undefined: 1.0, not NaN
        1.0
    """
    p = float(mannwhitneyu(np.asarray(x, float), np.asarray(y, float), alternative="greater").pvalue)
    return p if np.isfinite(p) else 1.0


def _per_target(s: dict, alpha: float) -> tuple[list, float]:
    """Per-target AUCs and the fraction of targets whose own test rejects at ``alpha``."""
    aucs, hits = [], []
    for t in np.unique(s["target"]):
        m = s["target"] == t
        y, v = s["labels"][m], s["scores"][m]
        aucs.append(auc(y, v) if 0 < y.sum() < y.size else None)
        hits.append(0 < y.sum() < y.size and mann_whitney_p_value(v[y], v[~y]) < alpha)
    return aucs, float(np.mean(hits))


def _block(s: dict, *, alpha, level, n_bootstrap, random_state) -> dict:
    opts = {"level": level, "n_bootstrap": n_bootstrap, "random_state": random_state}
    y = s["labels"]
    aucs, power = _per_target(s, alpha)
    # cases share an example (scored under several held-out targets) and a target (scored on many
    # examples): a bootstrap over both crossed groupings
    return {**summarize(y, s["scores"], groups=np.stack([s["example"], s["target"]]), **opts),
            "auc_ci_resampling": "examples x targets (two-way cluster bootstrap)",
            "p_value": mann_whitney_p_value(s["scores"][y], s["scores"][~y]),
            "ulira_accuracy": held_out_accuracy(s, random_state=random_state, level=level),
            "per_target_auc": aucs, "power": power}


def auc_evidence(block: dict, control: dict, *, alpha: float, max_residual: float = DEFAULT_MAX_RESIDUAL,
                 min_power: float = DEFAULT_MIN_POWER) -> Evidence:
    """The decision's evidence from an AUC with a (cluster-bootstrap) interval and its control.

    The AUC's standard error is read off its interval (normal approximation), so both one-sided
    p-values respect the interval's resampling (examples x targets). A mixture in which a fraction
    r of the cases behave like the control (never unlearned) has AUC ``0.5 + r (AUC_c - 0.5)``:
    the minimum detectable residual is ``(z_{1-alpha} + z_{min_power}) se / (AUC_c - 0.5)`` (None
    when that exceeds 1), the power against a full residual ``Phi((AUC_c - 0.5) / se - z_{1-alpha})``.

    Example:
        >>> e = auc_evidence({"auc": 0.5, "auc_ci": [0.45, 0.55], "level": 0.95},
        ...                  {"auc": 0.9, "auc_ci": [0.85, 0.95]}, alpha=0.01)
        >>> round(e.p_value, 2), round(e.residual, 2)
        (0.5, 0.25)
    """
    zl = norm.ppf(0.5 + float(block.get("level", 0.95)) / 2)
    lo, hi = block["auc_ci"]
    se = max((hi - lo) / (2 * zl), 1e-12)
    z = (block["auc"] - 0.5) / se
    gap = float(control["auc"]) - 0.5
    residual = power = None
    if gap > 0:
        r = (norm.ppf(1 - alpha) + norm.ppf(min_power)) * se / gap
        residual = float(r) if r <= 1 else None
        power = float(norm.cdf(gap / se - norm.ppf(1 - alpha)))
    blockers = []
    c_lo, c_hi = control["auc_ci"]
    if c_lo <= 0.5:
        blockers.append(f"the power control does not catch the original (never unlearned) models "
                        f"(AUC interval [{c_lo:.3f}, {c_hi:.3f}] contains 0.5): this pool cannot tell")
    return Evidence(p_value=float(norm.sf(z)), p_value_lower=float(norm.cdf(z)), alpha=alpha, residual=residual,
                    power=power, power_lower=power, blockers=tuple(blockers), max_residual=max_residual,
                    min_power=min_power)


def evaluate_ulira(fam: ShadowFamilies, *, config: ULiRAConfig | None = None, n_targets: int | None = None,
                   alpha: float = DEFAULT_ALPHA, max_residual: float = DEFAULT_MAX_RESIDUAL, level: float = 0.95,
                   n_bootstrap: int = 1000, random_state: int = 0, progress=None) -> tuple[dict, dict]:
    """Evaluate a method with leave-one-out U-LiRA; return ``(results, arrays)``.

    ``progress(done, total)`` is called after each held-out target of the method and of the
    power control (``total = 2 x targets``).

    ``results``: the summarize block of the method (``auc``, ``auc_ci``, ``balanced_accuracy``,
    ``tpr_at_fpr``, ``epsilon_lower_bound``, ...) plus ``ulira_accuracy``, ``p_value`` (one-sided
    Mann-Whitney U), ``power`` (fraction of single targets whose own test rejects at ``alpha``),
    ``per_target_auc``, ``per_example``, ``power_control`` (the same block for ``original``),
    ``verdict``, ``inconclusive_reasons``, ``attack_config``, ``warnings``. ``arrays``: the pooled
    ``scores``, ``labels``, ``target``, ``example`` and the control's ``control_*``.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_families
        >>> res, arrays = evaluate_ulira(synthetic_families(n_models=16, n_samples=200, leak=3.0), n_bootstrap=200)
        >>> res["verdict"], bool(res["auc"] > 0.9)
        ('not unlearned', True)
        >>> evaluate_ulira(synthetic_families(n_models=16, n_samples=200, leak=0.0), n_bootstrap=200)[0]["verdict"]
        'consistent with retraining'
    """
    config = config or ULiRAConfig()
    if fam.n_models < 2:
        raise DataError(f"Expected at least 2 shadow models for leave-one-out, got {fam.n_models}")
    if not fam.forget.any(axis=1).any():
        raise DataError("no shadow has a non-empty forget set")
    rng = np.random.default_rng(random_state)
    with_forget = np.flatnonzero(fam.forget.any(axis=1))
    n = with_forget.size if n_targets is None else check_positive_int("n_targets", n_targets)
    targets = np.sort(rng.permutation(with_forget)[:n])
    opts = {"alpha": alpha, "level": level, "n_bootstrap": n_bootstrap, "random_state": random_state}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        tick = Counter(progress, 2 * len(targets)).step
        s, c = loo_scores(fam, config, targets, tick), loo_scores(fam.original(), config, targets, tick)
    block, control = _block(s, **opts), _block(c, **opts)
    notes = collapse_warnings(caught)
    results = {**block, "alpha": alpha, "mann_whitney_p_value": block["p_value"],
               "test": "leave-one-out U-LiRA; p-values from the AUC and its two-way cluster-bootstrap interval",
               "per_example": per_example(s), "power_control": control, "n_forget": block["n_pos"],
               "n_nonmembers": block["n_neg"], "targets": targets.tolist(), "attack": "ulira",
               "attack_config": asdict(config), "warnings": notes}
    evidence = auc_evidence({**block, "level": level}, control, alpha=alpha, max_residual=max_residual)
    results.update(p_value=evidence.p_value, p_value_lower=evidence.p_value_lower)
    apply_decision(results, evidence)
    arrays = {**s, **{f"control_{k}": v for k, v in c.items()}}
    return results, arrays


def collapse_warnings(caught) -> list[str]:
    """One note per kind of StatisticsWarning (messages that differ only in numbers are one kind).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     for n in (3, 5):
        ...         warnings.warn(f"{n} examples have no IN shadow", StatisticsWarning)
        >>> collapse_warnings(caught)
        ['3 examples have no IN shadow (and 1 similar)']
    """
    kinds: dict[str, list[str]] = {}
    for w in caught:
        if issubclass(w.category, StatisticsWarning):
            kinds.setdefault(re.sub(r"[-+]?\d[\d.e+-]*", "#", str(w.message)), []).append(str(w.message))
    return [f"{msgs[0]} (and {len(msgs) - 1} similar)" if len(msgs) > 1 else msgs[0] for msgs in kinds.values()]


def population_mia(loss: np.ndarray, forget: np.ndarray, nonmembers: np.ndarray, *, random_state: int = 123) -> dict:
    """Deep Unlearn's logistic-regression MIA and LOSS AUC, forget vs non-members, per model.

    ``loss`` float ``[T, N]`` (cross-entropy of T models), ``forget`` / ``nonmembers`` bool ``[T, N]``.
    Returns means and standard deviations over the models.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> loss = rng.exponential(1.0, (3, 100))                           # 3 models; forget = first 20 examples
        >>> forget = np.zeros((3, 100), bool); forget[:, :20] = True
        >>> out = population_mia(loss, forget, ~forget)
        >>> out["n_models"], sorted(out)[:2]
        (3, ['indiscernibility', 'indiscernibility_std'])
    """
    ind, acc, loss_auc = [], [], []
    for t in range(loss.shape[0]):
        f, n = loss[t, forget[t]], loss[t, nonmembers[t]]
        if not logistic_mia_possible(f.size, n.size):
            continue
        lr = logistic_regression_mia(f, n, random_state=random_state)
        ind.append(lr.indiscernibility), acc.append(lr.accuracy)
        loss_auc.append(auc(np.r_[np.ones(f.size, bool), np.zeros(n.size, bool)], -np.r_[f, n]))
    stat = lambda v: (float(np.mean(v)), float(np.std(v))) if v else (None, None)  # noqa: E731
    (i_m, i_s), (a_m, a_s), (l_m, l_s) = stat(ind), stat(acc), stat(loss_auc)
    return {"indiscernibility": i_m, "indiscernibility_std": i_s, "logistic_regression_accuracy": a_m,
            "logistic_regression_accuracy_std": a_s, "loss_auc": l_m, "loss_auc_std": l_s, "n_models": len(ind)}


def audit_unlearned_target(target, base, keep, unlearned, forget_m, *, forget, nonmembers, members=None,
                           alpha: float = 0.01, min_power: float = 0.95, recenter: bool = True,
                           ks_alpha: float = 0.01, config: ULiRAConfig | None = None, on_scores=None,
                           **assess_options) -> AuditResult:
    """Audit one target knowing its unlearning method: is its forget set distributed like the
    method's unlearned shadows (``unlearned`` ``[M, N, V]`` phi, ``forget_m`` their ``F_m``) rather
    than like shadows that never saw it (base shadows with ``~keep``)?

    Every example gets :meth:`ULiRA.calibrated_score`: forget examples with the method's unlearned
    shadows as IN, the others with the base shadows that trained on them (so the power control,
    retained members vs non-members, asks whether a forget set the target still remembers would be
    caught). Then :func:`~muaudit.audit.verdict.assess_scores`, after the same calibration
    (recentering) as :func:`~muaudit.audit.verdict.audit_target`. Same results keys; ``on_scores``
    as there (called with the scores ``[N]`` before the statistics).

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_families, synthetic_pool
        >>> pool = synthetic_pool(n_models=16, n_samples=200)
        >>> fam = synthetic_families(n_models=16, n_samples=200, leak=3.0)   # that pool, plus unlearned shadows
        >>> target = pool.draw((np.arange(200) >= 30) & (np.arange(200) < 100))   # trained on 30..99 ...
        >>> target[:30] += 3.0                                              # ... and "unlearned" 0..29 as the shadows
        >>> res = audit_unlearned_target(target, fam.base, fam.keep, fam.unlearned, fam.forget, forget=np.arange(30),
        ...                              nonmembers=np.arange(100, 200), members=np.arange(30, 100), n_power_draws=50)
        >>> res.results["verdict"]
        'not unlearned'
    """
    reference, t, F, NM, R = check_audit_inputs(target, base, keep, forget, nonmembers, members)
    unlearned = as_signals_3d("unlearned", unlearned)
    forget_m = check_mask("forget_m", forget_m, reference.keep.shape)
    calib, notes = check_calibration(t, reference, NM, recenter=recenter, ks_alpha=ks_alpha)
    cols = np.zeros(reference.n_samples, bool)
    cols[F] = True
    signals = UnlearningSignals(np.concatenate([unlearned, reference.signals]),
                                np.concatenate([forget_m & cols, reference.keep & ~cols]),
                                reference.signals, ~reference.keep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        fitted = ULiRA(config=config or ULiRAConfig(reference="out")).fit(signals)
        scores = fitted.calibrated_score(t - calib["offset"] if recenter else t)
    notes += sorted({str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)})
    if on_scores is not None:
        on_scores(scores)
    assessed = assess_scores(scores, F, NM, R, alpha=alpha, min_power=min_power, notes=notes, **assess_options)
    for note in notes:
        warnings.warn(note, StatisticsWarning, stacklevel=2)
    n_in = fitted.n_in_[F]
    results = {**assessed, "n_members": int(R.size), "attack": "ulira", "attack_config": asdict(fitted.config),
               "unlearned_shadows_per_forget_example": [int(n_in.min()), int(np.median(n_in)), int(n_in.max())],
               "calibration": calib, "warnings": notes}
    return AuditResult(results, {"scores": scores, "forget": F, "nonmembers": NM, "members": R})


def evaluate_deep_unlearn(fam: ShadowFamilies, statistic: np.ndarray | None = None) -> dict:
    """Deep Unlearn's U-LiRA protocol on a pool (:func:`~muaudit.attacks.ulira.deep_unlearn_membership`):
    the method's unlearned shadows on both sides (``same-method``), fitted in-sample, per-example
    ``np.std``; ``statistic`` ``[M, N]`` defaults to the families' (pass 0/1 correctness for parity).

    Returns ``{"protocol": "deep-unlearn", "n_cases", "n_undefined", "fraction_undefined",
    "mean_probability"}``: the mean membership probability over the **defined** cases (Deep
    Unlearn defines no aggregate; 0.5 = forgotten cases look like never-seen ones) and how many
    cases the protocol leaves undefined (a side with zero variance), which the mean does not cover.
    """
    from muaudit.attacks.ulira import deep_unlearn_membership

    stat = fam.unlearned.mean(axis=2) if statistic is None else np.asarray(statistic, np.float64)
    res = deep_unlearn_membership(stat, fam.forget, ~fam.keep)
    p = res.probability[res.defined]
    return {"protocol": "deep-unlearn", "n_cases": res.n_cases, "n_undefined": res.n_undefined,
            "fraction_undefined": res.n_undefined / res.n_cases if res.n_cases else 0.0,
            "mean_probability": float(p.mean()) if p.size else None}
