"""The competition phase of a benchmark: the NeurIPS-2023 unlearning competition's score per method.

The protocol of the competition's evaluation code (``google-deepmind/unlearning_evaluation``,
``main.py``; Triantafillou et al. 2024, arXiv:2406.09073) on the benchmark's models, enabled by
``"competition"`` in the spec's ``metrics`` and tuned by an optional ``[competition]`` table:

```toml
[competition]
models = 32      # K: unlearned runs per method and retrains per forget setting (>= 3)
seed = 0         # the retrains' seeds and the bootstrap's
bootstrap = 1000 # resamples of the forget examples for F's interval
```

Per forget setting, one **forget set**: the one of the first benchmark seed, and its original
model. **K retrains** from scratch on its retain set (the recipe, seeds
``10_000 * (1 + seed) + k``: never a benchmark seed), shared by every method of the setting,
trained in chunks with the pool's engine (the batched ensemble where the model allows it) as
executor tasks and saved as checkpoints in ``OUT/models/competition-FORGET/``, so a resumed
benchmark does not train them again. Per method, **K runs** of its chosen configuration (after
the search) with unlearning seeds ``0..K-1``, all from that one original, as executor tasks cached
in ``OUT/competition/METHOD/FORGET/kK.json`` with their configuration (a resumed run reuses them
unless the chosen configuration changed). Per forget example, the statistic is the logit-scaled
confidence of the true class (:func:`~muaudit.benchmark.competition.competition_statistic`);
:func:`~muaudit.benchmark.competition.competition_score` turns the ``[K, n]`` statistics of both
sides into the forgetting quality F, and the final score is ``F * RA_U/RA_R * TA_U/TA_R`` with
the accuracies on the retain set and the test half averaged over the K models of each side.
F's interval is a seeded percentile bootstrap over the forget examples (per-example points fixed).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from muaudit.atomic import write_inside
from muaudit.checks import check_int_range, check_keys, check_seed
from muaudit.paths import check_inside
from muaudit.errors import ConfigError
from muaudit.execution import each

DEFAULT_MODELS = 32
MAX_MODELS = 9999
RETRAIN_SEED_BASE = 10_000
KEYS = ("models", "seed", "bootstrap")


@dataclass(frozen=True)
class CompetitionSettings:
    """The ``[competition]`` table: K models per side, the retrain / bootstrap seed, resamples."""

    models: int = DEFAULT_MODELS
    seed: int = 0
    bootstrap: int = 1000

    def to_dict(self) -> dict:
        return asdict(self)

    def retrain_seeds(self) -> list[int]:
        """Training seeds of the K retrains (disjoint from small benchmark seeds).

        Example:
            >>> CompetitionSettings(models=3, seed=1).retrain_seeds()
            [20000, 20001, 20002]
        """
        return [RETRAIN_SEED_BASE * (1 + self.seed) + k for k in range(self.models)]


def parse_competition(raw, metrics) -> CompetitionSettings | None:
    """The settings when ``"competition"`` is among ``metrics`` (None otherwise).

    Example:
        >>> parse_competition({"models": 8}, ["accuracy", "competition"]).models
        8
        >>> parse_competition(None, ["accuracy"]) is None
        True
    """
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError("[competition] must be a table")
    if "competition" not in metrics:
        if raw is not None:
            raise ConfigError('[competition] is set but `metrics` does not list "competition"')
        return None
    raw = raw or {}
    check_keys("[competition]", raw, KEYS)
    return CompetitionSettings(models=check_int_range("[competition] models", raw.get("models", DEFAULT_MODELS), 3, MAX_MODELS),
                               seed=check_seed("[competition] seed", raw.get("seed", 0)),
                               bootstrap=check_int_range("[competition] bootstrap", raw.get("bootstrap", 1000), 1))


# ------------------------------------------------------------------------------------------ tasks

def retrain_path(out, setting: str, seed: int) -> Path:
    return Path(out) / "models" / f"competition-{setting}" / f"retrain-s{seed}.pt"


def retrain_task(args: dict) -> list[str]:
    """Task: train the retrains of ``args["seeds"]`` on the retain set of ``args["forget"]`` (the
    forget set of ``args["forget_seed"]``) that are not saved yet; returns their checkpoint paths."""
    import torch

    from muaudit.benchmark.task import setting_from
    from muaudit.benchmark.world import forget_positions, load_recipe
    from muaudit.models import save_checkpoint
    from muaudit.training import choose_engine, train_models
    from muaudit.training.single import model_meta

    setting = setting_from(args["forget"])
    paths = [retrain_path(args["out"], setting.name, s) for s in args["seeds"]]
    todo = [s for s, p in zip(args["seeds"], paths) if not p.is_file()]
    if not todo:
        return [str(p) for p in paths]
    spec, ds = load_recipe(args["recipe"])
    pos = np.setdiff1d(np.arange(len(ds.train_idx)), forget_positions(ds, setting, args["forget_seed"]))
    rows = ds.train_idx[pos]
    X, y = torch.as_tensor(ds.X[rows]), torch.as_tensor(ds.y[rows])
    make = lambda s: spec.make_model(int(s), ds.input_shape, ds.n_classes)  # noqa: E731
    engine = spec.engine if spec.engine != "auto" else choose_engine(make, X, y, spec.train,
                                                                     ensemble_size=len(todo))[0]
    t0 = time.perf_counter()
    for chunk in train_models(make, X, y, [np.arange(len(rows))] * len(todo), todo, spec.train, engine=engine,
                              ensemble_size=len(todo)):
        seconds, t0 = (time.perf_counter() - t0) / len(chunk), time.perf_counter()
        for i, model in chunk:
            cost = {"seconds": seconds, "sample_gradients": int(spec.train.epochs * len(rows)), "engine": engine}
            meta = model_meta(arch=spec.model["arch"], arch_kwargs=spec.arch_kwargs, dataset=ds, train_idx=pos,
                              seed=todo[i], recipe=spec.train, cost=cost)
            path = check_inside(retrain_path(args["out"], setting.name, todo[i]), args["out"])
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(path.with_suffix(".tmp"), model.cpu(), meta)
            path.with_suffix(".tmp").replace(path)
    return [str(p) for p in paths]


def model_outputs(model, world) -> dict:
    """The competition statistic of every forget example and the retain / forget / test accuracies."""
    from muaudit.benchmark.competition import competition_statistic
    from muaudit.training import predict_logits

    out = {}
    for name in ("forget", "retain", "test"):
        data = getattr(world, name)
        z = predict_logits(model, data.X)[:, 0]
        y = data.y.numpy() if hasattr(data.y, "numpy") else np.asarray(data.y)
        out[f"acc_{name}"] = float((z.argmax(1) == y).mean())
        if name == "forget":
            out["statistic"] = competition_statistic(z, y).tolist()
    return out


def unlearn_task(task: dict) -> dict:
    """Task: one run (unlearning seed ``task["run"]``) of ``task["method"]`` with ``task["config"]`` on
    the original of ``task["seed"]``; returns its outputs (or ``status: "diverged"``)."""
    from muaudit.benchmark.metrics import is_diverged
    from muaudit.benchmark.task import setting_from
    from muaudit.benchmark.world import load_world
    from muaudit.unlearning import run_unlearning

    world = load_world(task["out"], task["recipe"], task["seed"], setting_from(task["forget"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run_unlearning(task["method"], world.original, world.forget, world.retain, config=task["config"],
                             random_state=task["run"], meta=world.meta)
    base = {"task": task, "config": res.config.to_dict(), "seconds": float(res.cost.get("seconds", 0.0))}
    if is_diverged(res.model):
        return {**base, "status": "diverged"}
    return {**base, "status": "ok", **model_outputs(res.model, world)}


# ------------------------------------------------------------------------------------------ phase

def _run_path(out: Path, method: str, setting: str, run: int) -> Path:
    return out / "competition" / method / setting / f"k{run}.json"


def train_retrains(spec, out: Path, executor) -> None:
    """Every forget setting's K retrains, in chunks of the recipe's ``ensemble_size`` (skipped when saved)."""
    from muaudit.benchmark.world import load_recipe

    cs = spec.competition
    size = max(1, load_recipe(str(spec.recipe))[0].ensemble_size)
    seeds = cs.retrain_seeds()
    tasks = [{"out": str(out), "recipe": str(spec.recipe), "forget": f.to_dict(), "forget_seed": spec.seeds[0],
              "seeds": seeds[i:i + size]} for f in spec.forget for i in range(0, len(seeds), size)]
    tasks = [t for t in tasks if not all(retrain_path(out, t["forget"]["name"], s).is_file() for s in t["seeds"])]
    for _ in each(executor, retrain_task, tasks):
        pass


def retrain_outputs(spec, out: Path, setting) -> list[dict]:
    """Outputs of the K saved retrains of ``setting`` on the first seed's world."""
    from muaudit.benchmark.world import load_world
    from muaudit.models import load_checkpoint

    world = load_world(str(out), str(spec.recipe), spec.seeds[0], setting)
    return [model_outputs(load_checkpoint(retrain_path(out, setting.name, s))[0].eval(), world)
            for s in spec.competition.retrain_seeds()]


