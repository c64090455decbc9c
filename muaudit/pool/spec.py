"""Pool recipes: ``shadow_models/NAME.toml`` parsed into a validated, frozen :class:`PoolSpec`.

```toml
[dataset]            # name + loader options (e.g. path = "~/data/mnist")
name = "digits"
[model]              # arch + its keyword options
arch = "mlp"
hidden = [512]
[train]              # TrainRecipe keys
optimizer = "adam"
lr = 1e-3
[pool]               # pool keys, see PoolSpec
n_models = 64
[[unlearn]]          # optional, repeatable: unlearned shadows (see muaudit.pool.entries)
method = "ga"
```
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from muaudit.checks import SEED_LIMIT
from muaudit.errors import ConfigError
from muaudit.training.recipe import TrainRecipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("dataset", "model", "train", "pool", "sisa")
LIST_SECTIONS = ("unlearn",)
POPULATIONS = ("all", "train")
MAX_MODELS = 2**16  # more shadow models than this is a typo (the keep matrix alone would not fit)


def parse_scalar(text: str):
    """Read ``text`` as a TOML value (``1e-3``, ``true``, ``[1, 2]``, ``"s"``); else as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@dataclass(frozen=True)
class PoolSpec:
    """A resolved pool recipe.

    Attributes:
        name: pool name (the recipe file's stem).
        dataset: ``{"name": ..., **loader options}``.
        model: ``{"arch": ..., **architecture options}``.
        train: the :class:`TrainRecipe` of every shadow model.
        n_models: number of shadow models M (even, >= 2).
        seed: seed of the keep matrix and of the per-model seeds.
        views: the query views every example is evaluated on: ``1`` (identity), ``2`` (adds a
            horizontal flip) or a list of names such as ``["identity", "shift:1,0", "flip"]``
            (:mod:`muaudit.training.views`); :attr:`view_names` lists them.
        engine: ``"auto"`` (measure and pick), ``"sequential"`` or ``"ensemble"``.
        ensemble_size: models per batched-ensemble chunk.
        population: ``"all"`` (train and test splits, default) or ``"train"``.
        save_weights: also keep every shadow's muaudit checkpoint in ``weights/`` (always done
            when there are ``unlearn`` entries: adding a method later reuses the weights).
        unlearn: the ``[[unlearn]]`` entries (:class:`~muaudit.pool.entries.UnlearnEntry`). They
            are not part of :meth:`to_dict` / :meth:`to_json` (the base recipe): each is stored
            with its own group, so entries can be added to a built pool.
        sisa: the ``[sisa]`` section (:class:`~muaudit.sisa.config.SisaConfig`: ``shards``,
            ``slices``, ``aggregation``) or None; with it every shadow is a SISA model
            (:mod:`muaudit.sisa`), and the section is part of the stored recipe.
    """

    name: str
    dataset: dict
    model: dict
    train: TrainRecipe = field(default_factory=TrainRecipe)
    n_models: int = 64
    seed: int = 0
    views: int | tuple = 1
    engine: str = "auto"
    ensemble_size: int = 16
    population: str = "all"
    save_weights: bool = False
    unlearn: tuple = ()
    sisa: object = None

    def __post_init__(self):
        from muaudit.training.recipe import ENGINES

        checks = [
            (_int(self.n_models) and 2 <= self.n_models <= MAX_MODELS and self.n_models % 2 == 0,
             f"`n_models` an even integer in [2, {MAX_MODELS}]", self.n_models),
            (_int(self.seed) and 0 <= self.seed < SEED_LIMIT, "`seed` an integer in [0, 2**32)", self.seed),
            (self.engine in ENGINES, f"`engine` in {ENGINES}", self.engine),
            (_int(self.ensemble_size) and 1 <= self.ensemble_size <= MAX_MODELS, f"`ensemble_size` an integer in [1, {MAX_MODELS}]", self.ensemble_size),
            (self.population in POPULATIONS, f"`population` in {POPULATIONS}", self.population),
            (isinstance(self.save_weights, bool), "`save_weights` true or false", self.save_weights),
            (isinstance(self.dataset.get("name"), str), "[dataset] `name` a string", self.dataset.get("name")),
            (isinstance(self.model.get("arch"), str), "[model] `arch` a string", self.model.get("arch")),
        ]
        for ok, expected, got in checks:
            if not ok:
                raise ConfigError(f"Expected {expected}, got {got!r}")
        from muaudit.models.options import check_arch_options
        from muaudit.training.views import resolve_views

        if isinstance(self.views, list):
            object.__setattr__(self, "views", tuple(self.views))
        resolve_views(self.views)
        check_arch_options(self.model["arch"], self.arch_kwargs)
        if self.unlearn:  # a [sisa] recipe takes method = "sisa" entries only (muaudit.sisa)
            from muaudit.sisa.config import check_entries

            check_entries(self.sisa, self.unlearn)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, *, name: str = "pool") -> "PoolSpec":
        unknown = sorted(set(d) - set(SECTIONS) - set(LIST_SECTIONS) - {"name"})
        if unknown:
            raise ConfigError(f"unknown recipe section {unknown[0]!r}; valid: {', '.join(SECTIONS + LIST_SECTIONS)}")
        for sec in SECTIONS:
            if not isinstance(d.get(sec, {}), dict):
                raise ConfigError(f"recipe section [{sec}] must be a table")
        pool = dict(d.get("pool", {}))
        valid = [f.name for f in fields(cls) if f.name not in ("name", "dataset", "model", "train", "unlearn", "sisa")]
        bad = sorted(set(pool) - set(valid))
        if bad:
            raise ConfigError(f"unknown pool key {bad[0]!r}; valid: {', '.join(valid)}")
        train = TrainRecipe.from_dict(dict(d.get("train", {})))
        from muaudit.pool.entries import parse_entries

        from muaudit.paths import safe_name

        return cls(name=safe_name(d.get("name", name), "recipe `name`"), dataset=dict(d.get("dataset", {"name": "digits"})),
                   model=dict(d.get("model", {"arch": "mlp"})), train=train,
                   unlearn=parse_entries(d.get("unlearn"), recipe=train), sisa=_sisa(d), **pool)

    def to_dict(self) -> dict:
        """The base recipe (without ``unlearn``), as stored in the pool's ``spec`` attribute."""
        d = asdict(self)
        d["train"] = self.train.to_dict()  # leaves out later keys at their defaults (old digests hold)
        d.pop("unlearn")
        if d["sisa"] is None:  # recipes without [sisa] keep the spec (and digest) they always had
            d.pop("sisa")
        pool = {k: d.pop(k) for k in list(d) if k not in ("name",) + SECTIONS}
        return {**d, "pool": pool}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def with_overrides(self, **kw) -> "PoolSpec":
        return replace(self, **kw)

    # -- what the recipe describes --------------------------------------------------------------
    def population_rows(self, dataset) -> np.ndarray:
        """The dataset rows the pool's shadows draw from (its ``population``), in order."""
        return np.arange(dataset.n_samples) if self.population == "all" else dataset.train_idx

    def load_dataset(self, *, defer_inputs: bool = False):
        """The recipe's dataset (``defer_inputs``: see :func:`muaudit.data.load_dataset`)."""
        from muaudit.data import load_dataset

        opts = {k: v for k, v in self.dataset.items() if k != "name"}
        return load_dataset(self.dataset["name"], defer_inputs=defer_inputs, **opts)

    @property
    def view_names(self) -> list[str]:
        """The names of the query views (``views = 1`` -> ``["identity"]``)."""
        from muaudit.training.views import view_names

        return view_names(self.views)

    @property
    def arch_kwargs(self) -> dict:
        return {k: v for k, v in self.model.items() if k != "arch"}

    def make_model(self, random_state: int, input_shape, n_classes: int):
        from muaudit.models import build_model

        if self.sisa is not None:  # the aggregate of S shard models (muaudit.sisa)
            from muaudit.sisa.target import sisa_model

            return sisa_model(self, random_state, input_shape, n_classes)
        return build_model(self.model["arch"], input_shape, n_classes, random_state=random_state, **self.arch_kwargs)


