"""``muaudit poison`` as a library function: the protocol for one method, written to a results folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from muaudit.audit.decision import check_max_residual
from muaudit.checks import check_positive_int, check_unit_interval
from muaudit.training.device import select_device
from muaudit.poisoning.base import PoisonError, get_poison
from muaudit.poisoning.protocol import check_inputs, run_protocol
from muaudit.poisoning.report import summarize_method, write_poison_results
from muaudit.training.threads import using_threads


def attack_overrides(attack, *, fraction: float | None = None, eps: float | None = None,
                     options: dict | None = None) -> dict:
    """Merge ``--fraction``, ``--eps`` (the attack's noise or perturbation size) and other options."""
    out = dict(options or {})
    if fraction is not None:
        out["fraction"] = fraction
    if eps is not None:
        if attack.eps_field is None:
            raise PoisonError(f"poisoning attack {attack.name!r} has no noise or perturbation size; drop --eps")
        out[attack.eps_field] = eps
    return out


def run_poison(attack: str, recipe, method: str, *, budget: float | None = None, seeds: int = 3,
               fraction: float | None = None, eps: float | None = None, attack_options: dict | None = None,
               method_options: dict | None = None, alpha: float = 0.05, max_residual: float = 0.5, out=None, device=None,
               threads: int | None = None, log: Callable[[str], None] | None = None,
               progress: Callable[[int, int], None] | None = None, arch: str | None = None,
               executor=None) -> tuple[dict, Path]:
    """Poison, train, unlearn with ``method``, retrain, score; write results, figures and report.html.

    Every input is checked before any training; ``recipe`` is a TOML path or a packaged recipe's
    name. ``progress(done, total)`` is called per seed x model. The seeds run as tasks of
    ``executor`` (a :mod:`muaudit.execution` executor; default: this process). Returns
    ``(results, results_dir)``.

    Example:
        Gaussian canaries against FT, one seed, on the tiny recipe of the doctest setup
        (``conftest.py``; trains an original and a retrained model, a few seconds):

        >>> results, folder = run_poison("gaussian", recipe, "ft", seeds=1, method_options={"epochs": 1},
        ...                              out=tmp / "poison")
        >>> results["kind"], (folder / "report.html").is_file()
        ('poison', True)
    """
    from muaudit.pool.spec import load_spec
    from muaudit.pool.recipes import resolve_recipe
    from muaudit.atomic import staged_dir
    from muaudit.report import render_html
    from muaudit.report.results import results_dir_name

    attack = get_poison(attack)
    spec = load_spec(resolve_recipe(recipe), arch=arch)
    overrides = attack_overrides(attack, fraction=fraction, eps=eps, options=attack_options)
    config = attack.make_config(spec.dataset.get("name"), overrides)
    check_inputs(attack, [method], {method: method_options or {}}, budget, check_positive_int("seeds", seeds))
    check_unit_interval("alpha", alpha)
    check_max_residual(max_residual)
    if threads is not None:
        check_positive_int("threads", threads)
    select_device(device)
    t0 = time.perf_counter()
    with using_threads(threads):
        _, runs = run_protocol(attack, spec, methods=[method], attack_options=overrides, seeds=seeds, budget=budget,
                               method_options={method: method_options or {}}, device=device, log=log,
                               executor=executor, progress=progress)
    summary = summarize_method(attack, runs, method, alpha=alpha, max_residual=max_residual)
    if spec.train.augment and attack.name == "gaussian":
        summary["warnings"].append("the recipe augments images (random crop + flip), which moves the canary "
                                   "noise between epochs and weakens the attack")
    info = {"config": {"attack": config.to_dict(), "recipe": spec.to_dict(), "method": method,
                       "method_options": method_options or {}, "budget": budget, "seeds": seeds, "alpha": alpha,
                       "max_residual": max_residual},
            "inputs": {"recipe": str(recipe), "dataset": runs[0].poison.clean.describe()},
            "seconds": round(time.perf_counter() - t0, 2)}
    out_dir = results_dir_name(out, kind="poison")
    with staged_dir(out_dir, inputs={"recipe": recipe}) as tmp:  # moved into place only when complete
        write_poison_results(tmp, attack, runs, summary, info)
    render_html([out_dir])  # after the move: the page names the final folder (written atomically too)
    from muaudit.report import read_results

    return read_results(out_dir)[0], out_dir
