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
    >>> q = QuantileMIA().fit(X[:300], y[:300], phi[:300], n_classes=3)
    >>> s = q.score(X[300:], y[300:], phi[300:] + 1.0, n_classes=3)   # members: +1
    >>> float(np.mean(s > 0)) > 0.5
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from muaudit.checks import check_finite, check_unit_interval
from muaudit.errors import DataError


@dataclass(frozen=True)
class QMIAConfig:
    """``alpha_q``: the regressor predicts the ``1 - alpha_q`` quantile of non-member scores (the
    paper's target false-positive rate); the rest are HistGradientBoostingRegressor settings."""

    alpha_q: float = 0.05
    max_iter: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 4  # small trees: with a few hundred non-members deeper ones overfit the
    min_samples_leaf: int = 30  # quantile (held-out exceedance 0.15 instead of 0.05; 0.07 with these)
    random_state: int = 0


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


class QuantileMIA:
    """QMIA: ``fit`` on known non-members, ``score`` = phi minus its predicted high quantile (higher = member)."""

    name = "qmia"

    def __init__(self, **options):
        self.config = QMIAConfig(**options)
        check_unit_interval("alpha_q", self.config.alpha_q)

    def fit(self, X, labels, phi, *, n_classes: int) -> "QuantileMIA":
        """Fit the ``1 - alpha_q`` quantile of ``phi`` given the input on non-member examples."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        phi = check_finite("phi", np.asarray(phi, np.float64))
        if phi.shape != (len(X),) or len(X) < 20:
            raise DataError(f"Expected at least 20 non-members with one phi each, got {len(X)} inputs, phi {phi.shape}")
        c = self.config
        self.model_ = HistGradientBoostingRegressor(
            loss="quantile", quantile=1.0 - c.alpha_q, max_iter=c.max_iter, learning_rate=c.learning_rate,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf, random_state=c.random_state)
        self.model_.fit(qmia_features(X, labels, n_classes), phi)
        self.n_fit_ = int(len(X))
        return self

    def predict_quantile(self, X, labels, *, n_classes: int) -> np.ndarray:
        return self.model_.predict(qmia_features(X, labels, n_classes))

    def score(self, X, labels, phi, *, n_classes: int) -> np.ndarray:
        """``phi - q(x, y)``, float64 ``[N]``; never NaN for finite phi."""
        phi = check_finite("phi", np.asarray(phi, np.float64))
        return phi - self.predict_quantile(X, labels, n_classes=n_classes)

    def info(self) -> dict:
        return {**asdict(self.config), "n_fit": getattr(self, "n_fit_", None), "regressor": "HistGradientBoostingRegressor(loss='quantile')"}
