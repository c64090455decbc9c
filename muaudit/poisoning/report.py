"""Read-out of the protocol: efficacy, power and verdict per method; results folder and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.poisoning.base import PoisonAttack, Scores, save_record
from muaudit.poisoning.protocol import SeedRun, item_values
from muaudit.audit.decision import decide
from muaudit.poisoning.stats import efficacy_summary, evidence, paired_test, power


def power_block(attack: PoisonAttack, runs: list[SeedRun], *, alpha: float) -> dict:
    """The power of the test: original vs retrained (paired, pooled over seeds) and, for attacks
    with an exact null, the original against it."""
    init, retrained = (np.concatenate(item_values(runs, m)) for m in ("original", "retrained"))
    gap = paired_test(init, retrained)
    null = attack.null_test(Scores(init)) if attack.null else None
    ok, reasons = power(gap, null, alpha=alpha)
    return {"powered": ok, "reasons": reasons, "original_vs_retrained": gap, "original_vs_null": null,
            "alpha": alpha}


def summarize_method(attack: PoisonAttack, runs: list[SeedRun], method: str, *, alpha: float = 0.01,
                     max_residual: float = 0.5, level: float = 0.95, n_bootstrap: int = 1000) -> dict:
    """Efficacy (pooled, bootstrap interval, per seed, mean and std over seeds), power, the paired
    test of the unlearned against the retrained model, verdict, MIA and accuracy of ``method``."""
    pw = power_block(attack, runs, alpha=alpha)
    triples = list(zip(*(item_values(runs, m) for m in ("original", method, "retrained"))))
    eff = efficacy_summary(triples, level=level, n_bootstrap=n_bootstrap)
    unl, retrained = (np.concatenate(item_values(runs, m)) for m in (method, "retrained"))
    residual = paired_test(unl, retrained)
    over = paired_test(unl, retrained, alternative="less")
    decision = decide(evidence(pw["powered"], pw["reasons"], residual, over, pw["original_vs_retrained"], unl - retrained,
                            alpha=alpha, max_residual=max_residual))
    label, reasons = decision["verdict"], decision["reasons"]
    notes = []
    utility = paired_test(*(np.concatenate([r.test_correct[m][attack.utility_items(r.poison)] for r in runs])
                            for m in ("retrained", method)))
    utility["significant"] = attack.family != "indiscriminate" and utility["p_value"] < alpha  # there it is T
    if utility["significant"]:
        notes.append(f"the unlearned model's clean test accuracy is significantly below the retrained model's "
                     f"(by {utility['difference']:.3f}, p = {utility['p_value']:.3g}): whatever it removed, it also "
                     "damaged the model")
    if label == "inconclusive" and eff["value"] is not None:
        notes.append("the efficacy value is reported for completeness; the test had no power to call it a success")
    config = runs[0].poison.config
    models = {m: attack.pooled_readout([r.scores[m] for r in runs], config) for m in ("original", method, "retrained")}
    for m, block in models.items():
        block["per_seed"] = [r.scores[m].metric for r in runs]
    return {"method": method, "verdict": label, "inconclusive_reasons": reasons, "decision": decision, "alpha": alpha,
            "p_value": residual["p_value"], "efficacy": eff, "power": pw, "unlearned_vs_retrained": residual,
            "utility_loss": utility,
            "models": models, "mia": _by_model(runs, method, "mia"), "accuracy": _by_model(runs, method, "accuracy"),
            "cost": _cost(runs, method), "warnings": notes}


def _by_model(runs: list[SeedRun], method: str, what: str) -> dict:
    out = {}
    for m in ("original", method, "retrained"):
        per_seed = [getattr(r, what)[m] for r in runs]
        if what == "mia":
            tprs = [p["tpr"] for p in per_seed if p["tpr"] is not None]
            out[m] = {"tpr": float(np.mean(tprs)) if tprs else None, "auc": float(np.mean([p["auc"] for p in per_seed])),
                      "fpr": per_seed[0]["fpr"], "per_seed_tpr": [p["tpr"] for p in per_seed],
                      "nonmembers": per_seed[0].get("nonmembers", "")}
        else:
            out[m] = {"mean": float(np.mean(per_seed)), "per_seed": per_seed}
    return out


def _cost(runs: list[SeedRun], method: str) -> dict:
    costs = [r.cost[method] for r in runs]
    training = np.mean([r.cost["training"]["sample_gradients"] for r in runs])
    sg = float(np.mean([c["sample_gradients"] for c in costs]))
    return {"sample_gradients": sg, "fraction_of_training": sg / training if training else None,
            "seconds": float(np.mean([c["seconds"] for c in costs])), "truncated": any(c["truncated"] for c in costs),
            "training_sample_gradients": float(training)}


def flat_sections(s: dict) -> dict:
    """Flat blocks for the HTML report (``results.json["sections"]``)."""
    eff, pw, method = s["efficacy"], s["power"], s["method"]
    gap, null = pw["original_vs_retrained"], pw["original_vs_null"]
    efficacy = {"verdict": s["verdict"], "efficacy (pooled)": eff["value"], "efficacy interval": eff["ci"],
                "efficacy per seed": eff["per_seed"], "efficacy mean over seeds": eff["mean"],
                "efficacy std over seeds": eff["std"], "p (unlearned > retrained)": s["p_value"],
                "test accuracy significantly below retrained": s["utility_loss"]["significant"]}
    for m in ("original", method, "retrained"):
        efficacy[f"attack metric, {m}"] = s["models"][m]["metric"]
        efficacy[f"test accuracy, {m}"] = s["accuracy"][m]["mean"]
    power_rows = {"powered": pw["powered"], "T_init - T_retrain": gap["difference"], "p (original > retrained)": gap["p_value"],
                  "test": gap["test"]}
    if null:
        power_rows.update({"original z against N(0,1)": null["z"], "original p against N(0,1)": null["p_value"]})
    mia = {f"TPR at {100 * s['mia'][m]['fpr']:g}% FPR, {m}": s["mia"][m]["tpr"] for m in s["mia"]}
    mia.update({f"AUC, {m}": s["mia"][m]["auc"] for m in s["mia"]})
    cost = {k: v for k, v in s["cost"].items()}
    return {"Poisoning efficacy": efficacy, "Power of the test": power_rows,
            "Loss-threshold MIA on the same forget set": mia, "Unlearning cost": cost}


def save_figures(out_dir: Path, attack: PoisonAttack, runs: list[SeedRun], method: str) -> list[str]:
    """``poison_metric.png`` (the attack metric per model and seed) and, for Gaussian canaries,
    the GUS histograms and ROC of canaries vs fresh noise (``roc.png``, ``scores_hist.png``)."""
    import matplotlib.pyplot as plt

    from muaudit.report.figures import DPI, FIGSIZE, STYLE, save_audit_figures

    names = ("original", method, "retrained")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        for i, m in enumerate(names):
            vals = [r.scores[m].metric for r in runs]
            ax.bar(i, np.mean(vals), color=("#c44", "#48c", "#4a4")[i], alpha=0.7)
            ax.plot([i] * len(vals), vals, "k.", ms=8)
        ax.set_xticks(range(3), [f"{m}" for m in names])
        ax.set_ylabel(attack.metric.split(" (")[0]), ax.set_title(f"{attack.name}: attack metric (dots = seeds)")
        fig.tight_layout(), fig.savefig(out_dir / "poison_metric.png", dpi=DPI), plt.close(fig)
    saved = ["poison_metric.png"]
    if attack.name == "gaussian":
        neg = {m: np.concatenate(item_values(runs, m)) for m in names}  # -GUS: higher = memorised
        fresh = -np.concatenate([r.scores["original"].arrays["gus_fresh"].ravel() for r in runs])
        curves = {f"{m}: canaries vs fresh noise": (np.r_[neg[m], fresh], np.r_[np.ones(neg[m].size), np.zeros(fresh.size)])
                  for m in names}
        groups = {**{f"-GUS {m}": neg[m] for m in names}, "-GUS of fresh noise (null)": fresh}
        saved += save_audit_figures(out_dir, curves, groups)
    return saved


def write_poison_results(out_dir: Path, attack: PoisonAttack, runs: list[SeedRun], summary: dict,
                         info: dict) -> Path:
    """Write ``results.json`` (summary + ``info`` + HTML sections), ``scores.npz`` (per-seed item
    values of each model), one poison record per seed and the figures; return ``results.json``."""
    from muaudit.report import write_results

    method = summary["method"]
    results = {"kind": "poison", "attack": attack.name, "title": f"Poisoning efficacy: {attack.name} / {method}",
               "metric": attack.metric, **summary, **info, "sections": flat_sections(summary)}
    arrays = {f"seed{r.seed}_{m}": r.scores[m].values for r in runs for m in ("original", method, "retrained")}
    records = []
    for r in runs:
        records.append(save_record(out_dir / f"poison_seed{r.seed}.npz", r.poison).name)
    results["records"] = records
    save_figures(out_dir, attack, runs, method)
    return write_results(out_dir, results, arrays)
