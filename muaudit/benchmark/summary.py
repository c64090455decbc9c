"""Rows of the benchmark table: mean and 95% interval over seeds, ranking with ties, CSV, figure.

Ranking (per forget setting): by mean ``retdev`` (ascending), then mean ``indisc_test``
(descending), in tie groups: the best method and every method whose RetDev interval overlaps
the best one's (the data cannot tell them apart) share rank 1 and are marked ``tied``; the rest
is ranked the same way after them, the next group's rank being its position (1, 1, 1, 4, 5, 5).
``rank_forgetting`` orders by mean
``forget_gap`` alone (|FA_U - FA_R|; the original, which forgets nothing, comes last). The interval is Student's t over seeds
(``mean ± t_{0.975, n-1} sd / sqrt(n)``); with one seed it is the point itself (``n_seeds`` says so).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

METRIC_KEYS = ("acc_retain", "acc_forget", "acc_val", "acc_test", "ratio_retain", "ratio_forget", "ratio_val",
               "ratio_test", "retdev", "forget_gap", "mia_val", "indisc_val", "mia_test", "indisc_test", "score", "rte", "rte_sg",
               "seconds", "sample_gradients")


BOUNDS = {"acc_": (0.0, 1.0), "mia_": (0.0, 1.0), "indisc_": (0.0, 1.0), "forget_gap": (0.0, 1.0)}


def interval(values, bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict | None:
    """``{"mean", "low", "high", "n"}`` of the finite values (None when there are none); the
    interval is clipped to ``bounds`` (an accuracy's lies in [0, 1], a ratio's in [0, inf))."""
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    if not len(v):
        return None
    m = float(v.mean())
    if len(v) < 2:
        return {"mean": m, "low": m, "high": m, "n": 1}
    half = float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return {"mean": m, "low": max(m - half, bounds[0]), "high": min(m + half, bounds[1]), "n": int(len(v))}


def bounds_of(key: str) -> tuple[float, float]:
    return next((b for prefix, b in BOUNDS.items() if key.startswith(prefix)), (0.0, math.inf))


def summarise(method: str, setting: str, runs: list[dict], *, config: dict, trials: int, failed: int) -> dict:
    """One table row from the final runs (one per seed) of a method on a forget setting."""
    ok = [r for r in runs if r["status"] == "ok"]
    row = {"method": method, "forget": setting, "n_seeds": len(ok), "diverged_seeds": len(runs) - len(ok),
           "config": config, "trials": trials, "failed_trials": failed}
    for k in METRIC_KEYS:
        row[k] = interval([r["metrics"].get(k) for r in ok], bounds_of(k))
    return row


def _mean(row, key, default):
    return row[key]["mean"] if row.get(key) else default


def rank(rows: list[dict]) -> list[dict]:
    """Sort rows per forget setting by (RetDev, -indiscernibility) in tie groups (see the module
    docstring); set ``rank`` (equal within a group) and ``tied`` (the group has several rows).

    Example:
        >>> iv = lambda m, h: {"mean": m, "low": m - h, "high": m + h, "n": 3}
        >>> rows = [{"forget": "f", "method": k, "retdev": iv(m, h)} for k, m, h in
        ...         [("a", .10, .01), ("b", .01, .01), ("c", .02, .005), ("d", .5, .1), ("e", .55, .1)]]
        >>> [(r["method"], r["rank"], r["tied"]) for r in rank(rows)]
        [('b', 1, True), ('c', 1, True), ('a', 3, False), ('d', 4, True), ('e', 4, True)]
    """
    out = []
    for setting in dict.fromkeys(r["forget"] for r in rows):
        left = sorted((r for r in rows if r["forget"] == setting),
                      key=lambda r: (_mean(r, "retdev", math.inf), -_mean(r, "indisc_test", -math.inf), r["method"]))
        group = []
        while left:
            lead = left[0].get("retdev")
            ties = [r for r in left if r is left[0] or _overlap(lead, r.get("retdev"))]
            for r in ties:
                r["rank"], r["tied"] = len(group) + 1, len(ties) > 1
            group += ties
            left = [r for r in left if all(r is not t for t in ties)]
        out += group
        by_gap = sorted(group, key=lambda r: (_mean(r, "forget_gap", math.inf), r["method"]))
        for i, r in enumerate(by_gap, 1):
            r["rank_forgetting"] = i
    return out


def _overlap(a: dict | None, b: dict | None) -> bool:
    return bool(a and b and a["low"] <= b["high"] and b["low"] <= a["high"])


def write_csv(rows: list[dict], path: Path, extra_columns=()) -> Path:
    """``table.csv``: one row per method x forget setting; ``KEY``, ``KEY_low``, ``KEY_high`` columns
    (the U-LiRA phase's too when it ran), then ``extra_columns`` (``(name, row -> value or None)``
    pairs, e.g. the competition phase's)."""
    from muaudit.benchmark import ulira_phase

    head = ["forget", "rank", "tied", "rank_forgetting", "method", "n_seeds", "trials", "failed_trials", "diverged_seeds"]
    keys = METRIC_KEYS + (ulira_phase.INTERVALS if ulira_phase.has_ulira(rows) else ())
    text = ulira_phase.TEXT if ulira_phase.has_ulira(rows) else ()
    cols = head + [f"{k}{s}" for k in keys for s in ("", "_low", "_high")] + list(text)
    cols += [name for name, _ in extra_columns] + ["config"]
    from muaudit.atomic import write_text

    with io.StringIO(newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            vals = [r[h] for h in head]
            for k in keys:
                iv = r.get(k)
                vals += ["", "", ""] if not iv else [f"{iv['mean']:.6g}", f"{iv['low']:.6g}", f"{iv['high']:.6g}"]
            vals += [r.get(k, "") for k in text]
            vals += ["" if (v := get(r)) is None else f"{v:.6g}" for _, get in extra_columns]
            vals.append(";".join(f"{k}={v}" for k, v in sorted(r["config"].items())))
            w.writerow(vals)
        write_text(path, fh.getvalue())  # moved into place only when complete
    return path


def markdown(rows: list[dict]) -> str:
    """The table as markdown (docs/benchmark.md): mean [95% interval] of the main metrics."""
    def cell(iv, digits=3, unit=""):
        if not iv:
            return "–"
        mean = f"{iv['mean']:.{digits}f}{unit}"
        if iv["n"] < 2 or f"{iv['low']:.{digits}f}" == f"{iv['high']:.{digits}f}":
            return mean  # one seed, or the same on every seed (a cost counted in sample-gradients)
        return f"{mean} [{iv['low']:.{digits}f}, {iv['high']:.{digits}f}]"

    head = ["forget", "rank", "method", "RetDev", "forget gap", "retain", "forget", "test", "T-MIA indisc.",
            "speed-up vs retrain", "trials"]
    body = [[r["forget"], f"{r['rank']}" + (" (tied)" if r["tied"] else ""), f"`{r['method']}`", cell(r["retdev"]),
             cell(r["forget_gap"]), cell(r["acc_retain"]), cell(r["acc_forget"]), cell(r["acc_test"]),
             cell(r["indisc_test"]), cell(r["rte_sg"], 1, "×"), str(r["trials"])] for r in rows]
    return fixed_width_table(head, body, numeric=range(3, len(head)))


def fixed_width_table(head: list[str], body: list[list[str]], numeric=()) -> str:
    """A markdown table whose columns are padded to one width (numeric ones right-aligned), so that
    it reads as a table in a terminal too.

    Example:
        >>> print(fixed_width_table(["m", "AUC"], [["ga", "0.5"], ["retrain", "0.51 [0.49, 0.53]"]], numeric=[1]))
        | m       |               AUC |
        |---------|------------------:|
        | ga      |               0.5 |
        | retrain | 0.51 [0.49, 0.53] |
    """
    numeric = set(numeric)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    fmt = lambda row: "| " + " | ".join(c.rjust(w) if i in numeric else c.ljust(w)  # noqa: E731
                                         for i, (c, w) in enumerate(zip(row, widths))) + " |"
    rule = "|" + "|".join("-" * (w + 1) + ":" if i in numeric else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(head), rule, *(fmt(row) for row in body)])


def plot(rows: list[dict], path: Path) -> Path:
    """Forgetting (T-MIA indiscernibility) vs utility (test accuracy), one point per method with
    95% error bars, one panel per forget setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(r["forget"] for r in rows))
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 4.5), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for r in (r for r in rows if r["forget"] == setting and r.get("acc_test") and r.get("indisc_test")):
            x, y = r["acc_test"], r["indisc_test"]
            ax.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["low"]], [x["high"] - x["mean"]]],
                        yerr=[[y["mean"] - y["low"]], [y["high"] - y["mean"]]], fmt="o", capsize=3)
            ax.annotate(r["method"], (x["mean"], y["mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set(title=f"forget: {setting}", xlabel="test accuracy (utility)",
               ylabel="T-MIA indiscernibility (forgetting; 1 = chance)")
        ax.grid(alpha=0.3)
    from muaudit.atomic import write_bytes

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format="png")
    plt.close(fig)
    write_bytes(path, buf.getvalue())  # moved into place only when complete
    return path
