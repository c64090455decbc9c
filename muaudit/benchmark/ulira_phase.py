"""The benchmark's U-LiRA column: each method's *chosen* configuration as an ``[[unlearn]]`` entry
of a shadow pool, evaluated with leave-one-out U-LiRA (:func:`muaudit.jobs.ulira.run_ulira`).

```toml
metrics = ["accuracy", "mia", "rte", "ulira"]

[ulira]
pool = "digits-mlp"          # a pool recipe (built in OUT/ulira/pool) or a built pool folder (extended in place)
models = 32                  # shadows (overrides the recipe's n_models; recipes only)
forget_fraction = 0.1        # default: each random forget setting's own fraction
reference = "retrain"        # as `muaudit ulira`: retrain | out | same-method
statistic = "phi"            # phi | correct
variance = "auto"            # auto | fixed | per-example
targets = 16                 # held-out shadows scored (default: every shadow)
```

After the search, the phase writes ``OUT/ulira/NAME.toml`` (NAME: the pool recipe's): the pool's
base recipe (which must be the benchmark's recipe: same dataset, model and training) with one
``[[unlearn]]`` entry per (method, random forget setting), the method's chosen configuration and
the setting's forget fraction, each with ``retrain = true`` (one exact retrain per shadow and
forget fraction, trained once and shared by every entry). An entry is named ``METHOD-HASH`` (8
hex digits of its settings), so a configuration that changes (``--resume --trials``) becomes a
new entry of the same pool: the pool store adds it and reuses the base shadows' saved weights and
the stored retrains; unchanged entries are never rebuilt. A class-wise forget setting gets its own
forget-aware pool (``OUT/ulira/class-NAME/``: the class's training examples are IN for half of
the shadows, which forget all of them; entries with ``forget = "pool"``). Pools are built through
the benchmark's executor (:mod:`muaudit.execution`: local worker processes, this process with
``--workers 1``, or Ray).

U-LiRA is **per method, not per seed**: its unit is a held-out shadow of the pool, not one of
the benchmark's seeds, and the row's interval is U-LiRA's own (bootstrap over examples for the AUC,
Clopper-Pearson for the held-out accuracy). ``retrain`` (a second
retrain from another seed, AUC ~0.5) and ``original`` (no unlearning: U-LiRA's power) are
entries like any other method.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from muaudit.checks import check_int_range, check_keys
from muaudit.errors import ConfigError

KEYS = ("pool", "models", "forget_fraction", "reference", "statistic", "variance", "targets")
INTERVALS = ("ulira_auc", "ulira_accuracy")
TEXT = ("ulira_verdict", "ulira_protocol")


@dataclass(frozen=True)
class ULiRAPlan:
    """The ``[ulira]`` table: ``pool`` is a recipe path (``kind="recipe"``) or a built pool
    folder (``kind="dir"``); the rest as ``muaudit ulira``."""

    pool: str
    kind: str
    models: int | None = None
    forget_fraction: float | None = None
    reference: str = "retrain"
    statistic: str = "phi"
    variance: str = "auto"
    targets: int | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("pool", "kind") + KEYS[1:]}

    @property
    def protocol_key(self) -> dict:
        return {"reference": self.reference, "statistic": self.statistic, "variance": self.variance,
                "targets": self.targets}


def parse_ulira(raw, base: Path, recipe: Path) -> ULiRAPlan:
    """Validate the ``[ulira]`` table against the benchmark's ``recipe`` (see the module docstring).

    Example:
        >>> from muaudit.pool.recipes import resolve_recipe
        >>> plan = parse_ulira({"pool": "digits-mlp", "models": 16}, Path("."), resolve_recipe("digits-mlp"))
        >>> plan.kind, plan.models, plan.reference
        ('recipe', 16, 'retrain')
        >>> parse_ulira({"pool": "digits-cnn"}, Path("."), resolve_recipe("digits-mlp"))
        Traceback (most recent call last):
        muaudit.errors.ConfigError: [ulira] pool digits-cnn: its base recipe differs from the benchmark's recipe in [model], [train]; U-LiRA needs the shadows of the benchmark's own recipe
    """
    from muaudit.attacks.ulira import ULiRAConfig

    if not isinstance(raw, dict):
        raise ConfigError("[ulira] must be a table")
    check_keys("[ulira]", raw, KEYS)
    if not isinstance(raw.get("pool"), str) or not raw["pool"]:
        raise ConfigError(f"Expected [ulira] `pool` a pool recipe or a built pool folder, got {raw.get('pool')!r}")
    frac = raw.get("forget_fraction")
    if frac is not None and (isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1):
        raise ConfigError(f"Expected [ulira] `forget_fraction` in (0, 1), got {frac!r}")
    models = None if raw.get("models") is None else check_int_range("[ulira] models", raw["models"], 2)
    targets = None if raw.get("targets") is None else check_int_range("[ulira] targets", raw["targets"], 1)
    opts = {k: raw[k] for k in ("reference", "statistic", "variance") if k in raw}
    ULiRAConfig(**opts)  # bad choices fail now, listing the valid ones
    kind, base_spec, path = _resolve_pool(raw["pool"], base)
    if kind == "dir" and models is not None and models != base_spec.n_models:
        raise ConfigError(f"[ulira] `models` = {models}, but the built pool {path} has {base_spec.n_models} shadows; "
                          "drop `models` or give a recipe")
    if models is not None:
        base_spec = _with_models(base_spec, models)
    _check_same_recipe(base_spec, recipe, raw["pool"])
    return ULiRAPlan(str(path), kind, models, None if frac is None else float(frac), **opts, targets=targets)


def _resolve_pool(value: str, base: Path):
    from muaudit import packaged
    from muaudit.pool.reader import POOL_FILE, Pool
    from muaudit.pool.spec import PoolSpec, load_spec

    for cand in (base / value, Path(value)):
        if (cand / POOL_FILE).is_file():
            return "dir", PoolSpec.from_dict(Pool(cand / POOL_FILE).spec), cand.resolve()
    try:  # the resolver of every recipe argument: a file (beside the spec, or here), or a packaged name
        path = packaged.resolve("recipe", value if value.endswith(".toml") or not (base / f"{value}.toml").is_file()
                                else f"{value}.toml", base)
    except ConfigError:
        raise ConfigError(f"[ulira] pool {value!r} is neither a pool recipe nor a built pool folder (with {POOL_FILE}); "
                          f"packaged recipes: {', '.join(packaged.names('recipe'))}") from None
    return "recipe", load_spec(path), Path(path).resolve()


def _with_models(spec, models: int):
    if models % 2:
        raise ConfigError(f"Expected [ulira] `models` an even integer >= 2, got {models}")
    return replace(spec, n_models=models)


def _check_same_recipe(pool_spec, recipe: Path, name: str) -> None:
    from muaudit.pool.spec import load_spec

    mine, theirs = load_spec(recipe).to_dict(), pool_spec.to_dict()
    diff = [k for k in ("dataset", "model", "train") if mine[k] != theirs[k]]
    if diff:
        raise ConfigError(f"[ulira] pool {name}: its base recipe differs from the benchmark's recipe in "
                          f"{', '.join(f'[{k}]' for k in diff)}; U-LiRA needs the shadows of the benchmark's own recipe")


# -- the derived recipes -------------------------------------------------------------------------

@dataclass
class PoolJob:
    """One pool of the phase: ``key`` ``"random"`` (every random setting) or ``"class-NAME"`` (a
    forget-aware pool of one class-wise setting, ``forget``: its training-split positions)."""

    key: str
    spec: object
    folder: Path
    recipe: Path
    forget: object = None
    names: dict = field(default_factory=dict)


def entry_for(method: str, config: dict, fraction: float = 0.1, forget: str = "random"):
    """The ``[[unlearn]]`` entry of a method's chosen configuration, named ``METHOD-HASH``.

    Example:
        >>> e = entry_for("ft", {"lr": 0.01, "epochs": 3}, 0.1)
        >>> e.name == entry_for("ft", {"epochs": 3, "lr": 0.01}, 0.1).name != entry_for("ft", {"lr": 0.02}, 0.1).name
        True
        >>> e.name.startswith("ft-"), e.retrain, entry_for("ft", {}, forget="pool").forget
        (True, True, 'pool')
    """
    from muaudit.pool.entries import UnlearnEntry

    settings = {"method": method, "config": config, "forget": forget, "forget_fraction": float(fraction),
                "forget_seed": 0, "retrain": True}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=float).encode()).hexdigest()[:8]
    return UnlearnEntry(name=f"{method}-{digest}", **settings)


def fraction_of(plan: ULiRAPlan, setting) -> float:
    return plan.forget_fraction if plan.forget_fraction is not None else setting.fraction


def base_spec(plan: ULiRAPlan):
    """The pool's base recipe (no entries): the recipe's (``models`` applied) or the built pool's."""
    from muaudit.pool.reader import POOL_FILE, Pool
    from muaudit.pool.spec import PoolSpec, load_spec

    if plan.kind == "dir":
        return PoolSpec.from_dict(Pool(Path(plan.pool) / POOL_FILE).spec)
    base = load_spec(plan.pool)
    return replace(_with_models(base, plan.models) if plan.models else base, unlearn=())


