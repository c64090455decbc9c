"""How many shadows do I need? The minimum detectable residual against the number of shadows.

From a built pool (or a pilot of a few shadows): some shadows in turn play the target; each is
scored by online LiRA fitted on a random subset of m of the other shadows; the residual that a
forget set of ``forget_size`` of its members would have (against ``n_nonmembers`` of its
non-members, the audit's comparison set) comes from the same simulation and statistic (the mixture
LLR) as an audit's
(:func:`~muaudit.audit.power.min_detectable_residual`). The median over targets at several m is
fitted with ``r(m) = a + b / sqrt(m)`` (the per-example Gaussians' estimation error shrinks like
``1 / sqrt(m)``; ``a`` is what no number of shadows removes) and extrapolated to the m that
reaches ``max_residual``. A held-out shadow trained on half of the population, not on the whole
training split, so the prediction is for audits of models of the pool's own recipe.
"""

from __future__ import annotations

import numpy as np

from muaudit.attacks.base import ReferenceSignals, make_attack
from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, DEFAULT_MIN_POWER
from muaudit.audit.power import min_detectable_residual, single_stratum
from muaudit.audit.statistic import mixture_scores
from muaudit.checks import check_positive_int
from muaudit.errors import DataError

UNREACHED = 1.0  # a residual that even a fully remembered set does not reach counts as 1 in the fit


def _residual_at(reference: ReferenceSignals, target: int, m: int, *, forget_size: int, n_nonmembers: int,
                 alpha: float, min_power: float, max_residual: float, rng: np.random.Generator,
                 n_draws: int) -> float | None:
    others = np.flatnonzero(np.arange(reference.n_models) != target)
    chosen = np.zeros(reference.n_models, bool)
    chosen[rng.choice(others, m, replace=False)] = True
    llr = make_attack("lira", mode="online").fit(reference.subset(chosen)).score(reference.signals[target])
    scores = mixture_scores(llr, max_residual)  # the audit's own statistic
    keep = reference.keep[target]
    members, out = scores[keep], scores[~keep]
    out = out[rng.permutation(out.size)[:n_nonmembers]]
    res = min_detectable_residual(members, out, single_stratum(forget_size, members.size), alpha=alpha,
                                  target_power=min_power, n_draws=n_draws, random_state=int(rng.integers(2**31)))
    return res["r"]


def fit_curve(counts, residuals) -> tuple[float, float]:
    """Least-squares ``a, b`` of ``r(m) = a + b / sqrt(m)`` (``b`` floored at 0).

    Example:
        >>> a, b = fit_curve([16, 64], [0.5, 0.35])
        >>> round(a, 2), round(b, 2)
        (0.2, 1.2)
    """
    x = 1.0 / np.sqrt(np.asarray(counts, np.float64))
    y = np.asarray(residuals, np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        return float(y.mean()), 0.0
    b, a = np.polyfit(x, y, 1)
    if b < 0:
        return float(y.mean()), 0.0
    return float(a), float(b)


def shadows_needed(a: float, b: float, max_residual: float) -> int | None:
    """The smallest m with ``a + b / sqrt(m) <= max_residual`` (None: no m reaches it).

    Example:
        >>> shadows_needed(0.2, 1.0, 0.3)
        100
    """
    if max_residual <= a:
        return None
    if b == 0:
        return 2
    return int(np.ceil((b / (max_residual - a)) ** 2 - 1e-9))


def plan_shadows(reference: ReferenceSignals, *, forget_size: int, n_nonmembers: int,
                 max_residual: float = DEFAULT_MAX_RESIDUAL, alpha: float = DEFAULT_ALPHA,
                 min_power: float = DEFAULT_MIN_POWER, n_targets: int = 4, counts=None, n_draws: int = 60,
                 random_state: int = 0) -> dict:
    """The residual curve of a pool and the shadows needed for ``max_residual`` at ``forget_size``.

    Returns ``curve`` (``{m: median r}``, None where not even a full residual is caught),
    ``fit`` (``a``, ``b``), ``shadows_needed`` (None when unreachable: more shadows cannot help,
    a larger forget set or query views can), ``residual_now`` (the fit at the pool's size) and
    the inputs.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=16, n_samples=400)
        >>> plan = plan_shadows(ReferenceSignals(pool.phi, pool.keep), forget_size=40, n_nonmembers=150,
        ...                     n_targets=2, n_draws=30)
        >>> sorted(plan["curve"]), plan["shadows_needed"] is None or plan["shadows_needed"] >= 2
        ([3, 7, 15], True)
    """
    M = reference.n_models
    if M < 3:
        raise DataError(f"Expected a pool of at least 3 shadows to plan from, got {M}")
    forget_size = check_positive_int("forget_size", forget_size)
    n_nonmembers = check_positive_int("n_nonmembers", n_nonmembers)
    counts = sorted({c for c in (counts or (max(2, (M - 1) // 4), max(2, (M - 1) // 2), M - 1)) if 2 <= c <= M - 1})
    rng = np.random.default_rng(random_state)
    targets = rng.choice(M, min(n_targets, M), replace=False)
    min_members = int(reference.keep[targets].sum(axis=1).min())
    if forget_size > min_members:
        raise DataError(f"Expected --forget-size at most {min_members} (the members of a held-out shadow), "
                        f"got {forget_size}")
    curve = {}
    for m in counts:
        rs = [_residual_at(reference, int(t), m, forget_size=forget_size, n_nonmembers=n_nonmembers, alpha=alpha,
                           min_power=min_power, max_residual=max_residual, rng=rng, n_draws=n_draws)
              for t in targets]
        curve[m] = float(np.median([UNREACHED if r is None else r for r in rs]))
    a, b = fit_curve(list(curve), list(curve.values()))
    need = shadows_needed(a, b, max_residual)
    return {"curve": {m: (None if r >= UNREACHED else r) for m, r in curve.items()}, "fit": {"a": a, "b": b},
            "shadows_needed": need, "residual_now": min(1.0, a + b / np.sqrt(M)), "n_shadows": M,
            "forget_size": forget_size, "n_nonmembers": n_nonmembers, "max_residual": max_residual,
            "alpha": alpha, "min_power": min_power, "targets": [int(t) for t in targets]}
