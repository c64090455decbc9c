"""Per-model metrics of the benchmark and Deep Unlearn's search objective (defined in docs/benchmark.md).

For an unlearned model U and the reference retrain R of the same seed and forget set:

- ``acc_retain``, ``acc_forget``, ``acc_val``, ``acc_test``: top-1 accuracies; ``ratio_*`` = acc_U / acc_R
  (Deep Unlearn's accuracy retention, ``munl/evaluation/retention.py``).
- ``retdev``: mean over retain, forget and test of ``|1 - ratio|`` (0 = the retrain's accuracies);
  where the retrain scores 0 (the forget set of a class-wise setting) the ratio is undefined and
  the term is the absolute difference ``|acc_U - acc_R|`` instead.
- ``forget_gap``: ``|FA_U - FA_R|``, the forgetting column (0 = forgets as much as the retrain).
- ``mia_val`` / ``mia_test``: Deep Unlearn's LR-MIA accuracy (logistic regression on the per-example
  loss, forget = members vs validation / test = non-members, 10 stratified splits;
  :func:`muaudit.attacks.logistic_regression_mia`); ``indisc_*`` = ``1 - |2 acc - 1|`` (1 = chance).
  ``indisc_test`` is the T-MIA column of the paper.
- ``rte`` = retrain seconds / method seconds; ``rte_sg`` = the same in sample-gradients (a
  forward+backward of one example; comparable across machines; None when the method spends none).
- objective (``munl/hpsearch/objectives.py``): ``(|RA_U-RA_R|/3, |FA_U-FA_R|/3, |VA_U-VA_R|/3,
  1 - indisc_val)``, minimised; a configuration's score is the Euclidean norm of that vector.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from muaudit.attacks.population import logistic_regression_mia

OBJECTIVES = ("d_retain", "d_forget", "d_val", "discernibility")
SPLITS = ("retain", "forget", "val", "test")


@torch.no_grad()
def _outputs(model, data, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(correct bool [n], cross-entropy float64 [n]) of ``model`` on ``data`` in eval mode."""
    model.eval()
    right, loss = [], []
    for s in range(0, len(data), batch_size):
        z = model(data.X[s:s + batch_size]).double()
        y = data.y[s:s + batch_size]
        right.append((z.argmax(1) == y).numpy())
        loss.append(F.cross_entropy(z, y, reduction="none").numpy())
    return np.concatenate(right), np.concatenate(loss)


def is_diverged(model) -> bool:
    """True when a parameter is not finite (the trial is recorded as failed)."""
    return any(not torch.isfinite(p).all() for p in model.parameters())


def model_metrics(model, world, *, mia: bool = True) -> dict:
    """Accuracies and LR-MIAs of one model on the splits of ``world``; raises nothing on a NaN model
    (call :func:`is_diverged` first). Losses are clipped at 1e4 for the MIA (a finite feature)."""
    out, losses = {}, {}
    for name in SPLITS:
        right, loss = _outputs(model, getattr(world, name))
        out[f"acc_{name}"] = float(right.mean())
        losses[name] = np.nan_to_num(np.minimum(loss, 1e4), nan=1e4)
    if mia:
        for name in ("val", "test"):
            res = logistic_regression_mia(losses["forget"], losses[name])
            out[f"mia_{name}"] = res.accuracy
            out[f"indisc_{name}"] = res.indiscernibility
    return out


def compare(unlearned: dict, reference: dict) -> dict:
    """Ratios to the retrain, RetDev and the objective vector (see the module docstring)."""
    out = {}
    for name in SPLITS:
        ref = reference[f"acc_{name}"]
        out[f"ratio_{name}"] = unlearned[f"acc_{name}"] / ref if ref > 0 else None
    devs = [abs(1 - out[f"ratio_{n}"]) if out[f"ratio_{n}"] is not None
            else abs(unlearned[f"acc_{n}"] - reference[f"acc_{n}"]) for n in ("retain", "forget", "test")]
    out["retdev"] = float(np.mean(devs))
    out["forget_gap"] = abs(unlearned["acc_forget"] - reference["acc_forget"])
    vec = [abs(unlearned[f"acc_{n}"] - reference[f"acc_{n}"]) / 3 for n in ("retain", "forget", "val")]
    vec.append(1.0 - unlearned.get("indisc_val", 1.0))
    out["objective"] = dict(zip(OBJECTIVES, vec))
    out["score"] = float(math.sqrt(sum(v * v for v in vec)))
    return out


def run_time_efficiency(cost: dict, reference_cost: dict) -> dict:
    """``rte`` (seconds) and ``rte_sg`` (sample-gradients); None where undefined (never NaN)."""
    secs = max(float(cost.get("seconds", 0.0)), 1e-6)
    ref_s = reference_cost.get("seconds")
    sg, ref_sg = cost.get("sample_gradients", 0), reference_cost.get("sample_gradients")
    return {"rte": None if ref_s is None else float(ref_s) / secs,
            "rte_sg": None if not sg or ref_sg is None else float(ref_sg) / float(sg),
            "seconds": float(cost.get("seconds", 0.0)), "sample_gradients": int(sg)}
