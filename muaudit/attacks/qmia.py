"""Quantile-regression membership inference (QMIA; Bertran et al., NeurIPS 2023, arXiv:2307.03694).

An attack that needs no shadow models: on examples known NOT to be members of the target, a
quantile regressor learns to predict from the input ``(x, y)`` a high quantile ``1 - alpha_q`` of
the target's score on non-members (here phi, the logit-scaled confidence). A member tends to
score above the quantile predicted for it, so the attack's score is

    score(x, y) = phi_target(x, y) - q_{1 - alpha_q}(x, y)        (higher = member)

and thresholding it at 0 flags about ``alpha_q`` of non-members, per input. The regressor is
scikit-learn's gradient boosting with the pinball (quantile) loss on the flattened input and a
one-hot label.

Example:
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(400, 5)), rng.integers(0, 3, 400)
    >>> phi = X[:, 0] + rng.normal(0, 0.3, 400)                    # input-dependent non-member score
    >>> phi[300:] += 1.0                                           # rows 300.. are members: +1
    >>> q = QuantileMIA().fit(NonMemberSignals(X, y, phi, np.arange(300), n_classes=3))
    >>> s = q.score(phi)                                           # every row, higher = member
    >>> float(np.mean(s[300:] > 0)) > 0.5
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from muaudit.attacks.base import ATTACKS, AttackBase
from muaudit.checks import check_finite, check_unit_interval
from muaudit.errors import DataError

MIN_NONMEMBERS = 20  # fewer cannot fit a quantile


@dataclass(frozen=True)
class QMIAConfig:
    """``alpha_q``: the regressor predicts the ``1 - alpha_q`` quantile of non-member scores (the
    paper's target false-positive rate); the rest are HistGradientBoostingRegressor settings.

    Example:
        >>> QMIAConfig().alpha_q
        0.05
    """

    alpha_q: float = 0.05
    max_iter: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 4  # small trees: with a few hundred non-members deeper ones overfit the
    min_samples_leaf: int = 30  # quantile (held-out exceedance 0.15 instead of 0.05; 0.07 with these)
    random_state: int = 0

    def __post_init__(self):
        check_unit_interval("alpha_q", self.alpha_q)


def qmia_features(X, labels, n_classes: int) -> np.ndarray:
    """Flattened inputs and a one-hot label, float32 ``[N, D + n_classes]``.

    Example:
        >>> qmia_features(np.zeros((2, 1, 2, 2)), np.array([0, 2]), 3).shape
        (2, 7)
    """
    X = np.asarray(X, np.float32).reshape(len(X), -1)
    y = np.asarray(labels, np.int64)
    if y.shape != (len(X),) or (y < 0).any() or (y >= n_classes).any():
        raise DataError(f"Expected {len(X)} labels in [0, {n_classes}), got shape {y.shape}")
    return np.concatenate([X, np.eye(n_classes, dtype=np.float32)[y]], axis=1)


def _one_view(signals, n: int) -> np.ndarray:
    """A per-example signal ``[n]`` (or ``[n, 1]``) as float64 ``[n]``."""
    a = np.asarray(signals, np.float64)
    a = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
    if a.shape != (n,):
        raise DataError(f"Expected `signals` of shape ({n},) or ({n}, 1), one per input, got {np.shape(signals)}")
    return check_finite("signals", a)


@dataclass(frozen=True)
class NonMemberSignals:
    """QMIA's reference: the target's own signal on N examples, their inputs and labels, and which
    rows are known non-members (the rows the quantile regressor is fitted on).

    ``inputs`` ``[N, ...]`` (flattened), ``labels`` int ``[N]`` in ``[0, n_classes)``, ``signals``
    float ``[N]`` (or ``[N, 1]``; stored as float64 ``[N]``), ``nonmembers`` int row indices (at
    least 20). The arrays are not copied.

    Example:
        >>> ref = NonMemberSignals(np.zeros((30, 2)), np.zeros(30, int), np.zeros(30), np.arange(25), n_classes=2)
        >>> ref.n_samples, ref.nonmembers.size
        (30, 25)
    """

    inputs: np.ndarray
    labels: np.ndarray
    signals: np.ndarray
    nonmembers: np.ndarray
    n_classes: int

    def __post_init__(self):
        n = len(self.inputs)
        object.__setattr__(self, "signals", _one_view(self.signals, n))
        rows = np.asarray(self.nonmembers)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or (rows.size and (rows.min() < 0 or rows.max() >= n)):
            raise DataError(f"Expected `nonmembers` as integer row indices in [0, {n}), got {rows.dtype} {rows.shape}")
        if rows.size < MIN_NONMEMBERS:
            raise DataError(f"Expected at least {MIN_NONMEMBERS} non-members to fit QMIA, got {rows.size}")
        object.__setattr__(self, "nonmembers", rows)

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[0])


@ATTACKS.register("qmia")
class QuantileMIA(AttackBase):
    """QMIA: ``fit`` a quantile regressor on the known non-members of :class:`NonMemberSignals`;
    ``score(target)`` = the target's signal minus its predicted high quantile, per row (higher = member).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(100, 3)), rng.integers(0, 2, 100)
        >>> q = QuantileMIA(max_iter=10).fit(NonMemberSignals(X, y, X[:, 0], np.arange(50), n_classes=2))
        >>> q.score(X[:, 0]).shape, q.info()["n_fit"]
        ((100,), 50)
    """

    name: ClassVar[str] = "qmia"
    Config: ClassVar[type] = QMIAConfig
    Reference: ClassVar[type] = NonMemberSignals

    def fit(self, reference: NonMemberSignals) -> "QuantileMIA":
        """Fit the ``1 - alpha_q`` quantile of the signal given the input on the non-member rows; returns self."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        self._check_reference(reference)
        rows, c = reference.nonmembers, self.config
        model = HistGradientBoostingRegressor(
            loss="quantile", quantile=1.0 - c.alpha_q, max_iter=c.max_iter, learning_rate=c.learning_rate,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf, random_state=c.random_state)
        labels = np.asarray(reference.labels)
        model.fit(qmia_features(np.asarray(reference.inputs)[rows], labels[rows], reference.n_classes),
                  reference.signals[rows])
        self.model_, self.reference_, self.n_fit_ = model, reference, int(rows.size)
        return self

    def predict_quantile(self) -> np.ndarray:
        """The predicted ``1 - alpha_q`` quantile of every row, float64 ``[N]``."""
        self._check_fitted("model_")
        ref = self.reference_
        return self.model_.predict(qmia_features(ref.inputs, ref.labels, ref.n_classes))

    def score(self, target) -> np.ndarray:
        """``signal - q(x, y)`` float64 ``[N]`` of the target's signals ``[N]`` (or ``[N, 1]``); never NaN."""
        self._check_fitted("model_")
        t = self._target(target, self.reference_.n_samples, 1)[:, 0]
        return t - self.predict_quantile()

    def info(self) -> dict:
        """The configuration, the number of fitting rows and the regressor, for results."""
        return {**asdict(self.config), "n_fit": getattr(self, "n_fit_", None),
                "regressor": "HistGradientBoostingRegressor(loss='quantile')"}
