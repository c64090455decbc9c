"""The Gaussian fit shared by LiRA and U-LiRA, and the Gaussian scores both compute.

Per example and view, a Gaussian is fitted to the shadow signals on each side (IN: models that
trained on, or unlearned, the example; OUT: models that never saw it), with defined fallbacks:
a side without shadows gets the other side's center shifted by the typical IN - OUT gap, sigma is
pooled (``"fixed"``) or per example, and floored at :data:`SIGMA_FLOOR`; never NaN.

- :func:`fit_gaussians`: the whole fit, returning a :class:`GaussianFit`;
- its steps :func:`side_stats`, :func:`fill_missing_centers`, :func:`pooled_sigma`,
  :func:`per_example_sigma` (also used by the audit's calibration check);
- scores: :func:`gaussian_log_ratio` (online LiRA, U-LiRA), :func:`neg_log_upper_tail` (offline
  LiRA, U-LiRA's calibrated score), :func:`neg_log_density` (offline-density LiRA).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(32, 4, 1)) + 2 * (np.arange(32) < 16)[:, None, None]
    >>> inside = np.repeat(np.arange(32)[:, None] < 16, 4, axis=1)    # models 0-15 are IN
    >>> fit = fit_gaussians(x, inside, x, ~inside, center="mean")
    >>> fit.variance, bool((fit.mu_in - fit.mu_out > 1).all())
    ('fixed', True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from muaudit.checks import warn

SIGMA_FLOOR = 1e-6
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class SideStats(NamedTuple):
    """Statistics of the shadows where ``mask`` holds; arrays ``[N, V]`` except ``count`` ``[N]``.

    ``center`` is 0 where ``count == 0`` (callers fill it, see :func:`fill_missing_centers`).

    Example:
        >>> s = side_stats(np.array([[[1.0]], [[3.0]]]), np.array([[True], [True]]), "mean")
        >>> s.center.tolist(), s.sumsq.tolist(), s.count.tolist()
        ([[2.0]], [[2.0]], [2])
    """

    center: np.ndarray
    sumsq: np.ndarray
    count: np.ndarray
    values: np.ndarray  # every signal on this side, flattened (for global fallbacks; empty unless asked for)


def side_stats(x: np.ndarray, mask: np.ndarray, how: str, *, values: bool = True) -> SideStats:
    """Mean or median (``how``) and sum of squared deviations from the mean, per example and view.

    Args:
        x: float ``[M, N, V]`` shadow signals.
        mask: bool ``[M, N]``, the shadows on this side for each example.
        how: ``"mean"`` or ``"median"``.
        values: keep every signal of the side (``SideStats.values``; else an empty array): the
            fallbacks of a fit with too few shadows read them (:func:`fit_gaussians` asks when).

    Example:
        >>> x = np.array([[[1.0], [5.0]], [[2.0], [6.0]], [[9.0], [7.0]]])   # 3 shadows, 2 examples
        >>> mask = np.array([[True, True], [True, False], [True, False]])
        >>> s = side_stats(x, mask, "median")
        >>> s.center.ravel().tolist(), s.count.tolist()
        ([2.0, 5.0], [3, 1])
    """
    count = mask.sum(axis=0)
    step = max(1, _CHUNK // max(1, x.shape[0] * int(np.prod(x.shape[2:]))))
    # examples in blocks: the same sums in the same order, a cache-sized working set
    parts = [_center_sumsq(x[:, s:s + step], mask[:, s:s + step], count[s:s + step], how)
             for s in range(0, max(x.shape[1], 1), step)]
    center, sumsq = (np.concatenate(p) for p in zip(*parts))
    center = np.where(count[:, None] > 0, center, 0.0)
    kept = x[np.broadcast_to(mask[..., None], x.shape)] if values else np.zeros(0, x.dtype)
    return SideStats(center, sumsq, count, kept)


_CHUNK = 1 << 18  # shadow signals per block of examples in side_stats (2 MiB of float64)


def _center_sumsq(x: np.ndarray, mask: np.ndarray, count: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`side_stats`' center (before the fill of empty sides) and sum of squares of a block of examples."""
    w = mask.astype(x.dtype)
    mean = np.einsum("mn,mnv->nv", w, x) / np.maximum(count, 1)[:, None]
    dev = x - mean
    dev *= dev
    sumsq = np.einsum("mn,mnv->nv", w, dev)
    return (_masked_median(x, mask, count) if how == "median" else mean), sumsq


