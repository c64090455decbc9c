"""Leave-one-out evaluation of a shadow attack on a pool: how strong is this pool's attack?"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from muaudit.attacks.base import ReferenceSignals, make_attack
from muaudit.errors import DataError
from muaudit.metrics import auc, summarize
from muaudit.checks import check_positive_int


def leave_one_out_scores(attack, reference: ReferenceSignals, targets) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[T, N]`` and labels ``[T, N]``: each shadow in ``targets`` attacked by the others.

    ``attack`` is a name or an :class:`~muaudit.attacks.base.Attack`; it is cloned for every
    target and fitted on the remaining shadows. Labels are the target's ``keep`` row.

    Example:
        >>> from muaudit.attacks.synthetic import synthetic_pool
        >>> pool = synthetic_pool(n_models=8, n_samples=100)
        >>> scores, labels = leave_one_out_scores("lira", ReferenceSignals(pool.phi, pool.keep), [0, 1])
        >>> scores.shape, bool((labels == pool.keep[[0, 1]]).all())
        ((2, 100), True)
    """
    scores, labels = [], []
    for m in targets:
        rest = np.arange(reference.n_models) != m
        fitted = make_attack(attack).fit(reference.subset(rest))
        scores.append(fitted.score(reference.signals[m]))
        labels.append(reference.keep[m])
    return np.asarray(scores), np.asarray(labels)


def evaluate_leave_one_out(attack, reference: ReferenceSignals, *, n_targets: int | None = None,
                           random_state: int = 0, **summary_options) -> dict:
    """Pooled leave-one-out metrics of ``attack`` on a shadow pool.

    Each chosen shadow m in turn is the target and the other M - 1 shadows the reference;
    positives are the examples with ``keep[m, n]``, negatives the rest. Scores of all targets are
    pooled into one :func:`~muaudit.metrics.summarize` block.

    Args:
        attack: a registered name (``"lira"``, ``"rmia"``, ``"loss"``) or an attack instance.
        reference: the pool's signals and keep matrix (M >= 2).
        n_targets: how many shadows to use as targets (seeded choice); None = all M.
        random_state: seeds the choice of targets and the metrics' bootstrap.
        summary_options: passed to :func:`~muaudit.metrics.summarize` (``level``, ``n_bootstrap``...).

    Returns:
        The summarize block plus ``attack``, ``attack_config``, ``targets`` and ``per_target_auc``
        (None for a target whose keep row has a single class).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> keep = rng.random((8, 200)).argsort(axis=0) < 4     # every example IN for 4 shadows
        >>> ref = ReferenceSignals(rng.normal(size=(8, 200)) + 2 * keep, keep)
        >>> out = evaluate_leave_one_out("lira", ref, n_targets=4, n_bootstrap=100)
        >>> out["auc"] > 0.8, len(out["per_target_auc"])
        (True, 4)
    """
    if reference.n_models < 2:
        raise DataError(f"Expected at least 2 shadow models for leave-one-out, got {reference.n_models}")
    n = reference.n_models if n_targets is None else check_positive_int("n_targets", n_targets)
    rng = np.random.default_rng(random_state)
    targets = np.sort(rng.permutation(reference.n_models)[: min(n, reference.n_models)])
    attack = make_attack(attack)
    scores, labels = leave_one_out_scores(attack, reference, targets)
    block = summarize(labels.ravel(), scores.ravel(), random_state=random_state, **summary_options)
    per_target = [auc(y, s) if 0 < y.sum() < y.size else None for s, y in zip(scores, labels)]
    return {**block, "attack": attack.name, "attack_config": asdict(attack.config),
            "targets": targets.tolist(), "per_target_auc": per_target}
