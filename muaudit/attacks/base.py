"""The attack interface: :class:`ReferenceSignals`, the :class:`Attack` protocol and ``ATTACKS``.

An attack is configured by one frozen dataclass, fitted on a reference (its class's ``Reference``:
shadow signals for the shadow attacks), then scores a target's signals on the same N examples:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> keep = rng.random((8, 50)).argsort(axis=0) < 4
    >>> ref = ReferenceSignals(rng.normal(size=(8, 50, 1)) + 2 * keep[..., None], keep)
    >>> attack = make_attack("lira", mode="offline").fit(ref)
    >>> attack.score(rng.normal(size=(50, 1))).shape    # higher = member
    (50,)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from muaudit.errors import ConfigError, DataError
from muaudit.checks import check_finite
from muaudit.registry import Registry, check_kwargs

ATTACKS: Registry = Registry("attack")
STATISTICS = ("phi", "probability")


@dataclass(frozen=True)
class ReferenceSignals:
    """Shadow-model signals: ``signals`` float ``[M, N, V]`` (or ``[M, N]``), ``keep`` bool ``[M, N]``.

    ``keep[m, n]`` is True when shadow m trained on example n. ``statistic`` names what the signals
    are: ``"phi"`` (the logit-scaled confidence, the default) or ``"probability"`` (``p(y|x)``).
    Arrays are validated and stored as float64 ``[M, N, V]`` and bool ``[M, N]``.

    Example:
        >>> ref = ReferenceSignals(np.zeros((4, 10)), np.zeros((4, 10), bool))
        >>> ref.n_models, ref.n_samples, ref.n_views, ref.signals.shape
        (4, 10, 1, (4, 10, 1))
        >>> ref.subset([0, 1]).n_models
        2
    """

    signals: np.ndarray
    keep: np.ndarray
    statistic: str = "phi"

    def __post_init__(self):
        x = np.asarray(self.signals, dtype=np.float64)
        x = x[..., None] if x.ndim == 2 else x
        keep = np.asarray(self.keep)
        if x.ndim != 3 or x.shape[0] < 1:
            raise DataError(f"Expected shadow `signals` of shape [M, N, V] with M >= 1, got {np.shape(self.signals)}")
        if keep.dtype != np.bool_ or keep.shape != x.shape[:2]:
            raise DataError(f"Expected bool `keep` of shape {x.shape[:2]}, got {keep.dtype} {keep.shape}")
        if self.statistic not in STATISTICS:
            raise ConfigError(f"Expected `statistic` in {STATISTICS}, got {self.statistic!r}")
        check_finite("signals", x)
        object.__setattr__(self, "signals", x)
        object.__setattr__(self, "keep", keep)

    @property
    def n_models(self) -> int:
        return self.signals.shape[0]

    @property
    def n_samples(self) -> int:
        return self.signals.shape[1]

    @property
    def n_views(self) -> int:
        return self.signals.shape[2]

    def subset(self, models) -> "ReferenceSignals":
        """The reference made of the shadows ``models`` (indices or a bool mask)."""
        return ReferenceSignals(self.signals[models], self.keep[models], self.statistic)


@runtime_checkable
class Attack(Protocol):
    """A membership attack: ``fit(reference)``, then ``score(target)``; higher = member.

    One shape for every registered attack. ``Reference`` is the class of what ``fit`` takes, and
    it names the attack's **family** (each family has one auditor, :mod:`muaudit.audit.families`):
    :class:`ReferenceSignals` (shadow attacks: LiRA, RMIA, LOSS, label-only),
    :class:`~muaudit.attacks.ulira.UnlearningSignals` (U-LiRA) or
    :class:`~muaudit.attacks.qmia.NonMemberSignals` (QMIA). ``score(target)`` takes the target
    model's signals ``[N, V]`` (or ``[N]``) on the reference's N examples and returns float64
    ``[N]``. ``signal`` names the per-example signal both read: ``"phi"`` (the logit-scaled
    confidence) or ``"correct"`` (0/1 correctness of the label, label-only).

    Example:
        >>> from muaudit.attacks import LiRA
        >>> isinstance(LiRA(), Attack), LiRA.Reference.__name__, LiRA.signal
        (True, 'ReferenceSignals', 'phi')
    """

    name: ClassVar[str]
    Reference: ClassVar[type]
    signal: ClassVar[str]
    config: Any

    def fit(self, reference) -> "Attack": ...

    def score(self, target: np.ndarray) -> np.ndarray: ...


class AttackBase:
    """Shared constructor: ``Cls(config=Config(...))`` or ``Cls(**options)``; stores arguments only.

    Example:
        >>> from muaudit.attacks import LiRA, LiRAConfig
        >>> LiRA(mode="offline").config == LiRA(config=LiRAConfig(mode="offline")).config
        True
        >>> LiRA(mode="offline")
        LiRA(mode='offline', center='median', variance='auto', fixed_below=64)
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    Reference: ClassVar[type] = ReferenceSignals
    signal: ClassVar[str] = "phi"

    def __init__(self, *, config=None, **options):
        if config is None:
            check_kwargs("attack", self.name, self.Config, options)
            config = self.Config(**options)
        elif options or not isinstance(config, self.Config):
            raise ConfigError(f"Expected either `config` (a {self.Config.__name__}) or options for attack {self.name!r}")
        self.config = config

    def clone(self) -> "AttackBase":
        """An unfitted copy with the same configuration."""
        return type(self)(config=self.config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in asdict(self.config).items())
        return f"{type(self).__name__}({args})"

    def _check_reference(self, reference) -> None:
        """Raise DataError unless ``reference`` is this attack's ``Reference``."""
        if not isinstance(reference, self.Reference):
            raise DataError(f"{type(self).__name__}.fit expects {self.Reference.__name__}, "
                            f"got {type(reference).__name__}")

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise ConfigError(f"{type(self).__name__} is not fitted; call fit(reference) first")

    def _target(self, target, n_samples: int, n_views: int) -> np.ndarray:
        """Validate a target signal ``[N, V]`` (or ``[N]``) against the fitted reference."""
        t = np.asarray(target, dtype=np.float64)
        t = t[:, None] if t.ndim == 1 else t
        if t.shape != (n_samples, n_views):
            raise DataError(f"Expected target signals of shape {(n_samples, n_views)}, got {np.shape(target)}")
        return check_finite("target", t)


