"""``muaudit poison`` as a library function: the protocol for one method, written to a results folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from muaudit.checks import check_positive_int, check_unit_interval
from muaudit.poisoning.base import PoisonError, get_poison
from muaudit.poisoning.protocol import check_inputs, run_protocol
from muaudit.poisoning.report import summarize_method, write_poison_results
from muaudit.training.device import select_device


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
               method_options: dict | None = None, alpha: float = 0.05, out=None, device=None,
               threads: int | None = None, log: Callable[[str], None] | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[dict, Path]:
    """Poison, train, unlearn with ``method``, retrain, score; write results, figures and report.html.

    Every input is checked before any training; ``recipe`` is a TOML path or a packaged recipe's
    name. ``progress(done, total)`` is called per seed x model. Returns ``(results, results_dir)``.

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
    from muaudit.report import new_results_dir, render_html

    attack = get_poison(attack)
    spec = load_spec(resolve_recipe(recipe))
    overrides = attack_overrides(attack, fraction=fraction, eps=eps, options=attack_options)
    config = attack.make_config(spec.dataset.get("name"), overrides)
    check_inputs(attack, [method], {method: method_options or {}}, budget, check_positive_int("seeds", seeds))
    check_unit_interval("alpha", alpha)
    select_device(device)
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        t0 = time.perf_counter()
        _, runs = run_protocol(attack, spec, methods=[method], attack_options=overrides, seeds=seeds, budget=budget,
                               method_options={method: method_options or {}}, device=device, log=log,
                               progress=progress)
        summary = summarize_method(attack, runs, method, alpha=alpha)
        if spec.train.augment and attack.name == "gaussian":
            summary["warnings"].append("the recipe augments images (random crop + flip), which moves the canary "
                                       "noise between epochs and weakens the attack")
    finally:
        torch.set_num_threads(old_threads)
    info = {"config": {"attack": config.to_dict(), "recipe": spec.to_dict(), "method": method,
                       "method_options": method_options or {}, "budget": budget, "seeds": seeds, "alpha": alpha},
            "inputs": {"recipe": str(recipe), "dataset": runs[0].poison.clean.describe()},
            "seconds": round(time.perf_counter() - t0, 2)}
    out_dir = new_results_dir(out, kind="poison")
    write_poison_results(out_dir, attack, runs, summary, info)
    render_html([out_dir])
    from muaudit.report import read_results

    return read_results(out_dir)[0], out_dir