def pool_jobs(spec, out: Path, chosen: dict) -> list[PoolJob]:
    """The pools the phase needs, each with its derived recipe and ``{(method, forget): entry}``:
    one for the random settings (the ``[ulira]`` pool: built in ``OUT/ulira/pool``, or the given
    folder), and one forget-aware pool per class-wise setting in ``OUT/ulira/class-NAME/pool``
    (its forget set, every training example of the classes, is IN for half of the shadows)."""
    from muaudit.benchmark.world import forget_positions, load_recipe
    from muaudit.pool.entries import parse_entries

    plan, base, root = spec.ulira, base_spec(spec.ulira), Path(out) / "ulira"
    random_folder = Path(plan.pool) if plan.kind == "dir" else root / "pool"
    jobs = {}
    for f in spec.forget:
        if f.kind == "random":
            job = jobs.setdefault("random", PoolJob("random", base, random_folder, root / f"{base.name}.toml"))
        else:
            key = f"class-{f.name}"
            _, ds = load_recipe(str(spec.recipe))
            job = jobs.setdefault(key, PoolJob(key, base, root / key / "pool", root / key / f"{base.name}.toml",
                                               forget_positions(ds, f, 0)))
        for m in spec.methods:
            config = chosen[(m.name, f.name)]["config"]
            e = entry_for(m.name, config, fraction_of(plan, f)) if f.kind == "random" else \
                entry_for(m.name, config, forget="pool")
            job.names[(m.name, f.name)] = e
    for job in jobs.values():
        entries = {e.name: json.loads(e.to_json()) for e in job.names.values()}
        job.spec = replace(base, unlearn=parse_entries(list(entries.values()), recipe=base.train))
        job.names = {k: e.name for k, e in job.names.items()}
    return list(jobs.values())