def unlearned_runs(spec, out: Path, executor, chosen: dict) -> dict[tuple, list]:
    """K runs per (method, forget setting) of its chosen configuration (cached per run)."""
    from muaudit.benchmark.task import make_task

    results: dict[tuple, list] = {}
    todo = []
    for f in spec.forget:
        for plan in spec.methods:
            config = chosen[(plan.name, f.name)]["config"]
            for k in range(spec.competition.models):
                path = _run_path(out, plan.name, f.name, k)
                cached = json.loads(path.read_text()) if path.is_file() else None
                if cached and cached["task"]["config"] == config:
                    results.setdefault((plan.name, f.name), []).append(cached)
                else:
                    task = make_task(out, spec.recipe, spec.seeds[0], f, plan.name, config, mia=False,
                                     tag="competition")
                    todo.append({**task, "run": k})
    for _, res in each(executor, unlearn_task, todo):
        t = res["task"]
        path = _run_path(out, t["method"], t["forget"]["name"], t["run"])
        write_inside(out, path, json.dumps(res))
        results.setdefault((t["method"], t["forget"]["name"]), []).append(res)
    return results


def score(unlearned: list[dict], retrained: list[dict], settings: CompetitionSettings) -> dict:
    """The row entry of one (method, forget setting): F with its bootstrap interval, the final
    score, the median epsilon, K, and the accuracy ratios; ``forget_quality`` None when a run diverged.

    ``unlearned`` are :func:`unlearn_task` results, ``retrained`` :func:`model_outputs` dicts.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> out = lambda k: {"statistic": rng.normal(size=20).tolist(), "acc_retain": 1.0, "acc_test": 0.9,
        ...                  "acc_forget": 0.9, "status": "ok", "task": {"run": k}}
        >>> c = score([out(k) for k in range(8)], [out(k) for k in range(8)], CompetitionSettings(models=8))
        >>> c["n_models"], c["forget_quality"] > 0, c["final_score"] == c["forget_quality"]
        (8, True, True)
    """
    from muaudit.benchmark.competition import bootstrap_interval, bucket_points, example_epsilons

    bad = sum(r["status"] != "ok" for r in unlearned)
    base = {"n_models": len(unlearned), "diverged_runs": bad}
    if bad:
        return {**base, "forget_quality": None, "final_score": None,
                "note": f"not scored: {bad} of {len(unlearned)} runs diverged"}
    u = np.array([r["statistic"] for r in sorted(unlearned, key=lambda r: r["task"]["run"])])
    r = np.array([m["statistic"] for m in retrained])
    eps = example_epsilons(u, r)
    points = bucket_points(eps, len(u))
    f = float(points.mean())
    low, high = bootstrap_interval(points, resamples=settings.bootstrap, random_state=settings.seed)

    def ratio(key):
        ref = float(np.mean([m[key] for m in retrained]))
        return float(np.mean([m[key] for m in unlearned])) / ref if ref > 0 else None

    ra, ta = ratio("acc_retain"), ratio("acc_test")
    return {**base, "forget_quality": f, "forget_quality_low": low, "forget_quality_high": high,
            "final_score": None if ra is None or ta is None else f * ra * ta, "epsilon_median": float(np.median(eps)),
            "retain_ratio": ra, "test_ratio": ta, "n_examples": int(u.shape[1]),
            "acc_forget_u": float(np.mean([m["acc_forget"] for m in unlearned])),
            "acc_forget_r": float(np.mean([m["acc_forget"] for m in retrained]))}