def check_choice(name: str, value, choices) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``.

    Example:
        >>> check_choice("mode", "online", ("online", "offline"))
        >>> check_choice("mode", "both", ("online", "offline"))
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `mode` in ('online', 'offline'), got 'both'
    """
    if value not in choices:
        raise ConfigError(f"Expected `{name}` in {tuple(choices)}, got {value!r}")


def attack_class(name: str) -> type:
    """The registered attack class of ``name`` (every built-in attack registered first).

    Example:
        >>> attack_class("qmia").Reference.__name__, attack_class("label-only").signal
        ('NonMemberSignals', 'correct')
    """
    import muaudit.attacks.lira  # noqa: F401  (registers the attacks)
    import muaudit.attacks.labelonly  # noqa: F401
    import muaudit.attacks.population  # noqa: F401
    import muaudit.attacks.qmia  # noqa: F401
    import muaudit.attacks.rmia  # noqa: F401
    import muaudit.attacks.ulira  # noqa: F401

    return ATTACKS.get(name)


def make_attack(attack, **options) -> Attack:
    """An unfitted attack from a registered name (``"lira"``, ``"rmia"``, ``"loss"``, ``"label-only"``,
    ``"ulira"``, ``"qmia"``) and its options.

    An :class:`Attack` instance is returned as an unfitted clone (options then are not allowed).

    Example:
        >>> make_attack("lira", mode="offline")
        LiRA(mode='offline', center='median', variance='auto', fixed_below=64)
        >>> make_attack("rmia").name, make_attack("ulira").name
        ('rmia', 'ulira')
    """
    if isinstance(attack, str):
        return attack_class(attack)(**options)
    if options:
        raise ConfigError("Expected options only with an attack name, not with an attack instance")
    return attack.clone() if hasattr(attack, "clone") else attack