def load_spec(path, *, arch: str | None = None) -> PoolSpec:
    """Read and validate a recipe TOML file (unknown keys are errors that list the valid ones).

    A recipe is a file, possibly someone else's: when its ``[model] arch`` is a user factory
    ``package.module:function``, the caller must name the same factory in ``arch`` (``--arch``)
    to have it imported (:func:`muaudit.models.factory.allowed_arch`). A given ``arch`` must
    equal the recipe's.
    """
    from muaudit.paths import existing_file
    from muaudit.models.factory import allowed_arch

    p = existing_file(path, "recipe", ConfigError)
    if p.suffix != ".toml":
        raise ConfigError(f"recipe {p} is not a .toml file; recipes are TOML files named NAME.toml")
    try:
        raw = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe {p} is not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"recipe {p} cannot be read ({e.strerror or e})") from None
    try:
        spec = PoolSpec.from_dict(raw, name=_name(p))
    except TypeError as e:
        raise ConfigError(f"recipe {p}: {e}") from None
    if arch is not None and arch != spec.model["arch"]:
        raise ConfigError(f"--arch {arch} differs from the [model] arch {spec.model['arch']!r} of recipe {p}; "
                          "edit the recipe instead")
    allowed_arch(spec.model["arch"], source=f"recipe {p}", trusted=arch)
    return spec


def _name(p: Path) -> str:
    """The pool name a recipe file gives: its stem, which must be usable as a file name."""
    name = p.stem
    if not name or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"recipe file name {p.name!r} does not give a usable pool name; "
                          "use letters, digits, '-', '_' and '.' (e.g. digits-mlp.toml)")
    return name


def _sisa(d: dict):
    """The ``[sisa]`` section as a :class:`~muaudit.sisa.config.SisaConfig` (None without one)."""
    if d.get("sisa") is None:
        return None
    from muaudit.sisa.config import SisaConfig

    return SisaConfig.from_section(d["sisa"])


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
