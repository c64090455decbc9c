"""Leave-one-out evaluation of an attack on a built pool (``muaudit pool evaluate``)."""

from __future__ import annotations

from muaudit.attacks import ReferenceSignals
from muaudit.attacks.presets import make_preset
from muaudit.audit import evaluate_leave_one_out
from muaudit.pool import Pool

def evaluate_pool(pool, *, attack: str = "online", n_targets: int | None = None, random_state: int = 0) -> dict:
    """Pooled leave-one-out metrics (AUC, TPR at FPR, ...) of ``attack`` on the pool's shadows.

    Example:
        On the tiny pool of the doctest setup (``conftest.py``):

        >>> res = evaluate_pool(pool_dir, attack="online", n_targets=4)
        >>> res["n_shadows"], 0 <= res["auc"] <= 1
        (8, True)
    """
    p = Pool(pool).require_complete()
    phi = p.phi()  # the stored per-example signals (older pools: from the logits, in chunks)
    res = evaluate_leave_one_out(make_preset(attack), ReferenceSignals(phi, p.keep), n_targets=n_targets,
                                 random_state=random_state)
    return {**res, "kind": "pool-evaluate", "title": f"leave-one-out {attack} on {p.path}",
            "n_shadows": p.n_models, "pool": str(p.path)}