def run_competition(spec, out: Path, executor, chosen: dict) -> dict[tuple, dict]:
    """The whole phase; returns ``{(method, forget): row entry}`` (see :func:`score`)."""
    out = Path(out)
    train_retrains(spec, out, executor)
    runs = unlearned_runs(spec, out, executor, chosen)
    scores = {}
    for f in spec.forget:
        retrained = retrain_outputs(spec, out, f)
        for plan in spec.methods:
            scores[(plan.name, f.name)] = score(runs[(plan.name, f.name)], retrained, spec.competition)
    return scores


# ------------------------------------------------------------------------------------------ output

CSV_COLUMNS = ("forget_quality", "forget_quality_low", "forget_quality_high", "final_score", "epsilon_median",
               "n_models")


def csv_columns(rows: list[dict]) -> list[tuple[str, object]]:
    """``(column, row -> value)`` pairs for ``table.csv`` (none when the phase did not run)."""
    if not any(r.get("competition") for r in rows):
        return []
    return [(f"competition_{k}", lambda r, k=k: (r.get("competition") or {}).get(k)) for k in CSV_COLUMNS]


def ceilings(rows: list[dict]) -> dict[str, float]:
    """F of the ``retrain`` pseudo-method per forget setting: retrain vs retrain at this K, the most a
    method can score here (F is biased downward at few models)."""
    return {r["forget"]: r["competition"]["forget_quality"] for r in rows
            if r["method"] == "retrain" and r.get("competition") and r["competition"].get("forget_quality") is not None}


