"""RMIA, the relative membership inference attack of Zarifzadeh et al. 2024 (https://arxiv.org/abs/2312.03262)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import logsumexp

from muaudit.attacks.base import ATTACKS, AttackBase, ReferenceSignals, check_choice
from muaudit.attacks.signals import log_probability_from_phi
from muaudit.errors import ConfigError, DataError
from muaudit.checks import warn
from muaudit.metrics.roc import auc

A_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


@dataclass(frozen=True)
class RMIAConfig:
    """Options of :class:`RMIA`.

    Attributes:
        mode: ``"offline"`` (OUT references only, with the ``a`` correction; the ML Privacy Meter
            default) or ``"online"`` (IN and OUT references).
        gamma: the pairwise likelihood-ratio threshold (paper default 1).
        a: offline correction ``P_IN ~ a * P_OUT + (1 - a)``; None = tune it on a held-out shadow
            over ``{0, 0.1, ..., 1}`` (maximum AUC against the other shadows).
        random_state: picks the held-out shadow used to tune ``a``.

    Example:
        >>> RMIAConfig().mode, RMIAConfig(a=0.3).a
        ('offline', 0.3)
    """

    mode: str = "offline"
    gamma: float = 1.0
    a: float | None = None
    random_state: int = 0

    def __post_init__(self):
        check_choice("mode", self.mode, ("offline", "online"))
        if not (isinstance(self.gamma, (int, float)) and np.isfinite(self.gamma) and self.gamma > 0):
            raise ConfigError(f"Expected `gamma` > 0, got {self.gamma!r}")
        if self.a is not None and not (isinstance(self.a, (int, float)) and 0.0 <= self.a <= 1.0):
            raise ConfigError(f"Expected `a` in [0, 1] or None, got {self.a!r}")


def log_prob(signals, statistic: str) -> np.ndarray:
    """``log p(y|x)`` from phi (``log expit(phi)``, exact) or from probabilities.

    Example:
        >>> log_prob(np.array([0.0]), "phi").round(4).tolist(), log_prob(np.array([0.5]), "probability").round(4).tolist()
        ([-0.6931], [-0.6931])
    """
    x = np.asarray(signals, dtype=np.float64)
    return log_probability_from_phi(x) if statistic == "phi" else np.log(np.clip(x, 1e-300, 1.0))


def log_mean_out(logp: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``log mean_OUT p(y|x)`` ``[N, V]`` over the references that did not train on x.

    Examples without an OUT reference use the mean over all references (a warning says how many).

    Example:
        >>> logp = np.log(np.array([[[0.2]], [[0.4]], [[0.9]]]))          # 3 references, 1 example
        >>> keep = np.array([[False], [False], [True]])
        >>> np.exp(log_mean_out(logp, keep)).round(4).tolist()              # mean of 0.2 and 0.4
        [[0.3]]
    """
    out = np.broadcast_to(~keep[..., None], logp.shape)
    n_out = out.sum(axis=0)
    mean_out = logsumexp(np.where(out, logp, -np.inf), axis=0) - np.log(np.maximum(n_out, 1))
    missing = n_out == 0
    if missing.any():
        warn(f"{int(missing[:, 0].sum())} examples have no OUT reference; RMIA uses their mean over all references")
        mean_out[missing] = (logsumexp(logp, axis=0) - np.log(logp.shape[0]))[missing]
    return mean_out


def offline_log_pr(log_mean_out_p: np.ndarray, a: float) -> np.ndarray:
    """``log Pr(x)`` with ``Pr = ((1 + a) * mean_OUT p + (1 - a)) / 2``.

    Example:
        >>> np.exp(offline_log_pr(np.log(np.array([0.5])), a=1.0)).tolist()   # a = 1: Pr = mean_OUT p
        [0.5]
    """
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log1p(a) + log_mean_out_p, np.log(1.0 - a)) - np.log(2.0)


def pairwise_scores(log_lr: np.ndarray, population: np.ndarray, gamma: float) -> np.ndarray:
    """Fraction of population points z with ``LR(x) / LR(z) > gamma``, for every x (``[N]``).

    ``population`` selects the z among the N examples (indices or a bool mask).

    Example:
        >>> lr = np.array([1.0, 2.0, 4.0, 3.0])
        >>> pairwise_scores(np.log(lr), np.array([True, False, False, True]), gamma=1.0).tolist()
        [0.0, 0.5, 1.0, 0.5]
    """
    z = np.sort(log_lr[population])
    return np.searchsorted(z, log_lr - np.log(gamma), side="left") / z.size


