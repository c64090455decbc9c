"""One-sided permutation tests of a mean score, optionally within class strata, and their power.

Under H0 the forget scores and the non-member scores are exchangeable (within each stratum when
``strata`` are given); the statistic is the sum of the forget scores, compared with the sums of
random subsets of the pooled scores of the same size (per stratum, the same count per stratum).
"""

from __future__ import annotations

import numpy as np

from muaudit.errors import DataError


def _strata_columns(x_strata, y_strata, k: int, n: int):
    """Per stratum: (x columns, y columns); one stratum holding everything without strata."""
    if x_strata is None:
        return [(np.arange(k), np.arange(n))]
    sx, sy = np.asarray(x_strata), np.asarray(y_strata)
    if sx.shape != (k,) or sy.shape != (n,):
        raise DataError(f"Expected strata of shapes ({k},) and ({n},), got {sx.shape} and {sy.shape}")
    groups = []
    for c in np.unique(sx):
        ys = np.flatnonzero(sy == c)
        if ys.size == 0:
            raise DataError(f"Expected non-members in every stratum of the forget set, class {c} has none: "
                            "a class-stratified test cannot compare it with anything")
        groups.append((np.flatnonzero(sx == c), ys))
    return groups


def one_sided_p_values(x: np.ndarray, y: np.ndarray, *, alternative: str = "greater",
                       n_permutations: int = 10_000, random_state: int = 0,
                       strata: tuple | None = None) -> np.ndarray:
    """Permutation p-values of "the mean of each row of x exceeds (``"less"``: falls below) y's mean".

    ``x`` is ``[B, k]`` (one test per row) or ``[k]``; ``y`` is ``[n]`` (shared) or ``[B, n]`` (one
    comparison set per row). Under H0 the k + n scores are exchangeable; the statistic is the sum
    of x's scores, compared with the sums of ``n_permutations`` random k-subsets of the pooled
    scores: ``p = (1 + #{perm >= obs}) / (1 + n_permutations)``. With ``strata = (x_strata [k],
    y_strata [n])`` only scores of the same stratum are exchangeable: each permutation draws, per
    stratum, as many pooled scores as x has in it (non-members of other strata are ignored; a
    stratum of x without non-members is a DataError). For LiRA scores (per-example log-likelihood
    ratios) the sum is the log-likelihood ratio of "all of x are members", so the test uses the
    heavy upper tail that carries memorisation, where a rank test (Mann-Whitney U) discards it: on
    digits it raised the power to catch a remembered 10% forget set from 0.80 to 1.00 at alpha =
    0.01 (see docs/attacks.md). Exact level under exchangeability; never NaN.

    Example:
        >>> round(float(one_sided_p_values(np.array([3.0]), np.array([0.0, 1.0, 2.0]))[0]), 2)  # exact: 1/4
        0.25
        >>> y = np.array([0.0, 1.0, 2.0, 0.5])
        >>> one_sided_p_values(np.array([[3.0, 4.0], [0.0, 1.0]]), y, n_permutations=999).round(2).tolist()
        [0.07, 0.8]
    """
    greater, less = _exceedances(x, y, n_permutations=n_permutations, random_state=random_state, strata=strata)
    count = greater if alternative == "greater" else less
    return (1.0 + count) / (1.0 + n_permutations)


def _exceedances(x, y, *, n_permutations: int, random_state: int, strata) -> tuple[np.ndarray, np.ndarray]:
    """Per row of x: how many permutation sums reach the observed sum from above and from below.

    Both counts come from the same permutations (so the two one-sided p-values of one seed cost one
    pass). A permutation draws ``rng.random((rows, width))`` per stratum and takes, per row, the
    pooled scores of the k smallest keys; the keys of ``n_permutations`` rows are drawn in chunks
    of a fixed size (stratum after stratum within a chunk), which fixes the random stream: a
    p-value depends on ``random_state`` only. The k smallest keys are found with a partition and a
    comparison with the k-th (rows where keys tie fall back to ``argpartition``) and summed with a
    matrix product, block by block so that the working memory stays small.
    """
    return _shared_exceedances([(x, y)], n_permutations=n_permutations, random_state=random_state, strata=strata)[0]


