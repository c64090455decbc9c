"""The unit of work: one method, one configuration, one seed, one forget setting -> metrics.

:func:`run_task` is a pure function of a plain, JSON-able dict (so an executor may run it in
another process or on another machine that sees the output folder) and returns a plain dict.
The original and the reference retrain come from ``OUT/models/`` (see
:mod:`muaudit.benchmark.world`).
"""

from __future__ import annotations

import functools
import warnings

from muaudit.benchmark.metrics import compare, is_diverged, model_metrics, run_time_efficiency
from muaudit.benchmark.spec import ForgetSetting
from muaudit.benchmark.world import load_world


def setting_from(d: dict) -> ForgetSetting:
    return ForgetSetting(d["name"], d["kind"], float(d["fraction"]), tuple(d["classes"]))


@functools.lru_cache(maxsize=8)
def reference_metrics(out: str, recipe: str, seed: int, setting: ForgetSetting) -> dict:
    world = load_world(out, recipe, seed, setting)
    return model_metrics(world.reference, world)


def make_task(out, recipe, seed: int, setting: ForgetSetting, method: str, config: dict, *, mia: bool = True,
              tag: str = "") -> dict:
    """The input dict of :func:`run_task`."""
    return {"out": str(out), "recipe": str(recipe), "seed": int(seed), "forget": setting.to_dict(),
            "method": method, "config": dict(config), "mia": bool(mia), "tag": tag}


def run_task(task: dict) -> dict:
    """Run ``task["method"]`` with ``task["config"]`` on the original of ``task["seed"]``.

    Returns ``{"status": "ok", "metrics": {...}, "reference": {...}, "config": {...}, "task": task}``
    or ``{"status": "diverged", ...}`` when the model's weights are not finite (a failed trial,
    not a crash).
    """
    from muaudit.unlearning import run_unlearning

    setting = setting_from(task["forget"])
    world = load_world(task["out"], task["recipe"], task["seed"], setting)
    ref = reference_metrics(task["out"], task["recipe"], task["seed"], setting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run_unlearning(task["method"], world.original, world.forget, world.retain, config=task["config"],
                             random_state=task["seed"], meta=world.meta)
    base = {"task": task, "config": res.config.to_dict(), "reference": ref}
    if is_diverged(res.model):
        return {**base, "status": "diverged", "metrics": run_time_efficiency(res.cost, world.reference_cost)}
    metrics = model_metrics(res.model, world, mia=task["mia"])
    metrics.update(compare(metrics, ref))
    metrics.update(run_time_efficiency(res.cost, world.reference_cost))
    return {**base, "status": "ok", "metrics": metrics}
