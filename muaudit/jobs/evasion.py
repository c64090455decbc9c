"""``muaudit evasion``: every provider of :mod:`muaudit.providers` against the audit, as one table.

The runner trains the original (the pool's recipe on the whole training split) and, once, the exact
retrain; builds every provider's target in memory; audits each with :func:`~muaudit.jobs.lira.run_lira`
on the pool's known views and, with ``secret_views``, again on views drawn for that audit only. A
cheat that passes ("consistent with retraining") is flagged ``NOT CAUGHT``; an honest reference
rejected by the audit is flagged ``FALSE ALARM`` (see :func:`outcome`). What an audit of a logits file cannot rule out is said
in words in ``notes``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, check_alpha, check_max_residual
from muaudit.checks import check_seed
from muaudit.data import read_indices
from muaudit.errors import ConfigError
from muaudit.jobs.inputs import AuditData

PASS = "consistent with retraining"
COLUMNS = ("provider", "honest", "queries", "verdict", "p_value", "residual", "compatibility", "attack", "outcome")
NOTES = {
    "logits": "An audit of a logits file (or of outputs the provider computed itself) cannot catch a provider who "
              "recognises the forget set: it chose what to compute, and may have computed the forget rows from a "
              "retrained model. The rows with queries = known are what such a file shows for exact-match, "
              "near-match and confidence-cut; no audit of logits can rule them out.",
    "secret": "With secret views (model files and endpoints, where the auditor controls the inputs) exact and "
              "whole-pixel matches miss every query; a provider who routes every input near a forget example to "
              "another model is caught only when the views fall outside its radius.",
    "outputs": "No output-based audit (of logits, a model file or an endpoint) rules out a provider whose outputs "
               "near the forget set are a retrain's, or who fine-tuned them until the attack's statistics look like "
               "a retrain's (audit-aware): the audit judges what the model answers, not how it was made.",
}


def resolve_providers(spec) -> list[str]:
    """``"all"`` or a comma-separated list (or a list) of provider names; unknown names are one error.

    Example:
        >>> resolve_providers("retrain, exact-match")
        ['retrain', 'exact-match']
    """
    from muaudit.providers import PROVIDERS, provider_names

    names = provider_names() if spec in (None, "all") else (
        [s.strip() for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec))
    if not names:
        raise ConfigError("Expected provider names or `all`, got nothing")
    for n in names:
        PROVIDERS.get(n)  # unknown: one line listing the valid names
    return names


def provider_rows() -> list[dict]:
    """Name, honest flag and summary of every registered provider (``muaudit providers``)."""
    from muaudit.providers import PROVIDERS, provider_names

    return [{"name": n, "honest": PROVIDERS.get(n).honest, "summary": PROVIDERS.get(n).summary} for n in provider_names()]


def outcome(honest: bool, verdict: str) -> str:
    """What a verdict means for a provider: a cheat is ``caught`` (rejected: not unlearned or
    over-unlearned), ``held`` (inconclusive: it does not pass, but nothing was proven) or ``NOT CAUGHT``
    (it passes); an honest reference ``passed``, ``held`` (inconclusive: the audit lacked the power
    to pass it) or ``FALSE ALARM`` (rejected)."""
    if verdict == "inconclusive":
        return "held"
    if honest:
        return "passed" if verdict == PASS else "FALSE ALARM"
    return "NOT CAUGHT" if verdict == PASS else "caught"


def _row(provider, queries: str, res: dict) -> dict:
    control = res.get("power_control") or {}
    return {"provider": provider.name, "honest": provider.honest, "queries": queries, "verdict": res["verdict"],
            "p_value": float(res["p_value"]), "residual": control.get("min_detectable_residual"),
            "compatibility": res["compatibility"]["status"], "attack": res.get("attack"),
            "outcome": outcome(provider.honest, res["verdict"]), "summary": provider.summary,
            "reasons": res.get("inconclusive_reasons", []), "recognition": res["queries"]["recognition"]}


def run_evasion(*, forget, pool=None, providers="all", secret_views: int = 0, random_state: int = 0,
                alpha=DEFAULT_ALPHA, max_residual=DEFAULT_MAX_RESIDUAL, out=None, progress=None) -> tuple[dict, Path | None]:
    """Audit every provider in ``providers`` on ``forget``; return ``(results, folder)``.

    ``forget``: an index file or array of training-split positions. ``secret_views``: also audit
    each model under that many secret views (the pool must keep its shadows' weights).
    ``progress(done, total)`` after each provider. With ``out``, ``results.json`` and
    ``evasion.csv`` are written there atomically.
    """
    from muaudit.jobs.checkpoint import as_target
    from muaudit.jobs.lira import run_lira
    from muaudit.providers import PROVIDERS, Materials
    from muaudit.training.single import train_target

    names, random_state = resolve_providers(providers), check_seed("seed", random_state)
    alpha, max_residual = check_alpha(alpha), check_max_residual(max_residual)
    if out is not None:
        from muaudit.paths import check_output_dir

        check_output_dir(out)
    data = AuditData.load(pool)
    if secret_views:  # before any training: a pool without weights is one error line
        from muaudit.pool.rescore import weight_files

        weight_files(data.pool)
    forget_train = read_indices(forget, data.n_train, what="forget")
    original, meta = train_target(data.spec, data.dataset, random_state=random_state)
    materials = Materials(data.spec, data.dataset, original, forget_train, random_state)
    modes = [("known", 0)] + ([("secret", secret_views)] if secret_views else [])
    rows = []
    for i, name in enumerate(names):
        provider = PROVIDERS.get(name)
        model = provider(materials, random_state=random_state)
        for queries, n in modes:
            res, _ = run_lira(target=as_target(model), forget=forget_train, pool=data.pool.path,
                              train_idx=meta["train_idx"], secret_views=n, alpha=alpha, max_residual=max_residual,
                              random_state=random_state, write=False)
            rows.append(_row(provider, queries, res))
        if progress is not None:
            progress(i + 1, len(names))
    results = {"kind": "evasion", "rows": rows, "notes": NOTES,
               "config": {"pool": str(data.pool.path), "n_shadows": data.pool.n_models, "n_forget": len(forget_train),
                          "providers": names, "secret_views": secret_views, "seed": random_state, "alpha": alpha,
                          "max_residual": max_residual},
               "not_caught": [r["provider"] for r in rows if r["outcome"] == "NOT CAUGHT"],
               "false_alarms": [r["provider"] for r in rows if r["outcome"] == "FALSE ALARM"]}
    return results, (None if out is None else write_evasion(out, results))


def table_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_evasion(out, results: dict) -> Path:
    """``results.json`` and ``evasion.csv`` in the results folder ``out`` (staged, swapped in whole)."""
    from muaudit.atomic import staged_dir

    with staged_dir(out) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=1, default=_plain))
        (tmp / "evasion.csv").write_text(table_csv(results["rows"]))
    return Path(out)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else str(v)


def format_table(results: dict) -> str:
    """The table as aligned text, one line per (provider, queries), then the notes."""
    head = ("provider", "queries", "verdict", "p", "residual", "compat", "outcome")
    lines = [[r["provider"] + (" (honest)" if r["honest"] else ""), r["queries"], r["verdict"], f"{r['p_value']:.3g}",
              "-" if r["residual"] is None else f"{r['residual']:.2f}", r["compatibility"], r["outcome"]]
             for r in results["rows"]]
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    text = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *lines]]
    return "\n".join(text + [""] + [f"{k}: {v}" for k, v in results["notes"].items()])
