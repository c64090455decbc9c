"""Matplotlib figures of an audit: ROC (linear and log-log) and score histograms.

Figures are drawn at 600 x 500 px (6 x 5 in at 100 dpi) with 10-11 pt text, so that they read at
100% zoom in the HTML report, where ROC and log-log ROC sit side by side. ROC curves come from
:func:`muaudit.metrics.roc`, the same function as every reported number.
Matplotlib is imported when a figure is drawn (not with this module). Figures are drawn on
``matplotlib.figure.Figure`` with an Agg canvas, without pyplot, and log axes are labelled in
plain text (``10⁻²``) rather than mathtext, whose parser takes longer to build than drawing all
three figures (see "Latency of one audit" in docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.metrics import roc

FIGSIZE = (6.0, 5.0)
DPI = 100
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10}
CLIP = (5.0, 95.0)  # the central 90% of every group is on the axis; heavy tails are counted, not drawn
LEGEND_PT = 10


def new_axes(figsize: tuple[float, float] = FIGSIZE):
    """A figure of ``figsize`` inches on an Agg canvas (no pyplot) and its one axes.

    Matplotlib is imported here, on first use: an audit's import stays light.

    Example:
        >>> ax = new_axes()
        >>> [round(v) for v in ax.figure.get_size_inches() * DPI]
        [600, 500]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def plain_log_label(label: str) -> str:
    """A log-axis tick label of matplotlib's mathtext form (``$\\mathdefault{10^{-2}}$``) in plain
    Unicode text (``10⁻²``), which the text renderer draws without building the mathtext parser.

    Example:
        >>> plain_log_label(r"$\\mathdefault{10^{-2}}$"), plain_log_label(r"$\\mathdefault{2\\times10^{-3}}$")
        ('10⁻²', '2×10⁻³')
        >>> plain_log_label(r"$\\mathdefault{1}$"), plain_log_label("")
        ('1', '')
    """
    import re

    inner = re.fullmatch(r"\$\\mathdefault\{(.*)\}\$", label)
    if inner is None:
        return label
    text = inner.group(1).replace(r"\times", "\u00d7")
    return re.sub(r"\^\{(-?\d+)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), text)


def _plain_log_axis(axis) -> None:
    """Keep the log axis's tick formatters (they choose which ticks get labels) but write their labels
    as plain text."""
    from matplotlib.ticker import Formatter

    class PlainLog(Formatter):
        def __init__(self, inner):
            self.inner = inner

        def set_locs(self, locs):
            self.inner.set_locs(locs)

        def __call__(self, x, pos=None):
            return plain_log_label(self.inner(x, pos))

    axis.set_major_formatter(PlainLog(axis.get_major_formatter()))
    axis.set_minor_formatter(PlainLog(axis.get_minor_formatter()))


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, log: bool = False, ax=None, title: str = ""):
    """Overlay ROC curves ``{label: (scores, labels)}`` (higher score = member, label 1 = positive).

    ``log=True`` draws both axes on a log scale with the x-axis clipped at ``1 / n_negatives``
    (below that an FPR cannot be measured). The diagonal is the chance line.
    """
    if ax is None:
        ax = new_axes()
    lo = 1.0
    for name, (scores, y) in curves.items():
        y = np.asarray(y).astype(bool)
        fpr, tpr, _ = roc(y, scores)
        lo = min(lo, 1.0 / max(int((~y).sum()), 1))
        ax.plot(fpr, tpr, label=name, lw=1.8, drawstyle="steps-post")
    lo = min(lo, 0.1)  # one non-member would clip the log axis to the point [1, 1]
    ax.plot([lo, 1], [lo, 1], "k--", lw=0.9, label="chance")
    if log:
        ax.set_xscale("log"), ax.set_yscale("log")
        _plain_log_axis(ax.xaxis), _plain_log_axis(ax.yaxis)
        ax.set_xlim(lo, 1), ax.set_ylim(lo, 1)
    else:
        ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate"), ax.set_ylabel("true positive rate")
    ax.set_title(title or ("ROC (log-log)" if log else "ROC"))
    ax.legend(loc="lower right", fontsize=LEGEND_PT)
    ax.grid(alpha=0.3)
    return ax