def _masked_median(x: np.ndarray, mask: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median over the shadows where ``mask`` holds, ``[n, V]`` (inf where ``count == 0``).

    Each example's signals are sorted in a contiguous ``[n, V, M]`` copy (the side's values, then
    +inf); signals that are float32 values (the pool stores float32) are sorted as float32, the same
    order several times faster, and the two middle values are averaged in float64."""
    small = x.astype(np.float32)
    src = small if np.array_equal(small, x) else x
    buf = np.empty(x.shape[1:] + x.shape[:1], src.dtype)
    np.copyto(buf, src.transpose(1, 2, 0))
    np.copyto(buf, np.inf, where=~mask.T[:, None, :])
    buf.sort(axis=-1)
    lo, hi = np.maximum(count - 1, 0) // 2, np.minimum(count // 2, x.shape[0] - 1)
    rows = np.arange(x.shape[1])
    return 0.5 * (buf[rows, :, lo].astype(np.float64) + buf[rows, :, hi])


def fill_missing_centers(inside: SideStats, outside: SideStats, *,
                         need_in: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """IN and OUT centers with a defined value where a side has no shadow for an example.

    The missing center is the other side's center shifted by the typical IN - OUT gap: the median
    gap over examples that have both sides, else the difference of the pooled means, else 0.
    Warns how many examples were filled (IN only when ``need_in``, e.g. not for offline attacks).

    Example:
        >>> x = np.array([[[2.0], [1.0]], [[0.0], [1.0]]])                    # example 1 has no IN shadow
        >>> keep = np.array([[True, False], [False, False]])
        >>> c_in, c_out = fill_missing_centers(side_stats(x, keep, "mean"), side_stats(x, ~keep, "mean"))
        >>> c_in.ravel().tolist(), c_out.ravel().tolist()                     # gap 2 - 0 = 2
        ([2.0, 3.0], [0.0, 1.0])
    """
    has_in, has_out = inside.count > 0, outside.count > 0
    c_in, c_out = inside.center.copy(), outside.center.copy()
    if has_in.all() and has_out.all():
        return c_in, c_out
    both = has_in & has_out
    if both.any():
        gap = float(np.median(c_in[both] - c_out[both]))
    elif inside.values.size and outside.values.size:
        gap = float(inside.values.mean() - outside.values.mean())
    else:
        gap = 0.0
    c_in[~has_in] = c_out[~has_in] + gap
    c_out[~has_out] = c_in[~has_out] - gap
    missing = [f"{int((~has_in).sum())} examples have no IN shadow"] if need_in and not has_in.all() else []
    missing += [f"{int((~has_out).sum())} examples have no OUT shadow"] if not has_out.all() else []
    if missing:
        warn(f"{' and '.join(missing)}; their missing mean is the other side's shifted by the typical "
             f"IN-OUT gap {gap:+.4g}")
    return c_in, c_out


def pooled_sigma(*sides: SideStats) -> float:
    """One within-example standard deviation pooled over ``sides``, examples and views (>= 1e-6).

    Without any repeated measurement (at most one shadow per side and example) the within-example
    spread is unknown; the standard deviation of all pooled signals is used instead, with a warning.

    Example:
        >>> x = np.array([[[0.0]], [[2.0]], [[1.0]], [[3.0]]])
        >>> inside = side_stats(x, np.array([[True], [True], [False], [False]]), "mean")
        >>> outside = side_stats(x, np.array([[False], [False], [True], [True]]), "mean")
        >>> pooled_sigma(inside, outside)
        1.0
    """
    count = sum(float(s.count.sum()) * s.center.shape[1] for s in sides)
    if max(int(s.count.max(initial=0)) for s in sides) >= 2:
        return max(float(np.sqrt(sum(s.sumsq.sum() for s in sides) / count)), SIGMA_FLOOR)
    values = np.concatenate([s.values for s in sides])
    warn("at most one shadow per side and example: sigma falls back to the spread of all shadow signals")
    return max(float(values.std()) if values.size else 0.0, SIGMA_FLOOR)


def per_example_sigma(side: SideStats, fallback: float) -> np.ndarray:
    """Per-example standard deviation (ddof 0) ``[N, V]``, ``fallback`` where fewer than 2 shadows.

    Example:
        >>> x = np.array([[[0.0], [5.0]], [[2.0], [5.0]]])
        >>> side = side_stats(x, np.array([[True, True], [True, False]]), "mean")
        >>> per_example_sigma(side, fallback=0.5).ravel().tolist()           # example 1 has one shadow
        [1.0, 0.5]
    """
    few = side.count < 2
    sigma = np.sqrt(side.sumsq / np.maximum(side.count, 1)[:, None])
    sigma[few] = fallback
    if few.any():
        warn(f"{int(few.sum())} examples have fewer than 2 shadows on one side; they use the pooled sigma")
    return np.maximum(sigma, SIGMA_FLOOR)


class GaussianFit(NamedTuple):
    """Per-example, per-view Gaussians ``[N, V]`` of both sides (see :func:`fit_gaussians`).

    ``sigma_in`` is None for a one-sided per-example fit; ``variance`` is the resolved
    ``"fixed"`` or ``"per-example"``; ``n_in`` / ``n_out`` int ``[N]`` count the shadows per side.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(8, 3, 1))
        >>> keep = np.arange(8)[:, None] % 2 == np.zeros((1, 3), int)
        >>> fit = fit_gaussians(x, keep, x, ~keep)
        >>> fit.mu_in.shape, fit.variance, fit.n_in.tolist()
        ((3, 1), 'fixed', [4, 4, 4])
    """

    mu_in: np.ndarray
    sigma_in: np.ndarray | None
    mu_out: np.ndarray
    sigma_out: np.ndarray
    variance: str
    n_in: np.ndarray
    n_out: np.ndarray


def fit_gaussians(in_signals: np.ndarray, in_mask: np.ndarray, out_signals: np.ndarray, out_mask: np.ndarray, *,
                  center: str = "median", variance: str = "auto", fixed_below: int = 64,
                  one_sided: bool = False) -> GaussianFit:
    """Fit IN and OUT Gaussians per example and view: LiRA's and U-LiRA's one fit.

    Args:
        in_signals, out_signals: float ``[M, N, V]`` shadow signals (the same array for LiRA).
        in_mask, out_mask: bool ``[M, N]``, which shadows are on each side for each example.
        center: ``"median"`` or ``"mean"``.
        variance: ``"fixed"`` (one pooled sigma), ``"per-example"``, or ``"auto"``: fixed when the
            median number of shadows per side (over examples that have any) is below ``fixed_below``.
        one_sided: only OUT is scored (offline LiRA): sigma and the ``"auto"`` rule use OUT alone,
            no warning about missing IN shadows, and a per-example ``sigma_in`` is None.

    Example:
        >>> x = np.array([[[3.0], [0.0]], [[0.0], [1.0]], [[2.0], [0.0]], [[0.0], [-1.0]]])
        >>> keep = np.array([[True, False], [False, True], [True, False], [False, True]])
        >>> fit = fit_gaussians(x, keep, x, ~keep, center="mean")
        >>> fit.mu_in.ravel().tolist(), fit.mu_out.ravel().tolist(), fit.n_in.tolist()
        ([2.5, 0.0], [0.0, 0.0], [2, 2])
    """
    # the fallbacks that read every signal: no example with both sides, or at most one shadow on a side
    c_in, c_out = in_mask.sum(axis=0), out_mask.sum(axis=0)
    fallback = not ((c_in > 0) & (c_out > 0)).any() or c_in.max(initial=0) < 2 or c_out.max(initial=0) < 2
    inside = side_stats(in_signals, in_mask, center, values=fallback)
    outside = side_stats(out_signals, out_mask, center, values=fallback)
    mu_in, mu_out = fill_missing_centers(inside, outside, need_in=not one_sided)
    used = (outside,) if one_sided else (inside, outside)
    sides = ([s for s in used if s.count.any()] or [s for s in (inside, outside) if s.count.any()] or [outside])
    sigma = pooled_sigma(*sides)
    if variance == "auto":
        per_side = min(float(np.median(s.count[s.count > 0])) if (s.count > 0).any() else 0.0 for s in used)
        variance = "fixed" if per_side < fixed_below else "per-example"
    if variance == "fixed":
        sigma_in = sigma_out = np.full(mu_in.shape, sigma)
    else:
        sigma_in = None if one_sided else per_example_sigma(inside, sigma)
        sigma_out = per_example_sigma(outside, sigma)
    return GaussianFit(mu_in, sigma_in, mu_out, sigma_out, variance, inside.count, outside.count)


def standardize(x, mu, sigma) -> np.ndarray:
    """``(x - mu) / sigma``, clipped to +-1e100 so that later squares and tails stay finite.

    Example:
        >>> standardize(np.array([3.0, 1e300]), 1.0, 2.0).tolist()
        [1.0, 1e+100]
    """
    return np.clip((x - mu) / sigma, -1e100, 1e100)


def gaussian_log_ratio(x, mu_in, sigma_in, mu_out, sigma_out) -> np.ndarray:
    """``log N(x; mu_in, sigma_in^2) - log N(x; mu_out, sigma_out^2)``, elementwise, finite.

    Example:
        >>> float(gaussian_log_ratio(1.0, 1.0, 1.0, 0.0, 1.0))
        0.5
    """
    z_in, z_out = standardize(x, mu_in, sigma_in), standardize(x, mu_out, sigma_out)
    return 0.5 * (z_out**2 - z_in**2) + np.log(sigma_out) - np.log(sigma_in)


def neg_log_upper_tail(x, mu, sigma, direction=1.0) -> np.ndarray:
    """``-log Pr[Z >= direction * (x - mu) / sigma]``, Z standard normal: a one-sided test's
    ``-log p``, larger when ``x`` lies further in ``direction`` (+1 or -1, elementwise) from ``mu``.

    Example:
        >>> round(float(neg_log_upper_tail(0.0, 0.0, 1.0)), 4)   # -log 0.5
        0.6931
    """
    return -norm.logsf(direction * standardize(x, mu, sigma))


def neg_log_density(x, mu, sigma) -> np.ndarray:
    """``-log N(x; mu, sigma^2)``, elementwise, finite.

    Example:
        >>> round(float(neg_log_density(0.0, 0.0, 1.0)), 4)      # log sqrt(2 pi)
        0.9189
    """
    return 0.5 * standardize(x, mu, sigma) ** 2 + np.log(sigma) + _HALF_LOG_2PI
