"""The one-paragraph terminal summary of a results folder."""

from __future__ import annotations


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _tpr(block: dict, key: str) -> str:
    entry = (block or {}).get(key) or {}
    if not entry.get("measurable", entry.get("tpr") is not None):
        return f"unmeasurable (needs >= {round(1 / float(key))} non-members)"
    ci = entry.get("ci") or [None, None]
    return f"{_pct(entry['tpr'])} [{_pct(ci[0])}, {_pct(ci[1])}]"


def residual_text(r: dict) -> str | None:
    """The sentence that qualifies ``consistent with retraining`` with the minimum detectable residual.

    Example:
        >>> residual_text({"verdict": "consistent with retraining", "power_control": {"min_detectable_residual": 0.25}})
        "No residual memorisation detected; this audit would have caught 25% or more of the members' signal."
    """
    control = r.get("power_control") or {}
    if r.get("verdict") != "consistent with retraining" or control.get("min_detectable_residual") is None:
        return None
    return ("No residual memorisation detected; this audit would have caught "
            f"{100 * control['min_detectable_residual']:.0f}% or more of the members' signal.")


def summary_text(r: dict) -> str:
    """Verdict, AUC, TPR@0.1%/1% FPR with intervals, epsilon bound, and the power control."""
    parts = []
    if r.get("verdict"):
        parts.append(f"Verdict: {r['verdict'].upper()}" + (f" (p = {r['p_value']:.3g}, alpha = {r.get('alpha')})" if r.get("p_value") is not None else "") + ".")
        if residual_text(r):
            parts.append(residual_text(r))
    mix = r.get("class_mix") or {}
    if mix.get("stratified"):
        parts.append(f"The forget set's class mix differs from the non-members' (chi-square p = {mix['p_value']:.2g}): "
                     "tested within class strata.")
    if r.get("auc") is not None:
        ci = r.get("auc_ci") or [None, None]
        pos = f"{r['n_forget']} forget" if "n_forget" in r else f"{r.get('n_pos')} member"
        parts.append(f"{r.get('attack', 'attack')} AUC {r['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
                     f"on {pos} vs {r.get('n_nonmembers_compared', r.get('n_nonmembers', r.get('n_neg')))} non-member examples;")
        tpr = r.get("tpr_at_fpr", {})
        parts.append(f"TPR@0.1%FPR {_tpr(tpr, '0.001')}, TPR@1%FPR {_tpr(tpr, '0.01')};")
        if r.get("epsilon_lower_bound") is not None:
            parts.append(f"epsilon lower bound {r['epsilon_lower_bound']:.2f}.")
    if r.get("ulira_accuracy"):
        acc = r["ulira_accuracy"]
        parts.append(f"U-LiRA accuracy {acc['accuracy']:.3f} [{acc['ci'][0]:.3f}, {acc['ci'][1]:.3f}] "
                     "(0.5 = indistinguishable from the reference).")
    control = r.get("power_control")
    if control and r.get("kind") == "ulira":
        parts.append(f"Power control (original, never unlearned, vs the reference): AUC {control['auc']:.3f} "
                     f"[{control['auc_ci'][0]:.3f}, {control['auc_ci'][1]:.3f}], caught in "
                     f"{_pct(control.get('power'))} of single targets.")
    elif control:
        parts.append(f"Power control (retained members vs non-members): AUC {control['auc']:.3f}, "
                     f"power {_pct(control.get('power'))} to catch a forget set of this size"
                     + (f"; minimum detectable residual {_pct(control['min_detectable_residual'])}"
                        if control.get("min_detectable_residual") is not None else "") + ".")
    pop = (r.get("population_mia") or {}).get("unlearned")
    if pop and pop.get("indiscernibility") is not None:
        parts.append(f"Population MIA on the same models: indiscernibility {pop['indiscernibility']:.3f}, "
                     f"LOSS AUC {pop['loss_auc']:.3f}.")
    if r.get("inconclusive_reasons"):
        parts.append("Inconclusive because: " + "; ".join(r["inconclusive_reasons"]) + ".")
    for w in r.get("warnings") or []:
        parts.append(f"Warning: {w}")
    return " ".join(parts)
