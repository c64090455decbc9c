"""The figures of an audit: ROC (linear and log-log) and score histograms, as PNG files.

Figures are 600 x 500 px with 10-12 pt text, so that they read at 100% zoom in the HTML report,
where ROC and log-log ROC sit side by side. ROC curves come from :func:`muaudit.metrics.roc`, the
same function as every reported number. :func:`roc_plot` and :func:`histogram_plot` say what to
draw (a :class:`~muaudit.report.canvas.Plot`); :mod:`muaudit.report.canvas` draws it with Pillow,
without matplotlib, whose import and layout cost an audit as much as its statistics (see "Latency
of one audit" in docs/benchmarks.md). Other commands' matplotlib figures share ``FIGSIZE``,
``DPI`` and ``STYLE``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.metrics import roc
from muaudit.report.canvas import COLORS, Plot, Series, render

FIGSIZE = (6.0, 5.0)
DPI = 100
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10}
CLIP = (1.0, 99.0)
LEGEND_PT = 10
SIZE = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, log: bool = False, title: str = "") -> Plot:
    """Overlaid ROC curves ``{label: (scores, labels)}`` (higher score = member, label 1 = positive).

    ``log=True`` draws both axes on a log scale clipped at ``1 / n_negatives`` (below that an FPR
    cannot be measured). The dashed diagonal is the chance line.

    Example:
        >>> s, y = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0])
        >>> p = roc_plot({"a": (s, y)}, log=True)
        >>> p.series[0].x.tolist(), p.xlim, [s.label for s in p.series]
        ([0.0, 0.0, 0.5, 0.5, 1.0], (0.5, 1.0), ['a', 'chance'])
    """
    lo, series = 1.0, []
    for i, (name, (scores, y)) in enumerate(curves.items()):
        y = np.asarray(y).astype(bool)
        fpr, tpr, _ = roc(scores, y)
        lo = min(lo, 1.0 / max(int((~y).sum()), 1))
        series.append(Series(fpr, tpr, COLORS[i % len(COLORS)], name, width=1.8, steps=True))
    series.append(Series(np.array([lo, 1.0]), np.array([lo, 1.0]), "#000000", "chance", width=0.9, dashed=True))
    lim = (lo, 1.0) if log else (0.0, 1.0)
    return Plot(SIZE, lim, lim, log=log, series=series, title=title or ("ROC (log-log)" if log else "ROC"),
                xlabel="false positive rate", ylabel="true positive rate", legend="lower right")


def clip_range(groups: dict[str, np.ndarray], percentiles: tuple[float, float] = CLIP) -> tuple[float, float]:
    """The ``percentiles`` of all finite values of ``groups`` (a non-empty range).

    Example:
        >>> clip_range({"a": np.arange(101.0)}, (10, 90))
        (10.0, 90.0)
    """
    values = np.concatenate([np.asarray(g, float).ravel() for g in groups.values()] or [np.zeros(0)])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = np.percentile(values, percentiles)
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)


def histogram_plot(groups: dict[str, np.ndarray], *, title: str = "attack scores",
                   percentiles: tuple[float, float] = CLIP) -> Plot:
    """Overlaid normalised histograms (40 bins) of score groups (e.g. forget vs non-members) on the
    ``percentiles`` range of all scores; the legend says how many of each group fall outside.

    Example:
        >>> p = histogram_plot({"forget": np.r_[np.linspace(0, 1, 99), 50.0]})
        >>> p.series[0].label
        'forget (n=100; 1 below, 1 above the range)'
    """
    lo, hi = clip_range(groups, percentiles)
    bins = np.linspace(lo, hi, 41)
    series, top = [], 0.0
    for i, (name, g) in enumerate(groups.items()):
        g = np.asarray(g, float)
        g = g[np.isfinite(g)]
        if not g.size:
            continue
        inside = g[(g >= lo) & (g <= hi)]
        below, above = int((g < lo).sum()), int((g > hi).sum())
        clipped = f"; {below} below, {above} above the range" if below or above else ""
        density = np.histogram(inside, bins=bins, density=True)[0] if inside.size else np.zeros(bins.size - 1)
        top = max(top, float(density.max()))
        x, y = np.repeat(bins, 2), np.r_[0.0, np.repeat(density, 2), 0.0]  # the step outline, down to 0 at both ends
        series.append(Series(x, y, COLORS[i % len(COLORS)], f"{name} (n={g.size}{clipped})", width=1.6, fill=0.25))
    return Plot((SIZE[0], SIZE[1] + round(0.2 * DPI * len(groups))), (lo, hi), (0.0, 1.05 * top or 1.0),
                series=series, title=title, ylabel="density", legend="below", grid=False,
                xlabel=f"score (higher = member), {_ordinal(percentiles[0])} to {_ordinal(percentiles[1])} percentile")


def _ordinal(p: float) -> str:
    n = f"{p:g}"
    suffix = "th" if n.endswith(("11", "12", "13")) else {"1": "st", "2": "nd", "3": "rd"}.get(n[-1], "th")
    return n + suffix


def save_audit_figures(out_dir, curves: dict, groups: dict, *, prefix: str = "") -> list[str]:
    """Write ``roc.png``, ``roc_loglog.png`` and ``scores_hist.png`` into ``out_dir``; their names.

    Example:
        >>> import tempfile
        >>> s, y = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0])
        >>> save_audit_figures(tempfile.mkdtemp(), {"a": (s, y)}, {"a": s})
        ['roc.png', 'roc_loglog.png', 'scores_hist.png']
    """
    out_dir = Path(out_dir)
    plots = {f"{prefix}roc.png": roc_plot(curves), f"{prefix}roc_loglog.png": roc_plot(curves, log=True),
             f"{prefix}scores_hist.png": histogram_plot(groups)}
    for name, plot in plots.items():
        render(plot, out_dir / name)
    return list(plots)
