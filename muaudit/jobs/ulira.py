"""``muaudit ulira``: evaluate an unlearning method on a pool's unlearned shadows, and the pool
look-ups that ``muaudit lira --method`` shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, check_alpha, check_max_residual
from muaudit.attacks.signals import loss_from_phi
from muaudit.attacks.base import check_choice
from muaudit.checks import check_positive_int
from muaudit.attacks.ulira import ULIRA_STATISTICS, ShadowFamilies, ULiRAConfig
from muaudit.audit.ulira import evaluate_ulira, population_mia
from muaudit.jobs.inputs import AuditData
from muaudit.data import TEST
from muaudit.errors import PoolError
from muaudit.pool.store import Pool, ShadowGroup
from muaudit.atomic import staged_dir
from muaudit.report import save_audit_figures, write_results
from muaudit.report.results import results_dir_name

POPULATION_MODELS = 3
ULIRA_RECIPE = "digits-mlp-ulira"  # the packaged recipe whose pool has [[unlearn]] entries (ft, ga, ng+, scrub)


def _complete(pool: Pool, g: ShadowGroup) -> ShadowGroup:
    if not g.done.all():
        raise PoolError(f"{g.path} of pool {pool.path} is unfinished ({int(g.done.sum())}/{g.done.size} models done); "
                        f"resume with `muaudit pool build RECIPE --out {pool.path.parent}`")
    return g


def unlearned_group(pool: Pool, method: str) -> ShadowGroup:
    """The pool's unlearned group of ``method`` (an entry name, or a method with one entry)."""
    from muaudit.unlearning import get_method

    if method in pool.unlearned:
        return _complete(pool, pool.unlearned[method])
    if method != "sisa":  # sisa: SISA unlearning of a [sisa] pool's shadows, not a registered method
        get_method(method)  # an unknown method name lists the registered ones
    matches = [g for g in pool.unlearned.values() if g.attrs.get("method") == method]
    if len(matches) > 1:
        raise PoolError(f"pool {pool.path} has {len(matches)} entries of method {method!r} "
                        f"({', '.join(g.name for g in matches)}); pass one of these names")
    if not pool.unlearned:
        raise PoolError(f"pool {pool.path} has no unlearned shadows (its recipe has no [[unlearn]] entries); build "
                        f"one with `muaudit pool build {ULIRA_RECIPE}`, or add an [[unlearn]] entry with "
                        f"method = \"{method}\" to the recipe and resume the build")
    if not matches:
        have = ", ".join(sorted(pool.unlearned))
        raise PoolError(f"pool {pool.path} has no unlearned shadows of method {method!r}; its methods: {have} "
                        f"(add an [[unlearn]] entry with method = \"{method}\" to the recipe and resume the build)")
    return _complete(pool, matches[0])


def retrain_group(pool: Pool, group: ShadowGroup) -> ShadowGroup:
    """Exact retrains on the same forget sets: ``retrain/<name>``, else another entry's."""
    same = [g for g in pool.retrained.values() if np.array_equal(g.forget, group.forget) and g.done.all()]
    own = pool.retrained.get(group.name)
    if own is not None:
        return _complete(pool, own)
    if not same:
        raise PoolError(f"pool {pool.path} has no exact retrains for {group.name!r}; add `retrain = true` to its "
                        "[[unlearn]] entry and resume the build, or pass --reference out")
    return same[0]


def shadow_families(pool: Pool, group: ShadowGroup, reference: str, statistic: str):
    """The families U-LiRA needs as statistics, the retrain group used (or None), and each
    family's phi ``[M, N, V]``. Read from the pool's per-example signals (:meth:`Pool.signals`:
    no logits, so memory does not grow with the number of classes)."""
    check_choice("statistic", statistic, ULIRA_STATISTICS)
    signals = {"base": pool.signals(), "unlearned": pool.signals(group=group.path)}
    retrain = retrain_group(pool, group) if reference == "retrain" else None
    if retrain is not None:
        signals["retrain"] = pool.signals(group=retrain.path)
    stats = {k: (phi if statistic == "phi" else correct.astype(np.float64)) for k, (phi, correct) in signals.items()}
    fam = ShadowFamilies(stats["base"], pool.keep, stats["unlearned"], group.forget, stats.get("retrain"))
    return fam, retrain, {k: phi for k, (phi, _) in signals.items()}


