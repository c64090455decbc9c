"""The study as three phases of independent tasks, each phase mapped over an executor.

1. **References**: the original of every seed, then the reference retrain of every (seed, forget
   setting) (:func:`muaudit.benchmark.world.train_reference`; skipped when the checkpoint exists).
2. **Search**: per (method, forget setting) with a non-empty space, Optuna trials on the search
   seeds (:mod:`muaudit.benchmark.search`); resumable from ``studies.db``.
3. **Final runs**: the chosen configuration (the best trial's, else the fixed settings over the
   method's defaults) on every seed; each result is cached in ``runs/METHOD/FORGET/sSEED.json``
   with its configuration, so a resumed run skips it unless the chosen configuration changed.
4. **U-LiRA** (with a ``[ulira]`` table): the chosen configurations as ``[[unlearn]]`` entries of a
   shadow pool, built or extended, and evaluated per method (:mod:`muaudit.benchmark.ulira_phase`).
5. **Competition** (``"competition"`` in the spec's metrics): K runs per method and K retrains per
   forget setting, scored as the NeurIPS-2023 competition did
   (:mod:`muaudit.benchmark.competition_phase`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from muaudit.atomic import write_inside
from muaudit.benchmark.search import SearchJob, best_trial, counted_trials, run_search
from muaudit.benchmark.spec import BenchmarkSpec
from muaudit.benchmark.summary import rank, summarise
from muaudit.benchmark.task import make_task, run_task
from muaudit.benchmark.world import train_reference
from muaudit.errors import ConfigError
from muaudit.execution import each


def reference_task(args: dict) -> str:
    return train_reference(args["out"], args["recipe"], args["seed"], args["setting"])


def train_references(spec: BenchmarkSpec, out: Path, executor) -> None:
    base = {"out": str(out), "recipe": str(spec.recipe)}
    originals = [{**base, "seed": s, "setting": None} for s in spec.seeds]
    retrains = [{**base, "seed": s, "setting": f.to_dict()} for s in spec.seeds for f in spec.forget]
    for batch in (originals, retrains):
        for _ in each(executor, reference_task, batch):
            pass


class Progress:
    """``trials done / total`` and the current best per method, on stderr when it is a terminal;
    elsewhere (a log) plain lines at a steady interval (:class:`muaudit.progress.LogLines`)."""

    def __init__(self, total: int, stream=None):
        from muaudit.progress import LogLines

        self.total, self.stream = total, stream or sys.stderr
        self.done: dict[str, int] = {}
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log = None if self.enabled else LogLines("[benchmark] search trials", self.stream)

    def __call__(self, job, study) -> None:
        self.done[job.name] = len(counted_trials(study))
        if not self.enabled:
            self.log(min(sum(self.done.values()), self.total), self.total)
            return
        best = best_trial(study)
        score = f"{best.user_attrs.get('score', float('nan')):.3f}" if best else "–"
        self.stream.write(f"\r[benchmark] trials {sum(self.done.values())}/{self.total}  "
                          f"{job.name}: best |objective| {score}   ")
        self.stream.flush()


def search_all(spec: BenchmarkSpec, out: Path, executor, *, batch: int = 1) -> dict[tuple, dict]:
    """Run (or resume) every search; returns ``{(method, forget): {"config", "trials", "failed"}}``."""
    jobs = [SearchJob(str(out), str(spec.recipe), plan, f, spec.seeds[:spec.search_seeds], spec.trials,
                      spec.sampler_seed, "mia" in spec.metrics, spec.population)
            for f in spec.forget for plan in spec.methods if plan.space]
    progress = Progress(len(jobs) * spec.trials)
    chosen = {}
    for job in jobs:
        study = run_search(job, executor, batch=batch, progress=progress)
        best = best_trial(study)
        config = {**job.plan.fixed, **(best.params if best else {})}
        failed = sum(1 for t in counted_trials(study) if t.user_attrs.get("diverged"))
        chosen[(job.plan.name, job.setting.name)] = {"config": config, "trials": len(counted_trials(study)),
                                                     "failed": failed, "best_trial": best.number if best else None,
                                                     "chosen": f"trial {best.number}" if best else
                                                     "defaults (every trial failed)"}
    if progress.enabled and jobs:
        progress.stream.write("\n")
    for f in spec.forget:
        for plan in spec.methods:
            chosen.setdefault((plan.name, f.name), {"config": dict(plan.fixed), "trials": 0, "failed": 0,
                                                    "best_trial": None, "chosen": "defaults (not searched)"})
    return chosen


def _cache_path(out: Path, method: str, setting: str, seed: int) -> Path:
    return out / "runs" / method / setting / f"s{seed}.json"


def final_runs(spec: BenchmarkSpec, out: Path, executor, chosen: dict) -> dict[tuple, list]:
    """Every method's chosen configuration on every seed (cached per seed)."""
    results: dict[tuple, list] = {}
    todo = []
    for f in spec.forget:
        for plan in spec.methods:
            config = chosen[(plan.name, f.name)]["config"]
            for s in spec.seeds:
                path = _cache_path(out, plan.name, f.name, s)
                cached = json.loads(path.read_text()) if path.is_file() else None
                if cached and cached["task"]["config"] == config:
                    results.setdefault((plan.name, f.name), []).append(cached)
                else:
                    todo.append(make_task(out, spec.recipe, s, f, plan.name, config, mia="mia" in spec.metrics,
                                          tag="final"))
    for _, res in each(executor, run_task, todo):
        t = res["task"]
        path = _cache_path(out, t["method"], t["forget"]["name"], t["seed"])
        write_inside(out, path, json.dumps(res, default=float))
        results.setdefault((t["method"], t["forget"]["name"]), []).append(res)
    return results


