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

from muaudit import packaged

RECIPES_DIR = packaged.RECIPES_DIR  # kept for callers; the resolver reads ``packaged.RECIPES_DIR``


def packaged_recipes() -> list[str]:
    """Names of the packaged recipes."""
    return packaged.names("recipe")


def resolve_recipe(recipe) -> Path:
    """``recipe`` as a path: an existing file as given, else the packaged recipe of that name
    (:func:`muaudit.packaged.resolve`); anything else is an error that lists the packaged ones."""
    return packaged.resolve("recipe", recipe)


def is_packaged(recipe: Path) -> bool:
    return packaged.is_packaged("recipe", recipe)


def default_pool_dir(recipe: Path) -> Path:
    """Where a recipe's pool goes by default: ``./shadow_models/NAME/`` for a packaged recipe
    (relative to the current directory), else beside the recipe file (``NAME.toml`` -> ``NAME/``)."""
    recipe = Path(recipe)
    if is_packaged(recipe) and recipe.parent.name != "shadow_models":
        return Path("shadow_models") / recipe.stem
    return recipe.with_suffix("")