def _fmt(c: dict) -> str:
    if c.get("forget_quality") is None:
        return c.get("note", "not scored")
    fs = "n/a" if c.get("final_score") is None else f"{c['final_score']:.3f}"
    return (f"F {c['forget_quality']:.3f} [{c['forget_quality_low']:.3f}, {c['forget_quality_high']:.3f}], "
            f"final score {fs}, median eps {c['epsilon_median']:.2f}, {c['n_models']} models per side")


def section_lines(rows: list[dict]) -> dict:
    """A flat ``{label: text}`` table for the report (one line per method x forget setting)."""
    return {f"{r['forget']} {r['method']}": _fmt(r["competition"]) for r in rows if r.get("competition")}


def summary_sentence(rows: list[dict]) -> str:
    """One sentence per forget setting: the best final score and the retrain-vs-retrain ceiling.

    Example:
        >>> c = {"forget_quality": 0.1, "final_score": 0.09}
        >>> summary_sentence([{"forget": "r10", "method": "retrain", "competition": {**c, "forget_quality": 0.18}},
        ...                   {"forget": "r10", "method": "ft", "competition": c}])
        'Competition score, forget r10: best ft (final score 0.090, F 0.100), retrain-vs-retrain ceiling F 0.180.'
    """
    parts = []
    ceil = ceilings(rows)
    for setting in dict.fromkeys(r["forget"] for r in rows):
        scored = [r for r in rows if r["forget"] == setting and r.get("competition")
                  and r["competition"].get("final_score") is not None and r["method"] != "retrain"]
        if not scored and setting not in ceil:
            continue
        text = f"Competition score, forget {setting}:"
        if scored:
            best = max(scored, key=lambda r: r["competition"]["final_score"])
            text += (f" best {best['method']} (final score {best['competition']['final_score']:.3f}, "
                     f"F {best['competition']['forget_quality']:.3f})")
        if setting in ceil:
            text += f"{',' if scored else ''} retrain-vs-retrain ceiling F {ceil[setting]:.3f}"
        parts.append(text + ".")
    return " ".join(parts)


def markdown(rows: list[dict]) -> str:
    """The competition columns as a markdown table (docs/benchmark.md)."""
    lines = ["| forget | method | F [95% bootstrap] | final score | median eps | RA_U/RA_R | TA_U/TA_R | forget acc U / R |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.get("competition")
        if not c:
            continue
        if c.get("forget_quality") is None:
            lines.append(f"| {r['forget']} | `{r['method']}` | {c.get('note', '–')} | | | | | |")
            continue
        num = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {r['forget']} | `{r['method']}` | {c['forget_quality']:.3f} [{c['forget_quality_low']:.3f}, "
                     f"{c['forget_quality_high']:.3f}] | {num(c['final_score'])} | {c['epsilon_median']:.2f} | "
                     f"{num(c['retain_ratio'])} | {num(c['test_ratio'])} | "
                     f"{c['acc_forget_u']:.3f} / {c['acc_forget_r']:.3f} |")
    return "\n".join(lines)