def recipe_toml(pool_spec) -> str:
    """A pool recipe as TOML text (what ``muaudit pool build`` reads back)."""
    from dataclasses import asdict

    d = pool_spec.to_dict()
    lines = [f"# Written by `muaudit benchmark` (U-LiRA column): the base recipe of {d['name']!r} and one",
             "# [[unlearn]] entry per benchmarked method, with its chosen configuration."]
    for sec in ("dataset", "model", "train", "pool"):
        lines += ["", f"[{sec}]"] + [f"{k} = {_value(v)}" for k, v in d[sec].items() if v is not None]
    for e in pool_spec.unlearn:
        lines += ["", "[[unlearn]]"] + [f"{k} = {_value(v)}" for k, v in asdict(e).items()
                                        if v is not None and k != "config"]
        if e.config:
            lines.append("config = {" + ", ".join(f"{k} = {_value(v)}" for k, v in sorted(e.config.items())) + "}")
    return "\n".join(lines) + "\n"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v))


# -- build, evaluate, attach ---------------------------------------------------------------------

def build(job: PoolJob, executor) -> None:
    """Write the job's recipe (``NAME.toml``; a class pool's forget set beside it as
    ``forget.npy``) and build or extend its pool. The file keeps the recipe's name (a pool checks
    it), so ``muaudit pool build NAME.toml --out POOL [--forget forget.npy]`` resumes the same
    pool. Entries already built are not touched."""
    import numpy as np

    from muaudit.pool.build import build_pool

    import io

    from muaudit.atomic import write_inside

    root = job.recipe.parents[2] if job.forget is not None else job.recipe.parents[1]  # OUT (see pool_jobs)
    write_inside(root, job.recipe, recipe_toml(job.spec))
    if job.forget is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(job.forget, np.int64))
        write_inside(root, job.recipe.parent / "forget.npy", buf.getvalue())
    build_pool(job.spec, job.folder, forget=job.forget, executor=executor, progress=_progress(job.key))


