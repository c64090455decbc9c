"""The one verdict rule of every audit: four words, decided once, from every reason.

Every command that decides (``lira``, ``mia``, ``ulira``, the poisoning audits, the benchmark's
verdict columns) gathers its :class:`Evidence` and calls :func:`decide`; nothing rewrites a verdict
afterwards. The verdicts:

- ``not unlearned``: the forget set scores ABOVE exchangeable never-seen examples (upper one-sided
  test rejects at ``alpha``). A rejection needs no power.
- ``over-unlearned``: it scores BELOW them (lower one-sided test rejects at ``alpha``). A retrain
  never does that: the unlearning itself is visible (Hayes et al. 2024).
- ``consistent with retraining``: neither test rejects, AND the audit could have caught a forget
  set of which only a fraction ``r <= max_residual`` is still remembered, with probability
  ``min_power`` at ``alpha`` (the minimum detectable residual), AND the lower-side test had the
  power to see over-unlearning, AND no blocker (compatibility fail, failed control, calibration)
  stands.
- ``inconclusive``: everything else, with the reasons in words.

A pass is only as strong as its residual: an audit that could catch only a forget set remembered
at 95% of the members' level says almost nothing, so it does not pass (``max_residual``, default
:data:`DEFAULT_MAX_RESIDUAL`, chosen by measurement: docs/power.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from muaudit.checks import check_unit_interval
from muaudit.errors import ConfigError

Verdict = Literal["not unlearned", "over-unlearned", "consistent with retraining", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_POWER = 0.95
DEFAULT_MAX_RESIDUAL = 0.5


def check_max_residual(value) -> float:
    """``--max-residual`` in (0, 1]; one error line otherwise.

    Example:
        >>> check_max_residual(0.5)
        0.5
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Expected `max_residual` in (0, 1], got {value!r}") from None
    if not 0.0 < v <= 1.0:
        raise ConfigError(f"Expected `max_residual` in (0, 1], got {value!r}")
    return v


def check_alpha(value) -> float:
    """``--alpha`` in (0, 1); one error line otherwise."""
    return check_unit_interval("alpha", value)


@dataclass(frozen=True)
class Evidence:
    """What an audit measured, as the decision reads it.

    Attributes:
        p_value: upper one-sided p-value (forget set scores above the reference: remembered).
        p_value_lower: lower one-sided p-value (forget set scores below: over-unlearned); None when
            the test has no lower side.
        alpha: the audit's significance level (each side).
        residual: minimum detectable residual r (None: not even a fully remembered forget set is
            caught with ``min_power``, or there was nothing to simulate it from).
        power: power to catch a fully remembered forget set of this size (None: not measured).
        power_lower: power of the lower-side test to catch an over-unlearned forget set scoring as
            far below the reference as members score above it (None: not measured).
        blockers: reasons that forbid a pass whatever the numbers (a failed power control, a
            compatibility ``fail``, calibration, a missing control), in words.
        max_residual, min_power: the pass thresholds.
    """

    p_value: float
    alpha: float
    p_value_lower: float | None = None
    residual: float | None = None
    power: float | None = None
    power_lower: float | None = None
    blockers: tuple[str, ...] = field(default_factory=tuple)
    max_residual: float = DEFAULT_MAX_RESIDUAL
    min_power: float = DEFAULT_MIN_POWER


def rules_out(residual: float | None, min_power: float = DEFAULT_MIN_POWER) -> str:
    """What a non-rejection rules out, in plain words.

    Example:
        >>> rules_out(0.3)
        'This audit would have caught, with 95% probability, a forget set of which 30% or more is still remembered as well as the retained training examples.'
        >>> rules_out(None)[:40]
        'This audit could not have caught even a '
    """
    if residual is None:
        return ("This audit could not have caught even a fully remembered forget set of this size "
                f"with {min_power:.0%} probability: it rules out nothing.")
    return (f"This audit would have caught, with {min_power:.0%} probability, a forget set of which "
            f"{_pct(residual)} or more is still remembered as well as the retained training examples.")


