"""The statistics of the protocol: paired tests, efficacy with its spread, power and verdict.

Item values are the attacks' per-item outcomes (higher = attack stronger), aligned across the
original, unlearned and retrained models of one seed (same canaries, same test inputs). Seeds are
independent draws of poisons and models, so items of all seeds pool.
"""

from __future__ import annotations

import numpy as np
from scipy import stats



def _binary(*arrays) -> bool:
    return all(np.isin(a, (0.0, 1.0)).all() for a in arrays)


def paired_test(a, b, *, alternative: str = "greater") -> dict:
    """Is the attack stronger on ``a`` than on ``b`` (same items)? One-sided by default.

    Binary outcomes (success / failure): exact McNemar (binomial test on the discordant pairs).
    Otherwise a paired t-test on ``a - b``. Identical inputs, or fewer than 2 items, give
    ``p_value = 1`` (never NaN).

    Example:
        >>> round(paired_test([1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0])["p_value"], 4)
        0.0312
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a - b
    out = {"n": int(d.size), "difference": float(d.mean()) if d.size else 0.0, "alternative": alternative}
    if _binary(a, b):
        up, down = int(np.sum(d > 0)), int(np.sum(d < 0))
        k = down if alternative == "less" else up
        side = "two-sided" if alternative == "two-sided" else "greater"
        p = stats.binomtest(k, up + down, 0.5, alternative=side).pvalue if up + down else 1.0
        return {**out, "test": "exact McNemar (paired binary outcomes)", "discordant": [up, down], "p_value": float(p)}
    if d.size < 2:
        return {**out, "test": "none (fewer than 2 items)", "p_value": 1.0}
    if np.all(d == d[0]):
        sign = {"greater": d[0] > 0, "less": d[0] < 0, "two-sided": d[0] != 0}[alternative]
        return {**out, "test": "paired t-test (degenerate: constant differences)", "p_value": 0.0 if sign else 1.0}
    p = stats.ttest_1samp(d, 0.0, alternative=alternative).pvalue
    return {**out, "test": "paired t-test", "p_value": float(p)}


def efficacy(t_init: float, t_unl: float, t_retrain: float) -> float | None:
    """``(T_init - T_unl) / (T_init - T_retrain)``: 1 = as retraining, 0 = nothing removed, < 0 worse.

    None when the denominator is 0 (the attack had no effect to remove).
    """
    gap = t_init - t_retrain
    return None if gap == 0 or not np.isfinite(gap) else float((t_init - t_unl) / gap)


def efficacy_summary(seeds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, level: float = 0.95,
                     n_bootstrap: int = 1000, random_state: int = 0) -> dict:
    """Efficacy from per-seed item values ``(init, unlearned, retrain)``.

    Returns the pooled efficacy (means over all items), a percentile interval from a two-level
    bootstrap (seeds resampled with replacement, then items within each seed, jointly for the
    three models, so a method that behaves differently from seed to seed gets a wide interval),
    the per-seed efficacies and their mean and standard deviation over seeds (``std`` None with
    one seed).
    """
    pooled = [np.concatenate([s[k] for s in seeds]) for k in range(3)]
    value = efficacy(*(float(p.mean()) for p in pooled))
    per_seed = [efficacy(*(float(v.mean()) for v in s)) for s in seeds]
    finite = [e for e in per_seed if e is not None]
    rng = np.random.default_rng(random_state)
    boots = np.full(n_bootstrap, np.nan)
    for b in range(n_bootstrap):
        chosen = [seeds[i] for i in rng.integers(0, len(seeds), len(seeds))] if len(seeds) > 1 else seeds
        picks = [rng.integers(0, len(s[0]), len(s[0])) for s in chosen]
        e = efficacy(*(np.concatenate([s[k][i] for s, i in zip(chosen, picks)]).mean() for k in range(3)))
        boots[b] = np.nan if e is None else e
    tail = (1 - level) / 2
    ci = [float(x) for x in np.nanquantile(boots, [tail, 1 - tail])] if np.isfinite(boots).any() else None
    return {"value": value, "ci": ci, "level": level, "per_seed": per_seed,
            "mean": float(np.mean(finite)) if finite else None,
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None}


def power(gap: dict, null: dict | None, *, alpha: float) -> tuple[bool, list[str]]:
    """Whether the test has power: the poisoned original differs significantly from the retrained
    model (``gap``) and, for attacks with an exact null, from the null. Returns ``(ok, reasons)``."""
    reasons = []
    if null is not None and not null["p_value"] < alpha:
        reasons.append(f"the poisoned original is not significantly different from the null "
                       f"(z = {null['z']:.2f}, p = {null['p_value']:.3g} >= alpha = {alpha:g})")
    if not gap["p_value"] < alpha:
        reasons.append(f"T_init - T_retrain = {gap['difference']:.3g} is not significantly > 0 "
                       f"(p = {gap['p_value']:.3g} >= alpha = {alpha:g})")
    return not reasons, reasons


def evidence(powered: bool, power_reasons: list[str], residual: dict, over: dict, gap: dict, d, *, alpha: float,
             max_residual: float = 0.5, min_power: float = 0.95):
    """The decision's evidence of a poisoning audit (the one rule decides: :mod:`muaudit.audit.decision`).

    ``residual`` / ``over``: paired tests of the unlearned against the retrained model (attack
    stronger / weaker); ``gap``: the original against the retrained (``T_init - T_retrain``);
    ``d``: the per-item differences unlearned - retrained. An unlearned model that keeps a fraction
    r of the gap has ``mean(d) = r * gap``; the minimum detectable residual is
    ``(z_{1-alpha} + z_{min_power}) se(d) / gap`` (None when it exceeds 1 or the gap is not positive).
    ``over-unlearned`` here means the method overshoots: the attack is significantly weaker on the
    unlearned model than on the retrained one.
    """
    from muaudit.audit.decision import Evidence

    d = np.asarray(d, np.float64)
    g = float(gap["difference"])
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else np.inf
    r = (stats.norm.ppf(1 - alpha) + stats.norm.ppf(min_power)) * se / g if g > 0 else np.inf
    return Evidence(p_value=residual["p_value"], p_value_lower=over["p_value"], alpha=alpha,
                    residual=float(r) if r <= 1 else None,
                    power=float(stats.norm.cdf(g / se - stats.norm.ppf(1 - alpha))) if g > 0 and se > 0 else (1.0 if g > 0 else 0.0),
                    blockers=tuple([] if powered else power_reasons), max_residual=max_residual, min_power=min_power)
