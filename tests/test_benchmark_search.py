"""The benchmark's NSGA-III search: the spec's population reaches the sampler, a budget larger
than one population reaches a second generation, and a resumed search keeps its generations.
Trials are scored by a stand-in executor (no training), so this runs in about a second."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from muaudit.benchmark.search import SearchJob, open_study, run_search  # noqa: E402
from muaudit.benchmark.space import default_space  # noqa: E402
from muaudit.benchmark.spec import ForgetSetting, MethodPlan, default_population, spec_from_dict  # noqa: E402

GEN = "NSGAIIISampler:generation"


class Scored:
    """Executor stand-in: a trial's objective is a smooth function of its lr and epochs."""

    width = 1

    def map(self, fn, inputs, *, shared=None):  # shared: the task function (muaudit.execution.each)
        for i, task in enumerate(inputs):
            c = task["config"]
            d = abs(c["lr"] - 0.01)
            yield i, {"status": "ok", "config": c, "task": task,
                      "metrics": {"objective": {"d_retain": d, "d_forget": abs(c["epochs"] - 3) / 10,
                                                "d_val": d / 2, "discernibility": 0.0}}}


def job(tmp_path, trials, population):
    return SearchJob(str(tmp_path), "unused.toml", MethodPlan("ft", {}, default_space("ft")), ForgetSetting("r10"),
                     (0,), trials, 0, True, population)


def generations(study):
    return [t.system_attrs.get(GEN) for t in study.trials]


def test_population_reaches_the_sampler(tmp_path):
    study = open_study(tmp_path, "ft/r10", 0, population=6)
    assert study.sampler._population_size == 6


@pytest.mark.slow  # measured: 3.2 s wall (the fast loop, docs/development.md)
def test_search_beyond_one_population_reaches_later_generations(tmp_path):
    study = run_search(job(tmp_path, 12, 4), Scored())
    assert generations(study) == [0] * 4 + [1] * 4 + [2] * 4


@pytest.mark.slow  # measured: 2.6 s wall (the fast loop, docs/development.md)
def test_resumed_search_continues_its_generation(tmp_path):
    run_search(job(tmp_path, 6, 4), Scored())          # stops in the middle of generation 1
    study = run_search(job(tmp_path, 10, 4), Scored())  # a fresh sampler, as --resume --trials 10
    assert generations(study) == [0] * 4 + [1] * 4 + [2] * 2


def test_default_population_and_spec_key(tmp_path):
    base = {"recipe": "digits-mlp", "methods": ["ft"], "seeds": [0], "forget": [{"fraction": 0.1}]}
    spec = spec_from_dict({**base, "search": {"trials": 30}})
    assert spec.population == default_population(30) == 7
    assert spec.with_trials(60).population == 7  # --trials keeps the generations of a resumed search
    assert spec_from_dict({**base, "search": {"trials": 30, "population": 10}}).population == 10
    from muaudit.errors import ConfigError

    with pytest.raises(ConfigError, match="population"):
        spec_from_dict({**base, "search": {"population": 1}})
