"""Class strata for non-random forget sets: the class-mix test and class-matched draws.

A forget set chosen by class (e.g. every training example of one class) is not exchangeable with
non-members of all classes: the target scores classes differently whether or not it remembers
them. :func:`class_mix_test` detects such a forget set (chi-square test of its class counts
against the non-members'); the audit then compares forget examples only with non-members of
their own class, and draws the power control's member subsets with the forget set's class counts
(:func:`draw_design`, :func:`draw_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2_contingency

from muaudit.errors import DataError


def class_mix_test(forget_labels, nonmember_labels, *, alpha: float = 0.05) -> dict:
    """Chi-square test of "the forget set has the non-members' class mix"; ``stratified`` = p < alpha.

    Example:
        >>> r = class_mix_test(np.zeros(20, int), np.arange(200) % 10)
        >>> r["stratified"], r["p_value"] < 1e-6
        (True, True)
    """
    f, nm = np.asarray(forget_labels), np.asarray(nonmember_labels)
    classes = np.union1d(f, nm)
    table = np.array([[np.sum(f == c) for c in classes], [np.sum(nm == c) for c in classes]])
    if classes.size < 2:
        stat, p, dof = 0.0, 1.0, 0
    else:
        stat, p, dof, _ = chi2_contingency(table, correction=False)
    return {"test": "chi-square, forget vs non-member class counts", "statistic": float(stat),
            "p_value": float(p), "dof": int(dof), "alpha": alpha, "stratified": bool(p < alpha),
            "decision": "stratified by class" if p < alpha else "not stratified (class mix consistent)"}


def check_labels(labels, n: int) -> np.ndarray:
    """``labels`` as an array of one class per example of the ``n``, else a clear error.

    Example:
        >>> check_labels([0, 1, 1], 3).tolist()
        [0, 1, 1]
    """
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise DataError(f"Expected `labels` of shape ({n},), got {lab.shape}")
    return lab


def class_strata(labels, forget, nonmembers, n: int, *, alpha: float = 0.05):
    """The class-mix block and the labels to stratify by (None: unstratified, also without labels).

    Example:
        >>> mix, lab = class_strata(np.arange(100) % 2, np.arange(0, 20, 2), np.arange(50, 100), 100)
        >>> mix["stratified"], lab is not None
        (True, True)
    """
    if labels is None:
        return None, None
    lab = check_labels(labels, n)
    mix = class_mix_test(lab[forget], lab[nonmembers], alpha=alpha)
    if not mix["stratified"]:
        return mix, None
    missing = np.setdiff1d(lab[forget], lab[nonmembers])
    if missing.size:
        raise DataError(f"Expected non-members of every forget class for the class-stratified test, class "
                        f"{missing[0]} has none: pass --nonmembers with examples of that class")
    return mix, lab


def forgotten_classes(labels, forget, members) -> np.ndarray:
    """Classes of the forget set with no retained member: forgotten as a whole (class-wise forgetting).

    Empty without labels or without known members (then nothing can be said).

    Example:
        >>> forgotten_classes(np.array([0, 0, 1, 1, 2]), forget=[0, 1, 2], members=[3, 4]).tolist()
        [0]
    """
    if labels is None or members is None or np.size(members) == 0:
        return np.zeros(0, np.int64)
    lab = np.asarray(labels)
    return np.setdiff1d(lab[np.asarray(forget, np.int64)], lab[np.asarray(members, np.int64)])


def known_class_nonmembers(labels, forget, nonmembers, members) -> tuple[np.ndarray, np.ndarray]:
    """``(non-members, excluded classes)``: the non-members of classes the target still knows.

    A model that forgot a whole class (and its exact retrain) is *expected* to fail on that
    class's non-members too, so checks of how well the pool models the target (calibration,
    accuracy on non-members) leave those classes out. All non-members when no class is forgotten
    as a whole, or when every non-member is of a forgotten class.

    Example:
        >>> nm, gone = known_class_nonmembers(np.array([0, 0, 1, 1, 0, 1]), [0], [4, 5], [2, 3])
        >>> nm.tolist(), gone.tolist()
        ([5], [0])
    """
    nm = np.asarray(nonmembers, np.int64)
    gone = forgotten_classes(labels, forget, members)
    if not gone.size:
        return nm, gone
    kept = nm[~np.isin(np.asarray(labels)[nm], gone)]
    return (kept, gone) if kept.size else (nm, np.zeros(0, np.int64))


@dataclass(frozen=True)
class Design:
    """How to draw a simulated forget set: ``counts[i]`` examples of class ``classes[i]``.

    ``matched`` says the counts are the forget set's own (else they are the members' class
    proportions, because the retained members lack some of the forget set's classes).
    """

    classes: np.ndarray
    counts: np.ndarray
    matched: bool

    @property
    def strata(self) -> np.ndarray:
        """The class of each column of a drawn row (columns grouped by class)."""
        return np.repeat(self.classes, self.counts)


def allocate(total: int, weights) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder).

    Example:
        >>> allocate(10, [1, 1, 1]).tolist()
        [4, 3, 3]
    """
    w = np.asarray(weights, dtype=np.float64)
    share = total * w / w.sum()
    out = np.floor(share).astype(np.int64)
    out[np.argsort(-(share - out), kind="stable")[: total - out.sum()]] += 1
    return out


def draw_design(forget_labels, member_labels) -> Design:
    """The forget set's class counts if the members have enough of every class, else the members' mix.

    Example:
        >>> d = draw_design(np.array([0, 0, 1]), np.array([0, 0, 0, 1, 1]))
        >>> d.classes.tolist(), d.counts.tolist(), d.matched
        ([0, 1], [2, 1], True)
    """
    f, m = np.asarray(forget_labels), np.asarray(member_labels)
    classes, counts = np.unique(f, return_counts=True)
    have = np.array([np.sum(m == c) for c in classes])
    if (have >= counts).all():
        return Design(classes, counts, True)
    mc, mcount = np.unique(m, return_counts=True)
    counts = allocate(min(f.size, m.size), mcount)
    return Design(mc[counts > 0], counts[counts > 0], False)


def draw_rows(labels, design: Design, n_draws: int, random_state: int | np.random.Generator) -> np.ndarray:
    """``[n_draws, sum(counts)]`` row indices into ``labels``: per class ``counts`` distinct rows.

    Example:
        >>> d = Design(np.array([0, 1]), np.array([1, 2]), True)
        >>> draw_rows(np.array([0, 1, 1, 0]), d, 1, np.random.default_rng(0)).shape
        (1, 3)
    """
    rng = np.random.default_rng(random_state)
    labels = np.asarray(labels)
    parts = []
    for c, k in zip(design.classes, design.counts):
        rows = np.flatnonzero(labels == c)
        if rows.size < k:
            raise DataError(f"Expected at least {k} examples of class {c} to draw, got {rows.size}")
        parts.append(np.array([rng.choice(rows, k, replace=False) for _ in range(n_draws)]).reshape(n_draws, k))
    return np.concatenate(parts, axis=1)
