"""LiRA, the likelihood-ratio attack of Carlini et al. 2022 (https://arxiv.org/abs/2112.03570)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from muaudit.attacks.base import ATTACKS, AttackBase, ReferenceSignals, check_choice
from muaudit.attacks.gaussian import fit_gaussians, gaussian_log_ratio, neg_log_density, neg_log_upper_tail
from muaudit.checks import check_positive_int

LIRA_MODES = ("online", "offline", "offline-density")


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

    Example:
        >>> LiRAConfig(mode="offline").variance
        'auto'
        >>> LiRAConfig(mode="both")
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `mode` in ('online', 'offline', 'offline-density'), got 'both'
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
        """Fit per-example IN/OUT means and sigmas on the shadows (:func:`.gaussian.fit_gaussians`); returns self."""
        self._check_reference(reference)
        cfg = self.config
        fit = fit_gaussians(reference.signals, reference.keep, reference.signals, ~reference.keep, center=cfg.center,
                            variance=cfg.variance, fixed_below=cfg.fixed_below, one_sided=cfg.mode != "online")
        self.mu_in_, self.sigma_in_, self.mu_out_, self.sigma_out_, self.variance_, self.n_in_, self.n_out_ = fit
        return self

    def score(self, target) -> np.ndarray:
        """Scores float64 ``[N]`` of target signals ``[N, V]`` (or ``[N]``); higher = member."""
        self._check_fitted("mu_out_")
        t = self._target(target, *self.mu_out_.shape)
        if self.config.mode == "online":
            s = gaussian_log_ratio(t, self.mu_in_, self.sigma_in_, self.mu_out_, self.sigma_out_)
        elif self.config.mode == "offline":
            s = neg_log_upper_tail(t, self.mu_out_, self.sigma_out_)
        else:
            s = neg_log_density(t, self.mu_out_, self.sigma_out_)
        return s.mean(axis=1)
