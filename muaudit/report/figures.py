"""Matplotlib figures of an audit: ROC (linear and log-log) and score histograms.

Matplotlib is imported when a figure is drawn, not with this module, and through its
object-oriented API (``Figure`` + the Agg canvas), never pyplot's global state.
"""

from __future__ import annotations

import numpy as np

from muaudit.metrics.roc import roc_curve


def _axes(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize).subplots()


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, log: bool = False, ax=None, title: str = ""):
    """Overlay ROC curves ``{label: (scores, labels)}`` (higher score = member, label 1 = positive).

    ``log=True`` draws both axes on a log scale with the x-axis clipped at ``1 / n_negatives``
    (below that an FPR cannot be measured). The diagonal is the chance line.
    """
    if ax is None:
        ax = _axes((4.2, 4.0))
    lo = 1.0
    for label, (scores, y) in curves.items():
        y = np.asarray(y).astype(bool)
        fpr, tpr, _ = roc_curve(y, np.asarray(scores, np.float64))
        n_neg = max(int((~y).sum()), 1)
        lo = min(lo, 1.0 / n_neg)
        ax.plot(fpr, tpr, label=label, lw=1.5)
    ax.plot([lo, 1], [lo, 1], "k--", lw=0.8, label="chance")
    if log:
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlim(lo, 1), ax.set_ylim(lo, 1)
    else:
        ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate"), ax.set_ylabel("true positive rate")
    ax.set_title(title or ("ROC (log-log)" if log else "ROC"))
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def plot_histogram(groups: dict[str, np.ndarray], *, ax=None, title: str = "attack scores"):
    """Overlaid normalised histograms of score groups (e.g. forget vs non-members)."""
    if ax is None:
        ax = _axes((4.6, 3.4))
    finite = np.concatenate([np.asarray(g, float) for g in groups.values() if len(g)])
    bins = np.histogram_bin_edges(finite, bins=40) if finite.size else 10
    for label, g in groups.items():
        if len(g):
            ax.hist(g, bins=bins, density=True, alpha=0.5, label=f"{label} (n={len(g)})")
    ax.set_xlabel("score (higher = member)"), ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def save_audit_figures(out_dir, curves: dict, groups: dict, *, prefix: str = "") -> list[str]:
    """Write ``roc.png``, ``roc_loglog.png`` and ``scores_hist.png`` into ``out_dir``."""
    from pathlib import Path

    out_dir = Path(out_dir)
    names = []
    for name, draw in ((f"{prefix}roc.png", lambda ax: plot_roc(curves, ax=ax)),
                       (f"{prefix}roc_loglog.png", lambda ax: plot_roc(curves, log=True, ax=ax)),
                       (f"{prefix}scores_hist.png", lambda ax: plot_histogram(groups, ax=ax))):
        ax = _axes((4.6, 4.0))
        draw(ax)
        ax.figure.subplots_adjust(left=0.16, right=0.97, bottom=0.12, top=0.92)  # fixed: tight_layout cost 0.25 s a figure
        ax.figure.savefig(out_dir / name, dpi=110)
        names.append(name)
    return names