def _population(pool: Pool, phi: dict, forget: np.ndarray, targets: list[int], n_models: int) -> dict:
    """Deep Unlearn's MIA (indiscernibility) and LOSS AUC, forget vs test non-members, per family,
    on the first ``n_models`` targets (scikit-learn's 10-split fit costs 0.1-0.5 s a model)."""
    targets = targets[:n_models]
    nonmembers = (pool.split == TEST)[None] & ~pool.keep[targets]
    names = {"unlearned": "unlearned", "retrain": "retrain", "base": "original"}
    return {names[k]: population_mia(loss_from_phi(v[targets][..., 0]), forget[targets], nonmembers)
            for k, v in phi.items()}


def _sections(r: dict) -> dict:
    """Flat tables for the HTML report."""
    acc, ctl, ex = r["ulira_accuracy"], r["power_control"], r["per_example"]
    pop = {f"{fam} {k}": v for fam, block in r["population_mia"].items() for k, v in block.items()
           if k in ("indiscernibility", "loss_auc")}
    return {"U-LiRA": {"method": r["method"], "reference": r["config"]["reference"], "statistic": r["config"]["statistic"],
                       "U-LiRA accuracy (held-out threshold)": acc["accuracy"], "U-LiRA accuracy interval": acc["ci"],
                       "power (single targets caught)": r["power"], "shadows": r["n_shadows"]},
            "Power control: original (never unlearned) vs reference": {
                "AUC": ctl["auc"], "AUC interval": ctl["auc_ci"], "U-LiRA accuracy": ctl["ulira_accuracy"]["accuracy"],
                "power (single targets caught)": ctl["power"]},
            "Per-example log-likelihood ratio (unlearned vs reference)": {
                **{f"unlearned {k}": v for k, v in ex["log_lr_unlearned"].items()},
                **{f"reference {k}": v for k, v in ex["log_lr_reference"].items()},
                "examples with mean posterior > 0.5": ex["examples_mean_posterior_above_half"]},
            "Population MIA on the same models (forget vs test)": pop}


