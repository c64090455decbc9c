"""Search spaces of the hyperparameter search, one per method, beside the methods' defaults.

A space maps config fields to ranges: ``{"low": a, "high": b, "log": bool}`` (an integer range when
the config field is an ``int``) or ``{"choices": [...]}``. The defaults below follow Deep Unlearn's
search (``munl/hpsearch/suggestor.py``: learning rate on a log scale, a few epochs, the
method-specific knobs) scaled to what a small model can take; every range contains the source
default (see ``docs/methods.md``), so a search can always find the default's neighbourhood.
``docs/benchmark.md`` prints this table. A spec's ``[method.NAME] space = {...}`` replaces it.
"""

from __future__ import annotations

import typing
from dataclasses import fields

from muaudit.errors import ConfigError


def _lr(low: float, high: float) -> dict:
    return {"low": low, "high": high, "log": True}


EPOCHS = {"low": 1, "high": 10}

SEARCH_SPACES: dict[str, dict] = {
    "original": {},
    "retrain": {},
    "ft": {"lr": _lr(1e-4, 0.3), "epochs": EPOCHS},
    "ga": {"lr": _lr(1e-5, 0.1), "epochs": EPOCHS},
    "srl": {"lr": _lr(1e-4, 0.3), "epochs": EPOCHS},
    "ng+": {"lr": _lr(1e-4, 0.1), "epochs": EPOCHS, "alpha": {"low": 0.5, "high": 0.999}},
    "msg": {"lr": _lr(1e-5, 0.1), "epochs": EPOCHS, "init_rate": {"low": 0.05, "high": 0.9}},
    "ct": {"lr": _lr(1e-6, 1e-2), "epochs": {"low": 1, "high": 5}},
    "fcs": {"forget_lr": _lr(1e-5, 1e-2), "retain_lr": _lr(1e-5, 1e-2), "epochs": EPOCHS},
    "cfw": {"lr": _lr(1e-5, 1e-2), "epochs": EPOCHS, "start_std": _lr(1e-3, 1.0)},
    "prmq": {"lr": _lr(1e-5, 1e-2), "epochs": {"low": 0.5, "high": 8.0}, "prune_amount": {"low": 0.1, "high": 0.99}},
    "kde": {"lr": _lr(1e-5, 1e-2), "retain_lr": _lr(1e-5, 1e-2), "epochs": {"low": 1, "high": 5},
            "temperature": {"low": 1.0, "high": 10.0}},
    "rni": {"lr": _lr(1e-5, 1e-2), "noise_ratio": {"low": 0.05, "high": 0.9}, "origin_noise": _lr(1e-3, 0.5)},
    "bt": {"lr": _lr(1e-4, 0.1), "epochs": EPOCHS, "temperature": {"low": 0.5, "high": 5.0}},
    "salun": {"lr": _lr(1e-4, 0.1), "epochs": EPOCHS, "threshold": {"low": 0.1, "high": 0.9}},
    "scrub": {"lr": _lr(1e-5, 1e-2), "epochs": EPOCHS, "msteps": {"low": 1, "high": 5}, "alpha": {"low": 0.0, "high": 2.0}},
    "ff": {"alpha": _lr(1e-4, 1.0)},
    "iu": {"alpha": _lr(1e-4, 1.0)},
    "cf-k": {"k": {"low": 1, "high": 2}, "lr": _lr(1e-4, 0.1), "epochs": EPOCHS},
    "eu-k": {"k": {"low": 1, "high": 2}, "lr": _lr(1e-4, 0.1), "epochs": EPOCHS},
    "gd": {"lr": _lr(1e-4, 0.1), "epochs": EPOCHS},
    "ngd": {"lr": _lr(1e-4, 0.1), "epochs": EPOCHS, "noise_var": _lr(1e-9, 1e-4)},
    "ssd": {"alpha": _lr(0.5, 100.0), "lam": _lr(0.1, 10.0)},
}
"""Default search space per method (``original`` and ``retrain`` are not searched)."""

PARAM_KEYS = ("low", "high", "log", "choices")


def default_space(method: str) -> dict:
    """The default space of ``method`` (``{"lr": _lr(1e-4, 0.1), "epochs": EPOCHS}`` for a plug-in)."""
    if method in SEARCH_SPACES:
        return {k: dict(v) for k, v in SEARCH_SPACES[method].items()}
    return {"lr": _lr(1e-4, 0.1), "epochs": dict(EPOCHS)}


