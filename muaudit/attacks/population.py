"""Population attacks: one rule for all examples, no shadow models.

- :class:`LOSS`: the loss-threshold attack (Yeom et al. 2018, https://arxiv.org/abs/1709.01604).
- :func:`logistic_regression_mia`: Deep Unlearn's MIA (Cadet et al. 2024,
  https://arxiv.org/abs/2410.01276; the NeurIPS-2023 unlearning challenge starting kit).
- :func:`svc_mia`: SalUn's SVC-MIA (Fan et al. 2024, https://arxiv.org/abs/2310.12508).
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from muaudit.attacks.base import ATTACKS, AttackBase, ReferenceSignals
from muaudit.attacks.rmia import log_prob
from muaudit.errors import DataError
from muaudit.checks import check_finite, check_positive_int, check_unit_interval


@dataclass(frozen=True)
class LOSSConfig:
    """:class:`LOSS` has no options.

    Example:
        >>> LOSS(config=LOSSConfig()).name
        'loss'
    """


@ATTACKS.register("loss")
class LOSS(AttackBase):
    """Loss threshold (Yeom et al. 2018, https://arxiv.org/abs/1709.01604): score = ``-loss``.

    ``-loss = log p(y|x)`` averaged over views; **higher = member**. ``fit`` only records which
    statistic the target carries (phi by default); the shadows are not used.

    Example:
        >>> LOSS().fit().score(np.array([3.0, -1.0])).round(3).tolist()
        [-0.049, -1.313]
    """

    name: ClassVar[str] = "loss"
    Config: ClassVar[type] = LOSSConfig

    def fit(self, reference: ReferenceSignals | None = None) -> "LOSS":
        """Record the reference's statistic (``"phi"`` when no reference is given); returns self."""
        if reference is not None:
            self._check_reference(reference)
        self.statistic_ = "phi" if reference is None else reference.statistic
        return self

    def score(self, target) -> np.ndarray:
        """``log p(y|x)`` float64 ``[N]`` of target signals ``[N, V]`` (or ``[N]``); higher = member."""
        self._check_fitted("statistic_")
        t = np.asarray(target, dtype=np.float64)
        t = t[:, None] if t.ndim == 1 else t
        if t.ndim != 2:
            raise DataError(f"Expected target signals of shape [N, V] or [N], got {np.shape(target)}")
        return log_prob(check_finite("target", t), self.statistic_).mean(axis=1)


def _feature(name: str, x) -> np.ndarray:
    """A per-example feature as float ``[n, d]`` (a vector ``[n]`` becomes one column)."""
    a = np.asarray(x, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] == 0:
        raise DataError(f"Expected `{name}` of shape [n] or [n, d] with n >= 1, got {np.shape(x)}")
    return check_finite(name, a)


@dataclass(frozen=True)
class LogisticMIAResult:
    """Deep Unlearn's MIA. ``accuracy``: mean 10-split accuracy; ``indiscernibility = 1 - |2 acc - 1|``
    (1 = chance, the ideal after unlearning); ``split_accuracies``; ``n_per_class`` after balancing.

    Example:
        >>> r = logistic_regression_mia(np.linspace(0, 1, 40), np.linspace(0, 1, 40))
        >>> isinstance(r, LogisticMIAResult), len(r.split_accuracies), r.n_per_class
        (True, 10, 40)
    """

    accuracy: float
    indiscernibility: float
    split_accuracies: tuple[float, ...]
    n_per_class: int


def logistic_mia_possible(n_members: int, n_nonmembers: int, *, test_size: float = 0.1) -> bool:
    """Whether :func:`logistic_regression_mia` can split ``2 min(n_members, n_nonmembers)`` examples
    into stratified test and training sets of at least 2 each (scikit-learn rounds the test size up)."""
    n = 2 * min(n_members, n_nonmembers)
    n_test = math.ceil(test_size * n)
    return n >= 4 and n_test >= 2 and n - n_test >= 2


def logistic_regression_mia(member_loss, nonmember_loss, *, n_splits: int = 10, test_size: float = 0.1,
                            random_state: int = 123) -> LogisticMIAResult:
    """Deep Unlearn's population MIA: logistic regression on per-example cross-entropy loss.

    Members (the forget set) and non-members (test or validation) are shuffled and cut to the
    smaller size (seeded), then ``LogisticRegression()`` (defaults) is scored by
    ``cross_val_score(scoring="accuracy")`` over ``StratifiedShuffleSplit(n_splits, test_size,
    random_state=123)``, as in ``munl/evaluation/membership_inference_attack.py``.

    Args:
        member_loss: float ``[n_m]`` (or ``[n_m, d]``), e.g. the forget set's losses.
        nonmember_loss: float ``[n_t]``, e.g. the test set's losses.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> same = logistic_regression_mia(rng.exponential(1, 200), rng.exponential(1, 200))
        >>> apart = logistic_regression_mia(rng.exponential(0.01, 200), rng.exponential(1, 200) + 1)
        >>> bool(same.indiscernibility > 0.7), apart.accuracy, apart.indiscernibility
        (True, 1.0, 0.0)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

    test_size = check_unit_interval("test_size", test_size)
    n_splits = check_positive_int("n_splits", n_splits)
    xm, xn = _feature("member_loss", member_loss), _feature("nonmember_loss", nonmember_loss)
    rng = np.random.default_rng(random_state)
    n = min(len(xm), len(xn))
    if not logistic_mia_possible(len(xm), len(xn), test_size=test_size):
        raise DataError(f"Expected enough members and non-members for the logistic-regression MIA's stratified "
                        f"split (test_size {test_size:g}: >= 2 test and 2 training examples), got {len(xm)} and {len(xn)}")
    X = np.concatenate([xm[rng.permutation(len(xm))[:n]], xn[rng.permutation(len(xn))[:n]]])
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    cv = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=random_state)
    accs = cross_val_score(LogisticRegression(), X, y, cv=cv, scoring="accuracy")
    acc = float(np.mean(accs))
    return LogisticMIAResult(acc, 1.0 - abs(2.0 * acc - 1.0), tuple(map(float, accs)), n)


@dataclass(frozen=True)
class SVCMIAResult:
    """SalUn's SVC-MIA. ``efficacy``: fraction of the forget set predicted non-member (higher =
    forgotten); ``train_accuracy`` of the SVC on its own training set (its power, roughly);
    ``n_per_class``: training examples per class.

    Example:
        >>> r = svc_mia(np.ones(30), np.zeros(30), np.ones(10))
        >>> isinstance(r, SVCMIAResult), r.n_per_class
        (True, 30)
    """

    efficacy: float
    train_accuracy: float
    n_per_class: int


def svc_mia(retain_feature, test_feature, forget_feature, *, C: float = 3.0, gamma="auto",
            kernel: str = "rbf", random_state: int = 0) -> SVCMIAResult:
    """SalUn's SVC-MIA (``Classification/evaluation/SVC_MIA.py``): an SVC trained on retain
    (member, label 1) vs test (non-member, label 0), applied to the forget set.

    The retain set is subsampled (seeded) to the test set's size, as in SalUn. The feature is
    usually the confidence ``p(y|x)`` (:func:`muaudit.attacks.signals.confidence`, the number
    SalUn reports); any ``[n, d]`` feature works. ``SVC(C=3, gamma="auto", kernel="rbf")``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> retain, test = rng.uniform(0.9, 1.0, 100), rng.uniform(0.0, 0.5, 100)
        >>> svc_mia(retain, test, rng.uniform(0.0, 0.5, 50)).efficacy       # forget looks like test: forgotten
        1.0
        >>> svc_mia(retain, test, rng.uniform(0.9, 1.0, 50)).efficacy       # forget looks like retain
        0.0
    """
    from sklearn.svm import SVC

    r, t, f = _feature("retain_feature", retain_feature), _feature("test_feature", test_feature), \
        _feature("forget_feature", forget_feature)
    rng = np.random.default_rng(random_state)
    r = r[rng.permutation(len(r))[: len(t)]]
    X, y = np.concatenate([r, t]), np.r_[np.ones(len(r), int), np.zeros(len(t), int)]
    clf = SVC(C=C, gamma=gamma, kernel=kernel).fit(X, y)
    efficacy = float(1.0 - clf.predict(f).mean())
    return SVCMIAResult(efficacy, float((clf.predict(X) == y).mean()), min(len(r), len(t)))
