"""The NeurIPS-2023 unlearning competition score (Triantafillou et al. 2024, arXiv:2406.09073).

Per forget example x, the outputs of many unlearned models and many retrained models (all on the
same forget set) are two samples of a statistic (the logit-scaled confidence). An attacker's
decision rules, single thresholds ("positive if c >= t") and intervals ("positive if l <= c <= r",
for the peakier side), each give a false-positive and a false-negative rate, and by the
hypothesis-testing view of (epsilon, delta)-unlearning

    eps_rule = max(log(1 - delta - FPR) - log(FNR), log(1 - delta - FNR) - log(FPR)),  >= 0

with ``delta = 1e-5``. A rule that separates the two samples perfectly gives infinity; a rule with
exactly one of FPR, FNR at 0 is discarded (too few samples to tell). ``eps(x)`` is the largest
over the rules, capped at 50 (also when one side's spread is under 1 % of the other's: a collapsed
output distribution). Each example earns ``2^-k`` points for ``eps(x)`` in the k-th bucket
``[k/2, (k+1)/2)``, with buckets up to ``ceil(log(n_models - 1))`` (what n models can resolve) and
0 points beyond; the **forgetting quality** F is the mean over the forget set (1 = every example
indistinguishable). The **final score** is ``F * (RA_U / RA_R) * (TA_U / TA_R)``.

Grids follow the competition's evaluation code: 100 thresholds per unit of the statistic; interval
rules with their right end on that grid over ``[min_pos + w - 2, max_pos + 2]`` and their left end
``w +- 2`` below it (w = the peakier side's range).
"""

from __future__ import annotations

import math

import numpy as np

from muaudit.errors import DataError

DELTA = 1e-5
EPSILON_CAP = 50.0
PER_UNIT = 100
BUFFER = 2.0


