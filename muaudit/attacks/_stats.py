"""Per-example statistics of shadow signals on one side (IN or OUT), with defined fallbacks."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from muaudit.checks import warn

SIGMA_FLOOR = 1e-6


class SideStats(NamedTuple):
    """Statistics of the shadows where ``mask`` holds; arrays ``[N, V]`` except ``count`` ``[N]``.

    ``center`` is 0 where ``count == 0`` (callers fill it, see :func:`fill_missing_centers`).
    """

    center: np.ndarray
    sumsq: np.ndarray
    count: np.ndarray
    values: np.ndarray  # every signal on this side, flattened (for global fallbacks)


def side_stats(x: np.ndarray, mask: np.ndarray, how: str) -> SideStats:
    """Mean or median (``how``) and sum of squared deviations from the mean, per example and view.

    Args:
        x: float ``[M, N, V]`` shadow signals.
        mask: bool ``[M, N]``, the shadows on this side for each example.
        how: ``"mean"`` or ``"median"``.
    """
    count = mask.sum(axis=0)
    m3 = np.broadcast_to(mask[..., None], x.shape)
    k = np.maximum(count, 1)[:, None]
    mean = np.where(m3, x, 0.0).sum(axis=0) / k
    sumsq = np.where(m3, (x - mean) ** 2, 0.0).sum(axis=0)
    if how == "median":
        srt = np.sort(np.where(m3, x, np.inf), axis=0)
        lo = np.broadcast_to(np.maximum(count - 1, 0)[None, :, None] // 2, (1,) + x.shape[1:])
        hi = np.broadcast_to(count[None, :, None] // 2, (1,) + x.shape[1:])
        hi = np.minimum(hi, x.shape[0] - 1)
        center = 0.5 * (np.take_along_axis(srt, lo, 0)[0] + np.take_along_axis(srt, hi, 0)[0])
    else:
        center = mean
    center = np.where(count[:, None] > 0, center, 0.0)
    return SideStats(center, sumsq, count, x[m3])


def fill_missing_centers(inside: SideStats, outside: SideStats, *,
                         need_in: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """IN and OUT centers with a defined value where a side has no shadow for an example.

    The missing center is the other side's center shifted by the typical IN - OUT gap: the median
    gap over examples that have both sides, else the difference of the pooled means, else 0.
    Warns how many examples were filled (IN only when ``need_in``, e.g. not for offline attacks).
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
    """
    count = sum(float(s.count.sum()) * s.center.shape[1] for s in sides)
    if max(int(s.count.max(initial=0)) for s in sides) >= 2:
        return max(float(np.sqrt(sum(s.sumsq.sum() for s in sides) / count)), SIGMA_FLOOR)
    values = np.concatenate([s.values for s in sides])
    warn("at most one shadow per side and example: sigma falls back to the spread of all shadow signals")
    return max(float(values.std()) if values.size else 0.0, SIGMA_FLOOR)


def per_example_sigma(side: SideStats, fallback: float) -> np.ndarray:
    """Per-example standard deviation (ddof 0) ``[N, V]``, ``fallback`` where fewer than 2 shadows."""
    few = side.count < 2
    sigma = np.sqrt(side.sumsq / np.maximum(side.count, 1)[:, None])
    sigma[few] = fallback
    if few.any():
        warn(f"{int(few.sum())} examples have fewer than 2 shadows on one side; they use the pooled sigma")
    return np.maximum(sigma, SIGMA_FLOOR)
