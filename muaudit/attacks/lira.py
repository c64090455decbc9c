"""LiRA, the likelihood-ratio attack of Carlini et al. 2022 (https://arxiv.org/abs/2112.03570)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.stats import norm

from muaudit.attacks import _stats
from muaudit.attacks.base import ATTACKS, AttackBase, ReferenceSignals, check_choice
from muaudit.checks import check_positive_int

LIRA_MODES = ("online", "offline", "offline-density")
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class LiRAConfig:
    """Options of :class:`LiRA` (defaults as in the paper and the official code).

    Attributes:
        mode: ``"online"`` (IN and OUT Gaussians), ``"offline"`` (one-sided test against OUT,
            the paper's offline attack) or ``"offline-density"`` (``-log N(phi; OUT)``, two-sided,
            as the official ``plot.py``).
        center: ``"median"`` (official code) or ``"mean"`` of the shadow signals.
        variance: ``"fixed"`` (one sigma for all examples and both sides), ``"per-example"``,
            or ``"auto"``: fixed when there are fewer than ``fixed_below`` shadows per side.
        fixed_below: the ``"auto"`` threshold (64, after the official README: fixed variance wins
            with 16 shadows).
    """

    mode: str = "online"
    center: str = "median"
    variance: str = "auto"
    fixed_below: int = 64

    def __post_init__(self):
        check_choice("mode", self.mode, LIRA_MODES)
        check_choice("center", self.center, ("median", "mean"))
        check_choice("variance", self.variance, ("auto", "fixed", "per-example"))
        check_positive_int("fixed_below", self.fixed_below)


def _z(x: np.ndarray, mu: np.ndarray, sigma) -> np.ndarray:
    return np.clip((x - mu) / sigma, -1e100, 1e100)


def gaussian_log_ratio(x, mu_in, sigma_in, mu_out, sigma_out) -> np.ndarray:
    """``log N(x; mu_in, sigma_in^2) - log N(x; mu_out, sigma_out^2)``, elementwise, finite."""
    z_in, z_out = _z(x, mu_in, sigma_in), _z(x, mu_out, sigma_out)
    return 0.5 * (z_out**2 - z_in**2) + np.log(sigma_out) - np.log(sigma_in)


@ATTACKS.register("lira")
class LiRA(AttackBase):
    """Likelihood-ratio attack, Carlini et al. 2022 (https://arxiv.org/abs/2112.03570).

    Per example x and view v, Gaussians are fitted to the shadow signals where x was IN and OUT.
    Scores, averaged over views, **higher = member**:

    - online: ``log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2)``;
    - offline: ``-log Pr[Z > phi]``, ``Z ~ N(mu_out, s_out^2)`` (``-norm.logsf``: larger phi
      than the OUT shadows = member);
    - offline-density: ``-log N(phi; mu_out, s_out^2)``.

    Sigma is floored at 1e-6. Examples with no IN (or no OUT) shadow get the other side's mean
    shifted by the typical IN-OUT gap, with a warning; scores are never NaN.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> keep = rng.random((16, 100)).argsort(axis=0) < 8   # every example IN for 8 shadows
        >>> ref = ReferenceSignals(rng.normal(size=(16, 100)) + 3 * keep, keep)
        >>> s = LiRA().fit(ref).score(np.r_[np.full(50, 3.0), np.zeros(50)])
        >>> bool(s[:50].min() > s[50:].max())
        True
    """

    name: ClassVar[str] = "lira"
    Config: ClassVar[type] = LiRAConfig

    def fit(self, reference: ReferenceSignals) -> "LiRA":
        """Fit per-example IN/OUT means and sigmas on the shadows; returns self."""
        cfg = self.config
        inside = _stats.side_stats(reference.signals, reference.keep, cfg.center)
        outside = _stats.side_stats(reference.signals, ~reference.keep, cfg.center)
        self.mu_in_, self.mu_out_ = _stats.fill_missing_centers(inside, outside, need_in=cfg.mode == "online")
        sides = (outside,) if cfg.mode != "online" else (inside, outside)
        self.variance_ = self._resolve_variance(sides)
        sigma = _stats.pooled_sigma(*([s for s in sides if s.values.size] or [inside]))
        if self.variance_ == "fixed":
            self.sigma_in_ = self.sigma_out_ = np.full(self.mu_in_.shape, sigma)
        else:
            self.sigma_in_ = _stats.per_example_sigma(inside, sigma) if cfg.mode == "online" else None
            self.sigma_out_ = _stats.per_example_sigma(outside, sigma)
        self.n_in_, self.n_out_ = inside.count, outside.count
        return self

    def _resolve_variance(self, sides) -> str:
        if self.config.variance != "auto":
            return self.config.variance
        per_side = min(float(np.median(s.count)) for s in sides)
        return "fixed" if per_side < self.config.fixed_below else "per-example"

    def score(self, target) -> np.ndarray:
        """Scores float64 ``[N]`` of target signals ``[N, V]`` (or ``[N]``); higher = member."""
        self._check_fitted("mu_out_")
        t = self._target(target, *self.mu_out_.shape)
        if self.config.mode == "online":
            s = gaussian_log_ratio(t, self.mu_in_, self.sigma_in_, self.mu_out_, self.sigma_out_)
        elif self.config.mode == "offline":
            s = -norm.logsf(_z(t, self.mu_out_, self.sigma_out_))
        else:
            s = 0.5 * _z(t, self.mu_out_, self.sigma_out_) ** 2 + np.log(self.sigma_out_) + _HALF_LOG_2PI
        return s.mean(axis=1)
