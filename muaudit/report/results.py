"""Results folders: ``results.json`` + ``scores.npz`` + figures, and reading them back."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

import muaudit
from muaudit.report.schema import SCHEMA_VERSION, validate_results
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
    """Versions of what computed the results (torch's installed version: an audit of logits never imports it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        version = torch.__version__
    else:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        try:
            version = installed("torch")
        except PackageNotFoundError:
            version = None
    return {"muaudit": muaudit.__version__, "python": platform.python_version(), "torch": version,
            "numpy": np.__version__, "platform": platform.platform()}


def write_results(out_dir: Path, results: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``results.json`` (with versions) and ``scores.npz`` into ``out_dir``."""
    from muaudit.atomic import write_file, write_text

    results = _clean({**results, "environment": environment(), "schema_version": SCHEMA_VERSION})
    check_results(results, "results being written")  # a producer that breaks the schema is a bug: fail before writing
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


def check_results(r, source) -> dict:
    """Raise :class:`MuauditError` unless ``r`` fits the written schema of ``results.json``
    (:data:`muaudit.report.schema.RESULTS_SCHEMA`) and its ``tpr_at_fpr`` keys are rates in (0, 1]."""
    if not isinstance(r, dict):
        raise MuauditError(f"{source} is not a muaudit results file (a JSON object), got a {type(r).__name__}")
    validate_results(r, source)
    for fpr, entry in (r.get("tpr_at_fpr") or {}).items():
        if not _float(fpr):
            raise MuauditError(f"{source} is not a muaudit results file: 'tpr_at_fpr' entry {fpr!r} is {entry!r}")
    return r


def _float(text) -> bool:
    try:
        x = float(text)
        return 0 < x <= 1 and math.isfinite(1 / x)  # 1e-310: 1 / alpha (the negatives it needs) overflows
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