def clip_range(groups: dict[str, np.ndarray], percentiles: tuple[float, float] = CLIP) -> tuple[float, float]:
    """The smallest range that holds the ``percentiles`` range of every group's finite values (a
    non-empty range). Per group, not pooled: LiRA scores have tails of |score| ~ 30 around a bulk
    within ~1 of 0, and the pooled 1-99% range of a real audit drew that bulk as one spike in
    which the groups could not be told apart; a small group shifted above the others stays in view.

    Example:
        >>> clip_range({"a": np.arange(101.0), "b": np.arange(101.0) + 50})
        (5.0, 145.0)
    """
    ranges = []
    for g in groups.values():
        v = np.asarray(g, float).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            ranges.append(np.percentile(v, percentiles))
    if not ranges:
        return 0.0, 1.0
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)


def plot_histogram(groups: dict[str, np.ndarray], *, ax=None, title: str = "attack scores",
                   percentiles: tuple[float, float] = CLIP):
    """Overlaid normalised histograms of score groups (e.g. forget vs non-members) in 40 shared bins
    over :func:`clip_range` (each group's central ``percentiles``); the legend says how many of each
    group fall outside."""
    if ax is None:
        ax = new_axes()
    lo, hi = clip_range(groups, percentiles)
    bins = np.linspace(lo, hi, 41)
    for i, (name, g) in enumerate(groups.items()):
        g = np.asarray(g, float)
        g = g[np.isfinite(g)]
        if not g.size:
            continue
        inside = g[(g >= lo) & (g <= hi)]
        below, above = int((g < lo).sum()), int((g > hi).sum())
        clipped = f"; {below} below, {above} above the range" if below or above else ""
        label = f"{name} (n={g.size}{clipped})"
        if not inside.size:  # every value clipped: a legend entry, no (0/0) density
            ax.plot([], [], lw=1.6, color=f"C{i}", label=label)
            continue
        ax.hist(inside, bins=bins, density=True, histtype="stepfilled", alpha=0.25, color=f"C{i}")
        ax.hist(inside, bins=bins, density=True, histtype="step", lw=1.6, color=f"C{i}", label=label)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"score (higher = member), {_ordinal(percentiles[0])} to {_ordinal(percentiles[1])} percentile of each group")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False, fontsize=LEGEND_PT)
    return ax


def _ordinal(p: float) -> str:
    n = f"{p:g}"
    suffix = "th" if n.endswith(("11", "12", "13")) else {"1": "st", "2": "nd", "3": "rd"}.get(n[-1], "th")
    return n + suffix


def warm_up() -> None:
    """Render the audit figures of a few random scores into memory: matplotlib's imports, fonts and
    caches, so the next figures cost only their drawing (the figure worker does this while the
    audit runs)."""
    s = np.random.default_rng(0).normal(size=64)
    render_audit_figures({"warm-up": (s, np.r_[np.ones(32), np.zeros(32)])}, {"members": s[:32], "others": s[32:]})


def render_audit_figures(curves: dict, groups: dict, *, prefix: str = "") -> dict[str, bytes]:
    """The PNG bytes of ``roc.png``, ``roc_loglog.png`` and ``scores_hist.png``, by file name."""
    import io

    import matplotlib

    pngs = {}
    with matplotlib.rc_context(STYLE):
        for name, draw in ((f"{prefix}roc.png", lambda ax: plot_roc(curves, ax=ax)),
                           (f"{prefix}roc_loglog.png", lambda ax: plot_roc(curves, log=True, ax=ax)),
                           (f"{prefix}scores_hist.png", lambda ax: plot_histogram(groups, ax=ax))):
            ax = new_axes(FIGSIZE if "hist" not in name else (FIGSIZE[0], FIGSIZE[1] + 0.2 * len(groups)))
            draw(ax)
            ax.figure.tight_layout()
            buf = io.BytesIO()
            ax.figure.savefig(buf, dpi=DPI, format="png")
            pngs[name] = buf.getvalue()
    return pngs


def write_figures(out_dir, pngs: dict[str, bytes]) -> list[str]:
    """Write rendered figures (see :func:`render_audit_figures`) into ``out_dir``; their names."""
    for name, data in pngs.items():
        (Path(out_dir) / name).write_bytes(data)
    return list(pngs)


def save_audit_figures(out_dir, curves: dict, groups: dict, *, prefix: str = "") -> list[str]:
    """Write ``roc.png``, ``roc_loglog.png`` and ``scores_hist.png`` into ``out_dir``."""
    return write_figures(out_dir, render_audit_figures(curves, groups, prefix=prefix))
