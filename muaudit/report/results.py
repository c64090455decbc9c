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
    if out is not None:
        path = Path(out)
    else:
        base = Path("results") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 1
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
    path.mkdir(parents=True, exist_ok=True)
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
    results = _clean({**results, "environment": environment()})
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))  # the producers' order: tables read in it
    np.savez_compressed(out_dir / "scores.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    return out_dir / "results.json"


def read_results(folder) -> tuple[dict, Path]:
    """Load ``results.json`` of a results folder."""
    folder = Path(folder)
    f = folder / "results.json"
    if not f.is_file():
        raise MuauditError(f"{folder} is not a muaudit results folder (no results.json)")
    try:
        r = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MuauditError(f"{f} is not valid JSON ({e})") from None
    except OSError as e:
        raise MuauditError(f"cannot read {f}: {e.strerror or e}") from None
    check_results(r, f)
    return r, folder


_TYPES = {(str,): ("kind", "title", "verdict", "attack", "method", "metric", "test"),
          (int, float): ("auc", "p_value", "alpha", "balanced_accuracy", "epsilon_lower_bound", "min_power",
                         "n_forget", "n_nonmembers", "n_members", "n_pos", "n_neg", "n_shadows"),
          (list,): ("warnings", "inconclusive_reasons", "auc_ci", "balanced_accuracy_ci"),
          (dict,): ("config", "inputs", "tpr_at_fpr", "power_control", "sections", "compatibility",
                    "ulira_accuracy", "population_mia", "environment", "attack_config")}


def check_results(r, source) -> None:
    """The top-level fields a report reads have the right JSON types (null allowed)."""
    if not isinstance(r, dict):
        raise MuauditError(f"{source}: expected a JSON object, got {type(r).__name__}")
    for types, keys in _TYPES.items():
        for key in keys:
            v = r.get(key)
            if v is not None and (not isinstance(v, types) or isinstance(v, bool) and bool not in types):
                want = {str: "a string", int: "a number", list: "a list", dict: "an object"}[types[0]]
                raise MuauditError(f"{source}: `{key}` must be {want}, got {json.dumps(v)[:60]}")


def write_audit_folder(out, *, kind: str, results: dict, scores: np.ndarray, forget: np.ndarray,
                       nonmembers: np.ndarray, members: np.ndarray, arrays: dict | None = None,
                       label: str = "forget vs non-members") -> Path:
    """The standard audit folder: results.json, scores.npz (scores + index arrays) and figures
    (ROC of forget vs non-members and of the power control, score histograms)."""
    from muaudit.report.figures import save_audit_figures

    out_dir = new_results_dir(out, kind=kind)
    s, F, NM, R = np.asarray(scores), forget, nonmembers, members
    write_results(out_dir, results, {"scores": s, "forget": F, "nonmembers": NM, "members": R, **(arrays or {})})
    curves = {label: (np.r_[s[F], s[NM]], np.r_[np.ones(len(F)), np.zeros(len(NM))])}
    groups = {"forget": s[F], "non-members": s[NM]}
    if len(R):
        curves["power control: retained vs non-members"] = (np.r_[s[R], s[NM]], np.r_[np.ones(len(R)), np.zeros(len(NM))])
        groups["retained members"] = s[R]
    save_audit_figures(out_dir, curves, groups)
    return out_dir
