"""Benchmark specs: a TOML file parsed into a validated, frozen :class:`BenchmarkSpec`.

```toml
name = "digits-small"
recipe = "digits-mlp"            # a pool recipe path, or the name of one under shadow_models/
methods = ["retrain", "ft", "ga"]  # or "all" (every registered method)
seeds = [0, 1]                   # one original (and one reference retrain) per seed
metrics = ["accuracy", "mia", "rte"]

[search]
trials = 2                       # Optuna trials per (method, forget setting)
seeds = 1                        # the first N seeds are searched; the chosen config runs on all
sampler_seed = 0
population = 4                   # NSGA-III generation size (default max(4, trials // 4))

[ulira]                          # optional, with "ulira" in metrics: see muaudit.benchmark.ulira_phase
pool = "digits-mlp"

[[forget]]                       # repeatable
name = "random10"
kind = "random"                  # "random" (fraction of the training split) or "class"
fraction = 0.1

[[forget]]
name = "class3"
kind = "class"
classes = [3]                    # every training example of these classes

[method.ft]                      # optional, per method
fixed = { batch_size = 128 }     # settings held fixed (not searched)
space = { lr = { low = 1e-4, high = 0.1, log = true }, epochs = { low = 1, high = 10 } }
```

Unknown keys are errors that list the valid ones (as in pool recipes); every check happens here,
before anything is trained.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from muaudit.checks import MAX_SEEDS, MAX_TRIALS, check_count, check_int_range, check_keys, check_seed
from muaudit.errors import ConfigError
from muaudit.paths import safe_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = ("name", "recipe", "methods", "seeds", "metrics", "search", "forget", "method", "ulira", "competition")
SEARCH_KEYS = ("trials", "seeds", "sampler_seed", "population")
FORGET_KEYS = ("name", "kind", "fraction", "classes")
METHOD_KEYS = ("fixed", "space")
METRICS = ("accuracy", "mia", "rte", "ulira", "competition")
DEFAULT_METRICS = ("accuracy", "mia", "rte")  # + "ulira" when there is a [ulira] table; "competition" costs K models per side
FORGET_KINDS = ("random", "class")
PSEUDO_METHODS = ("original", "retrain")
MIN_FORGET = 10  # examples a forget setting must select (and leave retained): the population MIA splits them


@dataclass(frozen=True)
class ForgetSetting:
    """One forget set: ``kind="random"`` draws ``fraction`` of the training split per seed;
    ``kind="class"`` forgets every training example of ``classes``."""

    name: str
    kind: str = "random"
    fraction: float = 0.1
    classes: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "fraction": self.fraction, "classes": list(self.classes)}


@dataclass(frozen=True)
class MethodPlan:
    """A method of the study: ``fixed`` settings and its search ``space`` (``{}`` = no search)."""

    name: str
    fixed: dict = field(default_factory=dict)
    space: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkSpec:
    """A resolved benchmark spec (see the module docstring for the file format).

    Attributes:
        recipe: path of the pool recipe of the originals (its ``[train]`` recipe trains every
            original and every reference retrain).
        search_seeds: the first ``search_seeds`` seeds are used in the search's objective.
        population: NSGA-III's generation size (trials per generation; see :func:`default_population`).
    """

    name: str
    recipe: Path
    methods: tuple[MethodPlan, ...]
    seeds: tuple[int, ...]
    forget: tuple[ForgetSetting, ...]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    trials: int = 10
    search_seeds: int = 1
    sampler_seed: int = 0
    population: int = 4
    ulira: object = None  # a muaudit.benchmark.ulira_phase.ULiRAPlan, or None
    competition: object = None  # CompetitionSettings when "competition" is in metrics

    def to_dict(self) -> dict:
        return {"name": self.name, "recipe": str(self.recipe), "seeds": list(self.seeds),
                "metrics": list(self.metrics), "trials": self.trials, "search_seeds": self.search_seeds,
                "sampler_seed": self.sampler_seed, "population": self.population, "forget": [f.to_dict() for f in self.forget],
                "methods": [{"name": m.name, "fixed": m.fixed, "space": m.space} for m in self.methods],
                **({"ulira": self.ulira.to_dict()} if self.ulira is not None else {}),
                **({"competition": self.competition.to_dict()} if self.competition is not None else {})}

    def with_trials(self, trials: int) -> "BenchmarkSpec":
        """The same spec with another budget; the population stays (a resumed search keeps its
        generations)."""
        from dataclasses import replace

        return replace(self, trials=check_count("--trials", trials, MAX_TRIALS))


def default_population(trials: int) -> int:
    """NSGA-III's default generation size: ``max(4, trials // 4)``, so that the budget covers
    about four generations (Optuna's own default, 50, leaves a budget below 50 a random search).

    Example:
        >>> default_population(30), default_population(100), default_population(2)
        (7, 25, 4)
    """
    return max(4, trials // 4)


def resolve_recipe(value, base: Path) -> Path:
    """A recipe path (relative to the spec's folder or the working folder) or a packaged name
    (:func:`muaudit.packaged.resolve`, the resolver of every RECIPE argument)."""
    from muaudit import packaged

    if not isinstance(value, str) or not value:
        raise ConfigError(f"Expected `recipe` a recipe path or name, got {value!r}")
    return packaged.resolve("recipe", value, base)


def parse_forget(raw, n_classes: int | None = None) -> tuple[ForgetSetting, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("Expected at least one [[forget]] table (kind = \"random\" or \"class\")")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise ConfigError(f"[[forget]] entry {i} must be a table")
        check_keys("[[forget]]", t, FORGET_KEYS)
        kind = t.get("kind", "random")
        if kind not in FORGET_KINDS:
            raise ConfigError(f"Expected [[forget]] `kind` in {FORGET_KINDS}, got {kind!r}")
        if kind == "random":
            frac = t.get("fraction", 0.1)
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
                raise ConfigError(f"Expected [[forget]] `fraction` in (0, 1), got {frac!r}")
            setting = ForgetSetting(t.get("name", f"random{round(100 * frac)}"), kind, float(frac))
        else:
            classes = t.get("classes")
            if not isinstance(classes, list) or not classes or not all(_is_int(c) for c in classes):
                raise ConfigError(f"Expected [[forget]] `classes` a non-empty list of class labels, got {classes!r}")
            setting = ForgetSetting(t.get("name", "class" + "-".join(map(str, classes))), kind, 0.0,
                                    tuple(sorted(set(classes))))
        safe_name(setting.name, f"[[forget]] entry {i} `name`")  # a path component: models/, runs/
        out.append(setting)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"[[forget]] names must be unique, got {names}")
    return tuple(out)


def check_classes(forget: tuple[ForgetSetting, ...], n_classes: int, n_train: int | None = None) -> None:
    """A class-wise forget setting must name classes of the dataset (and not all of them); a random
    one must select at least :data:`MIN_FORGET` of the ``n_train`` training examples and leave as
    many (checked with the dataset, before anything is trained)."""
    for i, s in enumerate(forget):
        if s.kind == "random" and n_train is not None:
            k = round(s.fraction * n_train)
            if not MIN_FORGET <= k <= n_train - MIN_FORGET:
                raise ConfigError(f"[[forget]] entry {i} ({s.name!r}) `fraction` = {s.fraction!r} selects {k} of the "
                                  f"{n_train} training examples; Expected at least {MIN_FORGET} forgotten and "
                                  f"{MIN_FORGET} retained")
        bad = [c for c in s.classes if not 0 <= c < n_classes]
        if bad:
            raise ConfigError(f"[[forget]] {s.name!r}: class {bad[0]} does not exist; "
                              f"the dataset has classes 0..{n_classes - 1}")
        if s.kind == "class" and len(s.classes) >= n_classes:
            raise ConfigError(f"[[forget]] {s.name!r} forgets every class; nothing would be retained")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_methods(raw, tables) -> tuple[MethodPlan, ...]:
    from muaudit.benchmark.space import check_space, default_space
    from muaudit.unlearning import get_method, make_config, method_names

    valid = method_names()
    if raw == "all":
        names = valid
    elif isinstance(raw, list) and raw and all(isinstance(n, str) for n in raw):
        names = list(dict.fromkeys(n.lower() for n in raw))
    else:
        raise ConfigError(f"Expected `methods` \"all\" or a non-empty list of method names, got {raw!r}")
    tables = tables or {}
    if not isinstance(tables, dict):
        raise ConfigError("[method] must be a table of [method.NAME] tables")
    for n in list(names) + list(tables):
        if n.lower() not in valid:
            raise ConfigError(f"unknown unlearning method {n!r}; valid: {', '.join(valid)}")
    extra = sorted(set(k.lower() for k in tables) - set(names))
    if extra:
        raise ConfigError(f"[method.{extra[0]}] configures a method that is not in `methods`")
    plans = []
    for n in names:
        t = tables.get(n, {})
        if not isinstance(t, dict):
            raise ConfigError(f"[method.{n}] must be a table")
        check_keys(f"[method.{n}]", t, METHOD_KEYS)
        fixed = dict(t.get("fixed", {}))
        method = get_method(n)
        make_config(method, fixed)  # unknown keys and bad values fail now
        space = default_space(n) if "space" not in t else t["space"]
        space = {k: v for k, v in space.items() if k not in fixed}
        check_space(method, space, explicit="space" in t)
        plans.append(MethodPlan(n, fixed, space))
    return tuple(plans)


def spec_from_dict(d: dict, *, name: str = "benchmark", base: Path = Path(".")) -> BenchmarkSpec:
    """Validate a parsed spec; see the module docstring."""
    check_keys("benchmark spec", d, TOP_KEYS)
    for key in ("recipe", "methods", "seeds", "forget"):
        if key not in d:
            raise ConfigError(f"benchmark spec is missing `{key}`")
    recipe = resolve_recipe(d["recipe"], base)
    seeds = d["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise ConfigError(f"Expected `seeds` a non-empty list of distinct integers >= 0, got {seeds!r}")
    check_count("number of `seeds`", len(seeds), MAX_SEEDS)
    for i, s in enumerate(seeds):
        check_seed(f"seeds[{i}]", s)
    metrics = d.get("metrics", list(DEFAULT_METRICS) + (["ulira"] if "ulira" in d else []))
    if not isinstance(metrics, list) or not metrics:
        raise ConfigError(f"Expected `metrics` a non-empty list from {METRICS}, got {metrics!r}")
    check_keys("metrics", metrics, METRICS)  # message: unknown metrics key 'x'; valid: ...
    ulira = _parse_ulira(d, metrics, recipe, base)
    search = d.get("search", {})
    if not isinstance(search, dict):
        raise ConfigError("[search] must be a table")
    check_keys("[search]", search, SEARCH_KEYS)
    trials = check_count("[search] trials", search.get("trials", 10), MAX_TRIALS)
    n_search = check_int_range("[search] seeds", search.get("seeds", 1), 1)
    if n_search > len(seeds):
        raise ConfigError(f"Expected [search] `seeds` <= the number of seeds ({len(seeds)}), got {n_search}")
    sampler_seed = check_seed("[search] sampler_seed", search.get("sampler_seed", 0))
    population = check_count("[search] population", search.get("population", default_population(trials)), MAX_TRIALS, 2)
    from muaudit.benchmark.competition_phase import parse_competition

    competition = parse_competition(d.get("competition"), metrics)
    return BenchmarkSpec(name=str(d.get("name", name)), recipe=recipe,
                         methods=parse_methods(d["methods"], d.get("method")), seeds=tuple(seeds),
                         forget=parse_forget(d["forget"]), metrics=tuple(dict.fromkeys(metrics)),
                         trials=trials, search_seeds=n_search, sampler_seed=sampler_seed,
                         population=population, ulira=ulira, competition=competition)


def _parse_ulira(d: dict, metrics: list, recipe: Path, base: Path):
    """The ``[ulira]`` table (:mod:`muaudit.benchmark.ulira_phase`); it and the metric go together."""
    if "ulira" in metrics and "ulira" not in d:
        raise ConfigError("metric `ulira` needs a [ulira] table with `pool` (a pool recipe or a built pool folder)")
    if "ulira" not in d:
        return None
    if "ulira" not in metrics:
        raise ConfigError("the spec has a [ulira] table but `metrics` lacks \"ulira\"; add it (or drop the table)")
    from muaudit.benchmark.ulira_phase import parse_ulira

    return parse_ulira(d["ulira"], base, recipe)


def load_benchmark_spec(path) -> BenchmarkSpec:
    """Read and validate a benchmark spec: a TOML file, or the name of a packaged spec."""
    from muaudit import packaged

    p = packaged.resolve("spec", path)  # a file, or a packaged spec's name (``digits-small``)
    try:
        raw = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"benchmark spec {p} is not valid TOML ({e})") from None
    return spec_from_dict(raw, name=p.stem, base=p.parent)
