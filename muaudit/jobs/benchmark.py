"""``muaudit benchmark``: run a benchmark spec into a results folder.

The folder holds ``spec.json`` (the resolved spec), ``models/`` (originals and reference retrains),
``studies.db`` (the Optuna searches), ``runs/`` (final per-seed results), with the competition phase
``models/competition-FORGET/`` (its K retrains) and ``competition/`` (its K runs per method), and at the end
``results.json`` (``kind: "benchmark"``, with a ``benchmark`` section), ``table.csv`` and
``benchmark.png``. ``--resume`` continues a folder with the same spec (``--trials`` may raise the
budget of a finished search); without it an existing folder is refused, so nothing is overwritten.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from muaudit.atomic import write_text
from muaudit.benchmark import competition_phase
from muaudit.benchmark import ulira_phase
from muaudit.benchmark.resume import check_resume, started_inputs
from muaudit.benchmark.runner import run_study
from muaudit.benchmark.spec import check_classes, load_benchmark_spec
from muaudit.benchmark.summary import markdown, plot, write_csv
from muaudit.benchmark.world import load_recipe
from muaudit.errors import ConfigError
from muaudit.execution import make_executor
from muaudit.jobs.ulira import ulira_summary
from muaudit.report.results import new_results_dir, write_results


def _prepare_folder(spec, out, resume: bool, fingerprint: str) -> Path:
    out = Path(out) if out else None
    stored = None if out is None else out / "spec.json"
    inputs = started_inputs(spec, fingerprint)  # the recipe's content, the dataset's fingerprint, ...
    if stored is not None and stored.is_file():
        if not resume:
            raise ConfigError(f"{out} already holds a benchmark; pass --resume to continue it, or choose another --out")
        check_resume(out, spec, inputs)  # spec, inputs and studies.db, before anything is written
    elif resume:
        raise ConfigError(f"nothing to resume: {out or '(no --out)'} holds no benchmark")
    folder = new_results_dir(out, kind="benchmark")
    write_text(folder / "spec.json", json.dumps({**spec.to_dict(), "inputs": inputs}, indent=2, sort_keys=True))
    return folder


def run_benchmark(spec_path, out=None, *, executor="local", trials: int | None = None,
                  resume: bool = False, workers: int | None = 1) -> dict:
    """Run (or resume) the benchmark of ``spec_path``; returns the results dict (also written).

    ``executor``: a :mod:`muaudit.execution` executor, or its name (made here with ``workers``
    local worker processes, None: one per core, 1: this process). The search asks for as many
    trials at once as the executor runs tasks (its ``width``)."""
    spec = load_benchmark_spec(spec_path)
    if trials is not None:
        spec = spec.with_trials(trials)
    _, ds = load_recipe(str(spec.recipe))
    check_classes(spec.forget, ds.n_classes, len(ds.train_idx))
    ex = make_executor(executor, workers=workers) if isinstance(executor, str) else executor
    extra: dict = {}
    try:
        folder = _prepare_folder(spec, out, resume, ds.fingerprint)
        t0 = time.perf_counter()
        rows = run_study(spec, folder, ex, batch=ex.width, extra=extra, ulira_evaluator=ulira_summary)
    finally:
        if ex is not executor:  # made here: closed here
            ex.close()
    wall = time.perf_counter() - t0
    sessions = _record_session(folder, wall)
    write_csv(rows, folder / "table.csv", extra_columns=competition_phase.csv_columns(rows))
    plot(rows, folder / "benchmark.png")
    table = markdown(rows) + ("\n\n" + ulira_phase.markdown(rows) if ulira_phase.has_ulira(rows) else "")
    sections = {"ranking": _ranking_lines(rows)}
    if ulira_phase.has_ulira(rows):
        sections["U-LiRA (per method, not per seed)"] = ulira_phase.section(rows)
    if spec.competition is not None:
        sections["competition"] = competition_phase.section_lines(rows)
    results = {"kind": "benchmark", "title": f"benchmark {spec.name}", "spec": spec.to_dict(),
               "benchmark": {"rows": rows, "markdown": table, "figure": "benchmark.png", **extra,
                             "ranking": "by mean RetDev, then mean T-MIA indiscernibility; tied = RetDev "
                                        "95% interval overlaps the best's",
                             "wall_seconds": wall, "total_wall_seconds": sum(sessions), "sessions": len(sessions),
                             "executor": ex.name, "workers": ex.width,
                             "summary": " ".join(filter(None, (_summary(rows), ulira_phase.summary(rows),
                                                               competition_phase.summary_sentence(rows)))),
                             **_competition(spec, rows)},
               "sections": sections}
    write_results(folder, results, {})
    return {**results, "out": str(folder)}


def _competition(spec, rows: list[dict]) -> dict:
    """The ``competition`` entry of ``results["benchmark"]`` (empty when the phase did not run)."""
    if spec.competition is None:
        return {}
    return {"competition": {**spec.competition.to_dict(), "ceiling": competition_phase.ceilings(rows),
                            "markdown": competition_phase.markdown(rows),
                            "protocol": "K unlearned runs (seeds 0..K-1) from the first seed's original vs K "
                                        "retrains, on the first seed's forget set; statistic: logit-scaled "
                                        "confidence; delta 1e-5; F interval: bootstrap over forget examples"}}


def _record_session(folder: Path, wall: float) -> list[float]:
    """Append this session's wall seconds to ``sessions.json``; returns every session's."""
    path = folder / "sessions.json"
    sessions = json.loads(path.read_text()) if path.is_file() else []
    sessions.append(round(wall, 3))
    write_text(path, json.dumps(sessions))
    return sessions


def _summary(rows: list[dict]) -> str:
    """One sentence per forget setting: the best method and who is tied with it (shares its rank)."""
    parts = []
    for setting in dict.fromkeys(r["forget"] for r in rows):
        group = [r for r in rows if r["forget"] == setting]
        best = group[0]
        tied = [r["method"] for r in group[1:] if r["rank"] == best["rank"]]
        rd = f"{best['retdev']['mean']:.3f}" if best.get("retdev") else "n/a"
        parts.append(f"Forget {setting}: best {best['method']} (RetDev {rd})"
                     + (f", tied with {', '.join(tied)}" if tied else "") + ".")
    return " ".join(parts)


def _ranking_lines(rows: list[dict]) -> dict:
    """A flat ``{label: text}`` view of the table that any report renderer can show."""
    def m(r, k):
        return "–" if not r.get(k) else f"{r[k]['mean']:.3f}"

    return {f"{r['forget']} #{r['rank']}{' (tied)' if r['tied'] else ''} {r['method']}":
            f"RetDev {m(r, 'retdev')}, test acc {m(r, 'acc_test')}, T-MIA indisc. {m(r, 'indisc_test')}, "
            f"{r['trials']} trials" for r in rows}
