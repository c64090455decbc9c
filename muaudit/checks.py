"""Input checks shared by ``metrics`` and ``attacks``: bad arrays and options become clear errors."""

from __future__ import annotations

import warnings

import numpy as np

from muaudit.errors import ConfigError, DataError


INPUT_LAYOUTS = ("auto", "nchw", "nhwc", "flat")  # --input-layout values (see muaudit.targets.adapter)


class StatisticsWarning(UserWarning):
    """A statistic was computed on degenerate input and fell back to a documented value."""


def warn(message: str) -> None:
    """Emit a :class:`StatisticsWarning` attributed to the caller of the public function."""
    warnings.warn(message, StatisticsWarning, stacklevel=3)


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float if it lies in the open interval (0, 1), else raise ConfigError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Expected `{name}` in (0, 1), got {value!r}") from None
    if not 0.0 < x < 1.0:
        raise ConfigError(f"Expected `{name}` in (0, 1), got {value!r}")
    return x


def check_positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"Expected `{name}` to be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_finite(name: str, array: np.ndarray) -> np.ndarray:
    """Raise DataError naming the first NaN/inf entry of ``array``; return it unchanged otherwise."""
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 else first
        raise DataError(f"`{name}` has a non-finite value {float(array[first])} at index {where}")
    return array


def as_scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate a score vector and binary labels; return ``(float64 [n], bool [n])``.

    ``labels`` may be bool or 0/1 integers (1 = member). Both classes must be present.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        raise DataError(f"Expected `scores` and `labels` of one shape [n], got {s.shape} and {y.shape}")
    check_finite("scores", s)
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise DataError("Expected `labels` to be bool or 0/1 (1 = member)")
        y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise DataError(f"Expected both members and non-members in `labels`, got {n_pos} of {y.size} members")
    return s, y
