"""The per-slice table of an audit (``results["slices"]``, see :mod:`muaudit.audit.slices`) for people:
the summary's "where the leak is" sentence and the HTML table's rows.

``results.json`` may come from someone else: every value is checked for its type before use (a
malformed block shows as ``n/a`` or is left out), and strings are escaped by the HTML template.
"""

from __future__ import annotations

from muaudit.report.labels import interval, num, pct

FAMILY_LABELS = {"class": "class", "correct": "correctness on the target", "difficulty": "difficulty decile"}


def _rows(r: dict) -> list[dict]:
    block = r.get("slices") if isinstance(r.get("slices"), dict) else {}
    rows = block.get("rows") if isinstance(block.get("rows"), list) else []
    return [row for row in rows if isinstance(row, dict)]


def _auc_text(row: dict) -> str:
    return f"AUC {num(row.get('auc'))} {interval(row.get('auc_ci'))}"


def slices_text(r: dict) -> str | None:
    """The summary's sentence on where the leak is (None without a slice table).

    Example:
        >>> r = {"auc": 0.6, "slices": {"alpha": 0.05, "n_tested": 12, "rows": [
        ...     {"label": "class 3", "auc": 0.9, "auc_ci": [0.8, 0.97], "p_adjusted": 0.002, "leaks_more": True}]}}
        >>> slices_text(r)
        'Where the leak is: class 3 (AUC 0.9 [0.8, 0.97] vs 0.6 overall, adjusted p = 0.002); Holm-corrected over 12 slice tests at alpha = 0.05.'
    """
    rows = _rows(r)
    if not rows:
        return None
    block = r["slices"]
    tests = f"Holm-corrected over {num(block.get('n_tested'))} slice tests at alpha = {num(block.get('alpha'))}"
    marked = [row for row in rows if row.get("leaks_more") is True]
    if marked:
        where = "; ".join(f"{row.get('label')} ({_auc_text(row)} vs {num(r.get('auc'))} overall, "
                          f"adjusted p = {num(row.get('p_adjusted'))})" for row in marked[:4])
        more = f"; and {len(marked) - 4} more" if len(marked) > 4 else ""
        return f"Where the leak is: {where}{more}; {tests}."
    top = max((row for row in rows if isinstance(row.get("auc"), (int, float))), key=lambda row: row["auc"], default=None)
    best = f" (highest: {top.get('label')}, {_auc_text(top)})" if top is not None else ""
    return f"Where the leak is: no slice leaks significantly more than the rest of the forget set{best}; {tests}."


def slice_table_view(r: dict) -> dict | None:
    """The HTML table of the slices: ``{"note", "rows": [{"family", "label", "n_forget", "n_nonmembers",
    "auc", "tpr", "p_adjusted", "marked"}]}`` (None without a slice table)."""
    rows = _rows(r)
    if not rows:
        return None
    block = r["slices"]
    out = []
    for row in rows:
        tpr = row.get("tpr_at_fpr") if isinstance(row.get("tpr_at_fpr"), dict) else {}
        tpr_text = (f"{pct(tpr.get('tpr'))} {interval(tpr.get('ci'), percent=True)}" if tpr.get("measurable")
                    else ("unmeasurable" if tpr else "n/a"))
        out.append({"family": FAMILY_LABELS.get(row.get("family"), str(row.get("family"))),
                    "label": str(row.get("label")), "n_forget": num(row.get("n_forget")),
                    "n_nonmembers": num(row.get("n_nonmembers")),
                    "auc": str(row.get("empty")) if row.get("empty") else f"{num(row.get('auc'))} {interval(row.get('auc_ci'))}",
                    "tpr": tpr_text, "p_adjusted": num(row.get("p_adjusted")), "marked": row.get("leaks_more") is True})
    note = (f"Forget vs non-members within each slice. Marked rows leak significantly more than the rest of the "
            f"forget set: {block.get('test')}; {block.get('correction')}, alpha = {num(block.get('alpha'))}. "
            f"TPR at {pct(block.get('fpr'))} FPR with 95% intervals.")
    return {"note": note, "rows": out}
