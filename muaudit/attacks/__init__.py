"""Membership attacks over per-example signals; every score is **higher = member**.

- :mod:`~muaudit.attacks.signals`: phi, loss, confidence, correctness from logits.
- Shadow attacks (``fit(reference)`` then ``score(target)``), registered in ``ATTACKS``:
  :class:`LiRA` (``"lira"``), :class:`RMIA` (``"rmia"``) and the baseline :class:`LOSS` (``"loss"``).
- Population attacks without shadows: :func:`logistic_regression_mia` (Deep Unlearn),
  :func:`svc_mia` (SalUn).
- :func:`evaluate_leave_one_out`: how strong a pool's attack is; :func:`audit_target`: the
  verdict on one unlearned target.
- U-LiRA (:class:`ULiRA`, not in ``ATTACKS``: it fits :class:`UnlearningSignals`):
  :func:`evaluate_ulira` evaluates an unlearning method on a pool's unlearned shadows,
  :func:`audit_unlearned_target` audits one target of a known method.
"""

from muaudit.attacks.base import ATTACKS, Attack, AttackBase, ReferenceSignals, make_attack
from muaudit.attacks.lira import LiRA, LiRAConfig
from muaudit.attacks.rmia import RMIA, RMIAConfig
from muaudit.attacks.population import (LOSS, LogisticMIAResult, SVCMIAResult, logistic_regression_mia,
                                        svc_mia)
from muaudit.attacks.evaluate import evaluate_leave_one_out, leave_one_out_scores
from muaudit.attacks.audit import VERDICTS, AuditResult, assess_scores, audit_target
from muaudit.attacks.ulira import ShadowFamilies, ULiRA, ULiRAConfig, UnlearningSignals
from muaudit.attacks.ulira_evaluation import audit_unlearned_target, evaluate_ulira
from muaudit.attacks.signals import (confidence, correctness, cross_entropy_loss, log_probability_from_phi,
                                     logit_scaled_confidence, loss_from_phi)

__all__ = [
    "ATTACKS", "Attack", "AttackBase", "AuditResult", "assess_scores", "LOSS", "LiRA", "LiRAConfig", "LogisticMIAResult",
    "RMIA", "RMIAConfig", "ReferenceSignals", "SVCMIAResult", "VERDICTS", "audit_target", "confidence",
    "correctness", "cross_entropy_loss", "evaluate_leave_one_out", "leave_one_out_scores",
    "log_probability_from_phi", "logit_scaled_confidence", "logistic_regression_mia", "loss_from_phi",
    "make_attack", "svc_mia", "ShadowFamilies", "ULiRA", "ULiRAConfig", "UnlearningSignals", "audit_unlearned_target",
    "evaluate_ulira",
]
