"""The audit of one target, by attack family: one auditor per ``Reference`` class of ``ATTACKS``.

Every registered attack has one shape, ``fit(reference)`` then ``score(target)``
(:class:`~muaudit.attacks.Attack`); what differs between families is what the reference is made
of, and so what an audit reads of the pool and how it tests the scores:

=========================== ======================= ===========================================
family (``Reference``)      attacks                 auditor
=========================== ======================= ===========================================
``ReferenceSignals``        lira, rmia, loss,       :func:`~muaudit.audit.verdict.audit_target`
                            label-only              on the base shadows' ``signal``
``UnlearningSignals``       ulira                   :func:`~muaudit.audit.ulira.audit_unlearned_target`
                                                    with the method's unlearned shadows
``NonMemberSignals``        qmia                    :func:`~muaudit.audit.qmia.audit_qmia` on
                                                    half of the non-members, no shadows
=========================== ======================= ===========================================

:func:`audit_with` looks the attack up in ``ATTACKS`` and calls its family's auditor with one
:class:`AuditInputs`; a runner (``muaudit lira``) builds the inputs once and never branches on
the attack's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from muaudit.attacks.base import ReferenceSignals, attack_class
from muaudit.attacks.qmia import NonMemberSignals
from muaudit.attacks.ulira import ULiRAConfig, UnlearningSignals
from muaudit.audit.qmia import audit_qmia
from muaudit.audit.ulira import audit_unlearned_target
from muaudit.audit.verdict import AuditResult, audit_target
from muaudit.errors import ConfigError, DataError


@dataclass(frozen=True)
class UnlearnedShadows:
    """The pool's shadows unlearned with one method: ``signals`` phi ``[M, N, V]``, ``forget`` bool
    ``[M, N]`` (each shadow's forget set ``F_m``) and the method's name, for U-LiRA audits.

    Example:
        >>> UnlearnedShadows(np.zeros((2, 3, 1)), np.zeros((2, 3), bool), "ft").method
        'ft'
    """

    signals: np.ndarray
    forget: np.ndarray
    method: str


@dataclass(frozen=True)
class AuditInputs:
    """Everything an audit of one target may read, on the pool's N population rows.

    ``target``: the target's signals ``[N, V]`` (the attack's ``signal``: phi, or 0/1 correctness
    for label-only); ``shadows``: the base shadows' signals ``[M, N, V]`` by signal name
    (``{"phi": ..., "correct": ...}``) and ``keep`` ``[M, N]``; ``labels`` ``[N]``; ``forget``,
    ``nonmembers``, ``members``: row indices; ``inputs``: a callable returning the N inputs
    (read only by the non-member family, QMIA); ``n_classes``; ``unlearned``: the method's
    :class:`UnlearnedShadows` (U-LiRA) or None.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=8, n_samples=60)
        >>> inputs = AuditInputs(pool.draw(np.arange(60) < 30), {"phi": pool.phi}, pool.keep, np.zeros(60, int),
        ...                      forget=np.arange(10), nonmembers=np.arange(30, 60), members=np.arange(10, 30))
        >>> inputs.n_samples
        60
    """

    target: np.ndarray
    shadows: dict
    keep: np.ndarray
    labels: np.ndarray
    forget: np.ndarray
    nonmembers: np.ndarray
    members: np.ndarray
    inputs: Callable[[], np.ndarray] | None = None
    n_classes: int | None = None
    unlearned: UnlearnedShadows | None = field(default=None)

    @property
    def n_samples(self) -> int:
        return int(np.shape(self.target)[0])

    def shadow_signals(self, signal: str) -> np.ndarray:
        """The base shadows' ``signal`` ``[M, N, V]``; a clear error when the pool has none."""
        if signal not in self.shadows:
            raise DataError(f"this audit needs the shadows' {signal!r} signals; given: {', '.join(self.shadows)}")
        return self.shadows[signal]


def audit_shadow_family(inputs: AuditInputs, attack: str, options: dict, *, on_scores=None, **opts) -> AuditResult:
    """Shadow attacks: :func:`~muaudit.audit.verdict.audit_target` on the base shadows' signal
    (a 0/1 correctness is not recentered: there is no offset to remove).

    Example: :func:`audit_with` (``"lira"``); every family in tests/test_attack_contract.py."""
    signal = attack_class(attack).signal
    return audit_target(inputs.target, inputs.shadow_signals(signal), inputs.keep, forget=inputs.forget,
                        nonmembers=inputs.nonmembers, members=inputs.members, labels=inputs.labels, attack=attack,
                        attack_options=options, recenter=signal == "phi", on_scores=on_scores, **opts)


