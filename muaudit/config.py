"""One base for hyperparameter configs: unlearning methods and poisoning attacks.

A config is a frozen dataclass whose fields carry the source paper's defaults. Values usually come
from TOML files or ``--set key=value`` options, so construction checks and converts every field
against its annotation and checks its range:

- types: ``bool``, ``int`` (not bool), ``float`` (ints accepted, finite), ``str``,
  ``tuple[X, ...]`` (a non-empty list or tuple, converted to a tuple), ``X | None``;
- ranges: the field names a subclass lists in the class attributes below, then the rule the
  subclass implies from a field's name (:meth:`Config._implied_rule`).

Errors are one line and quote the value as given, ``Expected `lr` > 0, got -1``, of the class ``_error`` (a
:class:`~muaudit.errors.ConfigError`).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Noise(Config):
    ...     scale: float = 1.0
    ...     steps: int = 10
    ...     _positive = ("scale",)
    ...     _counts = ("steps",)
    >>> Noise(scale=2).to_dict()
    {'scale': 2.0, 'steps': 10}
    >>> Noise.from_options({"steps": 3}, owner="noise 'demo'").steps
    3
    >>> Noise(scale=-1)
    Traceback (most recent call last):
    muaudit.errors.ConfigError: Expected `scale` > 0, got -1
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, fields
from typing import Callable, ClassVar

from muaudit.errors import ConfigError

Rule = tuple[str, Callable[[float], bool]]

#: the range rules a subclass assigns by listing field names in the class attribute of that name
RANGE_RULES: dict[str, Rule] = {
    "_unit_interval": ("in [0, 1]", lambda v: 0 <= v <= 1),
    "_open_unit": ("in (0, 1)", lambda v: 0 < v < 1),
    "_positive": ("> 0", lambda v: v > 0),
    "_nonnegative": (">= 0", lambda v: v >= 0),
    "_counts": ("an integer >= 1", lambda v: v >= 1),
}

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Config:
    """Base class: a frozen dataclass of hyperparameters, checked and converted on construction.

    Class attributes (plain attributes, not fields) list field names per range rule:
    ``_unit_interval`` ([0, 1]), ``_open_unit`` ((0, 1)), ``_positive`` (> 0), ``_nonnegative``
    (>= 0) and ``_counts`` (integers >= 1). ``_error`` is the error class raised.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Mix(Config):
        ...     weights: tuple[float, ...] = (0.5, 0.5)
        ...     _unit_interval = ("weights",)
        >>> Mix(weights=[1, 0]).weights
        (1.0, 0.0)
        >>> Mix(weights=[1, 0]).to_dict()
        {'weights': [1.0, 0.0]}
    """

    _unit_interval: ClassVar[tuple[str, ...]] = ()
    _open_unit: ClassVar[tuple[str, ...]] = ()
    _positive: ClassVar[tuple[str, ...]] = ()
    _nonnegative: ClassVar[tuple[str, ...]] = ()
    _counts: ClassVar[tuple[str, ...]] = ()
    _error: ClassVar[type[ConfigError]] = ConfigError

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            raw = getattr(self, f.name)
            object.__setattr__(self, f.name, coerce(f.name, hints[f.name], raw, error=self._error))
            rule = self._rule_for(f.name)
            for v in (raw if isinstance(raw, (list, tuple)) else (raw,)):
                if rule and isinstance(v, (int, float)) and not isinstance(v, bool) and not rule[1](v):
                    raise self._error(f"Expected `{f.name}` {rule[0]}, got {v!r}")

    @classmethod
    def _rule_for(cls, name: str) -> Rule | None:
        listed = [rule for attr, rule in RANGE_RULES.items() if name in getattr(cls, attr)]
        return listed[0] if listed else cls._implied_rule(name)

    @classmethod
    def _implied_rule(cls, name: str) -> Rule | None:
        """The range a field's name implies when no class attribute lists it (none by default)."""
        return None

    @classmethod
    def from_options(cls, overrides: dict | None = None, *, owner: str, defaults: dict | None = None):
        """``cls`` built from ``defaults`` (unknown keys dropped) updated by ``overrides``.

        An unknown key in ``overrides`` raises ``_error``: ``unknown option 'x' for <owner>; valid: ...``.
        """
        valid = [f.name for f in fields(cls)]
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise cls._error(f"unknown option {unknown[0]!r} for {owner}; valid: {', '.join(valid) or 'none'}")
        base = {k: v for k, v in (defaults or {}).items() if k in valid}
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict:
        """Field values as plain JSON-ready values (tuples become lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def coerce(name: str, kind, value, *, error: type[ConfigError] = ConfigError):
    """``value`` checked against the annotation ``kind`` and converted (int -> float, list -> tuple).

    Annotations other than bool, int, float, str, ``tuple[X, ...]`` and ``X | None`` pass unchecked.

    Example:
        >>> coerce("lr", float, 1), coerce("sizes", tuple[int, ...], [1, 2]), coerce("k", int | None, None)
        (1.0, (1, 2), None)
        >>> coerce("epochs", int, 1.5)
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `epochs` an integer, got 1.5
    """
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else coerce(name, args[0], value, error=error)
    if origin is tuple:
        if isinstance(value, (list, tuple)) and value:
            return tuple(coerce(name, typing.get_args(kind)[0], v, error=error) for v in value)
        raise error(f"Expected `{name}` a non-empty list, got {value!r}")
    ok = {bool: isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
          str: isinstance(value, str)}.get(kind, True)
    if not ok:
        raise error(f"Expected `{name}` {_KINDS[kind]}, got {value!r}")
    return float(value) if kind is float else value
