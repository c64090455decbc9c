"""The one-paragraph terminal summary of a results folder."""

from __future__ import annotations

from muaudit.report.labels import interval, num, pct
from muaudit.report.slices import slices_text


def _tpr(block: dict, key: str) -> str:
    entry = block.get(key) if isinstance(block.get(key), dict) else {}
    if not entry.get("measurable", entry.get("tpr") is not None) or entry.get("tpr") is None:
        return f"unmeasurable (needs >= {round(1 / float(key))} non-members)"
    return f"{pct(entry['tpr'])} {interval(entry.get('ci'), percent=True)}"


def _d(r: dict, key: str) -> dict:
    return r[key] if isinstance(r.get(key), dict) else {}


def _attack_part(r: dict) -> list[str]:
    ci = r.get("auc_ci")
    pos = f"{num(r['n_forget'])} forget" if "n_forget" in r else f"{num(r.get('n_pos'))} member"
    parts = [f"{r.get('attack', 'attack')} AUC {num(r['auc'])} {interval(ci)} on {pos} vs "
             f"{num(r.get('n_nonmembers_compared', r.get('n_nonmembers', r.get('n_neg'))))} non-member examples;"]
    tpr = _d(r, "tpr_at_fpr")
    parts.append(f"TPR@0.1%FPR {_tpr(tpr, '0.001')}, TPR@1%FPR {_tpr(tpr, '0.01')};")
    if r.get("epsilon_lower_bound") is not None:
        parts.append(f"epsilon lower bound {num(r['epsilon_lower_bound'])}.")
    return parts


def _control_part(r: dict) -> list[str]:
    control = _d(r, "power_control")
    if not control:
        return []
    if r.get("kind") == "ulira":
        return [f"Power control (original, never unlearned, vs the reference): AUC {num(control.get('auc'))} "
                f"{interval(control.get('auc_ci'))}, caught in {pct(control.get('power'))} of single targets."]
    mdr = control.get("min_detectable_residual")
    return [f"Power control (retained members vs non-members): AUC {num(control.get('auc'))}, "
            f"power {pct(control.get('power'))} to catch a forget set of this size"
            + (f"; minimum detectable residual {pct(mdr)}" if mdr is not None else "") + "."]


def residual_text(r: dict) -> str | None:
    """What the audit rules out, in plain words (the decision's ``rules_out``), for every verdict
    of an audit that measured its minimum detectable residual.

    Example:
        >>> residual_text({"verdict": "consistent with retraining",
        ...                "decision": {"rules_out": "This audit would have caught ... 25% or more ..."}})
        'This audit would have caught ... 25% or more ...'
    """
    text = _d(r, "decision").get("rules_out")
    return text if isinstance(text, str) and text else None


def effect_text(r: dict) -> str | None:
    """The statistic the test uses, with its interval, and the agreement note (when AUC and the test disagree).

    Example:
        >>> effect_text({"effect": {"statistic": "mean score difference", "value": 0.5, "ci": [0.1, 0.9]}})
        'Test statistic: mean score difference 0.5 [0.1, 0.9].'
    """
    e = _d(r, "effect")
    if e.get("value") is None:
        return None
    text = f"Test statistic: {e.get('statistic', 'effect')} {num(e['value'])} {interval(e.get('ci'))}."
    return text + (f" {r['agreement']}" if isinstance(r.get("agreement"), str) else "")


def _class_mix_part(r: dict) -> list[str]:
    mix = _d(r, "class_mix")
    if not mix.get("stratified"):
        return []
    return [f"The forget set's class mix differs from the non-members' (chi-square p = {num(mix.get('p_value'))}): "
            "tested within class strata."]


def _poison_part(r: dict) -> list[str]:
    eff = _d(r, "efficacy")
    if r.get("kind") != "poison" or not eff:
        return []
    powered = _d(r, "power").get("powered")
    return [f"Poisoning efficacy {num(eff.get('value'))} {interval(eff.get('ci'))} (1 = as good as retraining); "
            f"the test {'had' if powered else 'did not have'} power."]


def _queries_part(q: dict) -> list[str]:
    """What the queries were and whether the provider could have recognised them (``queries`` block)."""
    if not isinstance(q.get("recognition"), str):
        return []
    label = " The target answered with labels only: label-only attack." if q.get("labels_only") else ""
    return [f"Queries: {q.get('n_views')} view(s) per example ({q.get('kind')}); recognition of the audit's "
            f"queries by the provider: {q['recognition']}.{label}"]


def _endpoint_part(r: dict) -> list[str]:
    """A deployed model's queries: where, how many rows and requests, which output."""
    details = _d(_d(r, "inputs"), "target_details")
    ep = _d(details, "endpoint")
    if not ep:
        return []
    retried = f", {ep.get('retried_requests')} retried" if ep.get("retried_requests") else ""
    return [f"Endpoint {ep.get('url')}: {ep.get('rows_queried')} rows queried in {ep.get('requests')} requests"
            f"{retried}; output {details.get('output')}."]


def _compatibility(c: dict) -> str:
    """One sentence on whether the pool models the target (the ``compatibility`` block)."""
    if c.get("status") == "ok":
        return "Compatibility: ok."
    reasons = "; ".join(str(x) for x in c.get("reasons") or []) if isinstance(c.get("reasons"), list) else ""
    advice = f" Advice: {c.get('advice')}." if c.get("advice") else ""
    return f"Compatibility: {str(c.get('status')).upper()}" + (f" ({reasons})." if reasons else ".") + advice


def summary_text(r: dict, *, reasons: bool = True) -> str:
    """Verdict, AUC, TPR@0.1%/1% FPR with intervals, epsilon bound, and the power control;
    with ``reasons`` also the reasons of an inconclusive verdict and the warnings."""
    parts = []
    if r.get("verdict"):
        p = f" (p = {num(r['p_value'])}, alpha = {num(r.get('alpha'))})" if r.get("p_value") is not None else ""
        parts.append(f"Verdict: {str(r['verdict']).upper()}{p}.")
        parts += [residual_text(r)] if residual_text(r) else []
    parts += _class_mix_part(r)
    parts += [t for t in (effect_text(r),) if t]
    if r.get("auc") is not None:
        parts += _attack_part(r)
    acc = _d(r, "ulira_accuracy")
    if acc:
        parts.append(f"U-LiRA accuracy {num(acc.get('accuracy'))} {interval(acc.get('ci'))} "
                     "(0.5 = indistinguishable from the reference).")
    parts += _control_part(r) + _poison_part(r)
    parts += [t for t in (slices_text(r),) if t]  # where the leak is (muaudit.report.slices)
    compat = _d(r, "compatibility")
    if compat:
        parts.append(_compatibility(compat))
    parts += _queries_part(_d(r, "queries")) + _endpoint_part(r)
    pop = _d(_d(r, "population_mia"), "unlearned")
    if pop.get("indiscernibility") is not None:
        parts.append(f"Population MIA on the same models: indiscernibility {num(pop['indiscernibility'])}, "
                     f"LOSS AUC {num(pop.get('loss_auc'))}.")
    bench = _d(r, "benchmark").get("summary") if r.get("kind") == "benchmark" else None
    if isinstance(bench, str):
        parts.append(bench)
    if reasons and r.get("inconclusive_reasons"):
        parts.append("Not a pass because: " + "; ".join(map(str, r["inconclusive_reasons"])) + ".")
    for w in (r.get("warnings") or []) if reasons else []:
        parts.append(f"Warning: {w}")
    return " ".join(parts)