def audit_unlearning_family(inputs: AuditInputs, attack: str, options: dict, *, on_scores=None,
                            **opts) -> AuditResult:
    """U-LiRA: :func:`~muaudit.audit.ulira.audit_unlearned_target` with the method's unlearned
    shadows as IN (``reference="out"`` unless ``options`` say otherwise); records the method.

    Example: :func:`audit_with` (``"ulira"`` without unlearned shadows); tests/test_attack_contract.py."""
    unl = inputs.unlearned
    if unl is None:
        raise DataError(f"attack {attack!r} audits with a method's unlearned shadows: pass the method "
                        "(an [[unlearn]] entry of the pool, --method)")
    res = audit_unlearned_target(inputs.target, inputs.shadow_signals("phi"), inputs.keep, unl.signals, unl.forget,
                                 forget=inputs.forget, nonmembers=inputs.nonmembers, members=inputs.members,
                                 labels=inputs.labels, config=ULiRAConfig(**{"reference": "out", **options}),
                                 on_scores=on_scores, **opts)
    res.results["method"] = unl.method
    return res


def audit_nonmember_family(inputs: AuditInputs, attack: str, options: dict, *, on_scores=None,
                           **opts) -> AuditResult:
    """QMIA: :func:`~muaudit.audit.qmia.audit_qmia`, fitted on a random half of the non-members.
    ``on_scores`` is not called: the test's non-members are the other half, not the caller's, so
    the figures are drawn from the results (``arrays["nonmembers"]``).

    Example: tests/test_attack_contract.py (and tests/test_qmia.py for :func:`~muaudit.audit.qmia.audit_qmia`)."""
    if inputs.inputs is None or inputs.n_classes is None:
        raise DataError(f"attack {attack!r} fits on the examples' inputs: pass `inputs` and `n_classes`")
    return audit_qmia(inputs.target, inputs.inputs(), inputs.labels, forget=inputs.forget,
                      nonmembers=inputs.nonmembers, members=inputs.members, n_classes=inputs.n_classes,
                      attack_options=options, **opts)


AUDITORS: dict[type, Callable[..., AuditResult]] = {
    ReferenceSignals: audit_shadow_family,
    UnlearningSignals: audit_unlearning_family,
    NonMemberSignals: audit_nonmember_family,
}


def audit_with(attack: str, inputs: AuditInputs, *, options: dict | None = None, on_scores=None,
               **opts) -> AuditResult:
    """Audit one target with the registered ``attack`` (and its ``options``): the auditor of the
    attack's family (its ``Reference``, :data:`AUDITORS`).

    ``on_scores`` as in :func:`~muaudit.audit.verdict.audit_target` (called by the shadow and
    unlearning families); ``opts``: ``alpha``, ``max_residual``, ``random_state``, ``decide``, ...

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=16, n_samples=300)
        >>> trained = np.arange(300) < 150                                  # the target trained on 0..149
        >>> inputs = AuditInputs(pool.draw(trained), {"phi": pool.phi}, pool.keep, None, forget=np.arange(50),
        ...                      nonmembers=np.arange(150, 300), members=np.arange(50, 150))
        >>> audit_with("lira", inputs, n_power_draws=50).results["verdict"]     # 0..49 were never forgotten
        'not unlearned'
        >>> audit_with("ulira", inputs)
        Traceback (most recent call last):
        muaudit.errors.DataError: attack 'ulira' audits with a method's unlearned shadows: pass the method (an [[unlearn]] entry of the pool, --method)
    """
    cls = attack_class(attack)
    auditor = AUDITORS.get(cls.Reference)
    if auditor is None:
        raise ConfigError(f"attack {attack!r} fits a {cls.Reference.__name__}, which no audit takes; "
                          f"audits exist for {', '.join(sorted(t.__name__ for t in AUDITORS))}")
    return auditor(inputs, attack, dict(options or {}), on_scores=on_scores, **opts)
