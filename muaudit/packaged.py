"""Files shipped inside the package, found by name: pool recipes (``muaudit/recipes/*.toml``) and
benchmark specs (``muaudit/specs/*.toml``). One resolver for both, used by every command that
takes a RECIPE or SPEC argument and by the ``recipe`` field of a benchmark spec, so that the
README's commands work from an empty folder after ``pip install``.

A value is an existing file (relative to ``base`` first, when given, then to the current folder),
or the bare name of a packaged file (``digits-mlp`` or ``digits-mlp.toml``). Anything else is one
error that lists the packaged names.

Example:
    >>> resolve("recipe", "digits-mlp").name, resolve("spec", "digits-small.toml").name
    ('digits-mlp.toml', 'digits-small.toml')
    >>> names("spec")
    ['digits-competition', 'digits-deepunlearn', 'digits-small', 'digits-ulira']
    >>> resolve("recipe", "shadow_models/nope.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    muaudit.errors.ConfigError: recipe shadow_models/nope.toml does not exist: not a file, and not a packaged recipe (..., digits-mlp, ...)
"""

from __future__ import annotations

from pathlib import Path

from muaudit.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent
RECIPES_DIR = PACKAGE / "recipes"
SPECS_DIR = PACKAGE / "specs"
_WHAT = {"recipe": "recipe", "spec": "benchmark spec"}


def folder(kind: str) -> Path:
    """The package folder of ``kind`` (``recipe`` or ``spec``); read at call time so tests can swap it."""
    if kind not in _WHAT:
        raise ValueError(f"kind must be one of {sorted(_WHAT)}, got {kind!r}")
    return RECIPES_DIR if kind == "recipe" else SPECS_DIR


def names(kind: str) -> list[str]:
    """The packaged names of ``kind``, sorted."""
    return sorted(p.stem for p in folder(kind).glob("*.toml"))


def resolve(kind: str, value, base: Path | None = None) -> Path:
    """``value`` as the path of an existing file, or of the packaged file of that name."""
    what = _WHAT.get(kind) or folder(kind)
    if value is None or (isinstance(value, str) and not value) or not isinstance(value, (str, Path)):
        raise ConfigError(f"Expected a {what} path or packaged name, got {value!r}")
    path = Path(value)
    for cand in ([Path(base) / path] if base is not None and not path.is_absolute() else []) + [path]:
        if cand.is_file():
            return cand
    if len(path.parts) == 1:
        stem = path.name[:-5] if path.name.endswith(".toml") else path.name
        if stem in names(kind):
            return folder(kind) / f"{stem}.toml"
    raise ConfigError(f"{what} {value} does not exist: not a file, and not a packaged {what} "
                      f"({', '.join(names(kind)) or 'none'})")


def is_packaged(kind: str, path) -> bool:
    """Whether ``path`` is one of the packaged files of ``kind``."""
    return Path(path).resolve().parent == folder(kind).resolve()
