"""Array-level audit statistics: from attack scores to a verdict with its power.

- :mod:`~muaudit.audit.verdict`: the permutation test, the power control and the verdict rule of
  one target (:func:`audit_target`, :func:`assess_scores`).
- :mod:`~muaudit.audit.leave_one_out`: how strong a pool's attack is, each shadow in turn the target.
- :mod:`~muaudit.audit.ulira`: U-LiRA evaluation of an unlearning method and the audit of one
  target of a known method.
- :mod:`~muaudit.audit.families`: one auditor per attack family; :func:`audit_with` audits with any
  registered attack.

Everything here works on numpy arrays (no torch, no files); :mod:`muaudit.jobs` loads pools,
targets and index files and calls these functions.
"""

from muaudit.audit.families import AuditInputs, audit_with
from muaudit.audit.leave_one_out import evaluate_leave_one_out, leave_one_out_scores
from muaudit.audit.ulira import audit_unlearned_target, evaluate_ulira
from muaudit.audit.verdict import VERDICTS, AuditResult, assess_scores, audit_target

__all__ = ["AuditInputs", "AuditResult", "VERDICTS", "assess_scores", "audit_target", "audit_unlearned_target",
           "audit_with", "evaluate_leave_one_out", "evaluate_ulira", "leave_one_out_scores"]
