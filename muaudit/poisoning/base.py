"""The poisoning-attack contract: config base class, the poisoned set, the record file, the registry.

An attack turns a clean :class:`~muaudit.data.Dataset` into a :class:`PoisonSet` (the poisoned
dataset, the poisoned training positions = the forget set, and a record of everything needed to
score a model later), and scores a model on it::

    attack = get_poison("gaussian")
    config = attack.make_config("digits", {"eps_p": 1.0})
    poison = attack.poison(dataset, config, random_state=0, context=context)
    scores = attack.score(model, poison)       # per-item values, higher = attack stronger

Every attack **replaces** training examples in place (same training-split size): retraining without
the poisons trains on the clean rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
from torch import nn

from muaudit.config import Config
from muaudit.data import Dataset, split_forget
from muaudit.errors import ConfigError, DataError
from muaudit.registry import Registry

POISONS: Registry = Registry("poisoning attack")


class PoisonError(ConfigError):
    """A poisoning attack's options or record cannot be used."""


# -- configs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoisonConfig(Config):
    """Base of every attack's frozen config (a :class:`muaudit.config.Config` raising
    :class:`PoisonError`). Subclasses list field names in the class attributes ``_open_unit``
    (in (0, 1)), ``_positive`` (> 0) and ``_counts`` (integers >= 1); errors read
    ``Expected `fraction` in (0, 1), got 1.5``.

    Example:
        >>> from muaudit.poisoning import GaussianConfig
        >>> GaussianConfig(fraction=0.02).to_dict()
        {'fraction': 0.02, 'eps_p': 0.3, 'fresh_draws': 20, 'alpha': 0.01}
    """

    _error = PoisonError


# -- the poisoned set -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PoisonSet:
    """A poisoned dataset and its record.

    Attributes:
        attack: registry name of the attack.
        config: the resolved config (``to_dict()``).
        seed: the seed the poisons were drawn with.
        dataset: the poisoned dataset (training rows at ``forget`` replaced; test split clean).
        clean: the clean dataset it was made from.
        forget: int64 ``[k]`` poisoned positions in the training split (sorted): the forget set.
        arrays: everything the attack needs to score a model (saved in the record ``.npz``).
    """

    attack: str
    config: dict
    seed: int
    dataset: Dataset
    clean: Dataset
    forget: np.ndarray
    arrays: dict = field(default_factory=dict)

    @property
    def retain(self) -> np.ndarray:
        """Training positions that were not poisoned (int64, sorted)."""
        return split_forget(np.arange(len(self.clean.train_idx)), self.forget)[1]


def poisoned_dataset(clean: Dataset, positions: np.ndarray, X_new=None, y_new=None, *, tag: str) -> Dataset:
    """``clean`` with training positions ``positions`` replaced by ``X_new`` / ``y_new`` (copies)."""
    rows = clean.train_idx[np.asarray(positions, np.int64)]
    X, y = clean.X, clean.y
    if X_new is not None:
        X = X.copy()
        X[rows] = np.asarray(X_new, np.float32)
    if y_new is not None:
        y = y.copy()
        y[rows] = np.asarray(y_new, np.int64)
    return Dataset(f"{clean.name}+{tag}", X, y, clean.split, dict(clean.options))


def choose_positions(random_state: np.random.Generator, candidates: np.ndarray, fraction: float, n_train: int,
                     *, what: str = "poisons") -> np.ndarray:
    """``round(fraction * n_train)`` positions drawn without replacement from ``candidates`` (sorted)."""
    k = max(1, int(round(fraction * n_train)))
    if k > len(candidates):
        raise PoisonError(f"{what}: {k} requested ({fraction:g} of {n_train}) but only {len(candidates)} "
                          "eligible training examples")
    return np.sort(random_state.choice(np.asarray(candidates, np.int64), k, replace=False))


# -- the record file ------------------------------------------------------------------------------


def save_record(path, poison: PoisonSet) -> Path:
    """Write the poison record (``.npz``, no pickles): arrays plus a JSON header with the attack,
    config, seed, forget positions and the clean dataset's fingerprint."""
    path = Path(path)
    header = {"attack": poison.attack, "config": poison.config, "seed": int(poison.seed),
              "dataset": poison.clean.describe()}
    np.savez_compressed(path, header=np.array(json.dumps(header, sort_keys=True)), forget=poison.forget,
                        **{f"a_{k}": np.asarray(v) for k, v in poison.arrays.items()})
    return path