def run_ulira(*, pool=None, method: str, reference: str = "retrain", statistic: str = "phi", variance: str = "auto",
              n_targets: int | None = None, out=None, random_state: int = 0, alpha: float = DEFAULT_ALPHA,
              max_residual: float = DEFAULT_MAX_RESIDUAL,
              population_models: int = POPULATION_MODELS, progress=None) -> tuple[dict, Path]:
    """Evaluate ``method`` on the pool's unlearned shadows; write a results folder.

    ``progress(done, total)`` is called per held-out target (see :func:`evaluate_ulira`).

    ``population_models``: how many of the targets get the population MIAs (Deep Unlearn's
    logistic regression and LOSS, forget vs test) on their unlearned, retrained and original models.

    Example:
        On the tiny pool of the doctest setup (``conftest.py``; an ``[[unlearn]]`` FT entry with
        exact retrains, as ``shadow_models/digits-mlp-ulira.toml``):

        >>> results, folder = run_ulira(pool=pool_dir, method="ft", out=tmp / "ulira")
        >>> results["method"], 0 <= results["auc"] <= 1, (folder / "results.json").is_file()
        ('ft', True, True)
    """
    config = ULiRAConfig(reference=reference, statistic=statistic, variance=variance)
    if n_targets is not None:
        check_positive_int("n_targets", n_targets)
    data = AuditData.load(pool, recipe=ULIRA_RECIPE)
    group = unlearned_group(data.pool, method)
    fam, retrain, phi = shadow_families(data.pool, group, reference, statistic)
    res, arrays = evaluate_ulira(fam, config=config, n_targets=n_targets, random_state=random_state,
                                 alpha=check_alpha(alpha), max_residual=check_max_residual(max_residual),
                                 progress=progress)
    results = {**res, "kind": "ulira", "method": group.name, "title": f"U-LiRA evaluation of {group.name}",
               "variance_resolved": resolved_variance(fam, config),
               "n_shadows": data.pool.n_models, "population_mia": _population(data.pool, phi, group.forget, res["targets"], population_models),
               "config": {"reference": reference, "statistic": statistic, "variance": variance, "n_targets": n_targets,
                          "alpha": alpha, "max_residual": max_residual,
                          "random_state": random_state, "pool": str(data.pool.path)},
               "inputs": {"pool": str(data.pool.path), "unlearned_group": group.path, "entry": group.entry,
                          "method_config": group.attrs.get("config"), "retrain_group": retrain and retrain.path,
                          "dataset": data.spec.dataset, "dataset_fingerprint": data.dataset.fingerprint}}
    results["sections"] = _sections(results)
    y, s, cs = arrays["labels"], arrays["scores"], arrays["control_scores"]
    curves = {f"{group.name} vs {reference}": (s, y), f"control: original vs {reference}": (cs, arrays["control_labels"])}
    groups = {f"{group.name} (x forgotten)": s[y], f"{reference} (never saw x)": s[~y],
              "original (control)": cs[arrays["control_labels"]]}
    out_dir = results_dir_name(out, kind="ulira")
    with staged_dir(out_dir, inputs={"pool": data.pool.path}) as tmp:  # moved into place only when complete
        write_results(tmp, results, {**arrays, "population": data.pool.population})
        save_audit_figures(tmp, curves, groups)
    return results, out_dir


def ulira_summary(pool, entry: str, *, reference: str = "retrain", statistic: str = "phi", variance: str = "auto",
                  n_targets: int | None = None, out=None) -> dict:
    """:func:`run_ulira` of one pool entry (its results folder in ``out``), summarised for the
    benchmark's U-LiRA column: ``{"auc", "auc_ci", "accuracy", "accuracy_ci", "verdict",
    "n_targets", "n_shadows", "variance"}``; ``variance`` says what ``auto`` resolved to.

    Example:
        >>> s = ulira_summary(pool_dir, "ft", out=tmp / "ulira-summary")
        >>> s["verdict"] in ("not unlearned", "consistent with retraining", "inconclusive"), s["variance"][:5]
        (True, 'fixed')
    """
    res, _ = run_ulira(pool=pool, method=entry, reference=reference, statistic=statistic, variance=variance,
                       n_targets=n_targets, out=out)
    acc = res["ulira_accuracy"]
    return {"auc": res["auc"], "auc_ci": res["auc_ci"], "accuracy": acc["accuracy"], "accuracy_ci": acc["ci"],
            "verdict": res["verdict"], "n_targets": len(res["targets"]), "n_shadows": res["n_shadows"],
            "variance": res["variance_resolved"]}


def resolved_variance(fam, config: ULiRAConfig) -> str:
    """What ``config.variance`` means on these shadow families: ``auto`` resolved by one fit on
    every shadow, with the median number of shadows per side it was resolved from."""
    import warnings

    from muaudit.attacks.ulira import ULiRA

    if config.variance != "auto":
        return config.variance
    with warnings.catch_warnings():  # the evaluation itself reports them
        warnings.simplefilter("ignore")
        fit = ULiRA(config=config).fit(fam.signals(config.reference, np.ones(fam.n_models, bool)))
    n_in, n_out = (int(np.median(n[n > 0])) if (n > 0).any() else 0 for n in (fit.n_in_, fit.n_out_))
    return (f"{fit.variance_} (auto: median {n_in} unlearned / {n_out} {config.reference} shadows per example, "
            f"{'<' if fit.variance_ == 'fixed' else '>='} {config.fixed_below})")
