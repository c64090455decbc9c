"""The label-only attack of Choquette-Choo et al. 2021 (https://arxiv.org/abs/2007.14321), calibrated
per example with shadow models.

A target that answers with labels only (or one-hot outputs) gives no confidence to score; what it
still shows is how *consistently* it labels an example correctly under small changes of the
input: a model that trained on x tends to keep x's label under shifts and noise ("data
augmentation" and "noise robustness" attacks of the paper). The signal of one model on one
example is the fraction of its K queries (views) whose predicted label is correct. The paper
thresholds it globally; here, as LiRA does for confidences, a Gaussian is fitted per example to
the shadows' consistency where x was IN and where it was OUT, and the target's consistency is
scored by the likelihood ratio (online) or against OUT alone (offline).

The signals (0/1 correctness per view) are computed from the models' outputs by the caller
(:func:`muaudit.jobs.queries.label_signals`); this module only sees arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from muaudit.attacks.base import ATTACKS, AttackBase, ReferenceSignals, check_choice
from muaudit.attacks.lira import LiRA
from muaudit.checks import check_positive_int
from muaudit.errors import DataError


@dataclass(frozen=True)
class LabelOnlyConfig:
    """Options of :class:`LabelOnly`.

    Attributes:
        mode: ``"online"`` (IN and OUT Gaussians of the consistency) or ``"offline"`` (one-sided
            against OUT: more consistent than the OUT shadows = member).
        variance: ``"fixed"`` (one sigma for all examples), ``"per-example"`` or ``"auto"``
            (fixed below ``fixed_below`` shadows per side). A consistency is often the same for
            every shadow of a side (always right), so fixed is the safe default.
        fixed_below: the ``"auto"`` threshold.

    Example:
        >>> LabelOnlyConfig().mode
        'online'
    """

    mode: str = "online"
    variance: str = "auto"
    fixed_below: int = 64

    def __post_init__(self):
        check_choice("mode", self.mode, ("online", "offline"))
        check_choice("variance", self.variance, ("auto", "fixed", "per-example"))
        check_positive_int("fixed_below", self.fixed_below)


def consistency(signals) -> np.ndarray:
    """The fraction of correct labels over the last axis (views) of 0/1 ``signals``, kept as one view.

    Example:
        >>> consistency(np.array([[1.0, 0.0, 1.0, 1.0]])).tolist()
        [[0.75]]
    """
    s = np.asarray(signals, np.float64)
    if s.size and (s.min() < 0 or s.max() > 1):
        raise DataError("label-only signals are the correctness of each query's label: values in [0, 1], got "
                        f"values in [{s.min():.3g}, {s.max():.3g}]")
    return s.mean(axis=-1, keepdims=True)


@ATTACKS.register("label-only")
class LabelOnly(AttackBase):
    """Label-only membership attack (Choquette-Choo et al. 2021), calibrated per example; **higher = member**.

    ``fit`` takes shadow signals ``[M, N, K]``: 1 where shadow m labels query k of example n
    correctly, else 0; ``score`` takes the target's ``[N, K]``. The consistency (mean over the K
    queries) is scored with LiRA's per-example Gaussians (center = mean; see :class:`~muaudit.attacks.LiRA`).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> keep = rng.random((32, 200)).argsort(axis=0) < 16
        >>> p = np.where(keep, 0.95, 0.6)[..., None]                    # IN: right 95% of the time
        >>> ref = ReferenceSignals((rng.random((32, 200, 8)) < p).astype(float), keep)
        >>> attack = LabelOnly().fit(ref)
        >>> member = (rng.random((100, 8)) < 0.95).astype(float)
        >>> outsider = (rng.random((100, 8)) < 0.6).astype(float)
        >>> s = attack.score(np.r_[member, outsider])
        >>> bool(s[:100].mean() > s[100:].mean() + 1)
        True
    """

    name: ClassVar[str] = "label-only"
    Config: ClassVar[type] = LabelOnlyConfig
    signal: ClassVar[str] = "correct"  # the shadows' and the target's 0/1 correctness per query

    def fit(self, reference: ReferenceSignals) -> "LabelOnly":
        """Fit the per-example Gaussians of the shadows' consistency; returns self."""
        self._check_reference(reference)
        cfg = self.config
        self.n_queries_ = int(reference.n_views)
        ref = ReferenceSignals(consistency(reference.signals), reference.keep)
        self.lira_ = LiRA(mode=cfg.mode, center="mean", variance=cfg.variance, fixed_below=cfg.fixed_below).fit(ref)
        self.variance_ = self.lira_.variance_
        return self

    def score(self, target) -> np.ndarray:
        """Scores float64 ``[N]`` of the target's 0/1 correctness ``[N, K]``; higher = member."""
        self._check_fitted("lira_")
        t = self._target(target, self.lira_.mu_out_.shape[0], self.n_queries_)
        return self.lira_.score(consistency(t))
