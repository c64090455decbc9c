"""The ``[sisa]`` recipe section and the plan it implies: shards, slices and epochs per stage.

SISA (Bourtoule et al., IEEE S&P 2021, "Machine Unlearning") cuts the training rows into ``shards``
disjoint shards (a seeded uniform split) and each shard into ``slices`` slices. Stage ``r`` of a
shard (``r = 1..R``) trains its model, starting from the checkpoint of stage ``r - 1``, on slices
``1..r`` for ``e_r`` epochs, where ``e_r = floor(r·a) - floor((r-1)·a)`` and ``a = 2e / (R + 1)``
(the paper's code): the stages' sample-gradients add up to about ``e`` epochs over the shard.

Example:
    >>> cfg = SisaConfig(shards=2, slices=3)
    >>> stage_epochs(12, 3)
    [6, 6, 6]
    >>> [[len(s) for s in shard] for shard in partition(range(10), cfg, random_state=0)]
    [[2, 2, 1], [2, 2, 1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muaudit.config import Config
from muaudit.errors import ConfigError

AGGREGATIONS = ("mean", "vote")
MAX_PARTS = 1024  # more shards or slices than this is a typo (and a file may not make muaudit build more models)


@dataclass(frozen=True)
class SisaConfig(Config):
    """``[sisa]``: ``shards`` (S), ``slices`` (R per shard) and ``aggregation`` (``"mean"`` of the
    shard models' softmax probabilities, or ``"vote"``: each shard model votes its top label)."""

    shards: int = 5
    slices: int = 1
    aggregation: str = "mean"
    _counts = ("shards", "slices")

    def __post_init__(self):
        super().__post_init__()
        for name in ("shards", "slices"):
            if getattr(self, name) > MAX_PARTS:
                raise ConfigError(f"Expected `{name}` an integer in [1, {MAX_PARTS}], got {getattr(self, name)!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"Expected `aggregation` in {AGGREGATIONS}, got {self.aggregation!r}")

    @classmethod
    def from_section(cls, section) -> "SisaConfig":
        """The config of a recipe's ``[sisa]`` table (unknown keys name the valid ones)."""
        if not isinstance(section, dict):
            raise ConfigError("recipe section [sisa] must be a table")
        return cls.from_options(section, owner="recipe section [sisa]")


@dataclass(frozen=True)
class SisaUnlearnConfig(Config):
    """``[[unlearn]] method = "sisa"`` in a pool recipe: no options (SISA unlearning retrains the
    affected shards with the recipe's own training; S, R and aggregation are the ``[sisa]`` section's)."""


def check_entries(sisa: SisaConfig | None, entries) -> None:
    """A recipe's ``[[unlearn]]`` entries against its ``[sisa]`` section: SISA shadows are unlearned
    only by ``method = "sisa"`` (without a budget), and ``"sisa"`` unlearns only SISA shadows."""
    for e in entries:
        if sisa is None and e.method == "sisa":
            raise ConfigError(f"[[unlearn]] entry {e.name!r}: method \"sisa\" unlearns SISA shadows; add a [sisa] "
                              "section to the recipe (or use another method)")
        if sisa is not None and e.method != "sisa":
            raise ConfigError(f"[[unlearn]] entry {e.name!r}: a recipe with a [sisa] section takes only method = "
                              f"\"sisa\", got {e.method!r} (another method would leave the shadows' stage "
                              "checkpoints stale)")
        if sisa is not None and e.budget is not None:
            raise ConfigError(f"[[unlearn]] entry {e.name!r}: method \"sisa\" takes no budget (it is exact, and "
                              "costs what the affected shards cost)")


def stage_epochs(epochs: int, slices: int) -> list[int]:
    """Epochs of stages ``1..slices`` for a recipe of ``epochs`` epochs (integer arithmetic)."""
    return [(r * 2 * epochs) // (slices + 1) - ((r - 1) * 2 * epochs) // (slices + 1) for r in range(1, slices + 1)]


def check_divides(n: int, cfg: SisaConfig, what: str = "training examples") -> None:
    """Raise unless ``n`` rows fill ``shards x slices`` non-empty slices."""
    if n < cfg.shards * cfg.slices:
        raise ConfigError(f"[sisa] shards = {cfg.shards} x slices = {cfg.slices} needs at least "
                          f"{cfg.shards * cfg.slices} {what}, got {n}: some slice would be empty; "
                          "use fewer shards or slices")


def partition(rows, cfg: SisaConfig, *, random_state: int) -> list[list[np.ndarray]]:
    """``rows`` split into ``shards`` lists of ``slices`` sorted, non-empty int64 arrays.

    A seeded uniform split: a permutation of ``rows`` (``numpy.random.default_rng([random_state, 3])``)
    cut into near-equal shards, each cut into near-equal slices."""
    rows = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, np.int64)
    check_divides(len(rows), cfg)
    perm = rows[np.random.default_rng([random_state, 3]).permutation(len(rows))]
    return [[np.sort(part) for part in np.array_split(shard, cfg.slices)] for shard in np.array_split(perm, cfg.shards)]


def drop(parts: list[list[np.ndarray]], exclude) -> list[list[np.ndarray]]:
    """``parts`` without the rows in ``exclude`` (slices may become empty)."""
    exclude = np.asarray(exclude, np.int64)
    return [[s[~np.isin(s, exclude)] for s in shard] for shard in parts]


def shard_seed(seed: int, shard: int, stage: int = 0) -> int:
    """Seed of a shard's initialisation (``stage`` 0) and of its stage ``r``'s data order."""
    return int(np.random.SeedSequence([int(seed), 7, int(shard), int(stage)]).generate_state(1)[0])
