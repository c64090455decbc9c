"""What a report shows of one results folder: the overview row and the section, as plain data.

The HTML template (``templates/report.html.j2``) and the CSV writer only lay these out; every
label and number format comes from :mod:`muaudit.report.labels`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from muaudit.report.labels import GLOSSARY, format_value, interval, label, num, pct
from muaudit.report.summary import summary_text
from muaudit.report.slices import slice_table_view

# verdict -> CSS class: a fixed table, so no value from a file ever becomes markup
VERDICT_CLASSES = {"not unlearned": "v-bad", "over-unlearned": "v-bad", "consistent with retraining": "v-good",
                   "inconclusive": "v-warn"}  # one entry per word of muaudit.audit.decision.VERDICTS (tested)
COMPATIBILITY_CLASSES = {"ok": "v-good", "warn": "v-warn", "fail": "v-bad"}
NEUTRAL_CLASS = "v-none"
ATTACK_NAMES = {"lira": "LiRA", "rmia": "RMIA", "loss": "LOSS", "ulira": "U-LiRA", "qmia": "QMIA"}  # others: as named
FIGURES = {"roc.png": "ROC curve", "roc_loglog.png": "ROC curve, log-log (the low-FPR region)",
           "scores_hist.png": "Attack-score histograms", "poison_metric.png": "Attack metric per model and seed"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 20 * 2**20
CSV_COLUMNS = ["folder", "title", "kind", "target", "attack", "verdict", "p_value", "auc", "auc_ci_low",
               "auc_ci_high", "tpr_at_1pct_fpr", "power", "powered", "compatibility"]


def _dict(r: dict, key: str) -> dict:
    v = r.get(key)
    return v if isinstance(v, dict) else {}


def target_name(r: dict) -> str:
    kind, inputs = r.get("kind"), _dict(r, "inputs")
    if kind in ("ulira", "poison"):
        return f"method {r.get('method')}"
    if kind == "pool-evaluate":
        return f"pool {Path(str(r.get('pool'))).parent.name}"
    endpoint = _dict(_dict(inputs, "target_details"), "endpoint")
    if inputs.get("target_kind") == "endpoint" and endpoint.get("model"):
        return f"{endpoint['model']} (endpoint)"
    return Path(str(inputs.get("target", ""))).name or "n/a"


def attack_name(r: dict) -> str:
    kind, attack, config = r.get("kind"), str(r.get("attack", "")), _dict(r, "config")
    if kind == "poison":
        return f"poisoning: {attack}"
    name = ATTACK_NAMES.get(attack, attack or "n/a")
    if kind == "lira" and config.get("method"):
        return f"U-LiRA ({config.get('method')})"
    if kind == "lira" and config.get("attack") in ("online", "offline"):
        name += f" ({config['attack']})"
    return name + (" leave-one-out" if kind == "pool-evaluate" else "")


def power_of(r: dict) -> tuple[float | None, bool | None]:
    """``(power, powered)``: the chance of catching a remembered forget set, and whether it sufficed."""
    if r.get("kind") == "poison":
        return None, _dict(r, "power").get("powered")
    power = r.get("power") if r.get("kind") == "ulira" else _dict(r, "power_control").get("power")
    if not isinstance(power, (int, float)) or isinstance(power, bool):
        return None, None
    need = r.get("min_power")
    return float(power), (power >= need if isinstance(need, (int, float)) else None)


def overview_row(folder, r: dict) -> dict:
    """The overview's columns for one folder (raw values; the CSV writes them as they are)."""
    ci = r.get("auc_ci") if isinstance(r.get("auc_ci"), list) and len(r["auc_ci"]) == 2 else [None, None]
    tpr = _dict(_dict(r, "tpr_at_fpr"), "0.01")
    power, powered = power_of(r)
    return {"folder": str(folder), "title": r.get("title") or Path(str(folder)).name, "kind": r.get("kind"),
            "target": target_name(r), "attack": attack_name(r), "verdict": r.get("verdict"),
            "p_value": r.get("p_value"), "auc": r.get("auc"), "auc_ci_low": ci[0], "auc_ci_high": ci[1],
            "tpr_at_1pct_fpr": tpr.get("tpr") if tpr.get("measurable", True) else None, "power": power,
            "powered": powered, "compatibility": _dict(r, "compatibility").get("status")}


