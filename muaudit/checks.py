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
    if not 0.0 < x < 1.0:  # NaN fails this too
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


def as_labels_scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary labels and a score vector, in scikit-learn's order; return ``(bool [n], float64 [n])``.

    ``y_true`` may be bool or 0/1 integers (1 = member). Both classes must be present. Arguments in
    the other order (scores first) are named as such in the error.

    Example:
        >>> as_labels_scores([0, 1], [0.2, 0.9])
        (array([False,  True]), array([0.2, 0.9]))
        >>> as_labels_scores([0.2, 0.9], [0, 1])
        Traceback (most recent call last):
        muaudit.errors.DataError: Expected `y_true` to be bool or 0/1 (1 = member); labels come first, then scores: (y_true, y_score) as in scikit-learn
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim != 1 or y.shape != s.shape:
        raise DataError(f"Expected `y_true` and `y_score` of one shape [n], got {y.shape} and {s.shape}")
    check_finite("y_score", s)
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            swapped = np.asarray(y_score).dtype == np.bool_ or np.isin(s, (0, 1)).all()
            hint = "; labels come first, then scores: (y_true, y_score) as in scikit-learn" if swapped else ""
            raise DataError(f"Expected `y_true` to be bool or 0/1 (1 = member){hint}")
        y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise DataError(f"Expected both members and non-members in `y_true`, got {n_pos} of {y.size} members")
    return y, s


def as_signals_3d(name: str, x) -> np.ndarray:
    """Signals of shape ``[M, N, V]`` (``[M, N]`` gains a view axis) as finite float64, else DataError.

    Example:
        >>> as_signals_3d("signals", np.zeros((2, 5))).shape
        (2, 5, 1)
    """
    a = np.asarray(x, dtype=np.float64)
    a = a[..., None] if a.ndim == 2 else a
    if a.ndim != 3:
        raise DataError(f"Expected `{name}` of shape [M, N, V] or [M, N], got {np.shape(x)}")
    return check_finite(name, a)


def check_mask(name: str, mask, shape: tuple) -> np.ndarray:
    """A bool array of exactly ``shape`` (no 0/1 integers: a mask is never an index), else DataError.

    Example:
        >>> check_mask("keep", np.ones((2, 3), bool), (2, 3)).shape
        (2, 3)
    """
    m = np.asarray(mask)
    if m.dtype != np.bool_ or m.shape != shape:
        raise DataError(f"Expected bool `{name}` of shape {shape}, got {m.dtype} {m.shape}")
    return m


def check_indices(name: str, idx, n: int, *, allow_empty: bool = False) -> np.ndarray:
    """Row indices into ``n`` examples: 1-D integers in ``[0, n)``, no duplicates, as int64; else DataError.

    Example:
        >>> check_indices("forget", [3, 0], 5)
        array([3, 0])
    """
    a = np.asarray([] if idx is None else idx)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise DataError(f"Expected `{name}` to be a 1-D integer index array, got {a.dtype} {a.shape}")
    a = a.astype(np.int64)
    if a.size == 0 and not allow_empty:
        raise DataError(f"Expected a non-empty `{name}` index array")
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        raise DataError(f"Expected `{name}` indices in [0, {n}), got {a[bad[0]]} at position {bad[0]}")
    uniq, counts = np.unique(a, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"Expected unique `{name}` indices, got {uniq[counts > 1][0]} twice")
    return a


def check_disjoint(**sets: np.ndarray) -> None:
    """Raise DataError naming two of the index ``sets`` that share an index (and the index).

    Example:
        >>> check_disjoint(forget=np.array([1, 2]), nonmembers=np.array([2]))
        Traceback (most recent call last):
        muaudit.errors.DataError: Expected `forget` and `nonmembers` to be disjoint, both contain index 2
    """
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = np.intersect1d(sets[a], sets[b])
            if common.size:
                raise DataError(f"Expected `{a}` and `{b}` to be disjoint, both contain index {common[0]}")