def _progress(key: str, stream=None):
    """``[benchmark] U-LiRA pool KEY: shadows done/total`` on stderr when it is a terminal; plain
    lines at a steady interval elsewhere (:class:`muaudit.progress.LogLines`)."""
    import sys

    from muaudit.progress import LogLines

    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return LogLines(f"[benchmark] U-LiRA pool {key}: shadows", stream)

    def show(done: int, total: int) -> None:
        stream.write(f"\r[benchmark] U-LiRA pool {key}: shadows {done}/{total}   " + ("\n" if done == total else ""))
        stream.flush()

    return show


def evaluate(spec, out: Path, job: PoolJob, entry: str, evaluator) -> dict:
    """U-LiRA of one entry by ``evaluator`` (see :func:`run_ulira_phase`), cached in
    ``OUT/ulira/eval/KEY/ENTRY/summary.json``: reused while the protocol and the pool's shadow
    count are unchanged."""
    from muaudit.pool.reader import POOL_FILE, Pool

    plan = spec.ulira
    where = Path(out) / "ulira" / "eval" / job.key / entry
    key = {**plan.protocol_key, "pool": str(job.folder.resolve()), "n_models": Pool(job.folder / POOL_FILE).n_models}
    cached = where / "summary.json"
    if cached.is_file():
        got = json.loads(cached.read_text())
        if got.get("key") == key:
            return got
    summary = {"key": key, "entry": entry, **evaluator(job.folder, entry, reference=plan.reference,
                                                         statistic=plan.statistic, variance=plan.variance,
                                                         n_targets=plan.targets, out=where)}
    from muaudit.atomic import write_inside

    write_inside(out, cached, json.dumps(summary, default=float))
    return summary


def protocol(plan: ULiRAPlan, summary: dict, setting) -> str:
    """The row's ``ulira_protocol``: what was measured, how, on how many shadows."""
    if setting.kind == "random":
        what = f"each forgetting a random {fraction_of(plan, setting):.0%} of its training set"
    else:
        what = (f"those that trained on classes {list(setting.classes)} (half: a forget-aware pool) each forgetting "
                "all their training examples")
    return (f"U-LiRA (Hayes et al. 2024): reference={plan.reference}, statistic={plan.statistic}, "
            f"variance={summary['variance']}, leave-one-out over {summary['n_targets']} held-out targets of "
            f"{summary['n_shadows']} shadows, {what}; per method, not per seed (pool entry {summary['entry']})")