def overview_cells(row: dict) -> dict:
    """The overview row formatted for display."""
    auc = "n/a" if row["auc"] is None else f"{num(row['auc'])} {interval([row['auc_ci_low'], row['auc_ci_high']])}"
    if row["power"] is not None:
        power = pct(row["power"])
    else:
        power = {True: "powered", False: "not powered"}.get(row["powered"], "n/a")
    return {**{k: ("n/a" if v is None else str(v)) for k, v in row.items()}, "p_value": num(row["p_value"]),
            "auc": auc, "tpr_at_1pct_fpr": pct(row["tpr_at_1pct_fpr"]), "power": power,
            "verdict_class": VERDICT_CLASSES.get(row["verdict"], NEUTRAL_CLASS),
            "compatibility_class": COMPATIBILITY_CLASSES.get(row["compatibility"], NEUTRAL_CLASS)}


def _tpr_rows(r: dict) -> list[dict]:
    rows = []
    for key, entry in _dict(r, "tpr_at_fpr").items():
        try:
            alpha = float(key)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("measurable", True) and entry.get("tpr") is not None:
            value = f"{pct(entry.get('tpr'))} {interval(entry.get('ci'), percent=True)}"
        else:
            value = f"unmeasurable (needs at least {round(1 / alpha):,} non-members)" if alpha > 0 else "n/a"
        rows.append((alpha, {"label": f"TPR at {pct(alpha)} FPR", "value": value, "help": GLOSSARY["tpr_at_fpr"][1]}))
    return [row for _, row in sorted(rows, key=lambda t: t[0])]


def _row(key: str, value: str, name: str | None = None) -> dict:
    return {"label": name or label(key), "value": value, "help": GLOSSARY.get(key, ("", ""))[1]}


def metric_rows(r: dict) -> list[dict]:
    """The main table: test, effect size with intervals, TPR at low FPR, power control."""
    rows = []
    if r.get("p_value") is not None:
        alpha = f" (significance level {num(r['alpha'])})" if r.get("alpha") is not None else ""
        rows.append(_row("p_value", num(r["p_value"]) + alpha))
    effect = _dict(r, "effect")
    if effect.get("value") is not None:
        rows.append(_row("effect", f"{num(effect['value'])} {interval(effect.get('ci'))}",
                         f"test statistic: {effect.get('statistic', 'effect')}"))
    if r.get("auc") is not None:
        rows.append(_row("auc", f"{num(r['auc'])} {interval(r.get('auc_ci'))}"))
    if r.get("balanced_accuracy") is not None:
        rows.append(_row("balanced_accuracy", f"{pct(r['balanced_accuracy'])} "
                                              f"{interval(r.get('balanced_accuracy_ci'), percent=True)}"))
    if isinstance(r.get("ulira_accuracy"), dict):
        acc = r["ulira_accuracy"]
        rows.append(_row("ulira_accuracy", f"{pct(acc.get('accuracy'))} {interval(acc.get('ci'), percent=True)}"))
    rows += _tpr_rows(r)
    if r.get("epsilon_lower_bound") is not None:
        rows.append(_row("epsilon_lower_bound", num(r["epsilon_lower_bound"])))
    for key in ("n_forget", "n_nonmembers", "n_members", "n_shadows"):
        if r.get(key) is not None:
            rows.append(_row(key, num(r[key])))
    if r.get("stratified") is not None:
        rows.append(_row("stratified", format_value(r["stratified"], "stratified")))
    return rows + _power_rows(r)