def renamed_keyword(owner: str, old: str, old_value, new: str, new_value, default=None):
    """The value of a keyword renamed from ``old`` to ``new``: ``new_value``, or ``old_value`` with a
    DeprecationWarning when only the old keyword was given (kept for one release); both is a ConfigError.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     renamed_keyword("run_unlearning", "seed", 3, "random_state", 0, default=0)
        3
        >>> str(caught[0].message)
        'run_unlearning: `seed` is deprecated; use `random_state` (the old name goes in the next release)'
    """
    if old_value is None:
        return new_value
    if new_value is not default and new_value != default:
        raise ConfigError(f"{owner}: give `{new}` only (`{old}` is its deprecated name)")
    warnings.warn(f"{owner}: `{old}` is deprecated; use `{new}` (the old name goes in the next release)",
                  DeprecationWarning, stacklevel=3)
    return old_value


def check_keys(where: str, got, valid) -> None:
    """Raise ConfigError naming the first key of ``got`` not in ``valid`` and the valid ones.

    Example:
        >>> check_keys("[ulira]", {"method": 1, "seeed": 2}, ("method", "seeds"))
        Traceback (most recent call last):
        muaudit.errors.ConfigError: unknown [ulira] key 'seeed'; valid: method, seeds
    """
    bad = sorted(set(got) - set(valid))
    if bad:
        raise ConfigError(f"unknown {where} key {bad[0]!r}; valid: {', '.join(valid)}")


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes (None where the OS does not tell)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def check_fits_memory(what: str, nbytes: int, error=DataError) -> None:
    """Raise ``error`` when allocating ``nbytes`` for ``what`` could not fit this machine's memory
    (checked before allocating, so a hostile header is an error, not a MemoryError)."""
    total = machine_memory()
    if total is not None and nbytes > total:
        raise error(f"{what} would need {nbytes / 2**30:.3g} GiB, more than this machine's "
                    f"{total / 2**30:.3g} GiB of memory")


SEED_LIMIT = 2**32  # numpy and torch seeds: 0 <= seed < 2**32


def check_int_range(name: str, value, lo: int, hi: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool or float) in ``[lo, hi]``, else ConfigError."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and lo <= value and (hi is None or value <= hi)
    if not ok:
        where = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ConfigError(f"Expected `{name}` {where}, got {value!r}")
    return int(value)


def check_seed(name: str, value) -> int:
    """A random seed: an integer with 0 <= seed < 2**32."""
    return check_int_range(name, value, 0, SEED_LIMIT - 1)


def check_threads(name: str, value) -> int:
    """Threads or worker processes: an integer in ``[1, cores x 4]`` (:func:`muaudit.threads.max_threads`:
    this machine's CPU cores times :data:`muaudit.threads.THREADS_PER_CORE`), else ConfigError.
    Huge values (``10**19``) are this error too, never an ``OverflowError``."""
    from muaudit.threads import bound_threads

    return bound_threads(name, check_positive_int(name, value))


def check_count(name: str, value, hi: int, lo: int = 1) -> int:
    """A count with an upper bound (trials, seeds, targets): an integer in ``[lo, hi]``, else
    ConfigError naming ``name`` (e.g. ``[search] trials``)."""
    return check_int_range(name, value, lo, hi)


MAX_SEEDS = 1000  # --seeds of poison, a benchmark spec's seeds: each seed trains several models
MAX_TRIALS = 100_000  # Optuna trials per study (benchmark --trials, [search] trials)
MAX_CPUS_PER_TASK = 1024  # --cpus-per-model: no machine a task runs on has more
MAX_GPUS_PER_TASK = 64


def check_number_range(name: str, value, lo: float, hi: float, *, open_low: bool = True) -> float:
    """A finite number in ``(lo, hi]`` (``[lo, hi]`` with ``open_low=False``), else ConfigError
    (NaN, inf and huge values too): ``--cpus-per-model``, ``--gpus-per-model``."""
    import math

    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    x = float(value) if ok else math.nan
    if not (math.isfinite(x) and (lo < x if open_low else lo <= x) and x <= hi):
        raise ConfigError(f"Expected `{name}` a number in {'(' if open_low else '['}{lo:g}, {hi:g}], got {value!r}")
    return x