@ATTACKS.register("rmia")
class RMIA(AttackBase):
    """Relative membership inference, Zarifzadeh et al. 2024 (https://arxiv.org/abs/2312.03262).

    Works on ``p(y|x)``, the softmax probability of the label (from phi exactly: ``expit(phi)``),
    in log space. ``Pr(x)`` = mean of ``p(y|x)`` over the reference models (online: all; offline:
    ``((1 + a) * mean_OUT p + (1 - a)) / 2``), ``LR(x) = p_target(y|x) / Pr(x)`` (geometric mean
    over views), and the score of x is the fraction of population points z with
    ``LR(x) / LR(z) > gamma``. **Higher = member**, in [0, 1]. For one target the score is
    monotone in ``LR(x)``, so the ROC does not depend on the population chosen.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> keep = rng.random((8, 100)).argsort(axis=0) < 4
        >>> ref = ReferenceSignals(rng.normal(size=(8, 100)) + 3 * keep, keep)
        >>> s = RMIA(a=0.5).fit(ref).score(np.r_[np.full(50, 3.0), np.zeros(50)])
        >>> bool(s[:50].mean() > s[50:].mean())
        True
    """

    name: ClassVar[str] = "rmia"
    Config: ClassVar[type] = RMIAConfig

    def fit(self, reference: ReferenceSignals) -> "RMIA":
        """Compute ``log Pr(x)`` ``[N, V]`` from the references (tuning ``a`` if needed); returns self."""
        self._check_reference(reference)
        self.statistic_ = reference.statistic
        logp = log_prob(reference.signals, reference.statistic)
        if self.config.mode == "online":
            self.a_ = None
            self.log_pr_ = logsumexp(logp, axis=0) - np.log(logp.shape[0])
        else:
            self.a_ = self.config.a if self.config.a is not None else self._tune_a(logp, reference.keep)
            self.log_pr_ = offline_log_pr(log_mean_out(logp, reference.keep), self.a_)
        return self

    def _tune_a(self, logp: np.ndarray, keep: np.ndarray) -> float:
        """``a`` maximising the AUC of one held-out shadow (seeded) against the others."""
        rng = np.random.default_rng(self.config.random_state)
        usable = [m for m in rng.permutation(keep.shape[0]) if 0 < keep[m].sum() < keep.shape[1]]
        if keep.shape[0] < 2 or not usable:
            warn("RMIA cannot tune `a` (needs 2 shadows, one with members and non-members); using a = 1")
            return 1.0
        m = usable[0]
        rest = np.arange(keep.shape[0]) != m
        mean_out = log_mean_out(logp[rest], keep[rest])
        aucs = [auc(keep[m], (logp[m] - offline_log_pr(mean_out, a)).mean(axis=1)) for a in A_GRID]
        self.tuning_auc_ = dict(zip(map(float, A_GRID), aucs))
        return float(A_GRID[int(np.argmax(aucs))])

    def log_likelihood_ratio(self, target) -> np.ndarray:
        """``log LR(x)`` float64 ``[N]``: mean over views of ``log p_target(y|x) - log Pr(x)``."""
        self._check_fitted("log_pr_")
        t = self._target(target, *self.log_pr_.shape)
        return (log_prob(t, self.statistic_) - self.log_pr_).mean(axis=1)

    def score(self, target, *, population=None) -> np.ndarray:
        """Scores float64 ``[N]`` in [0, 1], higher = member; ``population`` = indices of the z points
        (default: every example)."""
        log_lr = self.log_likelihood_ratio(target)
        pop = np.arange(log_lr.size) if population is None else np.asarray(population)
        if pop.ndim != 1 or pop.size == 0 or not np.issubdtype(pop.dtype, np.integer) \
                or pop.min() < 0 or pop.max() >= log_lr.size:
            raise DataError(f"Expected `population` to be non-empty integer indices in [0, {log_lr.size})")
        return pairwise_scores(log_lr, pop, self.config.gamma)
