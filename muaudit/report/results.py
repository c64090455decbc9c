"""Results folders: ``results.json`` + ``scores.npz`` + figures, and reading them back."""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np

import muaudit
from muaudit.errors import MuauditError


def new_results_dir(out=None, *, kind: str = "audit") -> Path:
    """``out`` (created), or a new ``results/KIND-YYYYmmdd-HHMMSS[-n]`` folder."""
    from muaudit.paths import output_dir

    if out is not None:
        return output_dir(out)
    base = Path("results") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return output_dir(path)


def results_dir_name(out=None, *, kind: str = "audit") -> Path:
    """``out``, or a new ``results/KIND-YYYYmmdd-HHMMSS[-n]`` path (not created: see
    :func:`muaudit.atomic.staged_dir`, which writes the folder beside it and moves it in)."""
    if out is not None:
        return Path(out)
    base = Path("results") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def _clean(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to None (never NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def environment() -> dict:
    import torch

    return {"muaudit": muaudit.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def write_results(out_dir: Path, results: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``results.json`` (with versions) and ``scores.npz`` into ``out_dir``."""
    from muaudit.atomic import write_file, write_text

    results = _clean({**results, "environment": environment()})
    write_file(out_dir / "scores.npz", lambda f: np.savez_compressed(f, **{k: np.asarray(v) for k, v in arrays.items()}))
    write_text(out_dir / "results.json", json.dumps(results, indent=2))  # the producers' order: tables read in it
    return out_dir / "results.json"


def read_results(folder) -> tuple[dict, Path]:
    """Load and validate ``results.json`` of a results folder (a folder may be someone else's:
    every field the summary and the report read is type-checked, see :func:`check_results`)."""
    folder = Path(folder)
    f = folder / "results.json"
    if not f.is_file():
        raise MuauditError(f"{folder} is not a muaudit results folder (no results.json)")
    try:
        r = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MuauditError(f"{f} is not valid JSON ({e})") from None
    except RecursionError:
        raise MuauditError(f"{f} is nested too deeply to be a muaudit results file") from None
    except OSError as e:
        raise MuauditError(f"cannot read {f}: {e.strerror or e}") from None
    check_results(r, f)
    from muaudit.report.members import check_members

    check_members(folder)  # no symlinked, empty, truncated or missing member
    return r, folder


_NUMBER = (int, float)
# top-level key -> type (or a check) of what the summary, the figures and the HTML report read
_SCHEMA = {
    "kind": str, "title": str, "verdict": str, "attack": str, "method": str,
    "p_value": _NUMBER, "alpha": _NUMBER, "auc": _NUMBER, "epsilon_lower_bound": _NUMBER,
    "n_forget": int, "n_nonmembers": int, "n_pos": int, "n_neg": int,
    "auc_ci": "interval", "tpr_at_fpr": dict, "ulira_accuracy": dict, "power_control": dict,
    "population_mia": dict, "sections": dict, "config": dict, "inputs": dict, "environment": dict,
    "compatibility": dict, "attack_config": dict, "balanced_accuracy": _NUMBER, "min_power": _NUMBER,
    "n_members": int, "n_shadows": int, "metric": str, "test": str, "balanced_accuracy_ci": "interval",
    "inconclusive_reasons": "strings", "warnings": "strings",
}
_NESTED = {"power_control": {"auc": _NUMBER, "auc_ci": "interval", "power": _NUMBER},
           "ulira_accuracy": {"accuracy": _NUMBER, "ci": "interval"}}


def _fits(value, want) -> bool:
    if value is None:
        return True
    if want == "interval":
        return isinstance(value, list) and len(value) == 2 and all(v is None or _fits(v, _NUMBER) for v in value)
    if want == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, want) and not isinstance(value, bool)


def check_results(r, source) -> dict:
    """Raise :class:`MuauditError` unless ``r`` has the shape of a muaudit ``results.json``."""
    if not isinstance(r, dict):
        raise MuauditError(f"{source} is not a muaudit results file (a JSON object), got a {type(r).__name__}")
    for key, want in _SCHEMA.items():
        if not _fits(r.get(key), want):
            raise MuauditError(f"{source} is not a muaudit results file: {key!r} is {r[key]!r}")
    for key, fields in _NESTED.items():
        for sub, want in fields.items():
            if not _fits((r.get(key) or {}).get(sub), want):
                raise MuauditError(f"{source} is not a muaudit results file: {key!r}.{sub!r} is {r[key][sub]!r}")
    for fpr, entry in (r.get("tpr_at_fpr") or {}).items():
        if not (_float(fpr) and isinstance(entry, dict) and _fits(entry.get("tpr"), _NUMBER)
                and _fits(entry.get("ci"), "interval")):
            raise MuauditError(f"{source} is not a muaudit results file: 'tpr_at_fpr' entry {fpr!r} is {entry!r}")
    return r


def _float(text) -> bool:
    try:
        return 0 < float(text) <= 1
    except (TypeError, ValueError):
        return False


def audit_curves(scores, forget, nonmembers, members, label: str = "forget vs non-members") -> tuple[dict, dict]:
    """The audit figures' data: ROC curves (forget vs non-members, and the power control's retained
    members vs non-members) and score groups for the histogram."""
    s, F, NM, R = np.asarray(scores), forget, nonmembers, members
    curves = {label: (np.r_[s[F], s[NM]], np.r_[np.ones(len(F)), np.zeros(len(NM))])}
    groups = {"forget": s[F], "non-members": s[NM]}
    if len(R):
        curves["power control: retained vs non-members"] = (np.r_[s[R], s[NM]], np.r_[np.ones(len(R)), np.zeros(len(NM))])
        groups["retained members"] = s[R]
    return curves, groups


def write_audit_folder(out, *, kind: str, results: dict, scores: np.ndarray, forget: np.ndarray,
                       nonmembers: np.ndarray, members: np.ndarray, arrays: dict | None = None,
                       label: str = "forget vs non-members", figures=None) -> Path:
    """The standard audit folder: results.json, scores.npz (scores + index arrays) and figures
    (see :func:`audit_curves`). ``figures``: a :class:`~muaudit.report.figure_worker.PendingFigures`
    of the same curves, started as soon as the scores existed; else they are started here."""
    from muaudit.report.figure_worker import draw_figures

    from muaudit.atomic import staged_dir

    if figures is None:
        figures = draw_figures(*audit_curves(scores, forget, nonmembers, members, label))
    out_dir = results_dir_name(out, kind=kind)
    with staged_dir(out_dir, inputs=results.get("inputs") or {}) as tmp:  # swapped in only when complete
        write_results(tmp, results, {"scores": np.asarray(scores), "forget": forget, "nonmembers": nonmembers,
                                     "members": members, **(arrays or {})})
        figures.write(tmp)
    return out_dir