def _pct(r: float) -> str:
    return f"{100 * r:.0f}%" if 100 * r >= 9.5 else f"{100 * r:.1f}%"


def _pass_reasons(e: Evidence) -> list[str]:
    """Why a non-rejection cannot be a pass (empty: it passes)."""
    reasons = list(e.blockers)
    if e.power is not None and e.power < e.min_power:
        reasons.append(f"estimated power {e.power:.2f} < {e.min_power:g} to catch a fully remembered forget set "
                       "of this size")
    if e.residual is None:
        reasons.append("the minimum detectable residual could not be established: " + rules_out(None, e.min_power))
    elif e.residual > e.max_residual:
        reasons.append(f"this audit could only have caught a forget set of which at least {_pct(e.residual)} is still "
                       f"remembered (max residual for a pass: {_pct(e.max_residual)}); use a larger forget set, more "
                       "shadows or query views")
    if e.p_value_lower is not None and e.power_lower is not None and e.power_lower < e.min_power:
        reasons.append(f"the lower-side test had power {e.power_lower:.2f} < {e.min_power:g} to see over-unlearning")
    return reasons


def decide(e: Evidence) -> dict:
    """The decision block: ``verdict``, ``reasons`` (why it is not a pass, when it is not), the
    thresholds, the evidence, and ``rules_out`` (what a pass rules out, in words).

    Example:
        >>> decide(Evidence(p_value=0.001, alpha=0.01))["verdict"]
        'not unlearned'
        >>> decide(Evidence(p_value=0.6, p_value_lower=0.001, alpha=0.01))["verdict"]
        'over-unlearned'
        >>> d = decide(Evidence(p_value=0.6, p_value_lower=0.5, alpha=0.01, residual=0.2, power=1.0, power_lower=1.0))
        >>> d["verdict"], d["reasons"]
        ('consistent with retraining', [])
        >>> d = decide(Evidence(p_value=0.6, p_value_lower=0.5, alpha=0.01, residual=0.95, power=1.0))
        >>> d["verdict"], d["reasons"][0][:52]
        ('inconclusive', 'this audit could only have caught a forget set of wh')
    """
    alpha = check_alpha(e.alpha)
    max_residual = check_max_residual(e.max_residual)
    notes = []
    if e.p_value < alpha:
        verdict, reasons = "not unlearned", []
        if e.p_value_lower is not None and e.p_value_lower < alpha:
            notes.append(f"the forget set also ranks below the non-members overall (lower p = {e.p_value_lower:.2g}): "
                         "part of it is still remembered while the rest was pushed below never-seen examples")
    elif e.p_value_lower is not None and e.p_value_lower < alpha:
        verdict, reasons = "over-unlearned", []
    else:
        reasons = _pass_reasons(e)
        verdict = "inconclusive" if reasons else "consistent with retraining"
    return {"verdict": verdict, "reasons": reasons, "alpha": alpha, "max_residual": max_residual,
            "min_power": e.min_power, "p_value": e.p_value, "p_value_lower": e.p_value_lower,
            "min_detectable_residual": e.residual, "power": e.power, "power_lower": e.power_lower,
            "blockers": list(e.blockers), "notes": notes, "rules_out": rules_out(e.residual, e.min_power)}


def apply_decision(results: dict, evidence: Evidence) -> dict:
    """Decide once and write the block into ``results`` (``verdict``, ``inconclusive_reasons``,
    ``decision``). Refuses a ``results`` that already holds a verdict: nothing rewrites one.

    Example:
        >>> r = apply_decision({}, Evidence(p_value=0.001, alpha=0.01))
        >>> r["verdict"], r["decision"]["alpha"]
        ('not unlearned', 0.01)
    """
    if "verdict" in results:
        raise RuntimeError("a verdict was already decided for these results; decide once")
    block = decide(evidence)
    results.update(verdict=block["verdict"], inconclusive_reasons=block["reasons"], decision=block)
    return results
