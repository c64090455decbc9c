"""U-LiRA, the per-example unlearning attack of Hayes et al. 2024 (https://arxiv.org/abs/2403.01218).

LiRA (Carlini et al. 2022) where the **IN** distribution of example x is the statistic of shadows
that trained on x *and then unlearned it with the method under test*, and the **OUT**
distribution is the reference for a correct unlearning (``reference``):

- ``"retrain"``: exact retrains that never saw x (the Hayes et al. game);
- ``"out"``: base shadows that never trained on x (cheaper, no retrains needed);
- ``"same-method"``: the method's own unlearned shadows that never trained on x (Deep Unlearn's
  ``pipeline/lira``, Cadet et al. 2024, https://arxiv.org/abs/2410.01276).

The statistic is phi (the logit-scaled confidence) or ``"correct"`` (0/1 top-1 correctness, as
Deep Unlearn). Scores are **higher = "unlearned by the method, not retrained"**.

Example:
    >>> rng = np.random.default_rng(0)
    >>> forget = rng.random((16, 200)) < 0.3            # x was unlearned by shadow m
    >>> unl = rng.normal(size=(16, 200, 1)) + 2 * forget[..., None]
    >>> ref = rng.normal(size=(16, 200, 1))             # retrains: never saw x
    >>> att = ULiRA().fit(UnlearningSignals(unl, forget, ref, np.ones((16, 200), bool)))
    >>> s = att.score(np.r_[np.full(100, 2.0), np.zeros(100)])
    >>> bool(s[:100].mean() > s[100:].mean())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from muaudit.attacks.base import ATTACKS, AttackBase, check_choice
from muaudit.attacks.gaussian import fit_gaussians, gaussian_log_ratio, neg_log_upper_tail
from muaudit.attacks.signals import correctness, logit_scaled_confidence
from muaudit.errors import DataError
from muaudit.checks import as_signals_3d, check_finite, check_mask, check_positive_int

REFERENCES = ("retrain", "out", "same-method")
ULIRA_STATISTICS = ("phi", "correct")


def ulira_statistic(logits, labels, statistic: str = "phi") -> np.ndarray:
    """The U-LiRA statistic of logits ``[..., N, V, C]``: phi or 0/1 correctness, float64.

    Example:
        >>> logits = np.array([[[2.0, 0.0]], [[0.0, 2.0]]])               # [N=2, V=1, C=2]
        >>> ulira_statistic(logits, np.array([0, 0]), "correct").tolist()
        [[1.0], [0.0]]
    """
    check_choice("statistic", statistic, ULIRA_STATISTICS)
    return logit_scaled_confidence(logits, labels) if statistic == "phi" else correctness(logits, labels)


@dataclass(frozen=True)
class UnlearningSignals:
    """The two sides of U-LiRA on N examples.

    ``in_signals`` float ``[M_in, N, V]`` with ``in_mask`` bool ``[M_in, N]`` (model m trained on
    x and unlearned it); ``out_signals`` ``[M_out, N, V]`` with ``out_mask`` (model m is a
    reference that never saw x). Entries where a mask is False are ignored.

    Example:
        >>> s = UnlearningSignals(np.zeros((3, 5)), np.ones((3, 5), bool), np.zeros((4, 5)), np.ones((4, 5), bool))
        >>> s.in_signals.shape, s.out_signals.shape
        ((3, 5, 1), (4, 5, 1))
    """

    in_signals: np.ndarray
    in_mask: np.ndarray
    out_signals: np.ndarray
    out_mask: np.ndarray

    def __post_init__(self):
        a, b = as_signals_3d("in_signals", self.in_signals), as_signals_3d("out_signals", self.out_signals)
        if a.shape[1:] != b.shape[1:]:
            raise DataError(f"Expected `in_signals` and `out_signals` on the same [N, V], got {a.shape} and {b.shape}")
        object.__setattr__(self, "in_signals", a)
        object.__setattr__(self, "out_signals", b)
        object.__setattr__(self, "in_mask", check_mask("in_mask", self.in_mask, a.shape[:2]))
        object.__setattr__(self, "out_mask", check_mask("out_mask", self.out_mask, b.shape[:2]))


@dataclass(frozen=True)
class ULiRAConfig:
    """Options of :class:`ULiRA`.

    Attributes:
        reference: ``"retrain"``, ``"out"`` or ``"same-method"`` (what a correct unlearning looks
            like; recorded here, used by the evaluation that builds the signals).
        statistic: ``"phi"`` or ``"correct"`` (recorded; the signals carry it).
        center: ``"median"``, ``"mean"`` or ``"auto"`` (median for phi, mean for 0/1 correctness).
        variance: ``"fixed"``, ``"per-example"`` or ``"auto"`` (fixed below ``fixed_below``
            shadows per side, as LiRA).

    Example:
        >>> ULiRAConfig(reference="out").reference
        'out'
        >>> ULiRAConfig(statistic="loss")
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `statistic` in ('phi', 'correct'), got 'loss'
    """

    reference: str = "retrain"
    statistic: str = "phi"
    center: str = "auto"
    variance: str = "auto"
    fixed_below: int = 64

    def __post_init__(self):
        check_choice("reference", self.reference, REFERENCES)
        check_choice("statistic", self.statistic, ULIRA_STATISTICS)
        check_choice("center", self.center, ("auto", "median", "mean"))
        check_choice("variance", self.variance, ("auto", "fixed", "per-example"))
        check_positive_int("fixed_below", self.fixed_below)


@ATTACKS.register("ulira")
class ULiRA(AttackBase):
    """U-LiRA (Hayes et al. 2024): Gaussians per example and view on the unlearned (IN) and
    reference (OUT) sides of :class:`UnlearningSignals` (its ``Reference``).

    - :meth:`score`: ``log N(s; mu_in, s_in^2) - log N(s; mu_out, s_out^2)``, mean over views
      (the likelihood ratio "unlearned by the method" vs "never seen"); higher = unlearned.
    - :meth:`calibrated_score`: ``-log Pr[Z >= d (s - mu_out) / s_out]``, Z standard normal and
      ``d = sign(mu_in - mu_out)``: a one-sided test against the reference in the direction the
      unlearned shadows point to. Under "the target never saw x" it is the same for every
      example, so different examples' scores can be compared (the target audit uses it).

    Fallbacks as LiRA (missing sides filled by the typical gap, sigma floored at 1e-6, with
    warnings); never NaN.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> forgot = np.ones((16, 100), bool)                              # every shadow unlearned x
        >>> unl = rng.normal(size=(16, 100)) + 1.0                          # ... but still looks 1 higher
        >>> ref = rng.normal(size=(16, 100))                                # retrains never saw x
        >>> att = ULiRA().fit(UnlearningSignals(unl, forgot, ref, np.ones((16, 100), bool)))
        >>> s = att.calibrated_score(np.r_[np.full(50, 1.0), np.zeros(50)])
        >>> bool(s[:50].mean() > s[50:].mean()), att.variance_
        (True, 'fixed')
    """

    name: ClassVar[str] = "ulira"
    Config: ClassVar[type] = ULiRAConfig
    Reference: ClassVar[type] = UnlearningSignals

    def fit(self, signals: UnlearningSignals) -> "ULiRA":
        """Fit per-example IN / OUT centers and sigmas; returns self."""
        self._check_reference(signals)
        cfg = self.config
        center = cfg.center if cfg.center != "auto" else ("median" if cfg.statistic == "phi" else "mean")
        fit = fit_gaussians(signals.in_signals, signals.in_mask, signals.out_signals, signals.out_mask, center=center,
                            variance=cfg.variance, fixed_below=cfg.fixed_below)
        self.mu_in_, self.sigma_in_, self.mu_out_, self.sigma_out_, self.variance_, self.n_in_, self.n_out_ = fit
        self.center_ = center
        return self

    def score(self, target) -> np.ndarray:
        """Log-likelihood ratios float64 ``[N]`` of target signals ``[N, V]`` (or ``[N]``)."""
        self._check_fitted("mu_out_")
        t = self._target(target, *self.mu_out_.shape)
        return gaussian_log_ratio(t, self.mu_in_, self.sigma_in_, self.mu_out_, self.sigma_out_).mean(axis=1)

    def calibrated_score(self, target) -> np.ndarray:
        """``-log`` one-sided p-values float64 ``[N]`` against the reference (see the class doc)."""
        self._check_fitted("mu_out_")
        t = self._target(target, *self.mu_out_.shape)
        direction = np.where(self.mu_in_ >= self.mu_out_, 1.0, -1.0)
        return neg_log_upper_tail(t, self.mu_out_, self.sigma_out_, direction).mean(axis=1)


@dataclass(frozen=True)
class ShadowFamilies:
    """A pool's model families for one method, as statistics ``[M, N, V]`` on the same N examples.

    ``base`` / ``keep``: the base shadows and their training sets; ``unlearned`` / ``forget``: the
    method's unlearned shadows and each one's forget set ``F_m`` (inside ``keep_m``);
    ``retrain`` (optional): exact retrains on ``keep_m \\ F_m`` (the same ``forget``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> keep = rng.random((4, 6)) < 0.5
        >>> forget = keep & (rng.random((4, 6)) < 0.5)
        >>> fam = ShadowFamilies(rng.normal(size=(4, 6)), keep, rng.normal(size=(4, 6)), forget)
        >>> fam.n_models, fam.signals("out", [0, 1]).in_signals.shape
        (4, (2, 6, 1))
        >>> fam.signals("retrain", [0])
        Traceback (most recent call last):
        muaudit.errors.DataError: reference 'retrain' needs exact retrains; use reference 'out' or 'same-method'
    """

    base: np.ndarray
    keep: np.ndarray
    unlearned: np.ndarray
    forget: np.ndarray
    retrain: np.ndarray | None = None

    def __post_init__(self):
        for name in ("base", "unlearned") + (("retrain",) if self.retrain is not None else ()):
            object.__setattr__(self, name, as_signals_3d(name, getattr(self, name)))
        shape = self.base.shape
        for name in ("unlearned", "retrain"):
            if getattr(self, name) is not None and getattr(self, name).shape != shape:
                raise DataError(f"Expected `{name}` of shape {shape}, got {getattr(self, name).shape}")
        check_mask("keep", self.keep, shape[:2])
        if (check_mask("forget", self.forget, shape[:2]) & ~self.keep).any():
            raise DataError("Expected every forget set inside its shadow's training set (forget <= keep)")

    @property
    def n_models(self) -> int:
        return self.base.shape[0]

    def original(self) -> "ShadowFamilies":
        """The same pool with the base models as the "unlearned" ones: the ``original`` method
        (no unlearning), the power control of an evaluation."""
        return ShadowFamilies(self.base, self.keep, self.base, self.forget, self.retrain)

    def reference_side(self, reference: str) -> tuple[np.ndarray, np.ndarray]:
        """OUT signals ``[M, N, V]`` and mask ``[M, N]``: models of ``reference`` that never saw x."""
        check_choice("reference", reference, REFERENCES)
        if reference == "retrain":
            if self.retrain is None:
                raise DataError("reference 'retrain' needs exact retrains; use reference 'out' or 'same-method'")
            return self.retrain, ~(self.keep & ~self.forget)
        return (self.base if reference == "out" else self.unlearned), ~self.keep

    def signals(self, reference: str, models) -> UnlearningSignals:
        """U-LiRA's two sides built from the shadows ``models`` (indices or a bool mask)."""
        out, out_mask = self.reference_side(reference)
        return UnlearningSignals(self.unlearned[models], self.forget[models], out[models], out_mask[models])

    def negatives(self, reference: str, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Shadow m's negatives: its retrain on its own ``F_m`` (``retrain``), else its base
        (``out``) or unlearned (``same-method``) model on the examples it never trained on."""
        if reference == "retrain":
            return self.reference_side("retrain")[0][m], self.forget[m]
        return self.reference_side(reference)[0][m], ~self.keep[m]


@dataclass(frozen=True)
class DeepUnlearnMembership:
    """Output of :func:`deep_unlearn_membership`: one case per (model, example) where the model
    unlearned the example.

    ``probability`` float64 ``[n_cases]`` is the protocol's membership probability and is **NaN
    where the protocol is undefined** (a side with zero variance or no models: Deep Unlearn's
    ``norm.pdf`` with scale 0); ``defined`` marks the others and ``n_undefined`` counts them, so
    they are reported, never hidden. ``model`` and ``example`` index the cases.
    """

    probability: np.ndarray
    defined: np.ndarray
    model: np.ndarray
    example: np.ndarray

    @property
    def n_cases(self) -> int:
        return int(self.probability.size)

    @property
    def n_undefined(self) -> int:
        return int((~self.defined).sum())


def deep_unlearn_membership(signals, forgotten, never) -> DeepUnlearnMembership:
    """Deep Unlearn's U-LiRA scoring (``munl/lira/consolidate_predictions.py``), transcribed.

    Per example x: ``mu_f, sd_f`` = ``np.mean`` / ``np.std`` (ddof 0) of the statistic over the
    models that unlearned x (``forgotten``), ``mu_n, sd_n`` over the models that never saw x
    (``never``; in Deep Unlearn the same method's models with x in their test split). Every
    forgotten case z (in-sample: it is part of its own fit) gets
    ``p = N(z; mu_f, sd_f) / (N(z; mu_f, sd_f) + N(z; mu_n, sd_n))``. Deep Unlearn uses the 0/1
    correctness as the statistic and defines no aggregate.

    Args:
        signals: float ``[M, N]`` statistic (e.g. 0/1 correctness) of M models on N examples.
        forgotten, never: bool ``[M, N]``.
    """
    s = np.asarray(signals, np.float64)
    if s.ndim != 2:
        raise DataError(f"Expected `signals` of shape [M, N], got {s.shape}")
    check_finite("signals", s)
    f, n = check_mask("forgotten", forgotten, s.shape), check_mask("never", never, s.shape)
    if (f & n).any():
        raise DataError("Expected `forgotten` and `never` disjoint (a model cannot both unlearn and never see x)")
    mu_f, sd_f = _masked_moments(s, f)
    mu_n, sd_n = _masked_moments(s, n)
    model, example = np.nonzero(f)
    z = s[model, example]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pf = _pdf(z, mu_f[example], sd_f[example])
        pn = _pdf(z, mu_n[example], sd_n[example])
        p = pf / (pf + pn)
    return DeepUnlearnMembership(p, np.isfinite(p), model, example)


def _masked_moments(s: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and population std (``np.std``) over the masked rows; NaN where empty."""
    count = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(mask, s, 0.0).sum(axis=0) / count
        var = np.where(mask, (s - mu) ** 2, 0.0).sum(axis=0) / count
    return mu, np.sqrt(var)


def _pdf(z, mu, sd) -> np.ndarray:
    """Normal density; NaN when ``sd`` is 0 or NaN (scipy's ``norm.pdf`` with scale 0)."""
    sd = np.where(sd > 0, sd, np.nan)
    return np.exp(-0.5 * ((z - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