def run_ulira_phase(spec, out: Path, executor, chosen: dict, rows: list[dict], evaluator) -> dict:
    """Build the pools, evaluate every entry, and set the U-LiRA keys of ``rows`` (in place).

    ``evaluator(pool_folder, entry, *, reference, statistic, variance, n_targets, out)`` returns
    ``{"auc", "auc_ci", "accuracy", "accuracy_ci", "verdict", "n_targets", "n_shadows",
    "variance"}`` (:func:`muaudit.jobs.ulira.ulira_summary`, passed in by the runner's caller: the
    file-level U-LiRA lives in :mod:`muaudit.jobs`, above this package). Returns the ``ulira``
    block of ``results.json``: ``{"pools": [{"key", "pool", "recipe", "entries"}], "per": ...}``."""
    jobs = pool_jobs(spec, out, chosen)
    for job in jobs:
        build(job, executor)
    by_setting = {f.name: f for f in spec.forget}
    summaries: dict[tuple, dict] = {}
    for r in rows:
        setting = by_setting[r["forget"]]
        job = next(j for j in jobs if (r["method"], r["forget"]) in j.names)
        entry = job.names[(r["method"], r["forget"])]
        s = summaries.get((job.key, entry)) or summaries.setdefault((job.key, entry),
                                                                    evaluate(spec, out, job, entry, evaluator))
        n = s["n_targets"]
        r.update({"ulira_auc": {"mean": s["auc"], "low": s["auc_ci"][0], "high": s["auc_ci"][1], "n": n},
                  "ulira_accuracy": {"mean": s["accuracy"], "low": s["accuracy_ci"][0], "high": s["accuracy_ci"][1],
                                     "n": n},
                  "ulira_verdict": s["verdict"], "ulira_protocol": protocol(spec.ulira, s, setting),
                  "ulira_entry": entry})
    return {"pools": [{"key": j.key, "pool": str(j.folder), "recipe": str(j.recipe),
                       "entries": sorted(set(j.names.values()))} for j in jobs],
            "per": "method (held-out shadows of the pool), not seed"}


# -- output --------------------------------------------------------------------------------------

def has_ulira(rows: list[dict]) -> bool:
    return any("ulira_protocol" in r for r in rows)


def _cell(iv) -> str:
    return "–" if not iv else f"{iv['mean']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}]"


def markdown(rows: list[dict]) -> str:
    """The U-LiRA table (per method x forget setting) with its protocol lines below it."""
    if not has_ulira(rows):
        return ""
    lines = ["| forget | method | U-LiRA AUC [95% CI] | U-LiRA accuracy (held-out) [95% CI] | verdict |",
             "|---|---|---|---|---|"]
    protocols = []
    for r in rows:
        lines.append(f"| {r['forget']} | `{r['method']}` | {_cell(r.get('ulira_auc'))} | "
                     f"{_cell(r.get('ulira_accuracy'))} | {r.get('ulira_verdict', '–')} |")
        p = r.get("ulira_protocol")
        if p and p.split(" (pool entry")[0] not in protocols:
            protocols.append(p.split(" (pool entry")[0])
    return "\n".join(lines + [""] + [f"Protocol: {p}." for p in protocols])


def summary(rows: list[dict]) -> str:
    """One sentence per random forget setting (for the text summary)."""
    parts = []
    for setting in dict.fromkeys(r["forget"] for r in rows if r.get("ulira_auc")):
        got = [f"{r['method']} {r['ulira_auc']['mean']:.3f} [{r['ulira_auc']['low']:.3f}, {r['ulira_auc']['high']:.3f}] "
               f"({r['ulira_verdict']})" for r in rows if r["forget"] == setting and r.get("ulira_auc")]
        parts.append(f"U-LiRA AUC on {setting} (per method, not per seed): {'; '.join(got)}.")
    return " ".join(parts)


def section(rows: list[dict]) -> dict:
    """A flat ``{label: text}`` table for the HTML report."""
    return {f"{r['forget']} {r['method']}": (f"AUC {_cell(r.get('ulira_auc'))}, accuracy {_cell(r.get('ulira_accuracy'))}, "
                                             f"{r.get('ulira_verdict')}; {r.get('ulira_protocol')}")
            for r in rows if "ulira_protocol" in r}