def check_space(method, space, *, explicit: bool) -> None:
    """Validate ``space`` against ``method.Config``; an explicit empty space is an error."""
    name = method.name
    if not isinstance(space, dict):
        raise ConfigError(f"[method.{name}] `space` must be a table of parameter ranges")
    if explicit and not space and name not in ("original", "retrain"):
        raise ConfigError(f"[method.{name}] has an empty search space; give at least one parameter range, "
                          f"or remove `space` to use the default one")
    hints = typing.get_type_hints(method.Config)
    valid = [f.name for f in fields(method.Config)]
    for key, param in space.items():
        if key not in valid:
            raise ConfigError(f"[method.{name}] space: unknown option {key!r}; valid: {', '.join(valid) or 'none'}")
        if not isinstance(param, dict):
            raise ConfigError(f"[method.{name}] space.{key} must be a table (low/high/log or choices)")
        bad = sorted(set(param) - set(PARAM_KEYS))
        if bad:
            raise ConfigError(f"[method.{name}] space.{key}: unknown key {bad[0]!r}; valid: {', '.join(PARAM_KEYS)}")
        _check_param(name, key, param, hints[key])
        _check_values(method, key, param)


def _check_values(method, key: str, p: dict) -> None:
    """Every end of a range (every choice) must be a value the method's config accepts (``epochs``
    <= 100000, ...): checked now, naming the key, not when a trial draws it after models trained."""
    from muaudit.unlearning import make_config

    for end, value in ([("choices", c) for c in p["choices"]] if "choices" in p else
                       [("low", p["low"]), ("high", p["high"])]):
        try:
            make_config(method, {key: value})
        except ConfigError as e:
            raise ConfigError(f"[method.{method.name}] space.{key}.{end} = {value!r}: {e}") from None


def _check_param(method: str, key: str, p: dict, kind) -> None:
    where = f"[method.{method}] space.{key}"
    if "choices" in p:
        if not isinstance(p["choices"], list) or not p["choices"]:
            raise ConfigError(f"{where}: Expected `choices` a non-empty list, got {p['choices']!r}")
        return
    lo, hi = p.get("low"), p.get("high")
    num = (int, float)
    if not (isinstance(lo, num) and isinstance(hi, num)) or isinstance(lo, bool) or isinstance(hi, bool):
        raise ConfigError(f"{where}: Expected numbers `low` and `high`, got {lo!r} and {hi!r}")
    if not lo <= hi:
        raise ConfigError(f"{where}: empty range, Expected `low` <= `high`, got {lo!r} > {hi!r}")
    if p.get("log") and lo <= 0:
        raise ConfigError(f"{where}: a log range needs `low` > 0, got {lo!r}")
    if kind is int and not (float(lo).is_integer() and float(hi).is_integer()):
        raise ConfigError(f"{where}: `{key}` is an integer; Expected integer bounds, got {lo!r} and {hi!r}")


def suggest(trial, method, space: dict) -> dict:
    """Draw one configuration from ``space`` with an Optuna ``trial`` (or a FixedTrial)."""
    hints = typing.get_type_hints(method.Config)
    out = {}
    for key, p in sorted(space.items()):
        if "choices" in p:
            out[key] = trial.suggest_categorical(key, p["choices"])
        elif hints[key] is int:
            out[key] = trial.suggest_int(key, int(p["low"]), int(p["high"]), log=bool(p.get("log", False)))
        else:
            out[key] = trial.suggest_float(key, float(p["low"]), float(p["high"]), log=bool(p.get("log", False)))
    return out


def space_table() -> str:
    """Markdown: every method's default search space (for docs/benchmark.md)."""
    def fmt(p: dict) -> str:
        if "choices" in p:
            return "{" + ", ".join(map(str, p["choices"])) + "}"
        return f"[{p['low']:g}, {p['high']:g}]" + (" log" if p.get("log") else "")

    lines = ["| method | searched (range) |", "|---|---|"]
    for name, space in SEARCH_SPACES.items():
        text = ", ".join(f"`{k}` {fmt(p)}" for k, p in space.items()) or "not searched"
        lines.append(f"| `{name}` | {text} |")
    return "\n".join(lines)
