"""The default recipes, shipped with the package in ``muaudit/recipes/``: ``digits-mlp``,
``digits-cnn``, ``digits-mlp-ulira``.

A recipe argument is a path to a TOML file, or the bare name of a packaged recipe (``digits-mlp``
or ``digits-mlp.toml``), so that ``muaudit pool build digits-mlp`` and ``muaudit demo`` work from
any directory. The repository's ``shadow_models/*.toml`` are links to these files.

Example:
    >>> resolve_recipe("digits-mlp").name
    'digits-mlp.toml'
    >>> default_pool_dir(resolve_recipe("digits-mlp")).as_posix()
    'shadow_models/digits-mlp'
"""

from __future__ import annotations

from pathlib import Path

from muaudit.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


def packaged_recipes() -> list[str]:
    """Names of the packaged recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def resolve_recipe(recipe) -> Path:
    """``recipe`` as a path: an existing file as given, else the packaged recipe of that name.

    A bare name (no directory part) that is neither a file nor a packaged recipe is an error that
    lists the packaged ones; any other path is returned as given (loading it says it is missing).
    """
    path = Path(recipe)
    if path.is_file() or len(path.parts) != 1:
        return path
    name = path.name[:-5] if path.name.endswith(".toml") else path.name
    if name in packaged_recipes():
        return RECIPES_DIR / f"{name}.toml"
    if path.suffix:
        return path
    raise ConfigError(f"recipe {recipe} does not exist: not a file, and not a packaged recipe "
                      f"({', '.join(packaged_recipes())})")


def is_packaged(recipe: Path) -> bool:
    return Path(recipe).resolve().parent == RECIPES_DIR


def default_pool_dir(recipe: Path) -> Path:
    """Where a recipe's pool goes by default: ``./shadow_models/NAME/`` for a packaged recipe
    (relative to the current directory), else beside the recipe file (``NAME.toml`` -> ``NAME/``)."""
    recipe = Path(recipe)
    if is_packaged(recipe) and recipe.parent.name != "shadow_models":
        return Path("shadow_models") / recipe.stem
    return recipe.with_suffix("")