def _power_rows(r: dict) -> list[dict]:
    control, rows = _dict(r, "power_control"), []
    ulira = r.get("kind") == "ulira"
    if control.get("auc") is not None:
        what = "original (never unlearned) vs reference" if ulira else "retained members vs non-members"
        rows.append(_row("power_auc", f"{num(control['auc'])} {interval(control.get('auc_ci'))}",
                         f"power control AUC: {what}"))
    power, _ = power_of(r)
    if power is not None:
        need = f" (needs {pct(r['min_power'])})" if isinstance(r.get("min_power"), (int, float)) else ""
        name = "power: share of single held-out targets caught" if ulira else "power to catch a remembered forget set"
        rows.append(_row("power", pct(power) + need, name))
    if control.get("min_detectable_residual") is not None:
        rows.append(_row("min_detectable_residual", pct(control["min_detectable_residual"])))
    return rows


def extra_tables(r: dict) -> list[dict]:
    """``results["sections"]``: named tables of already-labelled values (U-LiRA, poisoning, MIAs)."""
    tables = []
    for name, block in _dict(r, "sections").items():
        if isinstance(block, dict):
            rows = [_row(str(k), format_value(v, str(k))) for k, v in block.items()]
            tables.append({"title": str(name), "rows": rows})
    return tables


def figures(folder: Path) -> tuple[list[dict], list[str]]:
    """The folder's PNG figures as data URIs (known ones first, in reading order) and notes on
    files left out (not a PNG, too large)."""
    pngs = sorted(folder.glob("*.png"), key=lambda p: (list(FIGURES).index(p.name) if p.name in FIGURES
                                                       else len(FIGURES), p.name))
    out, notes = [], []
    for p in pngs:
        data = p.read_bytes() if p.is_file() and p.stat().st_size <= MAX_FIGURE_BYTES else b""
        if not data.startswith(PNG_MAGIC):
            notes.append(f"{p.name} is not a PNG image (or is over 20 MiB); left out")
            continue
        out.append({"caption": FIGURES.get(p.name, p.stem.replace("_", " ")), "alt": p.name,
                    "src": "data:image/png;base64," + base64.b64encode(data).decode("ascii")})
    return out, notes


def section(index: int, folder, r: dict) -> dict:
    """Everything the page shows of one results folder."""
    figs, notes = figures(Path(folder))
    compat = _dict(r, "compatibility")
    return {"id": f"folder-{index}", "title": r.get("title") or Path(str(folder)).name, "folder": str(folder),
            "verdict": r.get("verdict"), "verdict_class": VERDICT_CLASSES.get(r.get("verdict"), NEUTRAL_CLASS),
            "summary": summary_text(r, reasons=False), "reasons": _strings(r.get("inconclusive_reasons")),
            "rules_out": _dict(r, "decision").get("rules_out") if isinstance(_dict(r, "decision").get("rules_out"), str) else None,
            "agreement": r.get("agreement") if isinstance(r.get("agreement"), str) else None,
            "warnings": _strings(r.get("warnings")) + notes, "metrics": metric_rows(r), "tables": extra_tables(r),
            "slices": slice_table_view(r),
            "figures": figs, "compatibility": compat and {
                "status": compat.get("status"), "reasons": _strings(compat.get("reasons")),
                "advice": " ".join(_strings(compat.get("advice"))), "class": COMPATIBILITY_CLASSES.get(compat.get("status"), NEUTRAL_CLASS)},
            "details": json.dumps({k: r.get(k) for k in ("config", "inputs", "attack_config", "environment")
                                   if r.get(k) is not None}, indent=2, sort_keys=True, default=str)}


def _strings(v) -> list[str]:
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v] if isinstance(v, list) else []


def glossary() -> list[dict]:
    return [{"term": name, "text": text} for name, text in GLOSSARY.values()]
