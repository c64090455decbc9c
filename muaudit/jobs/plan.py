"""``muaudit pool plan``: the residual a forget set of N examples can reach, and the shadows it needs."""

from __future__ import annotations

import numpy as np

from muaudit.attacks import ReferenceSignals
from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, check_alpha, check_max_residual
from muaudit.audit.plan import plan_shadows
from muaudit.checks import check_positive_int
from muaudit.pool import Pool
from muaudit.data import TEST


def plan_pool(pool, *, forget_size: int, max_residual: float = DEFAULT_MAX_RESIDUAL, alpha: float = DEFAULT_ALPHA,
              n_nonmembers: int | None = None, n_targets: int = 4, random_state: int = 0) -> dict:
    """Plan from a built pool (or a pilot of a few shadows; see :mod:`muaudit.audit.plan`).

    ``n_nonmembers`` defaults to the pool's test split (the audit's default comparison set). The
    build time of the shadows still needed comes from the pool's own measured seconds per model.

    Example:
        On the tiny pool of the doctest setup (``conftest.py``):

        >>> plan = plan_pool(pool_dir, forget_size=20, n_targets=2)
        >>> plan["kind"], plan["n_shadows"], sorted(plan)[:3]
        ('pool-plan', 8, ['alpha', 'build_seconds_needed', 'curve'])
    """
    forget_size = check_positive_int("forget_size", forget_size)
    max_residual, alpha = check_max_residual(max_residual), check_alpha(alpha)
    p = Pool(pool).require_complete()
    phi = p.phi()  # the stored per-example signals (older pools: from the logits, in chunks)
    nm = int(np.sum(p.split == TEST)) if n_nonmembers is None else check_positive_int("n_nonmembers", n_nonmembers)
    plan = plan_shadows(ReferenceSignals(phi, p.keep), forget_size=forget_size, n_nonmembers=max(nm, 1),
                        max_residual=max_residual, alpha=alpha, n_targets=n_targets, random_state=random_state)
    per_model = float(np.mean(p.seconds)) if np.size(p.seconds) else None
    more = None if plan["shadows_needed"] is None else max(0, plan["shadows_needed"] - p.n_models)
    plan.update(kind="pool-plan", pool=str(p.path), seconds_per_model=per_model, more_shadows=more,
                build_seconds_needed=None if more is None or per_model is None else more * per_model)
    return plan


def format_plan(plan: dict) -> str:
    """The plan in a few lines of plain words."""
    pct = lambda r: "not reached" if r is None else f"{100 * r:.0f}%"  # noqa: E731
    curve = ", ".join(f"{m} shadows: {pct(r)}" for m, r in plan["curve"].items())
    lines = [f"Pool {plan['pool']} ({plan['n_shadows']} shadows), forget set of {plan['forget_size']} examples "
             f"against {plan['n_nonmembers']} non-members, alpha {plan['alpha']:g}:",
             f"  minimum detectable residual by shadows used (median of {len(plan['targets'])} held-out shadows): {curve}",
             f"  fit r(m) = {plan['fit']['a']:.3f} + {plan['fit']['b']:.3f} / sqrt(m); at this pool: "
             f"{pct(plan['residual_now'])}"]
    need = plan["shadows_needed"]
    if need is None:
        lines.append(f"  no number of shadows reaches {pct(plan['max_residual'])}: use a larger forget set or query views")
    elif plan["more_shadows"] == 0:
        lines.append(f"  this pool reaches {pct(plan['max_residual'])} (needs about {need} shadows)")
    else:
        secs = plan["build_seconds_needed"]
        lines.append(f"  about {need} shadows reach {pct(plan['max_residual'])}: {plan['more_shadows']} more"
                     + (f", about {secs / 60:.0f} min at this pool's {plan['seconds_per_model']:.1f} s per model"
                        if secs is not None else ""))
    return "\n".join(lines)