def load_record(path) -> tuple[dict, np.ndarray, dict]:
    """Read a record written by :func:`save_record`: ``(header, forget, arrays)``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            return header, z["forget"], {k[2:]: z[k] for k in z.files if k.startswith("a_")}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not a muaudit poison record ({e})") from None


# -- attacks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoisonContext:
    """What an attack may use besides the data: ``train(dataset, positions, seed) -> model`` with
    the recipe of the audit (surrogate models of gradient matching and gradient canceling)."""

    train: Callable[[Dataset, np.ndarray, int], nn.Module] | None = None


@dataclass
class Scores:
    """An attack's read-out of one model.

    Attributes:
        values: float64 ``[n_items]``, **higher = attack stronger**; the attack metric is their mean.
        readout: extra statistics (JSON-ready), e.g. GUS mean, z, p-value, TPR, AUC.
        arrays: per-item arrays worth saving with the results (e.g. raw GUS, fresh-noise GUS).
    """

    values: np.ndarray
    readout: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    @property
    def metric(self) -> float:
        return float(np.mean(self.values)) if len(self.values) else float("nan")


class PoisonAttack:
    """Base class: subclasses set the class attributes and implement :meth:`poison` and :meth:`score`.

    Class attributes:
        name: registry key (``"gaussian"``, ``"backdoor"``, ...).
        family: ``"canary"``, ``"targeted"``, ``"indiscriminate"`` or ``"interclass"``.
        metric: what ``Scores.metric`` measures (e.g. ``"attack success rate"``).
        source: the paper the attack follows.
        Config: the frozen :class:`PoisonConfig` subclass with the source's defaults.
        dataset_defaults: per-dataset overrides of the defaults, chosen by measured power.
        null: True when :meth:`null_test` gives an exact test of the original (Gaussian canaries).
        eps_field: the config field ``--eps`` sets (noise or perturbation size), if any.
    """

    name: ClassVar[str]
    family: ClassVar[str] = ""
    metric: ClassVar[str] = ""
    source: ClassVar[str] = ""
    Config: ClassVar[type[PoisonConfig]] = PoisonConfig
    dataset_defaults: ClassVar[dict[str, dict]] = {}
    null: ClassVar[bool] = False
    eps_field: ClassVar[str | None] = None

    def make_config(self, dataset_name: str | None = None, overrides: dict | None = None) -> PoisonConfig:
        """Paper defaults, then this dataset's measured defaults, then ``overrides``."""
        defaults = self.dataset_defaults.get(str(dataset_name).split("+")[0], {})
        return self.Config.from_options(overrides, owner=f"poisoning attack {self.name!r}", defaults=defaults)

    def poison(self, dataset: Dataset, config: PoisonConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        raise NotImplementedError

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        raise NotImplementedError

    def pooled_readout(self, scores: list[Scores], config: dict) -> dict:
        """Read-out of one model's items pooled over seeds: ``n``, ``metric`` (the mean) and its
        interval (Clopper-Pearson for success / failure items, else a t-interval)."""
        v = np.concatenate([np.asarray(s.values, np.float64) for s in scores])
        return {"n": int(v.size), "metric": float(v.mean()) if v.size else None, "ci": mean_interval(v)}

    def utility_items(self, poison: PoisonSet) -> np.ndarray:
        """Test inputs (bool mask over the test split) on which accuracy measures damage rather than
        the attack itself; all of them by default."""
        return np.ones(len(poison.clean.test_idx), bool)

    def null_test(self, scores: Scores) -> dict | None:
        """``{"z", "p_value"}`` of the original against an exact null, when the attack has one."""
        return None


def mean_interval(v: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Interval of ``mean(v)``: Clopper-Pearson when ``v`` is 0/1, else Student t; None below 2 items."""
    from scipy import stats

    from muaudit.metrics import clopper_pearson

    if v.size < 2:
        return None
    if np.isin(v, (0.0, 1.0)).all():
        lo, hi = clopper_pearson(int(v.sum()), v.size, level=level)
        return [float(lo), float(hi)]
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return [float(v.mean() - half), float(v.mean() + half)]


def register_poison(cls):
    """Class decorator: register ``cls`` under ``cls.name`` (duplicates are refused)."""
    POISONS.register(cls.name, cls)
    return cls


def get_poison(name: str) -> PoisonAttack:
    """An instance of the registered attack ``name``."""
    import muaudit.poisoning.poisons  # noqa: F401  (registers the built-ins)

    return POISONS.get(name)()


def poison_names() -> list[str]:
    import muaudit.poisoning.poisons  # noqa: F401

    return POISONS.names()
