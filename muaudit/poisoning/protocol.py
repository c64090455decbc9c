"""The protocol of Pawelczyk et al. (ICLR 2025), one function for every attack.

Per seed: poison the training split, train the original on it, unlearn the poisons (forget set =
the poisoned examples as trained on) with each method, retrain without them, and score the
original, the unlearned models and the retrained one with the attack, a loss-threshold MIA on the
same forget set against held-out poisons made the same way (:func:`held_out_poisons`), and clean
test accuracy. :func:`summarize_method` turns the seeds into efficacy,
power and a verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from torch import nn

from muaudit.attacks import cross_entropy_loss
from muaudit.metrics import auc, tpr_at_fpr
from muaudit.checks import check_positive_int
from muaudit.progress import Counter
from muaudit.poisoning.base import PoisonAttack, PoisonContext, PoisonSet, Scores, get_poison
from muaudit.training import predict_logits
from muaudit.training.device import select_device
from muaudit.training.single import model_meta, train_on_positions
from muaudit.unlearning import UnlearnData, budget_limit, get_method, make_config, run_unlearning

MIA_FPR = 0.01


@dataclass
class SeedRun:
    """Everything one seed of the protocol produced.

    Attributes:
        seed: seeds the poisons, both trainings and the methods.
        poison: the :class:`PoisonSet`.
        scores: attack read-outs by model: ``"original"``, ``"retrained"`` and each method name.
        mia: loss-threshold MIA on the forget set vs :func:`held_out_poisons`, by model:
            ``{"tpr", "fpr", "auc", "nonmembers"}``.
        accuracy: clean test accuracy by model.
        test_correct: per test input, 1.0 where the model is right, by model (for paired tests).
        cost: each method's cost (``run_unlearning``'s), plus ``"training"`` sample-gradients.
        models: the models by the same names (CPU, eval mode) when ``keep_models=True``.
    """

    seed: int
    poison: PoisonSet
    scores: dict[str, Scores] = field(default_factory=dict)
    mia: dict[str, dict] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    test_correct: dict[str, np.ndarray] = field(default_factory=dict)
    cost: dict[str, dict] = field(default_factory=dict)
    models: dict[str, nn.Module] = field(default_factory=dict)


def held_out_poisons(poison: PoisonSet) -> tuple[UnlearnData, str]:
    """Non-members for the loss-MIA that are exchangeable with the forget set, and their description.

    Gaussian canaries: every test-split input with fresh ``N(0, eps_p^2)`` noise (seeded apart
    from the canaries' own), labels unchanged: canaries made the same way on examples no model
    trained on, so a retrained model scores AUC ~0.5 and only memorisation of the canaries moves
    it. Other attacks have no such construction yet: the clean test split, flagged as not
    exchangeable (noisy or relabelled poisons against clean examples put even a retrain far from
    0.5; measured on digits with canaries: AUC 0.18 for the retrain).
    """
    d = poison.clean
    rows = d.test_idx
    if poison.attack == "gaussian" and "eps_p" in poison.arrays:
        rng = np.random.default_rng([int(poison.seed), 6, 3])
        noise = rng.standard_normal((len(rows),) + d.input_shape) * float(poison.arrays["eps_p"])
        return (UnlearnData((d.X[rows] + noise).astype(np.float32), d.y[rows]),
                "held-out canaries: test inputs with fresh N(0, eps_p^2) noise")
    return UnlearnData(d.X[rows], d.y[rows]), "clean test split (not exchangeable with the poisons)"


def loss_mia(model: nn.Module, forget: UnlearnData, nonmembers: UnlearnData, *, fpr: float = MIA_FPR,
             label: str = "") -> dict:
    """Loss-threshold MIA (score = -CE, higher = member): forget set vs ``nonmembers``."""
    def score(d: UnlearnData) -> np.ndarray:
        return -cross_entropy_loss(predict_logits(model, d.X.cpu())[:, 0], d.y.cpu().numpy())

    s = np.r_[score(forget), score(nonmembers)]
    labels = np.r_[np.ones(len(forget), bool), np.zeros(len(nonmembers), bool)]
    r = tpr_at_fpr(labels, s, fpr)
    return {"tpr": r.tpr, "fpr": fpr, "auc": auc(labels, s), "nonmembers": label}


def check_inputs(attack: str | PoisonAttack, methods: list[str], method_options: dict | None,
                 budget: float | None, seeds) -> tuple[PoisonAttack, list[int]]:
    """Resolve the attack and fail fast (before any training) on unknown methods, bad method
    options, a bad budget or bad seeds."""
    attack = get_poison(attack) if isinstance(attack, str) else attack
    for name in methods:
        make_config(get_method(name), (method_options or {}).get(name))
    if budget is not None:  # the same check and message as the run itself, with a stand-in reference
        budget_limit({"recipe": {"epochs": 1}, "train_idx": [0]}, budget)
    seeds = list(range(check_positive_int("seeds", seeds))) if isinstance(seeds, int) else [int(s) for s in seeds]
    return attack, seeds


def run_protocol(attack: str | PoisonAttack, spec, *, methods: list[str], attack_options: dict | None = None,
                 seeds=1, budget: float | None = None, method_options: dict | None = None, device=None,
                 keep_models: bool = False, log: Callable[[str], None] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 executor=None) -> tuple[PoisonAttack, list[SeedRun]]:
    """Run the protocol for ``methods`` on the recipe ``spec`` (a :class:`~muaudit.pool.spec.PoolSpec`).

    Args:
        attack: a registered attack name or instance.
        methods: unlearning method names; each gets the same original per seed.
        attack_options: overrides of the attack's (per-dataset) defaults.
        seeds: a number of seeds (0..n-1) or a list of seeds.
        budget: each method may spend at most this fraction of the original training's
            sample-gradients (None: the methods' default configs, uncapped).
        method_options: ``{method: {key: value}}`` config overrides.
        keep_models: keep every trained and unlearned model in ``SeedRun.models``.
        progress: ``progress(done, total)`` in models (original, retrained, each method) of the
            seeds: ``total = seeds x (2 + len(methods))``, per model when the seeds run here, per seed
            in worker processes or on Ray.
        executor: a :mod:`muaudit.execution` executor; each seed is one task (default: this process).

    Returns ``(attack, runs)`` in seed order; see :func:`summarize_method` for the read-out.
    """
    from muaudit.execution import LocalExecutor

    attack, seeds = check_inputs(attack, methods, method_options, budget, seeds)
    ds = spec.load_dataset()
    config = attack.make_config(ds.name, attack_options)
    per_seed, ex = 2 + len(methods), executor or LocalExecutor()
    counter, runs = Counter(progress, len(seeds) * per_seed), {}
    here = getattr(ex, "in_process", False)  # a callback cannot cross to a worker process
    tick = counter.step if here else None
    shared = (attack, spec, config, ds, methods, budget, method_options, device, keep_models, log if here else None,
              tick)
    for i, run in ex.map(_seed_task, seeds, shared=shared):
        runs[i] = run
        if tick is None:
            counter.step(per_seed)
    return attack, [runs[i] for i in range(len(seeds))]


def _seed_task(shared, seed: int) -> SeedRun:
    """One seed as a pure task (see :mod:`muaudit.execution`)."""
    attack, spec, config, ds, methods, budget, method_options, device, keep_models, log, tick = shared
    dev = select_device(device)
    make = lambda s: spec.make_model(s, ds.input_shape, ds.n_classes)  # noqa: E731
    train = lambda d, pos, s: train_on_positions(make, d, pos, spec.train, s, dev)[0]  # noqa: E731
    poison = attack.poison(ds, config, seed, PoisonContext(train=train))
    run = run_seed(attack, poison, spec, make, methods, budget=budget, method_options=method_options,
                   device=dev, log=log, tick=tick)
    if not keep_models:
        run.models = {}
    return run


def _split(poison: PoisonSet) -> tuple[UnlearnData, UnlearnData, UnlearnData]:
    d, rows = poison.dataset, poison.dataset.train_idx
    test = UnlearnData(d.X[d.test_idx], d.y[d.test_idx])
    forget = UnlearnData(d.X[rows[poison.forget]], d.y[rows[poison.forget]])
    retain = UnlearnData(d.X[rows[poison.retain]], d.y[rows[poison.retain]], val=test)
    return forget, retain, test


def run_seed(attack: PoisonAttack, poison: PoisonSet, spec, make, methods: list[str], *, budget=None,
             method_options=None, device=None, log=None, tick: Callable[[], None] | None = None) -> SeedRun:
    """One seed: train the original and the retrained model, run every method, score all.
    ``tick()`` is called after each model is ready."""
    tick = tick or (lambda: None)
    seed, d, recipe = poison.seed, poison.dataset, spec.train
    everything = np.arange(len(d.train_idx))
    original, cost = train_on_positions(make, d, everything, recipe, seed, device)
    tick()
    retrained, _ = train_on_positions(make, d, poison.retain, recipe, seed, device)
    tick()
    meta = model_meta(arch=spec.model["arch"], arch_kwargs=spec.arch_kwargs, dataset=d, train_idx=everything,
                      seed=seed, recipe=recipe, cost=cost)
    forget, retain, test = _split(poison)
    held_out, held_label = held_out_poisons(poison)
    run = SeedRun(seed, poison, cost={"training": cost})
    models = {"original": original, "retrained": retrained}
    for name in methods:
        t0 = time.perf_counter()
        res = run_unlearning(name, original.to(device), forget, retain, config=(method_options or {}).get(name),
                             random_state=seed, meta=meta, budget=budget)
        models[name], run.cost[name] = res.model.cpu(), res.cost
        tick()
        if log:
            log(f"seed {seed} {name}: {time.perf_counter() - t0:.1f} s, {res.cost['sample_gradients']:,} sample-gradients")
    for name, model in models.items():
        model = run.models[name] = model.cpu().eval()
        run.scores[name] = attack.score(model, poison)
        run.mia[name] = loss_mia(model, forget, held_out, label=held_label)
        right = predict_logits(model, test.X)[:, 0].argmax(-1) == test.y.numpy()
        run.test_correct[name] = right.astype(np.float64)
        run.accuracy[name] = float(right.mean())
    return run


def item_values(runs: list[SeedRun], model: str) -> list[np.ndarray]:
    """Per-seed item values of ``model`` (``"original"``, ``"retrained"`` or a method name)."""
    return [np.asarray(r.scores[model].values, np.float64) for r in runs]
