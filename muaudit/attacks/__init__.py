"""Membership attacks over per-example signals; every score is **higher = member**.

- :mod:`~muaudit.attacks.signals`: phi, loss, confidence, correctness from logits.
- Every attack is registered in ``ATTACKS`` and has one shape (:class:`Attack`): ``fit(reference)``
  then ``score(target)``, where the class's ``Reference`` names its family:

  - shadow attacks, :class:`ReferenceSignals` (shadow signals and keep matrix): :class:`LiRA`
    (``"lira"``), :class:`RMIA` (``"rmia"``), the baseline :class:`LOSS` (``"loss"``) and
    :class:`LabelOnly` (``"label-only"``, for targets that answer with labels only);
  - unlearning attacks, :class:`UnlearningSignals` (unlearned and reference shadows): :class:`ULiRA`
    (``"ulira"``);
  - non-member attacks, :class:`NonMemberSignals` (the target's own signal on known non-members):
    :class:`QuantileMIA` (``"qmia"``).
- Population attacks without shadows: :func:`logistic_regression_mia` (Deep Unlearn),
  :func:`svc_mia` (SalUn).
- :mod:`~muaudit.attacks.gaussian`: the per-example Gaussian fit LiRA and U-LiRA share
  (:func:`~muaudit.attacks.gaussian.fit_gaussians`) and their Gaussian scores.
- :mod:`~muaudit.attacks.synthetic`: synthetic pools and U-LiRA families with a known effect.

Pure functions and classes over arrays: no torch, no file I/O. The statistics built on these
scores (permutation test, power, verdicts, leave-one-out, U-LiRA evaluation) live in
:mod:`muaudit.audit`.
"""

from muaudit.attacks.base import ATTACKS, Attack, AttackBase, ReferenceSignals, attack_class, make_attack
from muaudit.attacks.lira import LiRA, LiRAConfig
from muaudit.attacks.labelonly import LabelOnly, LabelOnlyConfig
from muaudit.attacks.rmia import RMIA, RMIAConfig
from muaudit.attacks.population import (LOSS, LogisticMIAResult, SVCMIAResult, logistic_regression_mia,
                                        svc_mia)
from muaudit.attacks.qmia import NonMemberSignals, QMIAConfig, QuantileMIA
from muaudit.attacks.ulira import ShadowFamilies, ULiRA, ULiRAConfig, UnlearningSignals
from muaudit.attacks.signals import (confidence, correctness, cross_entropy_loss, log_probability_from_phi,
                                     logit_scaled_confidence, loss_from_phi)

__all__ = [
    "ATTACKS", "Attack", "AttackBase", "LOSS", "LabelOnly", "LabelOnlyConfig", "LiRA", "LiRAConfig", "LogisticMIAResult",
    "RMIA", "RMIAConfig", "ReferenceSignals", "SVCMIAResult", "confidence",
    "correctness", "cross_entropy_loss",
    "log_probability_from_phi", "logit_scaled_confidence", "logistic_regression_mia", "loss_from_phi",
    "make_attack", "svc_mia", "ShadowFamilies", "ULiRA", "ULiRAConfig", "UnlearningSignals",
    "attack_class", "NonMemberSignals", "QMIAConfig", "QuantileMIA",
]