def _rates_single(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of the rules ``c >= t`` on the grid over both samples."""
    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(lo, hi, max(int(math.ceil((hi - lo) * PER_UNIT)), 1))
    ps, ns = np.sort(pos), np.sort(neg)
    fnr = np.searchsorted(ps, t, side="left") / len(ps)          # positives below t
    fpr = 1 - np.searchsorted(ns, t, side="left") / len(ns)      # negatives at or above t
    return fpr, fnr


def _interval_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (FPR, FNR) of the rules ``l <= c <= r`` with the peakier sample as the positive side.

    The grid has ``R x O`` rules (~400 x 400) with right ends ``r_i`` and left ends ``l_ij``; a
    rule's rates are ``#(l_ij <= s <= r_i) / n`` per sample, so only the distinct count pairs
    matter. Row i's left ends do not decrease with j, so with ``k_im = #(l_ij <= s_m)`` (one batched
    ``searchsorted`` of the samples into the rows), ``s_m < l_ij`` exactly when ``j >= k_im``: the
    counts of row i change only at ``j`` in ``{0} + {k_im}``, and evaluating them there gives every
    pair the full grid gives, from the same float comparisons (so epsilon is identical).
    """
    import torch

    if np.ptp(pos) >= np.ptp(neg):
        pos, neg = neg, pos
    width = float(np.ptp(pos))
    lo, hi = pos.min() + width - BUFFER, pos.max() + BUFFER
    right = np.linspace(lo, hi, max(int(math.ceil((hi - lo) * PER_UNIT)), 1))
    offsets = np.linspace(-BUFFER, BUFFER, int(math.ceil(2 * BUFFER * PER_UNIT)))
    left = torch.from_numpy(right[:, None] - width + offsets[None, :])  # [R, O], rows non-decreasing
    ps, ns = np.sort(pos), np.sort(neg)
    rows = len(right)
    k = [torch.searchsorted(left, torch.from_numpy(s).expand(rows, len(s)).contiguous(), right=True) for s in (ns, ps)]
    at = torch.cat([torch.zeros(rows, 1, dtype=torch.int64), *k], dim=1)
    at = torch.where(at < len(offsets), at, 0)  # a break at j = O is off the grid: row i's pair at j = 0 instead
    inside = [np.maximum(np.searchsorted(s, right, side="right")[:, None]
                         - torch.searchsorted(ks, at, right=True).numpy(), 0) for s, ks in zip((ns, ps), k)]
    code = np.flatnonzero(np.bincount((inside[0] * (len(ps) + 1) + inside[1]).ravel()))
    return (code // (len(ps) + 1)) / len(ns), 1 - (code % (len(ps) + 1)) / len(ps)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, *, delta: float = DELTA) -> float:
    """``eps(x)`` from the statistic of x under each unlearned and each retrained model (1-D)."""
    u, r = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    small, large = sorted((np.ptp(pos), np.ptp(neg)))
    if large == 0:
        return 0.0 if pos[0] == neg[0] else EPSILON_CAP
    if small / large < 0.01:
        return EPSILON_CAP
    fpr, fnr = (np.concatenate(p) for p in zip(_rates_single(pos, neg), _interval_rates(pos, neg)))
    if ((fpr == 0) & (fnr == 0)).any():
        return EPSILON_CAP
    keep = (fpr > 0) & (fnr > 0)
    if not keep.any():
        return 0.0
    fpr, fnr = fpr[keep], fnr[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.fmax(np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr))
    return float(np.clip(np.nanmax(eps), 0.0, EPSILON_CAP))


def bucket_points(eps: np.ndarray, n_models: int) -> np.ndarray:
    """Points per example: ``2^-k`` for eps in ``[k/2, (k+1)/2)``, buckets up to ``ceil(log(n - 1))``."""
    top = math.ceil(math.log(n_models - 1)) if n_models > 2 else 0
    k = np.floor(np.asarray(eps, np.float64) / 0.5)
    n_buckets = int(top / 0.5)
    return np.where(k < n_buckets, 0.5 ** k, 0.0)


def competition_statistic(logits, labels) -> np.ndarray:
    """The competition's statistic: the logit-scaled confidence ``log(p_y + 1e-45) - log(1 - p_y + 1e-45)``
    of the true class, from float64 softmax probabilities (``metric.compute_logit_scaled_confidence``
    of the evaluation code). The ``1e-45`` bounds it to about +-103.6 where one side underflows.

    Example:
        >>> competition_statistic(np.array([[2.0, 0.0], [0.0, 1e4]]), np.array([0, 0])).round(3).tolist()
        [2.0, -103.616]
    """
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(z))
    right = p[rows, labels].copy()
    p[rows, labels] = 0.0
    return np.log(right + 1e-45) - np.log(p.sum(axis=1) + 1e-45)


def example_epsilons(unlearned, retrained) -> np.ndarray:
    """``eps(x)`` of every example from statistics ``[n_models, n_examples]`` of each side.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> example_epsilons(rng.normal(size=(8, 2)), rng.normal(10, 1, size=(8, 2))).tolist()
        [50.0, 50.0]
    """
    u, r = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    return np.array([example_epsilon(u[:, i], r[:, i]) for i in range(u.shape[1])])


def bootstrap_interval(points, *, resamples: int = 1000, random_state: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``points`` (one per forget example) over ``resamples``
    seeded resamples of the examples: how much F depends on which examples were forgotten (not
    on the finite number of models, which biases F downward; see docs/benchmark.md).

    Example:
        >>> bootstrap_interval(np.r_[np.ones(50), np.zeros(50)], random_state=0)
        (0.4, 0.6)
    """
    p = np.asarray(points, np.float64)
    idx = np.random.default_rng(random_state).integers(0, len(p), size=(resamples, len(p)))
    means = p[idx].mean(axis=1)
    q = (1 - level) / 2
    return float(np.quantile(means, q)), float(np.quantile(means, 1 - q))


def competition_score(unlearned, retrained, *, retain_ratio: float = 1.0, test_ratio: float = 1.0) -> dict:
    """Forgetting quality F and the final score from statistics ``[n_models, n_examples]`` of the
    unlearned and the retrained models (same forget set, same number of models >= 3).

    Returns ``{"forget_quality", "final_score", "epsilon_median", "n_models", "n_examples"}``
    (``final_score = F * retain_ratio * test_ratio``, the ratios being accuracy_U / accuracy_R).
    """
    u, r = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    if u.ndim != 2 or u.shape != r.shape or u.shape[0] < 3:
        raise DataError(f"Expected unlearned and retrained statistics of the same shape [n_models >= 3, n_examples], "
                        f"got {u.shape} and {r.shape}")
    if not (np.isfinite(u).all() and np.isfinite(r).all()):
        raise DataError("Expected finite statistics (a diverged model cannot be scored)")
    eps = example_epsilons(u, r)
    f = float(bucket_points(eps, u.shape[0]).mean())
    return {"forget_quality": f, "final_score": f * retain_ratio * test_ratio,
            "epsilon_median": float(np.median(eps)), "n_models": int(u.shape[0]), "n_examples": int(u.shape[1])}