def _shared_exceedances(pairs, *, n_permutations: int, random_state: int, strata) -> list:
    """:func:`_exceedances` of several ``(x, y)`` of the same shapes, from the same permutations:
    the keys and the subsets they pick are drawn and found once, and each pair's sums and counts
    are computed as :func:`_exceedances` computes them alone (the same numbers)."""
    tests = [_Test(x, y, strata) for x, y in pairs]
    first = tests[0]
    if any((t.B, t.k, [p.shape for p in t.pooled]) != (first.B, first.k, [p.shape for p in first.pooled]) for t in tests):
        raise DataError("Expected comparisons of one shape to share their permutations")
    B, k, groups = first.B, first.k, first.groups
    rng = np.random.default_rng(random_state)
    width = sum(xs.size + ys.size for xs, ys in groups)
    # the chunk of the random stream; with one stratum the keys are one sequence, so any chunking draws the same
    chunk = max(1, min(n_permutations, int(2e7 // max(B * max(k, 1), width, 1))))
    if len(groups) == 1:
        chunk = max(1, min(n_permutations, _BLOCK // max(width, 1)))
    for start in range(0, n_permutations, chunk):
        n = min(chunk, n_permutations - start)
        sums = [np.zeros((B, n)) for _ in tests]
        for g, (xs, ys) in enumerate(groups):
            cols = xs.size + ys.size
            keys, rows = rng.random((n, cols)), max(1, _BLOCK // cols)
            for r in range(0, n, rows):
                mask = _smallest(keys[r:r + rows], xs.size).T
                for t, total in zip(tests, sums):
                    total[:, r:r + rows] += t.pooled[g] @ mask
        for t, total in zip(tests, sums):
            t.count(total)
    return [(t.greater, t.less) for t in tests]


class _Test:
    """One comparison of :func:`_shared_exceedances`: its pooled scores per stratum, observed sums,
    tolerance and running counts."""

    def __init__(self, x, y, strata):
        x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
        self.B, self.k = x2.shape
        y2 = np.broadcast_to(np.asarray(y, dtype=np.float64), (self.B, np.shape(y)[-1]))
        self.groups = _strata_columns(*(strata or (None, None)), self.k, y2.shape[1])
        self.pooled = [np.concatenate([x2[:, xs], y2[:, ys]], axis=1) for xs, ys in self.groups]
        self.obs = x2.sum(1)
        self.tol = 1e-9 * (max(np.abs(p).max() for p in self.pooled) + 1.0) * self.k
        self.greater, self.less = np.zeros(self.B), np.zeros(self.B)

    def count(self, sums: np.ndarray) -> None:
        self.greater += (sums - self.obs[:, None] >= -self.tol).sum(1)
        self.less += (self.obs[:, None] - sums >= -self.tol).sum(1)


_BLOCK = 1 << 18  # random keys per block of rows (2 MiB of float64)


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Float 0/1 mask of the k smallest keys of every row (the set ``argpartition(keys, k - 1)[:, :k]`` picks)."""
    if k == 0:
        return np.zeros(keys.shape)
    mask = keys <= np.partition(keys, k - 1, axis=1)[:, k - 1:k]
    tied = np.flatnonzero(np.count_nonzero(mask, axis=1) != k)
    if tied.size:  # equal keys at the k-th place: the exact set argpartition takes
        exact = np.zeros((tied.size, keys.shape[1]), bool)
        np.put_along_axis(exact, np.argpartition(keys[tied], k - 1, axis=1)[:, :k], True, axis=1)
        mask[tied] = exact
    return mask.astype(np.float64)


def permutation_p_value(x, y, *, alternative: str = "greater", **options) -> float:
    """The p-value of one test, see :func:`one_sided_p_values`.

    Example:
        >>> permutation_p_value([5.0, 6.0], [0.0, 1.0, 2.0, 0.5, 1.5], n_permutations=999)   # 1/21 exactly
        0.041
    """
    return float(one_sided_p_values(x, y, alternative=alternative, **options)[0])


def p_values_both_sides(x, y, *, n_permutations: int = 10_000, random_state: int = 0,
                        strata: tuple | None = None) -> tuple[float, float]:
    """The ``"greater"`` and the ``"less"`` p-value of one test, from the same permutations.

    Equal to two calls of :func:`permutation_p_value` with the same options (same seed, same
    permutations), at the cost of one.

    Example:
        >>> p_values_both_sides([5.0, 6.0], [0.0, 1.0, 2.0, 0.5, 1.5], n_permutations=999)
        (0.041, 1.0)
    """
    return p_values_both_sides_shared([(x, y)], n_permutations=n_permutations, random_state=random_state,
                                      strata=strata)[0]


def p_values_both_sides_shared(pairs, *, n_permutations: int = 10_000, random_state: int = 0,
                               strata: tuple | None = None) -> list[tuple[float, float]]:
    """:func:`p_values_both_sides` of each ``(x, y)`` in ``pairs`` (same sizes, same ``strata``),
    from the same permutations (the ones each would draw alone, so the same p-values): the subsets
    are drawn and found once, e.g. for the scores and the ranks of one forget set.

    Example:
        >>> x, y = [5.0, 6.0], [0.0, 1.0, 2.0, 0.5, 1.5]
        >>> p_values_both_sides_shared([(x, y), (np.negative(x), np.negative(y))], n_permutations=999)
        [(0.041, 1.0), (1.0, 0.041)]
    """
    counts = _shared_exceedances(pairs, n_permutations=n_permutations, random_state=random_state, strata=strata)
    return [(float((1.0 + g[0]) / (1.0 + n_permutations)), float((1.0 + q[0]) / (1.0 + n_permutations)))
            for g, q in counts]
