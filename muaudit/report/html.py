"""A self-contained HTML report (figures embedded as data URIs) of one or more results folders."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from muaudit.report.results import read_results
from muaudit.report.summary import summary_text

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
.verdict{font-weight:bold;padding:.2em .5em;border-radius:4px}
.not-unlearned{background:#f8d7da}.consistent-with-retraining{background:#d4edda}.inconclusive{background:#fff3cd}
img{max-width:340px;margin:.3em}details pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:.8em}
.warn{color:#8a5300}"""

_METRICS = [("AUC", "auc"), ("AUC interval", "auc_ci"), ("balanced accuracy", "balanced_accuracy"),
            ("p-value", "p_value"), ("epsilon lower bound", "epsilon_lower_bound"),
            ("forget examples", "n_forget"), ("non-members", "n_nonmembers")]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return html.escape(str(v))


def _tpr_rows(r: dict) -> str:
    rows = []
    for key, entry in sorted((r.get("tpr_at_fpr") or {}).items(), key=lambda kv: float(kv[0])):
        val = "unmeasurable" if not entry.get("measurable", True) else f"{_fmt(entry.get('tpr'))} {_fmt(entry.get('ci'))}"
        rows.append(f"<tr><th>TPR at {float(key) * 100:g}% FPR</th><td>{val}</td></tr>")
    return "".join(rows)


def _section(folder: Path, r: dict) -> str:
    verdict = r.get("verdict")
    badge = f'<span class="verdict {verdict.replace(" ", "-")}">{html.escape(verdict)}</span>' if verdict else ""
    rows = "".join(f"<tr><th>{label}</th><td>{_fmt(r[key])}</td></tr>" for label, key in _METRICS if r.get(key) is not None)
    control = r.get("power_control")
    if control:
        rows += f"<tr><th>power control AUC</th><td>{_fmt(control.get('auc'))}</td></tr>"
        rows += f"<tr><th>power (catch a non-unlearned forget set)</th><td>{_fmt(control.get('power'))}</td></tr>"
        if control.get("min_detectable_residual") is not None:
            rows += f"<tr><th>minimum detectable residual</th><td>{_fmt(control['min_detectable_residual'])}</td></tr>"
    if (r.get("class_mix") or {}).get("p_value") is not None:
        rows += f"<tr><th>class mix (chi-square p)</th><td>{_fmt(r['class_mix']['p_value'])} ({html.escape(r['class_mix']['decision'])})</td></tr>"
    imgs = "".join(f'<img alt="{p.name}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
                   for p in sorted(folder.glob("*.png")))
    warns = "".join(f'<p class="warn">Warning: {html.escape(w)}</p>' for w in r.get("warnings") or [])
    extra = "".join(_extra_section(name, block) for name, block in (r.get("sections") or {}).items())
    return (f"<h2>{html.escape(r.get('title') or folder.name)} {badge}</h2><p>{html.escape(summary_text(r))}</p>"
            f"{warns}<table>{rows}{_tpr_rows(r)}</table>{imgs}{extra}"
            f"<details><summary>configuration and inputs</summary><pre>"
            f"{html.escape(json.dumps({k: r.get(k) for k in ('config', 'inputs', 'environment', 'attack_config')}, indent=2))}"
            f"</pre></details>")


def _extra_section(name: str, block: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in block.items()
                   if not isinstance(v, dict))
    return f"<h3>{html.escape(name)}</h3><table>{rows}</table>"


def render_html(folders: list, out=None) -> Path:
    """Render results folders into one HTML page (default: ``FIRST_FOLDER/report.html``)."""
    loaded = [read_results(f) for f in folders]
    body = "".join(_section(folder, r) for r, folder in loaded)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>muaudit report</title>"
            f"<style>{_CSS}</style></head><body><h1>muaudit report</h1>{body}</body></html>")
    out = Path(out) if out else loaded[0][1] / "report.html"
    out.write_text(page)
    return out
