"""What ``muaudit benchmark --resume`` checks before it writes anything (docs/benchmark.md, "Resume").

A benchmark folder's ``spec.json`` records, beside the resolved spec, the **inputs** the run
started with (:func:`started_inputs`): the sha256 and resolved content of the pool recipe (and
of the ``[ulira]`` pool's recipe; for a built ``[ulira]`` pool folder, its stored base recipe
and dataset fingerprint, which adding entries does not change) and the fingerprint of the
recipe's dataset. :func:`check_resume` compares the stored spec and inputs with the current
ones and checks the Optuna study database, so a resume with an edited recipe, other data or a
damaged ``studies.db`` is one :class:`~muaudit.errors.ConfigError` saying what changed, raised
before ``spec.json`` or anything else is written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

from muaudit.errors import ConfigError

STUDY_DB = "studies.db"
# tables Optuna's RDB storage reads; a missing one makes Optuna recreate it empty (a dropped
# trial_params table would turn every finished trial into the method's defaults)
STUDY_TABLES = ("studies", "study_directions", "trials", "trial_params", "trial_values", "trial_user_attributes",
                "trial_system_attributes", "version_info", "alembic_version")
NOT_COMPARED = ("trials", "inputs")  # --trials may raise the budget; the inputs are compared one by one


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def started_inputs(spec, fingerprint: str) -> dict:
    """``{name: record}`` of every file the spec names (see the module docstring)."""
    inputs = {"recipe": _recipe_record(spec.recipe), "dataset": {"fingerprint": fingerprint}}
    plan = spec.ulira
    if plan is not None:
        if plan.kind == "recipe":
            inputs["ulira pool recipe"] = _recipe_record(plan.pool)
        else:
            from muaudit.pool.reader import Pool

            pool = Pool(plan.pool)
            inputs["ulira pool"] = {"path": str(plan.pool), "recipe": pool.spec, "fingerprint": pool.fingerprint}
    return inputs


def _recipe_record(path) -> dict:
    from muaudit.pool.spec import load_spec

    spec = load_spec(path)
    resolved = {**spec.to_dict(), "unlearn": [asdict(e) for e in spec.unlearn]}
    return {"path": str(path), "sha256": file_sha256(path), "recipe": json.loads(json.dumps(resolved, default=str))}


def check_resume(out: Path, spec, inputs: dict) -> None:
    """Raise :class:`ConfigError` unless ``out`` can be resumed with ``spec`` and ``inputs``."""
    stored_path = Path(out) / "spec.json"
    try:
        stored = json.loads(stored_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{stored_path} cannot be read ({e}); the benchmark folder is damaged; start a new --out") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{stored_path} is not a benchmark spec; the benchmark folder is damaged; start a new --out")
    mine = {k: v for k, v in spec.to_dict().items() if k not in NOT_COMPARED}
    theirs = {k: v for k, v in stored.items() if k not in NOT_COMPARED}
    if theirs != mine:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise ConfigError(f"{out} was run with a different spec (differs in {', '.join(diff)}); "
                          f"only the trial budget may change on --resume")
    check_inputs(out, stored.get("inputs"), inputs)
    check_study_db(Path(out) / STUDY_DB, spec)


def check_inputs(out, started, now: dict) -> None:
    """Every input must be what the run started with."""
    if not isinstance(started, dict):
        raise ConfigError(f"{out} does not record the content of its inputs (started by an older muaudit), so a "
                          "resume cannot tell whether its recipe changed; start a new --out")
    for name in sorted(set(started) | set(now)):
        before, after = started.get(name), now.get(name)
        if before != after:
            raise ConfigError(f"{_what(name, before, after)} changed since the benchmark in {out} started "
                              f"({_change(before, after)}); restore it, or start a new --out")


def _what(name: str, before, after) -> str:
    path = (after or before or {}).get("path")
    return f"{name} {path}" if path and name != "dataset" else "the recipe's dataset" if name == "dataset" else name


def _change(before, after) -> str:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return "added" if before is None else "removed" if after is None else "its record differs"
    if before.get("fingerprint") != after.get("fingerprint") and "recipe" not in before:
        return f"fingerprint {str(before.get('fingerprint'))[:12]} -> {str(after.get('fingerprint'))[:12]}"
    keys = _changed_keys(before.get("recipe"), after.get("recipe"))
    if keys:
        return "; ".join(keys[:4]) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")
    if before.get("path") != after.get("path"):
        return f"now at {after.get('path')}, was {before.get('path')}"
    if before.get("sha256") != after.get("sha256"):
        return (f"sha256 {str(before.get('sha256'))[:12]} -> {str(after.get('sha256'))[:12]}; only its text: "
                "the resolved recipe is the same")
    return "its record differs"


def _changed_keys(a, b, prefix: str = "") -> list[str]:
    """``["train.epochs 10 -> 1", ...]`` for the keys of two nested dicts that differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _changed_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')} {json.dumps(a)} -> {json.dumps(b)}"]


def check_study_db(path: Path, spec) -> None:
    """``studies.db`` (when the searches have begun) must be an Optuna database whose finished
    trials each hold a value for every searched key and every objective."""
    if not path.exists():
        return  # killed before the search phase: it starts afresh
    advice = "the database was damaged or edited; restore it, or delete it to rerun the searches"
    if not path.is_file() or path.stat().st_size == 0:
        raise ConfigError(f"study database {path} is {'empty (0 bytes)' if path.is_file() else 'not a file'}; {advice}")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)  # never creates a file
        try:
            _check_db(con, path, spec, advice)
        finally:
            con.close()
    except sqlite3.Error as e:
        raise ConfigError(f"study database {path} cannot be read ({str(e).strip() or type(e).__name__}); {advice}") from None


def _check_db(con, path: Path, spec, advice: str) -> None:
    from muaudit.benchmark.metrics import OBJECTIVES

    status = con.execute("PRAGMA quick_check").fetchone()
    if not status or status[0] != "ok":
        raise ConfigError(f"study database {path} fails SQLite's integrity check ({status and status[0]}); {advice}")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in STUDY_TABLES if t not in tables]
    if missing:
        raise ConfigError(f"study database {path} lacks the table {missing[0]!r}; {advice}")
    spaces = {f"{p.name}/{f.name}": set(p.space) for f in spec.forget for p in spec.methods if p.space}
    rows = con.execute("SELECT s.study_name, t.trial_id, t.number FROM trials t JOIN studies s "
                       "ON s.study_id = t.study_id WHERE t.state = 'COMPLETE'").fetchall()
    for study, trial_id, number in rows:
        if study not in spaces:
            continue
        params = {r[0] for r in con.execute("SELECT param_name FROM trial_params WHERE trial_id = ?", (trial_id,))}
        n_values = con.execute("SELECT COUNT(*) FROM trial_values WHERE trial_id = ?", (trial_id,)).fetchone()[0]
        if params != spaces[study] or n_values != len(OBJECTIVES):
            raise ConfigError(f"study database {path}: finished trial {number} of {study} holds "
                              f"{'parameters ' + str(sorted(params)) if params != spaces[study] else f'{n_values} objective values'}"
                              f", expected {sorted(spaces[study]) if params != spaces[study] else len(OBJECTIVES)}; {advice}")
