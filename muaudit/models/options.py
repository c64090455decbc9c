"""The built-in architectures' options and their checks, without torch: a recipe (a pool's too, when
an audit opens it) is validated where it is parsed, and an audit of logits never loads torch.

:data:`OPTION_CHECKS` maps every built-in architecture (:mod:`muaudit.models.archs`,
:mod:`muaudit.models.cifar`) to its options, in its signature's order, each with its check
(a test holds them equal to the builders' signatures).
"""

from __future__ import annotations

from muaudit.errors import ConfigError

MAX_WIDTH = 2**16  # widths and channel counts beyond this are typos, not models


def is_factory(arch) -> bool:
    """True when ``arch`` names code to import (``package.module:function``), not a built-in name."""
    return ":" in str(arch)


def widths(name: str, value, *, allow_empty: bool = True) -> tuple[int, ...]:
    """``value`` as a tuple of layer widths: a list of integers in [1, MAX_WIDTH], else ConfigError.

    A string is refused rather than read character by character (``"512"`` is not ``[5, 1, 2]``).
    """
    ok = isinstance(value, (list, tuple)) and (allow_empty or len(value) > 0) and all(
        isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in value)
    if not ok:
        raise ConfigError(f"Expected `{name}` a list of integers in [1, {MAX_WIDTH}], got {value!r}")
    return tuple(value)


def width(name: str, value) -> int:
    """One layer width: an integer in [1, MAX_WIDTH], else ConfigError."""
    if isinstance(value, (list, tuple)):
        raise ConfigError(f"Expected `{name}` an integer in [1, {MAX_WIDTH}], got {value!r}")
    try:
        return widths(name, [value])[0]
    except ConfigError:
        raise ConfigError(f"Expected `{name}` an integer in [1, {MAX_WIDTH}], got {value!r}") from None


def check_stem(name: str, value) -> str:
    if value not in ("cifar", "imagenet"):
        raise ConfigError(f"Expected `{name}` 'cifar' or 'imagenet', got {value!r}")
    return value


def nonempty_widths(name: str, value) -> tuple[int, ...]:
    """:func:`widths`, at least one (cnn's ``channels``, fastnet's ``widths``)."""
    return widths(name, value, allow_empty=False)


def stats(name: str, value, channels: int | None = None) -> list[float] | None:
    """``mean`` / ``std``: None, or a list of finite numbers (positive for ``std``), one per channel."""
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e6 and (name != "std" or v > 0)
        for v in value)
    if not ok or (channels is not None and len(value) != channels):
        n = "one per input channel" if channels is None else f"{channels}"
        raise ConfigError(f"Expected `{name}` a list of {n} numbers{' > 0' if name == 'std' else ''}, got {value!r}")
    return [float(v) for v in value]


def check_depth(name: str, value) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 10 <= value <= 1000 and (value - 4) % 6 == 0):
        raise ConfigError(f"Expected `{name}` an integer 6n + 4 in [10, 1000] (e.g. 16, 28), got {value!r}")
    return value


def check_wrn_width(name: str, value) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64):
        raise ConfigError(f"Expected `{name}` an integer in [1, 64], got {value!r}")
    return value


def check_scale(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1e3):
        raise ConfigError(f"Expected `{name}` a number in (0, 1000], got {value!r}")
    return float(value)


# option -> check, per built-in architecture, in the order of its builder's options
OPTION_CHECKS = {"mlp": {"hidden": widths}, "cnn": {"channels": nonempty_widths, "hidden": width},
                 "resnet18": {"stem": check_stem, "mean": stats, "std": stats},
                 "wrn": {"depth": check_depth, "width": check_wrn_width, "mean": stats, "std": stats},
                 "fastnet": {"widths": nonempty_widths, "scale": check_scale, "mean": stats, "std": stats}}


def check_arch_options(arch: str, kwargs: dict) -> None:
    """Validate an architecture's option names and values without building it (a recipe is checked
    where it is parsed). A user factory's options are checked when it is built; an architecture
    registered by other code than muaudit's is checked against its builder's signature (torch)."""
    if is_factory(arch):
        return
    checks = OPTION_CHECKS.get(str(arch).lower())
    if checks is None:
        from muaudit.models.factory import check_registered_options

        return check_registered_options(arch, kwargs)
    unknown = sorted(set(kwargs) - set(checks))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for architecture {arch!r}; valid: {', '.join(checks)}")
    for key, check in checks.items():
        if key in kwargs:
            check(key, kwargs[key])
