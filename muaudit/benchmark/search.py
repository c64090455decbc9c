"""Hyperparameter search per (method, forget setting) with Optuna, resumable from an SQLite file.

Deep Unlearn's protocol: NSGA-III over the four objectives of
:func:`muaudit.benchmark.metrics.compare` (each averaged over the search seeds), the best trial
being the one with the smallest Euclidean norm of its objective vector. Trials are asked in
batches (``batch`` = the executor's width) and each (trial, seed) is one task of the executor.

The study lives in ``OUT/studies.db`` (study name ``METHOD/FORGET``). A killed run leaves its
asked-but-untold trials RUNNING; on resume they are marked FAIL (user attr ``interrupted``) and
their parameters are enqueued again, so finished trials are never redone and interrupted ones are.
A trial whose model diverges is told FAIL with user attr ``diverged`` and counts toward the budget.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from muaudit.benchmark.metrics import OBJECTIVES
from muaudit.benchmark.space import suggest
from muaudit.benchmark.task import make_task, run_task
from muaudit.execution import each


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover
        from muaudit.errors import ConfigError

        raise ConfigError("`muaudit benchmark` needs Optuna: pip install 'muaudit[study]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(out) -> str:
    return f"sqlite:///{out}/studies.db"


def open_study(out, name: str, sampler_seed: int, population: int = 50):
    """Create or load the study ``name``; stale RUNNING trials are failed and re-enqueued.

    The NSGA-III sampler (``population`` trials per generation) is created afresh per session;
    it reads each trial's generation from the storage (system attribute
    ``NSGAIIISampler:generation``), so a resumed search continues the generation it was in, as
    long as the population is the same (the spec check of ``--resume`` makes sure of that)."""
    optuna = _optuna()
    storage = optuna.storages.RDBStorage(storage_url(out), engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                directions=["minimize"] * len(OBJECTIVES))
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for t in stale:
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(dict(t.params), skip_if_exists=False)
    # a fresh sampler seed per session: a resumed search does not redraw the first session's points
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.NSGAIIISampler(seed=sampler_seed + len(study.trials),
                                                       population_size=population)
    return study


def counted_trials(study) -> list:
    """Trials that used budget: complete, or failed because the model diverged."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and t.user_attrs.get("diverged"))]


def best_trial(study):
    """The complete trial with the smallest Euclidean norm of its values (None if none)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    return min(done, key=lambda t: (math.sqrt(sum(v * v for v in t.values)), t.number), default=None)


@dataclass
class SearchJob:
    """One search: ``plan`` (a MethodPlan) on ``setting`` with the first seeds of ``seeds``."""

    out: str
    recipe: str
    plan: object
    setting: object
    seeds: tuple
    trials: int
    sampler_seed: int
    mia: bool = True
    population: int = 50

    @property
    def name(self) -> str:
        return f"{self.plan.name}/{self.setting.name}"


def run_search(job: SearchJob, executor, *, batch: int = 1, progress=None):
    """Run trials until ``job.trials`` count; returns the study. ``progress(job, study)`` after each batch."""
    from muaudit.unlearning import get_method

    optuna = _optuna()
    study = open_study(job.out, job.name, job.sampler_seed, job.population)
    method = get_method(job.plan.name)
    while len(counted_trials(study)) < job.trials:
        k = min(batch, job.trials - len(counted_trials(study)))
        trials = [study.ask() for _ in range(k)]
        configs = [{**job.plan.fixed, **suggest(t, method, job.plan.space)} for t in trials]
        tasks = [make_task(job.out, job.recipe, s, job.setting, job.plan.name, c, mia=job.mia, tag=f"trial{t.number}")
                 for t, c in zip(trials, configs) for s in job.seeds]
        results = [None] * len(tasks)
        for i, res in each(executor, run_task, tasks):
            results[i] = res
        n = len(job.seeds)
        for j, trial in enumerate(trials):
            _tell(study, trial, results[j * n:(j + 1) * n], optuna)
        if progress:
            progress(job, study)
    return study


def _tell(study, trial, results: list[dict], optuna) -> None:
    if any(r["status"] != "ok" for r in results):
        trial.set_user_attr("diverged", True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    values = [float(np.mean([r["metrics"]["objective"][k] for r in results])) for k in OBJECTIVES]
    trial.set_user_attr("score", float(math.sqrt(sum(v * v for v in values))))
    trial.set_user_attr("config", results[0]["config"])
    study.tell(trial, values)