def run_study(spec: BenchmarkSpec, out: Path, executor, *, batch: int = 1, extra: dict | None = None,
              ulira_evaluator=None) -> list[dict]:
    """All phases; returns the ranked table rows (see :mod:`muaudit.benchmark.summary`). Phase
    blocks for ``results.json`` (``ulira``) go into ``extra`` when given; a spec with ``[ulira]``
    needs ``ulira_evaluator`` (see :func:`muaudit.benchmark.ulira_phase.run_ulira_phase`)."""
    train_references(spec, out, executor)
    chosen = search_all(spec, out, executor, batch=batch)
    runs = final_runs(spec, out, executor, chosen)
    rows = []
    for f in spec.forget:
        for plan in spec.methods:
            c = chosen[(plan.name, f.name)]
            got = sorted(runs[(plan.name, f.name)], key=lambda r: r["task"]["seed"])
            row = summarise(plan.name, f.name, got, config=got[0]["config"] if got else c["config"],
                            trials=c["trials"], failed=c["failed"])
            row["searched"] = sorted(plan.space)
            row["chosen"] = c["chosen"]
            rows.append(row)
    if spec.competition is not None:  # phase 5 (muaudit.benchmark.competition_phase)
        from muaudit.benchmark.competition_phase import run_competition

        scores = run_competition(spec, out, executor, chosen)
        for row in rows:
            row["competition"] = scores[(row["method"], row["forget"])]
    rows = rank(rows)
    if spec.ulira is not None:
        from muaudit.benchmark.ulira_phase import run_ulira_phase

        if ulira_evaluator is None:
            raise ConfigError("a spec with [ulira] needs an `ulira_evaluator` (muaudit.jobs.ulira.ulira_summary)")
        block = run_ulira_phase(spec, out, executor, chosen, rows, ulira_evaluator)
        if extra is not None:
            extra["ulira"] = block
    return rows


def trial_counts(out: Path, spec: BenchmarkSpec) -> dict[str, int]:
    """Counted trials per study in ``out/studies.db`` (for tests and status)."""
    import optuna

    from muaudit.benchmark.search import storage_url

    return {f"{p.name}/{f.name}": len(counted_trials(optuna.load_study(study_name=f"{p.name}/{f.name}",
                                                                       storage=storage_url(out))))
            for f in spec.forget for p in spec.methods if p.space}
